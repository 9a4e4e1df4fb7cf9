#pragma once
// CRC-32C (Castagnoli), as used by iSCSI, ext4 and Kafka record batches.
// Hardware instruction when the CPU has it, table-driven otherwise.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace watershed::crc32c {

// Extends `crc` (the value returned for the bytes before) over data[0..n).
uint32_t Extend(uint32_t crc, const void* data, size_t n);
inline uint32_t Value(std::string_view s) { return Extend(0, s.data(), s.size()); }

}  // namespace watershed::crc32c
