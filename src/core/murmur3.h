#pragma once
// MurmurHash3 x86 32-bit (Austin Appleby's reference algorithm), the hash of
// Iceberg's bucket transform. In core because the log's aligned partition
// scheme (event.h) is derived from the same hash as the lake's buckets.

#include <cstdint>
#include <string_view>

namespace watershed {

uint32_t Murmur3X86_32(std::string_view data, uint32_t seed = 0);
// Of the 8-byte little-endian form of v, seed 0: Iceberg's hash of int and
// long.
uint32_t Murmur3Long(int64_t v);

}  // namespace watershed
