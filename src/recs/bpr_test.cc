#include "recs/bpr.h"

#include <gtest/gtest.h>

#include <cstdio>

#include "recs/bpr_loss.h"
#include "recs/evaluator.h"
#include "recs/planted_fixture.h"
#include "recs/popularity.h"
#include "recs/rng.h"
#include "recs/split.h"

namespace watershed::recs {
namespace {

TEST(Bpr, GradientMatchesFiniteDifferences) {
  constexpr size_t d = 6;
  const double l2 = 0.03;
  Rng rng(11);
  for (int trial = 0; trial < 20; ++trial) {
    // params: p_u, q_i, q_j, b_i, b_j laid out in one vector.
    std::vector<double> x(3 * d + 2);
    for (double& v : x) v = (rng.Unit() - 0.5) * (trial < 10 ? 0.5 : 6);  // also large scores (saturated sigmoid)
    auto loss = [&](const std::vector<double>& p) {
      return BprTripleLoss(p.data(), p.data() + d, p.data() + 2 * d, p[3 * d], p[3 * d + 1], d, l2);
    };
    std::vector<double> g(3 * d + 2);
    const double at = BprTripleGradient(x.data(), x.data() + d, x.data() + 2 * d, x[3 * d], x[3 * d + 1], d, l2,
                                        g.data(), g.data() + d, g.data() + 2 * d, &g[3 * d], &g[3 * d + 1]);
    EXPECT_DOUBLE_EQ(at, loss(x));
    for (size_t k = 0; k < x.size(); ++k) {
      const double h = 1e-6;
      std::vector<double> up = x, down = x;
      up[k] += h;
      down[k] -= h;
      const double numeric = (loss(up) - loss(down)) / (2 * h);
      EXPECT_NEAR(g[k], numeric, 1e-7 * std::max(1.0, std::abs(numeric))) << "trial " << trial << " param " << k;
    }
  }
}

// BPR's defaults with a smaller validation set (the tests run under sanitizers too).
BprConfig TestConfig() {
  BprConfig c;
  c.training.validation_users = 200;
  return c;
}

TEST(Bpr, BeatsPopularityTwiceOverOnThePlantedBenchmark) {
  const Bench b = Planted(0.8);
  const double pop = Ndcg10(PopularityModel(b.data.num_items(), b.split.train), b);
  BprConfig c = TestConfig();
  const BprModel bpr = BprModel::Train(b.data.num_users(), b.data.num_items(), b.split.train, c);
  const double learned = Ndcg10(bpr, b);
  EXPECT_GT(pop, 0.01);  // popularity finds something (the planted popularity skew)
  std::printf("planted: popularity ndcg@10 %.4f, bpr %.4f (%.2fx)\n", pop, learned, learned / pop);
  EXPECT_GE(learned, 2 * pop) << "bpr " << learned << " popularity " << pop << " after " << bpr.epochs_run()
                              << " epochs";
  // Hogwild with two threads: not bit-identical, but as good.
  c.training.threads = 2;
  const BprModel two = BprModel::Train(b.data.num_users(), b.data.num_items(), b.split.train, c);
  EXPECT_GE(Ndcg10(two, b, 2), 2 * pop);
}

TEST(Bpr, WithoutPlantedClustersTheMarginIsNotReached) {
  // The control that shows the assertion above can fail: items drawn by popularity alone leave BPR
  // nothing to learn beyond popularity.
  const Bench b = Planted(0.0);
  const double pop = Ndcg10(PopularityModel(b.data.num_items(), b.split.train), b);
  const BprModel bpr = BprModel::Train(b.data.num_users(), b.data.num_items(), b.split.train, TestConfig());
  const double learned = Ndcg10(bpr, b);
  std::printf("no clusters: popularity ndcg@10 %.4f, bpr %.4f (%.2fx)\n", pop, learned, learned / pop);
  EXPECT_LT(learned, 2 * pop);
}

TEST(Bpr, SameSeedSameMetricsBitForBitWithOneThread) {
  const Bench b = Planted(0.8);
  BprConfig c = TestConfig();
  c.training.max_epochs = 5;
  std::vector<std::pair<std::string, double>> first;
  for (int run = 0; run < 2; ++run) {
    const BprModel m = BprModel::Train(b.data.num_users(), b.data.num_items(), b.split.train, c);
    const std::vector<int> ks = {5, 10};
    const auto metrics =
        Evaluate(m, b.data.num_users(), b.data.num_items(), b.split.train, b.split.test, ks, 2).metrics;
    if (run == 0)
      first = metrics;
    else
      EXPECT_EQ(first, metrics);  // exact equality of every double
  }
  c.training.seed = 43;
  const BprModel other = BprModel::Train(b.data.num_users(), b.data.num_items(), b.split.train, c);
  double first_ndcg10 = -1;
  for (const auto& [name, value] : first)
    if (name == "ndcg@10") first_ndcg10 = value;
  EXPECT_NE(Ndcg10(other, b), first_ndcg10);  // another seed, another model
}

TEST(Bpr, EarlyStoppingKeepsTheBestEpoch) {
  const Bench b = Planted(0.8);
  BprConfig c = TestConfig();
  c.training.max_epochs = 60;
  c.training.patience = 2;
  std::vector<EpochReport> reports;
  const BprModel m = BprModel::Train(b.data.num_users(), b.data.num_items(), b.split.train, c,
                                     [&](const EpochReport& r) { reports.push_back(r); });
  ASSERT_FALSE(reports.empty());
  EXPECT_EQ(m.epochs_run(), reports.size());
  double best = -1;
  uint32_t best_epoch = 0;
  for (const EpochReport& r : reports)
    if (r.validation > best) best = r.validation, best_epoch = r.epoch;
  EXPECT_EQ(m.best_epoch(), best_epoch);
  if (reports.size() < 60) {
    EXPECT_EQ(reports.size(), best_epoch + 2u);  // stopped after `patience` epochs without progress
  }
  EXPECT_LT(reports.back().loss, reports.front().loss);
}

}  // namespace
}  // namespace watershed::recs
