#include "core/log_linear_histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace watershed {
namespace {

// The exact quantile with ValueAt's definition: the ceil(q * n)-th smallest.
uint64_t Exact(std::vector<uint64_t> sorted, double q) {
  const size_t rank = std::max<size_t>(1, static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size()))));
  return sorted[rank - 1];
}

TEST(LogLinearHistogramTest, BucketsTileTheRangeWithBoundedWidth) {
  EXPECT_EQ(LogLinearHistogram::BucketOf(0), 0u);
  EXPECT_EQ(LogLinearHistogram::BucketOf(127), 127u);
  EXPECT_EQ(LogLinearHistogram::BucketOf(UINT64_MAX), LogLinearHistogram::kBuckets - 1);
  EXPECT_EQ(LogLinearHistogram::HighestOf(LogLinearHistogram::kBuckets - 1), UINT64_MAX);
  for (size_t b = 0; b + 1 < LogLinearHistogram::kBuckets; ++b) {
    ASSERT_EQ(LogLinearHistogram::HighestOf(b) + 1, LogLinearHistogram::LowestOf(b + 1)) << b;
    ASSERT_EQ(LogLinearHistogram::BucketOf(LogLinearHistogram::LowestOf(b)), b);
    ASSERT_EQ(LogLinearHistogram::BucketOf(LogLinearHistogram::HighestOf(b)), b);
    const double width = static_cast<double>(LogLinearHistogram::HighestOf(b) - LogLinearHistogram::LowestOf(b));
    ASSERT_LE(width, static_cast<double>(LogLinearHistogram::LowestOf(b)) / 128) << b;
  }
}

TEST(LogLinearHistogramTest, QuantilesAreWithinHalfAPercentOfTheExactOnes) {
  // Latency-like data: log-normal around 2 ms in nanoseconds, plus a slow tail.
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> body(std::log(2e6), 0.6);
  std::uniform_int_distribution<uint64_t> tail(50'000'000, 2'000'000'000);
  std::vector<uint64_t> values;
  LogLinearHistogram h;
  for (int i = 0; i < 200'000; ++i) {
    const uint64_t v = i % 100 == 0 ? tail(rng) : static_cast<uint64_t>(body(rng));
    values.push_back(v);
    h.Record(v);
  }
  std::sort(values.begin(), values.end());
  const auto s = h.Take();
  EXPECT_EQ(s.total, values.size());
  for (double q : {0.001, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0}) {
    const double exact = static_cast<double>(Exact(values, q));
    EXPECT_NEAR(static_cast<double>(s.ValueAt(q)), exact, exact * 0.004) << "q=" << q;
  }
  EXPECT_GE(s.Max(), values.back());
  EXPECT_LE(static_cast<double>(s.Max()), static_cast<double>(values.back()) * 1.008);
}

TEST(LogLinearHistogramTest, SmallValuesAreExactAndEmptyIsZero) {
  LogLinearHistogram h;
  EXPECT_EQ(h.Take().ValueAt(0.5), 0u);
  EXPECT_EQ(h.Take().Max(), 0u);
  for (uint64_t v : {3, 1, 4, 1, 5, 9, 2, 6}) h.Record(v);
  const auto s = h.Take();
  EXPECT_EQ(s.ValueAt(0.5), 3u);
  EXPECT_EQ(s.ValueAt(1.0), 9u);
  EXPECT_EQ(s.ValueAt(0.01), 1u);
}

TEST(LogLinearHistogramTest, SinceGivesTheQuantilesOfAnInterval) {
  LogLinearHistogram h;
  for (int i = 0; i < 1000; ++i) h.Record(1'000'000);  // a slow first interval
  const auto first = h.Take();
  for (int i = 0; i < 10; ++i) h.Record(1'000);
  const auto second = h.Take().Since(first);
  EXPECT_EQ(second.total, 10u);
  EXPECT_NEAR(static_cast<double>(second.ValueAt(0.99)), 1000, 4);
  EXPECT_NEAR(static_cast<double>(h.Take().ValueAt(0.5)), 1e6, 4e3);
}

}  // namespace
}  // namespace watershed
