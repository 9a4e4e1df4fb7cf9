#include "workload/generator.h"

#include <algorithm>
#include <cmath>

namespace watershed::workload {
namespace {

// splitmix64: seeds xoshiro and mixes ids. A bijection on uint64.
uint64_t SplitMix(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t Mix(uint64_t x) { return SplitMix(x); }

uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

AuthorId AuthorOfStory(StoryId story, uint64_t authors) {
  return AuthorId(1 + (story.value * 2654435761ULL) % authors);
}

Region HomeRegionOf(ViewerId viewer) {
  return static_cast<Region>(viewer.value % static_cast<uint64_t>(RegionCount()));
}

bool IsRetriedBatch(const WorkloadOptions& options, uint64_t batch_index) {
  uint64_t r = Mix(Mix(options.seed ^ 0x5eed0ba7c4ULL) ^ batch_index);
  return static_cast<double>(r >> 11) * 0x1.0p-53 < options.duplicate_batch_fraction;
}

Generator::Generator(const WorkloadOptions& options) : options_(options) {
  uint64_t s = options.seed;
  for (uint64_t& word : state_) word = SplitMix(s);
  // UUID version nibble 4 in the high half; the low half is Mix(index),
  // a bijection, so ids are unique per index.
  id_hi_ = (Mix(options.seed ^ 0x1d5ULL) & ~0xf000ULL) | 0x4000ULL;

  zipf_cdf_.resize(options.stories);
  double sum = 0;
  for (uint64_t k = 0; k < options.stories; ++k) {
    sum += 1.0 / std::pow(static_cast<double>(k + 1), options.zipf_s);
    zipf_cdf_[k] = sum;
  }
  for (double& c : zipf_cdf_) c /= sum;
  zipf_cdf_.back() = 1.0;
}

uint64_t Generator::NextU64() {  // xoshiro256**
  const uint64_t result = Rotl(state_[1] * 5, 7) * 9;
  const uint64_t t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = Rotl(state_[3], 45);
  return result;
}

double Generator::NextUnit() { return static_cast<double>(NextU64() >> 11) * 0x1.0p-53; }

uint64_t Generator::NextBelow(uint64_t n) { return NextU64() % n; }

uint64_t Generator::SampleStory() {
  double u = NextUnit();
  auto it = std::upper_bound(zipf_cdf_.begin(), zipf_cdf_.end(), u);
  if (it == zipf_cdf_.end()) --it;
  return static_cast<uint64_t>(it - zipf_cdf_.begin()) + 1;
}

Event Generator::Next() {
  const uint64_t i = produced_++;
  Event e;
  e.event_id = EventId::FromHiLo(id_hi_, Mix(i));

  // A fixed number of draws per event keeps later events independent of
  // which branches earlier events took.
  const uint64_t story = SampleStory();
  const double type_u = NextUnit();
  const uint64_t viewer = 1 + NextBelow(options_.viewers);
  const uint32_t watch = static_cast<uint32_t>(1 + NextBelow(60'000));
  const double delay_u = NextUnit();
  const uint64_t delay_r = NextU64();

  e.story_id = StoryId(story);
  e.author_id = AuthorOfStory(e.story_id, options_.authors);
  e.viewer_id = ViewerId(viewer);
  e.region = HomeRegionOf(e.viewer_id);
  if (type_u < options_.share_fraction) {
    e.type = EventType::kShare;
  } else if (type_u < options_.share_fraction + options_.reply_fraction) {
    e.type = EventType::kReply;
  } else {
    e.type = EventType::kView;
    e.watch_ms = watch;
  }

  const int64_t nominal =
      options_.base_time_ms +
      static_cast<int64_t>(std::floor(static_cast<double>(i) * 1000.0 / options_.event_time_rate));
  int64_t delay = 0;
  if (delay_u < options_.late_fraction) {
    const uint64_t span = static_cast<uint64_t>(options_.late_max_ms - options_.late_min_ms) + 1;
    delay = options_.late_min_ms + static_cast<int64_t>(delay_r % span);
  } else if (delay_u < options_.late_fraction + options_.out_of_order_fraction) {
    delay =
        static_cast<int64_t>(delay_r % (static_cast<uint64_t>(options_.out_of_order_max_ms) + 1));
  }
  e.event_time = EventTimeMs(std::max<int64_t>(0, nominal - delay));
  return e;
}

}  // namespace watershed::workload
