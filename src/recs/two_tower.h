#pragma once
// The two-tower retrieval model (docs/recs.md, "two-tower"): a user tower
// over the user id embedding and the mean of the embeddings of the user's
// last `history` training items, and an item tower over the item id
// embedding and the mean of the embeddings of the item's features (tags,
// and the author when the data has one); each ends in a dense layer
// (2d -> d) and L2 normalisation; the score is the cosine of the two over
// the temperature plus an item bias head (two_tower_loss.h). An item without training interactions — in the
// catalogue but unrated, or new — has no id part: its vector comes from its
// features alone, so it is ranked without retraining.
//
// Training: batches of `batch` training interactions; each row's
// candidates are the batch's positives plus `negatives` items drawn
// uniformly from the catalogue; in-batch sampled softmax at temperature
// `temperature` with the log-Q correction (Yi et al., RecSys 2019: each
// logit minus the log of its item's expected count among the candidates,
// from the item's frequency in the training positives); Adagrad; L2. A
// training row's history leaves out the row's own item (no leakage).
// Early stopping on a held-out validation set as BprModel does.
//
// Threads: Hogwild over batches (each thread its share of an epoch's
// batches; relaxed atomic loads and stores of the shared parameters). With
// threads == 1 a seed gives bit-identical models.

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "recs/dataset.h"
#include "recs/feature_vocabulary.h"
#include "recs/model.h"
#include "recs/training.h"
#include "recs/two_tower_loss.h"

namespace watershed::recs {

struct TwoTowerConfig {
  uint32_t dim = 32;
  uint32_t history = 32;  // last N training items pooled into the user tower
  uint32_t batch = 256;
  uint32_t negatives = 64;  // uniform negatives per batch, shared by its rows
  float temperature = 0.2f;
  bool log_q_correction = true;  // off only to measure what it is worth (TwoTower.TheLogQCorrectionMatters)
  float learning_rate = 0.1f;    // Adagrad
  float l2 = 1e-5f;
  TrainingConfig training{.max_epochs = 30, .patience = 2};
};

// The items' features as the model sees them: ids in [0, count) — the tags,
// then one id per author and one per language in order of first appearance.
// `names` is the vocabulary the model registry stores so a new item's features
// map to the same ids: "tag:<name>", "author:<id>", "language:<code>"
// (feature_vocabulary.h).
struct ItemFeatureIds {
  std::vector<std::vector<uint32_t>> of;  // per catalogue item
  size_t count = 0;
  std::vector<std::string> names;  // per feature id
};
ItemFeatureIds TwoTowerFeatures(const Dataset& data);

class TwoTowerModel : public Scorer {
 public:
  // `features`: per catalogue item (missing ones: none) (TwoTowerFeatures).
  static TwoTowerModel Train(size_t num_users, size_t num_items, const std::vector<Interaction>& train,
                             const ItemFeatureIds& features, const TwoTowerConfig& config,
                             const std::function<void(const EpochReport&)>& progress = {});
  void Score(uint32_t user, std::span<float> out) const override;

  // The item tower for an item the model has no id embedding for (e.g. added after training):
  // score(u, item) = <UserVector(u), vector> + bias, as Score computes it for catalogue items.
  struct ItemEmbedding {
    std::vector<float> vector;
    float bias = 0;
  };
  ItemEmbedding EmbedNewItem(std::span<const uint32_t> features) const;
  float ItemScoreBias(uint32_t item) const { return item_bias_[item]; }
  std::span<const float> ItemVector(uint32_t item) const { return {&item_vectors_[size_t{item} * d_], d_}; }
  std::span<const float> UserVector(uint32_t user) const { return {&user_vectors_[size_t{user} * d_], d_}; }
  // Recomputes the user vectors from the last `history` items of each user in `known`.
  void SetHistories(const std::vector<Interaction>& known);

  uint32_t epochs_run() const { return epochs_run_; }
  uint32_t best_epoch() const { return best_epoch_; }
  // The tower weights and sizes, for the model registry (stored_model.h).
  const TowerBlock<float>& parameters() const { return p_; }
  uint32_t dim() const { return d_; }
  float temperature() const { return temperature_; }
  size_t num_users() const { return num_users_; }
  size_t num_items() const { return num_items_; }

 private:
  TwoTowerModel() = default;
  void EmbedItems();

  size_t num_users_ = 0, num_items_ = 0;
  uint32_t d_ = 0, history_ = 0;
  float temperature_ = 1;
  TowerBlock<float> p_;
  std::vector<uint8_t> has_id_;                  // per item: trained with an id embedding
  std::vector<std::vector<uint32_t>> features_;  // per item
  std::vector<float> user_vectors_;              // num_users x d
  std::vector<float> item_vectors_;              // num_items x d
  std::vector<float> item_bias_;                 // num_items: the bias head times the temperature
  std::vector<float> item_by_factor_;            // d x num_items, for Score
  uint32_t epochs_run_ = 0;
  uint32_t best_epoch_ = 0;
};

}  // namespace watershed::recs
