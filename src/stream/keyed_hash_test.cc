#include "stream/keyed_hash.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <utility>

namespace watershed::stream {
namespace {

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
}  // namespace watershed::stream
