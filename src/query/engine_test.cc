// The query engine end to end on real lake tables written with the lake's
// own writer and commit code: results against ground truth computed here
// from the planted rows, pruning through EXPLAIN's counters, NULLs, errors.

#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <map>
#include <set>
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
#include "query/engine_test_util.h"
#include "query/run.h"
#include "query/value_compare.h"

namespace watershed::query {
namespace {

TEST_F(EngineTest, WholeTableAggregatesMatchGroundTruth) {
  QueryResult r = Rows(
      "SELECT count(*), sum(watch_ms), min(event_time), "
      "max(watch_ms), avg(watch_ms) FROM events");
  ASSERT_EQ(r.rows.size(), 1u);
  int64_t sum = 0, min_t = INT64_MAX, max_w = 0;
  for (const Planted& p : rows_) sum += p.watch, min_t = std::min(min_t, p.time_us), max_w = std::max(max_w, p.watch);
  EXPECT_EQ(r.rows[0][0].i, static_cast<int64_t>(rows_.size()));
  EXPECT_EQ(r.rows[0][1].i, sum);
  EXPECT_EQ(r.rows[0][2].i, min_t);
  EXPECT_EQ(r.rows[0][3].i, max_w);
  EXPECT_DOUBLE_EQ(r.rows[0][4].d, static_cast<double>(sum) / static_cast<double>(rows_.size()));
  EXPECT_EQ(r.names, (std::vector<std::string>{"count(*)", "sum(watch_ms)", "min(event_time)", "max(watch_ms)",
                                               "avg(watch_ms)"}));
}

TEST_F(EngineTest, GroupByWhereOrderLimitMatchGroundTruth) {
  const int64_t from = (kBaseMs + kHourMs) * 1000 + 5 * 60'000'000;
  QueryResult r = Rows(
      "SELECT author_id, count(*) AS views, sum(watch_ms) AS w FROM eu.events "
      "WHERE event_time >= TIMESTAMP '2026-11-20 01:05:00' AND type = 'view' "
      "AND story_id <= 40 "
      "GROUP BY author_id ORDER BY views DESC, author_id LIMIT 3 OFFSET 1");
  std::map<int64_t, std::pair<int64_t, int64_t>> truth;
  for (const Planted& p : rows_)
    if (p.time_us >= from && p.type == "view" && p.story <= 40)
      ++truth[p.author].first, truth[p.author].second += p.watch;
  std::vector<std::tuple<int64_t, int64_t, int64_t>> want;  // -views, author, watch
  for (const auto& [a, cw] : truth) want.emplace_back(-cw.first, a, cw.second);
  std::sort(want.begin(), want.end());
  ASSERT_EQ(r.rows.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(r.rows[i][0].i, std::get<1>(want[i + 1]));
    EXPECT_EQ(r.rows[i][1].i, -std::get<0>(want[i + 1]));
    EXPECT_EQ(r.rows[i][2].i, std::get<2>(want[i + 1]));
  }
}

TEST_F(EngineTest, ProjectionOrderAndInMatchGroundTruth) {
  QueryResult r = Rows(
      "SELECT watch_ms, story_id FROM events WHERE story_id "
      "IN (3, 9) AND watch_ms NOT BETWEEN 100 AND 2000 "
      "ORDER BY 1 DESC LIMIT 4");
  std::vector<int64_t> want;
  for (const Planted& p : rows_)
    if ((p.story == 3 || p.story == 9) && !(p.watch >= 100 && p.watch <= 2000)) want.push_back(p.watch);
  std::sort(want.rbegin(), want.rend());
  ASSERT_EQ(r.rows.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(r.rows[i][0].i, want[i]);
  // The executor decodes only the two columns the query names.
  EXPECT_NE(
      ExplainOf("SELECT watch_ms FROM events WHERE story_id = 3").find("Scan eu.events columns [story_id, watch_ms]"),
      std::string::npos);
}

TEST_F(EngineTest, StoryIdPredicateReadsOneBucketOfSixteen) {
  const int64_t story = 7;
  std::set<int32_t> buckets;
  for (int64_t s = 1; s <= 64; ++s) buckets.insert(BucketOf(s));
  ASSERT_EQ(buckets.size(),
            16u);  // every bucket holds data, 3 hours each: 48 files
  const std::string plan = ExplainOf("SELECT count(*) FROM events WHERE story_id = 7");
  EXPECT_NE(plan.find("files 3/48 read"), std::string::npos) << plan;  // one bucket, 3 hours
  int64_t want = 0;
  for (const Planted& p : rows_) want += p.story == story;
  EXPECT_EQ(Rows("SELECT count(*) FROM events WHERE story_id = 7").rows[0][0].i, want);
  // Row groups: the file of story 7's bucket holds several stories in order,
  // so statistics skip the row groups of the others.
  auto r = Run("EXPLAIN SELECT count(*) FROM events WHERE story_id = 7");
  ASSERT_TRUE(r.ok());
  const size_t at = plan.find("row groups ");
  ASSERT_NE(at, std::string::npos);
  int read = 0, considered = 0;
  ASSERT_EQ(std::sscanf(plan.c_str() + at, "row groups %d/%d", &read, &considered), 2);
  EXPECT_LT(read, considered) << plan;
}

TEST_F(EngineTest, TimeRangeReadsOnlyItsHour) {
  const std::string q =
      "SELECT count(*) FROM events WHERE event_time BETWEEN "
      "'2026-11-20 01:00:00' AND '2026-11-20 01:59:59'";
  EXPECT_NE(ExplainOf(q).find("files 16/48 read"), std::string::npos) << ExplainOf(q);
  int64_t want = 0;
  for (const Planted& p : rows_)
    want += p.time_us >= (kBaseMs + kHourMs) * 1000 && p.time_us < (kBaseMs + 2 * kHourMs) * 1000;
  EXPECT_EQ(Rows(q).rows[0][0].i, want);
  EXPECT_EQ(Rows("SELECT count(*) FROM events WHERE event_time < '2026-11-19'").rows[0][0].i, 0);
  EXPECT_NE(ExplainOf("SELECT count(*) FROM events WHERE event_time < '2026-11-19'").find("files 0/48 read"),
            std::string::npos);
}

TEST_F(EngineTest, NullSemantics) {
  // A comparison with NULL is never true: nothing is read.
  EXPECT_TRUE(Rows("SELECT story_id FROM events WHERE story_id = NULL").rows.empty());
  EXPECT_NE(ExplainOf("SELECT story_id FROM events WHERE story_id = NULL").find("Empty"), std::string::npos);
  EXPECT_TRUE(Rows("SELECT story_id FROM events WHERE story_id NOT IN (7, NULL)").rows.empty());
  EXPECT_EQ(Rows("SELECT count(*) FROM events WHERE story_id IN (7, NULL)").rows[0][0].i,
            Rows("SELECT count(*) FROM events WHERE story_id = 7").rows[0][0].i);
  // Aggregates over no rows: COUNT 0, the others NULL; one row all the same.
  QueryResult r = Rows(
      "SELECT count(*), count(story_id), sum(watch_ms), min(type), "
      "avg(watch_ms) FROM events WHERE story_id = -5");
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_FALSE(r.rows[0][0].null);
  EXPECT_EQ(r.rows[0][0].i, 0);
  EXPECT_EQ(r.rows[0][1].i, 0);
  EXPECT_TRUE(r.rows[0][2].null);
  EXPECT_TRUE(r.rows[0][3].null);
  EXPECT_TRUE(r.rows[0][4].null);
  EXPECT_EQ(FormatJson(r).find("[0,0,null,null,null]") != std::string::npos, true) << FormatJson(r);
  // GROUP BY over no rows gives no row.
  EXPECT_TRUE(Rows("SELECT story_id, count(*) FROM events WHERE story_id = -5 "
                   "GROUP BY story_id")
                  .rows.empty());
  // The lake's columns are required: IS NULL matches nothing, IS NOT NULL all.
  EXPECT_EQ(Rows("SELECT count(*) FROM events WHERE viewer_id IS NULL").rows[0][0].i, 0);
  EXPECT_EQ(Rows("SELECT count(*) FROM events WHERE viewer_id IS NOT NULL").rows[0][0].i,
            static_cast<int64_t>(rows_.size()));
}

TEST_F(EngineTest, ErrorsNameTheirPosition) {
  EXPECT_EQ(Error("SELECT nope FROM events"), "1:8: unknown column 'nope' in eu.events");
  EXPECT_EQ(Error("SELECT count(*)\nFROM events\nWHERE  bogus = 1"), "3:8: unknown column 'bogus' in eu.events");
  EXPECT_EQ(Error("SELECT * FROM evnts"), "1:15: unknown table 'evnts'");
  EXPECT_EQ(Error("SELECT * FROM xx.events"), "1:15: unknown region 'xx'");
  EXPECT_NE(Error("SELECT story_id FROM events JOIN story_minute s ON story_id = s.story_id").find("does not exist"),
            std::string::npos);
  EXPECT_EQ(Error("SELECT story_id, count(*) FROM events"),
            "1:8: column 'story_id' must appear in GROUP BY or be used in an "
            "aggregate");
  EXPECT_EQ(Error("SELECT sum(type) FROM events"), "1:12: sum() needs a number, not VARCHAR");
  EXPECT_EQ(Error("SELECT count(*) FROM events WHERE story_id = 'a'"), "1:46: cannot compare BIGINT with 'a'");
  EXPECT_NE(Error("SELECT count(*) FROM us.events").find("does not exist"), std::string::npos);
  EXPECT_EQ(Error("SELECT count(*) FORM events").substr(0, 5), "1:17:");
  // Qualifiers must name the table: its name, its alias, or region.table.
  EXPECT_EQ(Error("SELECT nosuch.* FROM events"), "1:1: unknown table 'nosuch'");
  EXPECT_EQ(Error("SELECT us.events.story_id FROM eu.events"), "1:8: unknown table 'us.events'");
  EXPECT_EQ(Rows("SELECT eu.events.story_id FROM eu.events LIMIT 1").rows.size(), 1u);
  EXPECT_EQ(Rows("SELECT e.type, e.* FROM events e LIMIT 1").rows.size(), 1u);
}

TEST_F(EngineTest, SumOverflowIsAnErrorNotAWrap) {
  std::map<std::pair<int64_t, int32_t>, std::vector<Planted>> two;
  two[{0, 0}] = {rows_[0], rows_[1]};
  WriteTable(lake::LakeTableId::kRawEvents, two, 1ull << 62);
  EXPECT_EQ(Rows("SELECT sum(log_offset) FROM raw_events WHERE story_id = 1 "
                 "AND watch_ms = 1")
                .rows[0][0]
                .i,
            1ll << 62);
  EXPECT_EQ(Error("SELECT sum(log_offset) FROM raw_events"), "SUM(log_offset) overflows BIGINT");
  // AVG's result fits although the sum does not: no error.
  const QueryResult avg = Rows("SELECT avg(log_offset) FROM raw_events");
  ASSERT_EQ(avg.rows.size(), 1u);
  EXPECT_EQ(avg.rows[0][0].d, static_cast<double>(1ll << 62));
}

TEST_F(EngineTest, SameRowsAsDuckDb) {
  const std::vector<std::string> queries = {
      "SELECT count(*) AS c0, sum(watch_ms) AS c1, min(story_id) AS c2, "
      "max(watch_ms) AS c3, min(type) AS c4 FROM {T}",
      "SELECT story_id AS c0, count(*) AS c1, sum(watch_ms) AS c2 FROM {T} "
      "WHERE story_id IN (3, 7, 11) AND "
      "watch_ms > 500 GROUP BY story_id",
      "SELECT author_id AS c0, type AS c1, count(*) AS c2, max(viewer_id) AS "
      "c3 FROM {T} WHERE type <> 'share' AND "
      "event_time >= TIMESTAMP '2026-11-20 01:30:00' GROUP BY author_id, type",
      "SELECT story_id AS c0, watch_ms AS c1 FROM {T} WHERE story_id BETWEEN "
      "10 AND 12 AND watch_ms NOT BETWEEN "
      "1000 AND 3000",
      "SELECT count(*) AS c0, sum(watch_ms) AS c1, min(type) AS c2, "
      "count(type) AS c3 FROM {T} WHERE story_id = -1",
      "SELECT story_id AS c0 FROM {T} WHERE story_id NOT IN (1, NULL)",
      "SELECT story_id AS c0, count(*) AS c1 FROM {T} WHERE story_id IN (5, "
      "NULL) GROUP BY story_id",
  };
  for (const std::string& q : queries) ExpectSameAsDuckDb(q);
}

}  // namespace
}  // namespace watershed::query
