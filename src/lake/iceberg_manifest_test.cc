#include "lake/iceberg_manifest.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <cstdio>

#include "core/endian.h"
#include "core/testing/temp_dir.h"
#include "lake/iceberg_transform.h"
#include "lake/tables.h"
#include "lake/testing/event_data_files.h"
#include "lake/testing/python_avro.h"

namespace watershed::lake {
namespace {

using testing::EventsTableMetadata;
using testing::PythonRead;

class IcebergManifestTest : public ::testing::Test {
 protected:
  DataFileInfo WriteDataFile(const std::string& name, uint64_t first_story, size_t n) {
    return testing::WriteEventsDataFile(fs_, dir_.Path(name), first_story, n);
  }

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

TEST(FieldIdMap, KeepsKeysSortedAndUniqueLikeAMap) {
  FieldIdMap<std::string> m;
  EXPECT_TRUE(m.try_emplace(7, "g").second);
  EXPECT_TRUE(m.try_emplace(2, "b").second);
  auto [it, fresh] = m.try_emplace(7, "other");
  EXPECT_FALSE(fresh);
  EXPECT_EQ(it->second, "g") << "try_emplace keeps the value there";
  m[4] = "d";
  m[2] += "!";
  std::vector<std::pair<int32_t, std::string>> items(m.begin(), m.end());
  EXPECT_EQ(items, (std::vector<std::pair<int32_t, std::string>>{{2, "b!"}, {4, "d"}, {7, "g"}}));
  EXPECT_EQ(m.count(4), 1u);
  EXPECT_EQ(m.count(5), 0u);
  EXPECT_EQ(m.find(5), m.end());
  EXPECT_THROW(m.at(5), std::out_of_range);
  FieldIdMap<std::string> same;
  same[7] = "g";
  same[4] = "d";
  same[2] = "b!";
  EXPECT_EQ(m, same);
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
