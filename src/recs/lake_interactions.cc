#include "recs/lake_interactions.h"

#include <algorithm>
#include <map>
#include <tuple>
#include <utility>

#include "lake/iceberg_commit.h"
#include "lake/iceberg_metadata.h"
#include "lake/parquet.h"
#include "lake/tables.h"

namespace watershed::recs {
namespace {

// Rounds toward minus infinity (events before 1970 stay ordered).
int64_t FloorDiv(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

// The rows of one data file; `expected` is its manifest's record count.
Status ReadDataFile(FileSystem* fs, const std::string& path, int64_t expected, std::vector<EngagementEvent>* out) {
  ASSIGN_OR_RETURN(std::unique_ptr<lake::ParquetReader> reader, lake::ParquetReader::Open(fs, path));
  const std::vector<int> columns = {reader->ColumnIndex("viewer_id"), reader->ColumnIndex("story_id"),
                                    reader->ColumnIndex("type"), reader->ColumnIndex("watch_ms"),
                                    reader->ColumnIndex("event_time")};
  if (std::find(columns.begin(), columns.end(), -1) != columns.end())
    return Status::Corruption(path + ": not an events file (viewer_id, story_id, type, watch_ms, event_time)");
  const std::vector<lake::ColumnSpec>& schema = reader->info().schema;
  for (int c : columns)
    if (schema[static_cast<size_t>(c)].optional)
      return Status::Corruption(path + ": column " + schema[static_cast<size_t>(c)].name + " is optional");
  int64_t rows = 0;
  for (size_t g = 0; g < reader->info().row_groups.size(); ++g) {
    ASSIGN_OR_RETURN(std::vector<lake::ColumnValues> v, reader->ReadRowGroup(g, columns));  // errors name the file
    const size_t n = v[0].ints.size();
    if (v[1].ints.size() != n || v[2].ends.size() != n || v[3].ints.size() != n || v[4].ints.size() != n)
      return Status::Corruption(path + ": row group " + std::to_string(g) + " has columns of different lengths");
    const lake::ColumnSpec& type_spec = schema[static_cast<size_t>(columns[2])];
    for (size_t i = 0; i < n; ++i) {
      const auto type = ParseEventType(v[2].ByteValue(type_spec, i));
      if (!type)
        return Status::Corruption(path + ": unknown event type '" + std::string(v[2].ByteValue(type_spec, i)) + "'");
      if (v[3].ints[i] < 0 || v[3].ints[i] > UINT32_MAX)
        return Status::Corruption(path + ": watch_ms " + std::to_string(v[3].ints[i]) + " out of range");
      out->push_back({static_cast<uint64_t>(v[0].ints[i]), static_cast<uint64_t>(v[1].ints[i]), *type,
                      static_cast<uint32_t>(v[3].ints[i]), FloorDiv(v[4].ints[i], 1000)});  // micros -> ms
    }
    rows += static_cast<int64_t>(n);
  }
  if (rows != expected)
    return Status::Corruption(path + ": " + std::to_string(rows) + " rows, the manifest says " +
                              std::to_string(expected));
  return Status::Ok();
}

}  // namespace

Result<LakeEvents> ReadEngagementEvents(FileSystem* fs, const std::string& location,
                                        std::optional<int64_t> snapshot_id) {
  if (!lake::LakeTableExists(fs, location)) return Status::NotFound("no Iceberg table at " + location);
  ASSIGN_OR_RETURN(lake::IcebergTable table, lake::IcebergTable::Load(fs, location));
  // ListLiveFiles reads the current snapshot's files: time travel points a copy of the metadata at the older one.
  lake::TableMetadata at = table.metadata();
  if (snapshot_id) {
    const bool known = std::any_of(at.snapshots.begin(), at.snapshots.end(),
                                   [&](const lake::IcebergSnapshot& s) { return s.snapshot_id == *snapshot_id; });
    if (!known) {
      std::string ids;  // the latest ten
      const size_t from = at.snapshots.size() > 10 ? at.snapshots.size() - 10 : 0;
      for (size_t i = from; i < at.snapshots.size(); ++i)
        ids += (ids.empty() ? "" : ", ") + std::to_string(at.snapshots[i].snapshot_id);
      if (from > 0) ids = "... " + ids;
      return Status::NotFound("no snapshot " + std::to_string(*snapshot_id) + " in " + location + " (it has " +
                              (ids.empty() ? std::string("none") : ids) + ")");
    }
    at.current_snapshot_id = snapshot_id;
  }
  LakeEvents out;
  out.snapshot_id = at.current_snapshot_id.value_or(0);
  ASSIGN_OR_RETURN(std::vector<lake::ManifestEntry> files, lake::ListLiveFiles(fs, at));
  int64_t total = 0;
  for (const lake::ManifestEntry& e : files) total += e.file.record_count;
  out.events.reserve(static_cast<size_t>(std::clamp<int64_t>(total, 0, 1 << 24)));  // the manifests' word, bounded
  for (const lake::ManifestEntry& e : files)
    RETURN_IF_ERROR(ReadDataFile(fs, e.file.path, e.file.record_count, &out.events));
  out.files = files.size();
  return out;
}

float EngagementWeight(EventType type, uint32_t watch_ms, const EngagementOptions& options) {
  switch (type) {
    case EventType::kView:
      return watch_ms >= options.min_watch_ms ? options.view_weight : 0;
    case EventType::kShare:
      return options.share_weight;
    case EventType::kReply:
      return options.reply_weight;
  }
  return 0;
}

void AddEngagements(std::vector<EngagementEvent> events, const EngagementOptions& options, Dataset* out) {
  std::sort(events.begin(), events.end(), [](const EngagementEvent& a, const EngagementEvent& b) {
    return std::tie(a.event_time_ms, a.viewer, a.story, a.type, a.watch_ms) <
           std::tie(b.event_time_ms, b.viewer, b.story, b.type, b.watch_ms);
  });
  std::map<std::pair<uint64_t, uint64_t>, size_t> pairs;  // (viewer, story) -> its interaction
  for (const EngagementEvent& e : events) {
    const float weight = EngagementWeight(e.type, e.watch_ms, options);
    if (weight <= 0) {
      ++out->below_threshold;
      continue;
    }
    auto [it, first] = pairs.try_emplace({e.viewer, e.story}, out->interactions.size());
    if (!first) {
      float& w = out->interactions[it->second].weight;
      w = std::max(w, weight);
      continue;
    }
    Interaction x;
    x.user = out->users.Intern(std::to_string(e.viewer));
    x.item = out->items.Intern(std::to_string(e.story));
    x.weight = weight;
    x.timestamp = FloorDiv(e.event_time_ms, 1000);
    out->interactions.push_back(x);
  }
  out->features.resize(out->items.size());
}

}  // namespace watershed::recs
