#pragma once
// Deterministic, seeded engagement-event workload (docs/architecture.md, "The workload").
//
// The same WorkloadOptions produce the same event sequence on any machine:
// randomness comes from our own xoshiro256** generator (never from <random>
// distributions, whose output differs between standard library versions), and
// all integer draws are plain modular arithmetic. The one floating-point
// dependency is std::pow when the Zipf table is built (IEEE-754 doubles, glibc).
//
// Event i (0-based) has:
//   - event_id derived from (seed, i): unique within a seed, reproducible;
//   - story_id ~ Zipf(zipf_s) over 1..stories (story 1 the most popular);
//   - author_id = 1 + (story * 2654435761) % authors;
//   - viewer_id uniform over 1..viewers; region = viewer % RegionCount() (region-names);
//   - type SHARE with probability share_fraction, REPLY with reply_fraction,
//     VIEW otherwise; VIEW watch_ms uniform in 1..60000, else 0;
//   - event_time = nominal - delay, clamped at 0, where
//     nominal = base_time_ms + floor(i * 1000 / event_time_rate) and delay is
//     U[late_min_ms, late_max_ms] with probability late_fraction,
//     U[0, out_of_order_max_ms] with probability out_of_order_fraction, else 0.
// So event_time >= 0 and event_time <= base_time_ms + (i + 1) * 1000 / rate.

#include <cstdint>
#include <vector>

#include "core/event.h"

namespace watershed::workload {

struct WorkloadOptions {
  uint64_t seed = 1;
  uint64_t stories = 10'000;     // story ids 1..stories
  uint64_t authors = 1'000;      // author ids 1..authors
  uint64_t viewers = 1'000'000;  // viewer ids 1..viewers
  double zipf_s = 1.1;           // story popularity exponent
  double share_fraction = 0.10;
  double reply_fraction = 0.05;      // the rest are views
  int64_t base_time_ms = 0;          // nominal event time of event 0
  double event_time_rate = 100'000;  // events per second of event time
  double out_of_order_fraction = 0.10;
  int64_t out_of_order_max_ms = 3'000;
  double late_fraction = 0.005;
  int64_t late_min_ms = 70'000;
  int64_t late_max_ms = 180'000;
  // Not used by Generator: the load driver re-sends this fraction of batches
  // (client retries); see IsRetriedBatch.
  double duplicate_batch_fraction = 0.02;
};

// Fixed functions of ids, shared by the generator and anyone checking it.
AuthorId AuthorOfStory(StoryId story, uint64_t authors);
Region HomeRegionOf(ViewerId viewer);

// Deterministic choice of whether the load driver re-sends batch number
// `batch_index` (0-based): true for about duplicate_batch_fraction of batches.
bool IsRetriedBatch(const WorkloadOptions& options, uint64_t batch_index);

// Not thread-safe; use one Generator per thread.
class Generator {
 public:
  // REQUIRES: stories, authors, viewers >= 1; event_time_rate > 0;
  // 0 <= late_min_ms <= late_max_ms; out_of_order_max_ms >= 0.
  explicit Generator(const WorkloadOptions& options);

  // Returns event number produced() and advances.
  Event Next();
  // Number of events returned by Next so far.
  uint64_t produced() const { return produced_; }

 private:
  uint64_t NextU64();
  double NextUnit();               // uniform in [0, 1)
  uint64_t NextBelow(uint64_t n);  // uniform-ish in [0, n); REQUIRES: n > 0
  uint64_t SampleStory();

  WorkloadOptions options_;
  uint64_t state_[4];
  uint64_t id_hi_;
  std::vector<double> zipf_cdf_;  // zipf_cdf_[k] = P(story <= k + 1)
  uint64_t produced_ = 0;
};

}  // namespace watershed::workload
