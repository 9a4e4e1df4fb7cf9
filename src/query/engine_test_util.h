#pragma once
// Tests only: the EngineTest fixture (a real eu.events table written with
// the lake's own writer and commit: 3 hours x stories 1..64 x 20 events, one
// file per (hour, bucket), small row groups) and the DuckDB oracle
// (tools/duckdb, read_parquet over the same files).

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "core/event.h"
#include "core/file_system.h"
#include "core/testing/temp_dir.h"
#include "lake/iceberg_commit.h"
#include "lake/iceberg_manifest.h"
#include "lake/iceberg_transform.h"
#include "lake/parquet.h"
#include "lake/tables.h"
#include "lake/testing/duckdb_tool.h"
#include "query/run.h"
#include "query/value_compare.h"

namespace watershed::query {

inline constexpr int64_t kHourMs = 3'600'000;
inline constexpr int64_t kBaseMs = 20'777LL * 24 * kHourMs;  // 2026-11-20T00:00Z

struct Planted {
  int64_t story, author, viewer, time_us, watch;
  std::string type;
};

inline int32_t BucketOf(int64_t story) { return lake::iceberg::Bucket(16, lake::iceberg::HashLong(story)); }

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // 3 hours x stories 1..64 (every bucket), 20 events per story and hour;
    // one Parquet file per (hour, bucket) as the sink writes them, sorted by
    // story, with small row groups so statistics can skip some.
    std::map<std::pair<int64_t, int32_t>, std::vector<Planted>> files;
    int64_t n = 0;
    for (int64_t h = 0; h < 3; ++h)
      for (int64_t story = 1; story <= 64; ++story)
        for (int64_t k = 0; k < 20; ++k) {
          ++n;
          const char* type = k % 5 == 0 ? "share" : k % 7 == 0 ? "reply" : "view";
          Planted p{story, story % 5, 1000 + n % 37, ((kBaseMs + h * kHourMs) + k * 60'000) * 1000, n, type};
          rows_.push_back(p);
          files[{h, BucketOf(story)}].push_back(p);
        }
    WriteTable(lake::LakeTableId::kEvents, files);
  }

  void WriteTable(lake::LakeTableId id, const std::map<std::pair<int64_t, int32_t>, std::vector<Planted>>& files,
                  uint64_t log_offset = 0, const std::string& prefix = "f") {
    auto table = lake::LoadOrCreateLakeTable(fs_, lake::TableLocation(dir_.path(), Region::kEu, id), id);
    ASSERT_TRUE(table.ok()) << table.status().ToString();
    std::vector<lake::DataFileInfo> infos;
    int f = 0;
    for (const auto& [key, planted] : files) {
      const std::string path = table->metadata().location + "/data/" + prefix + std::to_string(f++) + ".parquet";
      ASSERT_TRUE(fs_->CreateDirs(DirName(path)).ok());
      lake::ParquetWriterOptions opt;
      opt.row_group_bytes = 2048;  // several row groups per file (cut between writes)
      auto w = lake::ParquetWriter::Create(fs_, path, lake::EventTableSchema(), opt);
      ASSERT_TRUE(w.ok());
      for (size_t begin = 0; begin < planted.size(); begin += 20) {
        lake::EventColumns cols;
        for (size_t i = begin; i < std::min(planted.size(), begin + 20); ++i) {
          const Planted& p = planted[i];
          const EventType t = p.type == "share"   ? EventType::kShare
                              : p.type == "reply" ? EventType::kReply
                                                  : EventType::kView;
          cols.Add(EventId::FromHiLo(1, static_cast<uint64_t>(p.watch)), t, static_cast<uint64_t>(p.story),
                   static_cast<uint64_t>(p.author), static_cast<uint64_t>(p.viewer), Region::kEu, p.time_us / 1000,
                   static_cast<uint32_t>(p.watch), p.time_us / 1000,
                   log_offset ? log_offset : static_cast<uint64_t>(p.watch));
        }
        ASSERT_TRUE((*w)->Write(cols.columns(), cols.rows()).ok());
      }
      auto size = (*w)->Finish();
      ASSERT_TRUE(size.ok());
      infos.push_back(
          lake::DescribeParquetFile(path, static_cast<int64_t>(*size), (*w)->info(),
                                    {lake::iceberg::HourFromMicros(planted[0].time_us), BucketOf(planted[0].story)}));
    }
    auto ok = lake::AppendFiles(fs_, &*table, infos, "test-" + prefix + std::to_string(static_cast<int>(id)));
    ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  }

  Result<SqlOutput> Run(const std::string& sql, int threads = 1) {
    Catalog catalog(fs_, dir_.path(), Region::kEu);
    ExecLimits limits;
    limits.threads = threads;
    limits.unit_rows = 64;  // a few row groups per unit: many units, files split and joined
    return RunSql(sql, catalog, limits);
  }
  QueryResult Rows(const std::string& sql) {
    auto r = Run(sql);
    EXPECT_TRUE(r.ok()) << sql << ": " << r.status().ToString();
    return r.ok() ? r->result : QueryResult{};
  }
  std::string ExplainOf(const std::string& sql) {
    auto r = Run("EXPLAIN " + sql);
    EXPECT_TRUE(r.ok()) << sql << ": " << r.status().ToString();
    return r.ok() ? r->plan_text : "";
  }
  std::string Error(const std::string& sql) {
    auto r = Run(sql);
    EXPECT_FALSE(r.ok()) << sql;
    return r.ok() ? "" : r.status().message();
  }

  // The same query over our table and over DuckDB's read_parquet of its
  // files ("{T}" stands for events, "{R}" for raw_events), the same rows;
  // ours with 1 and 3 scan threads, the same rows in the same order.
  void ExpectSameAsDuckDb(const std::string& q);

  ::watershed::testing::TempDir dir_{"query_engine"};
  FileSystem* fs_ = FileSystem::Default();
  std::vector<Planted> rows_;
};

// DuckDB's rows for `sql`, as JSON objects sorted.
inline std::vector<std::string> DuckDbLines(const std::string& sql) {
  std::vector<std::string> lines = lake::testing::RunDuckDb(sql);
  std::sort(lines.begin(), lines.end());
  return lines;
}

// Our rows in DuckDB's JSON form ({"c0":...}; timestamps as
// "YYYY-MM-DDTHH:MM:SS.ffffffZ", as it prints TIMESTAMP WITH TIME ZONE),
// sorted.
inline std::vector<std::string> OracleLines(const QueryResult& r) {
  std::vector<std::string> lines;
  for (const auto& row : r.rows) {
    std::string line = "{";
    for (size_t c = 0; c < row.size(); ++c) {
      const ColumnType t = r.types[c];
      std::string v = FormatValue(row[c], t);
      if (t == ColumnType::kTimestamp && !row[c].null) {
        v[10] = 'T';
        if (v.size() == 19) v += ".000000";
        v += "Z";
      }
      const bool text = t == ColumnType::kString || t == ColumnType::kTimestamp || t == ColumnType::kUuid;
      line += (c ? ",\"c" : "\"c") + std::to_string(c) + "\":" + (row[c].null ? "null" : text ? "\"" + v + "\"" : v);
    }
    lines.push_back(line + "}");
  }
  std::sort(lines.begin(), lines.end());
  return lines;
}

inline void EngineTest::ExpectSameAsDuckDb(const std::string& q) {
  const std::string files = "read_parquet('" +
                            lake::TableLocation(dir_.path(), Region::kEu, lake::LakeTableId::kEvents) +
                            "/data/*.parquet')";
  const size_t at = q.find("{T}");
  ASSERT_NE(at, std::string::npos) << q;
  std::string ours = q, theirs = q;
  ours.replace(at, 3, "events");
  theirs.replace(at, 3, files);
  // {R}: raw_events, for joins.
  if (const size_t r = ours.find("{R}"); r != std::string::npos) {
    ours.replace(r, 3, "raw_events");
    theirs.replace(theirs.find("{R}"), 3,
                   "read_parquet('" + lake::TableLocation(dir_.path(), Region::kEu, lake::LakeTableId::kRawEvents) +
                       "/data/*.parquet')");
  }
  auto r = Run(ours);
  ASSERT_TRUE(r.ok()) << ours << ": " << r.status().ToString();
  EXPECT_EQ(OracleLines(r->result), DuckDbLines(theirs)) << q;
  auto parallel = Run(ours, 3);
  ASSERT_TRUE(parallel.ok()) << ours << ": " << parallel.status().ToString();
  EXPECT_EQ(FormatTable(parallel->result), FormatTable(r->result)) << q;
}

}  // namespace watershed::query
