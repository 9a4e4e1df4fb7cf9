#pragma once
// Two inputs of the candidate pool beyond the feature store (docs/recs.md, "Candidates"):
//
// RegionalTrending — each region's decayed live views. The feature store has one state for every region (serve
// runs one store), so the log's consumer also hands each applied batch, with its log's region, to this tracker
// (FeatureUpdaterOptions::on_applied); the pool's per-region trending and popular lists come from it. In memory
// only: after a restart a region's lists fill again from live events (until a region has events, its requests
// get the lists of all regions). Bounded: every kPruneEvery events of a region, and whenever it tracks more than
// max_items, the items whose decayed views fell below kPruneBelow at the region's latest event are forgotten
// (with their event count), then, if still too many, the least trending ones.
//
// CoViewIndex — items co-viewed with an item: two items are co-viewed when one viewer engaged with both within
// `window` positions of each other in that viewer's time-ordered sequence of distinct items (each viewer's latest
// max_per_viewer of them: a bot's million events cost one pass, and at most max_per_viewer × window pairs). Built
// at refresh from the lake's events (or any list of engagements); per item the `per_item` most co-viewed items (at
// least min_count viewers), most first, ties by smaller id; at most max_pairs_per_item pairs per item are counted.

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "recs/feature_store.h"

namespace watershed::recs {

class RegionalTrending {
 public:
  static constexpr double kPruneBelow = 0.01;  // one view, 6.6 half-lives old
  static constexpr size_t kPruneEvery = 65'536;
  explicit RegionalTrending(int64_t half_life_ms = kDayMs, size_t max_items = 200'000)
      : half_life_ms_(half_life_ms), max_items_(max_items) {}
  // Counts each event once for its item in `region` (its weight does not matter: views, as the store's trending).
  // Thread-safe.
  void Add(uint8_t region, const std::vector<FeatureEvent>& events);

  struct ItemActivity {
    uint64_t item = 0;
    double trending = 0;  // decayed to as_of_ms
    uint64_t events = 0;  // since this process started tracking it (pruned: counted again from 0)
  };
  // Every region's tracked items, as of as_of_ms (values of events after it are not decayed forward).
  std::map<uint8_t, std::vector<ItemActivity>> Read(int64_t as_of_ms) const;
  size_t tracked(uint8_t region) const;  // items tracked in the region

 private:
  struct State {
    EmbeddedFeatureStore::Decayed trending;
    uint64_t events = 0;
  };
  struct RegionState {
    std::unordered_map<uint64_t, State> items;
    int64_t latest_ms = INT64_MIN;  // the latest event's time
    size_t since_prune = 0;         // events added since the last prune
  };
  void Prune(RegionState* r);
  const int64_t half_life_ms_;
  const size_t max_items_;
  mutable std::mutex mu_;
  std::map<uint8_t, RegionState> regions_;
};

struct CoViewOptions {
  uint32_t window = 5;            // positions apart in a viewer's sequence
  uint32_t max_per_viewer = 200;  // a viewer's latest items considered
  uint32_t per_item = 50;         // neighbours kept per item
  uint32_t min_count = 2;         // viewers who co-viewed the pair, at least
  // Pairs counted per item while building, at most: a full row drops its pairs below min_count, then refuses new
  // ones (memory: items × this, whatever the events).
  uint32_t max_pairs_per_item = 1000;
};

struct CoViewEngagement {
  uint64_t viewer = 0, item = 0;
  int64_t time_ms = 0;
};

class CoViewIndex {
 public:
  // `engagements` in any order; an item engaged twice by one viewer counts at its first time.
  static std::shared_ptr<const CoViewIndex> Build(std::vector<CoViewEngagement> engagements,
                                                  const CoViewOptions& options = {});
  // Most co-viewed first; empty for an unknown item.
  const std::vector<uint64_t>& Neighbours(uint64_t item) const;
  size_t items() const { return neighbours_.size(); }

 private:
  std::unordered_map<uint64_t, std::vector<uint64_t>> neighbours_;
};

}  // namespace watershed::recs
