#pragma once
// The ranker (docs/recs.md, "Ranker"): logistic regression re-ranking the two-tower model's top `candidates`
// items of each user with richer features of (user, item) at a time t, defined on the feature store's state
// (ranker_features.h: the two-tower score, popularity, age, user-tag and user-author affinity) so that training
// and serving compute them with the same code.
// Training (no leakage): a random `holdout` share of each user's training interactions (users with >= 3; or the
// latest ones) is held out, and a two-tower model trained on the rest (the base). Each held-out positive (u, i, t)
// that is among u's top `candidates` of the base model (the items not in u's base interactions) is an example
// of label 1, and `negatives` other candidates u has no training interaction with are examples of label 0, all
// with features at t from an embedded feature store fed the base interactions strictly before t
// (PointInTimeRankerFeatures). The weights minimise the mean log loss + l2/2 |w|^2 (not the bias), by Newton's
// method on standardised features (deterministic). Ranking: the two-tower model trained on all training
// interactions (refit; else the base one with every training item in its histories) picks the candidates, which
// the ranker orders above the rest, with features from a store fed every training interaction.

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "recs/dataset.h"
#include "recs/feature_store.h"
#include "recs/model.h"
#include "recs/ranker_features.h"
#include "recs/two_tower.h"
#include "recs/user_items.h"

namespace watershed::recs {

struct RankerConfig {
  TwoTowerConfig two_tower;
  uint32_t candidates = 200;    // the two-tower's top N re-ranked (and where
                                // training negatives come from)
  uint32_t negatives = 8;       // per held-out positive
  double holdout = 0.2;         // share of each user's (>= 3) training interactions held out
  bool holdout_latest = false;  // the latest ones (else a random share, as the stratified split draws tests)
  double l2 = 1e-3;
  uint32_t iterations = 30;  // Newton steps at most
  bool refit = true;         // rank with a two-tower model trained on all training interactions
};

// z = bias + sum_f w_f (x_f - mean_f) / scale_f. Floats: stored as they are
// used, so a stored model scores alike.
struct RankerWeights {
  std::array<float, kRankerFeatures> w{}, mean{}, scale{};
  float bias = 0;
};

// The mean log loss of a logistic regression over standardised examples x (n x
// kRankerFeatures) with labels y, params = [w_0..w_{F-1}, bias], + l2/2 |w|^2;
// `grad` (kRankerFeatures + 1, may be null) receives the gradient. A template
// for the finite-difference check (double) and training (double).
template <typename T>
T RankerLoss(std::span<const T> params, std::span<const double> x, std::span<const uint8_t> y, double l2, T* grad);

// The ranker's feature store (ranker_features.h): an embedded store (the default FeatureStoreConfig, as `serve`'s
// online store uses) with the data's items — tags, created_at, authors (numbered here: the store keys them by
// number) — and `known` applied as events (seconds -> ms).
class RankerContext {
 public:
  RankerContext(const Dataset& data, const std::vector<Interaction>& known);
  // Features of `items` for `user` after every known interaction (at now_ms()), given their two-tower scores;
  // out: items.size() x kRankerFeatures.
  void Features(uint32_t user, std::span<const uint32_t> items, std::span<const float> two_tower,
                std::vector<double>* out) const;
  int64_t now_ms() const { return now_ms_; }
  const FeatureStore& store() const { return *store_; }

  // A store with the data's items and no events, and `known` as time-sorted events: the inputs of
  // PointInTimeRankerFeatures.
  static std::unique_ptr<EmbeddedFeatureStore> ItemsOnly(const Dataset& data);
  static std::vector<FeatureEvent> Events(const std::vector<Interaction>& known);

 private:
  std::shared_ptr<const EmbeddedFeatureStore> store_;
  int64_t now_ms_ = 0;  // the latest known time + 1 ms
};

class RankerModel : public Scorer {
 public:
  static RankerModel Train(const Dataset& data, const std::vector<Interaction>& train, const RankerConfig& config,
                           const std::function<void(const EpochReport&)>& epochs = {},
                           const std::function<void(const std::string&)>& note = {});
  // A ranker from stored parts (the model registry): the retrieval scores (the
  // serving two-tower), the weights, and the training interactions the features
  // come from.
  static RankerModel FromParts(std::shared_ptr<const Scorer> retrieval, const RankerWeights& weights,
                               const Dataset& data, const std::vector<Interaction>& train, uint32_t candidates);
  void Score(uint32_t user, std::span<float> out) const override;

  const RankerWeights& weights() const { return w_; }
  uint32_t candidates() const { return candidates_; }
  // The serving two-tower model (null when built FromParts).
  const TwoTowerModel* two_tower() const { return two_tower_.get(); }
  size_t examples() const { return examples_; }
  double train_loss() const { return train_loss_; }

 private:
  RankerModel(const Dataset& data, const std::vector<Interaction>& train) : context_(data, train) {}

  std::shared_ptr<const Scorer> retrieval_;
  std::shared_ptr<const TwoTowerModel> two_tower_;
  RankerContext context_;
  std::shared_ptr<const UserItems> seen_;  // per user: the training items (never candidates)
  RankerWeights w_;
  uint32_t candidates_ = 200;
  size_t examples_ = 0;
  double train_loss_ = 0;
};

}  // namespace watershed::recs
