#include "lake/iceberg_transform.h"

#include <bit>
#include <cstring>
#include <limits>

namespace watershed::lake::iceberg {
namespace {

constexpr uint32_t kC1 = 0xcc9e2d51;
constexpr uint32_t kC2 = 0x1b873593;
constexpr int64_t kMicrosPerHour = int64_t{3600} * 1000000;
constexpr int64_t kMicrosPerDay = 24 * kMicrosPerHour;

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

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
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

int32_t HashLong(int64_t v) {
  char le[8];
  const uint64_t u = static_cast<uint64_t>(v);
  for (int k = 0; k < 8; ++k) le[k] = static_cast<char>(u >> (8 * k));
  return static_cast<int32_t>(Murmur3X86_32(std::string_view(le, 8)));
}

int32_t HashInt(int32_t v) { return HashLong(v); }

int32_t HashString(std::string_view utf8) { return static_cast<int32_t>(Murmur3X86_32(utf8)); }

int32_t HashBytes(std::string_view bytes) { return static_cast<int32_t>(Murmur3X86_32(bytes)); }

int32_t HashUuid(const std::array<uint8_t, 16>& uuid) {
  return HashBytes(std::string_view(reinterpret_cast<const char*>(uuid.data()), uuid.size()));
}

int32_t Bucket(int32_t num_buckets, int32_t hash) { return (hash & std::numeric_limits<int32_t>::max()) % num_buckets; }

int32_t HourFromMicros(int64_t micros) { return static_cast<int32_t>(FloorDiv(micros, kMicrosPerHour)); }

int32_t DayFromMicros(int64_t micros) { return static_cast<int32_t>(FloorDiv(micros, kMicrosPerDay)); }

}  // namespace watershed::lake::iceberg
