// The parallel scan (ExecLimits::threads, `query-threads`) and top-N for
// ORDER BY ... LIMIT: the answer, its order and its errors do not depend on
// the number of threads; a LIMIT over a bounded heap gives the rows a full
// stable sort gives, ties included.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "query/engine_test_util.h"

namespace watershed::query {
namespace {

// Queries whose answer could depend on the order units are merged in:
// groups without ORDER BY (first-seen order), ties in ORDER BY with and
// without LIMIT, LIMIT without ORDER BY, DOUBLE sums, distinct counts of
// integers (merged as pairs) and strings, MIN/MAX of strings, a join.
const std::vector<std::string> kOrderSensitive = {
    "SELECT story_id, count(*), sum(watch_ms) FROM events GROUP BY story_id",
    "SELECT author_id, type, count(DISTINCT viewer_id), count(DISTINCT type) "
    "FROM events GROUP BY 1, 2",
    "SELECT story_id, event_time FROM events ORDER BY author_id LIMIT 17",
    "SELECT story_id, event_time FROM events ORDER BY author_id DESC LIMIT 5 "
    "OFFSET 30",
    "SELECT story_id, watch_ms FROM events ORDER BY author_id",
    "SELECT story_id, watch_ms FROM events LIMIT 25",
    "SELECT story_id, watch_ms FROM events WHERE watch_ms > 100 LIMIT 3 OFFSET "
    "2",
    "SELECT sum(watch_ms * 1.1), avg(CAST(watch_ms AS DOUBLE) / 7) FROM events",
    "SELECT author_id, min(type), max(type), approx_count_distinct(viewer_id) "
    "FROM events GROUP BY author_id",
    "SELECT viewer_id, count(*) AS n FROM events GROUP BY viewer_id ORDER BY n "
    "DESC LIMIT 4",
    "SELECT DISTINCT author_id, type FROM events ORDER BY type LIMIT 7",
    "SELECT a.story_id, b.author_id FROM events a JOIN events b ON a.watch_ms "
    "= b.watch_ms WHERE a.story_id < 3",
    "SELECT count(*) FROM events WHERE story_id = -5",
};

TEST_F(EngineTest, AnswerIsTheSameWhateverTheThreads) {
  for (const std::string& q : kOrderSensitive) {
    auto one = Run(q, 1);
    ASSERT_TRUE(one.ok()) << q << ": " << one.status().ToString();
    ASSERT_FALSE(one->result.rows.empty()) << q;
    for (int threads : {2, 3, 8}) {
      auto many = Run(q, threads);
      ASSERT_TRUE(many.ok()) << q << ": " << many.status().ToString();
      EXPECT_EQ(FormatTable(many->result), FormatTable(one->result)) << q << " with " << threads << " threads";
    }
  }
}

TEST_F(EngineTest, EveryFileIsReadOnceWithManyThreads) {
  auto one = Run("SELECT count(*) FROM events", 1);
  auto many = Run("SELECT count(*) FROM events", 4);
  ASSERT_TRUE(one.ok() && many.ok());
  EXPECT_EQ(many->result.rows[0][0].i, static_cast<int64_t>(rows_.size()));
  EXPECT_EQ(many->result.stats.files_read, one->result.stats.files_read);
  EXPECT_EQ(many->result.stats.row_groups_read, one->result.stats.row_groups_read);
  EXPECT_EQ(many->result.stats.rows_scanned, static_cast<int64_t>(rows_.size()));
}

// The first k rows of the full sort, ties in scan order (a stable sort),
// for k below, at and above the ties' run.
TEST_F(EngineTest, TopNIsThePrefixOfTheFullSort) {
  for (const std::string order : {"author_id", "author_id DESC, type", "type DESC NULLS FIRST, watch_ms % 3"}) {
    const std::string q = "SELECT story_id, author_id, type, watch_ms FROM events ORDER BY " + order;
    for (int threads : {1, 3}) {
      auto all = Run(q, threads);
      ASSERT_TRUE(all.ok()) << q << ": " << all.status().ToString();
      for (int64_t k : {1, 7, 200, 5000}) {
        for (int64_t offset : {0, 5}) {
          auto top = Run(q + " LIMIT " + std::to_string(k) + " OFFSET " + std::to_string(offset), threads);
          ASSERT_TRUE(top.ok()) << q;
          QueryResult want = all->result;
          want.rows.erase(want.rows.begin(), want.rows.begin() + std::min<int64_t>(offset, want.rows.size()));
          if (static_cast<int64_t>(want.rows.size()) > k) want.rows.resize(static_cast<size_t>(k));
          EXPECT_EQ(FormatTable(top->result), FormatTable(want)) << q << " LIMIT " << k << " OFFSET " << offset;
        }
      }
    }
  }
}

// An error met while scanning (a CAST out of range, whose message names the
// row's value) is the same with any number of threads: the first failing
// unit's, as one thread meets it.
TEST_F(EngineTest, ErrorIsTheSameWhateverTheThreads) {
  const std::string q =
      "SELECT CAST(watch_ms * 1000000000000000000.0 AS "
      "BIGINT) FROM events WHERE story_id > 40";
  auto one = Run(q, 1);
  ASSERT_FALSE(one.ok());
  for (int threads : {2, 5}) {
    auto many = Run(q, threads);
    ASSERT_FALSE(many.ok());
    EXPECT_EQ(many.status().message(), one.status().message());
  }
}

}  // namespace
}  // namespace watershed::query
