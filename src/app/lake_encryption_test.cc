// The lake with `encryption = on` (issue #13), end to end as an operator
// meets it: the sink writes encrypted files and commits them, `watershed
// sql` reads them (and not without the keys), compaction rewrites them
// under fresh data keys, `keys rotate` + `keys rewrap` move every file's key
// to the new KEK without touching a data file, `keys retire` refuses a key
// still needed, and DuckDB reads a file given `keys data-key`'s output.

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "app/commands.h"
#include "app/lake_keys.h"
#include "core/testing/sample_events.h"
#include "core/testing/temp_dir.h"
#include "keys/key_ring.h"
#include "lake/file_keys.h"
#include "lake/iceberg_commit.h"
#include "lake/iceberg_maintenance.h"
#include "lake/lake_sink.h"
#include "lake/testing/duckdb_tool.h"

namespace watershed::app {
namespace {

struct Outcome {
  int rc;
  std::string out, err;
};

template <typename F>
Outcome Capture(F&& run) {
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  const int rc = run();
  std::string out = ::testing::internal::GetCapturedStdout();
  return {rc, out, ::testing::internal::GetCapturedStderr()};
}

class LakeEncryptionTest : public ::testing::Test {
 protected:
  Outcome Keys(std::vector<std::string> args) {
    args.insert(args.end(), {"--data-dir", data_});
    return Capture([&] { return KeysCommand(args); });
  }
  Outcome Sql(const std::string& query, bool encryption) {
    std::vector<std::string> args = {query, "--format", "csv", "--root", lake_, "--region", "eu", "--data-dir", data_};
    if (encryption) args.insert(args.end(), {"--encryption", "on"});
    return Capture([&] { return SqlCommand(args); });
  }
  std::vector<lake::ManifestEntry> LiveEvents() {
    auto table = lake::IcebergTable::Load(fs_, lake::TableLocation(lake_, Region::kEu, lake::LakeTableId::kEvents));
    EXPECT_TRUE(table.ok()) << table.status().ToString();
    auto live = lake::ListLiveFiles(fs_, table->metadata());
    EXPECT_TRUE(live.ok()) << live.status().ToString();
    return live.ok() ? *live : std::vector<lake::ManifestEntry>{};
  }
  // Each live events file's data key (as base64), through `keys data-key`.
  std::map<std::string, std::string> DataKeys() {
    std::map<std::string, std::string> out;
    for (const lake::ManifestEntry& e : LiveEvents()) {
      Outcome k = Keys({"data-key", "--region", "eu", e.file.path});
      EXPECT_EQ(k.rc, 0) << k.err;
      out[e.file.path] = k.out.substr(0, k.out.find('\n'));
    }
    return out;
  }

  FileSystem* fs_ = FileSystem::Default();
  watershed::testing::TempDir dir_{"lake_encryption"};
  std::string data_ = dir_.path(), lake_ = dir_.Path("lake");
};

TEST_F(LakeEncryptionTest, SinkSqlCompactionRotationRewrapAndDuckDb) {
  Outcome created = Keys({"create", "--region", "eu"});
  ASSERT_EQ(created.rc, 0) << created.err;
  const std::string old_id = created.out.substr(created.out.find("key ") + 4, 30);
  auto ring = keys::KeyRing::Open(data_ + "/keys", "", {"eu"});
  ASSERT_TRUE(ring.ok()) << ring.status().ToString();
  UseLakeKeys(lake_, ring->get());  // what `serve --encryption on` does

  // The sink: two commits of 100 events each (stories 0..199: files in the same buckets).
  {
    lake::LakeSinkOptions options;
    auto region_lake = lake::RegionLake::Open(fs_, lake_, Region::kEu, options);
    ASSERT_TRUE(region_lake.ok()) << region_lake.status().ToString();
    lake::PartitionSink sink(region_lake->get(), 3);
    ASSERT_TRUE(sink.Recover("", 0).ok());
    for (uint64_t round = 0; round < 2; ++round) {
      for (uint64_t s = round * 100; s < round * 100 + 100; ++s) {
        const Event e = testing::SampleEvent(EventType::kView, s);
        sink.AddRaw(e, AppendTimeMs(testing::kSampleNow), LogOffset(s));
        sink.AddEvent(e, AppendTimeMs(testing::kSampleNow), LogOffset(s));
      }
      ASSERT_TRUE(sink.Prepare(round * 100 + 100).ok());
      ASSERT_TRUE(sink.Commit().ok());
    }
  }
  const std::vector<lake::ManifestEntry> written = LiveEvents();
  ASSERT_GT(written.size(), 16u);
  for (const lake::ManifestEntry& e : written) {
    EXPECT_EQ(ReadWholeFile(fs_, e.file.path)->substr(0, 4), "PARE") << e.file.path;
    EXPECT_TRUE(fs_->FileExists(lake::SidecarPath(e.file.path))) << e.file.path;
  }

  // `watershed sql` reads them with the keys, and refuses without.
  ForgetLakeKeys();
  Outcome counted = Sql("SELECT count(*) AS n FROM events", true);
  ASSERT_EQ(counted.rc, 0) << counted.err;
  EXPECT_EQ(counted.out, "n\r\n200\r\n");
  ForgetLakeKeys();
  Outcome refused = Sql("SELECT count(*) AS n FROM events WHERE story_id > 0", false);
  EXPECT_NE(refused.rc, 0);
  EXPECT_NE(refused.err.find("encrypted"), std::string::npos) << refused.err;

  // Compaction reads them and writes its outputs under fresh data keys.
  const std::map<std::string, std::string> before = DataKeys();
  std::set<std::string> old_keys;
  for (const auto& [path, key] : before) old_keys.insert(key);
  EXPECT_EQ(old_keys.size(), before.size());  // one data key per file
  UseLakeKeys(lake_, ring->get());
  {
    auto table = lake::IcebergTable::Load(fs_, lake::TableLocation(lake_, Region::kEu, lake::LakeTableId::kEvents));
    ASSERT_TRUE(table.ok());
    auto compacted = lake::CompactTable(fs_, &*table, {});
    ASSERT_TRUE(compacted.ok()) << compacted.status().ToString();
  }
  const std::map<std::string, std::string> after = DataKeys();
  ASSERT_LT(after.size(), before.size());
  for (const auto& [path, key] : after) {
    if (before.count(path)) continue;
    EXPECT_EQ(ReadWholeFile(fs_, path)->substr(0, 4), "PARE") << path;
    EXPECT_FALSE(old_keys.count(key)) << path << " reuses an input's data key";
  }
  counted = Sql("SELECT count(*) AS n FROM events", true);
  EXPECT_EQ(counted.out, "n\r\n200\r\n") << counted.err;

  // Rotation: the old key still wraps the lake files' keys until `rewrap`.
  ASSERT_EQ(Keys({"rotate", "--region", "eu"}).rc, 0);
  Outcome status = Keys({"status", "--region", "eu"});
  ASSERT_EQ(status.rc, 0) << status.err;
  EXPECT_NE(status.out.find("lake file " + after.begin()->first), std::string::npos) << status.out;
  Outcome retire = Keys({"retire", "--region", "eu", "--key", old_id});
  EXPECT_EQ(retire.rc, 1);
  EXPECT_NE(retire.err.find("still wraps the data keys of"), std::string::npos) << retire.err;
  std::map<std::string, std::string> bytes;
  for (const lake::ManifestEntry& e : LiveEvents()) bytes[e.file.path] = ReadWholeFile(fs_, e.file.path).value();
  Outcome rewrap = Keys({"rewrap", "--region", "eu"});
  ASSERT_EQ(rewrap.rc, 0) << rewrap.err;
  status = Keys({"status", "--region", "eu"});
  EXPECT_NE(status.out.find(old_id + "\t0 files"), std::string::npos) << status.out;
  for (const auto& [path, content] : bytes) EXPECT_EQ(ReadWholeFile(fs_, path).value(), content) << path;
  retire = Keys({"retire", "--region", "eu", "--key", old_id});
  ASSERT_EQ(retire.rc, 0) << retire.err;
  EXPECT_EQ(DataKeys(), after);  // the same data keys, now under the new KEK
  ForgetLakeKeys();
  counted = Sql("SELECT count(*) AS n FROM events", true);
  EXPECT_EQ(counted.out, "n\r\n200\r\n") << counted.err;
  ForgetLakeKeys();

  // DuckDB reads a file with the key `keys data-key` prints, and not without.
  const auto& [path, key] = *after.begin();
  int64_t rows = 0;
  for (const lake::ManifestEntry& e : LiveEvents())
    if (e.file.path == path) rows = e.file.record_count;
  auto lines = lake::testing::RunDuckDb("PRAGMA add_parquet_key('k','" + key +
                                        "'); SELECT count(*) AS n, "
                                        "sum(hash(t)) AS h FROM read_parquet('" +
                                        path + "', encryption_config={footer_key:'k'}) t");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].substr(0, lines[0].find(',')), "{\"n\":" + std::to_string(rows)) << lines[0];
  const std::string no_key = lake::testing::DuckDbError("SELECT count(*) FROM read_parquet('" + path + "')");
  EXPECT_NE(no_key.find("encrypted"), std::string::npos) << no_key;
}

}  // namespace
}  // namespace watershed::app
