#include "recs/metrics.h"

#include <algorithm>
#include <cmath>

namespace watershed::recs {

UserMetrics RankUser(std::span<const float> scores, std::span<const uint32_t> excluded,
                     std::span<const uint32_t> relevant, std::span<const int> ks) {
  struct Candidate {
    float score;
    uint32_t item;
  };
  std::vector<Candidate> cands;
  cands.reserve(scores.size() - std::min(scores.size(), excluded.size()));
  std::vector<float> positive_scores;
  positive_scores.reserve(relevant.size());
  size_t ex = 0, rel = 0;
  for (uint32_t i = 0; i < scores.size(); ++i) {
    while (ex < excluded.size() && excluded[ex] < i) ++ex;
    if (ex < excluded.size() && excluded[ex] == i) continue;
    cands.push_back({scores[i], i});
    while (rel < relevant.size() && relevant[rel] < i) ++rel;
    if (rel < relevant.size() && relevant[rel] == i) positive_scores.push_back(scores[i]);
  }
  UserMetrics m;

  // AUC: for each negative, the positives above it (ties count one half).
  std::sort(positive_scores.begin(), positive_scores.end());
  const size_t p = positive_scores.size(), n = cands.size() - p;
  if (p > 0 && n > 0) {
    double wins = 0;
    rel = 0;
    for (const Candidate& c : cands) {
      while (rel < relevant.size() && relevant[rel] < c.item) ++rel;
      if (rel < relevant.size() && relevant[rel] == c.item) continue;
      auto lo = std::lower_bound(positive_scores.begin(), positive_scores.end(), c.score);
      auto hi = std::upper_bound(lo, positive_scores.end(), c.score);
      wins += static_cast<double>(positive_scores.end() - hi) + 0.5 * static_cast<double>(hi - lo);
    }
    m.auc = wins / (static_cast<double>(p) * static_cast<double>(n));
    m.has_auc = true;
  }

  // The top max(K), best first.
  int kmax = 0;
  for (int k : ks) kmax = std::max(kmax, k);
  const size_t top_n = std::min(cands.size(), static_cast<size_t>(kmax));
  std::partial_sort(
      cands.begin(), cands.begin() + static_cast<std::ptrdiff_t>(top_n), cands.end(),
      [](const Candidate& a, const Candidate& b) { return a.score != b.score ? a.score > b.score : a.item < b.item; });
  m.top.resize(top_n);
  std::vector<bool> is_rel(top_n);
  for (size_t r = 0; r < top_n; ++r) {
    m.top[r] = cands[r].item;
    is_rel[r] = std::binary_search(relevant.begin(), relevant.end(), cands[r].item);
  }
  for (int k : ks) {
    const size_t kk = std::min(top_n, static_cast<size_t>(k));
    double hits = 0, dcg = 0, ap = 0, idcg = 0;
    for (size_t r = 0; r < kk; ++r) {
      if (!is_rel[r]) continue;
      hits += 1;
      dcg += 1.0 / std::log2(static_cast<double>(r) + 2);
      ap += hits / static_cast<double>(r + 1);
    }
    const size_t ideal = std::min(relevant.size(), static_cast<size_t>(k));
    for (size_t r = 0; r < ideal; ++r) idcg += 1.0 / std::log2(static_cast<double>(r) + 2);
    m.precision.push_back(hits / k);
    m.recall.push_back(hits / static_cast<double>(relevant.size()));
    m.ndcg.push_back(dcg / idcg);
    m.ap.push_back(ap / static_cast<double>(ideal));
    m.hit.push_back(hits > 0 ? 1 : 0);
  }
  return m;
}

}  // namespace watershed::recs
