// `watershed sql`: answers on a real lake table, JSON and CSV output, EXPLAIN,
// -c / -f / stdin, the shell's \d, and a bad query's exit code 2 with line:column.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "app/commands.h"
#include "app/sql_session.h"
#include "lake/iceberg_commit.h"
#include "lake/testing/lake_table_fixture.h"

namespace watershed::app {
namespace {

class SqlCommandTest : public lake::testing::LakeTableFixture {
 protected:
  void SetUp() override {
    lake::IcebergTable t = CreateTable(lake::LakeTableId::kEvents);
    // Story 1 and other_ sit in different buckets: two files, 30 + 20 events.
    while (lake::testing::BucketOf(other_) == lake::testing::BucketOf(1)) ++other_;
    std::vector<lake::DataFileInfo> files = {
        WriteEvents(lake::LakeTableId::kEvents, "a.parquet", {1}, lake::testing::kBaseMs, 30, true),
        WriteEvents(lake::LakeTableId::kEvents, "b.parquet", {other_}, lake::testing::kBaseMs, 20, true)};
    ASSERT_TRUE(lake::AppendFiles(fs_, &t, files, "sql-test").ok());
  }

  int64_t other_ = 2;
  std::string Other() const { return std::to_string(other_); }

  struct Output {
    int code;
    std::string out, err;
  };
  Output Run(std::vector<std::string> args) {
    args.insert(args.end(), {"--root", dir_.path(), "--region", "eu"});
    ::testing::internal::CaptureStdout();
    ::testing::internal::CaptureStderr();
    const int code = SqlCommand(args);
    std::string out = ::testing::internal::GetCapturedStdout();
    return {code, out, ::testing::internal::GetCapturedStderr()};
  }
};

TEST_F(SqlCommandTest, AnswersAsTableAndJson) {
  Output t = Run({"SELECT story_id, count(*) AS n FROM events GROUP BY story_id ORDER BY story_id"});
  EXPECT_EQ(t.code, 0) << t.err;
  EXPECT_EQ(t.out, "story_id |  n\n---------+---\n       1 | 30\n" + std::string(8 - Other().size(), ' ') + Other() +
                       " | 20\n(2 rows)\n");
  Output j = Run({"SELECT count(*) FROM eu.events WHERE story_id = " + Other(), "--format", "json"});
  EXPECT_EQ(j.code, 0) << j.err;
  EXPECT_EQ(j.out.substr(0, j.out.find(",\"stats\"")),
            "{\"columns\":[{\"name\":\"count(*)\",\"type\":\"BIGINT\"}],\"rows\":[[20]],\"truncated\":false");
}

// query-threads: the same answer with 1 and 3 scan threads; out of range is a usage error.
TEST_F(SqlCommandTest, QueryThreadsSettingGivesTheSameAnswer) {
  const std::string q =
      "SELECT story_id, count(*) AS n, sum(watch_ms) FROM events GROUP BY story_id ORDER BY n LIMIT 1";
  Output one = Run({q, "--query-threads", "1"});
  Output three = Run({q, "--query-threads", "3"});
  EXPECT_EQ(one.code, 0) << one.err;
  EXPECT_EQ(three.code, 0) << three.err;
  EXPECT_EQ(three.out, one.out);
  EXPECT_NE(one.out.find(" | 20 |"), std::string::npos) << one.out;  // the smaller story
  Output bad = Run({q, "--query-threads", "999"});
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("query-threads must be between 0 and 256"), std::string::npos) << bad.err;
}

TEST_F(SqlCommandTest, ExplainShowsPruning) {
  Output e = Run({"EXPLAIN SELECT count(*) FROM events WHERE story_id = " + Other()});
  EXPECT_EQ(e.code, 0) << e.err;
  EXPECT_NE(e.out.find("Pruning eu.events: files 1/2 read"), std::string::npos) << e.out;
}

TEST_F(SqlCommandTest, BadQueryExitsTwoWithPosition) {
  Output u = Run({"SELECT story_id,\n  nope FROM events"});
  EXPECT_EQ(u.code, 2);
  EXPECT_EQ(u.err, "watershed sql: 2:3: unknown column 'nope' in eu.events\n");
  Output p = Run({"SELECT count(*) FORM events"});
  EXPECT_EQ(p.code, 2);
  EXPECT_EQ(p.err.rfind("watershed sql: 1:17: ", 0), 0u) << p.err;
  EXPECT_EQ(Run({"SELECT 1", "--format", "xml"}).code, 2);
  EXPECT_EQ(Run({"SELECT 1", "-c", "SELECT 2"}).code, 2);  // one source of statements
}

TEST_F(SqlCommandTest, CommandRunsEveryStatementAndCsvQuotesPerRfc4180) {
  Output c = Run({"-c",
                  "SELECT count(*) AS n FROM events; SELECT story_id, count(*) AS n FROM events "
                  "GROUP BY story_id ORDER BY story_id;",
                  "--format", "csv"});
  EXPECT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(c.out, "n\r\n50\r\nstory_id,n\r\n1,30\r\n" + Other() + ",20\r\n");
}

// -f: statements in order; the first bad one stops the rest, and its
// position is the file's line and column.
TEST_F(SqlCommandTest, FileRunsStatementsInOrderAndNamesTheFilesPosition) {
  const std::string path = dir_.path() + "/q.sql";
  std::ofstream(path) << "-- two good, one bad\nSELECT count(*) FROM events;\nSELECT count(*) FROM events\n"
                         "  WHERE story_id = 1; SELECT nope\n FROM events;\nSELECT 1 FROM events;\n";
  Output f = Run({"-f", path});
  EXPECT_EQ(f.code, 2);
  EXPECT_EQ(f.out, "count(*)\n--------\n      50\n(1 row)\ncount(*)\n--------\n      30\n(1 row)\n");
  EXPECT_EQ(f.err, "watershed sql: " + path + ":4:30: unknown column 'nope' in eu.events\n");
  EXPECT_EQ(Run({"-f", dir_.path() + "/missing.sql"}).code, 2);
}

// The shell's \\d and \\d NAME run SHOW TABLES and DESCRIBE NAME (so they are governed and audited alike).
TEST_F(SqlCommandTest, ShellListsAndDescribesTables) {
  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  SqlSession session(FileSystem::Default(), dir_.path(), Region::kEu, SqlFormat::kTable, out);
  EXPECT_EQ(session.Run({.text = "SHOW TABLES"}, "\\d"), 0);
  EXPECT_EQ(session.Run({.text = "DESCRIBE eu.events"}, "\\d"), 0);
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(session.Run({.text = "DESCRIBE nope"}, "\\d"), 2);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "watershed sql: \\d:1:1: unknown table 'nope'\n");
  std::rewind(out);
  std::string text;
  for (int c; (c = std::fgetc(out)) != EOF;) text.push_back(static_cast<char>(c));
  std::fclose(out);
  EXPECT_NE(text.find("eu.events"), std::string::npos) << text;
  EXPECT_NE(text.find("\nstory_id "), std::string::npos) << text;
}

// No query and stdin not a terminal: the statements are read from stdin.
TEST_F(SqlCommandTest, StatementsFromStdinWhenItIsNotATerminal) {
  const std::string path = dir_.path() + "/stdin.sql";
  std::ofstream(path) << "SELECT count(*) AS n FROM events WHERE story_id = 1;\nSELECT count(*) AS n FROM events\n";
  const int saved = ::dup(STDIN_FILENO);
  const int fd = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::dup2(fd, STDIN_FILENO), STDIN_FILENO);
  ::close(fd);
  std::clearerr(stdin);
  Output s = Run({"--format", "json"});
  ::dup2(saved, STDIN_FILENO);
  ::close(saved);
  std::clearerr(stdin);
  EXPECT_EQ(s.code, 0) << s.err;
  EXPECT_NE(s.out.find("\"rows\":[[30]]"), std::string::npos) << s.out;
  EXPECT_NE(s.out.find("\"rows\":[[50]]"), std::string::npos) << s.out;
}

}  // namespace
}  // namespace watershed::app
