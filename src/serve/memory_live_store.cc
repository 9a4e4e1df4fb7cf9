#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <queue>
#include <set>
#include <shared_mutex>
#include <unordered_map>
#include <vector>

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

Result<std::vector<std::optional<StoryMetrics>>> LiveStore::GetStories(const std::vector<StoryId>& stories) {
  std::vector<std::optional<StoryMetrics>> out;
  out.reserve(stories.size());
  for (StoryId s : stories) {
    ASSIGN_OR_RETURN(std::optional<StoryMetrics> m, GetStory(s));
    out.push_back(std::move(m));
  }
  return out;
}

Result<std::vector<StoryMetrics>> LiveStore::TopStories(AuthorId, TopBy, size_t) {
  return Status::FailedPrecondition("per-author top lists were removed: a creator's list comes from the catalogue");
}

namespace {

struct WindowEntry {
  std::array<std::optional<Aggregates>, kRegionCount> agg;
  std::array<bool, kRegionCount> final{};
};

// Everything of one story: per-region totals (summed on write, so reads are
// one lookup) and its window series.
struct StoryEntry {
  // The author as each region's processor saw it (the story's first event
  // there); the story's author is the lowest region's, so it does not depend
  // on which processor wrote last.
  std::array<AuthorId, kRegionCount> author_of{};
  AuthorId author;
  std::array<std::optional<Aggregates>, kRegionCount> totals;
  std::array<int64_t, kRegionCount> as_of{};
  // Per region, the highest next_offset of a write applied to any part of
  // the story (totals, a window, a drop). A story lives in one partition per
  // region, so its parts there are the partition's state at this offset. One
  // offset guards them all: a later write may carry the totals but not a
  // window that stopped changing, so the window must be guarded by the same
  // offset, or an older write would bring back its older value (or bring a
  // dropped window back) for good.
  std::array<uint64_t, kRegionCount> next_offset{};
  Aggregates sum;
  int64_t as_of_max = 0;
  std::map<int64_t, WindowEntry> windows[kWindowSizeCount];
};

// Stories are spread over shards by id, each with its own lock, so the
// region processors and the query threads rarely wait on each other.
constexpr size_t kShards = 64;

class MemoryLiveStore final : public LiveStore {
 public:
  // A write below the offset a story already holds for the region (a
  // zombie owner, or a replay after a restore) is refused for that story,
  // whole: the store already holds the story's state at a later offset, and
  // processing is deterministic, so nothing newer is lost. As in the Redis
  // store, the check and the write are one step under the shard's lock.
  Status Apply(const PartitionWrite& w) override {
    const int r = static_cast<int>(w.region);
    // Whether this write may change `e`; raises e's offset when it may. A
    // story's first check decides for all its parts: raised to exactly
    // w.next_offset, the offset refuses none of the write's later parts.
    auto accepts = [&](StoryEntry& e) {
      if (e.next_offset[r] > w.next_offset) return false;
      e.next_offset[r] = w.next_offset;
      return true;
    };
    // Group the write by shard to take each lock once.
    std::array<std::vector<const StoryUpdate*>, kShards> stories;
    std::array<std::vector<const WindowUpdate*>, kShards> windows;
    std::array<std::vector<const WindowKey*>, kShards> dropped;
    for (const auto& u : w.stories) stories[ShardOf(u.story)].push_back(&u);
    for (const auto& u : w.windows) windows[ShardOf(u.key.story)].push_back(&u);
    for (const auto& k : w.dropped_windows) dropped[ShardOf(k.story)].push_back(&k);
    for (size_t i = 0; i < kShards; ++i) {
      if (stories[i].empty() && windows[i].empty() && dropped[i].empty()) continue;
      Shard& shard = shards_[i];
      std::unique_lock lock(shard.mu);
      for (const StoryUpdate* u : stories[i]) {
        StoryEntry& e = shard.stories[u->story.value];
        if (!accepts(e)) continue;
        const bool listed = !IsEmpty(e);  // in the rank lists with e.sum
        e.author_of[r] = u->author;
        e.totals[r] = u->totals;
        int first = 0;
        while (!e.totals[first]) ++first;  // region r has totals now
        e.author = e.author_of[first];
        e.as_of[r] = w.as_of_ms;
        const Aggregates before = e.sum;
        e.sum = {};
        e.as_of_max = 0;
        for (int k = 0; k < kRegionCount; ++k) {
          if (e.totals[k]) e.sum += *e.totals[k];
          e.as_of_max = std::max(e.as_of_max, e.as_of[k]);
        }
        Rerank(shard, u->story.value, listed ? &before : nullptr, e.sum);
      }
      for (const WindowUpdate* u : windows[i]) {
        StoryEntry& story = shard.stories[u->key.story.value];
        if (!accepts(story)) continue;
        WindowEntry& e = story.windows[static_cast<int>(u->key.size)][u->key.start];
        e.agg[r] = u->agg;
        e.final[r] = u->final;
      }
      for (const WindowKey* k : dropped[i]) {
        // Created if unknown: the drop's offset must refuse an older write
        // of the window that arrives later, or the window would come back.
        StoryEntry& story = shard.stories[k->story.value];
        if (!accepts(story)) continue;
        auto& series = story.windows[static_cast<int>(k->size)];
        auto it = series.find(k->start);
        if (it == series.end()) continue;
        it->second.agg[r].reset();
        it->second.final[r] = false;
        if (std::none_of(it->second.agg.begin(), it->second.agg.end(), [](auto& a) { return a.has_value(); }))
          series.erase(it);
      }
    }
    std::lock_guard lock(progress_mu_);
    uint64_t& reached = progress_[{r, w.partition}];
    reached = std::max(reached, w.next_offset);
    return Status::Ok();
  }

  Result<std::optional<StoryMetrics>> GetStory(StoryId story) override {
    Shard& shard = shards_[ShardOf(story)];
    std::shared_lock lock(shard.mu);
    auto it = shard.stories.find(story.value);
    if (it == shard.stories.end() || IsEmpty(it->second))
      return std::optional<StoryMetrics>();
    return std::optional<StoryMetrics>(ToMetrics(it->first, it->second));
  }

  Result<std::vector<SeriesPoint>> GetSeries(StoryId story, WindowSize size, int64_t from, int64_t to) override {
    std::vector<SeriesPoint> points;
    Shard& shard = shards_[ShardOf(story)];
    std::shared_lock lock(shard.mu);
    auto found = shard.stories.find(story.value);
    if (found == shard.stories.end()) return points;
    const auto& series = found->second.windows[static_cast<int>(size)];
    for (auto it = series.lower_bound(from); it != series.end() && it->first < to; ++it) {
      SeriesPoint p;
      p.start = it->first;
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

  // A merge of the shards' rank lists, under all their (shared) locks: a
  // consistent answer that reads `limit` + 64 entries whatever the number
  // of stories. Locks are taken in shard order; a writer holds one at a time.
  Result<std::vector<StoryMetrics>> TopStoriesOverall(TopBy by, size_t limit) override {
    std::vector<std::shared_lock<std::shared_mutex>> locks;
    locks.reserve(kShards);
    for (Shard& shard : shards_) locks.emplace_back(shard.mu);
    using Head = std::pair<RankList::const_iterator, size_t>;  // next entry of shard i
    auto worse = [](const Head& a, const Head& b) { return *b.first < *a.first; };
    std::priority_queue<Head, std::vector<Head>, decltype(worse)> heads(worse);
    const size_t b = static_cast<size_t>(by);
    for (size_t i = 0; i < kShards; ++i)
      if (!shards_[i].ranks[b].empty()) heads.emplace(shards_[i].ranks[b].begin(), i);
    std::vector<StoryMetrics> out;
    while (out.size() < limit && !heads.empty()) {
      auto [it, i] = heads.top();
      heads.pop();
      const uint64_t id = it->second;
      out.push_back(ToMetrics(id, shards_[i].stories.at(id)));
      if (++it != shards_[i].ranks[b].end()) heads.emplace(it, i);
    }
    return out;
  }

  Result<std::vector<PartitionProgress>> GetProgress() override {
    std::lock_guard lock(progress_mu_);
    std::vector<PartitionProgress> out;
    for (const auto& [key, next_offset] : progress_)
      out.push_back(PartitionProgress{static_cast<Region>(key.first), key.second, next_offset});
    return out;
  }

 private:
  static constexpr size_t kTopByCount = 5;
  // Per TopBy, the shard's stories with totals as (UINT64_MAX - value, id):
  // the set's order is the answer's (value descending, id ascending). Five
  // set nodes (~50 bytes each) per story.
  using RankList = std::set<std::pair<uint64_t, uint64_t>>;
  struct Shard {
    std::shared_mutex mu;
    std::unordered_map<uint64_t, StoryEntry> stories;
    std::array<RankList, kTopByCount> ranks;  // guarded by mu
  };
  static size_t ShardOf(StoryId s) { return (s.value * 0x9e3779b97f4a7c15ull) >> 58; }  // top 6 bits
  // A story known only through windows (its totals not written yet) is not reported.
  static bool IsEmpty(const StoryEntry& e) {
    return std::none_of(e.totals.begin(), e.totals.end(), [](auto& t) { return t.has_value(); });
  }
  static StoryMetrics ToMetrics(uint64_t id, const StoryEntry& e) {
    return StoryMetrics{StoryId(id), e.author, e.sum, e.as_of_max};
  }
  // Moves a story in its shard's rank lists from its old sum (nullptr: not
  // listed yet) to its new one; a metric that did not change stays put.
  // REQUIRES: shard.mu held exclusively.
  static void Rerank(Shard& shard, uint64_t story, const Aggregates* before, const Aggregates& after) {
    for (size_t b = 0; b < kTopByCount; ++b) {
      const TopBy by = static_cast<TopBy>(b);
      const uint64_t value = TopValue(after, by);
      if (before) {
        const uint64_t old = TopValue(*before, by);
        if (old == value) continue;
        shard.ranks[b].erase({UINT64_MAX - old, story});
      }
      shard.ranks[b].insert({UINT64_MAX - value, story});
    }
  }

  static_assert(kShards == 64, "ShardOf takes the top 6 bits");
  std::array<Shard, kShards> shards_;
  std::mutex progress_mu_;
  std::map<std::pair<int, uint32_t>, uint64_t> progress_;  // (region, partition) -> next_offset
};

}  // namespace

std::unique_ptr<LiveStore> NewMemoryLiveStore() { return std::make_unique<MemoryLiveStore>(); }

}  // namespace watershed::serve
