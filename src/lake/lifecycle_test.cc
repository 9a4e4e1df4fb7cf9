#include "lake/lifecycle.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "lake/iceberg_commit.h"
#include "lake/iceberg_maintenance.h"
#include "lake/testing/lake_table_fixture.h"

namespace watershed::lake {
namespace {

using testing::kBaseMs;
using testing::kDayMs;
using testing::kHourMs;
using testing::Row;
using testing::StoriesInOneBucket;

class LifecycleTest : public testing::LakeTableFixture {};

TEST_F(LifecycleTest, ArchivesExpiredDaysAndDeletesWithoutArchive) {
  IcebergTable events = CreateTable(LakeTableId::kEvents);
  IcebergTable raw = CreateTable(LakeTableId::kRawEvents);
  const auto stories = StoriesInOneBucket(3);
  // Day D = kBaseMs (two hours of it), and day D+1. now: day D is 90 days
  // old and over; D+1 is not.
  const DataFileInfo d1 = WriteEvents(LakeTableId::kEvents, "d1.parquet", stories, kBaseMs + 3 * kHourMs, 100);
  const DataFileInfo d2 = WriteEvents(LakeTableId::kEvents, "d2.parquet", stories, kBaseMs + 20 * kHourMs, 50);
  const DataFileInfo next = WriteEvents(LakeTableId::kEvents, "n.parquet", stories, kBaseMs + kDayMs, 70);
  ASSERT_TRUE(AppendFiles(fs_, &events, {d1, next}, "e1").value());
  ASSERT_TRUE(AppendFiles(fs_, &events, {d2}, "e2").value());
  const DataFileInfo r_old = WriteEvents(LakeTableId::kRawEvents, "r1.parquet", stories, kBaseMs, 10);
  const DataFileInfo r_new = WriteEvents(LakeTableId::kRawEvents, "r2.parquet", stories, kBaseMs + 85 * kDayMs, 10);
  ASSERT_TRUE(AppendFiles(fs_, &raw, {r_old, r_new}, "r").value());
  const int64_t now = kBaseMs + 91 * kDayMs + kHourMs;
  const std::vector<Row> all = ReadRows(LakeTableId::kEvents);
  const std::vector<Row> expired_rows = [&] {
    std::vector<Row> r = ReadFile(d1.path), r2 = ReadFile(d2.path);
    r.insert(r.end(), r2.begin(), r2.end());
    std::sort(r.begin(), r.end());
    return r;
  }();

  const auto files_before = Snapshot();
  LifecycleOptions options;
  options.dry_run = true;
  auto plan = ApplyLifecycle(fs_, dir_.path(), Region::kEu, now, options);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(Snapshot(), files_before);
  ASSERT_EQ(plan->size(), 2u);
  EXPECT_EQ((*plan)[0].table, LakeTableId::kRawEvents);
  EXPECT_EQ((*plan)[0].files, std::vector<DataFileInfo>{r_old});
  EXPECT_EQ((*plan)[1].table, LakeTableId::kEvents);
  EXPECT_EQ((*plan)[1].files, (std::vector<DataFileInfo>{d1, d2}));
  EXPECT_FALSE(fs_->FileExists(Location(LakeTableId::kArchiveEvents)));

  options.dry_run = false;
  auto done = ApplyLifecycle(fs_, dir_.path(), Region::kEu, now, options);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  ASSERT_EQ(done->size(), 2u);
  EXPECT_EQ(ReadRows(LakeTableId::kArchiveEvents), expired_rows);
  std::vector<Row> rest = all;
  rest.erase(
      std::remove_if(rest.begin(), rest.end(),
                     [&](const Row& r) { return std::binary_search(expired_rows.begin(), expired_rows.end(), r); }),
      rest.end());
  EXPECT_EQ(ReadRows(LakeTableId::kEvents), rest);
  std::vector<Row> raw_left = ReadFile(r_new.path);
  std::sort(raw_left.begin(), raw_left.end());
  EXPECT_EQ(ReadRows(LakeTableId::kRawEvents), raw_left);

  // The archive: one file for day D, partitioned by day, sorted, at zstd 19.
  const TableMetadata archive = Metadata(LakeTableId::kArchiveEvents);
  const auto archived = ListLiveFiles(fs_, archive).value();
  ASSERT_EQ(archived.size(), 1u);
  EXPECT_EQ(archived[0].file.partition, (std::vector<std::optional<int32_t>>{20'777}));
  const std::vector<Row> archive_rows = ReadFile(archived[0].file.path);
  EXPECT_TRUE(std::is_sorted(archive_rows.begin(), archive_rows.end()));
  EXPECT_EQ(archive.snapshots.back().summary.at(kCommitIdKey), (*done)[1].commit_id);
  const TableMetadata source = Metadata(LakeTableId::kEvents);
  EXPECT_EQ(source.snapshots.back().summary.at("operation"), "delete");
  EXPECT_EQ(source.snapshots.back().summary.at("deleted-records"), "150");
  EXPECT_TRUE(fs_->FileExists(d1.path)) << "data files leave the disk through expiry only";

  // A second run finds nothing.
  auto again = ApplyLifecycle(fs_, dir_.path(), Region::kEu, now, options);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty());
}

// A region's retention override (governance-file retention.TABLE) moves the cutoff, in the lifecycle and in a
// maintenance round, for that region only.
TEST_F(LifecycleTest, ARegionsRetentionOverrideMovesTheCutoff) {
  IcebergTable raw = CreateTable(LakeTableId::kRawEvents);
  const auto stories = StoriesInOneBucket(2);
  const DataFileInfo five_days = WriteEvents(LakeTableId::kRawEvents, "r5.parquet", stories, kBaseMs, 10);
  const DataFileInfo one_day = WriteEvents(LakeTableId::kRawEvents, "r1.parquet", stories, kBaseMs + 4 * kDayMs, 10);
  ASSERT_TRUE(AppendFiles(fs_, &raw, {five_days, one_day}, "r").value());
  const int64_t now = kBaseMs + 5 * kDayMs + kHourMs;
  LifecycleOptions options;
  options.dry_run = true;
  auto plan = ApplyLifecycle(fs_, dir_.path(), Region::kEu, now, options);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_TRUE(plan->empty()) << "raw_events keeps 7 days by default";
  options.keep_days[static_cast<int>(LakeTableId::kRawEvents)] = 3;
  plan = ApplyLifecycle(fs_, dir_.path(), Region::kEu, now, options);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->size(), 1u);
  EXPECT_EQ((*plan)[0].files, std::vector<DataFileInfo>{five_days});

  MaintenanceSchedule schedule;
  schedule.keep_days[static_cast<int>(Region::kUs)][static_cast<int>(LakeTableId::kRawEvents)] = 3;
  auto round = RunMaintenanceRound(fs_, dir_.path(), Region::kEu, now, schedule);
  ASSERT_TRUE(round.ok()) << round.status().ToString();
  EXPECT_EQ(round->lifecycle_batches, 0) << "another region's override";
  schedule.keep_days[static_cast<int>(Region::kEu)][static_cast<int>(LakeTableId::kRawEvents)] = 3;
  round = RunMaintenanceRound(fs_, dir_.path(), Region::kEu, now, schedule);
  ASSERT_TRUE(round.ok()) << round.status().ToString();
  EXPECT_EQ(round->lifecycle_batches, 1);
  std::vector<Row> left = ReadFile(one_day.path);
  std::sort(left.begin(), left.end());
  EXPECT_EQ(ReadRows(LakeTableId::kRawEvents), left);
}

TEST_F(LifecycleTest, ArchivesADayOfSortedFilesAsOneSortedFile) {
  IcebergTable events = CreateTable(LakeTableId::kEvents);
  const auto stories = StoriesInOneBucket(4);
  // Three hours of day D in sorted files (as the sink writes them), with
  // equal keys across files; the archive merges them row group by row group.
  std::vector<DataFileInfo> files;
  for (int h : {5, 1, 5})
    files.push_back(WriteEvents(LakeTableId::kEvents, "s" + std::to_string(files.size()) + ".parquet", stories,
                                kBaseMs + h * kHourMs, 200, /*sorted=*/true));
  ASSERT_TRUE(AppendFiles(fs_, &events, files, "e1").value());
  // Ground truth: the files in path order (the lifecycle's run order), stably sorted by story then time.
  std::vector<Row> expected;
  for (const DataFileInfo& f : files) {
    const std::vector<Row> rows = ReadFile(f.path);
    expected.insert(expected.end(), rows.begin(), rows.end());
  }
  std::stable_sort(expected.begin(), expected.end(), [](const Row& a, const Row& b) {
    return std::tie(std::get<0>(a), std::get<1>(a)) < std::tie(std::get<0>(b), std::get<1>(b));
  });
  auto done = ApplyLifecycle(fs_, dir_.path(), Region::kEu, kBaseMs + 91 * kDayMs, {});
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  const auto archived = ListLiveFiles(fs_, Metadata(LakeTableId::kArchiveEvents)).value();
  ASSERT_EQ(archived.size(), 1u);
  EXPECT_EQ(archived[0].file.partition, (std::vector<std::optional<int32_t>>{20'777}));
  EXPECT_EQ(ReadFile(archived[0].file.path), expected);
  EXPECT_TRUE(ReadRows(LakeTableId::kEvents).empty());
}

TEST_F(LifecycleTest, RerunAfterACrashBetweenItsCommitsMakesNoDuplicates) {
  IcebergTable events = CreateTable(LakeTableId::kEvents);
  const auto stories = StoriesInOneBucket(2);
  const DataFileInfo d1 = WriteEvents(LakeTableId::kEvents, "d1.parquet", stories, kBaseMs, 100);
  ASSERT_TRUE(AppendFiles(fs_, &events, {d1}, "e1").value());
  const int64_t now = kBaseMs + 100 * kDayMs;

  LifecycleOptions options;
  options.only = LakeTableId::kEvents;
  options.after_archive_commit = [] { return Status::IoError("simulated crash"); };
  auto crashed = ApplyLifecycle(fs_, dir_.path(), Region::kEu, now, options);
  EXPECT_EQ(crashed.status().code(), StatusCode::kIoError);
  EXPECT_EQ(ReadRows(LakeTableId::kArchiveEvents).size(), 100u);
  EXPECT_EQ(ReadRows(LakeTableId::kEvents).size(), 100u) << "the source delete did not happen";
  const size_t archive_files = FilesUnder(JoinPath(Location(LakeTableId::kArchiveEvents), "data"));

  options.after_archive_commit = nullptr;
  auto rerun = ApplyLifecycle(fs_, dir_.path(), Region::kEu, now, options);
  ASSERT_TRUE(rerun.ok()) << rerun.status().ToString();
  ASSERT_EQ(rerun->size(), 1u);
  EXPECT_TRUE((*rerun)[0].archive_already_committed);
  EXPECT_EQ(ReadRows(LakeTableId::kArchiveEvents).size(), 100u) << "no duplicates";
  EXPECT_EQ(Metadata(LakeTableId::kArchiveEvents).snapshots.size(), 1u);
  EXPECT_EQ(FilesUnder(JoinPath(Location(LakeTableId::kArchiveEvents), "data")), archive_files);
  EXPECT_TRUE(ReadRows(LakeTableId::kEvents).empty());
}

TEST_F(LifecycleTest, TakesBackItsArchiveCommitWhenTheSourceChangedMeanwhile) {
  IcebergTable events = CreateTable(LakeTableId::kEvents);
  const auto stories = StoriesInOneBucket(2);
  ASSERT_TRUE(AppendFiles(fs_, &events, {WriteEvents(LakeTableId::kEvents, "d1.parquet", stories, kBaseMs, 100)}, "e1")
                  .value());
  ASSERT_TRUE(
      AppendFiles(fs_, &events, {WriteEvents(LakeTableId::kEvents, "d2.parquet", stories, kBaseMs, 60)}, "e2").value());
  const std::vector<Row> rows = ReadRows(LakeTableId::kEvents);
  const int64_t now = kBaseMs + 100 * kDayMs;

  // Between the archive commit and the source delete, a compaction replaces the batch's files.
  LifecycleOptions options;
  options.after_archive_commit = [&]() -> Status {
    auto t = IcebergTable::Load(fs_, Location(LakeTableId::kEvents));
    if (!t.ok()) return t.status();
    auto c = CompactTable(fs_, &*t, {});
    return c.ok() ? Status::Ok() : c.status();
  };
  auto raced = ApplyLifecycle(fs_, dir_.path(), Region::kEu, now, options);
  EXPECT_EQ(raced.status().code(), StatusCode::kFailedPrecondition) << raced.status().ToString();
  EXPECT_TRUE(ReadRows(LakeTableId::kArchiveEvents).empty()) << "the archive commit was taken back";
  EXPECT_EQ(Metadata(LakeTableId::kArchiveEvents).snapshots.back().summary.at("operation"), "delete");
  EXPECT_EQ(ReadRows(LakeTableId::kEvents), rows);

  options.after_archive_commit = nullptr;
  auto rerun = ApplyLifecycle(fs_, dir_.path(), Region::kEu, now, options);
  ASSERT_TRUE(rerun.ok()) << rerun.status().ToString();
  EXPECT_EQ(ReadRows(LakeTableId::kArchiveEvents), rows) << "every row once";
  EXPECT_TRUE(ReadRows(LakeTableId::kEvents).empty());
}

}  // namespace
}  // namespace watershed::lake
