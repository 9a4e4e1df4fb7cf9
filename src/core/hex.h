#pragma once
// Bytes as lower-case hex, two digits each (ids, digests, random names).

#include <cstddef>
#include <cstdint>
#include <string>

namespace watershed {

inline std::string LowerHex(const void* data, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  const auto* bytes = static_cast<const uint8_t*>(data);
  std::string out(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 15];
  }
  return out;
}

}  // namespace watershed
