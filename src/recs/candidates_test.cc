// Candidate generation (recs/candidates.h) on the planted benchmark: a BPR
// model's item embeddings in the HNSW index, the training interactions in an
// embedded feature store, the catalogue's genres as tags.

#include "recs/candidates.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "recs/bpr.h"
#include "recs/planted_fixture.h"

namespace watershed::recs {
namespace {

// Just after the planted interactions (2000-01-01 + 3 years).
constexpr int64_t kNow = (946684800LL + 3 * 365 * 86400) * 1000 + kHourMs;

struct World {
  Bench b;
  std::optional<BprModel> bpr;
  std::unique_ptr<EmbeddedFeatureStore> store;
  std::vector<CatalogItem> catalog;
  std::shared_ptr<AnnIndex> index;
  std::vector<std::vector<uint64_t>> train_items;  // per user
};

std::unique_ptr<EmbeddedFeatureStore> StoreOf(const Dataset& d, std::vector<Interaction> xs) {
  // The planted interactions span three years: trending decays with a half-life
  // of a year here.
  auto store = EmbeddedFeatureStore::Create({.trending_half_life_ms = 365 * kDayMs}).value();
  EXPECT_TRUE(PutDatasetItems(d, store.get()).ok());
  std::stable_sort(xs.begin(), xs.end(), [](auto& a, auto& b) { return a.timestamp < b.timestamp; });
  for (const Interaction& x : xs) EXPECT_TRUE(store->Apply(ToFeatureEvent(x)).ok());
  return store;
}

World Make(double in_cluster) {
  World w;
  w.b = Planted(in_cluster);
  const Dataset& d = w.b.data;
  BprConfig bc;
  bc.training.max_epochs = 15;
  w.bpr.emplace(BprModel::Train(d.num_users(), d.num_items(), w.b.split.train, bc));
  w.store = StoreOf(d, w.b.split.train);
  std::vector<uint64_t> ids(d.num_items());
  for (uint32_t i = 0; i < d.num_items(); ++i) {
    ids[i] = i;
    CatalogItem c{.id = i};
    c.info.tags = d.features[i].tags;
    c.info.created_at_ms = d.features[i].created_at * 1000;
    // Items 200..219 were created an hour ago: the fresh ones.
    if (i >= 200 && i < 220) c.info.created_at_ms = kNow - kHourMs;
    w.catalog.push_back(c);
  }
  w.index = AnnIndex::Build(bc.factors, ids, w.bpr->item_factors(), w.bpr->item_bias(), 0).value();
  w.train_items.resize(d.num_users());
  for (const Interaction& x : w.b.split.train) w.train_items[x.user].push_back(x.item);
  return w;
}

std::span<const float> UserVector(const World& w, uint32_t u) {
  return std::span(w.bpr->user_factors()).subspan(size_t{u} * w.bpr->factors(), w.bpr->factors());
}

CandidateConfig Small() {
  return {.total = 100,
          .ann = 30,
          .content = 20,
          .trending = 15,
          .fresh = 10,
          .popular = 10,
          .cold_start_trending = 40,
          .content_recent = 5,
          .content_per_key = 30};
}

std::unique_ptr<CandidateGenerator> Generator(const World& w, const CandidateConfig& config) {
  auto g = std::make_unique<CandidateGenerator>(config, w.store.get());
  auto pool = CandidatePool::Build(w.catalog, {{0, w.store.get()}}, kNow, config);
  EXPECT_TRUE(pool.ok()) << pool.status().message();
  g->SetPool(*pool);
  g->SetIndex(w.index);
  return g;
}

size_t Tagged(const CandidateSet& s, CandidateSource source) {
  return std::count_if(s.candidates.begin(), s.candidates.end(), [&](auto& c) { return c.sources & source; });
}

TEST(Candidates, QuotasDedupAndEverySourcesOwnItems) {
  const World w = Make(0.8);
  const CandidateConfig config = Small();
  const auto g = Generator(w, config);
  auto pool = CandidatePool::Build(w.catalog, {{0, w.store.get()}}, kNow, config);
  const auto& trending = (*pool)->Region(0).trending;
  size_t merged = 0;
  for (uint32_t u = 0; u < 40; ++u) {
    auto set = g->Generate({.user = u, .region = 0, .now_ms = kNow, .user_vector = UserVector(w, u)});
    ASSERT_TRUE(set.ok()) << set.status().message();
    EXPECT_FALSE(set->cold_start);
    ASSERT_EQ(set->candidates.size(),
              100u);  // 240 items, at most ~40 seen: popular fills up to the total
    std::set<uint64_t> items;
    for (const Candidate& c : set->candidates) {
      EXPECT_TRUE(items.insert(c.item).second) << "item " << c.item << " twice";
      EXPECT_NE(c.sources, 0);
      merged += std::popcount(c.sources) > 1;
    }
    EXPECT_LE(Tagged(*set, kSourceAnn), 30u);
    EXPECT_EQ(set->proposed[0], 30u);
    EXPECT_LE(Tagged(*set, kSourceContent), 20u);
    EXPECT_LE(Tagged(*set, kSourceTrending), 15u);
    EXPECT_LE(Tagged(*set, kSourceFresh), 10u);
    // The user's latest items (the store's history, most recent first) seed
    // `content`.
    auto viewer = w.store->Viewer(u, std::max(kNow, w.store->watermark() + 1));
    ASSERT_TRUE(viewer.ok()) << viewer.status().message();
    std::set<uint32_t> recent_tags;
    for (size_t i = 0; i < 5 && i < viewer->history.size(); ++i)
      for (uint32_t t : w.catalog[viewer->history[i].item].info.tags) recent_tags.insert(t);
    // The exact best 30 + |history| by BPR's score hold every ann candidate.
    std::vector<float> scores(w.b.data.num_items());
    w.bpr->Score(u, scores);
    std::vector<uint32_t> order(scores.size());
    for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return scores[a] > scores[b]; });
    const std::set<uint32_t> best(order.begin(), order.begin() + 30 + viewer->history.size());
    for (const Candidate& c : set->candidates) {
      if (c.sources & kSourceAnn) {
        EXPECT_TRUE(best.count(c.item)) << "user " << u << " item " << c.item;
        EXPECT_NEAR(c.ann_score, scores[c.item], 1e-3);
      }
      if (c.sources & kSourceContent) {
        const auto& tags = w.catalog[c.item].info.tags;
        EXPECT_TRUE(std::any_of(tags.begin(), tags.end(), [&](uint32_t t) { return recent_tags.count(t); }));
      }
      if (c.sources & kSourceFresh) {
        EXPECT_TRUE(c.item >= 200 && c.item < 220) << c.item;
      }
      if (c.sources & kSourceTrending) {
        EXPECT_LT(std::find(trending.begin(), trending.end(), c.item) - trending.begin(), 15 + 50);
      }
    }
  }
  EXPECT_GT(merged,
            0u);  // some items came from two sources and are one candidate
}

TEST(Candidates, SeenAndBlockedItemsAreNeverCandidates) {
  const World w = Make(0.8);
  const auto g = Generator(w, Small());
  for (uint32_t u = 0; u < 40; ++u) {
    // What the user would get with nothing blocked: block its first five ann
    // and first five other candidates.
    auto open = g->Generate({.user = u, .now_ms = kNow, .user_vector = UserVector(w, u)});
    ASSERT_TRUE(open.ok());
    std::vector<uint64_t> blocked;
    for (size_t i = 0; i < 5; ++i) blocked.push_back(open->candidates[i].item);
    for (size_t i = 0; i < 5; ++i) blocked.push_back(open->candidates[open->candidates.size() - 1 - i].item);
    const std::vector<uint64_t>& seen = w.train_items[u];  // the store's history holds them too
    auto set =
        g->Generate({.user = u, .now_ms = kNow, .user_vector = UserVector(w, u), .seen = seen, .blocked = blocked});
    ASSERT_TRUE(set.ok());
    EXPECT_EQ(set->candidates.size(), 100u);
    std::set<uint64_t> excluded(seen.begin(), seen.end());
    excluded.insert(blocked.begin(), blocked.end());
    for (const Candidate& c : set->candidates) EXPECT_FALSE(excluded.count(c.item)) << "user " << u << " " << c.item;
    for (const Candidate& c : open->candidates) EXPECT_FALSE(std::count(seen.begin(), seen.end(), c.item));
    EXPECT_GT(set->excluded, 0u);
  }
}

TEST(Candidates, ColdStartGetsTheTrendingAndPopularItemsOfTheRegion) {
  const World w = Make(0.8);
  // Region 1 sees the interactions with items below 120, region 2 the others.
  std::vector<Interaction> r1, r2;
  for (const Interaction& x : w.b.split.train) (x.item < 120 ? r1 : r2).push_back(x);
  auto s1 = StoreOf(w.b.data, r1), s2 = StoreOf(w.b.data, r2);
  const CandidateConfig config = Small();
  CandidateGenerator g(config, w.store.get());
  auto pool = CandidatePool::Build(w.catalog, {{1, s1.get()}, {2, s2.get()}}, kNow, config);
  ASSERT_TRUE(pool.ok());
  g.SetPool(*pool);
  g.SetIndex(w.index);
  const uint64_t newcomer = 1'000'000;  // no history anywhere
  for (uint8_t region : {1, 2}) {
    auto set = g.Generate({.user = newcomer, .region = region, .now_ms = kNow, .user_vector = UserVector(w, 0)});
    ASSERT_TRUE(set.ok());
    EXPECT_TRUE(set->cold_start);
    EXPECT_EQ(set->candidates.size(), 100u);
    for (const Candidate& c : set->candidates) {
      EXPECT_EQ(c.sources & ~(kSourceTrending | kSourcePopular), 0) << SourceNames(c.sources);
      EXPECT_EQ(c.item < 120, region == 1) << "region " << int{region} << " item " << c.item;
    }
    ASSERT_EQ(Tagged(*set, kSourceTrending), 40u);
    // The region's most trending item comes first.
    EXPECT_EQ(set->candidates[0].item, (*pool)->Region(region).trending[0]);
  }
  // A region the pool does not know: every region's lists.
  auto any = g.Generate({.user = newcomer, .region = 9, .now_ms = kNow});
  ASSERT_TRUE(any.ok());
  std::set<bool> halves;
  for (const Candidate& c : any->candidates) halves.insert(c.item < 120);
  EXPECT_EQ(halves.size(), 2u);
  // A user with history is no cold start.
  EXPECT_FALSE(g.Generate({.user = 0, .region = 1, .now_ms = kNow})->cold_start);
}

TEST(CoViewIndex, CountsPairsWithinTheWindowOfEachViewersSequence) {
  // Viewers 1..3 watch 10 then 11 then 12 then 13; viewer 4 watches 10 and 14 only once together.
  std::vector<CoViewEngagement> e;
  for (uint64_t v = 1; v <= 3; ++v)
    for (uint64_t i = 0; i < 4; ++i) e.push_back({.viewer = v, .item = 10 + i, .time_ms = int64_t(100 * i + v)});
  e.push_back({.viewer = 4, .item = 10, .time_ms = 1});
  e.push_back({.viewer = 4, .item = 14, .time_ms = 2});
  e.push_back({.viewer = 4, .item = 10, .time_ms = 3});  // again: counts at its first time only
  const auto index = CoViewIndex::Build(e, {.window = 2, .max_per_viewer = 200, .per_item = 50, .min_count = 2});
  // 13 is three positions after 10: outside the window. 14 has one viewer: below min_count.
  EXPECT_EQ(index->Neighbours(10), (std::vector<uint64_t>{11, 12}));
  EXPECT_EQ(index->Neighbours(11), (std::vector<uint64_t>{10, 12, 13}));
  EXPECT_TRUE(index->Neighbours(14).empty());
  EXPECT_TRUE(index->Neighbours(99).empty());
  const auto wide = CoViewIndex::Build(e, {.window = 5, .max_per_viewer = 200, .per_item = 50, .min_count = 1});
  EXPECT_EQ(wide->Neighbours(10), (std::vector<uint64_t>{11, 12, 13, 14}));  // 3 viewers each, then 14's one
}

TEST(CoViewIndex, ABotsMillionEventsPairOnlyItsLatestItemsAndRowsStayBounded) {
  std::vector<CoViewEngagement> e;
  // A bot viewer: a million events over 500,000 distinct items (1..500000, each twice, in order).
  for (int64_t t = 0; t < 1'000'000; ++t) e.push_back({.viewer = 1, .item = uint64_t(t / 2 + 1), .time_ms = t});
  // Viewers 2 and 3: 7 then 8, and item 1 (the bot's oldest) then 2.
  for (uint64_t v = 2; v <= 3; ++v) {
    e.push_back({.viewer = v, .item = 7, .time_ms = 1});
    e.push_back({.viewer = v, .item = 8, .time_ms = 2});
    e.push_back({.viewer = v, .item = 1, .time_ms = 3});
    e.push_back({.viewer = v, .item = 2, .time_ms = 4});
  }
  const auto index = CoViewIndex::Build(e, {.window = 1, .max_per_viewer = 200, .per_item = 50, .min_count = 1});
  // The bot's latest 200 distinct items pair along its sequence; its older ones only through viewers 2 and 3.
  EXPECT_EQ(index->Neighbours(500'000), (std::vector<uint64_t>{499'999}));
  EXPECT_EQ(index->Neighbours(499'801), (std::vector<uint64_t>{499'802}));  // the oldest of the latest 200
  EXPECT_TRUE(index->Neighbours(499'800).empty());
  EXPECT_EQ(index->Neighbours(1), (std::vector<uint64_t>{2, 8}));  // viewers 2 and 3 only: the bot's 1 is old
  EXPECT_EQ(index->items(), 200u + 4u);

  // Item 1 co-viewed with 2 by five viewers first, then once each with 3000 other items: with 10 pairs a row, the
  // weak pairs are dropped and 1–2 kept.
  std::vector<CoViewEngagement> f;
  for (uint64_t v = 1; v <= 5; ++v) {
    f.push_back({.viewer = v, .item = 1, .time_ms = 1});
    f.push_back({.viewer = v, .item = 2, .time_ms = 2});
  }
  for (uint64_t v = 100; v < 3100; ++v) {
    f.push_back({.viewer = v, .item = 1, .time_ms = 1});
    f.push_back({.viewer = v, .item = 10'000 + v, .time_ms = 2});
  }
  const auto capped = CoViewIndex::Build(f, {.window = 1, .per_item = 50, .min_count = 2, .max_pairs_per_item = 10});
  EXPECT_EQ(capped->Neighbours(1), (std::vector<uint64_t>{2}));
}

TEST(RegionalTrending, ForgetsFadedItemsAndKeepsAtMostMaxItemsPerRegion) {
  RegionalTrending regional(kDayMs, 100);
  regional.Add(1, {{.viewer = 1, .item = 1, .time_ms = 0}});
  regional.Add(2, {{.viewer = 1, .item = 1, .time_ms = 0}});
  // A month later, region 1 gets kPruneEvery views of item 2: item 1 (one view, 30 half-lives old) is forgotten.
  std::vector<FeatureEvent> views(RegionalTrending::kPruneEvery, {.viewer = 2, .item = 2, .time_ms = 30 * kDayMs});
  regional.Add(1, views);
  auto read = regional.Read(30 * kDayMs);
  ASSERT_EQ(read[1].size(), 1u);
  EXPECT_EQ(read[1][0].item, 2u);
  EXPECT_EQ(read[1][0].events, RegionalTrending::kPruneEvery);
  EXPECT_EQ(regional.tracked(2), 1u);  // another region's: untouched
  // 150 more items, each viewed once: at most 100 tracked, the most viewed (item 2) among them.
  for (uint64_t i = 0; i < 150; ++i) regional.Add(1, {{.viewer = 3, .item = 1000 + i, .time_ms = 30 * kDayMs}});
  EXPECT_LE(regional.tracked(1), 100u);
  read = regional.Read(30 * kDayMs);
  EXPECT_TRUE(std::any_of(read[1].begin(), read[1].end(), [](const auto& a) { return a.item == 2; }));
}

TEST(Candidates, CoViewedItemsOfTheUsersRecentItemsAreCandidates) {
  const World w = Make(0.8);
  const CandidateConfig config = Small();
  // Other viewers (ids from 10^6) watched each of user 0's latest items, then an item user 0 has not seen.
  auto viewer = w.store->Viewer(0, std::max(kNow, w.store->watermark() + 1)).value();
  ASSERT_GE(viewer.history.size(), 3u);
  const std::set<uint64_t> seen(w.train_items[0].begin(), w.train_items[0].end());
  std::vector<uint64_t> partners;
  for (uint64_t i = 0; i < w.catalog.size() && partners.size() < 3; ++i)
    if (!seen.count(i) && std::find(partners.begin(), partners.end(), i) == partners.end()) partners.push_back(i);
  std::vector<CoViewEngagement> e;
  for (size_t h = 0; h < 3; ++h)
    for (uint64_t v = 0; v < 5; ++v) {
      const uint64_t other = 1'000'000 + h * 100 + v;
      e.push_back({.viewer = other, .item = viewer.history[h].item, .time_ms = 1});
      e.push_back({.viewer = other, .item = partners[h], .time_ms = 2});
    }
  PoolSignals signals{.coviews = CoViewIndex::Build(e)};
  CandidateGenerator g(config, w.store.get());
  g.SetPool(CandidatePool::Build(w.catalog, {{0, w.store.get()}}, kNow, config, signals).value());
  g.SetIndex(w.index);
  auto set = g.Generate({.user = 0, .region = 0, .now_ms = kNow, .user_vector = UserVector(w, 0)});
  ASSERT_TRUE(set.ok()) << set.status().message();
  std::set<uint64_t> coviewed;
  for (const Candidate& c : set->candidates)
    if (c.sources & kSourceCoViewed) coviewed.insert(c.item);
  EXPECT_EQ(coviewed, std::set<uint64_t>(partners.begin(), partners.end()));
  EXPECT_NE(SourceNames(kSourceCoViewed | kSourceAnn).find("coviewed"), std::string::npos);
  // The same pool without the index (or a quota of 0): no coviewed candidate.
  const auto plain = Generator(w, config);
  EXPECT_EQ(Tagged(plain->Generate({.user = 0, .region = 0, .now_ms = kNow, .user_vector = UserVector(w, 0)}).value(),
                   kSourceCoViewed),
            0u);
  CandidateConfig none = config;
  none.coviewed = 0;
  auto off = g.Generate({.user = 0, .region = 0, .now_ms = kNow, .user_vector = UserVector(w, 0), .config = &none});
  EXPECT_EQ(Tagged(off.value(), kSourceCoViewed), 0u);
}

// The share of a user's ann candidates carrying the user's planted genre (the
// tag most frequent among its training items), over users.
double InClusterShare(const World& w) {
  CandidateConfig config = Small();
  config.ann = 10;
  const auto g = Generator(w, config);
  size_t in = 0, all = 0;
  for (uint32_t u = 0; u < w.b.data.num_users(); u += 4) {
    std::map<uint32_t, int> count;
    for (uint64_t i : w.train_items[u])
      for (uint32_t t : w.catalog[i].info.tags) ++count[t];
    if (count.empty()) continue;
    const uint32_t genre =
        std::max_element(count.begin(), count.end(), [](auto& a, auto& b) { return a.second < b.second; })->first;
    auto set = g->Generate({.user = u, .now_ms = kNow, .user_vector = UserVector(w, u)});
    EXPECT_TRUE(set.ok());
    for (const Candidate& c : set->candidates) {
      if (!(c.sources & kSourceAnn)) continue;
      const auto& tags = w.catalog[c.item].info.tags;
      in += std::count(tags.begin(), tags.end(), genre) > 0;
      ++all;
    }
  }
  return static_cast<double>(in) / std::max<size_t>(all, 1);
}

TEST(Candidates, AUserOfAPlantedTasteClusterGetsMostlyAnnItemsOfThatCluster) {
  const double share = InClusterShare(Make(0.8));
  EXPECT_GE(share, 0.7);
  // Control: without planted clusters the same measure stays near the base rate
  // of a genre.
  const double control = InClusterShare(Make(0.0));
  EXPECT_LT(control, 0.4);
  std::cout << "in-cluster share of ann candidates: " << share << " (no clusters: " << control << ")\n";
}

TEST(Candidates, BadRequestsAndConfigsAreErrors) {
  const World w = Make(0.8);
  CandidateGenerator none(Small(), w.store.get());
  EXPECT_EQ(none.Generate({.user = 0, .now_ms = kNow}).status().code(), StatusCode::kFailedPrecondition);
  const auto g = Generator(w, Small());
  std::vector<float> short_vector(3);
  EXPECT_EQ(g->Generate({.user = 0, .now_ms = kNow, .user_vector = short_vector}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_FALSE(ValidateCandidateConfig({.total = 0}).ok());
  EXPECT_FALSE(CandidatePool::Build({CatalogItem{.id = 1}, CatalogItem{.id = 1}}, {}, kNow, Small()).ok());
  EXPECT_EQ(SourceNames(kSourceAnn | kSourceTrending), "ann+trending");
}

}  // namespace
}  // namespace watershed::recs
