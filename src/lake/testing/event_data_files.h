#pragma once
// Tests only: data files of an events table (NewEventTable), written by our
// Parquet writer and described as a manifest would list them.

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "core/event.h"
#include "core/file_system.h"
#include "lake/iceberg_manifest.h"
#include "lake/iceberg_transform.h"
#include "lake/parquet.h"
#include "lake/tables.h"

namespace watershed::lake::testing {

inline TableMetadata EventsTableMetadata() { return NewEventTable("5f0c4a38-2f6e-4a7b-9d8e-1c2b3a4d5e6f"); }

// A Parquet file at `path` of `n` events of stories [first_story,
// first_story + 10) in one hour, partitioned by that hour and first_story's
// bucket.
inline DataFileInfo WriteEventsDataFile(FileSystem* fs, const std::string& path, uint64_t first_story, size_t n) {
  EventColumns columns;
  for (size_t i = 0; i < n; ++i) {
    Event e;
    e.event_id = EventId::FromHiLo(first_story, i);
    e.story_id = StoryId(first_story + i % 10);
    e.author_id = AuthorId(3);
    e.viewer_id = ViewerId(500 + i);
    e.event_time = EventTimeMs(1'795'000'000'000 + static_cast<int64_t>(i));
    e.watch_ms = 100;
    columns.Add(e, AppendTimeMs(1'795'000'000'500), LogOffset(i));
  }
  auto w = ParquetWriter::Create(fs, path, EventTableSchema());
  EXPECT_TRUE(w.ok());
  EXPECT_TRUE((*w)->Write(columns.columns(), columns.rows()).ok());
  auto size = (*w)->Finish();
  EXPECT_TRUE(size.ok());
  auto r = ParquetReader::Open(fs, path);
  EXPECT_TRUE(r.ok());
  const int32_t hour = iceberg::HourFromMicros(1'795'000'000'000 * 1000);
  return DescribeParquetFile(path, static_cast<int64_t>(*size), (*r)->info(),
                             {hour, iceberg::Bucket(16, iceberg::HashLong(static_cast<int64_t>(first_story)))});
}

}  // namespace watershed::lake::testing
