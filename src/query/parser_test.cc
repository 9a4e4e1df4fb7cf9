#include "query/parser.h"

#include <gtest/gtest.h>

#include "query/literals.h"
#include "query/parser_test_util.h"

namespace watershed::query {
namespace {

using testing::Canonical;
using testing::Tree;

// The tree of one expression, after checking its print/parse round trip.
std::string TreeOf(const std::string& expr) {
  const std::string sql = "SELECT " + expr;
  auto r = Parse(sql);
  if (!r.ok()) return "error: " + r.status().message();
  Canonical(sql);
  return Tree(*r->select->items[0].expr);
}

TEST(ParserPrecedenceTest, OrAndNotComparisonAdditiveMultiplicativeUnary) {
  EXPECT_EQ(TreeOf("a OR b AND c"), "(or a (and b c))");
  EXPECT_EQ(TreeOf("a AND b OR c AND d"), "(or (and a b) (and c d))");
  EXPECT_EQ(TreeOf("NOT a AND b"), "(and (not a) b)");
  EXPECT_EQ(TreeOf("NOT a = b"), "(not (= a b))");
  EXPECT_EQ(TreeOf("NOT NOT a"), "(not (not a))");
  EXPECT_EQ(TreeOf("a = b + c * d"), "(= a (+ b (* c d)))");
  EXPECT_EQ(TreeOf("a + b * c - d / e % f"), "(- (+ a (* b c)) (% (/ d e) f))");
  EXPECT_EQ(TreeOf("a - b - c"), "(- (- a b) c)");
  EXPECT_EQ(TreeOf("a - (b - c)"), "(- a (- b c))");
  EXPECT_EQ(TreeOf("-a * b"), "(* (neg a) b)");
  EXPECT_EQ(TreeOf("-(a * b)"), "(neg (* a b))");
  EXPECT_EQ(TreeOf("- -a"), "(neg (neg a))");
  EXPECT_EQ(TreeOf("(a OR b) AND c"), "(and (or a b) c)");
  EXPECT_EQ(TreeOf("a + b IS NULL"), "(isnull (+ a b))");
  EXPECT_EQ(TreeOf("NOT a IS NOT NULL"), "(not (not-isnull a))");
  EXPECT_EQ(TreeOf("a BETWEEN b + 1 AND c AND d"), "(and (between a (+ b 1) c) d)");
  EXPECT_EQ(TreeOf("a NOT LIKE 'x%' OR b IN (1, 2 + 3)"), "(or (not-like a 'x%') (in b 1 (+ 2 3)))");
  EXPECT_EQ(TreeOf("a = (b = c)"), "(= a (= b c))");
}

TEST(ParserPrecedenceTest, AndOrChainsAreFlat) {
  EXPECT_EQ(TreeOf("a AND b AND c AND d"), "(and a b c d)");
  EXPECT_EQ(TreeOf("a OR (b OR c)"), "(or a b c)") << "OR is associative";
  EXPECT_EQ(TreeOf("(a AND b) OR c"), "(or (and a b) c)");
}

TEST(ParserPrecedenceTest, PrinterParenthesisesOnlyWherePrecedenceNeedsIt) {
  EXPECT_EQ(Canonical("select (a+b)*c, a+(b*c), (a or b) and not (c and d), -(-1), - - 1, a-(b-c)"),
            "SELECT (a + b) * c, a + b * c, (a OR b) AND NOT (c AND d), - -1, - -1, a - (b - c)");
}

TEST(ParserTest, SelectListDistinctAliasesAndStars) {
  EXPECT_EQ(Canonical("select distinct story_id AS s, watch_ms w, * , e.*, eu.events.* from events e"),
            "SELECT DISTINCT story_id AS s, watch_ms AS w, *, e.*, eu.events.* FROM events AS e");
  auto r = Parse("SELECT a AS \"Total Views\" FROM t");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->select->items[0].alias, "Total Views");
  EXPECT_EQ(Canonical("SELECT a AS \"Total Views\", \"Col\", \"select\", \"x\"\"y\" FROM \"T\""),
            "SELECT a AS \"Total Views\", \"Col\", \"select\", \"x\"\"y\" FROM \"T\"");
  EXPECT_EQ(Canonical("SELECT now()"), "SELECT now()");
}

TEST(ParserTest, TableNamesRegionsAndSubqueries) {
  auto r = Parse("SELECT * FROM eu.events");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->select->from->name, (std::vector<std::string>{"eu", "events"}));
  EXPECT_EQ(Canonical("SELECT * FROM global.events"), "SELECT * FROM global.events");
  EXPECT_EQ(Canonical("SELECT n FROM (SELECT count(*) AS n FROM raw_events) AS sub WHERE n > 0"),
            "SELECT n FROM (SELECT count(*) AS n FROM raw_events) AS sub WHERE n > 0");
  EXPECT_EQ(Canonical("select x from (select x from (select 1 x) a) b"),
            "SELECT x FROM (SELECT x FROM (SELECT 1 AS x) AS a) AS b");
}

TEST(ParserTest, OneJoinInnerOrLeft) {
  auto r = Parse("SELECT e.story_id, s.title FROM events e LEFT OUTER JOIN stories AS s ON e.story_id = s.story_id");
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->select->join.has_value());
  EXPECT_EQ(r->select->join->kind, JoinKind::kLeft);
  EXPECT_EQ(r->select->join->table.alias, "s");
  EXPECT_EQ(Tree(*r->select->join->on), "(= e.story_id s.story_id)");
  EXPECT_EQ(Canonical("SELECT * FROM a INNER JOIN b ON a.x = b.x"), "SELECT * FROM a JOIN b ON a.x = b.x");
  EXPECT_EQ(Canonical("SELECT * FROM a JOIN (SELECT 1 AS x) AS b ON a.x = b.x"),
            "SELECT * FROM a JOIN (SELECT 1 AS x) AS b ON a.x = b.x");
}

TEST(ParserTest, WhereGroupByHavingOrderByLimitOffset) {
  const std::string sql =
      "SELECT story_id, count(*) AS views FROM events WHERE event_type = 'view' AND watch_ms >= 1000 "
      "GROUP BY story_id HAVING count(*) > 10 ORDER BY views DESC NULLS LAST, story_id ASC, 2 NULLS FIRST "
      "LIMIT 10 OFFSET 20";
  auto r = Parse(sql);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const Select& s = *r->select;
  EXPECT_EQ(Tree(*s.where), "(and (= event_type 'view') (>= watch_ms 1000))");
  ASSERT_EQ(s.group_by.size(), 1u);
  EXPECT_EQ(Tree(*s.having), "(> (count *) 10)");
  ASSERT_EQ(s.order_by.size(), 3u);
  EXPECT_TRUE(s.order_by[0].descending);
  EXPECT_EQ(s.order_by[0].nulls, NullsOrder::kLast);
  EXPECT_FALSE(s.order_by[1].descending);
  EXPECT_EQ(s.order_by[2].nulls, NullsOrder::kFirst);
  EXPECT_EQ(s.limit, 10);
  EXPECT_EQ(s.offset, 20);
  EXPECT_EQ(Canonical(sql),
            "SELECT story_id, count(*) AS views FROM events WHERE event_type = 'view' AND watch_ms >= 1000 "
            "GROUP BY story_id HAVING count(*) > 10 ORDER BY views DESC NULLS LAST, story_id, 2 NULLS FIRST "
            "LIMIT 10 OFFSET 20");
}

TEST(ParserTest, PredicatesIsInBetweenLike) {
  EXPECT_EQ(TreeOf("a IS NULL"), "(isnull a)");
  EXPECT_EQ(TreeOf("a IS NOT NULL"), "(not-isnull a)");
  EXPECT_EQ(TreeOf("a IN (1, 2, 3)"), "(in a 1 2 3)");
  EXPECT_EQ(TreeOf("a NOT IN ('x')"), "(not-in a 'x')");
  EXPECT_EQ(TreeOf("a BETWEEN 1 AND 2"), "(between a 1 2)");
  EXPECT_EQ(TreeOf("a NOT BETWEEN 1 AND 2"), "(not-between a 1 2)");
  EXPECT_EQ(TreeOf("title LIKE 'a\\_%'"), "(like title 'a\\_%')");
  EXPECT_EQ(TreeOf("a <> 1 OR a != 2 OR a < 3 OR a <= 4 OR a > 5 OR a >= 6"),
            "(or (<> a 1) (<> a 2) (< a 3) (<= a 4) (> a 5) (>= a 6))");
}

TEST(ParserTest, FunctionsAggregatesCastCaseCoalesce) {
  EXPECT_EQ(TreeOf("COUNT(*)"), "(count *)");
  EXPECT_EQ(TreeOf("count(DISTINCT viewer_id)"), "(count distinct viewer_id)");
  EXPECT_EQ(TreeOf("approx_count_distinct(viewer_id)"), "(approx_count_distinct viewer_id)");
  EXPECT_EQ(TreeOf("SUM(watch_ms) / Max(x)"), "(/ (sum watch_ms) (max x))");
  EXPECT_EQ(TreeOf("date_trunc('hour', event_time)"), "(date_trunc 'hour' event_time)");
  EXPECT_EQ(TreeOf("COALESCE(a, b, 0)"), "(coalesce a b 0)");
  EXPECT_EQ(TreeOf("CAST(a AS bigint)"), "(cast a BIGINT)");
  EXPECT_EQ(TreeOf("cast(a + 1 as Numeric(18, 2))"), "(cast (+ a 1) DECIMAL(18,2))");
  EXPECT_EQ(TreeOf("CASE WHEN a > 1 THEN 'big' WHEN a IS NULL THEN NULL ELSE 'small' END"),
            "(case-else (> a 1) 'big' (isnull a) null 'small')");
  EXPECT_EQ(TreeOf("CASE region WHEN 'eu' THEN 1 END"), "(case-operand region 'eu' 1)");
  EXPECT_EQ(Canonical("select case when a then b end, cast(x as text), count(*), Count(Distinct x)"),
            "SELECT CASE WHEN a THEN b END, CAST(x AS VARCHAR), count(*), count(DISTINCT x)");
}

TEST(ParserTest, LiteralsNullBooleansIntervalsTimestamps) {
  EXPECT_EQ(Canonical("SELECT null, true, False, 1, 2.5, .5, 'it''s', interval '7 days', TIMESTAMP "
                      "'2026-12-01 00:00:00', date '2026-02-28'"),
            "SELECT NULL, TRUE, FALSE, 1, 2.5, .5, 'it''s', INTERVAL '7 days', TIMESTAMP '2026-12-01 00:00:00', "
            "DATE '2026-02-28'");
  EXPECT_EQ(TreeOf("event_time >= now() - INTERVAL '7 days'"), "(>= event_time (- (now) INTERVAL '7 days'))");
  // The words are literal types only before a string: elsewhere they are names.
  EXPECT_EQ(TreeOf("timestamp + interval"), "(+ timestamp interval)");
  EXPECT_EQ(IntervalMicros("1 hour 30 Minutes").value(), 5'400'000'000);
  EXPECT_EQ(IntervalMicros("7 days").value(), 7 * 86'400'000'000);
  EXPECT_EQ(IntervalMicros("999999999 seconds").value(), 999'999'999'000'000);
  // A count of many digits is an error, not a signed overflow (found by sql_engine_fuzz).
  EXPECT_FALSE(IntervalMicros("1 week 3333333333333333333333333 hours").ok());
  EXPECT_EQ(TimestampMicros("2026-12-01 00:00:00", false).value(), 1'796'083'200'000'000);
  EXPECT_EQ(TimestampMicros("1970-01-01T00:00:01.5Z", false).value(), 1'500'000);
  EXPECT_EQ(TimestampMicros("1969-12-31", true).value(), -86'400'000'000);
}

TEST(ParserTest, StatementsShowDescribeExplainAndTimeTravel) {
  auto show = Parse("show tables;");
  ASSERT_TRUE(show.ok());
  EXPECT_EQ(show->kind, StatementKind::kShowTables);
  auto describe = Parse("DESCRIBE eu.story_minute");
  ASSERT_TRUE(describe.ok());
  EXPECT_EQ(describe->kind, StatementKind::kDescribe);
  EXPECT_EQ(describe->table, (std::vector<std::string>{"eu", "story_minute"}));
  EXPECT_EQ(Canonical("explain select count(*) from events where story_id = 7"),
            "EXPLAIN SELECT count(*) FROM events WHERE story_id = 7");
  auto v = Parse("SELECT * FROM events FOR VERSION AS OF 8374625123 e");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->select->from->time_travel, TimeTravel::kVersion);
  EXPECT_EQ(v->select->from->version, 8374625123);
  EXPECT_EQ(v->select->from->alias, "e");
  EXPECT_EQ(Canonical("SELECT * FROM eu.events for timestamp as of '2026-12-01 10:00:00'"),
            "SELECT * FROM eu.events FOR TIMESTAMP AS OF '2026-12-01 10:00:00'");
  EXPECT_EQ(Canonical("SELECT * FROM events FOR VERSION AS OF 5 AS e JOIN s FOR VERSION AS OF 6 ON e.a = s.a"),
            "SELECT * FROM events FOR VERSION AS OF 5 AS e JOIN s FOR VERSION AS OF 6 ON e.a = s.a");
  EXPECT_EQ(Canonical("show tables"), "SHOW TABLES");
  EXPECT_EQ(Canonical("describe \"My Table\""), "DESCRIBE \"My Table\"");
}

TEST(ParserTest, PositionsAreKeptOnNodes) {
  auto r = Parse("SELECT\n  a,\n  b + 1\nFROM t");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ToString(r->select->items[1].expr->pos), "3:3");
  EXPECT_EQ(ToString(r->select->from->pos), "4:6");
}

TEST(ParserTest, EqualityIgnoresPositionsButNotValues) {
  auto a = Parse("SELECT a + 1 FROM t");
  auto b = Parse("select\n a+1\n from T");
  auto c = Parse("SELECT a + 2 FROM t");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_TRUE(*a == *b);
  EXPECT_FALSE(*a == *c);
}

}  // namespace
}  // namespace watershed::query
