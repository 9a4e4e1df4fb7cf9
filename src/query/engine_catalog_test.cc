// SHOW TABLES, DESCRIBE and time travel (FOR VERSION AS OF / FOR TIMESTAMP
// AS OF) on the EngineTest lake.

#include <gtest/gtest.h>

#include "query/engine_test_util.h"

namespace watershed::query {
namespace {

TEST_F(EngineTest, ShowTablesAndDescribe) {
  const QueryResult tables = Rows("SHOW TABLES");
  ASSERT_EQ(tables.rows.size(), 1u);
  EXPECT_EQ(tables.names, (std::vector<std::string>{"table", "snapshot_id", "records"}));
  EXPECT_EQ(tables.rows[0][0].s, "eu.events");
  EXPECT_FALSE(tables.rows[0][1].null);
  EXPECT_EQ(tables.rows[0][2].i, static_cast<int64_t>(rows_.size()));
  const QueryResult d = Rows("DESCRIBE events");
  ASSERT_EQ(d.rows.size(), 10u);
  EXPECT_EQ(d.names, (std::vector<std::string>{"column", "type", "partition"}));
  auto row = [&](const std::string& column) {
    for (const auto& r : d.rows)
      if (r[0].s == column) return r;
    ADD_FAILURE() << column;
    return std::vector<Value>(3);
  };
  EXPECT_EQ(row("event_id")[1].s, "UUID");
  EXPECT_TRUE(row("event_id")[2].null);
  EXPECT_EQ(row("event_time")[1].s, "TIMESTAMP");
  EXPECT_EQ(row("event_time")[2].s, "hour");
  EXPECT_EQ(row("story_id")[1].s, "BIGINT");
  EXPECT_EQ(row("story_id")[2].s, "bucket[16]");
  EXPECT_EQ(row("type")[1].s, "VARCHAR");
  EXPECT_EQ(Error("DESCRIBE nope"), "1:1: unknown table 'nope'");
  EXPECT_NE(Error("DESCRIBE us.events").find("does not exist"), std::string::npos);
}

TEST_F(EngineTest, TimeTravelReadsAnOlderSnapshot) {
  const int64_t first = Rows("SHOW TABLES").rows[0][1].i;
  std::map<std::pair<int64_t, int32_t>, std::vector<Planted>> more;
  more[{0, 0}] = {rows_[0], rows_[1], rows_[2]};
  WriteTable(lake::LakeTableId::kEvents, more, 0, "second");
  const int64_t second = Rows("SHOW TABLES").rows[0][1].i;
  ASSERT_NE(first, second);
  const int64_t n = static_cast<int64_t>(rows_.size());
  EXPECT_EQ(Rows("SELECT count(*) FROM events").rows[0][0].i, n + 3);
  EXPECT_EQ(Rows("SELECT count(*) FROM events FOR VERSION AS OF " + std::to_string(first)).rows[0][0].i, n);
  EXPECT_EQ(Rows("SELECT count(*) FROM eu.events FOR VERSION AS OF " + std::to_string(second) + " e").rows[0][0].i,
            n + 3);
  EXPECT_EQ(Rows("SELECT count(*) FROM events FOR TIMESTAMP AS OF '9999-01-01'").rows[0][0].i, n + 3);
  // Pruning works on the old snapshot: 3 of its 48 files.
  EXPECT_NE(ExplainOf("SELECT count(*) FROM events FOR VERSION AS OF " + std::to_string(first) + " WHERE story_id = 7")
                .find("files 3/48 read"),
            std::string::npos);
  EXPECT_EQ(Error("SELECT count(*) FROM events FOR VERSION AS OF 12345"), "1:22: eu.events has no snapshot 12345");
  EXPECT_EQ(Error("SELECT count(*)\n  FROM events FOR TIMESTAMP AS OF '2001-02-03 04:05:06'").substr(0, 87),
            "2:8: eu.events has no snapshot at or before '2001-02-03 04:05:06' (the first is from 20");
}

}  // namespace
}  // namespace watershed::query
