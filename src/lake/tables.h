#pragma once
// The lake's tables (issue #5): their Iceberg schemas (field ids are the
// contract with Iceberg readers: never reuse or renumber one) and the
// builders that turn events into Parquet columns.
//
//   raw_events   every accepted event as ingested (late ones included)
//   events       deduplicated, validated events
//   story_minute one row per story and minute: views, unique viewers,
//                watch time, shares, replies
// raw_events and events share one schema. viewer_id is personal data: it
// gets no min/max statistics (a later erasure leaves no id in metadata).

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "lake/iceberg_metadata.h"
#include "lake/parquet.h"

namespace watershed::lake {

// event_id UUID(1), type STRING(2), story_id(3), author_id(4),
// viewer_id(5, personal), region STRING(6), event_time TIMESTAMP(7),
// watch_ms INT32(8), append_time TIMESTAMP(9) (the log's clock: when the
// platform accepted it), log_offset INT64(10).
const std::vector<ColumnSpec>& EventTableSchema();

// story_id(1), author_id(2), region STRING(3), minute TIMESTAMP(4),
// views(5), unique_viewers(6), watch_time_ms(7), shares(8), replies(9).
const std::vector<ColumnSpec>& StoryMinuteSchema();

// The Iceberg schema of Parquet columns: uuid, string, int, long,
// timestamptz, double; REQUIRED columns are required fields.
std::vector<IcebergField> IcebergSchemaOf(const std::vector<ColumnSpec>& columns);

// The tables of one region's lake and their zones: each table lives at
// <lake root>/<region>/<name> (TableLocation). Data older than keep_days
// (by its partition's time) moves into `archive` when set — rewritten into
// large files at archive_zstd_level — and is deleted otherwise.
enum class LakeTableId { kRawEvents, kEvents, kStoryMinute, kArchiveEvents, kArchiveStoryMinute };
inline constexpr int kLakeTableCount = 5;
struct LakeTableSpec {
  LakeTableId id;
  const char* name;
  int64_t keep_days;
  std::optional<LakeTableId> archive;
  int zstd_level;  // of the files written into this table
};
// raw_events 7 d; events 90 d then archive_events; story_minute 365 d then
// archive_story_minute; archives 7 years (2557 d) at zstd level 19.
const LakeTableSpec& SpecOf(LakeTableId id);
// Per table, days to keep overriding its keep_days (a region's retention in
// governance-file); nullopt: the table's own.
using KeepDays = std::array<std::optional<int64_t>, kLakeTableCount>;
int64_t KeepDaysOf(LakeTableId id, const KeepDays& overrides);
std::optional<LakeTableId> LakeTableByName(std::string_view name);
std::string TableLocation(std::string_view lake_root, Region region, LakeTableId id);
// The table's schema and its initial metadata (CreateLakeTable's input).
const std::vector<ColumnSpec>& SchemaOf(LakeTableId id);
TableMetadata NewLakeTable(LakeTableId id, std::string table_uuid);
// Whether a table (its metadata/ directory) exists at `location`.
bool LakeTableExists(FileSystem* fs, const std::string& location);
// The table at `location`, created (NewLakeTable, a random UUID) when there
// is none or its creation was cut short (a metadata/ directory without any
// metadata file); another process creating it at the same time is fine.
Result<IcebergTable> LoadOrCreateLakeTable(FileSystem* fs, const std::string& location, LakeTableId id);
// The same for a table of any schema: created from `initial` (given a random
// UUID when it has none) when there is none.
Result<IcebergTable> LoadOrCreateTable(FileSystem* fs, const std::string& location, TableMetadata initial);

// A new raw_events / events table: EventTableSchema, partitioned by
// hour(event_time) (field 1000) and bucket[16](story_id) (1001), sorted by
// story_id then event_time, Parquet with zstd.
TableMetadata NewEventTable(std::string table_uuid);

// Accumulates events as EventTableSchema columns.
class EventColumns {
 public:
  EventColumns();
  void Add(const Event& e, AppendTimeMs append_time, LogOffset offset);
  // The same from an event's fields (the lake sink's buffered rows).
  void Add(const EventId& event_id, EventType type, uint64_t story_id, uint64_t author_id, uint64_t viewer_id,
           Region region, int64_t event_time_ms, uint32_t watch_ms, int64_t append_time_ms, uint64_t offset);
  // Room for `rows` more rows (no reallocation while adding them).
  void Reserve(size_t rows);
  size_t rows() const { return rows_; }
  const std::vector<ColumnValues>& columns() const { return columns_; }
  // Hands the columns over (ParquetWriter::Write takes them without a copy); leaves this empty.
  std::vector<ColumnValues> Take();
  void Clear();

 private:
  std::vector<ColumnValues> columns_;
  size_t rows_ = 0;
};

// One story_minute row.
struct StoryMinuteRow {
  uint64_t story_id = 0, author_id = 0;
  Region region = Region::kUs;
  int64_t minute_ms = 0;  // start of the minute, ms since the epoch
  uint64_t views = 0, unique_viewers = 0, watch_time_ms = 0, shares = 0, replies = 0;
  bool operator==(const StoryMinuteRow&) const = default;
};
// StoryMinuteSchema columns of `rows`.
std::vector<ColumnValues> StoryMinuteColumns(const std::vector<StoryMinuteRow>& rows);

}  // namespace watershed::lake
