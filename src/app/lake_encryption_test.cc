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

// `watershed erase` on an encrypted lake: the files holding the viewer are read with their keys and rewritten under
// fresh ones (a sidecar each), the old files and sidecars go, and `--verify` reads every file with its key — without
// the keys it cannot, and says so (exit 1).
TEST_F(LakeEncryptionTest, EraseRewritesEncryptedFilesUnderFreshKeysAndVerifyReadsThem) {
  ASSERT_EQ(Keys({"create", "--region", "eu"}).rc, 0);
  auto ring = keys::KeyRing::Open(data_ + "/keys", "", {"eu"});
  ASSERT_TRUE(ring.ok()) << ring.status().ToString();
  UseLakeKeys(lake_, ring->get());
  {
    lake::LakeSinkOptions options;
    auto region_lake = lake::RegionLake::Open(fs_, lake_, Region::kEu, options);
    ASSERT_TRUE(region_lake.ok()) << region_lake.status().ToString();
    lake::PartitionSink sink(region_lake->get(), 3);
    ASSERT_TRUE(sink.Recover("", 0).ok());
    for (uint64_t s = 0; s < 200; ++s) {
      Event e = testing::SampleEvent(EventType::kView, s);
      if (s % 5 == 0) e.viewer_id = ViewerId(777);
      sink.AddRaw(e, AppendTimeMs(testing::kSampleNow), LogOffset(s));
      sink.AddEvent(e, AppendTimeMs(testing::kSampleNow), LogOffset(s));
    }
    ASSERT_TRUE(sink.Prepare(200).ok());
    ASSERT_TRUE(sink.Commit().ok());
  }
  ForgetLakeKeys();
  std::set<std::string> old_files;
  for (const lake::ManifestEntry& e : LiveEvents()) old_files.insert(e.file.path);
  const std::vector<std::string> base = {"--data-dir", data_, "--lake-root", lake_};
  auto erase = [&](std::vector<std::string> args, bool encryption) {
    args.insert(args.end(), base.begin(), base.end());
    if (encryption) args.insert(args.end(), {"--encryption", "on"});
    Outcome o = Capture([&] { return EraseCommand(args); });
    ForgetLakeKeys();
    return o;
  };
  Outcome blind = erase({"--verify", "777"}, false);
  EXPECT_EQ(blind.rc, 1) << blind.out << blind.err;
  EXPECT_NE(blind.out.find("rows=unknown"), std::string::npos) << blind.out;
  Outcome found = erase({"--verify", "777"}, true);
  EXPECT_EQ(found.rc, 1) << "lake files hold the viewer: " << found.out;
  EXPECT_NE(found.out.find("lake " + lake_ + "/eu/events/"), std::string::npos) << found.out;

  Outcome done = erase({"--viewer", "777"}, true);
  ASSERT_EQ(done.rc, 0) << done.out << done.err;
  EXPECT_NE(done.out.find(": complete"), std::string::npos) << done.out;
  // The files --verify found (raw_events' and events') are gone with their sidecars; the others stay.
  std::set<std::string> holding;
  for (size_t at = found.out.find("lake "); at != std::string::npos; at = found.out.find("\nlake ", at + 1)) {
    const size_t begin = found.out.find('/', at);
    holding.insert(found.out.substr(begin, found.out.find(' ', begin) - begin));
  }
  ASSERT_GT(holding.size(), 2u) << found.out;
  for (const std::string& f : holding) {
    EXPECT_FALSE(fs_->FileExists(f)) << f;
    EXPECT_FALSE(fs_->FileExists(lake::SidecarPath(f))) << f;
  }
  for (const std::string& f : old_files) {
    if (holding.count(f)) continue;
    EXPECT_TRUE(fs_->FileExists(f)) << f << " did not hold the viewer: left as it was";
  }
  size_t rewritten = 0;
  for (const lake::ManifestEntry& e : LiveEvents()) {
    if (old_files.count(e.file.path)) continue;
    ++rewritten;
    EXPECT_EQ(ReadWholeFile(fs_, e.file.path)->substr(0, 4), "PARE") << e.file.path;
    EXPECT_TRUE(fs_->FileExists(lake::SidecarPath(e.file.path))) << e.file.path;
  }
  EXPECT_GT(rewritten, 0u);
  Outcome clean = erase({"--verify", "777"}, true);
  EXPECT_EQ(clean.rc, 0) << clean.out << clean.err;
  EXPECT_EQ(clean.out.find("lake "), std::string::npos) << clean.out;
  Outcome counted =
      Sql("SELECT count(*) AS n, sum(CASE WHEN viewer_id = 777 THEN 1 ELSE 0 END) AS v FROM events", true);
  EXPECT_EQ(counted.out, "n,v\r\n160,0\r\n") << counted.err;
  ForgetLakeKeys();
}

}  // namespace
}  // namespace watershed::app
