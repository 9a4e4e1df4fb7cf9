#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <queue>
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

namespace {

// One region's part of a window.
struct WindowPart {
  Aggregates agg;
  bool final = false;
};

// One region's part of a story.
struct RegionPart {
  Region region{};
  AuthorId author;  // as this region's processor saw it (the story's first event there)
  std::optional<Aggregates> totals;
  int64_t as_of = 0;
  // The highest next_offset of a write applied to any part of the story in
  // this region (totals, a window, a drop). A story lives in one partition
  // per region, so its parts there are the partition's state at this
  // offset. One offset guards them all: a later write may carry the totals
  // but not a window that stopped changing, so the window must be guarded by
  // the same offset, or an older write would bring back its older value (or
  // bring a dropped window back) for good.
  uint64_t next_offset = 0;
};

// Everything of one story: its regions' parts (totals summed on write, so
// reads are one lookup) and its window series. Parts and windows exist only
// for the regions that wrote them, so a store holding one region (the
// default: a store per region) pays for one, whatever region-names holds.
struct StoryEntry {
  std::vector<RegionPart> parts;  // sorted by region
  // The lowest region's author among the parts with totals, so it does not
  // depend on which processor wrote last.
  AuthorId author;
  Aggregates sum;
  int64_t as_of_max = 0;
  // Per window size, (start, region) → that region's part of the window:
  // a window's parts are adjacent.
  std::map<std::pair<int64_t, Region>, WindowPart> windows[kWindowSizeCount];
  // Where the story sits in its shard's rank lists: listed with `ranked`'s
  // values. `rank_dirty`: `sum` changed since, and the story is in the
  // shard's dirty list (it moves at the shard's next flush).
  Aggregates ranked;
  bool listed = false;
  bool rank_dirty = false;
};

RegionPart& PartOf(StoryEntry& e, Region r) {
  auto it =
      std::lower_bound(e.parts.begin(), e.parts.end(), r, [](const RegionPart& p, Region x) { return p.region < x; });
  if (it == e.parts.end() || it->region != r)
    it = e.parts.insert(it, RegionPart{.region = r, .author = {}, .totals = {}, .as_of = 0, .next_offset = 0});
  return *it;
}

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
    const Region r = w.region;
    // Whether this write may change `e`; raises e's offset when it may. A
    // story's first check decides for all its parts: raised to exactly
    // w.next_offset, the offset refuses none of the write's later parts.
    auto accepts = [&](StoryEntry& e) {
      RegionPart& part = PartOf(e, r);
      if (part.next_offset > w.next_offset) return false;
      part.next_offset = w.next_offset;
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
        auto& node = *shard.stories.try_emplace(u->story.value).first;
        StoryEntry& e = node.second;
        if (!accepts(e)) continue;
        RegionPart& part = PartOf(e, r);
        part.author = u->author;
        part.totals = u->totals;
        part.as_of = w.as_of_ms;
        e.sum = {};
        e.as_of_max = 0;
        bool first = true;  // region r has totals now, so some part has
        for (const RegionPart& p : e.parts) {
          if (p.totals) {
            if (first) e.author = p.author;
            first = false;
            e.sum += *p.totals;
          }
          e.as_of_max = std::max(e.as_of_max, p.as_of);
        }
        // Only the values change here; the rank lists follow at the shard's
        // next flush (a top read, or a long dirty list).
        if (!e.rank_dirty && (!e.listed || Changed(e.ranked, e.sum))) {
          e.rank_dirty = true;
          shard.dirty.push_back(&node);
        }
      }
      // Bounds the dirty list (memory) and the next read's work; a flush of
      // D > N/8 stories costs one pass over the N entries, <= 8 per story.
      if (shard.dirty.size() > 64 + shard.ranks[0].size() / 8) Flush(shard);
      for (const WindowUpdate* u : windows[i]) {
        StoryEntry& story = shard.stories[u->key.story.value];
        if (!accepts(story)) continue;
        story.windows[static_cast<int>(u->key.size)][{u->key.start, r}] = WindowPart{u->agg, u->final};
      }
      for (const WindowKey* k : dropped[i]) {
        // Created if unknown: the drop's offset must refuse an older write
        // of the window that arrives later, or the window would come back.
        StoryEntry& story = shard.stories[k->story.value];
        if (!accepts(story)) continue;
        story.windows[static_cast<int>(k->size)].erase({k->start, r});
      }
    }
    std::lock_guard lock(progress_mu_);
    uint64_t& reached = progress_[{static_cast<int>(r), w.partition}];
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

  Result<RegionParts> GetStoryRegions(StoryId story) override {
    RegionParts parts;
    Shard& shard = shards_[ShardOf(story)];
    std::shared_lock lock(shard.mu);
    auto it = shard.stories.find(story.value);
    if (it == shard.stories.end()) return parts;
    const StoryEntry& e = it->second;
    for (const RegionPart& p : e.parts) {
      if (!p.totals) continue;
      StoryMetrics& m = parts[static_cast<int>(p.region)].emplace();
      m.story = story;
      m.author = p.author;
      m.totals = *p.totals;
      m.as_of_ms = p.as_of;
    }
    return parts;
  }

  Result<std::vector<SeriesPoint>> GetSeries(StoryId story, WindowSize size, int64_t from, int64_t to) override {
    std::vector<SeriesPoint> points;
    Shard& shard = shards_[ShardOf(story)];
    std::shared_lock lock(shard.mu);
    auto found = shard.stories.find(story.value);
    if (found == shard.stories.end()) return points;
    const auto& series = found->second.windows[static_cast<int>(size)];
    for (auto it = series.lower_bound({from, Region{}}); it != series.end() && it->first.first < to; ++it) {
      if (points.empty() || points.back().start != it->first.first) {
        points.push_back(SeriesPoint{});
        points.back().start = it->first.first;
        points.back().final = true;
      }
      SeriesPoint& p = points.back();
      p.agg += it->second.agg;
      p.final = p.final && it->second.final;
    }
    return points;
  }

  // A merge of the shards' rank lists, under all their locks: a consistent
  // answer that reads `limit` + 64 entries whatever the number of stories.
  // A shard with pending moves is flushed first, under its exclusive lock,
  // kept for the merge so no write dirties it again meanwhile. Locks are
  // taken in shard order; a writer holds one at a time.
  Result<std::vector<StoryMetrics>> TopStoriesOverall(TopBy by, size_t limit) override {
    std::vector<std::shared_lock<std::shared_mutex>> shared;
    std::vector<std::unique_lock<std::shared_mutex>> exclusive;
    shared.reserve(kShards);
    for (Shard& shard : shards_) {
      std::shared_lock lock(shard.mu);
      if (shard.dirty.empty()) {
        shared.push_back(std::move(lock));
        continue;
      }
      lock.unlock();
      exclusive.emplace_back(shard.mu);
      Flush(shard);
    }
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
  // Per TopBy, the shard's listed stories as (UINT64_MAX - value, id),
  // sorted: the order of the answer (value descending, id ascending). A flat
  // vector (16 bytes per story and metric) rather than a std::set: a move is
  // a short shift of contiguous entries, and many moves are one merge pass.
  using RankKey = std::pair<uint64_t, uint64_t>;
  using RankList = std::vector<RankKey>;
  struct Move {
    std::optional<RankKey> from;  // nullopt: not listed yet
    RankKey to;
  };
  struct Shard {
    std::shared_mutex mu;
    std::unordered_map<uint64_t, StoryEntry> stories;
    std::array<RankList, kTopByCount> ranks;  // guarded by mu; stale for the dirty stories
    // Guarded by mu: the stories with rank_dirty (an unordered_map's
    // elements stay put when it rehashes).
    std::vector<std::pair<const uint64_t, StoryEntry>*> dirty;
  };
  static size_t ShardOf(StoryId s) { return (s.value * 0x9e3779b97f4a7c15ull) >> 58; }  // top 6 bits
  // A story known only through windows (its totals not written yet) is not reported.
  static bool IsEmpty(const StoryEntry& e) {
    return std::none_of(e.parts.begin(), e.parts.end(), [](const RegionPart& p) { return p.totals.has_value(); });
  }
  static StoryMetrics ToMetrics(uint64_t id, const StoryEntry& e) {
    return StoryMetrics{StoryId(id), e.author, e.sum, e.as_of_max};
  }
  static bool Changed(const Aggregates& a, const Aggregates& b) {
    for (size_t by = 0; by < kTopByCount; ++by)
      if (TopValue(a, static_cast<TopBy>(by)) != TopValue(b, static_cast<TopBy>(by))) return true;
    return false;
  }
  static RankKey Key(const Aggregates& a, size_t by, uint64_t story) {
    return {UINT64_MAX - TopValue(a, static_cast<TopBy>(by)), story};
  }

  // Moves the shard's dirty stories to their current values in every rank
  // list where a value changed: a story written many times between flushes
  // moves once. REQUIRES: shard.mu held exclusively.
  static void Flush(Shard& shard) {
    struct Pending {
      uint64_t id;
      std::optional<Aggregates> from;  // nullopt: not listed yet
      Aggregates to;
    };
    std::vector<Pending> pending;  // one lookup per story, not one per list
    pending.reserve(shard.dirty.size());
    for (auto* node : shard.dirty) {
      StoryEntry& e = node->second;
      pending.push_back({node->first, e.listed ? std::optional(e.ranked) : std::nullopt, e.sum});
      e.ranked = e.sum;
      e.listed = true;
      e.rank_dirty = false;
    }
    shard.dirty.clear();
    std::vector<Move> moves;
    for (size_t by = 0; by < kTopByCount; ++by) {
      moves.clear();
      for (const Pending& p : pending) {
        const RankKey to = Key(p.to, by, p.id);
        if (!p.from) {
          moves.push_back({std::nullopt, to});
        } else if (const RankKey from = Key(*p.from, by, p.id); from != to) {
          moves.push_back({from, to});
        }
      }
      RankList& list = shard.ranks[by];
      // One move shifts the entries between its two places; a merge pass
      // rewrites the list. Take the cheaper.
      size_t shifted = 0;
      for (auto m = moves.begin(); m != moves.end() && shifted <= list.size(); ++m) {
        const size_t to = std::lower_bound(list.begin(), list.end(), m->to) - list.begin();
        const size_t from = m->from ? std::lower_bound(list.begin(), list.end(), *m->from) - list.begin() : list.size();
        shifted += from > to ? from - to : to - from;
      }
      if (shifted <= list.size()) {
        for (const Move& m : moves) MoveOne(list, m.from, m.to);
      } else {
        MergeMoves(list, moves);
      }
    }
  }

  // Replaces `from` (nullopt: nothing) by `to`, shifting only the entries
  // between the two places.
  static void MoveOne(RankList& list, const std::optional<RankKey>& from, const RankKey& to) {
    if (!from) {
      list.insert(std::lower_bound(list.begin(), list.end(), to), to);
      return;
    }
    const auto old = std::lower_bound(list.begin(), list.end(), *from);
    if (to < *from) {  // up: entries in [new place, old) shift one down
      const auto place = std::lower_bound(list.begin(), old, to);
      std::move_backward(place, old, old + 1);
      *place = to;
    } else {  // down: entries in (old, new place) shift one up
      const auto place = std::lower_bound(old + 1, list.end(), to);
      std::move(old + 1, place, old);
      *(place - 1) = to;
    }
  }

  // All the moves in one pass: the list without the moved entries, merged
  // with their new places.
  static void MergeMoves(RankList& list, const std::vector<Move>& moves) {
    RankList gone, added;  // both sorted: `gone` is walked along the list
    for (const auto& m : moves) {
      if (m.from) gone.push_back(*m.from);
      added.push_back(m.to);
    }
    std::sort(gone.begin(), gone.end());
    std::sort(added.begin(), added.end());
    RankList out;
    out.reserve(list.size() - gone.size() + added.size());
    auto next_gone = gone.begin();
    auto next_added = added.begin();
    for (const RankKey& entry : list) {
      if (next_gone != gone.end() && *next_gone == entry) {
        ++next_gone;
        continue;
      }
      while (next_added != added.end() && *next_added < entry) out.push_back(*next_added++);
      out.push_back(entry);
    }
    out.insert(out.end(), next_added, added.end());
    list.swap(out);
  }

  static_assert(kShards == 64, "ShardOf takes the top 6 bits");
  std::array<Shard, kShards> shards_;
  std::mutex progress_mu_;
  std::map<std::pair<int, uint32_t>, uint64_t> progress_;  // (region, partition) -> next_offset
};

}  // namespace

std::unique_ptr<LiveStore> NewMemoryLiveStore() { return std::make_unique<MemoryLiveStore>(); }

}  // namespace watershed::serve
