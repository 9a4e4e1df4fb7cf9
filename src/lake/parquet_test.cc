#include "lake/parquet.h"

#include <gtest/gtest.h>

#include <random>

#include "core/endian.h"
#include "core/fault_injection_fs.h"
#include "core/testing/temp_dir.h"
#include "lake/testing/parquet_samples.h"

namespace watershed::lake {
namespace {

using testing::EventSchema;
using testing::MakeRows;

class ParquetTest : public ::testing::Test {
 protected:
  std::string Path(const std::string& name) { return dir_.Path(name); }
  FileSystem* fs_ = FileSystem::Default();
  watershed::testing::TempDir dir_{"parquet"};
};

void ExpectSameColumn(const ColumnSpec& spec, const ColumnValues& a, const ColumnValues& b) {
  EXPECT_EQ(a.ints, b.ints) << spec.name;
  EXPECT_EQ(a.doubles, b.doubles) << spec.name;
  EXPECT_EQ(a.bytes, b.bytes) << spec.name;
  EXPECT_EQ(a.ends, b.ends) << spec.name;
  EXPECT_EQ(a.present, b.present) << spec.name;
}

TEST_F(ParquetTest, RoundTripsEveryColumnKindWithEveryCodec) {
  for (Codec codec : {Codec::kZstd, Codec::kSnappy, Codec::kUncompressed}) {
    SCOPED_TRACE(std::string(CodecName(codec)));
    const auto schema = EventSchema();
    const auto rows = MakeRows(5000, 1);
    ParquetWriterOptions o;
    o.codec = codec;
    o.page_bytes = 4096;  // many pages per chunk
    const std::string path = Path("events-" + std::string(CodecName(codec)) + ".parquet");
    auto w = ParquetWriter::Create(fs_, path, schema, o);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    ASSERT_TRUE((*w)->Write(rows, 5000).ok());
    auto size = (*w)->Finish();
    ASSERT_TRUE(size.ok()) << size.status().ToString();
    EXPECT_EQ(fs_->FileSize(path).value(), *size);

    auto r = ParquetReader::Open(fs_, path);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    const FileInfo& info = (*r)->info();
    EXPECT_EQ(info.num_rows, 5000);
    ASSERT_EQ(info.row_groups.size(), 1u);
    ASSERT_EQ(info.schema.size(), schema.size());
    for (size_t c = 0; c < schema.size(); ++c) {
      EXPECT_EQ(info.schema[c].name, schema[c].name);
      EXPECT_EQ(info.schema[c].field_id, schema[c].field_id);
      EXPECT_EQ(info.schema[c].type, schema[c].type);
      EXPECT_EQ(info.schema[c].logical, schema[c].logical) << schema[c].name;
      EXPECT_EQ(info.schema[c].optional, schema[c].optional);
      EXPECT_EQ(info.row_groups[0].columns[c].codec, codec);
    }
    // The low-cardinality string is dictionary-encoded, the ids are not.
    auto has = [](const ColumnChunkInfo& ch, int e) {
      return std::find(ch.encodings.begin(), ch.encodings.end(), e) != ch.encodings.end();
    };
    EXPECT_TRUE(info.row_groups[0].columns[1].dictionary_page_offset.has_value());
    EXPECT_TRUE(has(info.row_groups[0].columns[1], 8));
    EXPECT_FALSE(info.row_groups[0].columns[0].dictionary_page_offset.has_value());
    EXPECT_FALSE(info.row_groups[0].columns[3].dictionary_page_offset.has_value());

    std::vector<int> all(schema.size());
    for (size_t c = 0; c < all.size(); ++c) all[c] = static_cast<int>(c);
    auto back = (*r)->ReadRowGroup(0, all);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    for (size_t c = 0; c < schema.size(); ++c) ExpectSameColumn(schema[c], rows[c], (*back)[c]);
  }
}

// DELTA_BINARY_PACKED columns: sorted timestamps, random and full-range
// ids (64-bit widths), an OPTIONAL INT32 with nulls; many pages per chunk.
TEST_F(ParquetTest, DeltaColumnsRoundTripAndNameTheirEncoding) {
  auto schema = EventSchema();
  for (size_t c : {2, 3, 4, 5}) {
    schema[c].delta = true;
    schema[c].dictionary = false;
  }
  const auto rows = MakeRows(5000, 9);
  for (Codec codec : {Codec::kZstd, Codec::kUncompressed}) {
    SCOPED_TRACE(std::string(CodecName(codec)));
    ParquetWriterOptions o;
    o.codec = codec;
    o.page_bytes = 4096;
    const std::string path = Path("delta-" + std::string(CodecName(codec)) + ".parquet");
    auto w = ParquetWriter::Create(fs_, path, schema, o);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    ASSERT_TRUE((*w)->Write(rows, 5000).ok());
    ASSERT_TRUE((*w)->Finish().ok());
    auto r = ParquetReader::Open(fs_, path);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    const FileInfo& info = (*r)->info();
    for (size_t c = 0; c < schema.size(); ++c) {
      const std::vector<int32_t>& e = info.row_groups[0].columns[c].encodings;
      EXPECT_EQ(std::count(e.begin(), e.end(), 5), schema[c].delta ? 1 : 0) << schema[c].name;
      EXPECT_EQ(info.schema[c].delta, schema[c].delta) << schema[c].name;  // a rewrite keeps the encoding
    }
    std::vector<int> all(schema.size());
    for (size_t c = 0; c < all.size(); ++c) all[c] = static_cast<int>(c);
    auto back = (*r)->ReadRowGroup(0, all);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    for (size_t c = 0; c < schema.size(); ++c) ExpectSameColumn(schema[c], rows[c], (*back)[c]);
  }
}

TEST_F(ParquetTest, StatisticsFollowTheColumnOrder) {
  const auto schema = EventSchema();
  const auto rows = MakeRows(3000, 2);
  auto w = ParquetWriter::Create(fs_, Path("s.parquet"), schema);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write(rows, 3000).ok());
  ASSERT_TRUE((*w)->Finish().ok());
  auto r = ParquetReader::Open(fs_, Path("s.parquet"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto& cols = (*r)->info().row_groups[0].columns;

  // story_id: signed INT64, PLAIN little-endian.
  auto i64 = [](const std::optional<std::string>& s) {
    EXPECT_TRUE(s && s->size() == 8);
    return s && s->size() == 8 ? static_cast<int64_t>(GetFixed64(s->data())) : 0;
  };
  EXPECT_EQ(i64(cols[2].statistics.min_value), *std::min_element(rows[2].ints.begin(), rows[2].ints.end()));
  EXPECT_EQ(i64(cols[2].statistics.max_value), *std::max_element(rows[2].ints.begin(), rows[2].ints.end()));
  EXPECT_LT(i64(cols[2].statistics.min_value), 0);
  EXPECT_EQ(cols[2].statistics.null_count, 0);
  // Personal data: no bounds, but the null count.
  EXPECT_FALSE(cols[3].statistics.min_value.has_value());
  EXPECT_FALSE(cols[3].statistics.max_value.has_value());
  EXPECT_EQ(cols[3].statistics.null_count, 0);
  // Strings compare as unsigned bytes: "é" (0xc3...) sorts after "n".
  EXPECT_EQ(cols[7].statistics.min_value.value_or("?").substr(0, 5), "note ");
  EXPECT_EQ(cols[7].statistics.max_value.value_or("?").substr(0, 2), "\xc3\xa9");
  const auto nulls = static_cast<int64_t>(std::count(rows[7].present.begin(), rows[7].present.end(), 0));
  EXPECT_EQ(cols[7].statistics.null_count, nulls);
  EXPECT_GT(nulls, 0);
  // UUID bytes too: the max starts with a high byte.
  EXPECT_GE(static_cast<uint8_t>(cols[0].statistics.max_value.value_or("\x00")[0]), 0xf0);
}

TEST_F(ParquetTest, RowGroupsAreCutByBytesAndProjectionReadsOnlyWhatIsAsked) {
  const auto schema = EventSchema();
  ParquetWriterOptions o;
  o.row_group_bytes = 64 << 10;
  auto w = ParquetWriter::Create(fs_, Path("g.parquet"), schema, o);
  ASSERT_TRUE(w.ok());
  std::vector<ColumnValues> all;
  for (uint32_t batch = 0; batch < 10; ++batch) {
    auto rows = MakeRows(1000, 10 + batch);
    ASSERT_TRUE((*w)->Write(rows, 1000).ok());
    if (all.empty()) {
      all = rows;
    } else {
      all[2].ints.insert(all[2].ints.end(), rows[2].ints.begin(), rows[2].ints.end());
    }
  }
  ASSERT_TRUE((*w)->Finish().ok());
  auto r = ParquetReader::Open(fs_, Path("g.parquet"));
  ASSERT_TRUE(r.ok());
  const auto& info = (*r)->info();
  EXPECT_GT(info.row_groups.size(), 3u);
  std::vector<int64_t> story;
  for (size_t g = 0; g < info.row_groups.size(); ++g) {
    auto cols = (*r)->ReadRowGroup(g, {(*r)->ColumnIndex("story_id")});
    ASSERT_TRUE(cols.ok());
    ASSERT_EQ(cols->size(), 1u);
    story.insert(story.end(), (*cols)[0].ints.begin(), (*cols)[0].ints.end());
  }
  EXPECT_EQ(story, all[2].ints);
  EXPECT_EQ((*r)->ColumnIndex("nope"), -1);
}

TEST_F(ParquetTest, CreatedByNamesWatershedWithVersionAndBuild) {
  const std::string c = CreatedBy();
  EXPECT_EQ(c.rfind("watershed version ", 0), 0u) << c;
  EXPECT_NE(c.find(" (build "), std::string::npos) << c;
  EXPECT_EQ(c.back(), ')');
}

TEST_F(ParquetTest, AnUnfinishedWriterLeavesNothing) {
  {
    auto w = ParquetWriter::Create(fs_, Path("x.parquet"), EventSchema());
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Write(MakeRows(10, 3), 10).ok());
  }
  auto names = fs_->ListDir(dir_.path());
  ASSERT_TRUE(names.ok());
  EXPECT_TRUE(names->empty()) << names->front();
}

TEST_F(ParquetTest, BadInputToTheWriterIsRefused) {
  auto w = ParquetWriter::Create(fs_, Path("b.parquet"), EventSchema());
  ASSERT_TRUE(w.ok());
  auto rows = MakeRows(10, 4);
  EXPECT_EQ((*w)->Write(rows, 11).code(), StatusCode::kInvalidArgument);
  rows[2].ints.pop_back();
  EXPECT_EQ((*w)->Write(rows, 10).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParquetWriter::Create(fs_, Path("c.parquet"), {{"id", 1, PhysicalType::kFixedLenByteArray,
                                                           LogicalType::kUuid, false, 8}}).status().code(),
            StatusCode::kInvalidArgument);
  ColumnSpec text{"text", 1, PhysicalType::kByteArray, LogicalType::kString};
  text.delta = true;  // DELTA_BINARY_PACKED is for integers
  EXPECT_EQ(ParquetWriter::Create(fs_, Path("d.parquet"), {text}).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ParquetTest, ADiskFullWriteFailsCleanlyAndTheWriterRecovers) {
  FaultInjectionFileSystem faulty(fs_);
  ParquetWriterOptions o;
  o.row_group_bytes = 16 << 10;  // row groups (and writes) during Write, not only in Finish
  const std::string path = Path("full.parquet");
  auto w = ParquetWriter::Create(&faulty, path, EventSchema(), o);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write(MakeRows(500, 6), 500).ok());
  faulty.SetFailWrites(true);
  Status s = (*w)->Write(MakeRows(500, 7), 500);
  if (s.ok()) s = (*w)->Finish().status();
  EXPECT_EQ(s.code(), StatusCode::kIoError) << s.ToString();
  w->reset();  // the abandoned writer removes its temporary
  EXPECT_FALSE(fs_->FileExists(path));
  EXPECT_TRUE(fs_->ListDir(dir_.path()).value().empty());
  // Space is back: a new file is written whole.
  faulty.SetFailWrites(false);
  auto again = ParquetWriter::Create(&faulty, path, EventSchema(), o);
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE((*again)->Write(MakeRows(500, 8), 500).ok());
  ASSERT_TRUE((*again)->Finish().ok());
  auto r = ParquetReader::Open(fs_, path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->info().num_rows, 500);
}

TEST_F(ParquetTest, HighlyCompressiblePagesReadBack) {
  // 1 MiB pages of one repeated DOUBLE (never dictionary-encoded) shrink
  // to a few dozen bytes with zstd: a ratio no plausibility bound may refuse.
  const std::vector<ColumnSpec> schema = {{"x", 1, PhysicalType::kDouble, LogicalType::kNone}};
  std::vector<ColumnValues> cols(1);
  cols[0].doubles.assign(400'000, 42.5);
  auto w = ParquetWriter::Create(fs_, Path("c.parquet"), schema);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write(cols, 400'000).ok());
  auto size = (*w)->Finish();
  ASSERT_TRUE(size.ok());
  EXPECT_LT(*size, 4096u);
  auto r = ParquetReader::Open(fs_, Path("c.parquet"));
  ASSERT_TRUE(r.ok());
  auto back = (*r)->ReadRowGroup(0, {0});
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ((*back)[0].doubles, cols[0].doubles);
}

TEST_F(ParquetTest, DamagedFilesAreCorruptionNamingTheFile) {
  const std::string path = Path("d.parquet");
  auto w = ParquetWriter::Create(fs_, path, EventSchema());
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write(MakeRows(2000, 5), 2000).ok());
  ASSERT_TRUE((*w)->Finish().ok());
  const std::string good = ReadWholeFile(fs_, path).value();
  auto write = [&](const std::string& data) { ASSERT_TRUE(WriteFileAtomically(fs_, path, data).ok()); };
  // Every truncation: refused at open, or (cut inside the data) when reading.
  for (size_t cut : {size_t{0}, size_t{3}, size_t{11}, good.size() / 2, good.size() - 9, good.size() - 1}) {
    write(good.substr(0, cut));
    auto r = ParquetReader::Open(fs_, path);
    ASSERT_FALSE(r.ok()) << cut;
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << cut;
    EXPECT_NE(r.status().message().find(path), std::string::npos) << r.status().message();
  }
  // Flipped bytes in the data pages: an error or other values, never a crash.
  std::mt19937 rng(9);
  for (int i = 0; i < 200; ++i) {
    std::string bad = good;
    bad[4 + rng() % (good.size() / 2)] ^= static_cast<char>(1 + rng() % 255);
    write(bad);
    auto r = ParquetReader::Open(fs_, path);
    if (!r.ok()) continue;
    auto back = (*r)->ReadRowGroup(0, {0, 1, 2, 3, 4, 5, 6, 7});
    if (!back.ok()) {
      EXPECT_NE(back.status().message().find(path), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace watershed::lake
