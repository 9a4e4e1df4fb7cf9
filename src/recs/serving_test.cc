// Serving (recs/serving.h) on the planted benchmark: two BPR versions of one
// model in a temporary registry, the training interactions in an embedded
// feature store behind the serving lock, the catalogue's genres as tags.

#include "recs/serving.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <thread>

#include "recs/ranker.h"
#include "recs/testing/serving_world.h"

namespace watershed::recs {
namespace {

using testing::Ext;
using testing::kNow;
using testing::Make;
using testing::World;

// The share of a user's top 10 carrying the user's planted genre, over every
// 4th user.
double InGenreShare(World& w, const RecsService& service, bool as_unknown_user) {
  size_t in = 0, all = 0;
  for (uint32_t u = 0; u < w.b.data.num_users(); u += 4) {
    const uint64_t id = as_unknown_user ? 1'000'000 + u : Ext(w.b.data.users, u);
    auto r = service.Recommend(id, kAllRegions, 10, kNow);
    EXPECT_TRUE(r.ok()) << r.status().message();
    if (!r.ok()) continue;
    EXPECT_EQ(r->cold_start, as_unknown_user);
    for (const Recommendation& item : r->items) {
      in += w.HasTag(item.item, w.Genre(u));
      ++all;
    }
  }
  return static_cast<double>(in) / std::max<size_t>(all, 1);
}

TEST(RecsServing, UsersOfAPlantedTasteClusterGetMostlyThatClustersItems) {
  auto w = Make(0.8);
  auto service = w->Open();
  ASSERT_NE(service, nullptr);
  EXPECT_EQ(service->Served(), "stories@1");
  const double personal = InGenreShare(*w, *service, false);
  // Control: the same users asking as strangers get the cold-start answer
  // (trending and popular), which knows nothing of their taste.
  const double control = InGenreShare(*w, *service, true);
  std::cout << "in-genre share of the top 10: " << personal << " (cold-start answer: " << control << ")\n";
  EXPECT_GE(personal, 0.7);
  EXPECT_LT(control, 0.4);
}

TEST(RecsServing, AnswersExcludeSeenItemsAndExplainTheirSourcesAndRules) {
  auto w = Make(0.8);
  const std::string rules_path = w->dir.Path("rules.toml");
  // Item 5 (external id) pinned first, one author... the planted data has no
  // authors: a cap per tag instead.
  ASSERT_TRUE(WriteFileAtomically(FileSystem::Default(), rules_path,
                                  "[diversity]\nmax_per_tag = 6\n\n[[pin]]\nitem = 5\nposition = 1\n")
                  .ok());
  auto rules = RulesHolder::Open(FileSystem::Default(), rules_path);
  ASSERT_TRUE(rules.ok()) << rules.status().message();
  auto service = w->Open(rules->get());
  ASSERT_NE(service, nullptr);
  const uint32_t u = 3;
  auto r = service->Recommend(Ext(w->b.data.users, u), kAllRegions, 20, kNow);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->items.size(), 20u);
  EXPECT_EQ(r->items[0].item, 5u);
  EXPECT_EQ(r->items[0].rules, std::vector<std::string>{"pin"});
  std::map<uint32_t, int> per_tag;
  for (const Recommendation& item : r->items) {
    const uint32_t dense = static_cast<uint32_t>(w->b.data.items.Find(std::to_string(item.item)));
    if (item.item != 5) {
      EXPECT_NE(item.sources, 0) << item.item;
      EXPECT_EQ(std::count(w->train_items[u].begin(), w->train_items[u].end(), dense), 0) << "seen " << item.item;
    }
    for (uint32_t t : w->b.data.features[dense].tags) EXPECT_LE(++per_tag[t], 6) << "tag " << t;
  }
  const std::string with = RecommendationsJson(*r, true), without = RecommendationsJson(*r, false);
  EXPECT_NE(with.find("\"model\":\"stories@1\""), std::string::npos) << with;
  EXPECT_NE(with.find("\"rules\":[\"pin\"]"), std::string::npos) << with;
  EXPECT_NE(with.find("\"sources\":[\"ann\""), std::string::npos) << with;
  EXPECT_EQ(without.find("\"rules\""), std::string::npos) << without;
  // Request ids differ from request to request.
  EXPECT_NE(service->Recommend(1, kAllRegions, 5, kNow)->request_id,
            service->Recommend(1, kAllRegions, 5, kNow)->request_id);
}

// The items of an answer as (id, score, sources): what must be one version's.
using Answer = std::vector<std::tuple<uint64_t, double, uint8_t>>;
Answer Items(const Recommendations& r) {
  Answer a;
  for (const Recommendation& i : r.items) a.emplace_back(i.item, i.score, i.sources);
  return a;
}

TEST(RecsServing, ModelSwapsUnderLoadNeverMixVersionsNorFailARequest) {
  auto w = Make(0.8);
  auto service = w->Open();
  ASSERT_NE(service, nullptr);
  std::vector<uint64_t> users;
  for (uint32_t u = 0; u < 40; ++u) users.push_back(Ext(w->b.data.users, u));
  // Each version's answers, served alone.
  std::map<std::string, std::map<uint64_t, Answer>> expected;
  for (uint32_t v : {2u, 1u}) {
    ASSERT_TRUE(w->registry.Promote("stories", v).ok());
    ASSERT_TRUE(service->Refresh(kNow).value());
    for (uint64_t user : users)
      expected[service->Served()][user] = Items(service->Recommend(user, kAllRegions, 50, kNow).value());
  }
  ASSERT_EQ(expected.size(), 2u);
  EXPECT_NE(expected["stories@1"], expected["stories@2"]);

  std::atomic<bool> stop{false};
  std::atomic<int> failed{0}, mixed{0};
  std::vector<std::map<std::string, int>> seen(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (size_t i = t; !stop.load(); ++i) {
        const uint64_t user = users[i % users.size()];
        auto r = service->Recommend(user, kAllRegions, 50, kNow);
        if (!r.ok()) {
          ++failed;
          continue;
        }
        ++seen[t][r->model];
        auto version = expected.find(r->model);
        if (version == expected.end() || version->second.at(user) != Items(*r)) ++mixed;
      }
    });
  int swaps = 0;
  for (int round = 0; round < 30; ++round) {
    ASSERT_TRUE(w->registry.Promote("stories", round % 2 ? 1 : 2).ok());
    auto swapped = service->Refresh(kNow);
    ASSERT_TRUE(swapped.ok()) << swapped.status().message();
    swaps += *swapped;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  stop = true;
  for (auto& th : threads) th.join();
  EXPECT_EQ(swaps, 30);
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(mixed.load(), 0);
  int answers = 0;
  std::map<std::string, int> per_version;
  for (const auto& s : seen)
    for (const auto& [model, n] : s) answers += n, per_version[model] += n;
  EXPECT_GT(answers, 0);
  std::cout << answers << " answers during 30 swaps: " << per_version["stories@1"] << " of stories@1, "
            << per_version["stories@2"] << " of stories@2\n";
}

TEST(RecsServing, ARankerVersionRanksWithItsProbabilities) {
  auto w = Make(0.8);
  RankerConfig rc;
  rc.two_tower = SmallTwoTowerConfig();
  rc.two_tower.training.max_epochs = 2;
  rc.refit = false;
  const RankerModel ranker = RankerModel::Train(w->b.data, w->b.split.train, rc);
  ModelManifest m;
  m.name = "stories";
  m.model = "ranker";
  m.users = w->b.data.num_users();
  m.items = w->b.data.num_items();
  m.dim = rc.two_tower.dim;
  m.config["candidates"] = std::to_string(rc.candidates);
  auto saved = w->registry.Save(&m, ExportRanker(w->b.data, ranker));
  ASSERT_TRUE(saved.ok()) << saved.status().message();
  ASSERT_TRUE(w->registry.Promote("stories", *saved).ok());
  auto service = w->Open();
  ASSERT_NE(service, nullptr);
  EXPECT_EQ(service->Served(), "stories@" + std::to_string(*saved));
  size_t in = 0, all = 0;
  for (uint32_t u = 0; u < w->b.data.num_users(); u += 8) {
    auto r = service->Recommend(Ext(w->b.data.users, u), kAllRegions, 10, kNow);
    ASSERT_TRUE(r.ok()) << r.status().message();
    ASSERT_EQ(r->items.size(), 10u);
    for (size_t i = 0; i < r->items.size(); ++i) {
      // Probabilities, best first (no rules: the order is the score's).
      EXPECT_GT(r->items[i].score, 0);
      EXPECT_LT(r->items[i].score, 1);
      if (i) {
        EXPECT_LE(r->items[i].score, r->items[i - 1].score);
      }
      in += w->HasTag(r->items[i].item, w->Genre(u));
      ++all;
    }
  }
  // The top item's score, recomputed from the stored arrays and the ranker's weights.
  const auto loaded = w->registry.Load({"stories", *saved}).value();
  const uint64_t user = Ext(w->b.data.users, 0);
  const auto top = service->Recommend(user, kAllRegions, 1, kNow).value().items.at(0);
  const uint32_t dense_item = static_cast<uint32_t>(w->b.data.items.Find(std::to_string(top.item)));
  const auto& uv = *loaded.weights.F32("user_vectors", m.users * m.dim).value();
  const auto& iv = *loaded.weights.F32("item_vectors", m.items * m.dim).value();
  float factor = loaded.weights.F32("item_bias", m.items).value()->at(dense_item);
  for (uint32_t d = 0; d < m.dim; ++d) factor += uv[d] * iv[size_t{dense_item} * m.dim + d];  // user 0 is row 0
  const std::vector<uint64_t> one = {top.item};
  const std::vector<float> factors = {factor};
  auto features = ServingRankerFeatures(*w->locked, user, one, factors, std::max(kNow, w->locked->watermark() + 1));
  ASSERT_TRUE(features.ok()) << features.status().message();
  const RankerFeatureVector x = features->at(0);
  const RankerWeights& rw = ranker.weights();
  double z = rw.bias;
  for (size_t f = 0; f < kRankerFeatures; ++f) z += static_cast<double>(rw.w[f]) * ((x[f] - rw.mean[f]) / rw.scale[f]);
  EXPECT_NEAR(top.score, 1 / (1 + std::exp(-z)), 1e-9);
  std::cout << "ranker: in-genre share of the top 10: " << static_cast<double>(in) / static_cast<double>(all) << "\n";
  EXPECT_GE(static_cast<double>(in) / static_cast<double>(all), 0.6);
}

TEST(RecsServing, ABadVersionKeepsTheOneInForceAndAnUnknownModelIsAnError) {
  auto w = Make(0.8);
  auto service = w->Open();
  ASSERT_NE(service, nullptr);
  // Version 2 promoted, then its weights damaged: the refresh fails and serving
  // goes on with version 1.
  ASSERT_TRUE(w->registry.Promote("stories", 2).ok());
  const std::string weights = w->registry.root() + "/stories/2/weights.bin";
  ASSERT_TRUE(WriteFileAtomically(FileSystem::Default(), weights, "damaged").ok());
  EXPECT_FALSE(service->Refresh(kNow).ok());
  EXPECT_EQ(service->Served(), "stories@1");
  EXPECT_TRUE(service->Recommend(1, kAllRegions, 10, kNow).ok());

  RecsServiceOptions o = w->Options();
  o.model = "nope";
  EXPECT_EQ(RecsService::Open(FileSystem::Default(), o, w->locked.get(), nullptr, kNow).status().code(),
            StatusCode::kNotFound);
}

}  // namespace
}  // namespace watershed::recs
