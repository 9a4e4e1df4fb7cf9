// Expressions, HAVING, DISTINCT, COUNT(DISTINCT), approx_count_distinct and
// the per-query limits, end to end on the EngineTest lake: against DuckDB
// on the same files, against ground truth, and their errors.

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <set>

#include "query/engine_test_util.h"
#include "query/expr.h"
#include "query/hll.h"
#include "query/parser.h"
#include "query/planner.h"

namespace watershed::query {
namespace {

// Every expression feature against DuckDB. NULLs are made by CASE (the
// lake's columns are required); groups span files (author_id, hours).
TEST_F(EngineTest, ExpressionsSameRowsAsDuckDb) {
  const std::vector<std::string> queries = {
      // arithmetic, comparisons between expressions, aliases
      "SELECT story_id AS c0, watch_ms * 2 + story_id AS c1, watch_ms - "
      "story_id * 3 AS c2, watch_ms % 7 AS c3, "
      "-watch_ms AS c4 FROM {T} WHERE story_id * 2 = author_id + 10",
      "SELECT count(*) AS c0 FROM {T} WHERE watch_ms % 3 = 0 AND story_id + "
      "author_id > 20",
      "SELECT CAST(watch_ms AS DOUBLE) * 0.5 AS c0 FROM {T} WHERE story_id = 3",
      // AND / OR / NOT, three-valued, with NULLs
      "SELECT count(*) AS c0 FROM {T} WHERE story_id = 1 OR type = 'reply' OR "
      "NOT (watch_ms > 100)",
      "SELECT count(*) AS c0 FROM {T} WHERE NOT (CASE WHEN story_id % 2 = 0 "
      "THEN NULL ELSE story_id END > 5)",
      "SELECT count(*) AS c0 FROM {T} WHERE (CASE WHEN story_id % 2 = 0 THEN "
      "NULL ELSE story_id END > 5) OR "
      "type = 'share'",
      "SELECT count(*) AS c0 FROM {T} WHERE (CASE WHEN story_id % 2 = 0 THEN "
      "NULL ELSE TRUE END) AND story_id < 9",
      // LIKE, IN, BETWEEN, IS NULL on expressions
      "SELECT type AS c0, count(*) AS c1 FROM {T} WHERE type LIKE 'sh%' OR "
      "type LIKE '_ep_y' GROUP BY type",
      "SELECT count(*) AS c0 FROM {T} WHERE type NOT LIKE '%e%'",
      "SELECT count(*) AS c0 FROM {T} WHERE story_id + 1 IN (2, 5, author_id + "
      "3) AND watch_ms - 1 NOT IN (10, 20)",
      "SELECT count(*) AS c0 FROM {T} WHERE watch_ms / 2 BETWEEN story_id AND "
      "story_id * 30",
      "SELECT count(*) AS c0 FROM {T} WHERE story_id NOT BETWEEN NULL AND 5",
      "SELECT count(*) AS c0, count(CASE WHEN story_id > 10 THEN 1 END) AS c1 "
      "FROM {T} WHERE "
      "(CASE WHEN story_id > 10 THEN 1 END) IS NULL",
      // CASE, COALESCE, CAST
      "SELECT CASE WHEN watch_ms > 2000 THEN 'long' WHEN watch_ms > 1000 THEN "
      "'mid' ELSE 'short' END AS c0, "
      "count(*) AS c1 FROM {T} GROUP BY 1",
      "SELECT CASE type WHEN 'view' THEN 1 WHEN 'share' THEN 2 END AS c0, "
      "count(*) AS c1 FROM {T} GROUP BY c0",
      "SELECT COALESCE(CASE WHEN story_id > 60 THEN story_id END, author_id * "
      "100) AS c0, count(*) AS c1 "
      "FROM {T} GROUP BY 1",
      "SELECT CAST(story_id AS VARCHAR) AS c0, CAST('12' AS BIGINT) + story_id "
      "AS c1 FROM {T} WHERE story_id < 3 "
      "AND watch_ms < 100",
      "SELECT CAST(watch_ms AS DOUBLE) AS c0, CAST(2.5 AS BIGINT) AS c1 FROM "
      "{T} WHERE story_id = 2",
      // aggregates over expressions, GROUP BY expressions / position / alias
      "SELECT author_id AS c0, sum(CASE WHEN type = 'view' THEN 1 ELSE 0 END) "
      "AS c1, "
      "sum(watch_ms * 2) AS c2, max(watch_ms - story_id) AS c3 FROM {T} GROUP "
      "BY author_id",
      "SELECT story_id % 4 AS c0, count(*) AS c1, min(watch_ms) AS c2 FROM {T} "
      "GROUP BY story_id % 4",
      "SELECT sum(CASE WHEN story_id > 1000 THEN watch_ms END) AS c0, avg(CASE "
      "WHEN story_id > 1000 THEN 1 END) AS c1, "
      "count(CASE WHEN story_id < 3 THEN 1 END) AS c2 FROM {T}",
      "SELECT CAST(sum(watch_ms) AS DOUBLE) / count(*) AS c0, max(watch_ms) - "
      "min(watch_ms) AS c1 FROM {T}",
      // time: date_trunc (UTC, ISO week), intervals, TIMESTAMP/DATE literals
      "SELECT date_trunc('hour', event_time) AS c0, count(*) AS c1 FROM {T} "
      "GROUP BY date_trunc('hour', event_time)",
      "SELECT date_trunc('minute', event_time) AS c0, count(*) AS c1 FROM {T} "
      "WHERE story_id = 9 GROUP BY 1",
      "SELECT date_trunc('day', event_time) AS c0, date_trunc('week', "
      "event_time) AS c1, count(*) AS c2 FROM {T} "
      "GROUP BY 1, 2",
      "SELECT count(*) AS c0 FROM {T} WHERE event_time - INTERVAL '30 minutes' "
      ">= TIMESTAMP '2026-11-20 01:00:00'",
      "SELECT count(*) AS c0 FROM {T} WHERE event_time >= TIMESTAMP "
      "'2026-11-20 03:00:00' - INTERVAL '1 hour 30 minutes'",
      "SELECT count(*) AS c0 FROM {T} WHERE event_time < DATE '2026-11-20' + "
      "INTERVAL '1 hour'",
      "SELECT max(event_time + INTERVAL '1 day') AS c0, min(event_time) AS c1 "
      "FROM {T}",
      // ORDER BY expressions not selected, with LIMIT
      "SELECT story_id AS c0, count(*) AS c1 FROM {T} GROUP BY story_id ORDER "
      "BY sum(watch_ms) DESC, story_id LIMIT 5",
      "SELECT story_id AS c0 FROM {T} WHERE author_id = 2 ORDER BY watch_ms % "
      "100, story_id, watch_ms LIMIT 7",
      // HAVING
      "SELECT author_id AS c0, count(*) AS c1 FROM {T} GROUP BY author_id "
      "HAVING count(*) > 700",
      "SELECT story_id AS c0 FROM {T} GROUP BY story_id HAVING sum(watch_ms) > "
      "100000 AND story_id % 2 = 0",
      "SELECT count(*) AS c0 FROM {T} HAVING count(*) > 1000000",
      // DISTINCT, COUNT(DISTINCT)
      "SELECT DISTINCT author_id AS c0, type AS c1 FROM {T}",
      "SELECT DISTINCT story_id % 3 AS c0 FROM {T} WHERE story_id < 10",
      "SELECT author_id AS c0, count(DISTINCT viewer_id) AS c1, count(DISTINCT "
      "story_id) AS c2 FROM {T} "
      "GROUP BY author_id",
      "SELECT count(DISTINCT CASE WHEN story_id < 5 THEN story_id END) AS c0, "
      "count(DISTINCT type) AS c1 FROM {T}",
      "SELECT count(DISTINCT viewer_id) AS c0 FROM {T} WHERE story_id = -1",
      // empty input through every operator
      "SELECT story_id * 2 AS c0, count(*) AS c1 FROM {T} WHERE story_id + 0 = "
      "-1 GROUP BY 1 HAVING count(*) > 0",
      "SELECT DISTINCT type AS c0 FROM {T} WHERE watch_ms < 0",
  };
  for (const std::string& q : queries) ExpectSameAsDuckDb(q);
}

TEST_F(EngineTest, SubqueryInFromSameRowsAsDuckDb) {
  const std::vector<std::string> queries = {
      "SELECT c0, count(*) AS c1, sum(w) AS c2 FROM (SELECT story_id % 4 AS c0, watch_ms AS w FROM {T} "
      "WHERE type = 'view') s GROUP BY c0",
      "SELECT s.a AS c0, s.n AS c1 FROM (SELECT author_id AS a, count(DISTINCT story_id) AS n FROM {T} "
      "GROUP BY author_id) AS s WHERE s.n > 12",
      "SELECT max(n) AS c0, min(n) AS c1, count(*) AS c2 FROM (SELECT story_id, count(*) AS n FROM {T} "
      "GROUP BY story_id ORDER BY n DESC, story_id LIMIT 10) t",
      "SELECT h AS c0, v AS c1 FROM (SELECT date_trunc('hour', event_time) AS h, count(*) AS v FROM {T} "
      "WHERE story_id = 7 GROUP BY 1) x WHERE h > TIMESTAMP '2026-11-20 00:30:00'",
      "SELECT count(*) AS c0 FROM (SELECT DISTINCT viewer_id FROM {T} WHERE story_id < 0) e",
  };
  for (const std::string& q : queries) ExpectSameAsDuckDb(q);
  // The inner query is pruned; the outer one says it scans the subquery.
  const std::string plan = ExplainOf("SELECT count(*) FROM (SELECT watch_ms FROM events WHERE story_id = 7) s");
  EXPECT_NE(plan.find("Scan subquery s columns []"), std::string::npos) << plan;
  EXPECT_NE(plan.find("  Pruning eu.events: files 3/48 read"), std::string::npos) << plan;
  EXPECT_EQ(Error("SELECT story_id FROM (SELECT watch_ms FROM events) s"), "1:8: unknown column 'story_id' in s");
  EXPECT_EQ(Error("SELECT t.watch_ms FROM (SELECT watch_ms FROM events) s"), "1:8: unknown table 't'");
  // now() is one value for the query and its subqueries.
  EXPECT_EQ(Rows("SELECT count(*) FROM (SELECT now() AS t FROM events) s WHERE t = now()").rows[0][0].i,
            static_cast<int64_t>(rows_.size()));
}

TEST_F(EngineTest, SelectWithoutFromIsOneRow) {
  const QueryResult r =
      Rows("SELECT 1 + 2 AS x, 'a' LIKE '_', CAST('2.5' AS DOUBLE) * 2, NULL, now() > DATE '2026-01-01'");
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0][0].i, 3);
  EXPECT_EQ(r.rows[0][1].i, 1);
  EXPECT_EQ(r.types[1], ColumnType::kBoolean);
  EXPECT_EQ(r.rows[0][2].d, 5.0);
  EXPECT_TRUE(r.rows[0][3].null);
  EXPECT_EQ(r.rows[0][4].i, 1);
  EXPECT_EQ(Rows("SELECT x FROM (SELECT 1 AS x) t").rows.size(), 1u);
  EXPECT_EQ(Rows("SELECT count(*) FROM (SELECT 1 AS x) t WHERE x > 1").rows[0][0].i, 0);
  EXPECT_EQ(Rows("SELECT 1 WHERE 1 = 0").rows.size(), 0u);
  EXPECT_EQ(Error("SELECT story_id"), "1:8: unknown column 'story_id' (no FROM)");
  EXPECT_EQ(Error("SELECT *"), "1:1: SELECT * needs a FROM");
  EXPECT_EQ(ExplainOf("SELECT 1"), "Project 1\nValues (one row, no FROM)\n");
}

TEST_F(EngineTest, IntegerDivisionAndModuloTruncate) {
  // BIGINT / BIGINT is BIGINT, truncated toward zero (PostgreSQL, Trino);
  // % takes the dividend's sign.
  const QueryResult r = Rows("SELECT -7 / 2, 7 / -2, -7 % 3, 7 % -3, 7.0 / 2 FROM events LIMIT 1");
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0][0].i, -3);
  EXPECT_EQ(r.rows[0][1].i, -3);
  EXPECT_EQ(r.rows[0][2].i, -1);
  EXPECT_EQ(r.rows[0][3].i, 1);
  EXPECT_EQ(r.rows[0][4].d, 3.5);
  EXPECT_EQ(r.types[4], ColumnType::kDouble);
  int64_t want = 0;
  for (const Planted& p : rows_) want += p.watch / (p.story + 1);
  EXPECT_EQ(Rows("SELECT sum(watch_ms / (story_id + 1)) FROM events").rows[0][0].i, want);
}

TEST_F(EngineTest, OverflowAndDivisionByZeroAreErrorsWithPositions) {
  EXPECT_EQ(Error("SELECT story_id * 9223372036854775807 FROM events"),
            "1:8: BIGINT overflow in story_id * 9223372036854775807");
  EXPECT_EQ(Error("SELECT count(*) FROM events\nWHERE watch_ms / (story_id - 7) > 1"),
            "2:7: division by zero in watch_ms / (story_id - 7)");
  EXPECT_EQ(Error("SELECT -(-9223372036854775808) FROM events"), "1:8: BIGINT overflow in - -9223372036854775808");
  EXPECT_EQ(Error("SELECT CAST('x1' AS BIGINT) FROM events"), "1:8: cannot cast x1 to BIGINT");
  // CASE, AND and OR evaluate an operand only on the rows that reach it.
  EXPECT_EQ(Rows("SELECT sum(CASE WHEN story_id = 7 THEN 0 ELSE 70 / (story_id "
                 "- 7) END) FROM events "
                 "WHERE story_id BETWEEN 6 AND 8")
                .rows[0][0]
                .i,
            0);
  EXPECT_EQ(Rows("SELECT count(*) FROM events WHERE story_id <> 7 AND 10 / (story_id "
                 "- 7) > 0")
                .rows[0][0]
                .i,
            Rows("SELECT count(*) FROM events WHERE story_id > 7 AND story_id < 18").rows[0][0].i);
  EXPECT_EQ(Rows("SELECT count(*) FROM events WHERE story_id = 7 OR 10 / (story_id - "
                 "7) > 100")
                .rows[0][0]
                .i,
            Rows("SELECT count(*) FROM events WHERE story_id = 7").rows[0][0].i);
}

TEST_F(EngineTest, NowIsFoldedAtPlanTimeAndPrunes) {
  // The lake's rows are from 2026-11-20, before now: "the last hour" reads
  // no file, the plan shows the folded literal.
  const std::string plan = ExplainOf(
      "SELECT count(*) FROM events WHERE "
      "event_time >= now() - INTERVAL '1 hour'");
  EXPECT_NE(plan.find("files 0/48 read"), std::string::npos) << plan;
  EXPECT_NE(plan.find("(pushed into pruning)"), std::string::npos) << plan;
  EXPECT_EQ(Rows("SELECT count(*) FROM events WHERE event_time >= now() - "
                 "INTERVAL '1 hour'")
                .rows[0][0]
                .i,
            0);
  EXPECT_EQ(Rows("SELECT count(*) FROM events WHERE event_time < now()").rows[0][0].i,
            static_cast<int64_t>(rows_.size()));
  // One value of now() per query, whatever the rows.
  EXPECT_EQ(Rows("SELECT count(DISTINCT now()) FROM events").rows[0][0].i, 1);
  // An hour window as a constant range prunes to one hour's 16 files.
  EXPECT_NE(ExplainOf("SELECT count(*) FROM events WHERE event_time >= "
                      "TIMESTAMP '2026-11-20 02:00:00' "
                      "AND event_time < TIMESTAMP '2026-11-20 01:00:00' + "
                      "INTERVAL '2 hours'")
                .find("files 16/48 read"),
            std::string::npos);
  // Not column-op-constant: filtered after the scan, said so.
  EXPECT_NE(ExplainOf("SELECT count(*) FROM events WHERE watch_ms % 2 = 0").find("(after the scan)"),
            std::string::npos);
}

TEST_F(EngineTest, DateTruncIsUtcAndWeeksStartOnMonday) {
  // 2026-11-20 is a Friday: its ISO week starts Monday 2026-11-16.
  const QueryResult r = Rows(
      "SELECT date_trunc('week', event_time), date_trunc('day', "
      "event_time), date_trunc('hour', event_time), "
      "date_trunc('minute', event_time + INTERVAL '90 seconds') FROM "
      "events WHERE story_id = 1 "
      "AND event_time = TIMESTAMP '2026-11-20 02:03:00'");
  ASSERT_FALSE(r.rows.empty());
  EXPECT_EQ(FormatValue(r.rows[0][0], ColumnType::kTimestamp), "2026-11-16 00:00:00");
  EXPECT_EQ(FormatValue(r.rows[0][1], ColumnType::kTimestamp), "2026-11-20 00:00:00");
  EXPECT_EQ(FormatValue(r.rows[0][2], ColumnType::kTimestamp), "2026-11-20 02:00:00");
  EXPECT_EQ(FormatValue(r.rows[0][3], ColumnType::kTimestamp), "2026-11-20 02:04:00");
  // Before 1970 truncation floors: 1969-12-31 23:59:59 -> 1969-12-31 00:00.
  const QueryResult old = Rows(
      "SELECT date_trunc('day', TIMESTAMP '1969-12-31 23:59:59'), "
      "date_trunc('week', DATE '1970-01-01') "
      "FROM events LIMIT 1");
  EXPECT_EQ(FormatValue(old.rows[0][0], ColumnType::kTimestamp), "1969-12-31 00:00:00");
  EXPECT_EQ(FormatValue(old.rows[0][1], ColumnType::kTimestamp), "1969-12-29 00:00:00");
}

TEST_F(EngineTest, ExpressionErrorsNameTheirPosition) {
  EXPECT_EQ(Error("SELECT count(*) FROM events WHERE count(*) > 1"),
            "1:35: aggregate functions are not allowed in WHERE");
  EXPECT_EQ(Error("SELECT sum(count(*)) FROM events"), "1:12: aggregate calls cannot be nested");
  EXPECT_EQ(Error("SELECT story_id + type FROM events"), "1:8: cannot apply + to BIGINT and VARCHAR");
  EXPECT_EQ(Error("SELECT count(*) FROM events WHERE story_id"), "1:35: WHERE needs a condition, not BIGINT");
  EXPECT_EQ(Error("SELECT date_trunc('month', event_time) FROM events"),
            "1:19: date_trunc's unit must be 'minute', 'hour', 'day' or "
            "'week', not 'month'");
  EXPECT_EQ(Error("SELECT lower(type) FROM events"), "1:8: function lower() is not supported");
  EXPECT_EQ(Error("SELECT type LIKE 5 FROM events"), "1:18: LIKE needs VARCHAR, not BIGINT (5)");
  EXPECT_EQ(Error("SELECT story_id, count(*) FROM events GROUP BY author_id"),
            "1:8: column 'story_id' must appear in GROUP BY or be used in an "
            "aggregate");
  EXPECT_EQ(Error("SELECT story_id + 1 FROM events GROUP BY story_id + 2"),
            "1:8: column 'story_id' must appear in GROUP BY or be used in an "
            "aggregate");
  EXPECT_EQ(Error("SELECT INTERVAL '1 day' FROM events"),
            "1:8: an INTERVAL cannot be a result (add it to a TIMESTAMP)");
  EXPECT_EQ(Error("SELECT CAST(event_time AS BIGINT) FROM events"), "1:8: cannot cast TIMESTAMP to BIGINT");
  EXPECT_EQ(Error("SELECT DISTINCT type FROM events ORDER BY story_id"),
            "1:43: with SELECT DISTINCT, ORDER BY must name a selected column");
  EXPECT_EQ(Error("SELECT sum(DISTINCT watch_ms) FROM events"), "1:8: sum(DISTINCT ...) is not supported");
  EXPECT_EQ(Error("SELECT count(*) FROM events HAVING story_id > 1"),
            "1:36: column 'story_id' must appear in GROUP BY or be used in an "
            "aggregate");
  EXPECT_EQ(Error("SELECT event_time > 'yesterday' FROM events"), "1:21: not a timestamp: 'yesterday'");
  EXPECT_EQ(Error("SELECT 1 / 0 FROM events"), "1:8: division by zero in 1 / 0");
}

TEST_F(EngineTest, GroupByExpressionMatchesGroundTruth) {
  std::map<int64_t, std::pair<int64_t, int64_t>> truth;  // hour start -> views, long views
  for (const Planted& p : rows_) {
    auto& t = truth[p.time_us / 3'600'000'000 * 3'600'000'000];
    t.first += p.type == "view";
    t.second += p.type == "view" && p.watch > 1000;
  }
  const QueryResult r = Rows(
      "SELECT date_trunc('hour', event_time) AS h, sum(CASE WHEN type = "
      "'view' THEN 1 ELSE 0 END) AS views, "
      "count(CASE WHEN type = 'view' AND watch_ms > 1000 THEN 1 END) FROM "
      "events GROUP BY h ORDER BY h");
  ASSERT_EQ(r.rows.size(), truth.size());
  size_t i = 0;
  for (const auto& [hour, counts] : truth) {
    EXPECT_EQ(r.rows[i][0].i, hour);
    EXPECT_EQ(r.rows[i][1].i, counts.first);
    EXPECT_EQ(r.rows[i][2].i, counts.second);
    ++i;
  }
  EXPECT_EQ(r.names[1], "views");
  // Keys are matched by value: two decimals that differ past the 6th digit
  // are two expressions.
  EXPECT_EQ(Error("SELECT watch_ms * 0.0000002 FROM events GROUP BY watch_ms * 0.0000001"),
            "1:8: column 'watch_ms' must appear in GROUP BY or be used in an aggregate");
  EXPECT_EQ(r.names[2], "count(CASE WHEN type = 'view' AND watch_ms > 1000 THEN 1 END)");
}

TEST_F(EngineTest, ApproxCountDistinctIsCloseToExact) {
  const QueryResult r = Rows(
      "SELECT author_id, count(DISTINCT viewer_id), "
      "approx_count_distinct(viewer_id), "
      "count(DISTINCT event_time), approx_count_distinct(event_time) FROM "
      "events GROUP BY author_id");
  ASSERT_EQ(r.rows.size(), 5u);
  for (const auto& row : r.rows) {
    EXPECT_NEAR(static_cast<double>(row[2].i), static_cast<double>(row[1].i), 0.03 * static_cast<double>(row[1].i));
    EXPECT_NEAR(static_cast<double>(row[4].i), static_cast<double>(row[3].i), 0.03 * static_cast<double>(row[3].i));
  }
  std::set<int64_t> viewers;
  for (const Planted& p : rows_) viewers.insert(p.viewer);
  EXPECT_EQ(Rows("SELECT count(DISTINCT viewer_id) FROM events").rows[0][0].i, static_cast<int64_t>(viewers.size()));
}

TEST(HyperLogLogTest, OneMillionDistinctWithinThreePercent) {
  HyperLogLog h, half;
  for (int64_t i = 0; i < 1'000'000; ++i) {
    const std::string key(reinterpret_cast<const char*>(&i), 8);
    h.Add(HashBytes(key));
    h.Add(HashBytes(key));  // duplicates change nothing
    if (i % 2 == 0) half.Add(HashBytes(key));
  }
  EXPECT_NEAR(static_cast<double>(h.Estimate()), 1e6, 0.03e6);
  EXPECT_NEAR(static_cast<double>(half.Estimate()), 5e5, 0.03 * 5e5);
  half.Merge(h);
  EXPECT_EQ(half.Estimate(), h.Estimate());
  HyperLogLog small;
  for (int64_t i = 0; i < 1000; ++i) small.Add(HashBytes(std::to_string(i)));
  EXPECT_NEAR(static_cast<double>(small.Estimate()), 1000,
              10);  // linear counting: near exact
  EXPECT_EQ(HyperLogLog().Estimate(), 0);
}

TEST(LikeTest, PercentUnderscoreAndUtf8) {
  EXPECT_TRUE(LikeMatch("view", "view"));
  EXPECT_TRUE(LikeMatch("view", "v%"));
  EXPECT_TRUE(LikeMatch("view", "%e%"));
  EXPECT_TRUE(LikeMatch("view", "_i_w"));
  EXPECT_TRUE(LikeMatch("", "%"));
  EXPECT_TRUE(LikeMatch("abcabc", "%a%c"));
  EXPECT_FALSE(LikeMatch("view", "v_"));
  EXPECT_FALSE(LikeMatch("view", "View"));
  EXPECT_FALSE(LikeMatch("", "_"));
  EXPECT_TRUE(LikeMatch("caf\xc3\xa9", "caf_"));  // one character, two bytes
  EXPECT_FALSE(LikeMatch("caf\xc3\xa9", "caf__"));
  EXPECT_TRUE(
      LikeMatch("\xe2\x82\xac"
                "5",
                "_5"));
  EXPECT_TRUE(LikeMatch(std::string(5000, 'a'), std::string(50, '%') + "b%") == false);
}

TEST_F(EngineTest, MemoryLimitAndCancelStopTheQuery) {
  Catalog catalog(fs_, dir_.path(), Region::kEu);
  auto plan_of = [&](const std::string& sql) {
    auto st = Parse(sql);
    EXPECT_TRUE(st.ok());
    auto plan = PlanSelect(*st->select, catalog);
    EXPECT_TRUE(plan.ok()) << plan.status().ToString();
    return std::move(*plan);
  };
  const LogicalPlan plan = plan_of(
      "SELECT story_id, viewer_id, count(DISTINCT "
      "watch_ms) FROM events GROUP BY 1, 2");
  ExecLimits limits;
  limits.max_memory_bytes = 64 << 10;
  auto r = Execute(plan, fs_, limits);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTooLarge);
  EXPECT_EQ(r.status().message(), "query needs more than 64 KiB (query-memory)");
  limits.max_memory_bytes = 64 << 20;
  EXPECT_TRUE(Execute(plan, fs_, limits).ok());
  // Collected rows count too.
  limits.max_memory_bytes = 1 << 20;
  r = Execute(plan_of("SELECT * FROM events ORDER BY watch_ms"), fs_, limits);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "query needs more than 1 MiB (query-memory)");
  // A join on a key every row shares: its output counts before it is made.
  r = Execute(plan_of("SELECT count(*) FROM events a JOIN events b ON a.region = b.region"), fs_, limits);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTooLarge) << r.status().ToString();
  std::atomic<bool> cancel{true};
  ExecLimits cancelled;
  cancelled.cancel = &cancel;
  r = Execute(plan, fs_, cancelled);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "query cancelled");
  ExecLimits late;
  late.deadline = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  r = Execute(plan, fs_, late);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace watershed::query
