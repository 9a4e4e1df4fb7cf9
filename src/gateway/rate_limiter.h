#pragma once
// Admission control of the gateway (docs/api.md, "Rate limits"):
//  * UserRateLimiter: a token bucket per user, kept as one number per user
//    (GCRA, the "virtual scheduling" form of the token bucket: the time at
//    which the user's bucket would be full again). The map is split into
//    shards by user hash, each behind its own small lock held for a few
//    nanoseconds, so requests of different users almost never wait on each
//    other.
//  * InFlightLimiter: a global cap on requests being processed at once
//    (an ingest request counts until its events are durable).
// Both are per process: with several gateway replicas behind a load
// balancer a user gets up to `replicas × rate`. Thread-safe.

#include <atomic>
#include <cstdint>
#include <memory>

namespace watershed::gateway {

struct RateLimitOptions {
  double requests_per_second = 1000;  // sustained rate per user; 0 disables the limiter
  double burst = 2000;                // requests a rested user may send at once (>= 1)
  // Buckets of users idle long enough to be full again are dropped when a
  // shard grows past this many entries (memory stays bounded by the users
  // active in the last burst/rate seconds).
  size_t sweep_threshold_per_shard = 4096;
};

struct Admission {
  bool allowed = true;
  int64_t retry_after_ns = 0;  // when refused: wait this long before the next request can pass
  bool rested = true;          // Peek only: the bucket is full (nothing taken from it lately)
};

class UserRateLimiter {
 public:
  explicit UserRateLimiter(RateLimitOptions options);
  ~UserRateLimiter();
  bool enabled() const { return interval_ns_ > 0; }
  // Takes one token from `user`'s bucket at monotonic time now_ns.
  Admission Acquire(uint64_t user, int64_t now_ns);
  // What Acquire would answer, without taking a token (to refuse work up
  // front, e.g. a signature check, and charge only for what then fails).
  Admission Peek(uint64_t user, int64_t now_ns) const;
  size_t TrackedUsers() const;

 private:
  struct Shard;
  static constexpr size_t kShards = 64;
  Shard& ShardOf(uint64_t user) const;

  int64_t interval_ns_ = 0;   // time one token takes to refill
  int64_t tolerance_ns_ = 0;  // (burst - 1) × interval: how far ahead of now a user may run
  size_t sweep_threshold_;
  std::unique_ptr<Shard[]> shards_;
};

class InFlightLimiter {
 public:
  explicit InFlightLimiter(int64_t max_in_flight) : max_(max_in_flight) {}
  // True when the request may proceed; it must then call Leave() exactly once.
  // A cap of 0 disables the check (the count is still kept for metrics).
  bool TryEnter() {
    int64_t now = in_flight_.fetch_add(1, std::memory_order_relaxed) + 1;
    if (max_ > 0 && now > max_) {
      in_flight_.fetch_sub(1, std::memory_order_relaxed);
      return false;
    }
    return true;
  }
  void Leave() { in_flight_.fetch_sub(1, std::memory_order_relaxed); }
  int64_t InFlight() const { return in_flight_.load(std::memory_order_relaxed); }

 private:
  const int64_t max_;
  std::atomic<int64_t> in_flight_{0};
};

}  // namespace watershed::gateway
