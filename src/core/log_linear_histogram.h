#pragma once
// A histogram of non-negative integers (latencies in nanoseconds, sizes)
// whose quantiles are measurements, not bucket bounds: HDR-style log-linear
// buckets. Values below 128 have a bucket each; above, every power-of-two
// range [2^k, 2^(k+1)) is cut into 128 equal buckets, so a bucket is at most
// 1/128 of its lower bound wide and a reported quantile (the bucket's middle)
// is within 0.4 % of the exact one. Recording is lock-free.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace watershed {

class LogLinearHistogram {
 public:
  static constexpr int kSubBucketBits = 7;
  static constexpr size_t kSubBuckets = size_t{1} << kSubBucketBits;
  static constexpr size_t kBuckets = kSubBuckets + (64 - kSubBucketBits) * kSubBuckets;

  // The counts at one moment. Quantiles of an interval come from the
  // difference of two snapshots (Since).
  struct Snapshot {
    std::vector<uint64_t> counts;  // kBuckets of them
    uint64_t total = 0;
    // The value of quantile q in (0, 1]: the middle of the bucket holding the
    // ceil(q * total)-th smallest value; 0 when empty.
    uint64_t ValueAt(double q) const;
    uint64_t Max() const;  // the highest bucket's upper end; 0 when empty
    Snapshot Since(const Snapshot& earlier) const;
  };

  LogLinearHistogram();
  void Record(uint64_t value);
  Snapshot Take() const;

  static size_t BucketOf(uint64_t value);
  static uint64_t LowestOf(size_t bucket);
  static uint64_t HighestOf(size_t bucket);

 private:
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
};

}  // namespace watershed
