#include "query/hll.h"

#include <bit>
#include <cmath>

namespace watershed::query {

void HyperLogLog::Add(uint64_t hash) {
  const size_t index = hash >> (64 - kPrecision);
  // The rank of the first 1 bit among the other 50 (a sentinel bit bounds it).
  const uint64_t rest = (hash << kPrecision) | (uint64_t{1} << (kPrecision - 1));
  const uint8_t rank = static_cast<uint8_t>(std::countl_zero(rest) + 1);
  if (rank > reg_[index]) reg_[index] = rank;
}

void HyperLogLog::Merge(const HyperLogLog& other) {
  for (size_t i = 0; i < kRegisters; ++i)
    if (other.reg_[i] > reg_[i]) reg_[i] = other.reg_[i];
}

int64_t HyperLogLog::Estimate() const {
  const double m = static_cast<double>(kRegisters);
  double sum = 0;
  size_t zeros = 0;
  for (uint8_t r : reg_) {
    sum += std::ldexp(1.0, -r);
    zeros += r == 0;
  }
  const double alpha = 0.7213 / (1 + 1.079 / m);
  double e = alpha * m * m / sum;
  if (e <= 2.5 * m && zeros > 0) e = m * std::log(m / static_cast<double>(zeros));  // linear counting
  return static_cast<int64_t>(std::llround(e));
}

uint64_t HashBytes(std::string_view bytes) {
  // FNV-1a over the bytes, then MurmurHash3's 64-bit finaliser to spread
  // every input bit over the high bits HyperLogLog indexes by.
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

}  // namespace watershed::query
