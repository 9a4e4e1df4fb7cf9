#pragma once
// A small deterministic generator (SplitMix64) for everything in recs that
// draws: the same seed gives the same numbers on every platform and
// standard library (unlike std:: distributions).

#include <cstdint>

namespace watershed::recs {

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n); n > 0. (Lemire's multiply-shift; the bias is below 2^-32 for our n.)
  uint32_t Below(uint32_t n) { return static_cast<uint32_t>(((Next() >> 32) * n) >> 32); }
  // Uniform in [0, 1).
  double Unit() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

 private:
  uint64_t state_;
};

// An independent stream for (seed, purpose): e.g. one per thread or per user.
inline uint64_t MixSeed(uint64_t seed, uint64_t stream) { return Rng(seed ^ (stream * 0xD1B54A32D192ED03ull)).Next(); }

}  // namespace watershed::recs
