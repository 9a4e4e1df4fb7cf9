#pragma once
// Shared by the fuzzers of our checksummed file formats: a property violation traps, and an input's header gets
// the body's real length and CRC-32C so the fuzzer reaches the body's parser instead of stopping at the checksum.

#include <string>
#include <string_view>

#include "core/crc32c.h"
#include "core/endian.h"

namespace watershed::fuzz {

inline void Check(bool ok) {
  if (!ok) __builtin_trap();
}

// For a header of `header_bytes` holding the body's CRC-32C (u32) at `crc_at` and its length (u64) at `length_at`;
// false when the input is shorter than the header.
inline bool FixUpHeader(std::string* input, size_t header_bytes, size_t crc_at, size_t length_at) {
  if (input->size() < header_bytes) return false;
  const std::string_view body = std::string_view(*input).substr(header_bytes);
  PutFixed64(input->data() + length_at, body.size());
  PutFixed32(input->data() + crc_at, crc32c::Value(body));
  return true;
}

}  // namespace watershed::fuzz
