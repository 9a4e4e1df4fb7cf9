#pragma once
// The ranker (docs/recs.md, "Ranker"): logistic regression re-ranking the two-tower model's top `candidates`
// items of each user with richer features of (user, item) at a time t:
//   two_tower        the two-tower score
//   log_popularity   log(1 + the item's known interactions before t)
//   age_years        years from the item's created_at to t (0 when unknown); age_known: 1 when it is known
//   tag_affinity     mean over the item's tags of the share of the user's known interactions before t with it
//   author_affinity  the share of the user's known interactions before t on the item's author (0 without one)
// Training (no leakage): a random `holdout` share of each user's training interactions (users with >= 3; or the
// latest ones) is held out, and a two-tower model trained on the rest (the base). Each held-out positive (u, i, t)
// that is among u's top `candidates` of the base model (the items not in u's base interactions) is an example
// of label 1, and `negatives` other candidates u has no training interaction with are examples of label 0, all
// with features at t from the base interactions strictly before t. The weights minimise the mean log loss +
// l2/2 |w|^2 (not the bias), by Newton's method on standardised features (deterministic). Ranking: the two-tower
// model trained on all training interactions (refit; else the base one with every training item in its
// histories) picks the candidates, which the ranker orders above the rest, with features after every training
// interaction.

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "recs/dataset.h"
#include "recs/model.h"
#include "recs/two_tower.h"
#include "recs/user_items.h"

namespace watershed::recs {

inline constexpr size_t kRankerFeatures = 6;
inline constexpr std::array<const char*, kRankerFeatures> kRankerFeatureNames = {
    "two_tower", "log_popularity", "age_years", "age_known", "tag_affinity", "author_affinity"};

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

// The known interactions behind the features at a time t (every item and user
// of `data`).
class RankerContext {
 public:
  RankerContext(const Dataset& data, const std::vector<Interaction>& known);
  // Features of `items` for `user` at time t (INT64_MAX: after every known
  // interaction, at `now()`), given their two-tower scores; out: items.size() x
  // kRankerFeatures.
  void Features(uint32_t user, int64_t t, std::span<const uint32_t> items, std::span<const float> two_tower,
                std::vector<double>* out) const;
  int64_t now() const { return now_; }

 private:
  std::vector<std::vector<uint32_t>> tags_;       // per item
  std::vector<int64_t> author_;                   // per item: a dense author id, -1 without
  std::vector<int64_t> created_;                  // per item, unix seconds (0 unknown)
  std::vector<std::vector<int64_t>> item_times_;  // per item: sorted times of its known interactions
  std::vector<std::vector<Interaction>> user_;    // per user: known interactions sorted by time
  size_t tag_count_ = 0;
  int64_t now_ = 0;  // the latest known time + 1
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
