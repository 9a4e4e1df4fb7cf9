#pragma once
// What the evaluator needs of a trained model: a score for every item.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace watershed::recs {

class Scorer {
 public:
  virtual ~Scorer() = default;
  // Fills `out` (one entry per catalogue item) with the user's scores;
  // higher ranks first. Safe to call from several threads at once.
  virtual void Score(uint32_t user, std::span<float> out) const = 0;
};

// out = bias + the user's d-vector times a factor-major (d x items) item matrix: runs along items, which
// vectorises without reassociation (bit-stable). For factor models (BPR, two-tower).
inline void ScoreFactorMajor(const float* user, size_t d, const std::vector<float>& bias,
                             const std::vector<float>& item_by_factor, std::span<float> out) {
  const size_t n = bias.size();
  std::copy(bias.begin(), bias.end(), out.begin());
  for (size_t f = 0; f < d; ++f) {
    const float w = user[f];
    const float* col = &item_by_factor[f * n];
    for (size_t i = 0; i < n; ++i) out[i] += w * col[i];
  }
}

}  // namespace watershed::recs
