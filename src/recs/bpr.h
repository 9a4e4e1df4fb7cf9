#pragma once
// Bayesian Personalised Ranking matrix factorisation (Rendle et al. 2009):
// score(u, i) = b_i + <p_u, q_i>, trained by SGD on (u, i, j) triples —
// (u, i) a uniformly drawn training interaction, j a uniformly drawn item u
// has not interacted with — minimising bpr_loss.h. Early stopping: a
// validation set (one held-out interaction each of up to
// training.validation_users users) is ranked after every epoch; training stops
// after `training.patience` epochs without a better NDCG@validation_k and keeps the best
// epoch's parameters.
//
// Threads: Hogwild — each thread runs its share of the epoch's samples with
// its own random stream and updates the shared parameters without locks
// (relaxed atomic loads and stores of each float, so no data race in the C++
// sense). With threads == 1 a seed gives bit-identical models; with more,
// the interleaving of updates varies from run to run, so models (and
// metrics) vary slightly, as with any Hogwild SGD.

#include <cstdint>
#include <functional>
#include <vector>

#include "recs/dataset.h"
#include "recs/model.h"
#include "recs/training.h"

namespace watershed::recs {

struct BprConfig {
  uint32_t factors = 32;
  float learning_rate = 0.05f;
  float l2 = 0.002f;
  TrainingConfig training{.max_epochs = 40, .patience = 3};
};

class BprModel : public Scorer {
 public:
  static BprModel Train(size_t num_users, size_t num_items, const std::vector<Interaction>& train,
                        const BprConfig& config, const std::function<void(const EpochReport&)>& progress = {});
  void Score(uint32_t user, std::span<float> out) const override;

  uint32_t epochs_run() const { return epochs_run_; }
  uint32_t best_epoch() const { return best_epoch_; }
  // The parameters, for the model registry (stored_model.h).
  uint32_t factors() const { return d_; }
  const std::vector<float>& user_factors() const { return user_factors_; }  // num_users x factors
  const std::vector<float>& item_factors() const { return item_factors_; }  // num_items x factors
  const std::vector<float>& item_bias() const { return item_bias_; }

 private:
  BprModel(size_t num_users, size_t num_items, uint32_t factors);
  void Transpose();  // item_by_factor_ from item_factors_, for Score

  size_t num_items_ = 0;
  uint32_t d_ = 0;
  std::vector<float> user_factors_;    // num_users x d
  std::vector<float> item_factors_;    // num_items x d
  std::vector<float> item_bias_;       // num_items
  std::vector<float> item_by_factor_;  // d x num_items: Score runs along items, which vectorises
  uint32_t epochs_run_ = 0;
  uint32_t best_epoch_ = 0;
};

}  // namespace watershed::recs
