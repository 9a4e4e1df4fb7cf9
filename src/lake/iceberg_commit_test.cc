#include "lake/iceberg_commit.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/testing/temp_dir.h"
#include "lake/testing/event_data_files.h"

namespace watershed::lake {
namespace {

using testing::EventsTableMetadata;

class IcebergCommitTest : public ::testing::Test {
 protected:
  DataFileInfo WriteDataFile(const std::string& name, uint64_t first_story, size_t n) {
    return testing::WriteEventsDataFile(fs_, dir_.Path(name), first_story, n);
  }
  size_t MetadataFiles() { return fs_->ListDir(dir_.Path("events/metadata")).value().size(); }

  watershed::testing::TempDir dir_{"iceberg_commit"};
  FileSystem* fs_ = FileSystem::Default();
};

TEST_F(IcebergCommitTest, AppendsMakeSnapshotsAndAReplayedCommitIsNotAppliedTwice) {
  auto table = IcebergTable::Create(fs_, dir_.Path("events"), EventsTableMetadata());
  ASSERT_TRUE(table.ok());
  const DataFileInfo a = WriteDataFile("a.parquet", 100, 300), b = WriteDataFile("b.parquet", 200, 200);
  auto first = AppendFiles(fs_, &*table, {a}, "eu/p0/1");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(*first);
  EXPECT_EQ(table->version(), 2);
  const size_t files_after_first = MetadataFiles();

  // The same commit again (a replay after a crash): recognised, nothing written.
  auto again = AppendFiles(fs_, &*table, {a}, "eu/p0/1");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_FALSE(*again);
  EXPECT_EQ(table->version(), 2);
  EXPECT_EQ(MetadataFiles(), files_after_first);

  // Another process with a stale view replays it too: recognised after its reload.
  auto stale = IcebergTable::Load(fs_, dir_.Path("events"));
  ASSERT_TRUE(stale.ok());
  ASSERT_TRUE(AppendFiles(fs_, &*table, {b}, "eu/p0/2").ok());
  auto replay = AppendFiles(fs_, &*stale, {b}, "eu/p0/2");
  ASSERT_TRUE(replay.ok()) << replay.status().ToString();
  EXPECT_FALSE(*replay);

  auto now = IcebergTable::Load(fs_, dir_.Path("events"));
  ASSERT_TRUE(now.ok());
  const TableMetadata& m = now->metadata();
  ASSERT_EQ(m.snapshots.size(), 2u);
  EXPECT_EQ(m.last_sequence_number, 2);
  EXPECT_EQ(m.snapshots[1].parent_snapshot_id, m.snapshots[0].snapshot_id);
  EXPECT_EQ(m.snapshots[1].summary.at("total-records"), "500");
  EXPECT_EQ(m.snapshots[1].summary.at("total-data-files"), "2");
  EXPECT_EQ(m.snapshots[1].summary.at("operation"), "append");
  auto manifests = CurrentManifests(fs_, m);
  ASSERT_TRUE(manifests.ok()) << manifests.status().ToString();
  ASSERT_EQ(manifests->size(), 2u);
  EXPECT_EQ((*manifests)[0].sequence_number, 1);
  EXPECT_EQ((*manifests)[1].sequence_number, 2);
  EXPECT_EQ((*manifests)[1].added_rows_count, 200);
  std::vector<DataFileInfo> all;
  for (const auto& mf : *manifests) {
    auto entries = ReadManifest(ReadWholeFile(fs_, mf.path).value());
    ASSERT_TRUE(entries.ok());
    all.insert(all.end(), entries->begin(), entries->end());
  }
  EXPECT_EQ(all, (std::vector<DataFileInfo>{a, b}));
}

TEST_F(IcebergCommitTest, RangeGuardOrdersOneWritersCommits) {
  auto table = IcebergTable::Create(fs_, dir_.Path("events"), EventsTableMetadata());
  ASSERT_TRUE(table.ok());
  const DataFileInfo a = WriteDataFile("a.parquet", 100, 300), b = WriteDataFile("b.parquet", 200, 200);
  const RangeGuard first{"watershed.sink.p007.next-offset", 0, 100};
  ASSERT_TRUE(AppendFiles(fs_, &*table, {a}, "eu/p7/0-100", first).value());
  EXPECT_EQ(table->metadata().properties.at(first.key), "100");
  // The same range under another commit id (its snapshot expired, say): the property says it landed.
  EXPECT_FALSE(AppendFiles(fs_, &*table, {a}, "eu/p7/0-100-again", first).value());
  // A range overlapping the committed one is refused: 50..99 would land twice.
  auto overlap = AppendFiles(fs_, &*table, {b}, "eu/p7/50-200", RangeGuard{first.key, 50, 200});
  EXPECT_EQ(overlap.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(overlap.status().message().find("overlaps"), std::string::npos);
  // A gap (checkpoints without rows) is fine, and another key is independent.
  ASSERT_TRUE(AppendFiles(fs_, &*table, {b}, "eu/p7/150-200", RangeGuard{first.key, 150, 200}).value());
  ASSERT_TRUE(
      AppendFiles(fs_, &*table, {b}, "eu/p8/0-10", RangeGuard{"watershed.sink.p008.next-offset", 0, 10}).value());
  auto now = IcebergTable::Load(fs_, dir_.Path("events"));
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->metadata().snapshots.size(), 3u);
  EXPECT_EQ(now->metadata().properties.at(first.key), "200");
}

TEST_F(IcebergCommitTest, ACommitNamingAMissingFileIsRefused) {
  auto table = IcebergTable::Create(fs_, dir_.Path("events"), EventsTableMetadata());
  ASSERT_TRUE(table.ok());
  const DataFileInfo a = WriteDataFile("a.parquet", 100, 30);
  ASSERT_TRUE(fs_->RemoveFile(a.path).ok());  // another owner's recovery removed it
  auto r = AppendFiles(fs_, &*table, {a}, "eu/p0/0-30");
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find(a.path), std::string::npos);
  EXPECT_EQ(table->version(), 1);
}

TEST_F(IcebergCommitTest, AGuardPropertyThatIsNotAnOffsetIsAnErrorNotZero) {
  auto table = IcebergTable::Create(fs_, dir_.Path("events"), EventsTableMetadata());
  ASSERT_TRUE(table.ok());
  const std::string key = "watershed.sink.p007.next-offset";
  EXPECT_EQ(CommittedRangeEnd(table->metadata(), key).value(), 0u);
  const DataFileInfo a = WriteDataFile("a.parquet", 100, 30);
  for (const std::string bad : {"", "abc", "100x", "-5", " 100", "99999999999999999999999"}) {
    ASSERT_TRUE(table
                    ->Commit([&](TableMetadata& m) -> Status {
                      m.properties[key] = bad;
                      return Status::Ok();
                    })
                    .ok());
    auto end = CommittedRangeEnd(table->metadata(), key);
    EXPECT_EQ(end.status().code(), StatusCode::kCorruption) << '"' << bad << '"';
    EXPECT_NE(end.status().message().find(key), std::string::npos);
    // Read as 0, it would let the range [0, 100) land again.
    const int64_t version = table->version();
    auto r = AppendFiles(fs_, &*table, {a}, "eu/p7/0-100", RangeGuard{key, 0, 100});
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << '"' << bad << '"';
    EXPECT_EQ(table->version(), version);
  }
  ASSERT_TRUE(table
                  ->Commit([&](TableMetadata& m) -> Status {
                    m.properties[key] = "100";
                    return Status::Ok();
                  })
                  .ok());
  EXPECT_EQ(CommittedRangeEnd(table->metadata(), key).value(), 100u);
  EXPECT_FALSE(AppendFiles(fs_, &*table, {a}, "eu/p7/0-100", RangeGuard{key, 0, 100}).value());
}

}  // namespace
}  // namespace watershed::lake
