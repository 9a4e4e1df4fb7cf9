#pragma once
// RegionalLiveStore: the live store of a process that serves several regions, over one store per region
// (docs/live_store.md "One store per region"). Apply writes a region's PartitionWrite into that region's store
// only; reads ask each region's store for that region's parts and add them up. Several regions may name the
// same store (one Redis for every region, as live-store alone configures): it is asked once; GetStoryRegions and
// GetProgress take from it only the regions mapped to it, the other reads take what it holds.
//
// Answers equal one store holding every region's parts. TopStoriesOverall over several distinct stores (each
// ranking by its own regions' values) reads each one's list deeper until what it has not read cannot rank (the
// threshold algorithm): exact when that happens within kTopDepthFactor × limit deep (O(limit) reads per store).
// Past that depth the answer ranks what was read: the tail of stories worth 0 may skip ids, and a story that sits
// deeper than that in every store's list can be left out even when its sum ranks (e.g. limit 1, two regions each
// with 16+ local stories worth 60, a story worth 59 in both): the cost stays bounded instead.
// Thread-safe as its stores are; it owns none of them.

#include <array>
#include <vector>

#include "serve/live_store.h"

namespace watershed::serve {

// How deep TopStoriesOverall reads each store at most, in multiples of the limit.
inline constexpr size_t kTopDepthFactor = 16;

class RegionalLiveStore final : public LiveStore {
 public:
  // stores[r]: region r's store, or nullptr when the process does not serve r.
  explicit RegionalLiveStore(std::array<LiveStore*, kMaxRegions> stores);

  LiveStore* For(Region region) const { return stores_[static_cast<int>(region)]; }

  // kFailedPrecondition for a region this process does not serve (nothing is written).
  Status Apply(const PartitionWrite& write) override;
  Result<std::optional<StoryMetrics>> GetStory(StoryId story) override;
  Result<RegionParts> GetStoryRegions(StoryId story) override;
  Result<std::vector<std::optional<StoryMetrics>>> GetStories(const std::vector<StoryId>& stories) override;
  Result<std::vector<SeriesPoint>> GetSeries(StoryId story, WindowSize size, int64_t from, int64_t to) override;
  Result<std::vector<StoryMetrics>> TopStoriesOverall(TopBy by, size_t limit) override;
  Result<std::vector<PartitionProgress>> GetProgress() override;

 private:
  // A store and the regions it holds here.
  struct Distinct {
    LiveStore* store;
    std::array<bool, kMaxRegions> regions{};
  };
  // Whether `d` is the store of every region (it then holds nothing else: its own sums are the answer).
  static bool Whole(const Distinct& d);
  std::array<LiveStore*, kMaxRegions> stores_;
  std::vector<Distinct> distinct_;
};

// The sum of a story's parts (the lowest region's author, the latest as_of); nullopt when no part.
std::optional<StoryMetrics> SumParts(const RegionParts& parts);

}  // namespace watershed::serve
