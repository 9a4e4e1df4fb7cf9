#pragma once
// Test helper (serving_test.cc, gateway's api_recs_test.cc): the planted benchmark served — two BPR versions of
// the model "stories" in a temporary registry (version 1 current), the training interactions in an embedded
// feature store (external ids, the API's) behind a LockedFeatureStore, the catalogue's genres as tags; an
// experiments file of two layers (kExperiments).

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/testing/temp_dir.h"
#include "recs/bpr.h"
#include "recs/experiments.h"
#include "recs/locked_feature_store.h"
#include "recs/planted_fixture.h"
#include "recs/serving.h"
#include "recs/stored_model.h"

namespace watershed::recs::testing {

// Just after the planted interactions (2000-01-01 + 3 years).
constexpr int64_t kNow = (946684800LL + 3 * 365 * 86400) * 1000 + kHourMs;

inline uint64_t Ext(const IdMap& ids, uint32_t dense) { return std::stoull(ids.Name(dense)); }

struct World {
  explicit World(double in_cluster) : dir("recs_serving") {
    b = Planted(in_cluster);
    const Dataset& d = b.data;
    for (uint64_t seed : {1, 2}) EXPECT_TRUE(SaveBpr(seed, 15).ok());
    // The store speaks the API's ids (the data's external ones). Trending
    // decays with a half-life of a year: the planted interactions span three.
    store = EmbeddedFeatureStore::Create({.trending_half_life_ms = 365 * kDayMs}).value();
    for (uint32_t i = 0; i < d.num_items(); ++i)
      EXPECT_TRUE(
          store
              ->PutItem(Ext(d.items, i), {.created_at_ms = d.features[i].created_at * 1000, .tags = d.features[i].tags})
              .ok());
    std::vector<Interaction> xs = b.split.train;
    std::stable_sort(xs.begin(), xs.end(), [](auto& x, auto& y) { return x.timestamp < y.timestamp; });
    for (const Interaction& x : xs)
      EXPECT_TRUE(
          store->Apply({.viewer = Ext(d.users, x.user), .item = Ext(d.items, x.item), .time_ms = x.timestamp * 1000})
              .ok());
    locked = std::make_unique<LockedFeatureStore>(store.get(), true);
    train_items.resize(d.num_users());
    for (const Interaction& x : b.split.train) train_items[x.user].push_back(x.item);
  }

  // A BPR version of "stories" trained on the planted data; its version number.
  Result<uint32_t> SaveBpr(uint64_t seed, uint32_t epochs) {
    const Dataset& d = b.data;
    BprConfig bc;
    bc.training.max_epochs = epochs;
    bc.training.seed = seed;
    const BprModel bpr = BprModel::Train(d.num_users(), d.num_items(), b.split.train, bc);
    ModelManifest m;
    m.name = "stories";
    m.model = "bpr";
    m.users = d.num_users();
    m.items = d.num_items();
    m.dim = bc.factors;
    return registry.Save(&m, ExportBpr(d, bpr));
  }
  RecsServiceOptions Options() const {
    RecsServiceOptions o;
    o.registry_root = registry.root();
    o.model = "stories";
    o.candidates = {.total = 200, .ann = 100, .content = 40, .trending = 30, .fresh = 10, .popular = 20};
    o.pool_refresh_ms = INT64_MAX;
    return o;
  }
  std::unique_ptr<RecsService> Open(RulesHolder* rules = nullptr) {
    auto s = RecsService::Open(FileSystem::Default(), Options(), locked.get(), rules, kNow);
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::move(*s) : nullptr;
  }
  // The user's planted genre: the tag most frequent among its training items.
  uint32_t Genre(uint32_t u) const {
    std::map<uint32_t, int> count;
    for (uint32_t i : train_items[u])
      for (uint32_t t : b.data.features[i].tags) ++count[t];
    return std::max_element(count.begin(), count.end(), [](auto& x, auto& y) { return x.second < y.second; })->first;
  }
  bool HasTag(uint64_t ext_item, uint32_t tag) const {
    const auto& tags = b.data.features[b.data.items.Find(std::to_string(ext_item))].tags;
    return std::find(tags.begin(), tags.end(), tag) != tags.end();
  }

  ::watershed::testing::TempDir dir;
  ModelRegistry registry{FileSystem::Default(), dir.Path("models")};
  Bench b;
  std::unique_ptr<EmbeddedFeatureStore> store;
  std::unique_ptr<LockedFeatureStore> locked;
  std::vector<std::vector<uint32_t>> train_items;
};

inline std::unique_ptr<World> Make(double in_cluster) { return std::make_unique<World>(in_cluster); }

// Layer "ranking": every user in bpr-seed (stories@1 against stories@2). Layer "diversity": half the users in
// tag-cap (no change against at most 2 items per tag).
inline constexpr const char* kExperiments = R"([[layer]]
name = "ranking"

[[layer]]
name = "diversity"

[[experiment]]
name = "bpr-seed"
layer = "ranking"
control = "control"

[[arm]]
experiment = "bpr-seed"
name = "control"
model = "stories@1"

[[arm]]
experiment = "bpr-seed"
name = "treatment"
model = "stories@2"

[[experiment]]
name = "tag-cap"
layer = "diversity"
traffic = 0.5
control = "open"

[[arm]]
experiment = "tag-cap"
name = "open"

[[arm]]
experiment = "tag-cap"
name = "capped"
params.max_per_tag = 2
)";

inline RecsServiceOptions WithExperiments(World& w, const std::string& text) {
  RecsServiceOptions o = w.Options();
  o.experiments_path = w.dir.Path("experiments.toml");
  o.exposures_dir = w.dir.Path("exposures");
  EXPECT_TRUE(WriteFileAtomically(FileSystem::Default(), o.experiments_path, text).ok());
  return o;
}

}  // namespace watershed::recs::testing
