// New items from a stored two-tower model (stored_tower.h): a planted new item,
// embedded from its features by the model loaded from the registry, scores
// highest for the users of its cluster; the stored item tower embeds exactly as
// the trained model does; format-1 models still load and score but are refused
// for new items.

#include "recs/stored_tower.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <optional>

#include "core/testing/temp_dir.h"
#include "recs/planted_fixture.h"
#include "recs/stored_model.h"

namespace watershed::recs {
namespace {

ModelManifest TwoTowerManifest(const Dataset& d, uint32_t dim) {
  ModelManifest m;
  m.name = "stories";
  m.model = "two-tower";
  m.users = d.num_users();
  m.items = d.num_items();
  m.dim = dim;
  m.config = {{"seed", "42"}};
  m.data = {{"path", "planted"}};
  return m;
}

class StoredTowerTest : public ::testing::Test {
 protected:
  // Trains on `features`, saves, loads back.
  StoredItemTower SaveAndLoad(const Bench& b, const ItemFeatureIds& features,
                              std::optional<TwoTowerModel>* trained = nullptr) {
    const TwoTowerConfig c = SmallTwoTowerConfig();
    TwoTowerModel m = TwoTowerModel::Train(b.data.num_users(), b.data.num_items(), b.split.train, features, c);
    ModelManifest manifest = TwoTowerManifest(b.data, c.dim);
    auto saved = registry_.Save(&manifest, ExportTwoTower(b.data, m));
    EXPECT_TRUE(saved.ok()) << saved.status().message();
    auto loaded = registry_.Load({"stories", *saved});
    EXPECT_TRUE(loaded.ok()) << loaded.status().message();
    auto tower = StoredItemTower::FromLoaded(*loaded);
    EXPECT_TRUE(tower.ok()) << tower.status().message();
    if (trained) trained->emplace(std::move(m));
    return std::move(*tower);
  }

  ::watershed::testing::TempDir dir_{"recs_stored_tower"};
  ModelRegistry registry_{FileSystem::Default(), dir_.Path("models")};
};

// Per user, the tag most frequent among the user's training items: the planted
// cluster's genre (80% of a user's interactions are in the cluster, each
// cluster one genre).
std::map<uint32_t, std::string> DominantTags(const Bench& b) {
  std::vector<std::map<uint32_t, int>> counts(b.data.num_users());
  for (const Interaction& x : b.split.train)
    for (uint32_t t : b.data.features[x.item].tags) ++counts[x.user][t];
  std::map<uint32_t, std::string> out;
  for (uint32_t u = 0; u < counts.size(); ++u) {
    int best = 0;
    for (const auto& [t, n] : counts[u])
      if (n > best) {
        best = n;
        out[u] = b.data.tag_names[t];
      }
  }
  return out;
}

// The share of users whose own cluster's new item (tagged with the cluster's
// genre, an id no model has seen) scores above every other cluster's new item.
double ShareRankingTheirClustersNewItemFirst(const Bench& b, const StoredItemTower& tower) {
  const std::map<uint32_t, std::string> dominant = DominantTags(b);
  std::map<std::string, TwoTowerModel::ItemEmbedding> fresh;  // one new item per cluster genre
  for (const auto& [u, tag] : dominant) {
    if (fresh.count(tag)) continue;
    size_t unknown = 9;
    fresh[tag] = tower.EmbedItem({.tags = {tag}, .author = {}, .language = {}}, &unknown);
    EXPECT_EQ(unknown, 0u);
  }
  EXPECT_GE(fresh.size(), 6u);  // the planted clusters' genres
  double hits = 0;
  for (const auto& [u, tag] : dominant) {
    auto user = tower.UserVector(b.data.users.Name(u));
    EXPECT_TRUE(user.ok());
    std::string best;
    float best_score = -1e30f;
    for (const auto& [t, e] : fresh)
      if (const float s = StoredItemTower::Score(*user, e); s > best_score) {
        best_score = s;
        best = t;
      }
    hits += best == tag ? 1 : 0;
  }
  return hits / static_cast<double>(dominant.size());
}

TEST_F(StoredTowerTest, APlantedNewItemScoresHighestForTheUsersOfItsCluster) {
  const Bench b = Planted(0.8);
  const double share = ShareRankingTheirClustersNewItemFirst(b, SaveAndLoad(b, TwoTowerFeatures(b.data)));
  // Control: a model trained without features has nothing to place a new item
  // by (its feature rows stay at their random start), so the cluster's item
  // wins about one time in the number of clusters.
  ItemFeatureIds none = TwoTowerFeatures(b.data);
  for (auto& f : none.of) f.clear();
  const double control = ShareRankingTheirClustersNewItemFirst(b, SaveAndLoad(b, none));
  std::printf(
      "users ranking their cluster's new item first: %.3f (control "
      "without features %.3f)\n",
      share, control);
  EXPECT_GT(share, 0.8);
  EXPECT_LT(control, 0.5);
}

TEST_F(StoredTowerTest, TheStoredItemTowerEmbedsAsTheTrainedModelDoes) {
  Bench b = Planted(0.8);
  // Authors and languages too, so every kind of feature goes through the stored
  // vocabulary.
  for (uint32_t i = 0; i < b.data.num_items(); ++i) {
    b.data.features[i].author = std::to_string(100 + i % 5);
    b.data.features[i].language = i % 3 ? "en" : "fr";
  }
  const ItemFeatureIds features = TwoTowerFeatures(b.data);
  EXPECT_EQ(features.count, b.data.tag_names.size() + 5 + 2);
  std::optional<TwoTowerModel> trained;
  const StoredItemTower tower = SaveAndLoad(b, features, &trained);
  for (uint32_t i = 0; i < b.data.num_items(); ++i) {
    size_t unknown = 9;
    const auto stored = tower.EmbedItem(DescribeItem(b.data, i), &unknown);
    const auto direct = trained->EmbedNewItem(features.of[i]);
    EXPECT_EQ(unknown, 0u);
    ASSERT_EQ(stored.vector.size(), direct.vector.size());
    EXPECT_EQ(std::memcmp(stored.vector.data(), direct.vector.data(), direct.vector.size() * sizeof(float)), 0)
        << "item " << i;
    EXPECT_EQ(stored.bias, direct.bias) << "item " << i;
  }
  // Features the model never saw are ignored (and counted): the item embeds as
  // one without them.
  ItemDescription item = DescribeItem(b.data, 7);
  const auto known = tower.EmbedItem(item);
  item.tags.push_back("never-seen");
  item.author = "999";
  size_t unknown = 0;
  const auto with_unknown = tower.EmbedItem(item, &unknown);
  EXPECT_EQ(unknown, 2u);
  const auto without_author =
      tower.EmbedItem({.tags = DescribeItem(b.data, 7).tags, .author = {}, .language = item.language});
  EXPECT_EQ(with_unknown.vector, without_author.vector);
  EXPECT_NE(known.vector, without_author.vector);  // the author counts
  // Users by their external id.
  EXPECT_TRUE(tower.UserVector(b.data.users.Name(3)).ok());
  EXPECT_EQ(tower.UserVector("no-such-user").status().code(), StatusCode::kNotFound);
}

TEST_F(StoredTowerTest, AFormatOneModelStillLoadsAndScoresButIsRefusedForNewItems) {
  const Bench b = Planted(0.8);
  TwoTowerConfig c = SmallTwoTowerConfig();
  c.training.max_epochs = 1;
  const TwoTowerModel m =
      TwoTowerModel::Train(b.data.num_users(), b.data.num_items(), b.split.train, TwoTowerFeatures(b.data), c);
  // As a build before format 2 wrote it: no vocabulary, no temperature,
  // format_version 1.
  ArrayFile old = ExportTwoTower(b.data, m);
  old.arrays.erase("tower.features");
  old.arrays.erase("tower.temperature");
  ModelManifest manifest = TwoTowerManifest(b.data, c.dim);
  manifest.format_version = 1;
  auto saved = registry_.Save(&manifest, old);
  ASSERT_TRUE(saved.ok()) << saved.status().message();
  auto loaded = registry_.Load({"stories", *saved});
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->manifest.format_version, 1u);
  EXPECT_TRUE(ScorerFromStored(*loaded, b.data, b.split.train).ok());
  auto tower = StoredItemTower::FromLoaded(*loaded);
  ASSERT_FALSE(tower.ok());
  EXPECT_EQ(tower.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(tower.status().message().find("format 1"), std::string::npos) << tower.status().message();

  // The same arrays under format 2 are damaged: the vocabulary is missing.
  ModelManifest v2 = TwoTowerManifest(b.data, c.dim);
  auto saved2 = registry_.Save(&v2, old);
  ASSERT_TRUE(saved2.ok());
  auto damaged = registry_.Load({"stories", *saved2});
  ASSERT_FALSE(damaged.ok());
  EXPECT_NE(damaged.status().message().find("tower.features"), std::string::npos) << damaged.status().message();

  // A manifest of a later format is refused, naming what this build reads.
  std::string text = EncodeManifest(v2);
  text.replace(text.find("\"format_version\": 2"), 19, "\"format_version\": 3");
  auto later = DecodeManifest(text, "m.json");
  ASSERT_FALSE(later.ok());
  EXPECT_NE(later.status().message().find("this build reads 1..2"), std::string::npos) << later.status().message();

  // Models without towers have nothing to embed new items with.
  ModelManifest pop = TwoTowerManifest(b.data, 0);
  pop.model = "popularity";
  auto saved3 = registry_.Save(&pop, ExportPopularity(b.data, PopularityModel(b.data.num_items(), b.split.train)));
  ASSERT_TRUE(saved3.ok()) << saved3.status().message();
  auto pop_tower = StoredItemTower::FromLoaded(registry_.Load({"stories", *saved3}).value());
  ASSERT_FALSE(pop_tower.ok());
  EXPECT_EQ(pop_tower.status().code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace watershed::recs
