#pragma once
// Ground truth for a workload, computed independently of the stream
// processor by a plain simulation of its documented semantics.
//
// Routing: an event goes to log (region = event.region,
// partition = PartitionOf(story_id, partitions, partition_scheme)). Within one (region,
// partition) the log order of distinct events equals the order they were
// given to TruthBuilder::Add (the load driver guarantees this).
//
// Semantics, per (region, partition), with watermark W starting at minus
// infinity (or at the server's, StartWatermark), for each distinct event (first occurrence of its (viewer_id,
// event_id)) in order:
//   for S in {5000, 60000}: s = floor(event_time / S) * S;
//     if W >= s + S + allowed_lateness the event is too late for that window
//     (counted in late_5s / late_1m), else it is added to window (story, S, s);
//   then W = max(W, event_time - out_of_order).
// A window is final in a (region, partition) iff that partition's final
// W >= s + S + allowed_lateness. Summed over regions, a window is final iff it
// is final in every region that contributed an event to it.
// Story totals count every distinct event, late or not. Unique viewers are
// counted per region and summed (each viewer has one home region).
// The processor also bounds W by the log's largest append time, so that a
// client clock ahead of the server's cannot close windows early; this
// simulation has no append times and holds only while event times do not
// lead them, which is why `watershed load` starts its event time in the past.

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>

#include "core/event.h"
#include "core/partitioning.h"
#include "core/status.h"

namespace watershed::workload {

inline constexpr int64_t kWindowSizesMs[] = {5'000, 60'000};

struct Aggregates {
  uint64_t views = 0;
  uint64_t unique_viewers = 0;
  uint64_t watch_time_ms = 0;
  uint64_t shares = 0;
  uint64_t replies = 0;
  bool operator==(const Aggregates&) const = default;
};

struct TruthOptions {
  uint32_t partitions = 8;
  int64_t out_of_order_ms = 5'000;
  int64_t allowed_lateness_ms = 60'000;
  PartitionScheme partition_scheme = PartitionScheme::kAligned;  // the server's logs'
  bool operator==(const TruthOptions&) const = default;
};

struct StoryTruth {
  uint64_t author_id = 0;  // from the story's first distinct event
  Aggregates totals;
  bool operator==(const StoryTruth&) const = default;
};

struct WindowTruth {
  Aggregates agg;
  bool final = false;
  bool operator==(const WindowTruth&) const = default;
};

// (story_id, window size ms, window start ms)
using WindowKey = std::tuple<uint64_t, int64_t, int64_t>;

struct Truth {
  TruthOptions options;
  std::map<uint64_t, StoryTruth> stories;
  std::map<WindowKey, WindowTruth> windows;  // only windows with an event
  uint64_t distinct_events = 0;
  uint64_t duplicates = 0;
  uint64_t late_5s = 0;  // distinct events too late for their 5 s window
  uint64_t late_1m = 0;  // ... for their 1 min window
  bool operator==(const Truth&) const = default;
};

// Not thread-safe. Memory grows with distinct events (it keeps every id and
// every (viewer, window) pair): meant for tests and offline truth files.
class TruthBuilder {
 public:
  // REQUIRES: options.partitions >= 1.
  explicit TruthBuilder(TruthOptions options);

  // The watermark a (region, partition) already has before the first Add —
  // the server's, moved by events sent before this workload: the windows it
  // closed are closed for the workload's late events too. Call before Add.
  void StartWatermark(Region region, uint32_t partition, int64_t watermark);

  // Events in generation order; duplicates (repeated event_id) are allowed and
  // only counted. REQUIRES: event.event_time.value >= 0.
  void Add(const Event& event);

  // Computes the truth of all events added so far. The builder may be reused.
  Truth Finish() const;

 private:
  struct Counted {  // an Aggregates whose unique viewers are still a set
    Aggregates agg;
    std::set<std::pair<Region, uint64_t>> viewers;
    void Add(const Event& e);
  };
  struct WindowState {
    Counted counted;
    std::set<Region> regions;  // regions that contributed an event
  };
  using PartitionKey = std::pair<Region, uint32_t>;

  TruthOptions options_;
  std::set<EventId> seen_;
  std::map<PartitionKey, int64_t> watermark_;                 // absent = minus infinity
  std::map<uint64_t, std::pair<uint64_t, Counted>> stories_;  // author, totals
  std::map<WindowKey, WindowState> windows_;
  uint64_t duplicates_ = 0;
  uint64_t late_[2] = {0, 0};
};

// Keeps only the windows that start at or after (the newest window's end −
// within_ms), i.e. those a server with series-retention >= within_ms still
// holds: it drops a window once its partition's watermark passes
// start + size + retention, and no watermark passes the newest window's end.
// Returns how many windows were removed. Totals are untouched.
// REQUIRES: within_ms >= 0.
size_t KeepRecentWindows(Truth* truth, int64_t within_ms);

// Truth file, text, one record per line, fields separated by one space,
// integers in decimal:
//   watershed-truth v1 partitions=P out_of_order_ms=O allowed_lateness_ms=L [scheme=aligned|legacy]
//   counts distinct_events=N duplicates=N late_5s=N late_1m=N
//   story ID AUTHOR VIEWS UNIQUE_VIEWERS WATCH_TIME_MS SHARES REPLIES   (0+ lines)
//   window STORY SIZE_MS START FINAL(0|1) VIEWS UNIQUE_VIEWERS WATCH_TIME_MS SHARES REPLIES
//   end stories=N windows=N
// A header without scheme= (files written before partition schemes) means
// legacy.
// The header and counts lines must come first, in that order. Story and window
// lines are written in key order; the reader accepts them in any
// order but rejects repeated keys. The end line guards against truncation.
Status WriteTruthFile(const Truth& truth, const std::string& path);

// Strict: any malformed line yields InvalidArgument "path:LINE: reason".
// A missing or unreadable file yields IoError.
Result<Truth> ReadTruthFile(const std::string& path);

// The same format in memory; `name` prefixes error messages.
std::string SerializeTruth(const Truth& truth);
Result<Truth> ParseTruth(std::string_view text, const std::string& name);

}  // namespace watershed::workload
