#include "core/log_linear_histogram.h"

#include <bit>
#include <cmath>

namespace watershed {

LogLinearHistogram::LogLinearHistogram() : counts_(new std::atomic<uint64_t>[kBuckets]) {
  for (size_t i = 0; i < kBuckets; ++i) counts_[i].store(0, std::memory_order_relaxed);
}

size_t LogLinearHistogram::BucketOf(uint64_t value) {
  if (value < kSubBuckets) return static_cast<size_t>(value);
  const int shift = std::bit_width(value) - 1 - kSubBucketBits;  // value >> shift is in [128, 256)
  return kSubBuckets * static_cast<size_t>(shift + 1) + static_cast<size_t>((value >> shift) - kSubBuckets);
}

uint64_t LogLinearHistogram::LowestOf(size_t bucket) {
  if (bucket < kSubBuckets) return bucket;
  const size_t shift = bucket / kSubBuckets - 1;
  return (kSubBuckets + bucket % kSubBuckets) << shift;
}

uint64_t LogLinearHistogram::HighestOf(size_t bucket) {
  if (bucket < kSubBuckets) return bucket;
  const size_t shift = bucket / kSubBuckets - 1;
  return LowestOf(bucket) + ((uint64_t{1} << shift) - 1);
}

void LogLinearHistogram::Record(uint64_t value) { counts_[BucketOf(value)].fetch_add(1, std::memory_order_relaxed); }

LogLinearHistogram::Snapshot LogLinearHistogram::Take() const {
  Snapshot s;
  s.counts.resize(kBuckets);
  for (size_t i = 0; i < kBuckets; ++i) {
    s.counts[i] = counts_[i].load(std::memory_order_relaxed);
    s.total += s.counts[i];
  }
  return s;
}

uint64_t LogLinearHistogram::Snapshot::ValueAt(double q) const {
  if (total == 0) return 0;
  const uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(total))));
  uint64_t seen = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    seen += counts[i];
    if (seen >= rank) return LowestOf(i) + (HighestOf(i) - LowestOf(i)) / 2;
  }
  return Max();
}

uint64_t LogLinearHistogram::Snapshot::Max() const {
  for (size_t i = counts.size(); i-- > 0;)
    if (counts[i] != 0) return HighestOf(i);
  return 0;
}

LogLinearHistogram::Snapshot LogLinearHistogram::Snapshot::Since(const Snapshot& earlier) const {
  Snapshot d;
  d.counts.resize(counts.size());
  for (size_t i = 0; i < counts.size(); ++i) {
    d.counts[i] = counts[i] - (i < earlier.counts.size() ? earlier.counts[i] : 0);
    d.total += d.counts[i];
  }
  return d;
}

}  // namespace watershed
