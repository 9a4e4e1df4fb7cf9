#include "lake/iceberg_manifest.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <cstdio>

#include "core/endian.h"
#include "core/testing/temp_dir.h"
#include "lake/iceberg_transform.h"
#include "lake/tables.h"
#include "lake/testing/python_avro.h"

namespace watershed::lake {
namespace {

TableMetadata EventsTableMetadata() { return NewEventTable("5f0c4a38-2f6e-4a7b-9d8e-1c2b3a4d5e6f"); }

using testing::PythonRead;

class IcebergManifestTest : public ::testing::Test {
 protected:
  // A Parquet file of `n` events of stories [first_story, first_story + 10).
  DataFileInfo WriteDataFile(const std::string& name, uint64_t first_story, size_t n) {
    EventColumns columns;
    for (size_t i = 0; i < n; ++i) {
      Event e;
      e.event_id = EventId::FromHiLo(first_story, i);
      e.story_id = StoryId(first_story + i % 10);
      e.author_id = AuthorId(3);
      e.viewer_id = ViewerId(500 + i);
      e.event_time = EventTimeMs(1'795'000'000'000 + static_cast<int64_t>(i));
      e.watch_ms = 100;
      columns.Add(e, AppendTimeMs(1'795'000'000'500), LogOffset(i));
    }
    const std::string path = dir_.Path(name);
    auto w = ParquetWriter::Create(fs_, path, EventTableSchema());
    EXPECT_TRUE(w.ok());
    EXPECT_TRUE((*w)->Write(columns.columns(), columns.rows()).ok());
    auto size = (*w)->Finish();
    EXPECT_TRUE(size.ok());
    auto r = ParquetReader::Open(fs_, path);
    EXPECT_TRUE(r.ok());
    const int32_t hour = iceberg::HourFromMicros(1'795'000'000'000 * 1000);
    return DescribeParquetFile(path, static_cast<int64_t>(*size), (*r)->info(),
                               {hour, iceberg::Bucket(16, iceberg::HashLong(static_cast<int64_t>(first_story)))});
  }
  size_t MetadataFiles() { return fs_->ListDir(dir_.Path("events/metadata")).value().size(); }

  watershed::testing::TempDir dir_{"iceberg_manifest"};
  FileSystem* fs_ = FileSystem::Default();
};

TEST_F(IcebergManifestTest, DescribeTakesBoundsFromStatisticsButNoneForPersonalData) {
  const DataFileInfo f = WriteDataFile("a.parquet", 100, 1000);
  EXPECT_EQ(f.record_count, 1000);
  EXPECT_EQ(f.value_counts.at(3), 1000);
  EXPECT_EQ(f.null_value_counts.at(3), 0);
  ASSERT_TRUE(f.lower_bounds.count(3));
  EXPECT_EQ(static_cast<int64_t>(GetFixed64(f.lower_bounds.at(3).data())), 100);
  EXPECT_EQ(static_cast<int64_t>(GetFixed64(f.upper_bounds.at(3).data())), 109);
  EXPECT_EQ(f.lower_bounds.count(5), 0u) << "viewer_id is personal: no bounds";
  EXPECT_EQ(f.upper_bounds.count(5), 0u);
  EXPECT_EQ(f.lower_bounds.at(2), "view");
  EXPECT_EQ(f.split_offsets, std::vector<int64_t>{4});
  EXPECT_GT(f.column_sizes.at(1), 0);
}

TEST_F(IcebergManifestTest, ManifestAndListRoundTripAndPythonAvroSeesTheSpecFieldIds) {
  const TableMetadata table = EventsTableMetadata();
  const std::vector<DataFileInfo> files = {WriteDataFile("a.parquet", 100, 300), WriteDataFile("b.parquet", 200, 200)};
  auto manifest = WriteManifest(table, 77, files);
  ASSERT_TRUE(manifest.ok()) << manifest.status().ToString();
  auto back = ReadManifest(*manifest);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, files);

  const std::string manifest_path = dir_.Path("m.avro");
  ASSERT_TRUE(WriteFileAtomically(fs_, manifest_path, *manifest).ok());
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  const std::string py = PythonRead(manifest_path);
  ASSERT_EQ(parser.parse(py).get(doc), simdjson::SUCCESS) << py;
  const std::pair<const char*, int64_t> ids[] = {{"status", 0},
                                                 {"snapshot_id", 1},
                                                 {"sequence_number", 3},
                                                 {"data_file", 2},
                                                 {"data_file.content", 134},
                                                 {"data_file.file_path", 100},
                                                 {"data_file.file_format", 101},
                                                 {"data_file.partition", 102},
                                                 {"data_file.record_count", 103},
                                                 {"data_file.file_size_in_bytes", 104},
                                                 {"data_file.column_sizes", 108},
                                                 {"data_file.value_counts", 109},
                                                 {"data_file.null_value_counts", 110},
                                                 {"data_file.lower_bounds", 125},
                                                 {"data_file.lower_bounds.key", 126},
                                                 {"data_file.lower_bounds.value", 127},
                                                 {"data_file.upper_bounds", 128},
                                                 {"data_file.split_offsets", 132},
                                                 {"data_file.split_offsets.element", 133},
                                                 {"data_file.sort_order_id", 140},
                                                 {"data_file.partition.event_time_hour", 1000},
                                                 {"data_file.partition.story_id_bucket", 1001}};
  for (const auto& [name, id] : ids) EXPECT_EQ(doc["field_ids"][name].get_int64().value_unsafe(), id) << name;
  EXPECT_EQ(std::string(doc["meta"]["format-version"].get_string().value()), "2");
  EXPECT_EQ(std::string(doc["meta"]["content"].get_string().value()), "data");
  EXPECT_NE(std::string(doc["meta"]["schema"].get_string().value()).find("\"viewer_id\""), std::string::npos);
  ASSERT_EQ(doc["records"].get_array().size(), 2u);
  EXPECT_EQ(doc["records"].at(0)["status"].get_int64().value(), 1);
  EXPECT_EQ(doc["records"].at(0)["snapshot_id"].get_int64().value(), 77);
  EXPECT_TRUE(doc["records"].at(0)["sequence_number"].is_null());  // inherited
  EXPECT_EQ(doc["records"].at(1)["data_file"]["record_count"].get_int64().value(), 200);
  EXPECT_EQ(std::string(doc["records"].at(1)["data_file"]["file_path"].get_string().value()), files[1].path);

  std::vector<ManifestFileInfo> list = {{manifest_path,
                                         static_cast<int64_t>(manifest->size()),
                                         0,
                                         0,
                                         5,
                                         5,
                                         77,
                                         2,
                                         0,
                                         0,
                                         500,
                                         0,
                                         0,
                                         {{false, "\x01\x00\x00\x00", "\x09\x00\x00\x00"}}}};
  list[0].partitions[0].lower_bound = std::string("\x01\x00\x00\x00", 4);
  list[0].partitions[0].upper_bound = std::string("\x09\x00\x00\x00", 4);
  auto list_bytes = WriteManifestList(77, 12, 5, list);
  ASSERT_TRUE(list_bytes.ok()) << list_bytes.status().ToString();
  auto list_back = ReadManifestList(*list_bytes);
  ASSERT_TRUE(list_back.ok()) << list_back.status().ToString();
  EXPECT_EQ(*list_back, list);
  const std::string list_path = dir_.Path("snap.avro");
  ASSERT_TRUE(WriteFileAtomically(fs_, list_path, *list_bytes).ok());
  const std::string py_list = PythonRead(list_path);
  ASSERT_EQ(parser.parse(py_list).get(doc), simdjson::SUCCESS) << py_list;
  const std::pair<const char*, int64_t> list_ids[] = {
      {"manifest_path", 500},           {"manifest_length", 501},
      {"partition_spec_id", 502},       {"content", 517},
      {"sequence_number", 515},         {"min_sequence_number", 516},
      {"added_snapshot_id", 503},       {"added_files_count", 504},
      {"existing_files_count", 505},    {"deleted_files_count", 506},
      {"added_rows_count", 512},        {"existing_rows_count", 513},
      {"deleted_rows_count", 514},      {"partitions", 507},
      {"partitions.element", 508},      {"partitions.contains_null", 509},
      {"partitions.contains_nan", 518}, {"partitions.lower_bound", 510},
      {"partitions.upper_bound", 511}};
  for (const auto& [name, id] : list_ids) EXPECT_EQ(doc["field_ids"][name].get_int64().value_unsafe(), id) << name;
  EXPECT_EQ(std::string(doc["meta"]["snapshot-id"].get_string().value()), "77");
  EXPECT_EQ(std::string(doc["meta"]["parent-snapshot-id"].get_string().value()), "12");
  EXPECT_EQ(doc["records"].at(0)["added_rows_count"].get_int64().value(), 500);
  EXPECT_EQ(std::string(doc["records"].at(0)["partitions"].at(0)["upper_bound"].get_string().value()), "09000000");
}

TEST_F(IcebergManifestTest, AppendsMakeSnapshotsAndAReplayedCommitIsNotAppliedTwice) {
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

TEST_F(IcebergManifestTest, RangeGuardOrdersOneWritersCommits) {
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

TEST_F(IcebergManifestTest, ACommitNamingAMissingFileIsRefused) {
  auto table = IcebergTable::Create(fs_, dir_.Path("events"), EventsTableMetadata());
  ASSERT_TRUE(table.ok());
  const DataFileInfo a = WriteDataFile("a.parquet", 100, 30);
  ASSERT_TRUE(fs_->RemoveFile(a.path).ok());  // another owner's recovery removed it
  auto r = AppendFiles(fs_, &*table, {a}, "eu/p0/0-30");
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find(a.path), std::string::npos);
  EXPECT_EQ(table->version(), 1);
}

TEST_F(IcebergManifestTest, DamagedManifestsAreCorruption) {
  auto manifest = WriteManifest(EventsTableMetadata(), 1, {WriteDataFile("a.parquet", 1, 10)});
  ASSERT_TRUE(manifest.ok());
  for (size_t cut = 1; cut < manifest->size(); cut += 13) {
    auto r = ReadManifest(manifest->substr(0, manifest->size() - cut));
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
    }
  }
  EXPECT_EQ(ReadManifestList("not avro").status().code(), StatusCode::kCorruption);
  EXPECT_EQ(WriteManifest(EventsTableMetadata(), 1, {DataFileInfo{}}).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace watershed::lake
