// Reads of the Redis live store cost O(limit), not O(stories) (issue #18
// item 4): many stories with one score, a top list asked for a few, and the
// commands Redis ran counted from INFO commandstats on a real server.

#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "serve/redis_live_store.h"
#include "serve/redis_node_client.h"
#include "serve/testing/live_store_conformance.h"
#include "serve/testing/redis_server.h"

namespace watershed::serve {
namespace {

using testing::Agg;

constexpr int kTimeoutMs = 5000;
constexpr uint64_t kStories = 20'000;

class RedisLiveStoreBoundsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start()) << "redis-server did not start on port " << server_.port();
    store_ = NewRedisNodeLiveStore("127.0.0.1", server_.port(), kTimeoutMs);
    auto client = ConnectRedisNode("127.0.0.1", server_.port(), kTimeoutMs);
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    admin_ = std::move(client.value());
  }

  // Commands Redis ran so far (every cmdstat_* calls= of INFO commandstats,
  // but INFO itself), and key lookups (keyspace_hits + keyspace_misses).
  struct Counts {
    uint64_t commands = 0;
    uint64_t key_lookups = 0;
  };
  Counts Count() {
    Counts c;
    auto replies = admin_->Execute({RedisCommand{"", {"INFO", "commandstats"}}, RedisCommand{"", {"INFO", "stats"}}});
    EXPECT_TRUE(replies.ok());
    if (!replies.ok()) return c;
    std::istringstream cmds(replies.value().at(0).str);
    for (std::string line; std::getline(cmds, line);) {
      if (line.rfind("cmdstat_", 0) != 0 || line.rfind("cmdstat_info:", 0) == 0) continue;
      const size_t at = line.find("calls=");
      if (at != std::string::npos) c.commands += std::strtoull(line.c_str() + at + 6, nullptr, 10);
    }
    std::istringstream stats(replies.value().at(1).str);
    for (std::string line; std::getline(stats, line);) {
      for (std::string_view field : {"keyspace_hits:", "keyspace_misses:"})
        if (line.rfind(field, 0) == 0) c.key_lookups += std::strtoull(line.c_str() + field.size(), nullptr, 10);
    }
    return c;
  }

  // Stories 1..kStories in one write, every one with `totals`.
  void WriteStories(Aggregates totals) {
    PartitionWrite w;
    w.region = Region::kUs;
    w.next_offset = 1;
    w.as_of_ms = 1;
    for (uint64_t id = 1; id <= kStories; ++id) w.stories.push_back(StoryUpdate{StoryId(id), AuthorId(id % 7), totals});
    Status s = store_->Apply(w);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  // The ids of a top list, checking it is what MemoryLiveStore answers:
  // ties by numeric id ascending.
  std::vector<uint64_t> TopIds(TopBy by, size_t limit) {
    auto top = store_->TopStoriesOverall(by, limit);
    EXPECT_TRUE(top.ok()) << top.status().ToString();
    std::vector<uint64_t> ids;
    if (top.ok())
      for (const auto& m : top.value()) ids.push_back(m.story.value);
    return ids;
  }

  testing::RedisServer server_;
  std::unique_ptr<RedisLiveStore> store_;
  std::unique_ptr<RedisClient> admin_;
};

std::vector<uint64_t> Range(uint64_t first, uint64_t count) {
  std::vector<uint64_t> out;
  for (uint64_t i = 0; i < count; ++i) out.push_back(first + i);
  return out;
}

// Every story has 0 replies and the same number of views: the attack of the
// issue (`/v1/top?by=replies`) and its tie-only twin (`by=views`). Both must
// answer the lowest ids (numerically: 1..10, not "1", "10", "100", ...) and
// cost a few commands per story returned, whatever the number of stories.
TEST_F(RedisLiveStoreBoundsTest, TiedAndZeroTopListsCostTheLimitNotTheStories) {
  WriteStories(Agg(5, 1, 100, 0, 0));
  for (TopBy by : {TopBy::kReplies, TopBy::kViews}) {
    for (size_t limit : {size_t{1}, size_t{10}, size_t{1000}}) {
      SCOPED_TRACE("by " + std::to_string(static_cast<int>(by)) + " limit " + std::to_string(limit));
      const Counts before = Count();
      EXPECT_EQ(TopIds(by, limit), Range(1, limit));
      const Counts after = Count();
      // A range read and one HGETALL per candidate, twice at most (the
      // positive part, then the zero tail), plus a few reads of the lists.
      EXPECT_LE(after.commands - before.commands, 2 * limit + 6);
      EXPECT_LE(after.key_lookups - before.key_lookups, 2 * limit + 6);
    }
  }
}

// A few stories above a large tie: the answer is those, then the lowest
// tied ids, still at the cost of the limit.
TEST_F(RedisLiveStoreBoundsTest, LeadersThenTheLowestTiedIds) {
  WriteStories(Agg(5, 1, 100, 0, 0));
  PartitionWrite w;
  w.region = Region::kUs;
  w.next_offset = 2;
  for (auto [id, replies] : {std::pair<uint64_t, uint64_t>{19'999, 2}, {12'345, 0}, {7, 1}})
    w.stories.push_back(StoryUpdate{StoryId(id), AuthorId(1), Agg(id, 1, 100, 0, replies)});
  ASSERT_TRUE(store_->Apply(w).ok());
  const Counts before = Count();
  EXPECT_EQ(TopIds(TopBy::kViews, 6), (std::vector<uint64_t>{19'999, 12'345, 7, 1, 2, 3}));
  // Replies: only 19'999 (2) and 7 (1) have any; the rest tie at 0.
  EXPECT_EQ(TopIds(TopBy::kReplies, 5), (std::vector<uint64_t>{19'999, 7, 1, 2, 3}));
  const Counts after = Count();
  EXPECT_LE(after.commands - before.commands, 2 * (6 + 5) + 12);
}

// A creator's list reads the creator's stories with GetStories (pipelined in
// chunks): one HGETALL per story asked, answers in order, absent ones nullopt.
TEST_F(RedisLiveStoreBoundsTest, GetStoriesIsPipelined) {
  WriteStories(Agg(1));
  std::vector<StoryId> ids;
  for (uint64_t id = 1; id <= 5'000; ++id) ids.push_back(StoryId(id * 3));  // some beyond kStories
  const Counts before = Count();
  auto got = store_->GetStories(ids);
  const Counts after = Count();
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got.value().size(), ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    ASSERT_EQ(got.value()[i].has_value(), ids[i].value <= kStories) << ids[i].value;
    if (got.value()[i]) {
      EXPECT_EQ(got.value()[i]->story, ids[i]);
    }
  }
  EXPECT_EQ(after.commands - before.commands, ids.size());
}

}  // namespace
}  // namespace watershed::serve
