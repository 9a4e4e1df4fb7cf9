#include "recs/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/testing/python_script.h"
#include "recs/evaluator.h"
#include "recs/rng.h"

namespace watershed::recs {
namespace {

TEST(Metrics, HandComputedRanking) {
  // Items 0..5 scored in decreasing order; item 1 is a training item; items 2 and 5 are relevant.
  // The ranking of the candidates: 0, 2, 3, 4, 5.
  const std::vector<float> scores = {0.9f, 0.8f, 0.7f, 0.6f, 0.5f, 0.4f};
  const std::vector<uint32_t> excluded = {1}, relevant = {2, 5};
  const std::vector<int> ks = {2, 5};
  const UserMetrics m = RankUser(scores, excluded, relevant, ks);
  EXPECT_EQ(m.top, (std::vector<uint32_t>{0, 2, 3, 4, 5}));
  EXPECT_DOUBLE_EQ(m.auc, 2.0 / 6);  // 0.7 beats 0.6 and 0.5; 0.4 beats none of 0.9, 0.6, 0.5
  const double l3 = 1 / std::log2(3.0), l6 = 1 / std::log2(6.0);
  EXPECT_DOUBLE_EQ(m.precision[0], 0.5);
  EXPECT_DOUBLE_EQ(m.recall[0], 0.5);
  EXPECT_DOUBLE_EQ(m.ndcg[0], l3 / (1 + l3));
  EXPECT_DOUBLE_EQ(m.ap[0], 0.5 * (1.0 / 2));
  EXPECT_DOUBLE_EQ(m.hit[0], 1);
  EXPECT_DOUBLE_EQ(m.precision[1], 0.4);
  EXPECT_DOUBLE_EQ(m.recall[1], 1);
  EXPECT_DOUBLE_EQ(m.ndcg[1], (l3 + l6) / (1 + l3));
  EXPECT_DOUBLE_EQ(m.ap[1], 0.5 * (1.0 / 2 + 2.0 / 5));
}

TEST(Metrics, TiesRankTheLowerItemFirstAndHalveAuc) {
  const std::vector<float> scores = {1, 1, 1, 1};
  const std::vector<uint32_t> relevant = {3};
  const std::vector<int> ks = {1, 4};
  const UserMetrics m = RankUser(scores, {}, relevant, ks);
  EXPECT_EQ(m.top, (std::vector<uint32_t>{0, 1, 2, 3}));
  EXPECT_DOUBLE_EQ(m.auc, 0.5);
  EXPECT_DOUBLE_EQ(m.hit[0], 0);
  EXPECT_DOUBLE_EQ(m.hit[1], 1);
  EXPECT_DOUBLE_EQ(m.ndcg[1], 1 / std::log2(5.0));
  // Every candidate relevant: no AUC.
  EXPECT_FALSE(RankUser(std::vector<float>{1, 2}, {}, std::vector<uint32_t>{0, 1}, ks).has_auc);
}

// Runs tests/recs/sklearn_metrics.py on `cases`; one (auc, ndcg) per case.
std::vector<std::pair<double, double>> Sklearn(const std::string& cases) {
  const std::string path = ::testing::TempDir() + "/recs_sklearn_cases_" + std::to_string(::getpid());
  std::ofstream(path) << cases;
  const std::string out = watershed::testing::RunPythonScript("tests/recs/sklearn_metrics.py", path);
  std::vector<std::pair<double, double>> r;
  std::istringstream in(out);
  double a, n;
  while (in >> a >> n) r.emplace_back(a, n);
  return r;
}

TEST(Metrics, AgreeWithScikitLearn) {
  // Random users: scores over 10..300 items, some excluded (training), 1..12 relevant. Odd cases have
  // scores rounded to a few values (ties): there only AUC is compared, since ndcg_score averages tied
  // gains while we break ties by item id.
  Rng rng(7);
  struct Case {
    UserMetrics mine;
    int k;
    bool ties;
  };
  std::vector<Case> mine;
  std::string cases;
  for (int c = 0; c < 60; ++c) {
    const uint32_t n = 10 + rng.Below(290);
    const bool ties = c % 2 == 1;
    std::vector<float> scores(n);
    for (float& s : scores) s = ties ? static_cast<float>(rng.Below(4)) : static_cast<float>(rng.Unit());
    std::vector<uint32_t> excluded, relevant;
    for (uint32_t i = 0; i < n; ++i) {
      const double x = rng.Unit();
      if (x < 0.2)
        excluded.push_back(i);
      else if (x < 0.25 || relevant.empty())
        relevant.push_back(i);
    }
    const int k = 1 + static_cast<int>(rng.Below(20));
    const std::vector<int> ks = {k};
    mine.push_back({RankUser(scores, excluded, relevant, ks), k, ties});
    std::string labels, values;
    size_t ex = 0, rel = 0;
    for (uint32_t i = 0; i < n; ++i) {
      if (ex < excluded.size() && excluded[ex] == i) {
        ++ex;
        continue;
      }
      const bool r = rel < relevant.size() && relevant[rel] == i;
      rel += r;
      char s[32];
      std::snprintf(s, sizeof s, "%.9g", scores[i]);
      labels += std::string(labels.empty() ? "" : ",") + (r ? "1" : "0");
      values += std::string(values.empty() ? "" : ",") + s;
    }
    cases += std::to_string(k) + ";" + labels + ";" + values + "\n";
  }
  const auto oracle = Sklearn(cases);
  ASSERT_EQ(oracle.size(), mine.size());
  int compared_ndcg = 0;
  for (size_t c = 0; c < mine.size(); ++c) {
    ASSERT_TRUE(mine[c].mine.has_auc);
    EXPECT_NEAR(mine[c].mine.auc, oracle[c].first, 1e-12) << "case " << c;
    if (!mine[c].ties) {
      EXPECT_NEAR(mine[c].mine.ndcg[0], oracle[c].second, 1e-12) << "case " << c << " k " << mine[c].k;
      ++compared_ndcg;
    }
  }
  EXPECT_EQ(compared_ndcg, 30);
}

// Scores every user's items by item id: the same top list for everyone.
class ById : public Scorer {
 public:
  void Score(uint32_t, std::span<float> out) const override {
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(i);
  }
};

TEST(Evaluator, AveragesOverUsersWithTestItemsAndCountsCoverage) {
  // 4 items; user 0: trains on 3, tests 2 (top 1 = item 2: a hit); user 1: tests 0 (top 1 = item 3: a
  // miss); user 2 has training only; user 3 nothing.
  const std::vector<Interaction> train = {{0, 3, 1, 0}, {2, 1, 1, 0}};
  const std::vector<Interaction> test = {{0, 2, 1, 0}, {1, 0, 1, 0}};
  const std::vector<int> ks = {1, 2};
  const EvalResult r = Evaluate(ById(), 4, 4, train, test, ks, 1);
  EXPECT_EQ(r.users_evaluated, 2u);
  EXPECT_EQ(r.users_without_test, 1u);
  EXPECT_DOUBLE_EQ(r.Get("hr@1"), 0.5);
  EXPECT_DOUBLE_EQ(r.Get("precision@1"), 0.5);
  EXPECT_DOUBLE_EQ(r.Get("coverage@1"), 2.0 / 4);  // items 2 and 3
  EXPECT_DOUBLE_EQ(r.Get("coverage@2"), 3.0 / 4);  // 2, 1 for user 0; 3, 2 for user 1
  EXPECT_DOUBLE_EQ(r.Get("auc"), (1.0 + 0.0) / 2);
  EXPECT_TRUE(std::isnan(r.Get("ndcg@3")));
  // Threads change nothing.
  const EvalResult r3 = Evaluate(ById(), 4, 4, train, test, ks, 3);
  EXPECT_EQ(r.metrics, r3.metrics);
}

}  // namespace
}  // namespace watershed::recs
