#pragma once
// HyperLogLog (Flajolet et al. 2007) for approx_count_distinct: 2^14
// one-byte registers (16 KiB per group), standard error 1.04 / sqrt(16384)
// ~ 0.81 %; small cardinalities by linear counting, so they come out
// (nearly) exact. Values arrive as 64-bit hashes (HashBytes).

#include <cstdint>
#include <optional>
#include <string>
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
  // A text form, to ship a sketch between regions (hll_sketch / hll_merge, docs/query.md "Global queries"):
  // "hll1s" then 6 hex digits (4 of the register's index, 2 of its value) per non-zero register when that is
  // shorter, else "hll1d" then 2 hex digits per register. Parse refuses anything else (a register past 64 - 14 + 1
  // included).
  std::string Serialize() const;
  static std::optional<HyperLogLog> Parse(std::string_view text);

 private:
  std::vector<uint8_t> reg_;
};

// A well-mixed 64-bit hash of bytes (equal bytes, equal hash).
uint64_t HashBytes(std::string_view bytes);

}  // namespace watershed::query
