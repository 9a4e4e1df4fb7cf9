// DuckDB (npm @duckdb/node-api, installed by scripts/install-deps.sh into
// tools/duckdb) reads the files our writer makes: the same rows and values,
// the types our logical annotations promise, and footers whose field ids,
// statistics and encodings DuckDB reports as we wrote them. DuckDB is an
// independent Parquet implementation, so this is the compatibility proof.

#include <gtest/gtest.h>
#include <simdjson.h>

#include <array>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <set>

#include "core/endian.h"
#include "core/testing/temp_dir.h"
#include "keys/aead.h"
#include "lake/file_keys.h"
#include "lake/parquet.h"
#include "lake/tables.h"
#include "lake/testing/duckdb_tool.h"
#include "lake/testing/parquet_samples.h"

namespace watershed::lake {
namespace {

// Runs SQL through tools/duckdb/query.mjs; returns its JSON lines.
std::vector<std::string> DuckDb(const std::string& sql) { return testing::RunDuckDb(sql); }

std::string Hex(std::string_view b) {
  static const char* d = "0123456789ABCDEF";
  std::string s;
  for (unsigned char c : b) {
    s += d[c >> 4];
    s += d[c & 15];
  }
  return s;
}

class ParquetDuckDbTest : public ::testing::Test {
 protected:
  // delta: the integer columns (story_id, viewer_id, event_time, watch_ms)
  // DELTA_BINARY_PACKED instead of dictionary or PLAIN.
  std::string Write(const std::string& name, Codec codec, size_t rows, uint64_t row_group_bytes = 64ull << 20,
                    bool delta = false) {
    ParquetWriterOptions o;
    o.codec = codec;
    o.row_group_bytes = row_group_bytes;
    o.page_bytes = 8192;
    const std::string path = dir_.Path(name);
    std::vector<ColumnSpec> schema = testing::EventSchema();
    for (ColumnSpec& c : schema)
      if (delta && (c.type == PhysicalType::kInt64 || c.type == PhysicalType::kInt32)) {
        c.delta = true;
        c.dictionary = false;
      }
    auto w = ParquetWriter::Create(FileSystem::Default(), path, schema, o);
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    rows_ = testing::MakeRows(rows, 42);
    EXPECT_TRUE((*w)->Write(rows_, rows).ok());
    EXPECT_TRUE((*w)->Finish().ok());
    return path;
  }
  watershed::testing::TempDir dir_{"parquet_duckdb"};
  std::vector<ColumnValues> rows_;
};

TEST_F(ParquetDuckDbTest, EveryRowAndValueReadsBackInEveryCodec) {
  for (int variant = 0; variant < 4; ++variant) {
    // Every codec with PLAIN / dictionary integers, then zstd with DELTA_BINARY_PACKED ones.
    const Codec codec =
        variant == 3 ? Codec::kZstd : std::array{Codec::kZstd, Codec::kSnappy, Codec::kUncompressed}[variant];
    const bool delta = variant == 3;
    SCOPED_TRACE(std::string(CodecName(codec)) + (delta ? " DELTA_BINARY_PACKED" : ""));
    const size_t n = 3000;
    const std::string path = Write("rows.parquet", codec, n, 32 << 10, delta);  // several row groups
    auto lines = DuckDb("SELECT hex(event_id::BLOB) AS id, type, story_id, viewer_id::VARCHAR AS viewer, "
                        "epoch_us(event_time) AS t, watch_ms, score, note FROM read_parquet('" + path + "')");
    ASSERT_EQ(lines.size(), n);
    simdjson::dom::parser parser;
    const auto& schema = testing::EventSchema();
    size_t watch = 0, score = 0, note = 0;
    for (size_t i = 0; i < n; ++i) {
      simdjson::dom::element row;
      ASSERT_EQ(parser.parse(lines[i]).get(row), simdjson::SUCCESS) << lines[i];
      EXPECT_EQ(std::string(row["id"].get_string().value()), Hex(rows_[0].ByteValue(schema[0], i))) << i;
      EXPECT_EQ(std::string(row["type"].get_string().value()), std::string(rows_[1].ByteValue(schema[1], i)));
      EXPECT_EQ(row["story_id"].get_int64().value(), rows_[2].ints[i]);
      EXPECT_EQ(std::string(row["viewer"].get_string().value()), std::to_string(rows_[3].ints[i]));
      EXPECT_EQ(row["t"].get_int64().value(), rows_[4].ints[i]);
      if (rows_[5].present[i]) {
        EXPECT_EQ(row["watch_ms"].get_int64().value(), rows_[5].ints[watch++]);
      } else {
        EXPECT_TRUE(row["watch_ms"].is_null());
      }
      if (rows_[6].present[i]) {
        EXPECT_EQ(row["score"].get_double().value(), rows_[6].doubles[score++]);
      } else {
        EXPECT_TRUE(row["score"].is_null());
      }
      if (rows_[7].present[i]) {
        EXPECT_EQ(std::string(row["note"].get_string().value()), std::string(rows_[7].ByteValue(schema[7], note++)));
      } else {
        EXPECT_TRUE(row["note"].is_null());
      }
      if (HasFailure()) return;  // the first bad row is the useful one
    }
  }
}

TEST_F(ParquetDuckDbTest, TypesFieldIdsStatisticsAndEncodingsAreWhatWeWrote) {
  const std::string path = Write("meta.parquet", Codec::kZstd, 4000);
  std::map<std::string, std::string> types;
  simdjson::dom::parser parser;
  for (const auto& line : DuckDb("DESCRIBE SELECT * FROM read_parquet('" + path + "')")) {
    simdjson::dom::element e;
    ASSERT_EQ(parser.parse(line).get(e), simdjson::SUCCESS) << line;
    types[std::string(e["column_name"].get_string().value())] = std::string(e["column_type"].get_string().value());
  }
  EXPECT_EQ(types["event_id"], "UUID");
  EXPECT_EQ(types["type"], "VARCHAR");
  EXPECT_EQ(types["story_id"], "BIGINT");
  EXPECT_EQ(types["event_time"], "TIMESTAMP WITH TIME ZONE");
  EXPECT_EQ(types["watch_ms"], "INTEGER");
  EXPECT_EQ(types["score"], "DOUBLE");
  EXPECT_EQ(types["note"], "VARCHAR");

  std::map<std::string, int64_t> field_ids;
  for (const auto& line : DuckDb("SELECT name, field_id FROM parquet_schema('" + path + "') WHERE field_id IS NOT NULL")) {
    simdjson::dom::element e;
    ASSERT_EQ(parser.parse(line).get(e), simdjson::SUCCESS) << line;
    field_ids[std::string(e["name"].get_string().value())] = e["field_id"].get_int64().value();
  }
  for (const ColumnSpec& c : testing::EventSchema()) EXPECT_EQ(field_ids[c.name], c.field_id) << c.name;

  std::map<std::string, simdjson::dom::element> meta;
  std::vector<std::string> meta_lines =
      DuckDb("SELECT path_in_schema AS col, stats_min_value AS lo, stats_max_value AS hi, stats_null_count AS nulls, "
             "compression, encodings FROM parquet_metadata('" + path + "')");
  ASSERT_EQ(meta_lines.size(), testing::EventSchema().size());
  std::vector<simdjson::dom::parser> parsers(meta_lines.size());
  for (size_t i = 0; i < meta_lines.size(); ++i) {
    simdjson::dom::element e;
    ASSERT_EQ(parsers[i].parse(meta_lines[i]).get(e), simdjson::SUCCESS) << meta_lines[i];
    meta[std::string(e["col"].get_string().value())] = e;
  }
  const auto& story = rows_[2].ints;
  EXPECT_EQ(std::string(meta["story_id"]["lo"].get_string().value()),
            std::to_string(*std::min_element(story.begin(), story.end())));
  EXPECT_EQ(std::string(meta["story_id"]["hi"].get_string().value()),
            std::to_string(*std::max_element(story.begin(), story.end())));
  EXPECT_TRUE(meta["viewer_id"]["lo"].is_null()) << "personal data must have no bounds";
  EXPECT_EQ(meta["watch_ms"]["nulls"].get_int64().value(),
            static_cast<int64_t>(std::count(rows_[5].present.begin(), rows_[5].present.end(), 0)));
  EXPECT_EQ(std::string(meta["story_id"]["compression"].get_string().value()), "ZSTD");
  EXPECT_NE(std::string(meta["type"]["encodings"].get_string().value()).find("RLE_DICTIONARY"), std::string::npos);
}

TEST_F(ParquetDuckDbTest, DeltaColumnsReportTheirEncodingAndAggregateAsWritten) {
  const std::string path = Write("delta.parquet", Codec::kUncompressed, 4000, 64ull << 20, /*delta=*/true);
  simdjson::dom::parser parser;
  std::map<std::string, std::string> encodings;
  for (const auto& line : DuckDb("SELECT path_in_schema AS col, encodings FROM parquet_metadata('" + path + "')")) {
    simdjson::dom::element e;
    ASSERT_EQ(parser.parse(line).get(e), simdjson::SUCCESS) << line;
    encodings[std::string(e["col"].get_string().value())] = std::string(e["encodings"].get_string().value());
  }
  for (const char* col : {"story_id", "viewer_id", "event_time", "watch_ms"})
    EXPECT_NE(encodings[col].find("DELTA_BINARY_PACKED"), std::string::npos) << col << ": " << encodings[col];
  EXPECT_EQ(encodings["type"].find("DELTA_BINARY_PACKED"), std::string::npos);
  // Sums and extremes over every value (viewer_id: full-range 64-bit, so the widest deltas).
  int64_t story_sum = 0, watch_sum = 0;
  for (int64_t v : rows_[2].ints) story_sum += v;
  for (int64_t v : rows_[5].ints) watch_sum += v;
  const auto& viewers = rows_[3].ints;
  const auto& times = rows_[4].ints;
  auto lines = DuckDb(
      "SELECT concat_ws(' ', sum(story_id), sum(watch_ms), min(viewer_id), max(viewer_id), "
      "epoch_us(min(event_time)), epoch_us(max(event_time))) AS r FROM read_parquet('" +
      path + "')");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "{\"r\":\"" + std::to_string(story_sum) + " " + std::to_string(watch_sum) + " " +
                          std::to_string(*std::min_element(viewers.begin(), viewers.end())) + " " +
                          std::to_string(*std::max_element(viewers.begin(), viewers.end())) + " " +
                          std::to_string(times.front()) + " " + std::to_string(times.back()) + "\"}");
}

TEST_F(ParquetDuckDbTest, FiltersOnStatisticsGiveTheSameAnswerAsOurReader) {
  const std::string path = Write("agg.parquet", Codec::kSnappy, 5000, 16 << 10);
  int64_t expected_count = 0, expected_sum = 0;
  for (int64_t s : rows_[2].ints)
    if (s >= 100 && s < 200) {
      ++expected_count;
      expected_sum += s;
    }
  auto lines = DuckDb("SELECT count(*) AS n, sum(story_id) AS s FROM read_parquet('" + path +
                      "') WHERE story_id >= 100 AND story_id < 200");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "{\"n\":" + std::to_string(expected_count) + ",\"s\":" + std::to_string(expected_sum) + "}");
}

TEST_F(ParquetDuckDbTest, TheEventsTableReadsAsTheEventsThatWentIn) {
  EventColumns columns;
  std::vector<Event> events;
  for (uint64_t i = 0; i < 500; ++i) {
    Event e;
    e.event_id = EventId::FromHiLo(0x0123456789abcdefULL, i);
    e.type = i % 10 == 0 ? EventType::kShare : (i % 10 == 1 ? EventType::kReply : EventType::kView);
    e.story_id = StoryId(100 + i % 13);
    e.author_id = AuthorId(7 + i % 3);
    e.viewer_id = ViewerId(1'000'000 + i);
    e.region = static_cast<Region>(i % RegionCount());
    e.event_time = EventTimeMs(1'795'000'000'000 + static_cast<int64_t>(i) * 250);
    e.watch_ms = e.type == EventType::kView ? static_cast<uint32_t>(i * 10) : 0;
    columns.Add(e, AppendTimeMs(1'795'000'100'000 + static_cast<int64_t>(i)), LogOffset(i));
    events.push_back(e);
  }
  const std::string path = dir_.Path("events.parquet");
  auto w = ParquetWriter::Create(FileSystem::Default(), path, EventTableSchema());
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write(columns.columns(), columns.rows()).ok());
  ASSERT_TRUE((*w)->Finish().ok());
  auto lines = DuckDb("SELECT event_id::VARCHAR AS id, type, story_id, author_id, viewer_id, region, "
                      "epoch_ms(event_time) AS t, watch_ms, epoch_ms(append_time) AS a, log_offset FROM read_parquet('" +
                      path + "') ORDER BY log_offset");
  ASSERT_EQ(lines.size(), events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    const Event& e = events[i];
    const std::string expected =
        "{\"id\":\"" + e.event_id.ToString() + "\",\"type\":\"" + std::string(EventTypeName(e.type)) +
        "\",\"story_id\":" + std::to_string(e.story_id.value) + ",\"author_id\":" + std::to_string(e.author_id.value) +
        ",\"viewer_id\":" + std::to_string(e.viewer_id.value) + ",\"region\":\"" + std::string(RegionName(e.region)) +
        "\",\"t\":" + std::to_string(e.event_time.value) + ",\"watch_ms\":" + std::to_string(e.watch_ms) +
        ",\"a\":" + std::to_string(1'795'000'100'000 + static_cast<int64_t>(i)) + ",\"log_offset\":" + std::to_string(i) +
        "}";
    ASSERT_EQ(lines[i], expected) << i;
  }
  // Aggregates a dashboard would ask for.
  auto agg = DuckDb("SELECT count(*) FILTER (WHERE type = 'view') AS views, count(DISTINCT viewer_id) AS viewers, "
                    "sum(watch_ms) AS watch FROM read_parquet('" + path + "') WHERE story_id = 105");
  int64_t views = 0, watch = 0;
  std::set<uint64_t> viewers;
  for (const Event& e : events)
    if (e.story_id.value == 105) {
      views += e.type == EventType::kView;
      viewers.insert(e.viewer_id.value);
      watch += e.watch_ms;
    }
  ASSERT_EQ(agg.size(), 1u);
  EXPECT_EQ(agg[0], "{\"views\":" + std::to_string(views) + ",\"viewers\":" + std::to_string(viewers.size()) +
                        ",\"watch\":" + std::to_string(watch) + "}");
}

}  // namespace
}  // namespace watershed::lake

namespace watershed::lake {
namespace {

// Parquet modular encryption (issue #13): DuckDB reads our encrypted file
// given its data key (PRAGMA add_parquet_key + encryption_config), value for
// value, and refuses it without the key or with another one.
TEST(ParquetDuckDbEncryptionTest, DuckDbReadsOurEncryptedFileWithTheKeyOnly) {
  watershed::testing::TempDir dir("parquet_duckdb_enc");
  const keys::SecretKey key = keys::SecretKey::Random();
  ParquetWriterOptions o;
  o.page_bytes = 4096;  // several pages per chunk
  o.row_group_bytes = 32 << 10;
  o.file_keys = NewFixedFileKey(key);
  const std::string path = dir.Path("enc.parquet");
  const size_t n = 3000;
  const auto rows = testing::MakeRows(n, 5);
  auto w = ParquetWriter::Create(FileSystem::Default(), path, testing::EventSchema(), o);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  for (size_t begin = 0; begin < n; begin += 600)  // several row groups
    ASSERT_TRUE((*w)->Write(testing::SliceRows(rows, begin, 600), 600).ok());
  ASSERT_TRUE((*w)->Finish().ok());
  ASSERT_GT((*w)->info().row_groups.size(), 2u);
  ASSERT_TRUE((*w)->info().row_groups[0].columns[1].dictionary_page_offset.has_value());

  const std::string b64 = keys::Base64(key.view());
  ASSERT_EQ(b64.size(), 44u);  // decoded by DuckDB, not taken as a raw key
  const std::string scan = "read_parquet('" + path + "', encryption_config={footer_key:'k'})";
  auto lines = DuckDb("PRAGMA add_parquet_key('k','" + b64 +
                      "'); SELECT type, story_id, viewer_id::VARCHAR AS viewer, "
                      "watch_ms, note FROM " +
                      scan);
  ASSERT_EQ(lines.size(), n);
  const auto& schema = testing::EventSchema();
  simdjson::dom::parser parser;
  size_t watch = 0, note = 0;
  for (size_t i = 0; i < n; ++i) {
    simdjson::dom::element row;
    ASSERT_EQ(parser.parse(lines[i]).get(row), simdjson::SUCCESS) << lines[i];
    EXPECT_EQ(std::string(row["type"].get_string().value()), std::string(rows[1].ByteValue(schema[1], i)));
    EXPECT_EQ(row["story_id"].get_int64().value(), rows[2].ints[i]);
    EXPECT_EQ(std::string(row["viewer"].get_string().value()), std::to_string(rows[3].ints[i]));
    if (rows[5].present[i]) {
      EXPECT_EQ(row["watch_ms"].get_int64().value(), rows[5].ints[watch++]);
    }
    if (rows[7].present[i]) {
      EXPECT_EQ(std::string(row["note"].get_string().value()), std::string(rows[7].ByteValue(schema[7], note++)));
    }
    if (HasFailure()) return;
  }

  const std::string no_key = testing::DuckDbError("SELECT count(*) FROM read_parquet('" + path + "')");
  EXPECT_NE(no_key.find("encrypted"), std::string::npos) << no_key;
  const std::string other = keys::Base64(keys::SecretKey::Random().view());
  const std::string wrong =
      testing::DuckDbError("PRAGMA add_parquet_key('k','" + other + "'); SELECT sum(hash(t)) FROM " + scan + " t");
  EXPECT_NE(wrong.find("AES tag"), std::string::npos) << wrong;
}

// The other way round: a file DuckDB encrypted (its writer needs
// force_mbedtls_unsafe here, without httpfs's OpenSSL) reads in our reader
// with the key, and not with another.
TEST(ParquetDuckDbEncryptionTest, OurReaderReadsAFileDuckDbEncrypted) {
  watershed::testing::TempDir dir("parquet_duckdb_enc");
  const keys::SecretKey key = keys::SecretKey::Random();
  const std::string path = dir.Path("duck.parquet");
  DuckDb("SET force_mbedtls_unsafe='true'; PRAGMA add_parquet_key('k','" + keys::Base64(key.view()) +
         "'); COPY (SELECT i AS id, 'str' || (i % 3) AS s FROM range(5000) t(i)) TO '" + path +
         "' (ENCRYPTION_CONFIG {footer_key: 'k'}, ROW_GROUP_SIZE 2048)");
  auto fixed = NewFixedFileKey(key);
  auto r = ParquetReader::Open(FileSystem::Default(), path, fixed.get());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE((*r)->info().encrypted);
  int64_t rows = 0, sum = 0;
  for (size_t g = 0; g < (*r)->info().row_groups.size(); ++g) {
    auto cols = (*r)->ReadRowGroup(g, {0, 1});
    ASSERT_TRUE(cols.ok()) << cols.status().ToString();
    for (size_t i = 0; i < (*cols)[0].ints.size(); ++i) {
      sum += (*cols)[0].ints[i];
      EXPECT_EQ((*cols)[1].ByteValue((*r)->info().schema[1], i), "str" + std::to_string((*cols)[0].ints[i] % 3));
    }
    rows += static_cast<int64_t>((*cols)[0].ints.size());
  }
  EXPECT_EQ(rows, 5000);
  EXPECT_EQ(sum, 4999 * 5000 / 2);
  auto wrong = NewFixedFileKey(keys::SecretKey::Random());
  EXPECT_EQ(ParquetReader::Open(FileSystem::Default(), path, wrong.get()).status().code(), StatusCode::kCorruption);
}

}  // namespace
}  // namespace watershed::lake
