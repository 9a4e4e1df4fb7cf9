// What `watershed sql` and POST /v1/query write: statements split out of a
// text with their positions, JSON in pieces, CSV per RFC 4180.

#include <gtest/gtest.h>
#include <simdjson.h>

#include <memory>
#include <string>

#include "query/result_format.h"
#include "query/run.h"
#include "query/statements.h"

namespace watershed::query {
namespace {

TEST(SplitSqlTest, SplitsAtSemicolonsOutsideStringsNamesAndComments) {
  SplitStatements s = SplitSql("SELECT 'a;b' FROM t; -- c;\nSELECT \"x;\" /* ; */ FROM u;\n;  \n  SELECT 3");
  ASSERT_EQ(s.complete.size(), 2u);
  EXPECT_EQ(s.complete[0].text, "SELECT 'a;b' FROM t");
  EXPECT_EQ(s.complete[1].text, " -- c;\nSELECT \"x;\" /* ; */ FROM u");
  EXPECT_EQ(s.complete[1].line, 1);
  EXPECT_EQ(s.complete[1].column, 21);
  EXPECT_FALSE(s.rest_blank);
  EXPECT_EQ(s.rest.line, 3);
  EXPECT_EQ(s.rest.text, "  \n  SELECT 3");
  SplitStatements blank = SplitSql("SELECT 1; -- done\n/* really */");
  EXPECT_EQ(blank.complete.size(), 1u);
  EXPECT_TRUE(blank.rest_blank);
  // Unfinished: a string still open holds its ';'.
  SplitStatements open = SplitSql("SELECT 'a;");
  EXPECT_TRUE(open.complete.empty());
  EXPECT_FALSE(open.rest_blank);
}

// A statement's errors point into the whole text: line and column (in
// characters) of the file, not of the statement.
TEST(SplitSqlTest, PositionsOfLaterStatementsAreThoseOfTheWholeText) {
  SplitStatements s = SplitSql("SELECT 1;\n-- é\n  SELECT count(*) FORM events;");
  ASSERT_EQ(s.complete.size(), 2u);
  Catalog catalog(FileSystem::Default(), "/nonexistent", Region::kEu);
  auto r = RunSql(s.complete[1].Positioned(), catalog);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().rfind("3:19: ", 0), 0u) << r.status().message();
  SplitStatements u = SplitSql("SELECT 'é'; SELECT count(*) FORM events");
  auto r2 = RunSql(u.rest.Positioned(), catalog);
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.status().message().rfind("1:29: ", 0), 0u) << r2.status().message();
}

QueryResult Sample() {
  QueryResult r;
  r.names = {"s", "n", "t"};
  r.types = {ColumnType::kString, ColumnType::kBigint, ColumnType::kTimestamp};
  auto row = [](std::string s, bool null_s, int64_t n, int64_t t) {
    std::vector<Value> v(3);
    v[0].s = std::move(s);
    v[0].null = null_s;
    v[1].i = n;
    v[2].i = t;
    return v;
  };
  r.rows.push_back(row("plain", false, 1, 0));
  r.rows.push_back(row("a,b \"q\"\r\nline", false, -2, 1'500'000));
  r.rows.push_back(row("", false, 3, 0));
  r.rows.push_back(row("", true, 4, 0));
  r.stats.files_read = 7;
  return r;
}

TEST(CsvTest, QuotesPerRfc4180AndTellsEmptyFromNull) {
  QueryResult r = Sample();
  std::string out;
  AppendCsvHeader(r, &out);
  for (size_t i = 0; i < r.rows.size(); ++i) AppendCsvRow(r, i, &out);
  EXPECT_EQ(out,
            "s,n,t\r\n"
            "plain,1,1970-01-01 00:00:00\r\n"
            "\"a,b \"\"q\"\"\r\nline\",-2,1970-01-01 00:00:01.500000\r\n"
            "\"\",3,1970-01-01 00:00:00\r\n"
            ",4,1970-01-01 00:00:00\r\n");
}

TEST(JsonResultWriterTest, PiecesMakeOneDocumentAndTruncationIsFlagged) {
  auto r = std::make_shared<const QueryResult>(Sample());
  for (int64_t max_rows : {2, 100}) {
    JsonResultWriter w(r, max_rows, 1.5);
    std::string all;
    int pieces = 0;
    for (bool more = true; more; ++pieces) {
      std::string piece;
      more = w.Next(&piece, 1);  // one row per piece
      all += piece;
    }
    EXPECT_GE(pieces, 2);
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    ASSERT_EQ(parser.parse(all).get(root), simdjson::SUCCESS) << all;
    EXPECT_EQ(root["rows"].get_array().size(), static_cast<size_t>(std::min<int64_t>(max_rows, 4)));
    EXPECT_EQ(root["truncated"].get_bool().value(), max_rows == 2);
    EXPECT_EQ(root["stats"]["files_read"].get_int64().value(), 7);
    EXPECT_EQ(std::string(root["rows"].at(1).at(0).get_string().value()), "a,b \"q\"\r\nline");
    if (max_rows == 100) {
      EXPECT_TRUE(root["rows"].at(3).at(0).is_null());
    }
  }
}

// A reader slower than the query's deadline gets what was written so far,
// as a whole document flagged truncated and timed out.
TEST(JsonResultWriterTest, PastItsDeadlineTheDocumentEndsFlagged) {
  auto r = std::make_shared<const QueryResult>(Sample());
  JsonResultWriter w(r, 100, 1.5);
  std::string all;
  ASSERT_TRUE(w.Next(&all, 1));  // the header
  ASSERT_TRUE(w.Next(&all, 1));  // one row, in time
  w.SetDeadline(std::chrono::steady_clock::now() - std::chrono::seconds(1));
  std::string rest;
  EXPECT_FALSE(w.Next(&rest, 1));  // ends at once
  all += rest;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(all).get(root), simdjson::SUCCESS) << all;
  EXPECT_EQ(root["rows"].get_array().size(), 1u);
  EXPECT_TRUE(root["truncated"].get_bool().value());
  EXPECT_TRUE(root["timed_out"].get_bool().value());
}

}  // namespace
}  // namespace watershed::query
