#pragma once
// Tests only: a region's lake tables in a temporary directory, filled with
// events files, for the maintenance and lifecycle tests.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "core/event.h"
#include "core/file_system.h"
#include "core/testing/temp_dir.h"
#include "lake/iceberg_commit.h"
#include "lake/iceberg_transform.h"
#include "lake/parquet.h"
#include "lake/tables.h"

namespace watershed::lake::testing {

inline constexpr int64_t kHourMs = 3'600'000;
inline constexpr int64_t kDayMs = 24 * kHourMs;
// 2026-11-20T00:00Z, a day boundary: the fixture's "now" is days after it.
inline constexpr int64_t kBaseMs = 20'777 * kDayMs;

using Row = std::tuple<int64_t, int64_t, std::string>;  // story_id, event_time (micros), event_id

inline int32_t BucketOf(int64_t story) { return iceberg::Bucket(16, iceberg::HashLong(story)); }

// Story ids that share story 1's bucket (so one partition holds several stories).
inline std::vector<int64_t> StoriesInOneBucket(size_t n) {
  std::vector<int64_t> out;
  for (int64_t s = 1; out.size() < n; ++s)
    if (BucketOf(s) == BucketOf(1)) out.push_back(s);
  return out;
}

class LakeTableFixture : public ::testing::Test {
 protected:
  std::string Location(LakeTableId id) { return TableLocation(dir_.path(), Region::kEu, id); }

  IcebergTable CreateTable(LakeTableId id) {
    auto t = IcebergTable::Create(fs_, Location(id), NewLakeTable(id, "5f0c4a38-2f6e-4a7b-9d8e-1c2b3a4d5e6f"));
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return std::move(t).value();
  }

  // An events Parquet file under the table's data/sink-p000/: `n` events of
  // `stories` (round robin) in the hour starting at hour_ms, written in
  // descending story order (so a sorted output is the compaction's doing),
  // or, `sorted`, by story then time as the sink writes them.
  DataFileInfo WriteEvents(LakeTableId id, const std::string& name, const std::vector<int64_t>& stories,
                           int64_t hour_ms, size_t n, bool sorted = false) {
    std::vector<int64_t> by_story = stories;
    std::sort(by_story.begin(), by_story.end());
    EventColumns columns;
    for (size_t i = 0; i < n; ++i) {
      Event e;
      e.event_id = EventId::FromHiLo(static_cast<uint64_t>(++next_event_), i);
      e.story_id = StoryId(static_cast<uint64_t>(sorted ? by_story[i * by_story.size() / n]
                                                        : stories[stories.size() - 1 - i % stories.size()]));
      e.author_id = AuthorId(3);
      e.viewer_id = ViewerId(500 + i);
      e.event_time = EventTimeMs(hour_ms + static_cast<int64_t>((sorted ? i : n - i) * 1000));
      e.watch_ms = 100;
      columns.Add(e, AppendTimeMs(hour_ms), LogOffset(i));
    }
    const std::string path = JoinPath(JoinPath(Location(id), "data/sink-p000"), name);
    EXPECT_TRUE(fs_->CreateDirs(DirName(path)).ok());
    auto w = ParquetWriter::Create(fs_, path, EventTableSchema());
    EXPECT_TRUE(w.ok());
    EXPECT_TRUE((*w)->Write(columns.columns(), columns.rows()).ok());
    auto size = (*w)->Finish();
    EXPECT_TRUE(size.ok());
    return DescribeParquetFile(path, static_cast<int64_t>(*size), (*w)->info(),
                               {iceberg::HourFromMicros(hour_ms * 1000), BucketOf(stories[0])});
  }

  // Every row of the table's current snapshot.
  std::vector<Row> ReadRows(LakeTableId id) {
    auto t = IcebergTable::Load(fs_, Location(id));
    EXPECT_TRUE(t.ok());
    auto live = ListLiveFiles(fs_, t->metadata());
    EXPECT_TRUE(live.ok()) << live.status().ToString();
    std::vector<Row> rows;
    for (const ManifestEntry& e : *live) {
      std::vector<Row> file = ReadFile(e.file.path);
      rows.insert(rows.end(), file.begin(), file.end());
    }
    std::sort(rows.begin(), rows.end());
    return rows;
  }
  std::vector<Row> ReadFile(const std::string& path) {
    std::vector<Row> rows;
    auto r = ParquetReader::Open(fs_, path);
    EXPECT_TRUE(r.ok()) << path;
    if (!r.ok()) return rows;
    const std::vector<int> cols = {(*r)->ColumnIndex("story_id"), (*r)->ColumnIndex("event_time"),
                                   (*r)->ColumnIndex("event_id")};
    for (size_t rg = 0; rg < (*r)->info().row_groups.size(); ++rg) {
      auto v = (*r)->ReadRowGroup(rg, cols);
      EXPECT_TRUE(v.ok());
      for (size_t i = 0; i < (*v)[0].ints.size(); ++i)
        rows.emplace_back((*v)[0].ints[i], (*v)[1].ints[i], (*v)[2].bytes.substr(i * 16, 16));
    }
    return rows;
  }

  // Every file under the lake with its size and content: a dry run must not change it.
  std::map<std::string, std::string> Snapshot() {
    std::map<std::string, std::string> out;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir_.path()))
      if (e.is_regular_file()) out[e.path().string()] = ReadWholeFile(fs_, e.path().string()).value();
    return out;
  }
  size_t FilesUnder(const std::string& dir) {
    size_t n = 0;
    if (!std::filesystem::exists(dir)) return 0;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) n += e.is_regular_file();
    return n;
  }
  TableMetadata Metadata(LakeTableId id) { return IcebergTable::Load(fs_, Location(id)).value().metadata(); }

  ::watershed::testing::TempDir dir_{"iceberg_maint"};
  FileSystem* fs_ = FileSystem::Default();
  int next_event_ = 0;
};

}  // namespace watershed::lake::testing
