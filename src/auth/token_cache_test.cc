#include "auth/token_cache.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace watershed::auth {
namespace {

Claims ClaimsFor(uint64_t user) {
  Claims c;
  c.user = UserId(user);
  c.exp = 2'000'000'000;
  return c;
}

uint64_t SameHash(std::string_view) { return 0x5eed; }

TEST(TokenCacheTest, HitReturnsTheStoredClaims) {
  TokenCache cache;
  EXPECT_FALSE(cache.Lookup("tok-a", 1).has_value());
  cache.Insert("tok-a", 1, ClaimsFor(7));
  auto hit = cache.Lookup("tok-a", 1);
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(*hit, ClaimsFor(7));
  EXPECT_FALSE(cache.Lookup("tok-b", 1).has_value());
  EXPECT_FALSE(cache.Lookup("tok-", 1).has_value());
  EXPECT_FALSE(cache.Lookup("tok-aa", 1).has_value());
  TokenCache::Stats s = cache.GetStats();
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 4u);
  EXPECT_EQ(s.size, 1u);
}

TEST(TokenCacheTest, OtherGenerationMisses) {
  TokenCache cache;
  cache.Insert("tok", 1, ClaimsFor(7));
  EXPECT_FALSE(cache.Lookup("tok", 2).has_value());
  cache.Insert("tok", 2, ClaimsFor(8));
  EXPECT_EQ(cache.Lookup("tok", 2)->user, UserId(8));
  EXPECT_FALSE(cache.Lookup("tok", 1).has_value());
  EXPECT_EQ(cache.GetStats().size, 1u);
}

TEST(TokenCacheTest, CollidingHashesAreNotConfused) {
  TokenCache cache({.capacity = 64, .shards = 4, .hash_for_testing = SameHash});
  cache.Insert("token-one", 1, ClaimsFor(1));
  cache.Insert("token-two", 1, ClaimsFor(2));
  EXPECT_EQ(cache.Lookup("token-one", 1)->user, UserId(1));
  EXPECT_EQ(cache.Lookup("token-two", 1)->user, UserId(2));
  EXPECT_FALSE(cache.Lookup("token-three", 1).has_value());
  EXPECT_EQ(cache.GetStats().size, 2u);
}

TEST(TokenCacheTest, BoundedWithClockEviction) {
  TokenCache cache({.capacity = 4, .shards = 1});
  for (uint64_t i = 0; i < 4; ++i) cache.Insert("t" + std::to_string(i), 1, ClaimsFor(i));
  ASSERT_TRUE(cache.Lookup("t0", 1).has_value());  // t0 gets a second chance
  cache.Insert("t4", 1, ClaimsFor(4));
  EXPECT_TRUE(cache.Lookup("t0", 1).has_value());
  EXPECT_FALSE(cache.Lookup("t1", 1).has_value());
  EXPECT_TRUE(cache.Lookup("t4", 1).has_value());
  for (uint64_t i = 5; i < 100; ++i) cache.Insert("t" + std::to_string(i), 1, ClaimsFor(i));
  TokenCache::Stats s = cache.GetStats();
  EXPECT_EQ(s.size, 4u);
  EXPECT_EQ(s.evictions, 96u);
  EXPECT_EQ(cache.Lookup("t99", 1)->user, UserId(99));
}

TEST(TokenCacheTest, EvictionWithCollidingHashesKeepsTheIndexRight) {
  TokenCache cache({.capacity = 3, .shards = 1, .hash_for_testing = SameHash});
  for (uint64_t i = 0; i < 50; ++i) {
    cache.Insert("x" + std::to_string(i), 1, ClaimsFor(i));
    for (uint64_t j = 0; j <= i; ++j) {
      auto hit = cache.Lookup("x" + std::to_string(j), 1);
      if (hit) {
        EXPECT_EQ(hit->user, UserId(j));
      }
    }
    EXPECT_EQ(cache.Lookup("x" + std::to_string(i), 1)->user, UserId(i));
  }
  EXPECT_EQ(cache.GetStats().size, 3u);
}

TEST(TokenCacheTest, ConcurrentUse) {
  TokenCache cache({.capacity = 64, .shards = 8});
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (uint64_t i = 0; i < 5000; ++i) {
        uint64_t k = (i * 13 + static_cast<uint64_t>(t)) % 200;
        std::string token = "token-" + std::to_string(k);
        if (auto hit = cache.Lookup(token, 1)) {
          if (hit->user != UserId(k)) ++wrong;
        } else {
          cache.Insert(token, 1, ClaimsFor(k));
        }
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_LE(cache.GetStats().size, 64u);
}

}  // namespace
}  // namespace watershed::auth
