#include "core/murmur3.h"

#include <bit>

namespace watershed {
namespace {

constexpr uint32_t kC1 = 0xcc9e2d51;
constexpr uint32_t kC2 = 0x1b873593;

uint32_t MixK(uint32_t k) {
  k *= kC1;
  k = std::rotl(k, 15);
  return k * kC2;
}

uint32_t FinalMix(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6b;
  h ^= h >> 13;
  h *= 0xc2b2ae35;
  h ^= h >> 16;
  return h;
}

}  // namespace

uint32_t Murmur3X86_32(std::string_view data, uint32_t seed) {
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  const size_t n = data.size();
  const size_t blocks = n / 4;
  uint32_t h = seed;
  for (size_t b = 0; b < blocks; ++b) {
    // Blocks are read little-endian whatever the host order.
    const uint8_t* q = p + 4 * b;
    const uint32_t k = uint32_t{q[0]} | uint32_t{q[1]} << 8 | uint32_t{q[2]} << 16 | uint32_t{q[3]} << 24;
    h ^= MixK(k);
    h = std::rotl(h, 13);
    h = h * 5 + 0xe6546b64;
  }
  const uint8_t* tail = p + 4 * blocks;
  uint32_t k = 0;
  switch (n & 3) {
    case 3:
      k ^= uint32_t{tail[2]} << 16;
      [[fallthrough]];
    case 2:
      k ^= uint32_t{tail[1]} << 8;
      [[fallthrough]];
    case 1:
      k ^= tail[0];
      h ^= MixK(k);
      break;
    default:
      break;
  }
  h ^= static_cast<uint32_t>(n);
  return FinalMix(h);
}

uint32_t Murmur3Long(int64_t v) {
  char le[8];
  const uint64_t u = static_cast<uint64_t>(v);
  for (int k = 0; k < 8; ++k) le[k] = static_cast<char>(u >> (8 * k));
  return Murmur3X86_32(std::string_view(le, 8));
}

}  // namespace watershed
