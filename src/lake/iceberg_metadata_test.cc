#include "lake/iceberg_metadata.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <thread>

#include "core/fault_injection_fs.h"
#include "core/testing/temp_dir.h"
#include "lake/tables.h"

namespace watershed::lake {
namespace {

TableMetadata EventsTable() { return NewEventTable("5f0c4a38-2f6e-4a7b-9d8e-1c2b3a4d5e6f"); }

TEST(IcebergMetadataTest, JsonHasEveryRequiredV2FieldAndRoundTrips) {
  TableMetadata m = EventsTable();
  m.location = "/lake/eu/events";
  m.last_sequence_number = 3;
  m.last_updated_ms = 1'795'000'000'000;
  m.snapshots.push_back({42, std::nullopt, 3, 1'795'000'000'000, "/lake/eu/events/metadata/snap-42.avro",
                         {{"operation", "append"}, {"watershed.commit-id", "eu/p3/17"}}, 0});
  m.current_snapshot_id = 42;
  m.snapshot_log = {{1'795'000'000'000, 42}};
  m.metadata_log = {{1'794'999'000'000, "/lake/eu/events/metadata/v1.metadata.json"}};
  const std::string json = TableMetadataToJson(m);

  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(json).get(doc), simdjson::SUCCESS) << json;
  for (const char* key : {"format-version", "table-uuid", "location", "last-sequence-number", "last-updated-ms",
                          "last-column-id", "schemas", "current-schema-id", "partition-specs", "default-spec-id",
                          "last-partition-id", "sort-orders", "default-sort-order-id", "current-snapshot-id",
                          "snapshots", "snapshot-log", "metadata-log", "refs", "properties"})
    EXPECT_FALSE(doc[key].error()) << key;
  EXPECT_EQ(doc["format-version"].get_int64().value(), 2);
  EXPECT_EQ(doc["last-column-id"].get_int64().value(), 10);
  EXPECT_EQ(doc["last-partition-id"].get_int64().value(), 1001);
  EXPECT_EQ(doc["refs"]["main"]["snapshot-id"].get_int64().value(), 42);
  EXPECT_EQ(std::string(doc["schemas"].at(0)["fields"].at(0)["type"].get_string().value()), "uuid");
  EXPECT_EQ(std::string(doc["schemas"].at(0)["fields"].at(6)["type"].get_string().value()), "timestamptz");
  EXPECT_EQ(std::string(doc["partition-specs"].at(0)["fields"].at(1)["transform"].get_string().value()), "bucket[16]");
  EXPECT_EQ(std::string(doc["sort-orders"].at(0)["fields"].at(0)["null-order"].get_string().value()), "nulls-first");

  auto back = ParseTableMetadata(json);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, m);
}

TEST(IcebergMetadataTest, MalformedMetadataIsCorruptionNamingTheProblem) {
  const std::string good = TableMetadataToJson(EventsTable());
  auto expect_bad = [](const std::string& json, const std::string& mention) {
    auto r = ParseTableMetadata(json);
    ASSERT_FALSE(r.ok()) << json;
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
    EXPECT_NE(r.status().message().find(mention), std::string::npos) << r.status().message();
  };
  expect_bad("{", "not JSON");
  expect_bad("[]", "not an object");
  std::string v1 = good;
  v1.replace(v1.find("\"format-version\":2"), 18, "\"format-version\":1");
  expect_bad(v1, "format-version 1");
  std::string no_location = good;
  no_location.replace(no_location.find("\"location\""), 10, "\"place\"");
  expect_bad(no_location, "location");
  std::string dangling = good;
  dangling.replace(dangling.find("\"refs\""), 6, "\"current-snapshot-id\":7,\"refs\"");
  expect_bad(dangling, "current-snapshot-id");
  for (size_t cut = 0; cut < good.size(); cut += 17) EXPECT_FALSE(ParseTableMetadata(good.substr(0, cut)).ok());
}

class IcebergTableTest : public ::testing::Test {
 protected:
  std::string location() const { return dir_.Path("events"); }
  std::string Hint() { return ReadWholeFile(fs_, location() + "/metadata/version-hint.text").value(); }
  watershed::testing::TempDir dir_{"iceberg"};
  FileSystem* fs_ = FileSystem::Default();
};

TEST_F(IcebergTableTest, CreateThenCommitsMakeNewVersionsAndAHint) {
  auto t = IcebergTable::Create(fs_, location(), EventsTable());
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->version(), 1);
  EXPECT_EQ(Hint(), "1");
  EXPECT_EQ(IcebergTable::Create(fs_, location(), EventsTable()).status().code(), StatusCode::kFailedPrecondition);

  for (int i = 0; i < 2; ++i)
    ASSERT_TRUE(t->Commit([i](TableMetadata& m) {
                   m.properties["round"] = std::to_string(i);
                   return Status::Ok();
                 }).ok());
  EXPECT_EQ(t->version(), 3);
  EXPECT_EQ(Hint(), "3");
  auto loaded = IcebergTable::Load(fs_, location());
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->version(), 3);
  EXPECT_EQ(loaded->metadata().properties.at("round"), "1");
  ASSERT_EQ(loaded->metadata().metadata_log.size(), 2u);
  EXPECT_EQ(loaded->metadata().metadata_log[1].second, t->MetadataPath(2));
  EXPECT_GT(loaded->metadata().last_updated_ms, loaded->metadata().metadata_log[1].first);

  // A refused change publishes nothing.
  EXPECT_EQ(t->Commit([](TableMetadata&) { return Status::InvalidArgument("no"); }).code(),
            StatusCode::kInvalidArgument);
  EXPECT_FALSE(fs_->FileExists(t->MetadataPath(4)));
}

TEST_F(IcebergTableTest, ACreationCutShortIsFinishedAndACommittedTableIsNeverRecreated) {
  // A crash between Create's metadata/ directory and its v1: nothing was committed.
  ASSERT_TRUE(fs_->CreateDirs(location() + "/metadata").ok());
  ASSERT_EQ(IcebergTable::Load(fs_, location()).status().code(), StatusCode::kNotFound);
  auto t = LoadOrCreateLakeTable(fs_, location(), LakeTableId::kEvents);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->version(), 1);
  EXPECT_TRUE(IcebergTable::Load(fs_, location()).ok());
  // A table whose metadata files are gone (lost, not cut short) stays an
  // error while anything else of it is left: its hint, or its data files.
  ASSERT_TRUE(fs_->RemoveFile(t->MetadataPath(1)).ok());
  EXPECT_FALSE(LoadOrCreateLakeTable(fs_, location(), LakeTableId::kEvents).ok());  // the hint is left
  ASSERT_TRUE(fs_->RemoveFile(location() + "/metadata/version-hint.text").ok());
  ASSERT_TRUE(fs_->CreateDirs(location() + "/data").ok());
  ASSERT_TRUE(WriteFileAtomically(fs_, location() + "/data/a.parquet", "rows").ok());
  EXPECT_FALSE(LoadOrCreateLakeTable(fs_, location(), LakeTableId::kEvents).ok());
  EXPECT_TRUE(fs_->FileExists(location() + "/data/a.parquet"));
}

TEST_F(IcebergTableTest, ConcurrentCommittersBothLandOneVersionApart) {
  ASSERT_TRUE(IcebergTable::Create(fs_, location(), EventsTable()).ok());
  auto a = IcebergTable::Load(fs_, location());
  auto b = IcebergTable::Load(fs_, location());
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(a->Commit([](TableMetadata& m) {
                 m.properties["a"] = "1";
                 return Status::Ok();
               }).ok());
  // b still believes v1 is current: its publish of v2 loses, it reloads and re-applies on v2.
  int applied = 0;
  ASSERT_TRUE(b->Commit([&](TableMetadata& m) {
                 ++applied;
                 m.properties["b"] = "1";
                 return Status::Ok();
               }).ok());
  EXPECT_EQ(applied, 2);
  EXPECT_EQ(b->version(), 3);
  auto now = IcebergTable::Load(fs_, location());
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->metadata().properties.count("a"), 1u);  // a's commit was not overwritten
  EXPECT_EQ(now->metadata().properties.count("b"), 1u);

  // Many threads at once: every commit lands exactly once.
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      auto t = IcebergTable::Load(fs_, location());
      if (!t.ok()) return;
      for (int k = 0; k < 5; ++k)
        if (t->Commit([&](TableMetadata& m) {
                m.properties["t" + std::to_string(i) + "." + std::to_string(k)] = "x";
                return Status::Ok();
              }, 100)
                .ok())
          ++ok;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 20);
  auto last = IcebergTable::Load(fs_, location());
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->version(), 3 + 20);
  EXPECT_EQ(last->metadata().properties.size(), EventsTable().properties.size() + 2 + 20);
}

TEST_F(IcebergTableTest, ACommitOnAFullDiskFailsAndLeavesTheTableAsItWas) {
  FaultInjectionFileSystem faulty(fs_);
  auto t = IcebergTable::Create(&faulty, location(), EventsTable());
  ASSERT_TRUE(t.ok());
  faulty.SetFailWrites(true);
  Status s = t->Commit([](TableMetadata& m) {
    m.properties["x"] = "1";
    return Status::Ok();
  });
  EXPECT_EQ(s.code(), StatusCode::kIoError) << s.ToString();
  EXPECT_FALSE(fs_->FileExists(t->MetadataPath(2)));
  auto names = fs_->ListDir(location() + "/metadata").value();
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"v1.metadata.json", "version-hint.text"}));  // no temporaries
  faulty.SetFailWrites(false);
  ASSERT_TRUE(t->Commit([](TableMetadata& m) {
                 m.properties["x"] = "1";
                 return Status::Ok();
               }).ok());
  EXPECT_EQ(IcebergTable::Load(fs_, location())->version(), 2);
}

TEST_F(IcebergTableTest, OldMetadataFilesBeyondTheConfiguredCountAreRemoved) {
  TableMetadata m = EventsTable();
  m.properties["write.metadata.previous-versions-max"] = "2";
  auto t = IcebergTable::Create(fs_, location(), m);
  ASSERT_TRUE(t.ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(t->Commit([](TableMetadata&) { return Status::Ok(); }).ok());
  EXPECT_EQ(t->version(), 6);
  for (int v = 1; v <= 6; ++v) EXPECT_EQ(fs_->FileExists(t->MetadataPath(v)), v >= 4) << v;
  EXPECT_EQ(t->metadata().metadata_log.size(), 2u);
}

TEST_F(IcebergTableTest, ACorruptCurrentVersionIsAnErrorNamingTheFile) {
  auto t = IcebergTable::Create(fs_, location(), EventsTable());
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE(WriteFileAtomically(fs_, t->MetadataPath(2), "{\"format-version\": 2").ok());
  auto loaded = IcebergTable::Load(fs_, location());
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kCorruption);
  EXPECT_NE(loaded.status().message().find("v2.metadata.json"), std::string::npos) << loaded.status().message();
  EXPECT_EQ(IcebergTable::Load(fs_, dir_.Path("nothing")).status().code(), StatusCode::kIoError);
}

}  // namespace
}  // namespace watershed::lake
