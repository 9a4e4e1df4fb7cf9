#pragma once
// What the evaluator needs of a trained model: a score for every item.

#include <cstdint>
#include <span>

namespace watershed::recs {

class Scorer {
 public:
  virtual ~Scorer() = default;
  // Fills `out` (one entry per catalogue item) with the user's scores;
  // higher ranks first. Safe to call from several threads at once.
  virtual void Score(uint32_t user, std::span<float> out) const = 0;
};

}  // namespace watershed::recs
