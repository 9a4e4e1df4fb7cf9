#pragma once
// Tests only: a region's lake written by the platform's own lake sink
// (lake/lake_sink.h: Parquet data files, manifests, one Iceberg snapshot per
// commit), filled with planted engagement events, and the interactions a
// reader must find in it computed independently of src/recs.

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/event.h"
#include "core/file_system.h"
#include "lake/iceberg_metadata.h"
#include "lake/lake_sink.h"
#include "lake/tables.h"

namespace watershed::recs::testing {

inline constexpr int64_t kFirstEventMs = 1'790'000'000'000;  // 2026-09-21

// `n` events of viewers [1, viewers] and stories [1, stories], drawn with `seed`: views with watch_ms around
// `min_watch_ms` (a quarter exactly at it, a quarter one below), shares and replies; event times over six hours
// (the sink writes a file per hour and story bucket).
inline std::vector<Event> PlantedEngagements(uint64_t seed, size_t n, uint32_t viewers, uint32_t stories,
                                             uint32_t min_watch_ms, Region region = Region::kEu) {
  std::mt19937_64 rng(seed);
  std::vector<Event> out;
  for (size_t i = 0; i < n; ++i) {
    Event e;
    e.event_id = EventId::FromHiLo(seed, i);
    const uint64_t kind = rng() % 10;
    e.type = kind < 7 ? EventType::kView : kind < 9 ? EventType::kShare : EventType::kReply;
    e.story_id = StoryId(1 + rng() % stories);
    e.author_id = AuthorId(100 + e.story_id.value % 7);
    e.viewer_id = ViewerId(1 + rng() % viewers);
    e.region = region;
    e.event_time = EventTimeMs(kFirstEventMs + static_cast<int64_t>(rng() % (6 * 3'600'000ull)));
    if (e.type == EventType::kView) {
      const uint64_t w = rng() % 4;
      e.watch_ms = w == 0   ? min_watch_ms
                   : w == 1 ? min_watch_ms - 1
                            : static_cast<uint32_t>(rng() % (2 * min_watch_ms));
    }
    out.push_back(e);
  }
  return out;
}

// What the reader must find: per viewer, the stories with a positive event and the strongest weight of each.
using Truth = std::map<uint64_t, std::map<uint64_t, float>>;
inline Truth ExpectedPositives(const std::vector<Event>& events, uint32_t min_watch_ms, float share = 2,
                               float reply = 3) {
  Truth t;
  for (const Event& e : events) {
    float w = 0;
    if (e.type == EventType::kView && e.watch_ms >= min_watch_ms) w = 1;
    if (e.type == EventType::kShare) w = share;
    if (e.type == EventType::kReply) w = reply;
    if (w == 0) continue;
    float& best = t[e.viewer_id.value][e.story_id.value];
    if (w > best) best = w;
  }
  return t;
}

// Writes `events` at log offsets [first_offset, ...) of partition 0 through a PartitionSink and commits them:
// one new snapshot of each table. Returns the events table's snapshot id after the commit.
inline int64_t CommitThroughSink(FileSystem* fs, const std::string& root, Region region,
                                 const std::vector<Event>& events, uint64_t first_offset) {
  auto lake = lake::RegionLake::Open(fs, root, region);
  EXPECT_TRUE(lake.ok()) << lake.status().ToString();
  lake::PartitionSink sink(lake->get(), 0);
  EXPECT_TRUE(sink.Recover("", first_offset).ok());
  uint64_t offset = first_offset;
  for (const Event& e : events) {
    sink.AddRecord(e, AppendTimeMs(e.event_time.value + 5), LogOffset(offset), /*distinct=*/true);
    ++offset;
  }
  auto prepared = sink.Prepare(offset);
  EXPECT_TRUE(prepared.ok()) << prepared.status().ToString();
  sink.Saved();
  EXPECT_TRUE(sink.Commit().ok());
  auto table = lake::IcebergTable::Load(fs, lake::TableLocation(root, region, lake::LakeTableId::kEvents));
  EXPECT_TRUE(table.ok());
  return table->metadata().current_snapshot_id.value_or(0);
}

}  // namespace watershed::recs::testing
