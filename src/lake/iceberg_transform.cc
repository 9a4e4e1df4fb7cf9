#include "lake/iceberg_transform.h"

#include <limits>

namespace watershed::lake::iceberg {
namespace {

constexpr int64_t kMicrosPerHour = int64_t{3600} * 1000000;
constexpr int64_t kMicrosPerDay = 24 * kMicrosPerHour;

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

}  // namespace

int32_t HashLong(int64_t v) { return static_cast<int32_t>(Murmur3Long(v)); }

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
