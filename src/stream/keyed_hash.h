#pragma once
// A keyed hash for tables indexed by values clients choose (event ids,
// story ids): SipHash-1-3, the SipHash pseudorandom function (Aumasson and
// Bernstein) with one compression and three finalization rounds, over whole
// 64-bit words. Without the 128-bit key no one can predict which slot a
// value lands in, so no set of values can be crafted to share a probe chain
// (an unkeyed mix, however good, can be inverted offline).
//
// SipHash<C, D>(key, words) equals the reference SipHash-C-D of the words'
// little-endian bytes. The key is a random per-region secret (HashKey::Random,
// kept beside the checkpoints); it decides memory layout only, never an answer
// or a serialized byte.

#include <bit>
#include <cstddef>
#include <cstdint>

namespace watershed::stream {

struct HashKey {
  uint64_t k0 = 0, k1 = 0;
  // From getrandom(2); false only if the kernel could give no randomness.
  static bool Random(HashKey* out);
  bool operator==(const HashKey&) const = default;
};

template <int C, int D, size_t N>
inline uint64_t SipHash(const HashKey& key, const uint64_t (&words)[N]) {
  static_assert(N < 32, "the length byte holds 8 * N");
  uint64_t v0 = key.k0 ^ 0x736f6d6570736575ull, v1 = key.k1 ^ 0x646f72616e646f6dull;
  uint64_t v2 = key.k0 ^ 0x6c7967656e657261ull, v3 = key.k1 ^ 0x7465646279746573ull;
  auto rounds = [&](int n) {
    for (int i = 0; i < n; ++i) {
      v0 += v1, v1 = std::rotl(v1, 13), v1 ^= v0, v0 = std::rotl(v0, 32);
      v2 += v3, v3 = std::rotl(v3, 16), v3 ^= v2;
      v0 += v3, v3 = std::rotl(v3, 21), v3 ^= v0;
      v2 += v1, v1 = std::rotl(v1, 17), v1 ^= v2, v2 = std::rotl(v2, 32);
    }
  };
  auto absorb = [&](uint64_t m) {
    v3 ^= m;
    rounds(C);
    v0 ^= m;
  };
  for (uint64_t m : words) absorb(m);
  absorb(uint64_t{8 * N} << 56);  // the final block: no tail bytes, only the length
  v2 ^= 0xff;
  rounds(D);
  return v0 ^ v1 ^ v2 ^ v3;
}

inline uint64_t KeyedHash(const HashKey& key, uint64_t a) { return SipHash<1, 3>(key, {a}); }
inline uint64_t KeyedHash(const HashKey& key, uint64_t a, uint64_t b) { return SipHash<1, 3>(key, {a, b}); }
inline uint64_t KeyedHash(const HashKey& key, uint64_t a, uint64_t b, uint64_t c) {
  return SipHash<1, 3>(key, {a, b, c});
}

}  // namespace watershed::stream
