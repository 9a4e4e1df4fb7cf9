#pragma once
// Interactions from the lake (docs/recs.md, "From the lake"): the rows of a
// region's `events` Iceberg table (<lake root>/<region>/events, deduplicated
// and validated events) at one snapshot — the current one or any older one
// still in the table's metadata (time travel) — folded into a Dataset.
//
// Positives: a view whose watch_ms reaches min_watch_ms (weight
// view_weight), any share (share_weight) or reply (reply_weight). One
// interaction per (viewer, story) pair that has a positive: its weight is
// the strongest of the pair's positive events, its timestamp that of the
// pair's first positive (unix seconds, rounded down). Shorter views are
// counted (Dataset::below_threshold) and dropped. Events are folded in
// (event_time, viewer, story, type, watch_ms) order, so the dataset — dense
// ids included — does not depend on how the rows are spread over files.
// External ids are the decimal viewer and story ids.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/event.h"
#include "core/file_system.h"
#include "core/status.h"
#include "recs/dataset.h"

namespace watershed::recs {

struct EngagementOptions {
  uint32_t min_watch_ms = 3000;
  float view_weight = 1;
  float share_weight = 2;
  float reply_weight = 3;
};
// An event's weight as a positive; 0 when it is none (a view below
// min_watch_ms). Shared with the feature store's consumer of the log.
float EngagementWeight(EventType type, uint32_t watch_ms, const EngagementOptions& options);

// The columns of an events row the recommenders read.
struct EngagementEvent {
  uint64_t viewer = 0;
  uint64_t story = 0;
  EventType type = EventType::kView;
  uint32_t watch_ms = 0;
  int64_t event_time_ms = 0;
  auto operator<=>(const EngagementEvent&) const = default;
};

struct LakeEvents {
  int64_t snapshot_id = 0;  // the snapshot read (0: the table has none yet)
  size_t files = 0;         // data files read
  std::vector<EngagementEvent> events;
};

// Every row of the table at `location` as of `snapshot_id` (none: the
// current snapshot). kNotFound when there is no table there or no such
// snapshot (the message lists the table's); kCorruption naming the file
// when a data file cannot be read or holds other than its manifest's row
// count.
Result<LakeEvents> ReadEngagementEvents(FileSystem* fs, const std::string& location,
                                        std::optional<int64_t> snapshot_id);

// Folds `events` into `out` (whose items, e.g. the catalogue's, may be
// listed already): positives become interactions as described above.
void AddEngagements(std::vector<EngagementEvent> events, const EngagementOptions& options, Dataset* out);

}  // namespace watershed::recs
