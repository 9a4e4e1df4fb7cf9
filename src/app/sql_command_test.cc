// `watershed sql`: answers on a real lake table, JSON output, EXPLAIN, and a
// bad query's exit code 2 with line:column.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "app/commands.h"
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
            "{\"columns\":[{\"name\":\"count(*)\",\"type\":\"BIGINT\"}],\"rows\":[[20]]");
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
}

}  // namespace
}  // namespace watershed::app
