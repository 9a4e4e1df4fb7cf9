#pragma once
// HyperLogLog (Flajolet et al. 2007) for approx_count_distinct: 2^14
// one-byte registers (16 KiB per group), standard error 1.04 / sqrt(16384)
// ~ 0.81 %; small cardinalities by linear counting, so they come out
// (nearly) exact. Values arrive as 64-bit hashes (HashBytes).

#include <cstdint>
#include <string_view>
#include <vector>

namespace watershed::query {

class HyperLogLog {
 public:
  static constexpr int kPrecision = 14;
  static constexpr size_t kRegisters = size_t{1} << kPrecision;

  HyperLogLog() : reg_(kRegisters, 0) {}
  void Add(uint64_t hash);
  void Merge(const HyperLogLog& other);
  int64_t Estimate() const;

 private:
  std::vector<uint8_t> reg_;
};

// A well-mixed 64-bit hash of bytes (equal bytes, equal hash).
uint64_t HashBytes(std::string_view bytes);

}  // namespace watershed::query
