#include "core/crc32c.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace watershed::crc32c {
namespace {

// Bit-at-a-time CRC-32C straight from the definition, independent of the
// table and of the CPU instruction.
uint32_t Reference(std::string_view s) {
  uint32_t crc = 0xffffffffu;
  for (unsigned char c : s) {
    crc ^= c;
    for (int k = 0; k < 8; ++k) crc = (crc & 1) ? (crc >> 1) ^ 0x82f63b78u : crc >> 1;
  }
  return ~crc;
}

TEST(Crc32c, KnownVectors) {
  EXPECT_EQ(Value("123456789"), 0xE3069283u);
  EXPECT_EQ(Value(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(Value(std::string(32, '\xff')), 0x62A8AB43u);
  std::string ascending(32, '\0');
  for (int i = 0; i < 32; ++i) ascending[i] = static_cast<char>(i);
  EXPECT_EQ(Value(ascending), 0x46DD794Eu);  // RFC 3720 B.4
  EXPECT_EQ(Value(""), 0u);
  EXPECT_EQ(Extend(0x12345678u, "", 0), 0x12345678u);
}

TEST(Crc32c, DiffersOnSingleBitFlip) {
  std::string data(100, 'a');
  uint32_t base = Value(data);
  for (size_t i = 0; i < data.size(); i += 7) {
    std::string flipped = data;
    flipped[i] ^= 1;
    EXPECT_NE(Value(flipped), base) << i;
  }
}

TEST(Crc32c, ExtendInPiecesEqualsWhole) {
  std::string data = "The quick brown fox jumps over the lazy dog, again and again and again.";
  uint32_t whole = Value(data);
  for (size_t cut = 0; cut <= data.size(); ++cut) {
    uint32_t crc = Extend(0, data.data(), cut);
    crc = Extend(crc, data.data() + cut, data.size() - cut);
    EXPECT_EQ(crc, whole) << "cut at " << cut;
  }
  uint32_t bytewise = 0;
  for (char c : data) bytewise = Extend(bytewise, &c, 1);
  EXPECT_EQ(bytewise, whole);
}

// Whatever implementation the CPU selects must agree with the definition,
// on every length around the 8-byte stride, at every alignment, and when
// the data arrives in uneven pieces (which crosses the word/byte paths).
TEST(Crc32c, AgreesWithReferenceOnRandomData) {
  std::mt19937 rng(20240521);
  std::string buf(128, '\0');
  for (char& c : buf) c = static_cast<char>(rng());
  for (size_t len = 0; len <= 100; ++len) {
    for (size_t align = 0; align < 8; ++align) {
      std::string_view s(buf.data() + align, len);
      uint32_t want = Reference(s);
      ASSERT_EQ(Value(s), want) << "len " << len << " align " << align;
      size_t a = len / 3, b = len - len / 5;
      uint32_t crc = Extend(0, s.data(), a);
      crc = Extend(crc, s.data() + a, b - a);
      crc = Extend(crc, s.data() + b, len - b);
      ASSERT_EQ(crc, want) << "pieces, len " << len << " align " << align;
    }
  }
  std::string big(1 << 16, '\0');
  for (char& c : big) c = static_cast<char>(rng());
  EXPECT_EQ(Value(big), Reference(big));
}

}  // namespace
}  // namespace watershed::crc32c
