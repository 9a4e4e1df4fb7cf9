// The ranker: its gradient against finite differences, point-in-time features, determinism, and its quality as a
// re-ranker of the two-tower model's top 200 on the planted benchmark.

#include "recs/ranker.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>

#include "recs/planted_fixture.h"
#include "recs/rng.h"

namespace watershed::recs {
namespace {

TEST(Ranker, GradientMatchesFiniteDifferences) {
  Rng rng(3);
  const size_t n = 40;
  std::vector<double> x(n * kRankerFeatures);
  std::vector<uint8_t> y(n);
  for (double& v : x) v = (rng.Unit() - 0.5) * 4;
  for (uint8_t& v : y) v = rng.Below(3) == 0;
  for (double scale : {0.3, 3.0}) {  // also saturated sigmoids
    std::vector<double> p(kRankerFeatures + 1), g(kRankerFeatures + 1);
    for (double& v : p) v = (rng.Unit() - 0.5) * scale;
    const double l2 = 0.05;
    const double at = RankerLoss<double>(p, x, y, l2, g.data());
    EXPECT_DOUBLE_EQ(at, RankerLoss<double>(p, x, y, l2, nullptr));
    for (size_t k = 0; k < p.size(); ++k) {
      const double h = 1e-6, v = p[k];
      p[k] = v + h;
      const double up = RankerLoss<double>(p, x, y, l2, nullptr);
      p[k] = v - h;
      const double down = RankerLoss<double>(p, x, y, l2, nullptr);
      p[k] = v;
      EXPECT_NEAR(g[k], (up - down) / (2 * h), 1e-7) << "parameter " << k << " scale " << scale;
      EXPECT_NE(g[k], 0) << k;
    }
  }
}

// Features at t count only the known interactions strictly before t (the
// point-in-time training path), and after every one at now (the context serving
// ranks with): a hand-made case.
TEST(Ranker, FeaturesAtATimeSeeOnlyEarlierInteractions) {
  Dataset d;
  for (const char* u : {"u0", "u1"}) d.users.Intern(u);
  for (const char* i : {"a", "b", "c"}) d.items.Intern(i);
  d.tag_names = {"drama", "comedy"};
  d.features.resize(3);
  d.features[0].tags = {0};
  d.features[0].author = "x";
  d.features[1].tags = {0, 1};
  d.features[2].author = "x";
  d.features[2].created_at = 1000;
  d.interactions = {{0, 0, 1, 100}, {0, 1, 1, 200}, {1, 0, 1, 150}, {0, 2, 1, 300}};
  std::vector<RankerFeatureVector> f;
  // u0 at 200 s knows only (u0, a, 100); item a has 2 interactions before 200.
  std::vector<RankerQuery> queries = {{0, 0, 200'000, 0.5f}, {0, 1, 200'000, 0.25f}, {0, 2, 200'000, -1}};
  ASSERT_TRUE(
      PointInTimeRankerFeatures(RankerContext::ItemsOnly(d).get(), RankerContext::Events(d.interactions), queries, &f)
          .ok());
  const RankerFeatureVector at200[] = {
      {0.5, std::log1p(2.0), 0, 0, 1.0, 1.0},  // a: drama share 1, author x share 1
      {0.25, std::log1p(0.0), 0, 0, 0.5, 0},   // b: (drama 1 + comedy 0) / 2
      {-1, std::log1p(0.0), 0, 1, 0, 1.0}};    // c: no tags, author x; created after 200: age 0
  for (size_t q = 0; q < 3; ++q)
    for (size_t k = 0; k < kRankerFeatures; ++k) EXPECT_DOUBLE_EQ(f[q][k], at200[q][k]) << q << " " << k;

  // Now (after every interaction, 300.001 s): the affinities are decayed sums
  // (7-day half-life).
  const RankerContext c(d, d.interactions);
  EXPECT_EQ(c.now_ms(), 300'001);
  std::vector<double> x;
  const uint32_t items[] = {0, 1, 2};
  const float tt[] = {0.5f, 0.25f, -1};
  c.Features(0, items, tt, &x);
  const double h = 7.0 * 86'400'000;
  const auto decay = [&](double from_ms) { return std::exp2(-(300'001 - from_ms) / h); };
  const double drama = decay(100'000) + decay(200'000), comedy = decay(200'000);
  EXPECT_DOUBLE_EQ(x[1], std::log1p(2.0));
  EXPECT_NEAR(x[4], drama / (drama + comedy), 1e-12);  // a: drama
  EXPECT_NEAR(x[6 + 4], (drama + comedy) / (drama + comedy) / 2,
              1e-12);              // b: drama and comedy
  EXPECT_DOUBLE_EQ(x[5], 1.0);     // x is u0's only author
  EXPECT_DOUBLE_EQ(x[12 + 2], 0);  // created after now: the age clamps at 0
  EXPECT_DOUBLE_EQ(x[12 + 3], 1);
  // Out-of-order events are refused, not silently mis-featured.
  std::vector<FeatureEvent> backwards = RankerContext::Events(d.interactions);
  std::swap(backwards[0], backwards[1]);
  EXPECT_EQ(PointInTimeRankerFeatures(RankerContext::ItemsOnly(d).get(), backwards, queries, &f).code(),
            StatusCode::kInvalidArgument);
}

RankerConfig TestConfig() {
  RankerConfig c;
  c.two_tower.training.validation_users = 200;
  c.two_tower.batch = 64;
  c.two_tower.negatives = 32;
  return c;
}

TEST(Ranker, SameSeedSameModelBitForBit) {
  const Bench b = Planted(0.8);
  RankerConfig c = TestConfig();
  c.two_tower.training.max_epochs = 2;
  c.refit = false;
  const RankerModel a = RankerModel::Train(b.data, b.split.train, c);
  const RankerModel again = RankerModel::Train(b.data, b.split.train, c);
  EXPECT_EQ(std::memcmp(&a.weights(), &again.weights(), sizeof(RankerWeights)), 0);
  EXPECT_GT(a.examples(), 1000u);
  std::vector<float> x(b.data.num_items()), y(b.data.num_items());
  for (uint32_t u = 0; u < b.data.num_users(); u += 37) {
    a.Score(u, x);
    again.Score(u, y);
    EXPECT_EQ(std::memcmp(x.data(), y.data(), x.size() * sizeof(float)), 0) << u;
  }
  c.two_tower.training.seed = 7;
  const RankerModel other = RankerModel::Train(b.data, b.split.train, c);
  EXPECT_NE(std::memcmp(&a.weights(), &other.weights(), sizeof(RankerWeights)), 0);
}

TEST(Ranker, ReRankingTheTwoTowersTop200OnThePlantedBenchmark) {
  const Bench b = Planted(0.8);
  RankerConfig c = TestConfig();
  const TwoTowerModel tt = TwoTowerModel::Train(b.data.num_users(), b.data.num_items(), b.split.train,
                                                TwoTowerFeatures(b.data), c.two_tower);
  const RankerModel ranker = RankerModel::Train(b.data, b.split.train, c);
  const double alone = Ndcg10(tt, b), reranked = Ndcg10(ranker, b);
  // A ranker weighing the two-tower score alone keeps the two-tower's order (the re-ranking plumbing is exact).
  auto shared = std::make_shared<TwoTowerModel>(tt);
  RankerWeights only;
  only.w[0] = 1;
  only.scale.fill(1);
  EXPECT_DOUBLE_EQ(Ndcg10(RankerModel::FromParts(shared, only, b.data, b.split.train, c.candidates), b), alone);
  // The planted benchmark has no signal the two-tower model misses (clusters and popularity; no authors, no
  // freshness effect), so the ranker comes level with it, not above: -0.6% here. Asserted: within 3%.
  std::printf("planted: two-tower ndcg@10 %.4f, two-tower + ranker %.4f (%+.1f%%); weights", alone, reranked,
              100 * (reranked / alone - 1));
  for (size_t f = 0; f < kRankerFeatures; ++f) std::printf(" %s %.3f", kRankerFeatureNames[f], ranker.weights().w[f]);
  std::printf("\n");
  EXPECT_GE(reranked, alone * 0.97);

  // The control: learning from each user's latest training interactions instead of a random share makes it
  // fail here — the generator draws a user's items without replacement, so later ones are less popular, which a
  // stratified (random) test split does not share; the ranker learns a popularity penalty (-12%).
  c.holdout_latest = true;
  const double latest = Ndcg10(RankerModel::Train(b.data, b.split.train, c), b);
  std::printf("planted: with the latest interactions held out instead, two-tower + ranker %.4f\n", latest);
  EXPECT_LT(latest, alone * 0.97);
}

}  // namespace
}  // namespace watershed::recs
