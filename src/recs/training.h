#pragma once
// What the trainers (BPR, two-tower) share: the per-epoch progress report,
// early stopping on a validation NDCG, and Hogwild's lock-free access to
// shared parameters.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "recs/dataset.h"
#include "recs/evaluator.h"
#include "recs/model.h"
#include "recs/split.h"

namespace watershed::recs {

// What every trainer's config holds (BprConfig::training, TwoTowerConfig::training): the epoch loop, early
// stopping, threads and the seed. The defaults differ per model (each config sets its own).
struct TrainingConfig {
  uint32_t max_epochs = 40;
  uint32_t patience = 3;  // epochs without a better validation metric before stopping
  unsigned threads = 1;   // Hogwild; 0 counts as 1
  uint64_t seed = 42;
  size_t validation_users = 1000;  // one held-out interaction each of up to this many users (HoldOutValidation)
  int validation_k = 10;           // early stopping watches NDCG@validation_k
  unsigned Threads() const { return threads > 0 ? threads : 1; }
};

struct EpochReport {
  uint32_t epoch = 0;  // 1-based
  uint32_t max_epochs = 0;
  double loss = 0;        // mean loss of the epoch's samples (with the L2 term)
  double validation = 0;  // NDCG@validation_k on the validation set (0 without one)
  double seconds = 0;     // since training began
  bool best = false;
};

// Early stopping: training stops after `patience` epochs without a better
// validation metric, and the caller keeps the best epoch's parameters.
class EarlyStopping {
 public:
  explicit EarlyStopping(uint32_t patience) : patience_(patience) {}
  // Whether this epoch's `value` is the best so far (every epoch is, without a
  // validation set).
  bool Observe(double value, bool have_validation) {
    const bool best = !have_validation || value > best_;
    if (best) {
      best_ = value;
      since_best_ = 0;
    } else {
      ++since_best_;
    }
    return best;
  }
  bool Stop() const { return since_best_ >= patience_; }

 private:
  uint32_t patience_;
  double best_ = -1;
  uint32_t since_best_ = 0;
};

// NDCG@k of `model` on a validation set (HoldOutValidation's test part), ranked
// as Evaluate does; 0 when empty.
inline double ValidationNdcg(const Scorer& model, size_t num_users, size_t num_items,
                             const std::vector<Interaction>& train, const std::vector<Interaction>& validation, int k,
                             unsigned threads) {
  if (validation.empty()) return 0;
  const int ks[] = {k};
  return Evaluate(model, num_users, num_items, train, validation, ks, threads).Get("ndcg@" + std::to_string(k));
}

struct EpochCounts {
  uint32_t run = 0;
  uint32_t best = 0;  // the epoch whose model was kept
};

// The epoch loop of the trainers, at most c.max_epochs epochs. Each epoch: `start(epoch)`, then `run(epoch, t)`
// on threads t = 0..c.Threads()-1 (t = 0 on the caller's; each returns the summed loss of its samples), `ready(m)`
// to make `m` rankable, the validation NDCG@c.validation_k of `m` on `val` (the training part is `val.train`),
// early stopping after c.patience epochs without progress; `*best` receives the best epoch's model.
template <typename Model, typename Start, typename Run, typename Ready>
EpochCounts RunEpochs(Model& m, Model* best, const Split& val, size_t num_users, size_t num_items,
                      const TrainingConfig& c, const std::function<void(const EpochReport&)>& progress, Start start,
                      Run run, Ready ready) {
  const auto started = std::chrono::steady_clock::now();
  const uint32_t max_epochs = c.max_epochs;
  const unsigned threads = c.Threads();
  const int k = c.validation_k;
  EarlyStopping stopping(c.patience);
  EpochCounts n;
  for (uint32_t epoch = 1; epoch <= max_epochs && !val.train.empty(); ++epoch) {
    start(epoch);
    std::vector<double> losses(threads, 0);
    std::vector<std::thread> pool;
    for (unsigned t = 1; t < threads; ++t) pool.emplace_back([&, t] { losses[t] = run(epoch, t); });
    losses[0] = run(epoch, 0u);
    for (auto& th : pool) th.join();

    EpochReport r;
    r.epoch = n.run = epoch;
    r.max_epochs = max_epochs;
    for (double l : losses) r.loss += l;
    r.loss /= static_cast<double>(val.train.size());
    ready(m);
    r.validation = ValidationNdcg(m, num_users, num_items, val.train, val.test, k, threads);
    r.best = stopping.Observe(r.validation, !val.test.empty());
    if (r.best) {
      *best = m;
      n.best = epoch;
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (progress) progress(r);
    if (stopping.Stop()) break;
  }
  return n;
}

// Parameters shared by Hogwild threads: relaxed atomic access, plain movs on
// x86 (no data race in the C++ sense).
inline void HogwildLoad(float* from, float* to, size_t n) {
  for (size_t k = 0; k < n; ++k) to[k] = std::atomic_ref<float>(from[k]).load(std::memory_order_relaxed);
}
inline void HogwildStore(const float* from, float* to, size_t n) {
  for (size_t k = 0; k < n; ++k) std::atomic_ref<float>(to[k]).store(from[k], std::memory_order_relaxed);
}

}  // namespace watershed::recs
