#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "app/commands.h"
#include "core/testing/temp_dir.h"
#include "lake/iceberg_maintenance.h"
#include "lake/iceberg_transform.h"
#include "lake/tables.h"

namespace watershed::app {
namespace {

class LakeCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = lake::IcebergTable::Create(
        fs_, Location(), lake::NewLakeTable(lake::LakeTableId::kEvents, "5f0c4a38-2f6e-4a7b-9d8e-1c2b3a4d5e6f"));
    ASSERT_TRUE(t.ok());
    for (int f = 0; f < 2; ++f) {
      lake::EventColumns columns;
      for (int i = 0; i < 50; ++i) {
        Event e;
        e.event_id = EventId::FromHiLo(static_cast<uint64_t>(f + 1), static_cast<uint64_t>(i));
        e.story_id = StoryId(1);
        e.event_time = EventTimeMs(1'795'000'000'000 + i);
        columns.Add(e, AppendTimeMs(1'795'000'000'000), LogOffset(static_cast<uint64_t>(i)));
      }
      const std::string path = JoinPath(Location(), "data/sink-p000/f" + std::to_string(f) + ".parquet");
      ASSERT_TRUE(fs_->CreateDirs(DirName(path)).ok());
      auto w = lake::ParquetWriter::Create(fs_, path, lake::EventTableSchema());
      ASSERT_TRUE(w.ok());
      ASSERT_TRUE((*w)->Write(columns.columns(), columns.rows()).ok());
      auto size = (*w)->Finish();
      ASSERT_TRUE(size.ok());
      files_.push_back(path);
      const auto d = lake::DescribeParquetFile(path, static_cast<int64_t>(*size), (*w)->info(),
                                               {lake::iceberg::HourFromMicros(1'795'000'000'000'000),
                                                lake::iceberg::Bucket(16, lake::iceberg::HashLong(1))});
      ASSERT_TRUE(lake::AppendFiles(fs_, &*t, {d}, "c" + std::to_string(f)).value());
    }
  }
  std::string Location() { return lake::TableLocation(dir_.path(), Region::kEu, lake::LakeTableId::kEvents); }
  std::map<std::string, uintmax_t> Files() {
    std::map<std::string, uintmax_t> out;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir_.path()))
      if (e.is_regular_file()) out[e.path().string()] = e.file_size();
    return out;
  }
  uintmax_t InputBytes() {
    uintmax_t total = 0;
    for (const std::string& f : files_) total += std::filesystem::file_size(f);
    return total;
  }
  size_t LiveFiles() {
    auto t = lake::IcebergTable::Load(fs_, Location());
    return lake::ListLiveFiles(fs_, t.value().metadata()).value().size();
  }

  watershed::testing::TempDir dir_{"lake_command"};
  FileSystem* fs_ = FileSystem::Default();
  std::vector<std::string> files_;
};

TEST_F(LakeCommandTest, BadFlagsAreRefusedWithANonZeroExit) {
  const std::string root = dir_.path();
  const std::vector<std::vector<std::string>> bad = {
      {},
      {"frobnicate", "--root", root},
      {"compact", "--root", root, "--bogus", "1"},
      {"compact", "--root", root, "--table", "nope"},
      {"compact", "--root", root, "--region", "mars"},
      {"compact", "--root", root, "--older-than", "1d"},
      {"remove-orphans", "--root", root, "--older-than", "5m"},
      {"expire-snapshots", "--root", root, "--retain-last", "0"},
      {"compact", "--root", root, "--target-size", "lots"},
      {"compact", "--root"},
      {"compact", "--root", root, "extra"},
      {"compact", "--root", root, "--dry-run=yes"},
      {"expire-snapshots", "--root", root, "--retain-last", "many"},
      {"compact", "--root", root, "--data-dir"},
  };
  const auto before = Files();
  for (const auto& args : bad) {
    ::testing::internal::CaptureStderr();
    const int code = LakeCommand(args);
    const std::string err = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(code, 2) << ::testing::PrintToString(args);
    EXPECT_NE(err.find("watershed lake:"), std::string::npos) << err;
  }
  EXPECT_EQ(LakeCommand({"compact", "--root", root + "/missing"}), 1);
  EXPECT_EQ(Files(), before);
}

TEST_F(LakeCommandTest, DryRunsPrintThePlanAndChangeNothingThenCompactRuns) {
  const std::string root = dir_.path();
  const auto before = Files();
  for (const char* action : {"compact", "expire-snapshots", "remove-orphans", "lifecycle"}) {
    ::testing::internal::CaptureStdout();
    ::testing::internal::CaptureStderr();
    const int code = LakeCommand({action, "--root", root, "--dry-run"});
    const std::string out = ::testing::internal::GetCapturedStdout();
    const std::string err = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(code, 0) << action << ": " << err;
    EXPECT_EQ(Files(), before) << action;
    if (std::string(action) == "compact") {
      // A summary per table; the groups and files only with --verbose.
      EXPECT_NE(out.find("eu/events: would compact 2 files into 1: " + std::to_string(InputBytes()) + " bytes in"),
                std::string::npos)
          << out;
      EXPECT_EQ(out.find("group 0"), std::string::npos) << out;
      for (const std::string& f : files_) EXPECT_EQ(out.find(f), std::string::npos) << out;
    }
  }
  ::testing::internal::CaptureStdout();
  ASSERT_EQ(LakeCommand({"compact", "--root", root, "--dry-run", "--verbose"}), 0);
  const std::string verbose = ::testing::internal::GetCapturedStdout();
  EXPECT_NE(verbose.find("eu/events: would compact group 0"), std::string::npos) << verbose;
  for (const std::string& f : files_) EXPECT_NE(verbose.find(f), std::string::npos) << verbose;
  EXPECT_NE(verbose.find("eu/events: would compact 2 files into 1"), std::string::npos) << verbose;
  EXPECT_EQ(Files(), before);
  EXPECT_EQ(LiveFiles(), 2u);

  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  const int code = LakeCommand({"compact", "--root", root, "--region", "eu", "--table", "events"});
  const std::string out = ::testing::internal::GetCapturedStdout();
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(code, 0) << err;
  EXPECT_NE(out.find("eu/events: compacted 2 files into 1: " + std::to_string(InputBytes()) + " bytes in, "),
            std::string::npos)
      << out;
  EXPECT_NE(err.find("100%"), std::string::npos) << "progress on stderr: " << err;
  EXPECT_EQ(LiveFiles(), 1u);
}

}  // namespace
}  // namespace watershed::app
