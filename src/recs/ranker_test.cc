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

// Features at t count only the known interactions strictly before t: a
// hand-made case.
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
  const RankerContext c(d, d.interactions);
  std::vector<double> f;
  const uint32_t items[] = {0, 1, 2};
  const float tt[] = {0.5f, 0.25f, -1};
  c.Features(0, 200, items, tt, &f);  // u0 at 200 knows only (u0, a, 100); item
                                      // a has 2 interactions before 200
  const double at200[] = {0.5,  std::log1p(2.0), 0, 0, 1.0,
                          1.0,  // a: drama share 1, author x share 1
                          0.25, std::log1p(0.0), 0, 0, 0.5,
                          0,                                       // b: (drama 1 + comedy 0) / 2
                          -1,   std::log1p(0.0), 0, 1, 0,   1.0};  // c: no tags, author x; created after 200: age 0
  for (size_t k = 0; k < f.size(); ++k) EXPECT_DOUBLE_EQ(f[k], at200[k]) << k;
  c.Features(0, INT64_MAX, items, tt, &f);  // every interaction: now = 301
  EXPECT_DOUBLE_EQ(f[1], std::log1p(2.0));
  EXPECT_DOUBLE_EQ(f[4], 2.0 / 3);  // a drama, b drama: 2 of 3
  EXPECT_DOUBLE_EQ(f[5], 2.0 / 3);  // a and c by x
  EXPECT_DOUBLE_EQ(f[12 + 2], 0);   // created after now: the age clamps at 0
  EXPECT_DOUBLE_EQ(f[12 + 3], 1);
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
