// Bad queries: each gets an error naming the problem and where it is.
#include <gtest/gtest.h>

#include "query/parser.h"

namespace watershed::query {
namespace {

std::string ErrorOf(std::string_view sql, const ParseLimits& limits = {}) {
  auto r = Parse(sql, limits);
  return r.ok() ? "ok" : r.status().message();
}

TEST(ParserErrorsTest, EachBadQueryIsNamedWithItsPosition) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"SELECT count(*) FORM events", "1:17: expected FROM, found 'FORM'"},
      {"SELECT story_id FROM events WHRE story_id = 1",
       "1:29: expected WHERE, JOIN, GROUP BY, ORDER BY, LIMIT or end of query, found 'WHRE'"},
      {"SELECT", "1:7: expected an expression, found end of query"},
      {"SELECT a,", "1:10: expected an expression, found end of query"},
      {"SELECT a FROM", "1:14: expected a table name, found end of query"},
      {"SELECT a FROM t WHERE", "1:22: expected an expression, found end of query"},
      {"SELECT a FROM t WHERE a = ", "1:27: expected an expression, found end of query"},
      {"SELECT a FROM t\nWHERE a = 1 AND (b = 2", "2:23: expected ')', found end of query"},
      {"SELECT a = b = c", "1:14: '=' cannot follow a comparison without parentheses"},
      {"SELECT a FROM t GROUP a", "1:23: expected BY, found 'a'"},
      {"SELECT a FROM t ORDER BY a NULLS MIDDLE", "1:34: expected FIRST or LAST, found 'MIDDLE'"},
      {"SELECT a FROM t LIMIT -1", "1:23: expected a non-negative integer for LIMIT, found '-'"},
      {"SELECT a FROM t LIMIT 99999999999999999999",
       "1:23: LIMIT 99999999999999999999 is out of range (at most 9223372036854775807)"},
      {"SELECT a FROM (SELECT 1)", "1:25: a subquery in FROM needs an alias"},
      {"SELECT * FROM a JOIN b ON a.x = b.x JOIN c ON a.y = c.y", "1:37: only one JOIN is supported"},
      {"SELECT * FROM a RIGHT JOIN b ON a.x = b.x",
       "1:17: 'RIGHT' joins are not supported (only JOIN, INNER JOIN and LEFT JOIN)"},
      {"SELECT * FROM a, b", "1:16: FROM takes one table; join a second one with JOIN ... ON"},
      {"SELECT * FROM a JOIN b", "1:23: expected ON, found end of query"},
      {"SELECT sum(*) FROM t", "1:12: only COUNT takes '*'"},
      {"SELECT a + * FROM t", "1:12: '*' is allowed only as a whole select item or in COUNT(*)"},
      {"SELECT a NOT NULL", "1:14: expected IN, BETWEEN or LIKE after NOT, found 'NULL'"},
      {"SELECT CAST(a AS money)", "1:18: unknown type 'money'"},
      {"SELECT CAST(a AS varchar(3, 4))", "1:18: VARCHAR takes one parameter"},
      {"SELECT CAST(a AS bigint(3))", "1:18: BIGINT takes no parameters"},
      {"SELECT CASE END", "1:13: expected WHEN, found 'END'"},
      {"SELECT CASE WHEN a THEN b", "1:26: expected END, found end of query"},
      {"SELECT INTERVAL '7 months'",
       "1:17: bad INTERVAL '7 months': months and years have no fixed length; use days or weeks"},
      {"SELECT INTERVAL 'seven days'",
       "1:17: bad INTERVAL 'seven days': expected a count of 1 to 9 digits, then a unit ('7 days')"},
      {"SELECT TIMESTAMP '2026-02-30 00:00:00'", "1:18: bad TIMESTAMP '2026-02-30 00:00:00': no such date"},
      {"SELECT TIMESTAMP '2026-12-01 10:00:00+02:00'",
       "1:18: bad TIMESTAMP '2026-12-01 10:00:00+02:00': expected YYYY-MM-DD[ HH:MM:SS[.ffffff]] (UTC; no other time "
       "zone)"},
      {"SELECT * FROM events FOR VERSION AS OF 'x'",
       "1:40: expected a non-negative integer for the snapshot id, found string 'x'"},
      {"SELECT * FROM events FOR SYSTEM_TIME AS OF 1",
       "1:26: expected VERSION or TIMESTAMP after FOR, found 'SYSTEM_TIME'"},
      {"SELECT * FROM events FOR TIMESTAMP AS OF 'yesterday'",
       "1:42: bad TIMESTAMP 'yesterday': expected YYYY-MM-DD[ HH:MM:SS[.ffffff]]"},
      {"SELECT a FROM a.b.c", "1:15: a table name has at most 2 parts"},
      {"SELECT a.b.c.d FROM t", "1:8: a column name has at most 3 parts (region.table.column)"},
      {"SELECT a IN (SELECT 1)", "1:14: IN (subquery) is not supported; list the values"},
      {"SELECT (SELECT 1)", "1:9: subqueries are supported only in FROM"},
      {"DELETE FROM events", "1:1: expected SELECT, SHOW TABLES, DESCRIBE or EXPLAIN, found 'DELETE'"},
      {"SHOW STORIES", "1:6: expected TABLES, found 'STORIES'"},
      {"EXPLAIN SHOW TABLES", "1:9: expected SELECT, found 'SHOW'"},
      {"SELECT 1; SELECT 2", "1:11: expected end of query, found 'SELECT'"},
      {"SELECT a FROM t UNION SELECT b FROM u", "1:17: expected end of query, found 'UNION'"},
      {"SELECT 'abc", "1:8: unterminated string literal"},
  };
  for (const auto& [sql, error] : cases) EXPECT_EQ(ErrorOf(sql), error) << sql;
}

// Hostile nesting: each shape would overflow the stack of an unbounded
// recursive parser (or of the recursive walks over its tree); here each is
// an error with a position, and just under the limit it parses.
TEST(ParserLimitsTest, DeepNestingIsAnErrorNotACrash) {
  constexpr int kDeep = 20'000;
  auto repeat = [](std::string_view s, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += s;
    return out;
  };
  const std::string too_deep = "nested deeper than 64 levels";
  EXPECT_EQ(ErrorOf("SELECT " + repeat("(", kDeep) + "1" + repeat(")", kDeep)), "1:71: " + too_deep);
  EXPECT_EQ(ErrorOf("SELECT " + repeat("NOT ", kDeep) + "a"), "1:260: " + too_deep);
  EXPECT_EQ(ErrorOf("SELECT " + repeat("-", kDeep) + "1"), "1:20009: expected an expression, found end of query")
      << "'--' starts a comment";
  EXPECT_EQ(ErrorOf("SELECT " + repeat("- ", kDeep) + "1"), "1:134: " + too_deep);
  EXPECT_EQ(ErrorOf("SELECT " + repeat("f(", kDeep) + "1" + repeat(")", kDeep)), "1:134: " + too_deep);
  EXPECT_EQ(ErrorOf(repeat("SELECT * FROM (", kDeep) + "SELECT 1" + repeat(") AS t", kDeep)), "1:961: " + too_deep);
  EXPECT_EQ(ErrorOf("SELECT " + repeat("CASE WHEN a THEN ", kDeep) + "1"), "1:1072: " + too_deep);

  // A left-deep tree needs no recursion to parse but is as deep as it is long.
  EXPECT_EQ(ErrorOf("SELECT 1" + repeat(" + 1", kDeep)), "1:8: expression nested deeper than 256 levels");
  EXPECT_EQ(ErrorOf("SELECT 1" + repeat(" + 1", 255)), "ok");

  EXPECT_EQ(ErrorOf("SELECT " + repeat("(", 60) + "1" + repeat(")", 60)), "ok");
  EXPECT_EQ(ErrorOf("SELECT " + repeat("NOT ", 60) + "a"), "ok");
}

TEST(ParserLimitsTest, LongFlatListsAreNotDeep) {
  std::string conditions = "SELECT * FROM t WHERE a = 0";
  for (int i = 1; i < 10'000; ++i) conditions += (i % 2 ? " AND a = " : " OR b = ") + std::to_string(i);
  EXPECT_EQ(ErrorOf(conditions), "ok");
  std::string in_list = "SELECT * FROM t WHERE story_id IN (0";
  for (int i = 1; i < 50'000; ++i) in_list += "," + std::to_string(i);
  EXPECT_EQ(ErrorOf(in_list + ")"), "ok");
}

TEST(ParserLimitsTest, LimitsCanBeSet) {
  ParseLimits limits;
  limits.max_nesting = 3;
  limits.max_expr_depth = 4;
  EXPECT_EQ(ErrorOf("SELECT ((1))", limits), "1:10: nested deeper than 3 levels");
  EXPECT_EQ(ErrorOf("SELECT (1)", limits), "ok");
  EXPECT_EQ(ErrorOf("SELECT 1 + 2 + 3 + 4 + 5", limits), "1:8: expression nested deeper than 4 levels");
  limits = ParseLimits{};
  limits.max_query_bytes = 10;
  auto r = Parse("SELECT 1234", limits);
  EXPECT_EQ(r.status().code(), StatusCode::kTooLarge);
  EXPECT_EQ(r.status().message(), "1:1: query of 11 bytes; the limit is 10");
}

}  // namespace
}  // namespace watershed::query
