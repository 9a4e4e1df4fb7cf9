#include "lake/iceberg_maintenance.h"

#include <gtest/gtest.h>
#include <simdjson.h>
#include <sys/time.h>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <set>

#include "lake/tables.h"
#include "lake/testing/lake_table_fixture.h"
#include "lake/testing/python_avro.h"

namespace watershed::lake {
namespace {

using testing::BucketOf;
using testing::kBaseMs;
using testing::kDayMs;
using testing::kHourMs;
using testing::PythonRead;
using testing::Row;
using testing::StoriesInOneBucket;

void SetModifiedTime(const std::string& path, int64_t ms) {
  struct timeval tv[2];
  tv[0].tv_sec = tv[1].tv_sec = ms / 1000;
  tv[0].tv_usec = tv[1].tv_usec = 0;
  ASSERT_EQ(::utimes(path.c_str(), tv), 0) << path;
}

class IcebergMaintenanceTest : public testing::LakeTableFixture {};

TEST_F(IcebergMaintenanceTest, EntriesWithStatusRoundTripInheritAndPythonAvroReadsThem) {
  const TableMetadata table = NewLakeTable(LakeTableId::kEvents, "5f0c4a38-2f6e-4a7b-9d8e-1c2b3a4d5e6f");
  const auto stories = StoriesInOneBucket(2);
  const DataFileInfo a = WriteEvents(LakeTableId::kEvents, "a.parquet", stories, kBaseMs, 10),
                     b = WriteEvents(LakeTableId::kEvents, "b.parquet", stories, kBaseMs, 20),
                     c = WriteEvents(LakeTableId::kEvents, "c.parquet", stories, kBaseMs, 30);
  const std::vector<ManifestEntry> entries = {{EntryStatus::kExisting, 11, 3, 3, a},
                                              {EntryStatus::kAdded, std::nullopt, std::nullopt, std::nullopt, b},
                                              {EntryStatus::kDeleted, 77, 2, 4, c}};
  auto bytes = WriteManifestEntries(table, entries);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  auto raw = ReadManifestEntries(*bytes);
  ASSERT_TRUE(raw.ok()) << raw.status().ToString();
  EXPECT_EQ(*raw, entries);
  EXPECT_EQ(ReadManifest(*bytes).value(), (std::vector<DataFileInfo>{a, b, c}));

  // Read through a manifest list entry: the ADDED entry inherits snapshot id and sequence numbers.
  const std::string path = dir_.Path("m.avro");
  ASSERT_TRUE(WriteFileAtomically(fs_, path, *bytes).ok());
  ManifestFileInfo mf;
  mf.path = path;
  mf.added_snapshot_id = 77;
  mf.sequence_number = 5;
  auto inherited = ReadManifestEntries(fs_, mf);
  ASSERT_TRUE(inherited.ok()) << inherited.status().ToString();
  EXPECT_EQ((*inherited)[1].snapshot_id, 77);
  EXPECT_EQ((*inherited)[1].sequence_number, 5);
  EXPECT_EQ((*inherited)[1].file_sequence_number, 5);
  EXPECT_EQ((*inherited)[0].sequence_number, 3) << "EXISTING keeps its own";
  EXPECT_EQ((*inherited)[2].file_sequence_number, 4);

  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  const std::string py = PythonRead(path);
  ASSERT_EQ(parser.parse(py).get(doc), simdjson::SUCCESS) << py;
  ASSERT_EQ(doc["records"].get_array().size(), 3u);
  EXPECT_EQ(doc["records"].at(0)["status"].get_int64().value(), 0);
  EXPECT_EQ(doc["records"].at(0)["sequence_number"].get_int64().value(), 3);
  EXPECT_EQ(doc["records"].at(1)["status"].get_int64().value(), 1);
  EXPECT_TRUE(doc["records"].at(1)["sequence_number"].is_null());
  EXPECT_EQ(doc["records"].at(2)["status"].get_int64().value(), 2);
  EXPECT_EQ(doc["records"].at(2)["snapshot_id"].get_int64().value(), 77);
  EXPECT_EQ(doc["records"].at(2)["file_sequence_number"].get_int64().value(), 4);
  EXPECT_EQ(doc["records"].at(2)["data_file"]["record_count"].get_int64().value(), 30);

  // v2: only ADDED entries may leave the numbers to inheritance.
  EXPECT_EQ(WriteManifestEntries(table, {{EntryStatus::kExisting, 1, std::nullopt, 1, a}}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(IcebergMaintenanceTest, CompactionMergesSmallFilesSortedInOneReplaceSnapshot) {
  IcebergTable table = CreateTable(LakeTableId::kEvents);
  const auto stories = StoriesInOneBucket(3);
  const int64_t other_story = [&] {
    int64_t s = 2;
    while (BucketOf(s) == BucketOf(1)) ++s;
    return s;
  }();
  // Partition P (hour 0, bucket of story 1): a1, a2, a3 small, big large;
  // partition Q: q alone. a1 and q share a manifest (one commit).
  const DataFileInfo a1 = WriteEvents(LakeTableId::kEvents, "a1.parquet", stories, kBaseMs, 300);
  const DataFileInfo q = WriteEvents(LakeTableId::kEvents, "q.parquet", {other_story}, kBaseMs, 50);
  const DataFileInfo a2 = WriteEvents(LakeTableId::kEvents, "a2.parquet", stories, kBaseMs, 200);
  const DataFileInfo a3 = WriteEvents(LakeTableId::kEvents, "a3.parquet", stories, kBaseMs, 100);
  const DataFileInfo big = WriteEvents(LakeTableId::kEvents, "big.parquet", stories, kBaseMs, 20000);
  ASSERT_TRUE(AppendFiles(fs_, &table, {a1, q}, "c1").value());
  ASSERT_TRUE(AppendFiles(fs_, &table, {a2}, "c2").value());
  ASSERT_TRUE(AppendFiles(fs_, &table, {a3}, "c3").value());
  ASSERT_TRUE(AppendFiles(fs_, &table, {big}, "c4").value());
  const auto manifests_before = CurrentManifests(fs_, table.metadata()).value();
  const std::vector<Row> rows_before = ReadRows(LakeTableId::kEvents);
  ASSERT_EQ(rows_before.size(), 20650u);
  // The target separates the small files from the big one.
  const int64_t target = big.file_size_in_bytes;
  ASSERT_LT(a1.file_size_in_bytes + a2.file_size_in_bytes + a3.file_size_in_bytes, target);

  CompactionOptions options;
  options.target_file_size_bytes = target;
  options.dry_run = true;
  const auto files_before = Snapshot();
  auto plan = CompactTable(fs_, &table, options);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(Snapshot(), files_before) << "a dry run changes nothing";
  EXPECT_FALSE(plan->committed);
  ASSERT_EQ(plan->groups.size(), 1u) << "q is alone in its partition, big is large enough";
  EXPECT_EQ(plan->groups[0].inputs.size(), 3u);
  EXPECT_EQ(plan->groups[0].input_rows, 600);
  // Largest first (by bytes: with DELTA_BINARY_PACKED integers the UUIDs,
  // compressed, decide a small file's size, not its row count).
  const DataFileInfo* largest = &a1;
  for (const DataFileInfo* f : {&a2, &a3})
    if (f->file_size_in_bytes > largest->file_size_in_bytes) largest = f;
  EXPECT_EQ(plan->groups[0].inputs[0].path, largest->path) << "largest first";
  EXPECT_GE(plan->groups[0].inputs[0].file_size_in_bytes, plan->groups[0].inputs[1].file_size_in_bytes);
  EXPECT_GE(plan->groups[0].inputs[1].file_size_in_bytes, plan->groups[0].inputs[2].file_size_in_bytes);
  EXPECT_FALSE(plan->groups[0].output);

  options.dry_run = false;
  std::vector<std::pair<int64_t, int64_t>> progress;
  options.progress = [&](int64_t done, int64_t total) { progress.emplace_back(done, total); };
  auto done = CompactTable(fs_, &table, options);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_TRUE(done->committed);
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back().first, progress.back().second);

  const TableMetadata m = Metadata(LakeTableId::kEvents);
  EXPECT_EQ(m.snapshots.size(), 5u);
  const auto& summary = m.snapshots.back().summary;
  EXPECT_EQ(summary.at("operation"), "replace");
  EXPECT_EQ(summary.at("total-records"), "20650");
  EXPECT_EQ(summary.at("total-data-files"), "3");
  EXPECT_EQ(summary.at("deleted-data-files"), "3");
  EXPECT_EQ(summary.at("deleted-records"), "600");
  EXPECT_EQ(summary.at("added-data-files"), "1");
  EXPECT_EQ(summary.at("added-records"), "600");
  const int64_t before_size = std::stoll(m.snapshots[3].summary.at("total-files-size"));
  EXPECT_EQ(std::stoll(summary.at("total-files-size")),
            before_size - plan->groups[0].input_bytes + done->groups[0].output->file_size_in_bytes);
  EXPECT_EQ(ReadRows(LakeTableId::kEvents), rows_before);

  // The output: in data/compacted, sorted by story_id then event_time, the inputs' partition.
  const DataFileInfo& out = *done->groups[0].output;
  EXPECT_NE(out.path.find("/data/compacted/"), std::string::npos);
  EXPECT_EQ(out.partition, a1.partition);
  EXPECT_EQ(out.sort_order_id, 1);
  const std::vector<Row> out_rows = ReadFile(out.path);
  ASSERT_EQ(out_rows.size(), 600u);
  EXPECT_TRUE(std::is_sorted(out_rows.begin(), out_rows.end()));
  EXPECT_EQ(out.lower_bounds.count(5), 0u) << "viewer_id stays without statistics";

  // Manifests: the four small ones merged into one, with a1, a2, a3 DELETED
  // and q and big EXISTING (each keeping its sequence number and snapshot),
  // plus the manifest of the added file.
  const auto after = CurrentManifests(fs_, m).value();
  EXPECT_EQ(after.size(), 2u);
  EXPECT_FALSE(
      std::any_of(after.begin(), after.end(), [&](const ManifestFileInfo& mf) { return mf == manifests_before[3]; }));
  int deleted = 0, existing = 0;
  std::string mixed;
  for (const ManifestFileInfo& mf : after) {
    const std::vector<ManifestEntry> entries = ReadManifestEntries(fs_, mf).value();
    for (const ManifestEntry& e : entries) {
      if (e.status == EntryStatus::kDeleted) {
        ++deleted;
        EXPECT_EQ(e.snapshot_id, m.current_snapshot_id);
        if (e.file.path == a1.path) mixed = mf.path;
      }
      if (e.status == EntryStatus::kExisting) {
        ++existing;
        const size_t added_in = e.file.path == q.path ? 0 : 3;  // big came with the 4th snapshot
        EXPECT_EQ(e.sequence_number, static_cast<int64_t>(added_in + 1)) << e.file.path;
        EXPECT_EQ(e.snapshot_id, m.snapshots[added_in].snapshot_id) << e.file.path;
      }
    }
  }
  EXPECT_EQ(deleted, 3);
  EXPECT_EQ(existing, 2);
  ASSERT_FALSE(mixed.empty());
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  const std::string py = PythonRead(mixed);
  ASSERT_EQ(parser.parse(py).get(doc), simdjson::SUCCESS) << py;
  // python3-avro sees every EXISTING / DELETED entry with its explicit data sequence number.
  std::multiset<std::pair<int64_t, int64_t>> status_and_sequence;
  for (auto r : doc["records"].get_array())
    status_and_sequence.emplace(r["status"].get_int64(), r["sequence_number"].get_int64());
  EXPECT_EQ(status_and_sequence, (std::multiset<std::pair<int64_t, int64_t>>{{0, 1}, {0, 4}, {2, 1}, {2, 2}, {2, 3}}))
      << py;

  // Nothing left to compact.
  auto again = CompactTable(fs_, &table, options);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->groups.empty());
}

TEST_F(IcebergMaintenanceTest, ConcurrentCompactionsOfTheSameFilesOneWinsTheOtherLeavesNothing) {
  IcebergTable first = CreateTable(LakeTableId::kEvents);
  const auto stories = StoriesInOneBucket(2);
  ASSERT_TRUE(
      AppendFiles(fs_, &first, {WriteEvents(LakeTableId::kEvents, "a.parquet", stories, kBaseMs, 100)}, "c1").value());
  ASSERT_TRUE(
      AppendFiles(fs_, &first, {WriteEvents(LakeTableId::kEvents, "b.parquet", stories, kBaseMs, 100)}, "c2").value());
  const std::vector<Row> rows = ReadRows(LakeTableId::kEvents);
  IcebergTable second = IcebergTable::Load(fs_, Location(LakeTableId::kEvents)).value();  // same version

  ASSERT_TRUE(CompactTable(fs_, &first, {}).value().committed);
  auto lost = CompactTable(fs_, &second, {});
  EXPECT_EQ(lost.status().code(), StatusCode::kFailedPrecondition) << lost.status().ToString();
  EXPECT_EQ(FilesUnder(JoinPath(Location(LakeTableId::kEvents), "data/compacted")), 1u)
      << "the loser removed its output";
  EXPECT_EQ(Metadata(LakeTableId::kEvents).snapshots.size(), 3u);
  EXPECT_EQ(ReadRows(LakeTableId::kEvents), rows);
}

TEST_F(IcebergMaintenanceTest, RewriteRefusesFilesThatAreNotLiveAndRecognisesItsCommitId) {
  IcebergTable table = CreateTable(LakeTableId::kEvents);
  const DataFileInfo a = WriteEvents(LakeTableId::kEvents, "a.parquet", {1}, kBaseMs, 10);
  ASSERT_TRUE(AppendFiles(fs_, &table, {a}, "c1").value());
  EXPECT_EQ(RewriteFiles(fs_, &table, {a.path + ".nope"}, {}, "delete", "d1").status().code(),
            StatusCode::kFailedPrecondition);
  ASSERT_TRUE(RewriteFiles(fs_, &table, {a.path}, {}, "delete", "d2").value());
  EXPECT_FALSE(RewriteFiles(fs_, &table, {a.path}, {}, "delete", "d2").value()) << "a replay";
  const TableMetadata m = Metadata(LakeTableId::kEvents);
  EXPECT_EQ(m.snapshots.size(), 2u);
  EXPECT_EQ(m.snapshots.back().summary.at("operation"), "delete");
  EXPECT_EQ(m.snapshots.back().summary.at("total-records"), "0");
  EXPECT_EQ(m.snapshots.back().summary.at("deleted-records"), "10");
  EXPECT_TRUE(fs_->FileExists(a.path)) << "only expiry removes data files";
}

TEST_F(IcebergMaintenanceTest, ExpiryDropsOldSnapshotsAndOnlyTheFilesNoRetainedSnapshotLists) {
  IcebergTable table = CreateTable(LakeTableId::kEvents);
  const auto stories = StoriesInOneBucket(2);
  const DataFileInfo a = WriteEvents(LakeTableId::kEvents, "a.parquet", stories, kBaseMs, 100);
  const DataFileInfo b = WriteEvents(LakeTableId::kEvents, "b.parquet", stories, kBaseMs, 100);
  const DataFileInfo keep = WriteEvents(LakeTableId::kEvents, "keep.parquet", stories, kBaseMs + kHourMs, 100);
  ASSERT_TRUE(AppendFiles(fs_, &table, {a, keep}, "c1").value());
  ASSERT_TRUE(AppendFiles(fs_, &table, {b}, "c2").value());
  ASSERT_TRUE(CompactTable(fs_, &table, {}).value().committed);  // a + b -> one file
  const TableMetadata before = Metadata(LakeTableId::kEvents);
  ASSERT_EQ(before.snapshots.size(), 3u);
  const std::vector<Row> rows = ReadRows(LakeTableId::kEvents);

  // Nothing is older than the cutoff: nothing expires.
  auto none = ExpireSnapshots(fs_, &table, {before.snapshots[0].timestamp_ms, 1, false, std::nullopt});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->expired_snapshot_ids.empty());

  ExpireOptions options{std::numeric_limits<int64_t>::max(), 2, true, std::nullopt};
  const auto files_before = Snapshot();
  auto dry = ExpireSnapshots(fs_, &table, options);
  ASSERT_TRUE(dry.ok()) << dry.status().ToString();
  EXPECT_EQ(Snapshot(), files_before);
  EXPECT_EQ(dry->expired_snapshot_ids, std::vector<int64_t>{before.snapshots[0].snapshot_id}) << "retain_last 2";

  options.retain_last = 1;
  dry = ExpireSnapshots(fs_, &table, options);
  ASSERT_TRUE(dry.ok());
  EXPECT_EQ(dry->expired_snapshot_ids.size(), 2u);
  options.dry_run = false;
  auto done = ExpireSnapshots(fs_, &table, options);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(done->deleted_files, dry->deleted_files) << "the dry run listed what the run deleted";

  const TableMetadata m = Metadata(LakeTableId::kEvents);
  ASSERT_EQ(m.snapshots.size(), 1u);
  EXPECT_EQ(m.current_snapshot_id, before.current_snapshot_id);
  ASSERT_EQ(m.snapshot_log.size(), 1u);
  EXPECT_EQ(m.snapshot_log[0].second, *m.current_snapshot_id);
  EXPECT_FALSE(fs_->FileExists(a.path));
  EXPECT_FALSE(fs_->FileExists(b.path));
  EXPECT_TRUE(fs_->FileExists(keep.path)) << "still live (EXISTING) in the current snapshot";
  EXPECT_FALSE(fs_->FileExists(before.snapshots[0].manifest_list));
  EXPECT_FALSE(fs_->FileExists(before.snapshots[1].manifest_list));
  EXPECT_TRUE(fs_->FileExists(before.snapshots[2].manifest_list));
  // a and b, the manifests of c1 and c2 (the compaction rewrote both), two lists.
  auto count = [&](const char* suffix) {
    return std::count_if(done->deleted_files.begin(), done->deleted_files.end(),
                         [&](const std::string& p) { return p.ends_with(suffix); });
  };
  EXPECT_EQ(count(".parquet"), 2);
  EXPECT_EQ(count("-m0.avro"), 2);
  EXPECT_EQ(done->deleted_files.size(), 6u);
  EXPECT_EQ(ReadRows(LakeTableId::kEvents), rows);
}

TEST_F(IcebergMaintenanceTest, ADamagedFileLeavesItsGroupAndTheRestIsCompacted) {
  IcebergTable table = CreateTable(LakeTableId::kEvents);
  const auto stories = StoriesInOneBucket(2);
  const DataFileInfo a1 = WriteEvents(LakeTableId::kEvents, "a1.parquet", stories, kBaseMs, 10);
  const DataFileInfo a2 = WriteEvents(LakeTableId::kEvents, "a2.parquet", stories, kBaseMs, 10);
  const DataFileInfo b1 = WriteEvents(LakeTableId::kEvents, "b1.parquet", stories, kBaseMs + kHourMs, 10);
  const DataFileInfo b2 = WriteEvents(LakeTableId::kEvents, "b2.parquet", stories, kBaseMs + kHourMs, 10);
  ASSERT_TRUE(AppendFiles(fs_, &table, {a1, a2, b1, b2}, "c1").value());
  const std::vector<Row> b_rows = [&] {
    std::vector<Row> r = ReadFile(b1.path), r2 = ReadFile(b2.path);
    r.insert(r.end(), r2.begin(), r2.end());
    std::sort(r.begin(), r.end());
    return r;
  }();
  ASSERT_TRUE(fs_->Truncate(a2.path, 100).ok());  // found damaged at read time

  auto done = CompactTable(fs_, &table, {});
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_TRUE(done->committed);
  ASSERT_EQ(done->groups.size(), 2u);
  const CompactionGroup& damaged = done->groups[0].partition == a1.partition ? done->groups[0] : done->groups[1];
  const CompactionGroup& good = &damaged == &done->groups[0] ? done->groups[1] : done->groups[0];
  EXPECT_NE(damaged.error.find(a2.path), std::string::npos) << damaged.error;
  EXPECT_FALSE(damaged.output.has_value());
  ASSERT_TRUE(good.output.has_value());
  EXPECT_EQ(ReadFile(good.output->path), b_rows);
  // The damaged group's files are still the table's, as they were.
  auto entries = ListLiveFiles(fs_, IcebergTable::Load(fs_, Location(LakeTableId::kEvents))->metadata());
  ASSERT_TRUE(entries.ok());
  std::set<std::string> live;
  for (const ManifestEntry& e : *entries) live.insert(e.file.path);
  EXPECT_EQ(live, (std::set<std::string>{a1.path, a2.path, good.output->path}));
}

// Compaction by need: only a partition that gathered min_files small files
// is compacted, and files already checked do not trigger again.
TEST_F(IcebergMaintenanceTest, CompactionByNeedWaitsForEnoughSmallFilesInOnePartition) {
  IcebergTable table = CreateTable(LakeTableId::kEvents);
  const auto stories = StoriesInOneBucket(2);
  auto write = [&](const std::string& name, int64_t ms) {
    return WriteEvents(LakeTableId::kEvents, name, stories, ms, 10);
  };
  // Hour A: 3 files; hour B: 2 files.
  std::vector<DataFileInfo> a = {write("a1.parquet", kBaseMs), write("a2.parquet", kBaseMs),
                                 write("a3.parquet", kBaseMs)};
  std::vector<DataFileInfo> b = {write("b1.parquet", kBaseMs + kHourMs), write("b2.parquet", kBaseMs + kHourMs)};
  ASSERT_TRUE(AppendFiles(fs_, &table, {a[0], a[1], b[0]}, "c1").value());
  CompactionOptions options;
  options.min_files = 3;
  int64_t checked = 0;
  auto r = CompactIfNeeded(fs_, &table, options, &checked);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->groups.empty()) << "3 files added, but no partition holds 3";
  EXPECT_EQ(checked, table.metadata().last_sequence_number);

  ASSERT_TRUE(AppendFiles(fs_, &table, {a[2]}, "c2").value());
  r = CompactIfNeeded(fs_, &table, options, &checked);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->groups.empty()) << "one new file is below min_files: the manifests are not even read";

  ASSERT_TRUE(AppendFiles(fs_, &table, {b[1]}, "c3").value());
  ASSERT_TRUE(AppendFiles(fs_, &table, {write("b3.parquet", kBaseMs + kHourMs)}, "c4").value());
  ASSERT_TRUE(AppendFiles(fs_, &table, {write("b4.parquet", kBaseMs + kHourMs)}, "c5").value());
  r = CompactIfNeeded(fs_, &table, options, &checked);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->groups.size(), 2u) << "hour A holds 3 small files, hour B 4";
  EXPECT_TRUE(r->committed);
  EXPECT_EQ(r->groups[0].inputs.size() + r->groups[1].inputs.size(), 7u);
  EXPECT_EQ(checked, table.metadata().last_sequence_number) << "its own replace snapshot is checked too";
  r = CompactIfNeeded(fs_, &table, options, &checked);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->groups.empty());

  // Three new files in hour A, beside its compacted one: only the new files
  // are merged (the compacted file waits for a round).
  ASSERT_TRUE(AppendFiles(fs_, &table,
                          {write("a4.parquet", kBaseMs), write("a5.parquet", kBaseMs), write("a6.parquet", kBaseMs)},
                          "c6")
                  .value());
  r = CompactIfNeeded(fs_, &table, options, &checked);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->groups.size(), 1u);
  ASSERT_EQ(r->groups[0].inputs.size(), 3u);
  for (const DataFileInfo& f : r->groups[0].inputs) EXPECT_EQ(f.path.find("/data/compacted/"), std::string::npos);

  // min_files applies to a plain CompactTable too, which also takes
  // compacted files: hour A's two, hour C's two new ones.
  IcebergTable again = IcebergTable::Load(fs_, Location(LakeTableId::kEvents)).value();
  ASSERT_TRUE(AppendFiles(fs_, &again,
                          {write("c1.parquet", kBaseMs + 2 * kHourMs), write("c2.parquet", kBaseMs + 2 * kHourMs)},
                          "c7")
                  .value());
  options.dry_run = true;
  EXPECT_TRUE(CompactTable(fs_, &again, options)->groups.empty());
  options.min_files = 2;
  EXPECT_EQ(CompactTable(fs_, &again, options)->groups.size(), 2u);
}

TEST_F(IcebergMaintenanceTest, CompactionLeavesPartitionsPastTheHorizonToTheLifecycle) {
  IcebergTable table = CreateTable(LakeTableId::kEvents);
  const auto stories = StoriesInOneBucket(2);
  const int64_t recent = kBaseMs + 89 * kDayMs;  // "now" is kBaseMs + 90 days: events keep 90 days
  const DataFileInfo o1 = WriteEvents(LakeTableId::kEvents, "o1.parquet", stories, kBaseMs, 10);
  const DataFileInfo o2 = WriteEvents(LakeTableId::kEvents, "o2.parquet", stories, kBaseMs, 10);
  const DataFileInfo r1 = WriteEvents(LakeTableId::kEvents, "r1.parquet", stories, recent, 10);
  const DataFileInfo r2 = WriteEvents(LakeTableId::kEvents, "r2.parquet", stories, recent, 10);
  ASSERT_TRUE(AppendFiles(fs_, &table, {o1, o2, r1, r2}, "c1").value());
  CompactionOptions options;
  options.skip_ended_before_ms = CompactionHorizonMs(LakeTableId::kEvents, kBaseMs + 90 * kDayMs, {});
  EXPECT_EQ(*options.skip_ended_before_ms, kBaseMs + kDayMs);
  options.dry_run = true;
  auto plan = CompactTable(fs_, &table, options);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->groups.size(), 1u);
  EXPECT_EQ(plan->groups[0].partition, r1.partition);
  options.skip_ended_before_ms.reset();
  EXPECT_EQ(CompactTable(fs_, &table, options).value().groups.size(), 2u);
}

TEST_F(IcebergMaintenanceTest, CompactionCanLeaveTheOpenHoursAlone) {
  IcebergTable table = CreateTable(LakeTableId::kEvents);
  const auto stories = StoriesInOneBucket(2);
  // Hours A and B by the data's clock, both ended by the wall clock's
  // (a producer an hour behind); C is the wall clock's own hour.
  const int64_t a = kBaseMs, b = kBaseMs + kHourMs, now = kBaseMs + 3 * kHourMs + 60'000;
  std::vector<DataFileInfo> files;
  for (const char* name : {"a1.parquet", "a2.parquet"})
    files.push_back(WriteEvents(LakeTableId::kEvents, name, stories, a, 10));
  for (const char* name : {"b1.parquet", "b2.parquet"})
    files.push_back(WriteEvents(LakeTableId::kEvents, name, stories, b, 10));
  ASSERT_TRUE(AppendFiles(fs_, &table, files, "c1").value());
  CompactionOptions options;
  options.dry_run = true;
  options.skip_ending_after_ms = now;
  EXPECT_EQ(CompactTable(fs_, &table, options)->groups.size(), 2u);  // both ended by the wall clock
  options.skip_newest_time_range = true;
  auto plan = CompactTable(fs_, &table, options);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->groups.size(), 1u);  // B is the newest hour the table holds: still being written
  EXPECT_EQ(plan->groups[0].partition, files[0].partition);
  options.skip_ending_after_ms = a + kHourMs - 1;  // the wall clock inside A: nothing has ended
  EXPECT_TRUE(CompactTable(fs_, &table, options)->groups.empty());
}

TEST_F(IcebergMaintenanceTest, AMaintenanceRoundCompactsArchivesAndExpires) {
  IcebergTable events = CreateTable(LakeTableId::kEvents);
  const auto stories = StoriesInOneBucket(2);
  const int64_t now = kBaseMs + 100 * kDayMs;
  // Two small files of a recent hour, two of a day past keep_days (90), two
  // of the hour still open at `now` (left to compaction by need).
  std::vector<DataFileInfo> files;
  for (const char* name : {"a.parquet", "b.parquet"})
    files.push_back(WriteEvents(LakeTableId::kEvents, name, stories, now - 2 * kHourMs, 20));
  for (const char* name : {"c.parquet", "d.parquet"})
    files.push_back(WriteEvents(LakeTableId::kEvents, name, stories, kBaseMs, 20));
  for (const char* name : {"e.parquet", "f.parquet"})
    files.push_back(WriteEvents(LakeTableId::kEvents, name, stories, now, 20));
  ASSERT_TRUE(AppendFiles(fs_, &events, {files[0], files[1]}, "c1").value());
  ASSERT_TRUE(AppendFiles(fs_, &events, {files[2], files[3]}, "c2").value());
  ASSERT_TRUE(AppendFiles(fs_, &events, {files[4], files[5]}, "c3").value());
  const std::vector<Row> rows = ReadRows(LakeTableId::kEvents);

  MaintenanceSchedule schedule;
  schedule.snapshot_retention_ms = 0;  // every snapshot but the newest may go
  auto report = RunMaintenanceRound(fs_, dir_.path(), Region::kEu, now, schedule);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->compacted_files, 2);  // the recent pair; the old day is the lifecycle's, the open hour waits
  EXPECT_EQ(report->compaction_outputs, 1);
  EXPECT_EQ(report->lifecycle_batches, 1);
  EXPECT_GT(report->expired_snapshots, 0);
  EXPECT_GT(report->deleted_files, 0);
  // Every row once: the recent ones in events (one file, plus the open
  // hour's two as they were), the old ones in the archive.
  std::vector<Row> after = ReadRows(LakeTableId::kEvents);
  EXPECT_EQ(ListLiveFiles(fs_, IcebergTable::Load(fs_, Location(LakeTableId::kEvents))->metadata())->size(), 3u);
  for (const DataFileInfo& open : {files[4], files[5]}) EXPECT_TRUE(fs_->FileExists(open.path)) << open.path;
  const std::vector<Row> archived = ReadRows(LakeTableId::kArchiveEvents);
  EXPECT_EQ(after.size(), 20u * 4);
  EXPECT_EQ(archived.size(), 20u * 2);
  after.insert(after.end(), archived.begin(), archived.end());
  std::sort(after.begin(), after.end());
  EXPECT_EQ(after, rows);
  for (const std::string& f : {files[0].path, files[2].path}) EXPECT_FALSE(fs_->FileExists(f)) << f;
}

TEST_F(IcebergMaintenanceTest, OrphanRemovalSparesYoungAndReferencedFiles) {
  IcebergTable table = CreateTable(LakeTableId::kEvents);
  const DataFileInfo a = WriteEvents(LakeTableId::kEvents, "a.parquet", {1}, kBaseMs, 10);
  ASSERT_TRUE(AppendFiles(fs_, &table, {a}, "c1").value());
  const std::string loc = Location(LakeTableId::kEvents);
  // An old unreferenced file outside the sink's directories (a crashed
  // compaction's output), and one inside them (a prepared commit of a
  // partition that is down): only the first is an orphan.
  const DataFileInfo crashed = WriteEvents(LakeTableId::kEvents, "crashed.parquet", {1}, kBaseMs, 10);
  DataFileInfo old_orphan = crashed;
  old_orphan.path = JoinPath(loc, "data/compacted/crashed.parquet");
  ASSERT_TRUE(fs_->CreateDirs(JoinPath(loc, "data/compacted")).ok());
  ASSERT_TRUE(fs_->RenameFile(crashed.path, old_orphan.path).ok());
  const DataFileInfo prepared = WriteEvents(LakeTableId::kEvents, "prepared.parquet", {1}, kBaseMs, 10);
  const DataFileInfo young = WriteEvents(LakeTableId::kEvents, "in-flight.parquet", {1}, kBaseMs, 10);
  const std::string stray_manifest = JoinPath(loc, "metadata/0123-m0.avro");
  ASSERT_TRUE(WriteFileAtomically(fs_, stray_manifest, "x").ok());

  // Everything is "old" except the young file; the cutoff lies between.
  const int64_t old_ms = 1'600'000'000'000, cutoff = 1'700'000'000'000;
  for (const auto& e : std::filesystem::recursive_directory_iterator(loc))
    if (e.is_regular_file() && e.path().string() != young.path) SetModifiedTime(e.path().string(), old_ms);

  const auto files_before = Snapshot();
  auto dry = RemoveOrphanFiles(fs_, loc, {cutoff, true});
  ASSERT_TRUE(dry.ok()) << dry.status().ToString();
  EXPECT_EQ(Snapshot(), files_before);
  EXPECT_EQ(*dry, (std::vector<std::string>{old_orphan.path, stray_manifest}));

  auto done = RemoveOrphanFiles(fs_, loc, {cutoff, false});
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(*done, *dry);
  EXPECT_FALSE(fs_->FileExists(old_orphan.path));
  EXPECT_FALSE(fs_->FileExists(stray_manifest));
  EXPECT_TRUE(fs_->FileExists(young.path));
  EXPECT_TRUE(fs_->FileExists(prepared.path));
  EXPECT_TRUE(fs_->FileExists(a.path));
  EXPECT_TRUE(fs_->FileExists(JoinPath(loc, "metadata/version-hint.text")));
  EXPECT_TRUE(fs_->FileExists(table.MetadataPath(1)));  // in metadata-log
  EXPECT_TRUE(fs_->FileExists(table.MetadataPath(2)));
  EXPECT_EQ(ReadRows(LakeTableId::kEvents).size(), 10u);
  EXPECT_TRUE(RemoveOrphanFiles(fs_, loc, {cutoff, false}).value().empty());
}

// Links planted in a table (a directory link, a file link) must not make
// orphan removal delete what they point to, nor the links themselves.
TEST_F(IcebergMaintenanceTest, OrphanRemovalNeverFollowsSymlinks) {
  IcebergTable table = CreateTable(LakeTableId::kEvents);
  const DataFileInfo a = WriteEvents(LakeTableId::kEvents, "a.parquet", {1}, kBaseMs, 10);
  ASSERT_TRUE(AppendFiles(fs_, &table, {a}, "c1").value());
  const std::string loc = Location(LakeTableId::kEvents);
  const std::string outside = dir_.Path("precious");
  ASSERT_TRUE(fs_->CreateDirs(outside).ok());
  const std::string victim = JoinPath(outside, "victim.parquet");
  ASSERT_TRUE(WriteFileAtomically(fs_, victim, "not the lake's").ok());
  std::filesystem::create_directory_symlink(outside, JoinPath(loc, "data/linked-dir"));
  std::filesystem::create_symlink(victim, JoinPath(loc, "data/linked.parquet"));
  SetModifiedTime(victim, 1'600'000'000'000);
  auto removed = RemoveOrphanFiles(fs_, loc, {std::numeric_limits<int64_t>::max(), false});
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_TRUE(removed->empty()) << removed->front();
  EXPECT_TRUE(fs_->FileExists(victim));
  EXPECT_TRUE(fs_->IsSymlink(JoinPath(loc, "data/linked.parquet")));
}

// A manifest may name any path (whoever writes the metadata chooses it):
// expiry deletes only files inside the table and reports the others.
TEST_F(IcebergMaintenanceTest, ExpiryNeverDeletesOutsideTheTable) {
  IcebergTable table = CreateTable(LakeTableId::kEvents);
  const DataFileInfo inside = WriteEvents(LakeTableId::kEvents, "inside.parquet", {1}, kBaseMs, 10);
  DataFileInfo foreign = WriteEvents(LakeTableId::kEvents, "foreign.parquet", {1}, kBaseMs, 10);
  const std::string outside = dir_.Path("foreign.parquet");
  ASSERT_TRUE(fs_->RenameFile(foreign.path, outside).ok());
  foreign.path = outside;
  ASSERT_TRUE(AppendFiles(fs_, &table, {inside, foreign}, "c1").value());
  ASSERT_TRUE(RewriteFiles(fs_, &table, {inside.path, foreign.path}, {}, "delete", "d1").value());
  auto expired = ExpireSnapshots(fs_, &table, {std::numeric_limits<int64_t>::max(), 1, false, std::nullopt});
  ASSERT_TRUE(expired.ok()) << expired.status().ToString();
  EXPECT_EQ(expired->refused_files, std::vector<std::string>{outside});
  EXPECT_TRUE(fs_->FileExists(outside));
  EXPECT_FALSE(fs_->FileExists(inside.path));
  EXPECT_TRUE(std::find(expired->deleted_files.begin(), expired->deleted_files.end(), inside.path) !=
              expired->deleted_files.end());
}

}  // namespace
}  // namespace watershed::lake
