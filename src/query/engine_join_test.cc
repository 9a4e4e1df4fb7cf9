// JOIN (INNER / LEFT, one equality, the right side built as a hash table)
// on the EngineTest lake: events joined with a small raw_events table,
// against DuckDB on the same files, and its errors.

#include <gtest/gtest.h>

#include "query/engine_test_util.h"

namespace watershed::query {
namespace {

class JoinTest : public EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    // raw_events: stories 1..6 and 100 (no match), two hours, a few rows
    // each (some stories twice: a match fans out).
    std::map<std::pair<int64_t, int32_t>, std::vector<Planted>> small;
    for (int64_t story : {1, 2, 3, 3, 5, 6, 100})
      for (int64_t h = 0; h < 2; ++h) {
        Planted p{story, story * 10, 7, (kBaseMs + h * kHourMs) * 1000, 1000 + story + h, story % 2 ? "view" : "share"};
        small[{h, BucketOf(story)}].push_back(p);
      }
    WriteTable(lake::LakeTableId::kRawEvents, small);
  }
};

TEST_F(JoinTest, SameRowsAsDuckDb) {
  const std::vector<std::string> queries = {
      "SELECT e.story_id AS c0, count(*) AS c1, sum(r.watch_ms) AS c2 FROM {T} e JOIN {R} r ON e.story_id = "
      "r.story_id GROUP BY e.story_id",
      "SELECT e.story_id AS c0, count(r.story_id) AS c1, min(r.author_id) AS c2 FROM {T} e LEFT JOIN {R} r ON "
      "r.story_id = e.story_id WHERE e.story_id < 9 GROUP BY e.story_id",
      "SELECT r.type AS c0, e.type AS c1, count(*) AS c2 FROM {T} AS e INNER JOIN {R} AS r ON e.story_id + 1 = "
      "r.story_id + 1 WHERE r.watch_ms > 1002 AND e.watch_ms % 2 = 0 GROUP BY r.type, e.type",
      "SELECT count(*) AS c0 FROM {T} e LEFT JOIN {R} r ON e.story_id = r.story_id WHERE r.story_id IS NULL",
      "SELECT e.watch_ms AS c0, r.author_id AS c1 FROM {T} e JOIN {R} r ON e.story_id = r.story_id WHERE "
      "e.story_id = 5 AND e.watch_ms < 300",
      "SELECT count(*) AS c0 FROM {T} e JOIN {R} r ON e.story_id = r.story_id WHERE e.story_id = -1",
      // The smaller table on the left of an INNER JOIN: it is the one built.
      "SELECT r.story_id AS c0, e.type AS c1, count(*) AS c2, max(e.watch_ms) AS c3 FROM {R} r JOIN {T} e ON "
      "r.story_id = e.story_id WHERE e.watch_ms > 100 GROUP BY r.story_id, e.type",
      "SELECT r.story_id AS c0, count(e.story_id) AS c1 FROM {R} r LEFT JOIN {T} e ON r.story_id = e.story_id "
      "GROUP BY r.story_id",
  };
  for (const std::string& q : queries) ExpectSameAsDuckDb(q);
}

TEST_F(JoinTest, PlanAndErrors) {
  // The left side is still pruned by its own conjuncts; the right side is
  // read whole into memory.
  const std::string plan =
      ExplainOf("SELECT count(*) FROM events e JOIN raw_events r ON e.story_id = r.story_id WHERE e.story_id = 7");
  EXPECT_NE(plan.find("HashJoin INNER eu.raw_events ON e.story_id = r.story_id"), std::string::npos) << plan;
  EXPECT_NE(plan.find("Pruning eu.events: files 3/48 read"), std::string::npos) << plan;
  EXPECT_EQ(Rows("SELECT count(*) FROM events e JOIN raw_events r ON e.story_id = r.story_id WHERE e.story_id = 7")
                .rows[0][0]
                .i,
            0);
  // An INNER JOIN builds the smaller table whichever side it stands on.
  const std::string swapped =
      ExplainOf("SELECT count(*) FROM raw_events r JOIN events e ON r.story_id = e.story_id WHERE e.story_id = 7");
  EXPECT_NE(swapped.find("HashJoin INNER eu.raw_events ON"), std::string::npos) << swapped;
  EXPECT_NE(swapped.find("Pruning eu.events: files 3/48 read"), std::string::npos) << swapped;
  const QueryResult star = Rows("SELECT * FROM raw_events r JOIN events e ON r.story_id = e.story_id LIMIT 1");
  ASSERT_EQ(star.rows.size(), 1u);
  EXPECT_EQ(star.rows[0][2].i, star.rows[0][12].i);      // FROM's table first: r.story_id, then e's columns
  EXPECT_EQ(star.rows[0][3].i, star.rows[0][2].i * 10);  // r.author_id as planted
  // SELECT * is both tables' columns.
  EXPECT_EQ(Rows("SELECT * FROM events e JOIN raw_events r ON e.story_id = r.story_id LIMIT 1").names.size(), 20u);
  EXPECT_EQ(Error("SELECT story_id FROM events e JOIN raw_events r ON e.story_id = r.story_id"),
            "1:8: column 'story_id' is ambiguous (qualify it)");
  EXPECT_EQ(Error("SELECT count(*) FROM events e JOIN raw_events r ON e.story_id < r.story_id"),
            "1:52: JOIN ... ON takes one equality between the two tables (a.x = b.y)");
  EXPECT_EQ(Error("SELECT count(*) FROM events e JOIN raw_events r ON e.story_id = e.author_id"),
            "1:52: JOIN ... ON takes one equality between the two tables (a.x = b.y)");
  EXPECT_EQ(Error("SELECT count(*) FROM events e JOIN raw_events r ON e.story_id = r.type"),
            "1:52: cannot join BIGINT with VARCHAR");
  EXPECT_EQ(Error("SELECT count(*) FROM events e JOIN raw_events r ON e.story_id = x.story_id"),
            "1:65: unknown table 'x'");
  EXPECT_EQ(Error("SELECT count(*) FROM events e JOIN (SELECT 1 AS a) s ON e.story_id = s.a"),
            "1:36: JOIN with a subquery is not supported yet");
}

}  // namespace
}  // namespace watershed::query
