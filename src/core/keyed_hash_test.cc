#include "core/keyed_hash.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <string>
#include <utility>

namespace watershed {
namespace {

using std::string_literals::operator""s;

// The reference key 00 01 .. 0f and messages 00 01 .. of 8, 16 and 24
// bytes, from the SipHash paper's test vectors (SipHash-2-4, 64-bit output):
// the same code with other round counts is SipHash-1-3.
constexpr HashKey kReferenceKey{0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};
constexpr uint64_t kW0 = 0x0706050403020100ull, kW1 = 0x0f0e0d0c0b0a0908ull, kW2 = 0x1716151413121110ull;

TEST(KeyedHashTest, SipHash24MatchesReferenceVectors) {
  EXPECT_EQ((SipHash<2, 4>(kReferenceKey, {kW0})), 0x93f5f5799a932462ull);
  EXPECT_EQ((SipHash<2, 4>(kReferenceKey, {kW0, kW1})), 0x3f2acc7f57c29bdbull);
  EXPECT_EQ((SipHash<2, 4>(kReferenceKey, {kW0, kW1, kW2})), 0xb8ad50c6f649af94ull);
}

TEST(KeyedHashTest, SipHash24OverBytesMatchesReferenceVectors) {
  const std::string m =
      "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17"s;
  EXPECT_EQ((SipHash<2, 4>(kReferenceKey, std::string_view(m).substr(0, 0))), 0x726fdb47dd0e0e31ull);
  EXPECT_EQ((SipHash<2, 4>(kReferenceKey, std::string_view(m).substr(0, 1))), 0x74f839c593dc67fdull);
  EXPECT_EQ((SipHash<2, 4>(kReferenceKey, std::string_view(m).substr(0, 2))), 0x0d6c8009d9a94f5aull);
  EXPECT_EQ((SipHash<2, 4>(kReferenceKey, std::string_view(m).substr(0, 3))), 0x85676696d7fb7e2dull);
  // Whole words: the same as the word form.
  EXPECT_EQ((SipHash<2, 4>(kReferenceKey, std::string_view(m).substr(0, 8))), 0x93f5f5799a932462ull);
  EXPECT_EQ((SipHash<1, 3>(kReferenceKey, std::string_view(m).substr(0, 24))),
            (SipHash<1, 3>(kReferenceKey, {kW0, kW1, kW2})));
  EXPECT_NE(KeyedHash(kReferenceKey, "192.0.2.1"), KeyedHash(HashKey{1, 2}, "192.0.2.1"));
}

TEST(KeyedHashTest, DependsOnKeyAndEveryWord) {
  const HashKey other{kReferenceKey.k0, kReferenceKey.k1 ^ 1};
  EXPECT_NE(KeyedHash(kReferenceKey, 5), KeyedHash(other, 5));
  EXPECT_NE(KeyedHash(kReferenceKey, 5), KeyedHash(kReferenceKey, 6));
  const uint64_t h = KeyedHash(kReferenceKey, 1, 2, 3);
  EXPECT_NE(h, KeyedHash(kReferenceKey, 0, 2, 3));
  EXPECT_NE(h, KeyedHash(kReferenceKey, 1, 0, 3));
  EXPECT_NE(h, KeyedHash(kReferenceKey, 1, 2, 0));
  EXPECT_NE(h, KeyedHash(kReferenceKey, 2, 1, 3));  // order matters
}

TEST(KeyedHashTest, RandomKeysDiffer) {
  std::set<std::pair<uint64_t, uint64_t>> keys;
  for (int i = 0; i < 8; ++i) {
    HashKey k;
    ASSERT_TRUE(HashKey::Random(&k));
    keys.insert({k.k0, k.k1});
  }
  EXPECT_EQ(keys.size(), 8u);
}

}  // namespace
}  // namespace watershed
