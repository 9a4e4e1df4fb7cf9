#include "recs/bpr.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "recs/bpr_loss.h"
#include "recs/evaluator.h"
#include "recs/rng.h"
#include "recs/split.h"
#include "recs/user_items.h"

namespace watershed::recs {
namespace {

// Parameters shared by Hogwild threads: relaxed atomic access, plain movs on x86.
void Load(float* from, float* to, size_t n) {
  for (size_t k = 0; k < n; ++k) to[k] = std::atomic_ref<float>(from[k]).load(std::memory_order_relaxed);
}
void Store(const float* from, float* to, size_t n) {
  for (size_t k = 0; k < n; ++k) std::atomic_ref<float>(to[k]).store(from[k], std::memory_order_relaxed);
}

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
  const float* pu = &user_factors_[static_cast<size_t>(user) * d_];
  std::copy(item_bias_.begin(), item_bias_.end(), out.begin());
  for (size_t f = 0; f < d_; ++f) {
    const float w = pu[f];
    const float* col = &item_by_factor_[f * num_items_];
    for (size_t i = 0; i < num_items_; ++i) out[i] += w * col[i];
  }
}

BprModel BprModel::Train(size_t num_users, size_t num_items, const std::vector<Interaction>& all_train,
                         const BprConfig& c, const std::function<void(const EpochReport&)>& progress) {
  const auto started = std::chrono::steady_clock::now();
  const Split val = HoldOutValidation(all_train, num_users, c.validation_users, c.seed);
  const std::vector<Interaction>& train = val.train;
  const UserItems positives(num_users, all_train);  // validation items are not negatives either

  BprModel m(num_users, num_items, c.factors);
  Rng init(MixSeed(c.seed, 1));
  for (float& v : m.user_factors_) v = static_cast<float>((init.Unit() - 0.5) * 0.2);
  for (float& v : m.item_factors_) v = static_cast<float>((init.Unit() - 0.5) * 0.2);
  BprModel best = m;
  double best_val = -1;
  uint32_t since_best = 0;
  const unsigned threads = std::max(1u, c.threads);
  const size_t d = c.factors;
  const int ks[] = {c.validation_k};

  for (uint32_t epoch = 1; epoch <= c.max_epochs && !train.empty(); ++epoch) {
    std::vector<double> losses(threads, 0);
    auto run = [&](unsigned t) {
      Rng rng(MixSeed(c.seed, uint64_t{epoch} << 16 | t));
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
        Load(u_row, pu, d);
        Load(i_row, qi, d);
        Load(j_row, qj, d);
        float bi = std::atomic_ref<float>(m.item_bias_[x.item]).load(std::memory_order_relaxed);
        float bj = std::atomic_ref<float>(m.item_bias_[j]).load(std::memory_order_relaxed);
        float gbi = 0, gbj = 0;
        loss += BprTripleGradient(pu, qi, qj, bi, bj, d, c.l2, gu, gi, gj, &gbi, &gbj);
        for (size_t f = 0; f < d; ++f) {
          pu[f] -= c.learning_rate * gu[f];
          qi[f] -= c.learning_rate * gi[f];
          qj[f] -= c.learning_rate * gj[f];
        }
        Store(pu, u_row, d);
        Store(qi, i_row, d);
        Store(qj, j_row, d);
        std::atomic_ref<float>(m.item_bias_[x.item]).store(bi - c.learning_rate * gbi, std::memory_order_relaxed);
        std::atomic_ref<float>(m.item_bias_[j]).store(bj - c.learning_rate * gbj, std::memory_order_relaxed);
      }
      losses[t] = loss;
    };
    std::vector<std::thread> pool;
    for (unsigned t = 1; t < threads; ++t) pool.emplace_back(run, t);
    run(0);
    for (auto& th : pool) th.join();

    EpochReport r;
    r.epoch = epoch;
    r.max_epochs = c.max_epochs;
    for (double l : losses) r.loss += l;
    r.loss /= static_cast<double>(train.size());
    m.Transpose();
    m.epochs_run_ = epoch;
    if (!val.test.empty())
      r.validation =
          Evaluate(m, num_users, num_items, train, val.test, ks, threads).Get("ndcg@" + std::to_string(c.validation_k));
    r.best = val.test.empty() || r.validation > best_val;
    if (r.best) {
      best_val = r.validation;
      best = m;
      best.best_epoch_ = epoch;
      since_best = 0;
    } else {
      ++since_best;
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (progress) progress(r);
    if (since_best >= c.patience) break;
  }
  best.epochs_run_ = m.epochs_run_;
  if (best.item_by_factor_.empty()) best.Transpose();
  return best;
}

}  // namespace watershed::recs
