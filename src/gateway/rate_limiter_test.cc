#include "gateway/rate_limiter.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace watershed::gateway {
namespace {

constexpr int64_t kSecond = 1'000'000'000;

TEST(UserRateLimiter, RestedUserGetsTheBurstThenTheRate) {
  UserRateLimiter limiter({.requests_per_second = 10, .burst = 5});
  const int64_t t0 = 1000 * kSecond;
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(limiter.Acquire(7, t0).allowed) << i;
  Admission refused = limiter.Acquire(7, t0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after_ns, kSecond / 10);  // one token refills in 100 ms
  EXPECT_FALSE(limiter.Acquire(7, t0 + kSecond / 10 - 1).allowed);
  EXPECT_TRUE(limiter.Acquire(7, t0 + kSecond / 10).allowed);
  EXPECT_FALSE(limiter.Acquire(7, t0 + kSecond / 10).allowed);
}

TEST(UserRateLimiter, PeekTellsWithoutTakingAToken) {
  UserRateLimiter limiter({.requests_per_second = 10, .burst = 2});
  const int64_t t0 = 1000 * kSecond;
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(limiter.Peek(7, t0).allowed) << i;  // peeking takes nothing
  EXPECT_EQ(limiter.TrackedUsers(), 0u);
  EXPECT_TRUE(limiter.Acquire(7, t0).allowed);
  EXPECT_TRUE(limiter.Peek(7, t0).allowed);
  EXPECT_TRUE(limiter.Acquire(7, t0).allowed);
  Admission peeked = limiter.Peek(7, t0);
  EXPECT_FALSE(peeked.allowed);
  EXPECT_EQ(peeked.retry_after_ns, limiter.Acquire(7, t0).retry_after_ns);
  EXPECT_TRUE(limiter.Peek(7, t0 + kSecond / 10).allowed);
  EXPECT_TRUE(limiter.Peek(8, t0).allowed);
}

TEST(UserRateLimiter, PeekTellsWhetherTheBucketIsFull) {
  UserRateLimiter limiter({.requests_per_second = 10, .burst = 5});
  const int64_t t0 = 1000 * kSecond;
  EXPECT_TRUE(limiter.Peek(7, t0).rested);  // never seen
  EXPECT_TRUE(limiter.Acquire(7, t0).allowed);
  EXPECT_FALSE(limiter.Peek(7, t0).rested);  // one token taken: allowed, not rested
  EXPECT_TRUE(limiter.Peek(7, t0).allowed);
  EXPECT_FALSE(limiter.Peek(7, t0 + kSecond / 10 - 1).rested);
  EXPECT_TRUE(limiter.Peek(7, t0 + kSecond / 10).rested);  // refilled
  EXPECT_TRUE(limiter.Peek(8, t0).rested);
}

TEST(UserRateLimiter, SustainedRateIsTheConfiguredOne) {
  UserRateLimiter limiter({.requests_per_second = 1000, .burst = 10});
  // A client hammering every 100 µs for 10 s gets burst + rate × 10 s through.
  int allowed = 0;
  for (int64_t t = 0; t < 10 * kSecond; t += 100'000) allowed += limiter.Acquire(1, kSecond + t).allowed;
  EXPECT_GE(allowed, 10'000);
  EXPECT_LE(allowed, 10'010);
}

TEST(UserRateLimiter, UsersDoNotShareBuckets) {
  UserRateLimiter limiter({.requests_per_second = 1, .burst = 1});
  EXPECT_TRUE(limiter.Acquire(1, kSecond).allowed);
  EXPECT_FALSE(limiter.Acquire(1, kSecond).allowed);
  EXPECT_TRUE(limiter.Acquire(2, kSecond).allowed);
  EXPECT_TRUE(limiter.Acquire(3, kSecond).allowed);
}

TEST(UserRateLimiter, RefusedRequestsDoNotConsumeTokens) {
  UserRateLimiter limiter({.requests_per_second = 10, .burst = 1});
  EXPECT_TRUE(limiter.Acquire(1, kSecond).allowed);
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(limiter.Acquire(1, kSecond + i).allowed);
  // Hammering while refused does not push the next slot further out.
  EXPECT_TRUE(limiter.Acquire(1, kSecond + kSecond / 10).allowed);
}

TEST(UserRateLimiter, ZeroRateDisables) {
  UserRateLimiter limiter({.requests_per_second = 0, .burst = 1});
  EXPECT_FALSE(limiter.enabled());
  for (int i = 0; i < 10'000; ++i) ASSERT_TRUE(limiter.Acquire(1, 0).allowed);
  EXPECT_EQ(limiter.TrackedUsers(), 0u);
}

TEST(UserRateLimiter, IdleUsersAreForgotten) {
  UserRateLimiter limiter({.requests_per_second = 100, .burst = 1, .sweep_threshold_per_shard = 16});
  for (uint64_t u = 0; u < 100'000; ++u) ASSERT_TRUE(limiter.Acquire(u, kSecond).allowed);
  EXPECT_EQ(limiter.TrackedUsers(), 100'000u);  // all still inside their refill time
  // A second later every bucket is full again; new users make the shards
  // grow past twice their size, which sweeps the old users out.
  for (uint64_t u = 100'000; u < 200'000; ++u) ASSERT_TRUE(limiter.Acquire(u, 2 * kSecond).allowed);
  EXPECT_LE(limiter.TrackedUsers(), 101'000u);
  // A forgotten user starts with a full bucket, as if never seen.
  EXPECT_TRUE(limiter.Acquire(5, 2 * kSecond).allowed);
}

TEST(UserRateLimiter, ConcurrentUsersGetExactlyTheirBurst) {
  UserRateLimiter limiter({.requests_per_second = 1, .burst = 50});
  std::vector<int> allowed(8);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      // Threads 0..3 share user 1; 4..7 each have their own user.
      const uint64_t user = t < 4 ? 1 : 100 + t;
      for (int i = 0; i < 1000; ++i) allowed[t] += limiter.Acquire(user, kSecond).allowed;
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(allowed[0] + allowed[1] + allowed[2] + allowed[3], 50);
  for (int t = 4; t < 8; ++t) EXPECT_EQ(allowed[t], 50);
}

TEST(InFlightLimiter, CapsConcurrentRequests) {
  InFlightLimiter limiter(2);
  EXPECT_TRUE(limiter.TryEnter());
  EXPECT_TRUE(limiter.TryEnter());
  EXPECT_FALSE(limiter.TryEnter());
  EXPECT_EQ(limiter.InFlight(), 2);
  limiter.Leave();
  EXPECT_TRUE(limiter.TryEnter());
  InFlightLimiter unlimited(0);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(unlimited.TryEnter());
  EXPECT_EQ(unlimited.InFlight(), 100);
}

}  // namespace
}  // namespace watershed::gateway
