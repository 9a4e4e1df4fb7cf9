#include "recs/evaluator.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <mutex>
#include <thread>

#include "recs/metrics.h"
#include "recs/user_items.h"

namespace watershed::recs {

double EvalResult::Get(const std::string& name) const {
  for (const auto& [k, v] : metrics)
    if (k == name) return v;
  return std::numeric_limits<double>::quiet_NaN();
}

EvalResult Evaluate(const Scorer& model, size_t num_users, size_t num_items, const std::vector<Interaction>& train,
                    const std::vector<Interaction>& test, std::span<const int> ks, unsigned threads,
                    const std::function<void(size_t, size_t)>& progress) {
  const UserItems seen(num_users, train);
  const UserItems wanted(num_users, test);
  std::vector<uint32_t> users;
  EvalResult result;
  for (uint32_t u = 0; u < num_users; ++u) {
    if (!wanted.Of(u).empty())
      users.push_back(u);
    else if (!seen.Of(u).empty())
      ++result.users_without_test;
  }
  std::vector<UserMetrics> per_user(users.size());
  std::atomic<size_t> next{0}, done{0};
  std::mutex progress_mu;
  constexpr size_t kChunk = 64;
  auto work = [&] {
    std::vector<float> scores(num_items);
    for (size_t start; (start = next.fetch_add(kChunk)) < users.size();) {
      const size_t end = std::min(users.size(), start + kChunk);
      for (size_t k = start; k < end; ++k) {
        model.Score(users[k], scores);
        per_user[k] = RankUser(scores, seen.Of(users[k]), wanted.Of(users[k]), ks);
      }
      const size_t d = done.fetch_add(end - start) + (end - start);
      if (progress) {
        std::lock_guard lock(progress_mu);
        progress(d, users.size());
      }
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < std::max(1u, threads); ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();

  result.users_evaluated = users.size();
  double auc = 0;
  size_t auc_users = 0;
  const size_t nk = ks.size();
  std::vector<double> sums(5 * nk, 0);
  for (const UserMetrics& m : per_user) {
    if (m.has_auc) {
      auc += m.auc;
      ++auc_users;
    }
    for (size_t i = 0; i < nk; ++i) {
      sums[i] += m.precision[i];
      sums[nk + i] += m.recall[i];
      sums[2 * nk + i] += m.ndcg[i];
      sums[3 * nk + i] += m.ap[i];
      sums[4 * nk + i] += m.hit[i];
    }
  }
  const double n = std::max<double>(1, static_cast<double>(users.size()));
  result.metrics.emplace_back("auc", auc_users ? auc / static_cast<double>(auc_users) : 0);
  for (size_t i = 0; i < nk; ++i) {
    const std::string at = "@" + std::to_string(ks[i]);
    std::vector<bool> covered(num_items, false);
    for (const UserMetrics& m : per_user)
      for (size_t r = 0; r < std::min(m.top.size(), static_cast<size_t>(ks[i])); ++r) covered[m.top[r]] = true;
    const double coverage = num_items ? static_cast<double>(std::count(covered.begin(), covered.end(), true)) /
                                            static_cast<double>(num_items)
                                      : 0;
    result.metrics.emplace_back("precision" + at, sums[i] / n);
    result.metrics.emplace_back("recall" + at, sums[nk + i] / n);
    result.metrics.emplace_back("ndcg" + at, sums[2 * nk + i] / n);
    result.metrics.emplace_back("map" + at, sums[3 * nk + i] / n);
    result.metrics.emplace_back("hr" + at, sums[4 * nk + i] / n);
    result.metrics.emplace_back("coverage" + at, coverage);
  }
  return result;
}

}  // namespace watershed::recs
