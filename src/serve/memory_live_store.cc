#include <algorithm>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <unordered_set>

#include "serve/live_store.h"

namespace watershed::serve {

Aggregates& Aggregates::operator+=(const Aggregates& o) {
  views += o.views;
  unique_viewers += o.unique_viewers;
  watch_time_ms += o.watch_time_ms;
  shares += o.shares;
  replies += o.replies;
  return *this;
}

std::string_view WindowName(WindowSize w) { return w == WindowSize::k5s ? "5s" : "1m"; }

std::optional<WindowSize> ParseWindowSize(std::string_view s) {
  if (s == "5s") return WindowSize::k5s;
  if (s == "1m") return WindowSize::k1m;
  return std::nullopt;
}

std::optional<TopBy> ParseTopBy(std::string_view s) {
  if (s == "views") return TopBy::kViews;
  if (s == "unique_viewers") return TopBy::kUniqueViewers;
  if (s == "watch_time_ms") return TopBy::kWatchTime;
  if (s == "shares") return TopBy::kShares;
  if (s == "replies") return TopBy::kReplies;
  return std::nullopt;
}

uint64_t TopValue(const Aggregates& a, TopBy by) {
  switch (by) {
    case TopBy::kViews: return a.views;
    case TopBy::kUniqueViewers: return a.unique_viewers;
    case TopBy::kWatchTime: return a.watch_time_ms;
    case TopBy::kShares: return a.shares;
    case TopBy::kReplies: return a.replies;
  }
  return 0;
}

namespace {

// One value per region; absent regions contribute nothing.
template <typename T>
struct PerRegion {
  std::array<std::optional<T>, kRegionCount> v;
};

struct StoryEntry {
  AuthorId author;
  PerRegion<Aggregates> totals;
  std::array<int64_t, kRegionCount> as_of{};
  Aggregates sum;
  int64_t as_of_max = 0;
};

struct WindowEntry {
  std::array<std::optional<Aggregates>, kRegionCount> agg;
  std::array<bool, kRegionCount> final{};
};

class MemoryLiveStore final : public LiveStore {
 public:
  Status Apply(const PartitionWrite& w) override {
    const int r = static_cast<int>(w.region);
    std::unique_lock lock(mu_);
    for (const auto& u : w.stories) {
      StoryEntry& e = stories_[u.story.value];
      if (e.author != u.author && e.author.value != 0) by_author_[e.author.value].erase(u.story.value);
      e.author = u.author;
      by_author_[u.author.value].insert(u.story.value);
      e.totals.v[r] = u.totals;
      e.as_of[r] = w.as_of_ms;
      e.sum = {};
      e.as_of_max = 0;
      for (int i = 0; i < kRegionCount; ++i) {
        if (e.totals.v[i]) e.sum += *e.totals.v[i];
        e.as_of_max = std::max(e.as_of_max, e.as_of[i]);
      }
    }
    for (const auto& u : w.windows) {
      WindowEntry& e = windows_[u.key];
      e.agg[r] = u.agg;
      e.final[r] = u.final;
    }
    for (const auto& k : w.dropped_windows) {
      auto it = windows_.find(k);
      if (it == windows_.end()) continue;
      it->second.agg[r].reset();
      it->second.final[r] = false;
      bool empty = std::none_of(it->second.agg.begin(), it->second.agg.end(), [](auto& a) { return a.has_value(); });
      if (empty) windows_.erase(it);
    }
    return Status::Ok();
  }

  Result<std::optional<StoryMetrics>> GetStory(StoryId story) override {
    std::shared_lock lock(mu_);
    auto it = stories_.find(story.value);
    if (it == stories_.end()) return std::optional<StoryMetrics>();
    return std::optional<StoryMetrics>(ToMetrics(it->first, it->second));
  }

  Result<std::vector<SeriesPoint>> GetSeries(StoryId story, WindowSize size, int64_t from, int64_t to) override {
    std::vector<SeriesPoint> points;
    std::shared_lock lock(mu_);
    auto it = windows_.lower_bound(WindowKey{story, size, from});
    for (; it != windows_.end() && it->first.story == story && it->first.size == size && it->first.start < to; ++it) {
      SeriesPoint p;
      p.start = it->first.start;
      p.final = true;
      for (int r = 0; r < kRegionCount; ++r) {
        if (!it->second.agg[r]) continue;
        p.agg += *it->second.agg[r];
        p.final = p.final && it->second.final[r];
      }
      points.push_back(p);
    }
    return points;
  }

  Result<std::vector<StoryMetrics>> TopStories(AuthorId author, TopBy by, size_t limit) override {
    std::shared_lock lock(mu_);
    std::vector<StoryMetrics> out;
    auto it = by_author_.find(author.value);
    if (it == by_author_.end()) return out;
    for (uint64_t id : it->second) out.push_back(ToMetrics(id, stories_.at(id)));
    return Best(std::move(out), by, limit);
  }

  Result<std::vector<StoryMetrics>> TopStoriesOverall(TopBy by, size_t limit) override {
    std::shared_lock lock(mu_);
    std::vector<StoryMetrics> out;
    out.reserve(stories_.size());
    for (const auto& [id, e] : stories_) out.push_back(ToMetrics(id, e));
    return Best(std::move(out), by, limit);
  }

 private:
  static StoryMetrics ToMetrics(uint64_t id, const StoryEntry& e) {
    return StoryMetrics{StoryId(id), e.author, e.sum, e.as_of_max};
  }
  static std::vector<StoryMetrics> Best(std::vector<StoryMetrics> all, TopBy by, size_t limit) {
    auto better = [by](const StoryMetrics& a, const StoryMetrics& b) {
      uint64_t va = TopValue(a.totals, by), vb = TopValue(b.totals, by);
      return va != vb ? va > vb : a.story < b.story;
    };
    size_t n = std::min(limit, all.size());
    std::partial_sort(all.begin(), all.begin() + static_cast<ptrdiff_t>(n), all.end(), better);
    all.resize(n);
    return all;
  }

  std::shared_mutex mu_;
  std::unordered_map<uint64_t, StoryEntry> stories_;
  std::unordered_map<uint64_t, std::unordered_set<uint64_t>> by_author_;
  std::map<WindowKey, WindowEntry> windows_;
};

}  // namespace

std::unique_ptr<LiveStore> NewMemoryLiveStore() { return std::make_unique<MemoryLiveStore>(); }

}  // namespace watershed::serve
