// RedisSlotOf: the Redis Cluster key → hash slot function (declared in
// redis_client.h). The cluster specification fixes it: CRC16-CCITT in its
// XMODEM variant (polynomial 0x1021, initial value 0, no reflection, no final
// xor) of the key or of its hash tag, modulo 16384.

#include <array>
#include <cstdint>
#include <string_view>

#include "serve/redis_client.h"

namespace watershed::serve {
namespace {

constexpr uint16_t kPolynomial = 0x1021;
constexpr uint16_t kSlotCount = 16384;

constexpr std::array<uint16_t, 256> MakeTable() {
  std::array<uint16_t, 256> table{};
  for (uint32_t byte = 0; byte < 256; ++byte) {
    uint16_t crc = static_cast<uint16_t>(byte << 8);
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 0x8000) ? static_cast<uint16_t>((crc << 1) ^ kPolynomial) : static_cast<uint16_t>(crc << 1);
    }
    table[byte] = crc;
  }
  return table;
}

constexpr std::array<uint16_t, 256> kTable = MakeTable();

uint16_t Crc16Xmodem(std::string_view data) {
  uint16_t crc = 0;
  for (unsigned char c : data) {
    crc = static_cast<uint16_t>((crc << 8) ^ kTable[((crc >> 8) ^ c) & 0xff]);
  }
  return crc;
}

// The part of the key that is hashed: the text between the first '{' and the
// first '}' after it, when that text is non-empty; otherwise the whole key.
std::string_view HashedPart(std::string_view key) {
  size_t open = key.find('{');
  if (open == std::string_view::npos) return key;
  size_t close = key.find('}', open + 1);
  if (close == std::string_view::npos || close == open + 1) return key;
  return key.substr(open + 1, close - open - 1);
}

}  // namespace

uint16_t RedisSlotOf(std::string_view key) { return Crc16Xmodem(HashedPart(key)) % kSlotCount; }

}  // namespace watershed::serve
