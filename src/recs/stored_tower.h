#pragma once
// A stored two-tower (or ranker) model's towers, for items it was not trained
// on (docs/recs.md, "New items from a stored model"): the item tower of
// format-2 weights (tower.features, tower.temperature beside the tower weights,
// stored_model.h) embeds an item from its catalogue features alone — no id
// embedding, the unknown bucket — so a story published after training is scored
// without retraining: score(u, item) = <user vector, vector> + bias, as the
// stored catalogue items are.

#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "recs/dataset.h"
#include "recs/feature_vocabulary.h"
#include "recs/registry.h"
#include "recs/two_tower.h"

namespace watershed::recs {

class StoredItemTower {
 public:
  // kFailedPrecondition for a model without towers (popularity, BPR) or stored
  // in format 1 (before the vocabulary was stored: retrain it to embed new
  // items). `loaded` passed ModelRegistry::Load's checks.
  static Result<StoredItemTower> FromLoaded(const ModelRegistry::Loaded& loaded);

  // The item's embedding from its features; features the model never saw have
  // no embedding and are ignored (counted in *unknown). An item with no known
  // feature gets the tower's output for an empty input.
  TwoTowerModel::ItemEmbedding EmbedItem(const ItemDescription& item, size_t* unknown = nullptr) const;
  // The stored user vector of external user id `user`; kNotFound when the model
  // has none.
  Result<std::span<const float>> UserVector(std::string_view user) const;
  static float Score(std::span<const float> user, const TwoTowerModel::ItemEmbedding& item);
  uint32_t dim() const { return d_; }

 private:
  uint32_t d_ = 0;
  float temperature_ = 1;
  std::vector<float> wi_, bi_, feature_, vb_;
  float cb_ = 0;
  FeatureVocabulary vocabulary_;
  std::unordered_map<std::string, uint32_t> users_;
  std::vector<float> user_vectors_;
};

// The catalogue features of a dataset's item (dense id) as a description: tag
// names, author, language.
ItemDescription DescribeItem(const Dataset& data, uint32_t item);

}  // namespace watershed::recs
