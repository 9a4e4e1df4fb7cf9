#pragma once
// The live store: what the query API serves. Processors write absolute
// values (never increments) per (story, region) and per (story, window,
// region), so a replay after a crash rewrites the same values and converges.
// A story's answer is the sum over regions; unique viewers add up exactly
// only when a viewer has one home region (auth on: the token's region).
// A process keeps one store per region it serves (regional_live_store.h).
//
// Implementations: MemoryLiveStore (below, the embedded default) and
// RedisLiveStore (redis_live_store.h). All methods are thread-safe.

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "core/status.h"

namespace watershed::serve {

struct Aggregates {
  uint64_t views = 0;
  uint64_t unique_viewers = 0;  // distinct viewer_id over view events
  uint64_t watch_time_ms = 0;
  uint64_t shares = 0;
  uint64_t replies = 0;
  bool operator==(const Aggregates&) const = default;
  Aggregates& operator+=(const Aggregates& o);
};

enum class WindowSize : uint8_t { k5s = 0, k1m = 1 };
inline constexpr int kWindowSizeCount = 2;
inline constexpr int64_t WindowMs(WindowSize w) { return w == WindowSize::k5s ? 5'000 : 60'000; }
std::string_view WindowName(WindowSize w);  // "5s", "1m"
std::optional<WindowSize> ParseWindowSize(std::string_view s);

struct StoryUpdate {
  StoryId story;
  AuthorId author;
  Aggregates totals;
};
struct WindowKey {
  StoryId story;
  WindowSize size = WindowSize::k5s;
  int64_t start = 0;  // ms, a multiple of WindowMs(size)
  auto operator<=>(const WindowKey&) const = default;
};
struct WindowUpdate {
  WindowKey key;
  Aggregates agg;
  bool final = false;  // the watermark has passed end + allowed lateness: the value will not change
};

// Everything one partition's processor changed since its last write.
struct PartitionWrite {
  Region region = Region::kUs;
  uint32_t partition = 0;
  int64_t as_of_ms = 0;  // append time of the last record reflected
  // The first log offset the write does not reflect. Processing is
  // deterministic, so whoever computes a partition's state at an offset
  // computes the same values: a store shared by several processors may
  // refuse a write whose next_offset is below one it already applied for
  // the partition (a replay after a restore, or a zombie owner), and never
  // lets older values overwrite newer ones. Both stores refuse per (story,
  // region), all of the story's parts at once (docs/live_store.md).
  uint64_t next_offset = 0;
  std::vector<StoryUpdate> stories;
  std::vector<WindowUpdate> windows;
  std::vector<WindowKey> dropped_windows;  // past the series retention
};

struct StoryMetrics {
  StoryId story;
  AuthorId author;
  Aggregates totals;
  int64_t as_of_ms = 0;
};

struct SeriesPoint {
  int64_t start = 0;
  Aggregates agg;
  bool final = false;
};

// How far a partition's writes reached: the highest next_offset the store
// applied for (region, partition). A process that reads the store but runs
// no processor (`watershed query`) computes lag from it: the log's end
// offset minus next_offset acknowledged events are not visible yet.
struct PartitionProgress {
  Region region = Region::kUs;
  uint32_t partition = 0;
  uint64_t next_offset = 0;
  bool operator==(const PartitionProgress&) const = default;
};

using RegionParts = std::array<std::optional<StoryMetrics>, kMaxRegions>;

enum class TopBy { kViews, kUniqueViewers, kWatchTime, kShares, kReplies };
std::optional<TopBy> ParseTopBy(std::string_view s);
uint64_t TopValue(const Aggregates& a, TopBy by);

class LiveStore {
 public:
  virtual ~LiveStore() = default;
  // Also raises the partition's progress to write.next_offset (never lowers
  // it), once the write's values are stored, even when it changes nothing.
  virtual Status Apply(const PartitionWrite& write) = 0;
  virtual Result<std::optional<StoryMetrics>> GetStory(StoryId story) = 0;
  // The story's part of each region the store holds (nullopt: none), each as GetStory would answer it were that
  // region alone in the store: what a region's deployment reports of a story to its peers.
  virtual Result<RegionParts> GetStoryRegions(StoryId story) = 0;
  // GetStory of each id, in order (nullopt for a story without events).
  virtual Result<std::vector<std::optional<StoryMetrics>>> GetStories(const std::vector<StoryId>& stories);
  // Points with from <= start < to, ascending by start.
  virtual Result<std::vector<SeriesPoint>> GetSeries(StoryId story, WindowSize size, int64_t from, int64_t to) = 0;
  // Best stories over all authors (the demo's leaderboard), best first by
  // `by`, ties by story id ascending; stories worth 0 are included (lowest
  // ids first). Costs O(limit) reads in every store, whatever the number of
  // stories.
  virtual Result<std::vector<StoryMetrics>> TopStoriesOverall(TopBy by, size_t limit) = 0;
  // Every partition written so far, ordered by region then partition.
  virtual Result<std::vector<PartitionProgress>> GetProgress() = 0;
};

std::unique_ptr<LiveStore> NewMemoryLiveStore();

}  // namespace watershed::serve
