// The embedded feature store: point-in-time features against a truth computed
// independently from the raw events, the bounds, the decay at exact half-lives,
// and the snapshot file (round trip, truncation, damage).

#include "recs/feature_store.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "core/testing/temp_dir.h"
#include "recs/rng.h"

namespace watershed::recs {
namespace {

std::unique_ptr<EmbeddedFeatureStore> NewStore(const FeatureStoreConfig& config) {
  auto store = EmbeddedFeatureStore::Create(config);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return std::move(store).value();
}

// Items 0..items-1 with 1–3 of `tags` tags and one of `authors` authors (0:
// none for every fifth item).
std::map<uint64_t, ItemInfo> PlantedItems(Rng* rng, uint32_t items, uint32_t tags, uint32_t authors) {
  std::map<uint64_t, ItemInfo> out;
  for (uint32_t i = 0; i < items; ++i) {
    ItemInfo info;
    info.created_at_ms = 1'000'000 + i * kHourMs;
    info.author = i % 5 == 0 ? 0 : 1 + rng->Below(authors);
    for (uint32_t k = 0, n = 1 + rng->Below(3); k < n; ++k) {
      const uint32_t tag = rng->Below(tags);
      if (std::find(info.tags.begin(), info.tags.end(), tag) == info.tags.end()) info.tags.push_back(tag);
    }
    out[i] = info;
  }
  return out;
}

// Events sorted by time, many sharing a time (a viewer's events too), weights
// 1–3.
std::vector<FeatureEvent> PlantedEvents(Rng* rng, size_t n, uint32_t viewers, uint32_t items) {
  std::vector<FeatureEvent> out;
  int64_t t = 2'000'000'000;
  for (size_t i = 0; i < n; ++i) {
    if (rng->Below(3) != 0) t += rng->Below(static_cast<uint32_t>(2 * kDayMs));  // else: the same time as before
    out.push_back({rng->Below(viewers), rng->Below(items), t, static_cast<float>(1 + rng->Below(3))});
  }
  return out;
}

double Decay(int64_t dt, int64_t half_life) { return std::exp2(-static_cast<double>(dt) / half_life); }

std::map<uint64_t, double> AsMap(const std::vector<Affinity>& a) {
  std::map<uint64_t, double> m;
  for (const Affinity& x : a) m[x.key] = x.value;
  return m;
}

void ExpectNear(const std::map<uint64_t, double>& got, const std::map<uint64_t, double>& want, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (const auto& [key, value] : want) {
    ASSERT_TRUE(got.count(key)) << what << " key " << key;
    EXPECT_NEAR(got.at(key), value, 1e-9 * std::max(1.0, value)) << what << " key " << key;
  }
}

TEST(FeatureStore, PointInTimeFeaturesMatchATruthFromTheEventsBeforeEachExample) {
  Rng rng(11);
  const auto items = PlantedItems(&rng, 40, 6, 5);
  const std::vector<FeatureEvent> events = PlantedEvents(&rng, 1500, 25, 40);
  FeatureStoreConfig config;
  config.history_length = 7;  // well below a viewer's ~60 events: the bound is exercised
  config.affinity_half_life_ms = 3 * kDayMs;
  config.trending_half_life_ms = 12 * kHourMs;
  auto store = NewStore(config);
  for (const auto& [id, info] : items) ASSERT_TRUE(store->PutItem(id, info).ok());

  struct Example {
    size_t index;
    ViewerFeaturesAt viewer;
    ItemFeaturesAt item;
  };
  std::vector<Example> examples;
  ASSERT_TRUE(ReplayWithFeatures(store.get(), events,
                                 [&](size_t i, const ViewerFeaturesAt& viewer, const ItemFeaturesAt& item) {
                                   examples.push_back({i, viewer, item});
                                 })
                  .ok());
  ASSERT_EQ(examples.size(), events.size());
  size_t same_time_as_an_earlier_event_of_the_viewer = 0;
  for (const auto& [i, viewer, item] : examples) {
    const FeatureEvent& e = events[i];
    const int64_t t = e.time_ms;
    // The truth: sums over the events strictly before t, straight from the list.
    std::vector<HistoryEntry> history;
    std::map<uint64_t, double> tags, authors;
    double day = 0, week = 0, trending = 0;
    uint64_t viewer_events = 0, popularity = 0;
    for (size_t j = 0; j < events.size(); ++j) {
      const FeatureEvent& x = events[j];
      if (x.viewer == e.viewer && x.time_ms == t && j < i) ++same_time_as_an_earlier_event_of_the_viewer;
      if (x.time_ms >= t) continue;
      if (x.item == e.item) {
        ++popularity;
        trending += Decay(t - x.time_ms, config.trending_half_life_ms);
      }
      if (x.viewer != e.viewer) continue;
      history.insert(history.begin(), {x.item, x.time_ms});
      const double w = x.weight * Decay(t - x.time_ms, config.affinity_half_life_ms);
      for (uint32_t tag : items.at(x.item).tags) tags[tag] += w;
      if (items.at(x.item).author != 0) authors[items.at(x.item).author] += w;
      day += Decay(t - x.time_ms, kActivityDayHalfLifeMs);
      week += Decay(t - x.time_ms, kActivityWeekHalfLifeMs);
      ++viewer_events;
    }
    if (history.size() > config.history_length) history.resize(config.history_length);
    SCOPED_TRACE("example " + std::to_string(i));
    EXPECT_EQ(viewer.history, history);
    ExpectNear(AsMap(viewer.tag_affinity), tags, "tags");
    ExpectNear(AsMap(viewer.author_affinity), authors, "authors");
    EXPECT_NEAR(viewer.activity_day, day, 1e-9 * std::max(1.0, day));
    EXPECT_NEAR(viewer.activity_week, week, 1e-9 * std::max(1.0, week));
    EXPECT_EQ(viewer.events, viewer_events);
    EXPECT_EQ(item.popularity, popularity);
    EXPECT_NEAR(item.trending, trending, 1e-9 * std::max(1.0, trending));
    EXPECT_EQ(item.created_at_ms, items.at(e.item).created_at_ms);
    EXPECT_EQ(item.age_ms, t - items.at(e.item).created_at_ms);
    EXPECT_EQ(item.author, items.at(e.item).author);
    EXPECT_EQ(item.tags, items.at(e.item).tags);
  }
  // Ties in time are where leakage would hide: the instance has plenty.
  EXPECT_GT(same_time_as_an_earlier_event_of_the_viewer, 20u);
  EXPECT_EQ(store->watermark(), events.back().time_ms);
}

TEST(FeatureStore, NoFeatureIsServedFromAStateHoldingAnEventAtOrAfterItsTime) {
  auto store = NewStore({});
  ASSERT_TRUE(store->Apply({1, 2, 5000, 1}).ok());
  for (int64_t t : {int64_t{4999}, int64_t{5000}}) {
    EXPECT_EQ(store->Viewer(1, t).status().code(), StatusCode::kFailedPrecondition) << t;
    EXPECT_EQ(store->Item(2, t).status().code(), StatusCode::kFailedPrecondition) << t;
  }
  auto after = store->Viewer(1, 5001);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->events, 1u);
  // Out of order is refused and changes nothing; the same time is in order.
  EXPECT_EQ(store->Apply({1, 3, 4999, 1}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store->Item(3, 5001)->popularity, 0u);
  EXPECT_TRUE(store->Apply({1, 3, 5000, 1}).ok());
  EXPECT_EQ(store->Apply({1, 3, 6000, -1}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store->Apply({1, 3, 6000, NAN}).code(), StatusCode::kInvalidArgument);
  // Replay refuses unsorted input before applying anything.
  auto fresh = NewStore({});
  EXPECT_EQ(ReplayWithFeatures(fresh.get(), {{1, 1, 10, 1}, {1, 1, 9, 1}}, [](auto, auto&, auto&) {}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(fresh->watermark(), INT64_MIN);
}

TEST(FeatureStore, HistoryKeepsTheLastNItemsMostRecentFirst) {
  FeatureStoreConfig config;
  config.history_length = 3;
  auto store = NewStore(config);
  for (uint64_t i = 0; i < 10; ++i) ASSERT_TRUE(store->Apply({7, 100 + i, 1000 + int64_t(i), 1}).ok());
  const std::vector<HistoryEntry> want = {{109, 1009}, {108, 1008}, {107, 1007}};
  EXPECT_EQ(store->Viewer(7, 2000)->history, want);
  EXPECT_EQ(store->Viewer(7, 2000)->events, 10u);
  EXPECT_TRUE(store->Viewer(8, 2000)->history.empty());  // unknown viewer: empty features
}

TEST(FeatureStore, AffinitiesAreBoundedAndTheWeakestEntryMakesRoom) {
  FeatureStoreConfig config;
  config.max_tag_affinities = 2;
  config.max_author_affinities = 1;
  auto store = NewStore(config);
  ASSERT_TRUE(store->PutItem(1, {0, 10, {1}}).ok());
  ASSERT_TRUE(store->PutItem(2, {0, 20, {2}}).ok());
  ASSERT_TRUE(store->PutItem(3, {0, 30, {3}}).ok());
  ASSERT_TRUE(store->Apply({5, 1, 1000, 3}).ok());
  ASSERT_TRUE(store->Apply({5, 2, 1000, 1}).ok());
  ASSERT_TRUE(store->Apply({5, 3, 1000, 2}).ok());  // tag 2 (1) is the weakest; author 20 (the only one) goes
  auto v = store->Viewer(5, 1001);
  ASSERT_TRUE(v.ok());
  ASSERT_EQ(v->tag_affinity.size(), 2u);
  EXPECT_EQ(v->tag_affinity[0].key, 1u);  // strongest first
  EXPECT_EQ(v->tag_affinity[1].key, 3u);
  ASSERT_EQ(v->author_affinity.size(), 1u);
  EXPECT_EQ(v->author_affinity[0].key, 30u);
  // Tags beyond kMaxItemTags and repeated tags are dropped.
  std::vector<uint32_t> many;
  for (uint32_t k = 0; k < 40; ++k) many.push_back(k % 20);
  ASSERT_TRUE(store->PutItem(4, {0, 0, many}).ok());
  EXPECT_EQ(store->Item(4, 1001)->tags.size(), kMaxItemTags);
}

TEST(FeatureStore, DecayIsExactAtWholeHalfLives) {
  FeatureStoreConfig config;
  config.trending_half_life_ms = kHourMs;
  config.affinity_half_life_ms = 2 * kHourMs;
  auto store = NewStore(config);
  ASSERT_TRUE(store->PutItem(1, {0, 9, {4}}).ok());
  ASSERT_TRUE(store->Apply({1, 1, 0, 2}).ok());
  EXPECT_EQ(store->Item(1, kHourMs)->trending, 0.5);
  EXPECT_EQ(store->Item(1, 2 * kHourMs)->trending, 0.25);
  EXPECT_EQ(store->Viewer(1, 2 * kHourMs)->tag_affinity[0].value,
            1.0);  // weight 2, one half-life
  EXPECT_EQ(store->Viewer(1, 4 * kHourMs)->author_affinity[0].value, 0.5);
  EXPECT_EQ(store->Viewer(1, kDayMs)->activity_day, 0.5);
  EXPECT_EQ(store->Viewer(1, 14 * kDayMs)->activity_week, 0.25);
  ASSERT_TRUE(store->Apply({1, 1, kHourMs, 1}).ok());
  EXPECT_EQ(store->Item(1, 2 * kHourMs)->trending, 0.75);  // 0.25 + 0.5
  EXPECT_EQ(store->Item(1, 2 * kHourMs)->popularity, 2u);
  EXPECT_DOUBLE_EQ(store->Viewer(1, 3 * kHourMs)->tag_affinity[0].value, 2 * std::exp2(-1.5) + 0.5);
}

class FeatureStoreSnapshot : public ::testing::Test {
 protected:
  // A store with every kind of state: full and partial rings, evictions, items
  // without events.
  std::unique_ptr<EmbeddedFeatureStore> Planted(const std::vector<FeatureEvent>& events) {
    FeatureStoreConfig config;
    config.history_length = 5;
    config.max_tag_affinities = 3;
    auto store = NewStore(config);
    Rng rng(3);
    for (const auto& [id, info] : PlantedItems(&rng, 50, 8, 6)) EXPECT_TRUE(store->PutItem(id, info).ok());
    for (const FeatureEvent& e : events) EXPECT_TRUE(store->Apply(e).ok());
    return store;
  }
  static void ExpectSame(const EmbeddedFeatureStore& a, const EmbeddedFeatureStore& b, int64_t t) {
    EXPECT_EQ(a.EncodeSnapshot(), b.EncodeSnapshot());
    for (uint64_t id = 0; id < 60; ++id) {
      auto va = a.Viewer(id, t), vb = b.Viewer(id, t);
      ASSERT_TRUE(va.ok() && vb.ok());
      EXPECT_EQ(va->history, vb->history);
      EXPECT_EQ(va->events, vb->events);
      EXPECT_EQ(va->activity_week, vb->activity_week);
      ASSERT_EQ(va->tag_affinity.size(), vb->tag_affinity.size());
      for (size_t k = 0; k < va->tag_affinity.size(); ++k) {
        EXPECT_EQ(va->tag_affinity[k].key, vb->tag_affinity[k].key);
        EXPECT_EQ(va->tag_affinity[k].value, vb->tag_affinity[k].value);
      }
      auto ia = a.Item(id, t), ib = b.Item(id, t);
      EXPECT_EQ(ia->trending, ib->trending);
      EXPECT_EQ(ia->popularity, ib->popularity);
      EXPECT_EQ(ia->tags, ib->tags);
    }
  }
  ::watershed::testing::TempDir dir_{"feature_store"};
  FileSystem* fs_ = FileSystem::Default();
};

TEST_F(FeatureStoreSnapshot, RestoredStoreEqualsTheLiveOneAndKeepsUpdatingAlike) {
  Rng rng(5);
  std::vector<FeatureEvent> events = PlantedEvents(&rng, 800, 30, 45);  // items 45..49: never engaged with
  const std::vector<FeatureEvent> later(events.begin() + 600, events.end());
  events.resize(600);
  auto live = Planted(events);
  const std::string path = dir_.Path("features.snap");
  ASSERT_TRUE(live->SaveSnapshot(fs_, path).ok());
  auto restored = EmbeddedFeatureStore::Restore(fs_, path);
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  EXPECT_EQ((*restored)->num_viewers(), live->num_viewers());
  EXPECT_EQ((*restored)->num_items(), 50u);
  EXPECT_EQ((*restored)->watermark(), live->watermark());
  ExpectSame(*live, **restored, live->watermark() + 1);
  // The rings were restored oldest first: more events rotate both the same way.
  for (const FeatureEvent& e : later) {
    ASSERT_TRUE(live->Apply(e).ok());
    ASSERT_TRUE((*restored)->Apply(e).ok());
  }
  ExpectSame(*live, **restored, live->watermark() + kHourMs);
  // An empty store round-trips too (items known, no events: the watermark is
  // INT64_MIN).
  auto empty = Planted({});
  auto back = EmbeddedFeatureStore::DecodeSnapshot(empty->EncodeSnapshot(), "empty");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ((*back)->EncodeSnapshot(), empty->EncodeSnapshot());
}

TEST_F(FeatureStoreSnapshot, TruncatedOrDamagedFilesAreErrorsNamingTheFile) {
  Rng rng(9);
  auto live = Planted(PlantedEvents(&rng, 200, 10, 50));
  const std::string good = live->EncodeSnapshot();
  const std::string path = dir_.Path("features.snap");
  EXPECT_EQ(EmbeddedFeatureStore::Restore(fs_, path).status().code(), StatusCode::kNotFound);

  auto expect_corrupt = [&](const std::string& bytes, const std::string& says) {
    ASSERT_TRUE(WriteFileAtomically(fs_, path, bytes).ok());
    auto r = EmbeddedFeatureStore::Restore(fs_, path);
    ASSERT_FALSE(r.ok()) << says;
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << says;
    EXPECT_EQ(r.status().message().rfind(path + ": feature-store snapshot ", 0), 0u) << r.status().message();
    EXPECT_NE(r.status().message().find(says), std::string::npos) << r.status().message();
  };
  expect_corrupt("", "truncated: 0 bytes");
  expect_corrupt(good.substr(0, 23), "truncated: 23 bytes");
  expect_corrupt(good.substr(0, good.size() - 1), "is truncated: the header announces");
  expect_corrupt(good + "x", "1 bytes after its end");
  std::string bad = good;
  bad[0] = 'X';
  expect_corrupt(bad, "wrong magic");
  bad = good;
  bad[8] = 3;
  expect_corrupt(bad, "version 3");
  bad = good;
  bad[good.size() / 2] ^= 0x10;
  expect_corrupt(bad, "CRC does not match");

  // Every cut and every flipped byte is an error, never a crash.
  for (size_t n = 0; n < good.size(); ++n)
    EXPECT_FALSE(EmbeddedFeatureStore::DecodeSnapshot(good.substr(0, n), "cut").ok()) << n;
  for (size_t k = 0; k < good.size(); ++k) {
    bad = good;
    bad[k] ^= 0x01;
    EXPECT_FALSE(EmbeddedFeatureStore::DecodeSnapshot(bad, "flipped").ok()) << k;
  }
  ASSERT_TRUE(EmbeddedFeatureStore::DecodeSnapshot(good, "good").ok());
}

TEST(FeatureStore, DatasetItemsAndInteractionsInTheStoresTerms) {
  Dataset d;
  d.items.Intern("a");
  d.items.Intern("b");
  d.features.resize(2);
  d.features[0].author = "17";
  d.features[0].created_at = 100;
  d.features[0].tags = {2, 5};
  d.features[1].author = "not-a-number";
  auto store = NewStore({});
  ASSERT_TRUE(PutDatasetItems(d, store.get()).ok());
  const FeatureEvent e = ToFeatureEvent({3, 1, 2.0f, 50});
  EXPECT_EQ(e.viewer, 3u);
  EXPECT_EQ(e.item, 1u);
  EXPECT_EQ(e.time_ms, 50'000);
  EXPECT_EQ(e.weight, 2.0f);
  auto a = store->Item(0, 200'000);
  EXPECT_EQ(a->author, 17u);
  EXPECT_EQ(a->created_at_ms, 100'000);
  EXPECT_EQ(a->age_ms, 100'000);
  EXPECT_EQ(a->tags, (std::vector<uint32_t>{2, 5}));
  EXPECT_EQ(store->Item(1, 200'000)->author, 0u);
  EXPECT_EQ(store->Item(1, 200'000)->age_ms, -1);
  EXPECT_EQ(EmbeddedFeatureStore::Create({0, 1, 1, 1, 1}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(EmbeddedFeatureStore::Create({1, 1, 1, 0, 1}).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace watershed::recs
