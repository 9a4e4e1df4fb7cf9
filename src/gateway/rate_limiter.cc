#include "gateway/rate_limiter.h"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <unordered_map>

namespace watershed::gateway {

struct alignas(64) UserRateLimiter::Shard {
  std::mutex mu;
  // user → theoretical arrival time: the monotonic ns at which the user's
  // bucket is full again. A user at or before it is indistinguishable from
  // an absent one, which is what lets the sweep drop them.
  std::unordered_map<uint64_t, int64_t> full_at;
  size_t next_sweep = 0;
};

UserRateLimiter::UserRateLimiter(RateLimitOptions options)
    : sweep_threshold_(std::max<size_t>(options.sweep_threshold_per_shard, 16)),
      shards_(new Shard[kShards]) {
  if (options.requests_per_second > 0) {
    interval_ns_ = std::max<int64_t>(1, std::llround(1e9 / options.requests_per_second));
    const double burst = std::max(1.0, options.burst);
    tolerance_ns_ = std::llround((burst - 1) * static_cast<double>(interval_ns_));
  }
  for (size_t i = 0; i < kShards; ++i) shards_[i].next_sweep = sweep_threshold_;
}

UserRateLimiter::~UserRateLimiter() = default;

UserRateLimiter::Shard& UserRateLimiter::ShardOf(uint64_t user) const {
  // Multiplicative hash: consecutive user ids spread over all shards.
  return shards_[(user * 0x9E3779B97F4A7C15ull) >> 58];
}

Admission UserRateLimiter::Acquire(uint64_t user, int64_t now_ns) {
  if (!enabled()) return {};
  Shard& shard = ShardOf(user);
  std::lock_guard lock(shard.mu);
  auto [it, inserted] = shard.full_at.try_emplace(user, now_ns);
  const int64_t start = std::max(it->second, now_ns);
  if (start - now_ns > tolerance_ns_) return {false, start - now_ns - tolerance_ns_};
  it->second = start + interval_ns_;
  if (inserted && shard.full_at.size() > shard.next_sweep) {
    std::erase_if(shard.full_at, [now_ns](const auto& kv) { return kv.second <= now_ns; });
    shard.next_sweep = std::max(sweep_threshold_, 2 * shard.full_at.size());
  }
  return {};
}

Admission UserRateLimiter::Peek(uint64_t user, int64_t now_ns) const {
  if (!enabled()) return {};
  Shard& shard = ShardOf(user);
  std::lock_guard lock(shard.mu);
  auto it = shard.full_at.find(user);
  if (it == shard.full_at.end()) return {};
  const int64_t start = std::max(it->second, now_ns);
  if (start - now_ns > tolerance_ns_) return {false, start - now_ns - tolerance_ns_, false};
  return {true, 0, it->second <= now_ns};
}

size_t UserRateLimiter::TrackedUsers() const {
  size_t n = 0;
  for (size_t i = 0; i < kShards; ++i) {
    std::lock_guard lock(shards_[i].mu);
    n += shards_[i].full_at.size();
  }
  return n;
}

}  // namespace watershed::gateway
