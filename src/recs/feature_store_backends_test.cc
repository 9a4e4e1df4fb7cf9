// One suite, every backend: the embedded store, Redis on a real redis-server,
// Redis Cluster on three real masters. Each answers like a reference
// embedded store fed the same calls, bit for bit; a log range counts once;
// reads at or before the watermark are refused; the viewer bound evicts the
// least recently active.

#include "recs/testing/feature_store_backends.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <thread>

#include "recs/rng.h"

namespace watershed::recs {
namespace {

using testing::Backend;

constexpr uint64_t kItems = 60, kViewers = 45;

FeatureStoreConfig SmallConfig() {
  FeatureStoreConfig c;
  c.history_length = 6;
  c.max_tag_affinities = 4;  // small bounds: eviction of the weakest entry is exercised
  c.max_author_affinities = 3;
  c.affinity_half_life_ms = 2 * kDayMs;
  c.trending_half_life_ms = 6 * kHourMs;
  return c;
}

// Batches of events; within a batch, times go back now and then (late events
// of the online path), and the item's author comes with some events.
std::vector<std::vector<FeatureEvent>> Batches(Rng* rng, size_t batches) {
  std::vector<std::vector<FeatureEvent>> out(batches);
  int64_t t = 1'700'000'000'000;
  for (auto& batch : out) {
    const size_t n = 1 + rng->Below(40);
    for (size_t i = 0; i < n; ++i) {
      t += rng->Below(static_cast<uint32_t>(3 * kHourMs));
      const int64_t time = rng->Below(5) == 0 ? t - rng->Below(static_cast<uint32_t>(kDayMs)) : t;
      const uint64_t item = rng->Below(kItems);
      batch.push_back({rng->Below(kViewers), item, time, static_cast<float>(1 + rng->Below(3)),
                       rng->Below(4) == 0 ? 100 + item % 7 : 0});
    }
  }
  return out;
}

class FeatureStoreBackends : public ::testing::TestWithParam<Backend> {
 protected:
  std::unique_ptr<FeatureStore> New(const FeatureStoreConfig& config) {
    auto store = testing::NewStore(GetParam(), config);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }
  static std::unique_ptr<EmbeddedFeatureStore> Reference(const FeatureStoreConfig& config) {
    return std::move(EmbeddedFeatureStore::Create(config)).value();
  }
};

TEST_P(FeatureStoreBackends, SameAnswersAsTheEmbeddedStoreForTheSameCalls) {
  const FeatureStoreConfig config = SmallConfig();
  auto store = New(config);
  ASSERT_NE(store, nullptr);
  auto want = Reference(config);
  Rng rng(5);
  for (uint64_t i = 0; i < kItems; i += 2) {  // half the items have catalogue features, some from the start
    ItemInfo info{1'600'000'000'000 + static_cast<int64_t>(i),
                  i % 3 == 0 ? 0 : 50 + i % 5,
                  {static_cast<uint32_t>(i % 9), static_cast<uint32_t>(i % 4 + 20)}};
    ASSERT_TRUE(store->PutItem(i, info).ok());
    ASSERT_TRUE(want->PutItem(i, info).ok());
  }
  std::map<uint64_t, uint64_t> popularity, events_of;
  uint64_t offset = 0;
  const auto batches = Batches(&rng, 40);
  for (size_t b = 0; b < batches.size(); ++b) {
    const LogRange range{1, 3, offset, offset + batches[b].size() + 2};  // + records without an event
    ASSERT_TRUE(store->ApplyLogBatch(range, batches[b]).ok());
    ASSERT_TRUE(want->ApplyLogBatch(range, batches[b]).ok());
    offset = range.next_offset;
    for (const auto& e : batches[b]) ++popularity[e.item], ++events_of[e.viewer];
    if (b == 20) {  // a catalogue change half way: later events use the new tags
      for (auto* s : {store.get(), static_cast<FeatureStore*>(want.get())})
        ASSERT_TRUE(s->PutItem(1, {0, 77, {30, 31}}).ok());
    }
  }
  // Strict in-order events after the batches (the training path).
  for (int k = 0; k < 5; ++k) {
    const FeatureEvent e{static_cast<uint64_t>(k), 1, want->watermark() + 1000 * k, 2};
    ASSERT_TRUE(store->Apply(e).ok());
    ASSERT_TRUE(want->Apply(e).ok());
    ++popularity[1], ++events_of[k];
  }
  EXPECT_EQ(store->watermark(), want->watermark());
  testing::ExpectSameFeatures(*want, *store, kViewers, kItems);
  // And against counts taken from the events themselves (so the suite can fail
  // for the embedded backend too).
  const int64_t at = store->watermark() + 1;
  for (const auto& [item, n] : popularity) EXPECT_EQ(store->Item(item, at)->popularity, n) << item;
  for (const auto& [viewer, n] : events_of) EXPECT_EQ(store->Viewer(viewer, at)->events, n) << viewer;
  EXPECT_EQ(store->Item(1, at)->author, 77u);
  auto positions = store->Positions();
  ASSERT_TRUE(positions.ok()) << positions.status().ToString();
  EXPECT_EQ(*positions, (std::vector<LogPosition>{{1, 3, offset}}));
}

TEST_P(FeatureStoreBackends, ALogRangeCountsOnceWhateverIsRetried) {
  auto store = New(SmallConfig());
  ASSERT_NE(store, nullptr);
  const int64_t t = 1'700'000'000'000;
  const std::vector<FeatureEvent> batch = {{1, 2, t, 1}, {1, 3, t + 5, 1}, {4, 2, t + 9, 3}};
  ASSERT_TRUE(store->ApplyLogBatch({0, 0, 0, 10}, batch).ok());
  // The same range again (a retry whose reply was lost), one overlapping it,
  // one skipping ahead, and one from another partition's position.
  for (const LogRange& again : {LogRange{0, 0, 0, 10}, LogRange{0, 0, 5, 15}, LogRange{0, 0, 11, 20}}) {
    Status s = store->ApplyLogBatch(again, batch);
    EXPECT_EQ(s.code(), StatusCode::kFenced) << s.ToString();
  }
  EXPECT_EQ(store->Item(2, t + 10)->popularity, 2u);
  EXPECT_EQ(store->Viewer(1, t + 10)->events, 2u);
  ASSERT_TRUE(store->ApplyLogBatch({0, 0, 10, 12}, {{1, 2, t + 9, 1}}).ok());
  ASSERT_TRUE(store->ApplyLogBatch({0, 1, 0, 1}, {{1, 2, t + 9, 1}}).ok());  // partition 1 starts at 0
  EXPECT_EQ(store->Item(2, t + 10)->popularity, 4u);
  EXPECT_EQ(store->Positions().value(), (std::vector<LogPosition>{{0, 0, 12}, {0, 1, 1}}));
}

// Erasure forgets a viewer's own features; what their events added to items stays; later events count again.
TEST_P(FeatureStoreBackends, AnErasedViewerIsForgottenAndItemsKeepTheirCounts) {
  auto store = New(SmallConfig());
  ASSERT_NE(store, nullptr);
  const int64_t t = 1'700'000'000'000;
  ASSERT_TRUE(store->ApplyLogBatch({0, 0, 0, 3}, {{1, 2, t, 1}, {1, 3, t + 5, 2}, {4, 2, t + 9, 3}}).ok());
  EXPECT_TRUE(store->HoldsViewer(1).value());
  EXPECT_EQ(store->EraseViewer(1).value(), true);
  EXPECT_EQ(store->EraseViewer(1).value(), false);  // again: nothing left
  EXPECT_FALSE(store->HoldsViewer(1).value());
  EXPECT_TRUE(store->HoldsViewer(4).value());
  auto viewer = store->Viewer(1, t + 10);
  ASSERT_TRUE(viewer.ok()) << viewer.status().ToString();
  EXPECT_EQ(viewer->events, 0u);
  EXPECT_TRUE(viewer->history.empty());
  EXPECT_TRUE(viewer->tag_affinity.empty() && viewer->author_affinity.empty());
  EXPECT_EQ(store->Viewer(4, t + 10)->events, 1u);
  EXPECT_EQ(store->Item(2, t + 10)->popularity, 2u);
  ASSERT_TRUE(store->ApplyLogBatch({0, 0, 3, 4}, {{1, 3, t + 11, 1}}).ok());
  EXPECT_EQ(store->Viewer(1, t + 12)->events, 1u);
  EXPECT_EQ(store->Item(3, t + 12)->popularity, 2u);
}

TEST_P(FeatureStoreBackends, NoAnswerAsOfATimeAtOrBeforeTheWatermark) {
  auto store = New(SmallConfig());
  ASSERT_NE(store, nullptr);
  const int64_t t = 1'700'000'000'000;
  ASSERT_TRUE(store->Apply({1, 2, t, 1}).ok());
  for (int64_t at : {t - 1, t}) {
    EXPECT_EQ(store->Viewer(1, at).status().code(), StatusCode::kFailedPrecondition);
    EXPECT_EQ(store->Item(2, at).status().code(), StatusCode::kFailedPrecondition);
  }
  EXPECT_TRUE(store->Viewer(1, t + 1).ok());
  EXPECT_EQ(store->Apply({1, 2, t - 1, 1}).code(),
            StatusCode::kInvalidArgument);  // training path: in order
  EXPECT_EQ(store->Apply({1, 2, t, -1}).code(), StatusCode::kInvalidArgument);
  // The online path takes a late event at its own time.
  ASSERT_TRUE(store->ApplyLogBatch({0, 0, 0, 1}, {{1, 2, t - kDayMs, 1}}).ok());
  EXPECT_EQ(store->watermark(), t);
  EXPECT_EQ(store->Item(2, t + 1)->popularity, 2u);
  // Decayed from its own time: 1 + 2^(-24h / 6h) at t.
  EXPECT_DOUBLE_EQ(store->Item(2, t + 1)->trending, std::exp2(-1.0 / (6 * kHourMs)) * (1 + 1.0 / 16));
}

TEST_P(FeatureStoreBackends, PastTheViewerBoundTheLeastRecentlyActiveGo) {
  FeatureStoreConfig config = SmallConfig();
  config.max_viewers = 32;  // evicts down to 30
  auto store = New(config);
  ASSERT_NE(store, nullptr);
  const int64_t t = 1'700'000'000'000;
  // 32 viewers, viewer v last active at t + 10·(v % 16) (so pairs tie: the
  // smaller id goes first)...
  std::vector<FeatureEvent> batch;
  for (uint64_t v = 0; v < 32; ++v) batch.push_back({v, 1, t + 10 * static_cast<int64_t>(v % 16), 1});
  ASSERT_TRUE(store->ApplyLogBatch({0, 0, 0, 1}, batch).ok());
  for (uint64_t v = 0; v < 32; ++v) EXPECT_EQ(store->Viewer(v, t + 1000)->events, 1u) << v;  // at the bound: kept
  // ...then three more: 35 > 32, so 5 go: the least recent, 0 and 16 (t), 1 and
  // 17 (t + 10), then 2.
  ASSERT_TRUE(store->ApplyLogBatch({0, 0, 1, 2}, {{40, 1, t + 500, 1}, {41, 1, t + 500, 1}, {42, 1, t + 500, 1}}).ok());
  for (uint64_t v : {0, 16, 1, 17, 2}) EXPECT_EQ(store->Viewer(v, t + 1000)->events, 0u) << v << " was kept";
  for (uint64_t v : {18, 3, 15, 31, 40, 42}) EXPECT_EQ(store->Viewer(v, t + 1000)->events, 1u) << v << " was evicted";
  if (auto* redis = dynamic_cast<RedisFeatureStore*>(store.get())) {
    EXPECT_EQ(redis->NumViewers().value(), 30u);
  } else {
    EXPECT_EQ(dynamic_cast<EmbeddedFeatureStore*>(store.get())->num_viewers(), 30u);
  }
  // An evicted viewer that comes back starts afresh.
  ASSERT_TRUE(store->ApplyLogBatch({0, 0, 2, 3}, {{0, 5, t + 600, 1}}).ok());
  EXPECT_EQ(store->Viewer(0, t + 1000)->events, 1u);
}

INSTANTIATE_TEST_SUITE_P(All, FeatureStoreBackends,
                         ::testing::Values(Backend::kEmbedded, Backend::kRedis, Backend::kRedisCluster),
                         [](const auto& info) { return testing::BackendName(info.param); });

// Redis only.
class RedisFeatureStoreTest : public ::testing::Test {};

TEST_F(RedisFeatureStoreTest, AStoreWrittenWithAnotherConfigurationIsRefused) {
  const std::string prefix = testing::FreshPrefix();
  ASSERT_TRUE(testing::OpenRedisStore(Backend::kRedis, SmallConfig(), prefix).ok());
  FeatureStoreConfig other = SmallConfig();
  other.history_length = 7;
  auto reopened = testing::OpenRedisStore(Backend::kRedis, other, prefix);
  ASSERT_EQ(reopened.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(reopened.status().message().find("6,4,3,"), std::string::npos) << reopened.status().message();
  FeatureStoreConfig bounded = SmallConfig();
  bounded.max_viewers = 5;  // an operating bound, not part of the definition: accepted
  EXPECT_TRUE(testing::OpenRedisStore(Backend::kRedis, bounded, prefix).ok());
}

TEST_F(RedisFeatureStoreTest, ABatchIsTwoRoundTripsWhateverItsSize) {
  auto opened = testing::NewStore(Backend::kRedis, SmallConfig());
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  auto* store = dynamic_cast<RedisFeatureStore*>(opened->get());
  Rng rng(9);
  std::vector<FeatureEvent> batch;
  for (int i = 0; i < 2000; ++i) batch.push_back({rng.Below(500), rng.Below(300), 1'700'000'000'000 + i, 1});
  const uint64_t before = store->stats().round_trips;
  ASSERT_TRUE(store->ApplyLogBatch({0, 0, 0, 2000}, batch).ok());
  EXPECT_EQ(store->stats().round_trips - before, 2u);
  EXPECT_EQ(store->NumViewers().value(), [&] {
    std::vector<uint64_t> v;
    for (const auto& e : batch) v.push_back(e.viewer);
    std::sort(v.begin(), v.end());
    return static_cast<uint64_t>(std::unique(v.begin(), v.end()) - v.begin());
  }());
}

TEST_F(RedisFeatureStoreTest, ConcurrentWritersOfOneStoreLoseNothing) {
  const std::string prefix = testing::FreshPrefix();
  const FeatureStoreConfig config = SmallConfig();
  // Two writers (two partitions) over the same viewers and items, each its own
  // connection.
  std::vector<std::unique_ptr<FeatureStore>> writers;
  for (int w = 0; w < 2; ++w) {
    auto s = testing::OpenRedisStore(Backend::kRedis, config, prefix);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    writers.push_back(std::move(s).value());
  }
  constexpr int kBatches = 60;
  std::vector<std::thread> threads;
  for (uint32_t w = 0; w < 2; ++w)
    threads.emplace_back([&, w] {
      for (int b = 0; b < kBatches; ++b) {
        const std::vector<FeatureEvent> batch = {{7, 3, 1'700'000'000'000 + b, 1}, {8, 4, 1'700'000'000'000 + b, 1}};
        EXPECT_TRUE(
            writers[w]->ApplyLogBatch({0, w, static_cast<uint64_t>(b), static_cast<uint64_t>(b + 1)}, batch).ok());
      }
    });
  for (auto& t : threads) t.join();
  const int64_t at = 1'700'000'000'000 + kBatches + 1;
  EXPECT_EQ(writers[0]->Item(3, at)->popularity, 2u * kBatches);
  EXPECT_EQ(writers[0]->Viewer(8, at)->events, 2u * kBatches);
  EXPECT_EQ(writers[1]->Positions().value(), (std::vector<LogPosition>{{0, 0, kBatches}, {0, 1, kBatches}}));
}

}  // namespace
}  // namespace watershed::recs
