#pragma once
// A keyed hash for tables indexed by values clients choose (event ids,
// story ids, client addresses): SipHash-1-3, the SipHash pseudorandom function (Aumasson and
// Bernstein) with one compression and three finalization rounds, over whole
// 64-bit words. Without the 128-bit key no one can predict which slot a
// value lands in, so no set of values can be crafted to share a probe chain
// (an unkeyed mix, however good, can be inverted offline).
//
// SipHash<C, D>(key, words) equals the reference SipHash-C-D of the words'
// little-endian bytes. The key is a random secret (HashKey::Random): the
// processors' is per region, kept beside the checkpoints so that a replay
// lays tables out the same way; the gateway's is per process. It decides
// memory layout only, never an answer or a serialized byte.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace watershed {

struct HashKey {
  uint64_t k0 = 0, k1 = 0;
  // From getrandom(2); false only if the kernel could give no randomness.
  static bool Random(HashKey* out);
  bool operator==(const HashKey&) const = default;
};

namespace sip_internal {

struct State {
  explicit State(const HashKey& key)
      : v0(key.k0 ^ 0x736f6d6570736575ull),
        v1(key.k1 ^ 0x646f72616e646f6dull),
        v2(key.k0 ^ 0x6c7967656e657261ull),
        v3(key.k1 ^ 0x7465646279746573ull) {}
  void Rounds(int n) {
    for (int i = 0; i < n; ++i) {
      v0 += v1, v1 = std::rotl(v1, 13), v1 ^= v0, v0 = std::rotl(v0, 32);
      v2 += v3, v3 = std::rotl(v3, 16), v3 ^= v2;
      v0 += v3, v3 = std::rotl(v3, 21), v3 ^= v0;
      v2 += v1, v1 = std::rotl(v1, 17), v1 ^= v2, v2 = std::rotl(v2, 32);
    }
  }
  void Absorb(uint64_t m, int c) {
    v3 ^= m;
    Rounds(c);
    v0 ^= m;
  }
  uint64_t Finish(int d) {
    v2 ^= 0xff;
    Rounds(d);
    return v0 ^ v1 ^ v2 ^ v3;
  }
  uint64_t v0, v1, v2, v3;
};

}  // namespace sip_internal

template <int C, int D, size_t N>
inline uint64_t SipHash(const HashKey& key, const uint64_t (&words)[N]) {
  static_assert(N < 32, "the length byte holds 8 * N");
  sip_internal::State s(key);
  for (uint64_t m : words) s.Absorb(m, C);
  s.Absorb(uint64_t{8 * N} << 56, C);  // the final block: no tail bytes, only the length
  return s.Finish(D);
}

// The same over bytes (the reference's input: little-endian words, then the
// tail bytes with the length's low byte on top).
template <int C, int D>
inline uint64_t SipHash(const HashKey& key, std::string_view bytes) {
  sip_internal::State s(key);
  size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    uint64_t m;
    std::memcpy(&m, bytes.data() + i, 8);
    s.Absorb(m, C);  // little-endian hosts only (static_assert below)
  }
  uint64_t last = uint64_t{bytes.size() & 0xff} << 56;
  for (size_t k = 0; i + k < bytes.size(); ++k) last |= uint64_t{static_cast<uint8_t>(bytes[i + k])} << (8 * k);
  s.Absorb(last, C);
  return s.Finish(D);
}
static_assert(std::endian::native == std::endian::little, "SipHash over bytes reads little-endian words");

inline uint64_t KeyedHash(const HashKey& key, uint64_t a) { return SipHash<1, 3>(key, {a}); }
inline uint64_t KeyedHash(const HashKey& key, uint64_t a, uint64_t b) { return SipHash<1, 3>(key, {a, b}); }
inline uint64_t KeyedHash(const HashKey& key, uint64_t a, uint64_t b, uint64_t c) {
  return SipHash<1, 3>(key, {a, b, c});
}
inline uint64_t KeyedHash(const HashKey& key, std::string_view bytes) { return SipHash<1, 3>(key, bytes); }

}  // namespace watershed
