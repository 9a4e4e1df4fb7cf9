#pragma once
// Test helper: a LiveStore that forwards every call to another store, so a
// test overrides only the calls it counts or breaks. Does not own the
// target, which must outlive it.

#include "serve/live_store.h"

namespace watershed::serve::testing {

class ForwardingLiveStore : public LiveStore {
 public:
  explicit ForwardingLiveStore(LiveStore* target) : target_(target) {}

  Status Apply(const PartitionWrite& write) override { return target_->Apply(write); }
  Result<std::optional<StoryMetrics>> GetStory(StoryId story) override { return target_->GetStory(story); }
  Result<RegionParts> GetStoryRegions(StoryId story) override { return target_->GetStoryRegions(story); }
  Result<std::vector<std::optional<StoryMetrics>>> GetStories(const std::vector<StoryId>& stories) override {
    return target_->GetStories(stories);
  }
  Result<std::vector<SeriesPoint>> GetSeries(StoryId story, WindowSize size, int64_t from, int64_t to) override {
    return target_->GetSeries(story, size, from, to);
  }
  Result<std::vector<StoryMetrics>> TopStoriesOverall(TopBy by, size_t limit) override {
    return target_->TopStoriesOverall(by, limit);
  }
  Result<std::vector<PartitionProgress>> GetProgress() override { return target_->GetProgress(); }

 protected:
  LiveStore* target_;
};

}  // namespace watershed::serve::testing
