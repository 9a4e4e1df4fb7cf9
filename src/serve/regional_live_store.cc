#include "serve/regional_live_store.h"

#include <algorithm>
#include <map>
#include <set>

namespace watershed::serve {

std::optional<StoryMetrics> SumParts(const RegionParts& parts) {
  std::optional<StoryMetrics> m;
  for (const auto& part : parts) {
    if (!part) continue;
    if (!m) {
      m = *part;  // the lowest region's author
      continue;
    }
    m->totals += part->totals;
    m->as_of_ms = std::max(m->as_of_ms, part->as_of_ms);
  }
  return m;
}

RegionalLiveStore::RegionalLiveStore(std::array<LiveStore*, kMaxRegions> stores) : stores_(stores) {
  for (int r = 0; r < RegionCount(); ++r) {
    if (!stores_[r]) continue;
    auto it =
        std::find_if(distinct_.begin(), distinct_.end(), [&](const Distinct& d) { return d.store == stores_[r]; });
    if (it == distinct_.end()) it = distinct_.insert(distinct_.end(), Distinct{stores_[r], {}});
    it->regions[r] = true;
  }
}

Status RegionalLiveStore::Apply(const PartitionWrite& write) {
  LiveStore* store = For(write.region);
  if (!store)
    return Status::FailedPrecondition("live store: region " + std::string(RegionName(write.region)) +
                                      " is not served by this process");
  return store->Apply(write);
}

Result<RegionParts> RegionalLiveStore::GetStoryRegions(StoryId story) {
  RegionParts out;
  for (const Distinct& d : distinct_) {
    ASSIGN_OR_RETURN(RegionParts parts, d.store->GetStoryRegions(story));
    for (int r = 0; r < RegionCount(); ++r)
      if (d.regions[r]) out[r] = std::move(parts[r]);
  }
  return out;
}

bool RegionalLiveStore::Whole(const Distinct& d) {
  return std::all_of(d.regions.begin(), d.regions.begin() + RegionCount(), [](bool served) { return served; });
}

Result<std::optional<StoryMetrics>> RegionalLiveStore::GetStory(StoryId story) {
  if (distinct_.size() == 1 && Whole(distinct_[0])) return distinct_[0].store->GetStory(story);
  ASSIGN_OR_RETURN(RegionParts parts, GetStoryRegions(story));
  return SumParts(parts);
}

Result<std::vector<std::optional<StoryMetrics>>> RegionalLiveStore::GetStories(const std::vector<StoryId>& stories) {
  std::vector<std::optional<StoryMetrics>> out(stories.size());
  for (const Distinct& d : distinct_) {  // ordered by their lowest region: the first part found names the author
    std::vector<std::optional<StoryMetrics>> found;
    if (Whole(d)) {
      ASSIGN_OR_RETURN(found, d.store->GetStories(stories));
    } else {  // it may hold regions served elsewhere (a Redis shared before the split): only this one's parts
      for (StoryId story : stories) {
        ASSIGN_OR_RETURN(RegionParts parts, d.store->GetStoryRegions(story));
        for (int r = 0; r < RegionCount(); ++r)
          if (!d.regions[r]) parts[r].reset();
        found.push_back(SumParts(parts));
      }
    }
    if (found.size() != stories.size()) return Status::Internal("live store: GetStories answered another count");
    for (size_t i = 0; i < found.size(); ++i) {
      if (!found[i]) continue;
      if (!out[i]) {
        out[i] = std::move(found[i]);
        continue;
      }
      out[i]->totals += found[i]->totals;
      out[i]->as_of_ms = std::max(out[i]->as_of_ms, found[i]->as_of_ms);
    }
  }
  return out;
}

Result<std::vector<SeriesPoint>> RegionalLiveStore::GetSeries(StoryId story, WindowSize size, int64_t from,
                                                              int64_t to) {
  if (distinct_.size() == 1) return distinct_[0].store->GetSeries(story, size, from, to);
  std::map<int64_t, SeriesPoint> merged;
  for (const Distinct& d : distinct_) {
    ASSIGN_OR_RETURN(auto points, d.store->GetSeries(story, size, from, to));
    for (const SeriesPoint& p : points) {
      auto [it, fresh] = merged.try_emplace(p.start, p);
      if (fresh) continue;
      it->second.agg += p.agg;
      it->second.final = it->second.final && p.final;  // final once every region's part is
    }
  }
  std::vector<SeriesPoint> out;
  out.reserve(merged.size());
  for (auto& [start, p] : merged) out.push_back(p);
  return out;
}

Result<std::vector<StoryMetrics>> RegionalLiveStore::TopStoriesOverall(TopBy by, size_t limit) {
  if (distinct_.empty() || limit == 0) return std::vector<StoryMetrics>{};
  if (distinct_.size() == 1) return distinct_[0].store->TopStoriesOverall(by, limit);
  // The threshold algorithm: read each store's list `depth` deep, rank what was read by its sums over the stores.
  // A story not read is worth at most the deepest value read in each store, so at most their sum T: once the
  // limit-th story is worth more than T (or every list was read whole) the answer is exact. Else read 4 times
  // deeper, up to kTopDepthFactor × limit (the answer is then as far as read; header).
  auto better = [by](const StoryMetrics& a, const StoryMetrics& b) {
    const uint64_t va = TopValue(a.totals, by), vb = TopValue(b.totals, by);
    return va != vb ? va > vb : a.story < b.story;
  };
  const size_t cap = limit * kTopDepthFactor;
  for (size_t depth = limit;; depth = std::min(cap, depth * 4)) {
    std::set<StoryId> seen;
    std::vector<StoryId> ids;
    uint64_t threshold = 0;
    bool whole = true;
    for (const Distinct& d : distinct_) {
      ASSIGN_OR_RETURN(auto top, d.store->TopStoriesOverall(by, depth));
      for (const StoryMetrics& m : top)
        if (seen.insert(m.story).second) ids.push_back(m.story);
      if (top.size() >= depth) {
        whole = false;
        threshold += TopValue(top.back().totals, by);
      }
    }
    ASSIGN_OR_RETURN(auto found, GetStories(ids));
    std::vector<StoryMetrics> ranked;
    for (auto& m : found)
      if (m) ranked.push_back(std::move(*m));
    std::sort(ranked.begin(), ranked.end(), better);
    const bool exact = whole || (ranked.size() >= limit && TopValue(ranked[limit - 1].totals, by) > threshold);
    if (exact || depth >= cap) {
      if (ranked.size() > limit) ranked.resize(limit);
      return ranked;
    }
  }
}

Result<std::vector<PartitionProgress>> RegionalLiveStore::GetProgress() {
  std::vector<PartitionProgress> out;
  for (const Distinct& d : distinct_) {
    ASSIGN_OR_RETURN(auto progress, d.store->GetProgress());
    for (const PartitionProgress& p : progress)
      if (d.regions[static_cast<int>(p.region)]) out.push_back(p);
  }
  std::sort(out.begin(), out.end(), [](const PartitionProgress& a, const PartitionProgress& b) {
    return a.region != b.region ? a.region < b.region : a.partition < b.partition;
  });
  return out;
}

}  // namespace watershed::serve
