#include "serve/redis_live_store.h"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "core/testing/wait.h"
#include "serve/redis_node_client.h"
#include "serve/regional_live_store.h"
#include "serve/testing/live_store_conformance.h"
#include "serve/testing/redis_server.h"

namespace watershed::serve {
namespace {

using testing::Agg;
using testing::DropWrite;
using testing::StoryWrite;
using testing::WindowWrite;

constexpr int kTimeoutMs = 2000;

class RedisLiveStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start()) << "redis-server did not start on port " << server_.port();
    store_ = NewRedisNodeLiveStore("127.0.0.1", server_.port(), kTimeoutMs);
  }

  // One raw command on a fresh connection (for setting up faults).
  RedisReply Raw(std::vector<std::string> args) {
    auto client = ConnectRedisNode("127.0.0.1", server_.port(), kTimeoutMs);
    EXPECT_TRUE(client.ok());
    if (!client.ok()) return {};
    auto replies = client.value()->Execute({RedisCommand{args.size() > 1 ? args[1] : "", std::move(args)}});
    EXPECT_TRUE(replies.ok());
    return replies.ok() ? replies.value().at(0) : RedisReply{};
  }

  void Apply(const PartitionWrite& w) {
    Status s = store_->Apply(w);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  std::optional<StoryMetrics> Story(uint64_t id) {
    auto r = store_->GetStory(StoryId(id));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r.value() : std::nullopt;
  }
  std::vector<SeriesPoint> Series(uint64_t id, WindowSize size = WindowSize::k5s) {
    auto r = store_->GetSeries(StoryId(id), size, INT64_MIN, INT64_MAX);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r.value() : std::vector<SeriesPoint>{};
  }

  testing::RedisServer server_;
  std::unique_ptr<RedisLiveStore> store_;
};

// --- Conformance with MemoryLiveStore -------------------------------------

TEST_F(RedisLiveStoreTest, ConformsToMemoryStoreOnTheMemoryStoreScenarios) {
  for (const auto& scenario : testing::ConformanceScenarios()) {
    SCOPED_TRACE(scenario.name);
    // A fresh namespace per scenario keeps them apart on one server.
    auto redis = NewRedisNodeLiveStore("127.0.0.1", server_.port(), kTimeoutMs,
                                       RedisLiveStoreOptions{"conf-" + scenario.name, 2});
    auto memory = NewMemoryLiveStore();
    testing::LiveStoreComparer comparer(*memory, *redis);
    comparer.ApplyAndCompare(scenario.writes);
    if (HasFailure()) return;
  }
}

// Also with writes below the story's offset (zombies, replays) mixed in:
// both stores refuse the same ones.
TEST_F(RedisLiveStoreTest, ConformsToMemoryStoreOnRandomWrites) {
  for (bool older_writes : {false, true}) {
    for (uint64_t seed = 1; seed <= 6; ++seed) {
      SCOPED_TRACE("seed " + std::to_string(seed) + (older_writes ? " with older writes" : ""));
      auto redis = NewRedisNodeLiveStore(
          "127.0.0.1", server_.port(), kTimeoutMs,
          RedisLiveStoreOptions{(older_writes ? "older" : "rand") + std::to_string(seed), 2});
      auto memory = NewMemoryLiveStore();
      testing::LiveStoreComparer comparer(*memory, *redis);
      comparer.ApplyAndCompare(testing::RandomWrites(seed, 40, older_writes));
      if (HasFailure()) return;
    }
  }
}

// The memory store's hand-checked expectations, against Redis directly (so
// a bug shared by both stores would still show).
TEST_F(RedisLiveStoreTest, HandCheckedAnswers) {
  Apply(StoryWrite(Region::kEu, 5000, 13, 5, Agg(9, 1, 10, 0, 2)));
  Apply(StoryWrite(Region::kUs, 3000, 13, 1, Agg(1, 0, 0, 3, 0)));
  Apply(StoryWrite(Region::kUs, 1, 10, 1, Agg(5, 0, 0, 9, 0)));
  Apply(StoryWrite(Region::kUs, 1, 9, 1, Agg(5)));
  auto m = Story(13);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->totals, Agg(10, 1, 10, 3, 2));
  EXPECT_EQ(m->author, AuthorId(1));  // us is the lowest region
  EXPECT_EQ(m->as_of_ms, 5000);
  auto top = store_->TopStoriesOverall(TopBy::kViews, 10);
  ASSERT_TRUE(top.ok());
  ASSERT_EQ(top->size(), 3u);
  EXPECT_EQ(top.value()[0].story, StoryId(13));
  EXPECT_EQ(top.value()[1].story, StoryId(9));  // ties by id ascending
  EXPECT_EQ(top.value()[2].story, StoryId(10));
  // Replies: only 13 has any; the others follow, worth 0, by id.
  top = store_->TopStoriesOverall(TopBy::kReplies, 10);
  ASSERT_TRUE(top.ok());
  ASSERT_EQ(top->size(), 3u);
  EXPECT_EQ(top.value()[0].story, StoryId(13));
  EXPECT_EQ(top.value()[1].story, StoryId(9));
  EXPECT_EQ(top.value()[2].story, StoryId(10));

  Apply(WindowWrite(Region::kUs, 1, WindowSize::k5s, 0, Agg(2), true));
  Apply(WindowWrite(Region::kEu, 1, WindowSize::k5s, 0, Agg(3), false));
  auto pts = Series(1);
  ASSERT_EQ(pts.size(), 1u);
  EXPECT_EQ(pts[0].agg.views, 5u);
  EXPECT_FALSE(pts[0].final);
  Apply(DropWrite(Region::kEu, {WindowKey{StoryId(1), WindowSize::k5s, 0}}));
  pts = Series(1);
  ASSERT_EQ(pts.size(), 1u);
  EXPECT_EQ(pts[0].agg.views, 2u);
  EXPECT_TRUE(pts[0].final);
}

// --- Writes never go backwards --------------------------------------------

// Processes sharing the store must order region-names alike: the first list is recorded, an extension replaces it,
// a shorter list it extends is fine, another order is refused naming both.
TEST_F(RedisLiveStoreTest, RegionNamesArePinnedInTheStore) {
  ASSERT_TRUE(store_->PinRegionNames("us,eu").ok());
  EXPECT_EQ(Raw({"GET", store_->RegionNamesKey()}).str, "us,eu");
  ASSERT_TRUE(store_->PinRegionNames("us,eu,apac").ok());
  EXPECT_EQ(Raw({"GET", store_->RegionNamesKey()}).str, "us,eu,apac");
  EXPECT_TRUE(store_->PinRegionNames("us").ok());
  EXPECT_TRUE(store_->PinRegionNames("us,eu,apac").ok());
  for (const char* other : {"eu,us,apac", "us,eu,ap", "us,eu,apac2", "use"}) {
    Status s = store_->PinRegionNames(other);
    EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << other;
    EXPECT_NE(s.message().find("(us,eu,apac)"), std::string::npos) << s.ToString();
  }
  EXPECT_EQ(Raw({"GET", store_->RegionNamesKey()}).str, "us,eu,apac");
}

TEST_F(RedisLiveStoreTest, LowerOffsetIsIgnoredEqualIsIdempotentHigherApplies) {
  Apply(StoryWrite(Region::kUs, 2000, 1, 9, Agg(7, 3), /*next_offset=*/100));
  Apply(WindowWrite(Region::kUs, 1, WindowSize::k5s, 0, Agg(7), true, 100));

  // Lower: nothing changes (totals, as_of, author, window, final flag).
  Apply(StoryWrite(Region::kUs, 1000, 1, 4, Agg(5, 2), 99));
  Apply(WindowWrite(Region::kUs, 1, WindowSize::k5s, 0, Agg(5), false, 99));
  auto m = Story(1);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->totals, Agg(7, 3));
  EXPECT_EQ(m->as_of_ms, 2000);
  EXPECT_EQ(m->author, AuthorId(9));
  auto pts = Series(1);
  ASSERT_EQ(pts.size(), 1u);
  EXPECT_EQ(pts[0].agg, Agg(7));
  EXPECT_TRUE(pts[0].final);
  // A lower drop does not remove the newer part either.
  Apply(DropWrite(Region::kUs, {WindowKey{StoryId(1), WindowSize::k5s, 0}}, 50));
  EXPECT_EQ(Series(1).size(), 1u);

  // Equal: re-applying rewrites the same absolute values.
  Apply(StoryWrite(Region::kUs, 2000, 1, 9, Agg(7, 3), 100));
  Apply(StoryWrite(Region::kUs, 2000, 1, 9, Agg(7, 3), 100));
  EXPECT_EQ(Story(1)->totals, Agg(7, 3));
  auto top = store_->TopStoriesOverall(TopBy::kViews, 10);
  ASSERT_TRUE(top.ok());
  ASSERT_EQ(top->size(), 1u);
  EXPECT_EQ(top.value()[0].totals, Agg(7, 3));

  // Another region's offsets are its own.
  Apply(StoryWrite(Region::kEu, 500, 1, 9, Agg(1), 5));
  EXPECT_EQ(Story(1)->totals, Agg(8, 3));

  // Higher: applies, also to a smaller value.
  Apply(StoryWrite(Region::kUs, 3000, 1, 9, Agg(6, 3), 101));
  m = Story(1);
  EXPECT_EQ(m->totals, Agg(7, 3));
  EXPECT_EQ(m->as_of_ms, 3000);
  Apply(DropWrite(Region::kUs, {WindowKey{StoryId(1), WindowSize::k5s, 0}}, 101));
  EXPECT_TRUE(Series(1).empty());
}

// One offset per (story, region) guards everything of the story: a write
// below it is refused whole, even parts the newer write did not carry (a
// deterministic processor never produces that, so nothing real is lost).
TEST_F(RedisLiveStoreTest, AWriteBelowTheStorysOffsetIsRefusedWhole) {
  Apply(StoryWrite(Region::kUs, 1, 1, 9, Agg(3), 100));
  Apply(WindowWrite(Region::kUs, 1, WindowSize::k5s, 5'000, Agg(1), false, 99));
  EXPECT_TRUE(Series(1).empty());
  EXPECT_EQ(Raw({"EXISTS", "ws:{1}:w5s"}).integer, 0);
  // A window-only write at or above it applies and raises the offset.
  Apply(WindowWrite(Region::kUs, 1, WindowSize::k5s, 5'000, Agg(2), false, 120));
  Apply(StoryWrite(Region::kUs, 2, 1, 9, Agg(1), 110));
  EXPECT_EQ(Story(1)->totals, Agg(3));
  EXPECT_EQ(Raw({"HGET", "ws:{1}:s", "n0"}).str, "00000000000000000120");
  // Dropping the last part of a window also removes its start from the index.
  Apply(WindowWrite(Region::kEu, 1, WindowSize::k5s, 5'000, Agg(4), false, 1));
  Apply(DropWrite(Region::kUs, {WindowKey{StoryId(1), WindowSize::k5s, 5'000}}, 121));
  ASSERT_EQ(Series(1).size(), 1u);
  EXPECT_EQ(Series(1)[0].agg, Agg(4));
  Apply(DropWrite(Region::kEu, {WindowKey{StoryId(1), WindowSize::k5s, 5'000}}, 2));
  EXPECT_TRUE(Series(1).empty());
  EXPECT_EQ(Raw({"EXISTS", "ws:{1}:i5s"}).integer, 0);
  EXPECT_EQ(Raw({"EXISTS", "ws:{1}:w5s"}).integer, 0);
}

TEST_F(RedisLiveStoreTest, ProgressIsTheHighestNextOffsetPerPartition) { testing::CheckProgress(*store_); }

TEST_F(RedisLiveStoreTest, OffsetsAboveTwoToThe53AreComparedExactly) {
  const uint64_t big = (uint64_t{1} << 60) + 1;
  Apply(StoryWrite(Region::kUs, 2, 1, 9, Agg(2), big));
  Apply(StoryWrite(Region::kUs, 1, 1, 9, Agg(1), big - 1));  // equal as doubles
  EXPECT_EQ(Story(1)->totals, Agg(2));
  Apply(StoryWrite(Region::kUs, 3, 1, 9, Agg(3), UINT64_MAX));
  EXPECT_EQ(Story(1)->totals, Agg(3));
}

// The old owner of a partition keeps writing after the new owner took over
// (both computing the same deterministic values at each offset); the store
// ends with the newest values whatever the interleaving.
TEST_F(RedisLiveStoreTest, ZombieInterleavingConvergesToTheNewestValues) {
  auto values_at = [](uint64_t offset) { return Agg(offset, offset / 2, offset * 10); };
  auto write_at = [&](uint64_t offset) {
    PartitionWrite w = StoryWrite(Region::kEu, static_cast<int64_t>(offset), 5, 3, values_at(offset), offset);
    w.windows.push_back(WindowUpdate{WindowKey{StoryId(5), WindowSize::k1m, 0}, values_at(offset), offset >= 40});
    return w;
  };
  // New owner restored at offset 20 and runs ahead to 40; the zombie is at 10..30.
  std::vector<uint64_t> order = {20, 10, 25, 12, 30, 14, 40, 30, 16, 35};
  uint64_t newest = 0;
  for (uint64_t off : order) {
    Apply(write_at(off));
    newest = std::max(newest, off);
    auto m = Story(5);
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->totals, values_at(newest)) << "after offset " << off;
    EXPECT_EQ(m->as_of_ms, static_cast<int64_t>(newest));
  }
  auto pts = Series(5, WindowSize::k1m);
  ASSERT_EQ(pts.size(), 1u);
  EXPECT_EQ(pts[0].agg, values_at(40));
  EXPECT_TRUE(pts[0].final);
  auto top = store_->TopStoriesOverall(TopBy::kWatchTime, 1);
  ASSERT_TRUE(top.ok());
  ASSERT_EQ(top->size(), 1u);
  EXPECT_EQ(top.value()[0].totals, values_at(40));
}

TEST_F(RedisLiveStoreTest, OlderWritesNeverUndoNewerOnes) { testing::CheckOlderWritesNeverUndoNewerOnes(*store_); }

// --- Failures ---------------------------------------------------------------

TEST_F(RedisLiveStoreTest, UnreachableIsUnavailableAndTheNextApplyAfterRestartSucceeds) {
  Apply(StoryWrite(Region::kUs, 1, 1, 9, Agg(1), 1));
  const int port = server_.port();
  server_.Kill();

  Status s = store_->Apply(StoryWrite(Region::kUs, 2, 1, 9, Agg(2), 2));
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_FALSE(s.message().empty());
  auto read = store_->GetStory(StoryId(1));
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), StatusCode::kUnavailable);
  auto dial = ConnectRedisNode("127.0.0.1", port, kTimeoutMs);
  ASSERT_FALSE(dial.ok());
  EXPECT_EQ(dial.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(dial.status().message().find("onnection refused"), std::string::npos) << dial.status().ToString();

  ASSERT_TRUE(server_.Start());
  ASSERT_EQ(server_.port(), port);
  // The restarted server is empty (no persistence) and has no script cached:
  // the retried write goes through EVAL and lands.
  Apply(StoryWrite(Region::kUs, 2, 1, 9, Agg(2), 2));
  auto m = Story(1);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->totals, Agg(2));
}

// wait_replicas: a write is acknowledged only once a replica has it (so a
// failover cannot lose it); without the replica, Apply fails and is retried.
TEST_F(RedisLiveStoreTest, WaitReplicasAcknowledgesOnlyReplicatedWrites) {
  RedisLiveStoreOptions options;
  options.wait_replicas = 1;
  options.wait_timeout_ms = 200;
  auto store = NewRedisNodeLiveStore("127.0.0.1", server_.port(), kTimeoutMs, options);
  // No replica yet: refused, and says why.
  Status s = store->Apply(StoryWrite(Region::kUs, 1000, 1, 9, Agg(5, 2), 10));
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_NE(s.message().find("replicas"), std::string::npos) << s.ToString();
  auto replicas = store->ConnectedReplicas();
  ASSERT_TRUE(replicas.ok()) << replicas.status().ToString();
  EXPECT_EQ(*replicas, 0);

  Raw({"CONFIG", "SET", "repl-diskless-sync-delay", "0"});  // the replica's first sync starts at once
  testing::RedisServer replica;
  replica.AddArgs({"--replicaof", "127.0.0.1", std::to_string(server_.port())});
  ASSERT_TRUE(replica.Start());
  // Guard against a hang only: the replica links up within moments.
  // (online: past the initial full sync, so it acknowledges offsets).
  ASSERT_TRUE(watershed::testing::WaitUntil(
      [&] {
        return Raw({"INFO", "replication"}).str.find("state=online") != std::string::npos;
      },
      std::chrono::seconds(10)));
  replicas = store->ConnectedReplicas();
  ASSERT_TRUE(replicas.ok()) << replicas.status().ToString();
  EXPECT_EQ(*replicas, 1);

  // A patient store now (CI machines are slow): the replica must acknowledge.
  options.wait_timeout_ms = 10'000;
  store = NewRedisNodeLiveStore("127.0.0.1", server_.port(), kTimeoutMs, options);
  s = store->Apply(StoryWrite(Region::kUs, 2000, 1, 9, Agg(7, 3), 20));
  ASSERT_TRUE(s.ok()) << static_cast<int>(s.code()) << " " << s.message();
  // Acknowledged means the replica holds it now, not eventually.
  auto on_replica = ConnectRedisNode("127.0.0.1", replica.port(), kTimeoutMs);
  ASSERT_TRUE(on_replica.ok());
  auto replies = (*on_replica)->Execute({RedisCommand{store->StoryKey(StoryId(1)), {"HGET", store->StoryKey(StoryId(1)), "t0"}}});
  ASSERT_TRUE(replies.ok());
  EXPECT_EQ((*replies)[0].str, "7,3,0,0,0");
  EXPECT_GT(store->stats().commands, 2u);  // the WAITs are counted
}

TEST_F(RedisLiveStoreTest, FlushedScriptCacheFallsBackToEval) {
  Apply(StoryWrite(Region::kUs, 1, 1, 9, Agg(1)));
  RedisReply flushed = Raw({"SCRIPT", "FLUSH"});
  ASSERT_EQ(flushed.type, RedisReply::Type::kStatus) << flushed.str;
  const uint64_t before = store_->stats().round_trips;
  Apply(StoryWrite(Region::kUs, 2, 1, 9, Agg(2)));
  EXPECT_EQ(store_->stats().round_trips - before, 3u);  // EVALSHA, EVAL, ZADD
  EXPECT_EQ(Story(1)->totals, Agg(2));
  const uint64_t again = store_->stats().round_trips;
  Apply(StoryWrite(Region::kUs, 3, 1, 9, Agg(3)));
  EXPECT_EQ(store_->stats().round_trips - again, 2u);  // EVAL cached it again
}

TEST_F(RedisLiveStoreTest, ScriptErrorIsInternalWithTheMessage) {
  RedisReply set = Raw({"SET", store_->StoryKey(StoryId(1)), "not a hash"});
  ASSERT_EQ(set.type, RedisReply::Type::kStatus) << set.str;
  Status s = store_->Apply(StoryWrite(Region::kUs, 1, 1, 9, Agg(1)));
  EXPECT_EQ(s.code(), StatusCode::kInternal) << s.ToString();
  EXPECT_NE(s.message().find("WRONGTYPE"), std::string::npos) << s.ToString();
  // Other stories are unaffected.
  Apply(StoryWrite(Region::kUs, 1, 2, 9, Agg(1)));
  EXPECT_TRUE(Story(2).has_value());
}

// --- Layout, amplification, threads -------------------------------------------

TEST_F(RedisLiveStoreTest, KeysOfAStoryShareItsHashTagAndThePrefixIsUsed) {
  auto store = NewRedisNodeLiveStore("127.0.0.1", server_.port(), kTimeoutMs, RedisLiveStoreOptions{"tenant", 1});
  EXPECT_EQ(store->StoryKey(StoryId(42)), "tenant:{42}:s");
  EXPECT_EQ(store->WindowKeyName(StoryId(42), WindowSize::k5s), "tenant:{42}:w5s");
  EXPECT_EQ(store->WindowKeyName(StoryId(42), WindowSize::k1m), "tenant:{42}:w1m");
  EXPECT_EQ(store->WindowIndexKeyName(StoryId(42), WindowSize::k5s), "tenant:{42}:i5s");
  EXPECT_EQ(store->WindowIndexKeyName(StoryId(42), WindowSize::k1m), "tenant:{42}:i1m");
  EXPECT_EQ(store->RankKey(TopBy::kWatchTime), "tenant:rank:watch_time_ms");
  EXPECT_EQ(store->StoriesKey(), "tenant:stories");
  ASSERT_TRUE(store->Apply(StoryWrite(Region::kUs, 1, 42, 7, Agg(1))).ok());
  EXPECT_EQ(Raw({"EXISTS", "tenant:{42}:s"}).integer, 1);
  EXPECT_EQ(Raw({"ZSCORE", "tenant:rank:views", "18446744073709551573"}).str, "1");  // UINT64_MAX - 42
  EXPECT_EQ(Raw({"ZCARD", "tenant:rank:shares"}).integer, 0);                        // worth 0: not listed
  EXPECT_EQ(Raw({"ZSCORE", "tenant:stories", "00000000000000000042"}).str, "0");
  EXPECT_EQ(Raw({"EXISTS", "ws:{42}:s"}).integer, 0);
}

TEST_F(RedisLiveStoreTest, CommandsPerWrite) {
  // One story with two windows, worth something in views only: 1 script + the
  // views list + the stories index + progress.
  PartitionWrite w = StoryWrite(Region::kUs, 1, 1, 9, Agg(3), 1);
  w.windows.push_back(WindowUpdate{WindowKey{StoryId(1), WindowSize::k5s, 0}, Agg(3), false});
  w.windows.push_back(WindowUpdate{WindowKey{StoryId(1), WindowSize::k1m, 0}, Agg(3), false});
  Apply(w);  // loads the script
  auto before = store_->stats();
  Apply(w);
  auto after = store_->stats();
  EXPECT_EQ(after.commands - before.commands, 4u);
  EXPECT_EQ(after.round_trips - before.round_trips, 2u);

  // A batch: 50 stories of 5 authors, each with a 5 s window and every metric.
  PartitionWrite batch;
  batch.next_offset = 2;
  for (uint64_t s = 100; s < 150; ++s) {
    batch.stories.push_back(StoryUpdate{StoryId(s), AuthorId(s % 5), Agg(s, 1, s, 1, 1)});
    batch.windows.push_back(WindowUpdate{WindowKey{StoryId(s), WindowSize::k5s, 0}, Agg(s), false});
  }
  before = store_->stats();
  Apply(batch);
  after = store_->stats();
  EXPECT_EQ(after.commands - before.commands, 50u + 5u + 1u + 1u);  // scripts, 5 lists, index, progress
  EXPECT_EQ(after.round_trips - before.round_trips, 2u);

  // Records that changed nothing (all duplicates) still move the progress: one command.
  PartitionWrite empty;
  empty.next_offset = 3;
  before = store_->stats();
  Apply(empty);
  after = store_->stats();
  EXPECT_EQ(after.commands - before.commands, 1u);
  EXPECT_EQ(after.round_trips - before.round_trips, 1u);
  EXPECT_EQ(Raw({"ZSCORE", "ws:progress", "0:0"}).str, "3");
}

TEST_F(RedisLiveStoreTest, ConcurrentWritersAndReadersAgreeWithTheMemoryStore) {
  constexpr int kThreads = 4;
  // Each thread owns one region (offsets rise per region), so the final
  // state is the same as applying every write to the memory store.
  std::vector<std::vector<PartitionWrite>> per_thread(kThreads);
  auto memory = NewMemoryLiveStore();
  for (int t = 0; t < kThreads; ++t) {
    uint64_t offset = 0;
    for (auto& w : testing::RandomWrites(100 + static_cast<uint64_t>(t), 30)) {
      w.region = static_cast<Region>(t % RegionCount());
      w.next_offset = ++offset;
      per_thread[t].push_back(w);
    }
  }
  // Two threads share a region: give them disjoint stories so the result is order-independent.
  for (auto& w : per_thread[kThreads - 1]) {
    for (auto& u : w.stories) u.story.value += 1000;
    for (auto& u : w.windows) u.key.story.value += 1000;
    for (auto& k : w.dropped_windows) k.story.value += 1000;
  }
  for (int t = 0; t < kThreads; ++t)
    for (const auto& w : per_thread[t]) ASSERT_TRUE(memory->Apply(w).ok());

  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (const auto& w : per_thread[t]) {
        if (!store_->Apply(w).ok()) ++failures;
        if (!store_->TopStoriesOverall(TopBy::kViews, 3).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  for (uint64_t id = 1; id <= 8; ++id) {
    EXPECT_EQ(testing::Describe(memory->GetStory(StoryId(id))), testing::Describe(store_->GetStory(StoryId(id))));
    EXPECT_EQ(testing::Describe(memory->GetStory(StoryId(id + 1000))),
              testing::Describe(store_->GetStory(StoryId(id + 1000))));
    EXPECT_EQ(testing::Describe(memory->GetSeries(StoryId(id), WindowSize::k5s, INT64_MIN, INT64_MAX)),
              testing::Describe(store_->GetSeries(StoryId(id), WindowSize::k5s, INT64_MIN, INT64_MAX)));
  }
  EXPECT_EQ(testing::Describe(memory->TopStoriesOverall(TopBy::kViews, 100)),
            testing::Describe(store_->TopStoriesOverall(TopBy::kViews, 100)));
  EXPECT_EQ(testing::Describe(memory->TopStoriesOverall(TopBy::kShares, 100)),
            testing::Describe(store_->TopStoriesOverall(TopBy::kShares, 100)));
}

// Per-region stores on two Redis servers (live-store.eu = redis://B): a region's writes reach only its server,
// whose keys hold only that region's fields, and reads add the two servers' parts up.
TEST(RedisRegionalLiveStoreTest, EachRegionsWritesReachOnlyItsOwnRedis) {
  testing::RedisServer us_server, eu_server;
  ASSERT_TRUE(us_server.Start() && eu_server.Start());
  auto us = NewRedisNodeLiveStore("127.0.0.1", us_server.port(), kTimeoutMs);
  auto eu = NewRedisNodeLiveStore("127.0.0.1", eu_server.port(), kTimeoutMs);
  RegionalLiveStore store({us.get(), eu.get(), nullptr});
  ASSERT_TRUE(store.Apply(StoryWrite(Region::kUs, 100, 7, 3, Agg(5, 2, 100, 1, 0), 11)).ok());
  ASSERT_TRUE(store.Apply(StoryWrite(Region::kEu, 300, 7, 3, Agg(3, 1, 50, 0, 2), 22)).ok());
  ASSERT_TRUE(store.Apply(WindowWrite(Region::kEu, 7, WindowSize::k5s, 5000, Agg(3), true, 22)).ok());

  auto fields = [&](int port, const std::string& key) {
    auto client = ConnectRedisNode("127.0.0.1", port, kTimeoutMs);
    EXPECT_TRUE(client.ok());
    std::vector<std::string> out;
    if (!client.ok()) return out;
    auto replies = client.value()->Execute({RedisCommand{key, {"HKEYS", key}}});
    EXPECT_TRUE(replies.ok());
    if (replies.ok())
      for (const auto& e : replies.value().at(0).elements) out.push_back(e.str);
    std::sort(out.begin(), out.end());
    return out;
  };
  EXPECT_EQ(fields(us_server.port(), us->StoryKey(StoryId(7))), (std::vector<std::string>{"a0", "n0", "o0", "t0"}));
  EXPECT_EQ(fields(eu_server.port(), eu->StoryKey(StoryId(7))), (std::vector<std::string>{"a1", "n1", "o1", "t1"}));
  EXPECT_TRUE(fields(us_server.port(), us->WindowKeyName(StoryId(7), WindowSize::k5s)).empty());
  EXPECT_EQ(fields(eu_server.port(), eu->WindowKeyName(StoryId(7), WindowSize::k5s)),
            (std::vector<std::string>{"5000:1"}));

  auto sum = store.GetStory(StoryId(7));
  ASSERT_TRUE(sum.ok() && sum->has_value()) << sum.status().ToString();
  EXPECT_EQ((*sum)->totals, Agg(8, 3, 150, 1, 2));
  auto parts = store.GetStoryRegions(StoryId(7));
  ASSERT_TRUE(parts.ok());
  ASSERT_TRUE((*parts)[0] && (*parts)[1]);
  EXPECT_EQ((*parts)[1]->totals, Agg(3, 1, 50, 0, 2));
  auto progress = store.GetProgress();
  ASSERT_TRUE(progress.ok());
  ASSERT_EQ(progress->size(), 2u);
  EXPECT_EQ((*progress)[0], (PartitionProgress{Region::kUs, 0, 11}));
  EXPECT_EQ((*progress)[1], (PartitionProgress{Region::kEu, 0, 22}));
  // Each server's top list ranks its own region's values; the regional one their sums.
  auto top_eu = eu->TopStoriesOverall(TopBy::kViews, 5);
  ASSERT_TRUE(top_eu.ok() && top_eu->size() == 1u);
  EXPECT_EQ((*top_eu)[0].totals.views, 3u);
  auto top = store.TopStoriesOverall(TopBy::kViews, 5);
  ASSERT_TRUE(top.ok() && top->size() == 1u);
  EXPECT_EQ((*top)[0].totals.views, 8u);
}

// A Redis written before stores were per region holds every region's parts in one key space: it stays readable
// as the store of every region (live-store alone), and each region's part is read apart.
TEST_F(RedisLiveStoreTest, AStoreHoldingEveryRegionAnswersEachRegionsPart) {
  Apply(StoryWrite(Region::kUs, 100, 7, 3, Agg(5, 2)));
  Apply(StoryWrite(Region::kApac, 200, 7, 3, Agg(1, 1)));
  RegionalLiveStore store({store_.get(), store_.get(), store_.get()});
  auto parts = store.GetStoryRegions(StoryId(7));
  ASSERT_TRUE(parts.ok());
  ASSERT_TRUE((*parts)[0] && (*parts)[2]);
  EXPECT_FALSE((*parts)[1]);
  EXPECT_EQ((*parts)[0]->totals, Agg(5, 2));
  EXPECT_EQ((*parts)[2]->totals, Agg(1, 1));
  EXPECT_EQ((*parts)[2]->as_of_ms, 200);
  auto sum = store.GetStory(StoryId(7));
  ASSERT_TRUE(sum.ok() && sum->has_value());
  EXPECT_EQ((*sum)->totals, Agg(6, 3));
}

}  // namespace
}  // namespace watershed::serve
