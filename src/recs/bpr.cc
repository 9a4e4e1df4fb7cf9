#include "recs/bpr.h"

#include <algorithm>
#include <atomic>

#include "recs/bpr_loss.h"
#include "recs/evaluator.h"
#include "recs/rng.h"
#include "recs/split.h"
#include "recs/user_items.h"

namespace watershed::recs {
namespace {

constexpr int kNegativeAttempts = 64;  // then the last draw is used even if positive (only a near-complete user)

}  // namespace

BprModel::BprModel(size_t num_users, size_t num_items, uint32_t factors)
    : num_items_(num_items),
      d_(factors),
      user_factors_(num_users * factors),
      item_factors_(num_items * factors),
      item_bias_(num_items, 0) {}

void BprModel::Transpose() {
  item_by_factor_.assign(static_cast<size_t>(d_) * num_items_, 0);
  for (size_t i = 0; i < num_items_; ++i)
    for (size_t f = 0; f < d_; ++f) item_by_factor_[f * num_items_ + i] = item_factors_[i * d_ + f];
}

void BprModel::Score(uint32_t user, std::span<float> out) const {
  ScoreFactorMajor(&user_factors_[static_cast<size_t>(user) * d_], d_, item_bias_, item_by_factor_, out);
}

BprModel BprModel::Train(size_t num_users, size_t num_items, const std::vector<Interaction>& all_train,
                         const BprConfig& c, const std::function<void(const EpochReport&)>& progress) {
  const Split val = HoldOutValidation(all_train, num_users, c.training.validation_users, c.training.seed);
  const std::vector<Interaction>& train = val.train;
  const UserItems positives(num_users, all_train);  // validation items are not negatives either

  BprModel m(num_users, num_items, c.factors);
  Rng init(MixSeed(c.training.seed, 1));
  for (float& v : m.user_factors_) v = static_cast<float>((init.Unit() - 0.5) * 0.2);
  for (float& v : m.item_factors_) v = static_cast<float>((init.Unit() - 0.5) * 0.2);
  BprModel best = m;
  const unsigned threads = c.training.Threads();
  const size_t d = c.factors;

  auto run = [&](uint32_t epoch, unsigned t) {
    Rng rng(MixSeed(c.training.seed, uint64_t{epoch} << 16 | t));
    const size_t n = train.size() / threads + (t < train.size() % threads ? 1 : 0);
    std::vector<float> buf(6 * d);
    float *pu = buf.data(), *qi = pu + d, *qj = qi + d, *gu = qj + d, *gi = gu + d, *gj = gi + d;
    double loss = 0;
    for (size_t s = 0; s < n; ++s) {
      const Interaction& x = train[rng.Below(static_cast<uint32_t>(train.size()))];
      uint32_t j = 0;
      for (int a = 0; a < kNegativeAttempts; ++a) {
        j = rng.Below(static_cast<uint32_t>(num_items));
        if (!positives.Has(x.user, j)) break;
      }
      if (j == x.item) continue;
      float* u_row = &m.user_factors_[x.user * d];
      float* i_row = &m.item_factors_[x.item * d];
      float* j_row = &m.item_factors_[j * d];
      HogwildLoad(u_row, pu, d);
      HogwildLoad(i_row, qi, d);
      HogwildLoad(j_row, qj, d);
      float bi = std::atomic_ref<float>(m.item_bias_[x.item]).load(std::memory_order_relaxed);
      float bj = std::atomic_ref<float>(m.item_bias_[j]).load(std::memory_order_relaxed);
      float gbi = 0, gbj = 0;
      loss += BprTripleGradient(pu, qi, qj, bi, bj, d, c.l2, gu, gi, gj, &gbi, &gbj);
      for (size_t f = 0; f < d; ++f) {
        pu[f] -= c.learning_rate * gu[f];
        qi[f] -= c.learning_rate * gi[f];
        qj[f] -= c.learning_rate * gj[f];
      }
      HogwildStore(pu, u_row, d);
      HogwildStore(qi, i_row, d);
      HogwildStore(qj, j_row, d);
      std::atomic_ref<float>(m.item_bias_[x.item]).store(bi - c.learning_rate * gbi, std::memory_order_relaxed);
      std::atomic_ref<float>(m.item_bias_[j]).store(bj - c.learning_rate * gbj, std::memory_order_relaxed);
    }
    return loss;
  };
  const EpochCounts n = RunEpochs(
      m, &best, val, num_users, num_items, c.training, progress, [](uint32_t) {}, run,
      [](BprModel& model) { model.Transpose(); });
  best.epochs_run_ = n.run;
  best.best_epoch_ = n.best;
  if (best.item_by_factor_.empty()) best.Transpose();
  return best;
}

}  // namespace watershed::recs
