#pragma once
// Iceberg partition transforms (Iceberg table spec, "Partition Transforms"
// and "Appendix B: 32-bit Hash Requirements").
//
//   bucket[N](v) = (murmur3_x86_32(bytes(v), seed 0) & INT32_MAX) % N, where
//     int and long hash as the 8-byte little-endian long (so promoting a
//     column from int to long keeps its buckets), date as its day count
//     hashed like an int, time/timestamp as microseconds hashed like a long,
//     string as its UTF-8 bytes, uuid as its 16 bytes big-endian (as
//     written), binary and fixed as their bytes.
//   hour(ts) = hours since 1970-01-01T00:00 UTC, rounded toward -infinity.
//   day(ts)  = days since 1970-01-01, rounded toward -infinity.
//   identity(v) = v.
//   Hour and day results beyond int32 (timestamps ~245,000 years away) wrap.
//
// All functions are pure and thread-safe.

#include <array>
#include <cstdint>
#include <string_view>

#include "core/murmur3.h"

namespace watershed::lake::iceberg {

// MurmurHash3 x86 32-bit of `data` (core/murmur3.h).
using ::watershed::Murmur3X86_32;

// Iceberg's 32-bit hashes (signed, as the spec's test values are written).
int32_t HashInt(int32_t v);  // == HashLong(v)
int32_t HashLong(int64_t v);
int32_t HashString(std::string_view utf8);
int32_t HashBytes(std::string_view bytes);  // binary and fixed
// REQUIRES: `uuid` is the 16 bytes in big-endian (RFC 4122) order.
int32_t HashUuid(const std::array<uint8_t, 16>& uuid);
// Days since the epoch are hashed like an int; timestamps in micros like a
// long.
inline int32_t HashDate(int32_t days) { return HashInt(days); }
inline int32_t HashTimestampMicros(int64_t micros) { return HashLong(micros); }

// REQUIRES: num_buckets > 0
int32_t Bucket(int32_t num_buckets, int32_t hash);

int32_t HourFromMicros(int64_t micros);
int32_t DayFromMicros(int64_t micros);
template <typename T>
constexpr T Identity(T v) {
  return v;
}

}  // namespace watershed::lake::iceberg
