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

namespace {
constexpr char kHex[] = "0123456789abcdef";
int Nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}
// The value of `digits` hex digits at p (lower case), or -1.
int64_t HexAt(std::string_view t, size_t p, int digits) {
  int64_t v = 0;
  for (int i = 0; i < digits; ++i) {
    const int n = Nibble(t[p + i]);
    if (n < 0) return -1;
    v = v * 16 + n;
  }
  return v;
}
constexpr uint8_t kMaxRank = 64 - HyperLogLog::kPrecision + 1;
}  // namespace

std::string HyperLogLog::Serialize() const {
  size_t nonzero = 0;
  for (uint8_t r : reg_) nonzero += r != 0;
  std::string out;
  if (nonzero * 6 < kRegisters * 2) {
    out.reserve(5 + nonzero * 6);
    out = "hll1s";
    for (size_t i = 0; i < kRegisters; ++i) {
      if (reg_[i] == 0) continue;
      for (int shift = 12; shift >= 0; shift -= 4) out += kHex[(i >> shift) & 15];
      out += kHex[reg_[i] >> 4];
      out += kHex[reg_[i] & 15];
    }
  } else {
    out.reserve(5 + kRegisters * 2);
    out = "hll1d";
    for (uint8_t r : reg_) {
      out += kHex[r >> 4];
      out += kHex[r & 15];
    }
  }
  return out;
}

std::optional<HyperLogLog> HyperLogLog::Parse(std::string_view t) {
  if (t.size() < 5 || t.substr(0, 4) != "hll1") return std::nullopt;
  HyperLogLog h;
  const std::string_view body = t.substr(5);
  if (t[4] == 's') {
    if (body.size() % 6 != 0) return std::nullopt;
    for (size_t p = 0; p < body.size(); p += 6) {
      const int64_t index = HexAt(body, p, 4), value = HexAt(body, p + 4, 2);
      if (index < 0 || value < 1 || value > kMaxRank || static_cast<size_t>(index) >= kRegisters) return std::nullopt;
      h.reg_[static_cast<size_t>(index)] = static_cast<uint8_t>(value);
    }
    return h;
  }
  if (t[4] != 'd' || body.size() != kRegisters * 2) return std::nullopt;
  for (size_t i = 0; i < kRegisters; ++i) {
    const int64_t value = HexAt(body, 2 * i, 2);
    if (value < 0 || value > kMaxRank) return std::nullopt;
    h.reg_[i] = static_cast<uint8_t>(value);
  }
  return h;
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
