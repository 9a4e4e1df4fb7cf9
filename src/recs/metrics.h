#pragma once
// Ranking metrics of one user over a full ranking: every catalogue item
// except the user's training items is a candidate; the user's test items
// are the relevant ones (binary relevance). Ties in score rank the lower
// item id first (deterministic); AUC counts a tied positive/negative pair
// as one half. Definitions: docs/recs.md ("Metrics").

#include <cstdint>
#include <span>
#include <vector>

namespace watershed::recs {

struct UserMetrics {
  double auc = 0;        // over (relevant, other candidate) pairs; meaningless when has_auc is false
  bool has_auc = false;  // false when every candidate is relevant
  std::vector<double> precision, recall, ndcg, ap, hit;  // one per K, in the order of `ks`
  std::vector<uint32_t> top;                             // the best max(ks) candidates, best first
};

// `scores` has one score per catalogue item; `excluded` (training items) and
// `relevant` (test items, none excluded) are sorted item ids; `relevant` is
// not empty; every K > 0.
UserMetrics RankUser(std::span<const float> scores, std::span<const uint32_t> excluded,
                     std::span<const uint32_t> relevant, std::span<const int> ks);

}  // namespace watershed::recs
