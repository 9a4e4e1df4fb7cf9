#include "lake/tables.h"

#include <algorithm>
#include <cstdio>

#include "core/random.h"

namespace watershed::lake {
namespace {

ColumnSpec Int64(const char* name, int32_t id) {
  return {name, id, PhysicalType::kInt64, LogicalType::kInt64};
}
ColumnSpec String(const char* name, int32_t id) {
  return {name, id, PhysicalType::kByteArray, LogicalType::kString};
}
ColumnSpec Timestamp(const char* name, int32_t id) {
  return {name, id, PhysicalType::kInt64, LogicalType::kTimestampMicrosUtc};
}

void AddString(ColumnValues& c, std::string_view s) {
  c.bytes += s;
  c.ends.push_back(static_cast<uint32_t>(c.bytes.size()));
}

}  // namespace

const std::vector<ColumnSpec>& EventTableSchema() {
  static const std::vector<ColumnSpec> schema = [] {
    std::vector<ColumnSpec> s = {
        {"event_id", 1, PhysicalType::kFixedLenByteArray, LogicalType::kUuid, false, 16, true, false},
        String("type", 2),
        Int64("story_id", 3),
        Int64("author_id", 4),
        Int64("viewer_id", 5),
        String("region", 6),
        Timestamp("event_time", 7),
        {"watch_ms", 8, PhysicalType::kInt32, LogicalType::kInt32},
        Timestamp("append_time", 9),
        Int64("log_offset", 10),
    };
    s[4].statistics = false;  // personal data
    // Encodings by measurement of the sink's files (bench/RESULTS.md, issue
    // #20, DELTA_BINARY_PACKED): the unique integers DELTA_BINARY_PACKED,
    // without a dictionary attempt; left uncompressed where zstd gained
    // nothing on the packed deltas and cost most of the writer's time
    // (viewer ids, log offsets, watch times); the timestamps and the UUIDs
    // at zstd level 1 (level 3: ~2 % smaller for twice the time). Rewrites
    // (compaction, lifecycle) keep DELTA and compress at the table's level.
    for (ColumnSpec& c : s) {
      const std::string_view n = c.name;
      if (n == "viewer_id" || n == "watch_ms" || n == "log_offset" || n == "event_time" || n == "append_time") {
        c.delta = true;
        c.dictionary = false;
        c.compress = n == "event_time" || n == "append_time";
        c.zstd_level = 1;
      }
      if (n == "event_id") c.zstd_level = 1;
    }
    return s;
  }();
  return schema;
}

const std::vector<ColumnSpec>& StoryMinuteSchema() {
  static const std::vector<ColumnSpec> schema = {
      Int64("story_id", 1),      Int64("author_id", 2), String("region", 3),
      Timestamp("minute", 4),    Int64("views", 5),     Int64("unique_viewers", 6),
      Int64("watch_time_ms", 7), Int64("shares", 8),    Int64("replies", 9),
  };
  return schema;
}

std::vector<IcebergField> IcebergSchemaOf(const std::vector<ColumnSpec>& columns) {
  std::vector<IcebergField> out;
  for (const ColumnSpec& c : columns) {
    std::string type;
    switch (c.logical) {
      case LogicalType::kUuid: type = "uuid"; break;
      case LogicalType::kString: type = "string"; break;
      case LogicalType::kTimestampMicrosUtc: type = "timestamptz"; break;
      case LogicalType::kInt32: type = "int"; break;
      case LogicalType::kInt64: type = "long"; break;
      case LogicalType::kNone:
        type = c.type == PhysicalType::kDouble  ? "double"
               : c.type == PhysicalType::kInt32 ? "int"
               : c.type == PhysicalType::kInt64 ? "long"
                                                : "binary";
        break;
    }
    out.push_back(IcebergField{c.field_id, c.name, type, !c.optional});
  }
  return out;
}

TableMetadata NewEventTable(std::string table_uuid) {
  TableMetadata m;
  m.table_uuid = std::move(table_uuid);
  m.schema = IcebergSchemaOf(EventTableSchema());
  m.partition_spec = {{7, 1000, "event_time_hour", "hour"}, {3, 1001, "story_id_bucket", "bucket[16]"}};
  m.sort_order = {{3}, {7}};
  m.properties = {{"write.format.default", "parquet"}, {"write.parquet.compression-codec", "zstd"}};
  return m;
}

const LakeTableSpec& SpecOf(LakeTableId id) {
  static const LakeTableSpec specs[kLakeTableCount] = {
      {LakeTableId::kRawEvents, "raw_events", 7, std::nullopt, 3},
      {LakeTableId::kEvents, "events", 90, LakeTableId::kArchiveEvents, 3},
      {LakeTableId::kStoryMinute, "story_minute", 365, LakeTableId::kArchiveStoryMinute, 3},
      {LakeTableId::kArchiveEvents, "archive_events", 2557, std::nullopt, 19},
      {LakeTableId::kArchiveStoryMinute, "archive_story_minute", 2557, std::nullopt, 19},
  };
  return specs[static_cast<int>(id)];
}

int64_t KeepDaysOf(LakeTableId id, const KeepDays& overrides) {
  return overrides[static_cast<int>(id)].value_or(SpecOf(id).keep_days);
}

std::optional<LakeTableId> LakeTableByName(std::string_view name) {
  for (int i = 0; i < kLakeTableCount; ++i)
    if (name == SpecOf(static_cast<LakeTableId>(i)).name) return static_cast<LakeTableId>(i);
  return std::nullopt;
}

std::string TableLocation(std::string_view lake_root, Region region, LakeTableId id) {
  return JoinPath(JoinPath(lake_root, RegionName(region)), SpecOf(id).name);
}

const std::vector<ColumnSpec>& SchemaOf(LakeTableId id) {
  return id == LakeTableId::kStoryMinute || id == LakeTableId::kArchiveStoryMinute ? StoryMinuteSchema()
                                                                                   : EventTableSchema();
}

TableMetadata NewLakeTable(LakeTableId id, std::string table_uuid) {
  TableMetadata m = NewEventTable(std::move(table_uuid));
  switch (id) {
    case LakeTableId::kRawEvents:
    case LakeTableId::kEvents: break;
    case LakeTableId::kStoryMinute:
      // Few rows per story and minute: days, not hours, keep files from being tiny.
      m.schema = IcebergSchemaOf(StoryMinuteSchema());
      m.partition_spec = {{4, 1000, "minute_day", "day"}, {1, 1001, "story_id_bucket", "bucket[16]"}};
      m.sort_order = {{1}, {4}};
      break;
    case LakeTableId::kArchiveEvents:
      // Archives hold large files: one partition per day, no buckets.
      m.partition_spec = {{7, 1000, "event_time_day", "day"}};
      break;
    case LakeTableId::kArchiveStoryMinute:
      m.schema = IcebergSchemaOf(StoryMinuteSchema());
      m.partition_spec = {{4, 1000, "minute_day", "day"}};
      m.sort_order = {{1}, {4}};
      break;
  }
  m.properties["write.parquet.compression-level"] = std::to_string(SpecOf(id).zstd_level);
  return m;
}

bool LakeTableExists(FileSystem* fs, const std::string& location) {
  return fs->FileExists(JoinPath(location, "metadata"));
}

Result<IcebergTable> LoadOrCreateLakeTable(FileSystem* fs, const std::string& location, LakeTableId id) {
  return LoadOrCreateTable(fs, location, NewLakeTable(id, ""));
}

namespace {

// Whether nothing was ever committed at `location`: Create makes metadata/,
// then publishes v1 through a temporary file, and no data is written before
// v1. Anything else there (a hint, manifests, data files) means a table that
// lost its metadata, which must stay an error: recreating it empty would
// let orphan removal delete its data.
bool NothingCommitted(FileSystem* fs, const std::string& location) {
  auto names = fs->ListDir(JoinPath(location, "metadata"));
  if (!names.ok()) return false;
  for (const std::string& n : *names)
    if (n.find(".tmp.") == std::string::npos) return false;
  auto data = fs->ListDir(JoinPath(location, "data"));
  return !data.ok() ? !fs->FileExists(JoinPath(location, "data")) : data->empty();
}

}  // namespace

Result<IcebergTable> LoadOrCreateTable(FileSystem* fs, const std::string& location, TableMetadata initial) {
  if (LakeTableExists(fs, location)) {
    auto loaded = IcebergTable::Load(fs, location);
    // A creation cut short (a crash between the directory and v1) is
    // finished below; a table that has held metadata never is.
    if (loaded.ok() || loaded.status().code() != StatusCode::kNotFound || !NothingCommitted(fs, location))
      return loaded;
  }
  if (initial.table_uuid.empty()) {
    uint64_t hi = 0, lo = 0;
    RandomBytes(&hi, sizeof hi);
    RandomBytes(&lo, sizeof lo);
    hi = (hi & ~0xf000ull) | 0x4000ull;                  // version 4
    lo = (lo & ~(0xc000ull << 48)) | (0x8000ull << 48);  // RFC 4122 variant
    char uuid[40];
    std::snprintf(uuid, sizeof uuid, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                  static_cast<unsigned>((hi >> 16) & 0xffff), static_cast<unsigned>(hi & 0xffff),
                  static_cast<unsigned>(lo >> 48), static_cast<unsigned long long>(lo & 0xffffffffffffull));
    initial.table_uuid = uuid;
  }
  auto created = IcebergTable::Create(fs, location, std::move(initial));
  if (created.ok() || created.status().code() != StatusCode::kFailedPrecondition) return created;
  return IcebergTable::Load(fs, location);  // created concurrently
}

std::vector<ColumnValues> StoryMinuteColumns(const std::vector<StoryMinuteRow>& rows) {
  std::vector<ColumnValues> c(StoryMinuteSchema().size());
  for (const StoryMinuteRow& r : rows) {
    c[0].ints.push_back(static_cast<int64_t>(r.story_id));
    c[1].ints.push_back(static_cast<int64_t>(r.author_id));
    AddString(c[2], RegionName(r.region));
    c[3].ints.push_back(r.minute_ms * 1000);
    for (int i = 0; uint64_t v : {r.views, r.unique_viewers, r.watch_time_ms, r.shares, r.replies})
      c[4 + i++].ints.push_back(static_cast<int64_t>(v));
  }
  return c;
}

EventColumns::EventColumns() : columns_(EventTableSchema().size()) {}

void EventColumns::Add(const Event& e, AppendTimeMs append_time, LogOffset offset) {
  Add(e.event_id, e.type, e.story_id.value, e.author_id.value, e.viewer_id.value, e.region, e.event_time.value,
      e.watch_ms, append_time.value, offset.value);
}

void EventColumns::Add(const EventId& event_id, EventType type, uint64_t story_id, uint64_t author_id,
                       uint64_t viewer_id, Region region, int64_t event_time_ms, uint32_t watch_ms,
                       int64_t append_time_ms, uint64_t offset) {
  columns_[0].bytes.append(reinterpret_cast<const char*>(event_id.bytes.data()), event_id.bytes.size());
  AddString(columns_[1], EventTypeName(type));
  // Ids are unsigned in the schema v1 contract and below 2^63 in practice;
  // Iceberg has no unsigned long, so they are stored as INT64 bit for bit.
  columns_[2].ints.push_back(static_cast<int64_t>(story_id));
  columns_[3].ints.push_back(static_cast<int64_t>(author_id));
  columns_[4].ints.push_back(static_cast<int64_t>(viewer_id));
  AddString(columns_[5], RegionName(region));
  columns_[6].ints.push_back(event_time_ms * 1000);
  columns_[7].ints.push_back(static_cast<int64_t>(watch_ms));
  columns_[8].ints.push_back(append_time_ms * 1000);
  columns_[9].ints.push_back(static_cast<int64_t>(offset));
  ++rows_;
}

void EventColumns::Reserve(size_t rows) {
  const size_t n = rows_ + rows;
  columns_[0].bytes.reserve(n * 16);
  for (int c : {1, 5}) {
    columns_[c].bytes.reserve(n * 8);  // type and region names are short
    columns_[c].ends.reserve(n);
  }
  for (int c : {2, 3, 4, 6, 7, 8, 9}) columns_[c].ints.reserve(n);
}

std::vector<ColumnValues> EventColumns::Take() {
  std::vector<ColumnValues> out = std::move(columns_);
  columns_ = std::vector<ColumnValues>(EventTableSchema().size());
  rows_ = 0;
  return out;
}

void EventColumns::Clear() {
  for (auto& c : columns_) c.Clear();
  rows_ = 0;
}

}  // namespace watershed::lake
