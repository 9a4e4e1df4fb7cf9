// No train/serve skew in the ranker's features (ranker_features.h): the
// features training takes point in time at t equal, bit for bit, those serving
// reads at t from a store of each backend (embedded, Redis, Redis Cluster) fed
// the same events up to t through the online path (ApplyLogBatch) — and differ
// once events at t are in the store, so the check can fail.

#include "recs/ranker_features.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "recs/rng.h"
#include "recs/testing/feature_store_backends.h"

namespace watershed::recs {
namespace {

using testing::Backend;

constexpr uint64_t kViewers = 12, kItems = 30;
constexpr int64_t kStart = 1'700'000'000'000;

struct World {
  std::vector<ItemInfo> items;
  std::vector<FeatureEvent> events;  // sorted by time, some sharing a time
};

World MakeWorld(uint64_t seed) {
  Rng rng(seed);
  World w;
  for (uint64_t i = 0; i < kItems; ++i) {
    ItemInfo info;
    info.created_at_ms = i % 4 == 0 ? 0 : kStart - static_cast<int64_t>(rng.Below(400)) * kDayMs;
    info.author = i % 5 == 0 ? 0 : 700 + i % 6;
    for (uint32_t t = 0; t < 1 + rng.Below(3); ++t) info.tags.push_back(rng.Below(9));
    w.items.push_back(info);
  }
  int64_t t = kStart;
  for (int k = 0; k < 400; ++k) {
    if (rng.Below(3) != 0) t += rng.Below(static_cast<uint32_t>(9 * kHourMs));
    w.events.push_back({rng.Below(kViewers), rng.Below(kItems), t, static_cast<float>(1 + rng.Below(3)), 0});
  }
  return w;
}

// Feeds `store` the items and the events before `until` (or up to and including
// it) as the online consumer does: log ranges of up to 32 events, one
// partition.
void Feed(FeatureStore* store, const World& w, int64_t until, bool including) {
  for (uint64_t i = 0; i < kItems; ++i) ASSERT_TRUE(store->PutItem(i, w.items[i]).ok());
  std::vector<FeatureEvent> batch;
  uint64_t offset = 0;
  const auto flush = [&] {
    if (batch.empty()) return;
    const LogRange range{0, 0, offset, offset + batch.size()};
    const Status s = store->ApplyLogBatch(range, batch);
    ASSERT_TRUE(s.ok()) << s.ToString();
    offset += batch.size();
    batch.clear();
  };
  for (const FeatureEvent& e : w.events) {
    if (e.time_ms > until || (e.time_ms == until && !including)) break;
    batch.push_back(e);
    if (batch.size() == 32) flush();
  }
  flush();
}

class RankerFeaturesBackends : public ::testing::TestWithParam<Backend> {};

TEST_P(RankerFeaturesBackends, TrainingFeaturesAtTEqualServingFeaturesOfAStoreFedTheEventsUpToT) {
  const World w = MakeWorld(7);
  // Cut times: event times (events at the cut itself are not before it), and
  // times between events.
  std::vector<int64_t> cuts = {w.events[40].time_ms, w.events[150].time_ms + 1, w.events[260].time_ms,
                               w.events[399].time_ms + kHourMs};
  Rng rng(11);
  std::vector<RankerQuery> queries;
  for (int64_t t : cuts) {
    for (int k = 0; k < 25; ++k)
      queries.push_back({rng.Below(kViewers), rng.Below(kItems), t, static_cast<float>(rng.Below(1000)) / 500 - 1});
    for (uint64_t item = 0; item < 9; ++item)  // a viewer's candidates at one time: answered as one group
      queries.push_back({3, item * 3, t, static_cast<float>(item) / 9});
  }

  // Training: one point-in-time pass over every event.
  auto replay = EmbeddedFeatureStore::Create({}).value();
  for (uint64_t i = 0; i < kItems; ++i) ASSERT_TRUE(replay->PutItem(i, w.items[i]).ok());
  std::vector<RankerFeatureVector> training;
  ASSERT_TRUE(PointInTimeRankerFeatures(replay.get(), w.events, queries, &training).ok());

  size_t differing_with_events_at_t = 0, nonzero_affinities = 0;
  for (int64_t t : cuts) {
    auto store = testing::NewStore(GetParam(), {});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    Feed(store->get(), w, t, false);
    auto leaky = testing::NewStore(GetParam(), {});
    ASSERT_TRUE(leaky.ok()) << leaky.status().ToString();
    Feed(leaky->get(), w, t, true);
    for (size_t q = 0; q < queries.size(); ++q) {
      if (queries[q].time_ms != t) continue;
      const uint64_t item[] = {queries[q].item};
      const float score[] = {queries[q].two_tower};
      auto serving = ServingRankerFeatures(**store, queries[q].viewer, item, score, t);
      ASSERT_TRUE(serving.ok()) << serving.status().ToString();
      for (size_t f = 0; f < kRankerFeatures; ++f)
        EXPECT_EQ((*serving)[0][f], training[q][f]) << "query " << q << " feature " << kRankerFeatureNames[f];
      nonzero_affinities += training[q][4] > 0 || training[q][5] > 0;
      // A store holding the events at t answers only after t; its features
      // differ for some query.
      auto later = ServingRankerFeatures(**leaky, queries[q].viewer, item, score, t + 1);
      ASSERT_TRUE(later.ok()) << later.status().ToString();
      differing_with_events_at_t += (*later)[0] != training[q];
    }
  }
  EXPECT_GT(nonzero_affinities,
            20u);  // the affinity features are exercised, not all zero
  EXPECT_GT(differing_with_events_at_t, 0u);
  // The store refuses to serve a time it holds events at or after (never
  // features from the future).
  auto store = testing::NewStore(GetParam(), {});
  ASSERT_TRUE(store.ok());
  Feed(store->get(), w, cuts[0], true);
  const uint64_t item[] = {1};
  const float score[] = {0};
  EXPECT_EQ(ServingRankerFeatures(**store, 1, item, score, cuts[0]).status().code(), StatusCode::kFailedPrecondition);
}

INSTANTIATE_TEST_SUITE_P(All, RankerFeaturesBackends,
                         ::testing::Values(Backend::kEmbedded, Backend::kRedis, Backend::kRedisCluster),
                         [](const auto& info) { return testing::BackendName(info.param); });

}  // namespace
}  // namespace watershed::recs
