#include "stream/story_index.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <random>
#include <vector>

namespace watershed::stream {
namespace {

// The inverse of an odd constant modulo 2^64 (Newton's iteration doubles the
// correct low bits each step: 3 bits to start, 96 after five steps).
constexpr uint64_t InverseMod64(uint64_t c) {
  uint64_t inv = c;
  for (int i = 0; i < 5; ++i) inv *= 2 - c * inv;
  return inv;
}

// Story ids crafted against the unkeyed home this index once used:
// x = id * 0x9e3779b97f4a7c15, home = (x ^ x >> 32) & mask. Every x of the
// form (a << 32) | (a ^ t) has x ^ x >> 32 = t in its low 32 bits, so the
// ids x * inverse share one home slot at every table size up to 2^32.
std::vector<uint64_t> CraftedAgainstUnkeyedHome(size_t n) {
  constexpr uint64_t kMul = 0x9e3779b97f4a7c15ull;
  constexpr uint64_t kInv = InverseMod64(kMul);
  static_assert(kMul * kInv == 1);
  constexpr uint64_t t = 0x2545f491;
  std::vector<uint64_t> ids;
  ids.reserve(n);
  for (uint64_t a = 1; a <= n; ++a) ids.push_back(((a << 32) | (a ^ t)) * kInv);
  return ids;
}

constexpr HashKey kKey{0x0123456789abcdefull, 0xfedcba9876543210ull};

struct Value {
  uint64_t n = 0;
};

// See dedup_table_test.cc: probe lengths, not time; a random hash stays far below.
constexpr size_t kMaxProbe = 64;

TEST(StoryIndexTest, CraftedIdsDoNotShareAProbeChain) {
  constexpr size_t kN = 100'000;
  const std::vector<uint64_t> ids = CraftedAgainstUnkeyedHome(kN);
  StoryIndex<Value> index(kKey);
  for (size_t i = 0; i < kN; ++i) {
    auto [v, created] = index.FindOrInsert(ids[i]);
    ASSERT_TRUE(created) << i;
    v->n = i;
    if ((i + 1) % 1000 == 0) {
      ASSERT_LE(index.MaxProbeLength(), kMaxProbe) << "after " << i + 1 << " crafted ids";
    }
  }
  EXPECT_EQ(index.size(), kN);
  for (size_t i = 0; i < kN; i += 97) {
    ASSERT_NE(index.Find(ids[i]), nullptr) << i;
    EXPECT_EQ(index.Find(ids[i])->n, i);
  }
}

TEST(StoryIndexTest, FindsWhatItHoldsInInsertionOrder) {
  StoryIndex<Value> index(kKey);
  EXPECT_EQ(index.Find(7), nullptr);
  for (uint64_t id = 0; id < 1000; ++id) index.FindOrInsert(id * 7919).first->n = id;  // id 0 included
  EXPECT_FALSE(index.FindOrInsert(7919).second);
  EXPECT_EQ(index.Find(1), nullptr);
  uint64_t expect = 0;
  index.ForEach([&](uint64_t id, const Value& v) {
    EXPECT_EQ(id, expect * 7919);
    EXPECT_EQ(v.n, expect);
    ++expect;
  });
  EXPECT_EQ(expect, 1000u);
}

// Erase against a reference map, with the probe chains crafted ids would
// share under the old hash and with dense ids (long runs under any hash).
TEST(StoryIndexTest, EraseKeepsEveryOtherIdReachable) {
  for (const std::vector<uint64_t>& ids : {CraftedAgainstUnkeyedHome(20'000), [] {
         std::vector<uint64_t> dense;
         for (uint64_t i = 0; i < 20'000; ++i) dense.push_back(i);
         return dense;
       }()}) {
    StoryIndex<Value> index(kKey);
    std::map<uint64_t, uint64_t> want;
    std::mt19937_64 rng(7);
    for (int round = 0; round < 60'000; ++round) {
      const uint64_t id = ids[rng() % ids.size()];
      if (rng() % 3 == 0) {
        EXPECT_EQ(index.Erase(id), want.erase(id) == 1) << id;
      } else {
        auto [v, created] = index.FindOrInsert(id);
        EXPECT_EQ(created, !want.count(id));
        if (created) v->n = want[id] = rng();
      }
    }
    ASSERT_EQ(index.size(), want.size());
    for (uint64_t id : ids) {
      const Value* v = index.Find(id);
      auto it = want.find(id);
      ASSERT_EQ(v != nullptr, it != want.end()) << id;
      if (v) {
        EXPECT_EQ(v->n, it->second);
      }
    }
    size_t seen = 0;
    index.ForEach([&](uint64_t id, const Value& v) {
      ++seen;
      EXPECT_EQ(v.n, want.at(id));
    });
    EXPECT_EQ(seen, want.size());
    EXPECT_LE(index.MaxProbeLength(), kMaxProbe);
    for (const auto& [id, n] : want) EXPECT_TRUE(index.Erase(id));
    EXPECT_EQ(index.size(), 0u);
    EXPECT_EQ(index.Find(ids[0]), nullptr);
  }
}

}  // namespace
}  // namespace watershed::stream
