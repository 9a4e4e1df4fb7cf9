#include "stream/viewer_set.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace watershed::stream {
namespace {

// The unkeyed mix this set once slotted ids with (the murmur3 64-bit
// finalizer, less its last multiply): a bijection, so it can be inverted.
constexpr uint64_t kMul = 0xff51afd7ed558ccdull;
constexpr uint64_t OldMix(uint64_t x) {
  x ^= x >> 33;
  x *= kMul;
  return x ^ (x >> 33);
}

// The inverse of an odd constant modulo 2^64 (Newton's iteration doubles the
// correct low bits each step: 3 bits to start, 96 after five steps).
constexpr uint64_t InverseMod64(uint64_t c) {
  uint64_t inv = c;
  for (int i = 0; i < 5; ++i) inv *= 2 - c * inv;
  return inv;
}

// x ^= x >> 33 is its own inverse (33 + 33 > 64), the multiply is undone by
// the inverse constant.
constexpr uint64_t UnMix(uint64_t h) {
  constexpr uint64_t kInv = InverseMod64(kMul);
  static_assert(kMul * kInv == 1);
  h ^= h >> 33;
  h *= kInv;
  return h ^ (h >> 33);
}

// Viewer ids whose old mix shares its low 32 bits: one home slot at every
// set size up to 2^32, so under the old mix each insert walked them all.
std::vector<uint64_t> CraftedAgainstOldMix(size_t n) {
  constexpr uint64_t t = 0x2545f491;
  std::vector<uint64_t> ids;
  ids.reserve(n);
  for (uint64_t a = 1; a <= n; ++a) ids.push_back(UnMix((a << 32) | t));
  return ids;
}

constexpr HashKey kKey{0x0123456789abcdefull, 0xfedcba9876543210ull};
// See dedup_table_test.cc: probe lengths, not time; a random hash stays far below.
constexpr size_t kMaxProbe = 64;

TEST(ViewerSetTest, CraftedIdsReallyCollideUnderTheOldMix) {
  for (uint64_t id : CraftedAgainstOldMix(1000)) {
    ASSERT_NE(id, 0u);
    EXPECT_EQ(static_cast<uint32_t>(OldMix(id)), 0x2545f491u) << id;
  }
}

TEST(ViewerSetTest, CraftedIdsDoNotShareAProbeChain) {
  constexpr size_t kN = 100'000;
  const std::vector<uint64_t> ids = CraftedAgainstOldMix(kN);
  ViewerSet set;
  for (size_t i = 0; i < kN; ++i) {
    ASSERT_TRUE(set.Insert(kKey, ids[i])) << i;
    if ((i + 1) % 1000 == 0) {
      ASSERT_LE(set.MaxProbeLength(kKey), kMaxProbe) << "after " << i + 1 << " crafted ids";
    }
  }
  EXPECT_EQ(set.size(), kN);
  for (size_t i = 0; i < kN; i += 97) EXPECT_FALSE(set.Insert(kKey, ids[i], ViewerSet::Hash(kKey, ids[i]))) << i;
  // A restore re-slots the ids with the key it is given.
  std::string bytes;
  set.Serialize(&bytes);
  std::string_view in = bytes;
  ViewerSet back;
  ASSERT_TRUE(back.Restore(kKey, &in).ok());
  EXPECT_EQ(back.size(), kN);
  EXPECT_LE(back.MaxProbeLength(kKey), kMaxProbe);
}

// The key decides slots only: equal sets under different keys give equal bytes.
TEST(ViewerSetTest, KeyChangesNoSerializedByte) {
  constexpr HashKey kOther{1, 2};
  std::mt19937_64 rng(3);
  ViewerSet a, b;
  std::vector<uint64_t> ids{0, 1, 2};
  for (int i = 0; i < 5000; ++i) ids.push_back(rng());
  for (uint64_t id : ids) {
    EXPECT_TRUE(a.Insert(kKey, id));
    EXPECT_TRUE(b.Insert(kOther, id, ViewerSet::Hash(kOther, id)));
  }
  for (uint64_t id : ids) EXPECT_FALSE(b.Insert(kOther, id));
  EXPECT_EQ(a.size(), ids.size());
  std::string fixed_a, fixed_b, compact_a, compact_b;
  a.Serialize(&fixed_a);
  b.Serialize(&fixed_b);
  a.SerializeCompact(&compact_a);
  b.SerializeCompact(&compact_b);
  EXPECT_EQ(fixed_a, fixed_b);
  EXPECT_EQ(compact_a, compact_b);
  // Restored under a third key, the same bytes again.
  std::string_view in = compact_a;
  ViewerSet c;
  ASSERT_TRUE(c.RestoreCompact(HashKey{7, 7}, &in).ok());
  std::string fixed_c;
  c.Serialize(&fixed_c);
  EXPECT_EQ(fixed_c, fixed_a);
}

}  // namespace
}  // namespace watershed::stream
