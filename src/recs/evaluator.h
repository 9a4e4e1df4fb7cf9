#pragma once
// Offline evaluation: every user with at least one test interaction gets a
// full ranking of the items not in their training interactions (metrics.h);
// metrics are the mean over those users (AUC over those with a negative).
// Users without test interactions are counted and skipped. Results do not
// depend on the number of threads (per-user results are summed in user order).

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "recs/dataset.h"
#include "recs/model.h"

namespace watershed::recs {

struct EvalResult {
  // "auc", then per K: "precision@K", "recall@K", "ndcg@K", "map@K", "hr@K", "coverage@K".
  std::vector<std::pair<std::string, double>> metrics;
  size_t users_evaluated = 0;
  size_t users_without_test = 0;  // users with training interactions but none in test

  double Get(const std::string& name) const;  // NaN when absent
};

// `progress(done, total)` is called now and then from a worker thread (serialised).
EvalResult Evaluate(const Scorer& model, size_t num_users, size_t num_items, const std::vector<Interaction>& train,
                    const std::vector<Interaction>& test, std::span<const int> ks, unsigned threads,
                    const std::function<void(size_t, size_t)>& progress = {});

}  // namespace watershed::recs
