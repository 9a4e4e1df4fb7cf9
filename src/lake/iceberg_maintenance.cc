#include "lake/iceberg_maintenance.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <numeric>
#include <set>

#include "core/random.h"
#include "lake/file_keys.h"
#include "lake/row_set.h"
#include "lake/sorted_merge.h"

namespace watershed::lake {
namespace {

constexpr int64_t kHourMs = 3'600'000;
constexpr int64_t kDayMs = 24 * kHourMs;

// ---- Snapshot references --------------------------------------------------

// Files a set of snapshots reaches. Manifests are read once per call.
struct References {
  std::set<std::string> lists, manifests, data;
};

// Adds what `snap` references. live_only: data files of DELETED entries
// are not counted. missing_ok: an unreadable manifest list (removed by an
// earlier, interrupted expiry) counts as empty.
Status AddReferences(FileSystem* fs, const IcebergSnapshot& snap, bool live_only, bool missing_ok, References* refs,
                     std::set<std::string>* manifests_seen) {
  refs->lists.insert(snap.manifest_list);
  auto bytes = ReadWholeFile(fs, snap.manifest_list);
  if (!bytes.ok()) {
    if (missing_ok) return Status::Ok();
    return Status(bytes.status().code(),
                  "snapshot " + std::to_string(snap.snapshot_id) + ": " + bytes.status().message());
  }
  auto list = ReadManifestList(*bytes);
  if (!list.ok()) {
    if (missing_ok) return Status::Ok();
    return Status(list.status().code(), snap.manifest_list + ": " + list.status().message());
  }
  for (const ManifestFileInfo& mf : *list) {
    refs->manifests.insert(mf.path);
    if (!manifests_seen->insert(mf.path).second) continue;
    auto entries = ReadManifestEntries(fs, mf);
    if (!entries.ok()) {
      if (missing_ok) continue;
      return entries.status();
    }
    for (const ManifestEntry& e : *entries)
      if (!live_only || e.live()) refs->data.insert(e.file.path);
  }
  return Status::Ok();
}

// The files only `expired` snapshots reach: not listed (live) by any of `kept`.
Result<std::vector<std::string>> FilesOnlyReachedBy(FileSystem* fs, const std::vector<IcebergSnapshot>& expired,
                                                    const std::vector<IcebergSnapshot>& kept) {
  References keep, gone;
  std::set<std::string> seen_keep, seen_gone;
  for (const IcebergSnapshot& s : kept) RETURN_IF_ERROR(AddReferences(fs, s, true, false, &keep, &seen_keep));
  for (const IcebergSnapshot& s : expired) RETURN_IF_ERROR(AddReferences(fs, s, false, true, &gone, &seen_gone));
  std::vector<std::string> out;
  // Data files first, then manifests, then lists: an interrupted run leaves
  // the lists that still lead to what remains.
  for (const std::string& d : gone.data)
    if (!keep.data.count(d)) out.push_back(d);
  for (const std::string& m : gone.manifests)
    if (!keep.manifests.count(m)) out.push_back(m);
  for (const std::string& l : gone.lists)
    if (!keep.lists.count(l)) out.push_back(l);
  return out;
}

// The rows of `inputs` sorted in memory and written to `path`: for groups
// MergeSortedFiles refuses (an input not sorted by the table's order).
// Memory: every row of the group.
Result<DataFileInfo> SortInMemory(FileSystem* fs, const std::vector<std::string>& inputs, const TableMetadata& m,
                                  const std::string& path, std::vector<std::optional<int32_t>> partition) {
  RowSet rows;
  for (const std::string& input : inputs) RETURN_IF_ERROR(rows.AddFile(fs, input));
  std::vector<size_t> order(rows.rows());
  std::iota(order.begin(), order.end(), 0);
  rows.Sort(m.sort_order, &order);
  return WriteRows(fs, rows, order, m, path, std::move(partition));
}

}  // namespace

Result<std::set<std::string>> ListReferencedFiles(FileSystem* fs, const TableMetadata& metadata) {
  References refs;
  std::set<std::string> seen;
  for (const IcebergSnapshot& s : metadata.snapshots) RETURN_IF_ERROR(AddReferences(fs, s, false, false, &refs, &seen));
  return std::move(refs.data);
}

// ---- Compaction -------------------------------------------------------------

std::optional<std::pair<int64_t, int64_t>> PartitionTimeRange(const TableMetadata& m, const DataFileInfo& f) {
  for (size_t p = 0; p < m.partition_spec.size() && p < f.partition.size(); ++p) {
    const std::string& t = m.partition_spec[p].transform;
    const int64_t unit = t == "hour" ? kHourMs : t == "day" ? kDayMs : 0;
    if (unit == 0) continue;
    if (!f.partition[p]) return std::nullopt;
    const int64_t start = static_cast<int64_t>(*f.partition[p]) * unit;
    return std::make_pair(start, start + unit);
  }
  return std::nullopt;
}

int64_t CompactionHorizonMs(LakeTableId id, int64_t now_ms, const KeepDays& keep_days) {
  return now_ms - (KeepDaysOf(id, keep_days) - 1) * kDayMs;
}

// In the path of every file a compaction wrote (<location>/data/compacted/).
constexpr std::string_view kCompactedDir = "/data/compacted/";

Result<CompactionResult> CompactTable(FileSystem* fs, IcebergTable* table, const CompactionOptions& options) {
  const TableMetadata& m = table->metadata();
  const int64_t target = options.target_file_size_bytes.value_or(TargetFileSize(m));
  ASSIGN_OR_RETURN(std::vector<ManifestEntry> live, ListLiveFiles(fs, m));

  // Files of time ranges ending after this are left alone.
  std::optional<int64_t> open_after = options.skip_ending_after_ms;
  if (options.skip_newest_time_range) {
    std::optional<int64_t> newest_start;
    for (const ManifestEntry& e : live)
      if (auto range = PartitionTimeRange(m, e.file))
        newest_start = std::max(newest_start.value_or(range->first), range->first);
    if (newest_start) open_after = std::min(open_after.value_or(*newest_start), *newest_start);
  }
  std::map<std::vector<std::optional<int32_t>>, std::vector<DataFileInfo>> by_partition;
  for (ManifestEntry& e : live) {
    if (e.file.file_size_in_bytes >= target) continue;
    if (options.skip_compacted && e.file.path.find(kCompactedDir) != std::string::npos) continue;
    if (auto range = PartitionTimeRange(m, e.file)) {
      if (options.skip_ended_before_ms && range->second <= *options.skip_ended_before_ms) continue;
      if (open_after && range->second > *open_after) continue;
    }
    by_partition[e.file.partition].push_back(std::move(e.file));
  }
  live = {};  // the rest is not needed: hold the inputs only (~2 KB per file)

  CompactionResult result;
  for (auto& entry : by_partition) {
    std::vector<DataFileInfo>& files = entry.second;
    if (files.size() < std::max<size_t>(options.min_files, 2)) continue;
    std::sort(files.begin(), files.end(), [](const DataFileInfo& a, const DataFileInfo& b) {
      return a.file_size_in_bytes != b.file_size_in_bytes ? a.file_size_in_bytes > b.file_size_in_bytes
                                                          : a.path < b.path;
    });
    std::vector<CompactionGroup> bins;
    for (DataFileInfo& f : files) {
      auto fit = std::find_if(bins.begin(), bins.end(),
                              [&](const CompactionGroup& g) { return g.input_bytes + f.file_size_in_bytes <= target; });
      if (fit == bins.end()) {
        bins.emplace_back();
        bins.back().partition = entry.first;
        fit = bins.end() - 1;
      }
      fit->input_bytes += f.file_size_in_bytes;
      fit->input_rows += f.record_count;
      fit->inputs.push_back(std::move(f));
    }
    for (CompactionGroup& g : bins)
      if (g.inputs.size() >= 2) result.groups.push_back(std::move(g));
  }
  if (options.dry_run || result.groups.empty()) return result;

  int64_t total = 0, done = 0;
  for (const CompactionGroup& g : result.groups) total += g.input_bytes;
  const std::string run = RandomHex(8);
  std::vector<std::string> outputs, inputs;
  std::vector<DataFileInfo> added;
  auto fail = [&](Status s) {
    RemoveUnreferencedFiles(fs, outputs);
    return s;
  };
  for (size_t i = 0; i < result.groups.size(); ++i) {
    CompactionGroup& g = result.groups[i];
    const std::string path =
        JoinPath(JoinPath(m.location, "data/compacted"), run + "-" + std::to_string(i) + ".parquet");
    outputs.push_back(path);
    std::vector<std::string> paths;
    for (const DataFileInfo& f : g.inputs) paths.push_back(f.path);
    auto written = MergeSortedFiles(fs, paths, m, path, g.partition);
    if (!written.ok() && written.status().code() == StatusCode::kFailedPrecondition) {
      // An input not sorted by the table's order (not one this lake wrote):
      // the group is sorted in memory instead.
      written = SortInMemory(fs, paths, m, path, g.partition);
    }
    done += g.input_bytes;
    if (options.progress) options.progress(done, total);
    if (!written.ok()) {
      // A damaged or missing file: its group stays as it is (the error names
      // the file); the other groups are still compacted.
      const StatusCode code = written.status().code();
      if (code != StatusCode::kCorruption && code != StatusCode::kIoError) return fail(written.status());
      g.error = written.status().ToString();
      continue;
    }
    inputs.insert(inputs.end(), paths.begin(), paths.end());
    g.output = *written;
    added.push_back(std::move(written).value());
  }
  if (added.empty()) return result;  // every group had an unreadable file
  auto committed = RewriteFiles(fs, table, inputs, added, "replace", "compact/" + run);
  if (!committed.ok()) return fail(committed.status());
  result.committed = *committed;
  return result;
}

// ---- Snapshot expiry --------------------------------------------------------

namespace {

std::string Normal(const std::string& path) {
  std::string n = std::filesystem::path(path).lexically_normal().string();
  while (n.size() > 1 && n.back() == '/') n.pop_back();
  return n;
}

// Whether `path` lies strictly under the table's directory (after resolving
// "." and ".." lexically).
bool InsideTable(const std::string& location, const std::string& path) {
  return Normal(path).starts_with(Normal(location) + "/");
}

// Paths come from manifests, which anyone who can write the table's
// metadata controls: only regular files inside the table may be deleted;
// the others move to result->refused_files.
void RefuseForeignFiles(FileSystem* fs, const std::string& location, ExpireResult* result) {
  std::vector<std::string> ours;
  for (std::string& p : result->deleted_files)
    (InsideTable(location, p) && !fs->IsSymlink(p) ? ours : result->refused_files).push_back(std::move(p));
  result->deleted_files = std::move(ours);
}

}  // namespace

Result<ExpireResult> ExpireSnapshots(FileSystem* fs, IcebergTable* table, const ExpireOptions& options) {
  const TableMetadata& m = table->metadata();
  std::vector<const IcebergSnapshot*> newest_first;
  for (const IcebergSnapshot& s : m.snapshots) newest_first.push_back(&s);
  std::sort(newest_first.begin(), newest_first.end(),
            [](const IcebergSnapshot* a, const IcebergSnapshot* b) { return a->sequence_number > b->sequence_number; });
  std::set<int64_t> expired;
  for (size_t i = 0; i < newest_first.size(); ++i) {
    const IcebergSnapshot& s = *newest_first[i];
    if (!options.snapshot_ids && static_cast<int64_t>(i) < std::max(options.retain_last, 1)) continue;
    if (m.current_snapshot_id && s.snapshot_id == *m.current_snapshot_id) continue;
    if (options.snapshot_ids) {
      if (options.snapshot_ids->count(s.snapshot_id)) expired.insert(s.snapshot_id);
      continue;
    }
    if (s.timestamp_ms >= options.older_than_ms) continue;
    expired.insert(s.snapshot_id);
  }
  ExpireResult result;
  if (expired.empty()) return result;

  auto split = [&](const TableMetadata& md, std::vector<IcebergSnapshot>* gone, std::vector<IcebergSnapshot>* kept) {
    for (const IcebergSnapshot& s : md.snapshots) (expired.count(s.snapshot_id) ? gone : kept)->push_back(s);
  };
  if (options.dry_run) {
    std::vector<IcebergSnapshot> gone, kept;
    split(m, &gone, &kept);
    for (const IcebergSnapshot& s : gone) result.expired_snapshot_ids.push_back(s.snapshot_id);
    ASSIGN_OR_RETURN(result.deleted_files, FilesOnlyReachedBy(fs, gone, kept));
    RefuseForeignFiles(fs, m.location, &result);
    return result;
  }

  std::vector<IcebergSnapshot> gone;
  RETURN_IF_ERROR(table->Commit([&](TableMetadata& md) -> Status {
    gone.clear();
    std::vector<IcebergSnapshot> kept;
    for (IcebergSnapshot& s : md.snapshots) {
      const bool current = md.current_snapshot_id && *md.current_snapshot_id == s.snapshot_id;
      (expired.count(s.snapshot_id) && !current ? gone : kept).push_back(std::move(s));
    }
    md.snapshots = std::move(kept);
    // The log must stay a history without gaps: keep what follows the last
    // entry of a dropped snapshot.
    std::set<int64_t> remaining;
    for (const IcebergSnapshot& s : md.snapshots) remaining.insert(s.snapshot_id);
    auto last_gone = std::find_if(md.snapshot_log.rbegin(), md.snapshot_log.rend(),
                                  [&](const std::pair<int64_t, int64_t>& e) { return !remaining.count(e.second); });
    md.snapshot_log.erase(md.snapshot_log.begin(), last_gone.base());
    return Status::Ok();
  }));
  for (const IcebergSnapshot& s : gone) result.expired_snapshot_ids.push_back(s.snapshot_id);
  // What the published metadata keeps (including commits that raced ours).
  ASSIGN_OR_RETURN(result.deleted_files, FilesOnlyReachedBy(fs, gone, table->metadata().snapshots));
  RefuseForeignFiles(fs, table->metadata().location, &result);
  // With a data file's key sidecar; one already gone (an earlier,
  // interrupted run) is no error.
  for (const std::string& p : result.deleted_files) RETURN_IF_ERROR(RemoveLakeFile(fs, p));
  return result;
}

// ---- Orphan files -----------------------------------------------------------

Status ListRecursively(FileSystem* fs, const std::string& dir, std::vector<std::string>* out) {
  auto names = fs->ListDir(dir);
  if (!names.ok()) return fs->FileExists(dir) ? names.status() : Status::Ok();
  for (const std::string& name : *names) {
    const std::string path = JoinPath(dir, name);
    if (fs->IsSymlink(path)) continue;
    if (fs->ListDir(path).ok()) {
      RETURN_IF_ERROR(ListRecursively(fs, path, out));
    } else {
      out->push_back(path);
    }
  }
  return Status::Ok();
}

Result<std::vector<std::string>> RemoveOrphanFiles(FileSystem* fs, const std::string& table_location,
                                                   const OrphanOptions& options) {
  ASSIGN_OR_RETURN(IcebergTable table, IcebergTable::Load(fs, table_location));
  const TableMetadata& m = table.metadata();
  if (Normal(m.location) != Normal(table_location))
    return Status::FailedPrecondition("table metadata under " + table_location + " names location " + m.location +
                                      ": its file paths would not match the listing");
  References refs;
  std::set<std::string> seen;
  for (const IcebergSnapshot& s : m.snapshots) RETURN_IF_ERROR(AddReferences(fs, s, false, false, &refs, &seen));
  std::set<std::string> keep;
  for (const auto* set : {&refs.lists, &refs.manifests, &refs.data})
    for (const std::string& p : *set) keep.insert(Normal(p));
  for (const std::string& p : refs.data) keep.insert(Normal(SidecarPath(p)));  // an encrypted file's key
  keep.insert(Normal(table.MetadataPath(table.version())));
  for (const auto& entry : m.metadata_log) keep.insert(Normal(entry.second));
  keep.insert(Normal(JoinPath(JoinPath(table_location, "metadata"), "version-hint.text")));

  std::vector<std::string> listed;
  RETURN_IF_ERROR(ListRecursively(fs, JoinPath(table_location, "data"), &listed));
  RETURN_IF_ERROR(ListRecursively(fs, JoinPath(table_location, "metadata"), &listed));
  std::set<std::string> listed_normal;
  for (const std::string& p : listed) listed_normal.insert(Normal(p));
  // A listing that misses the current snapshot's own files means paths and
  // directory disagree: every file would look orphaned.
  ASSIGN_OR_RETURN(std::vector<ManifestEntry> live, ListLiveFiles(fs, m));
  for (const ManifestEntry& e : live)
    if (!listed_normal.count(Normal(e.file.path)))
      return Status::FailedPrecondition("live data file " + e.file.path + " is not under " + table_location +
                                        "; refusing to remove orphans");

  std::vector<std::string> orphans;
  for (const std::string& p : listed) {
    const std::string n = Normal(p);
    if (keep.count(n)) continue;
    // The lake sink's own directories: an unreferenced file there belongs to
    // a commit a checkpoint prepared (a partition down for days must still
    // find it) or is a crash leftover its recovery removes (lake_sink.h).
    if (n.find("/data/sink-p") != std::string::npos) continue;
    const std::string name = n.substr(n.find_last_of('/') + 1);
    // A newer metadata version (a commit after our load) is the table's.
    if (name.starts_with("v") && name.ends_with(".metadata.json")) {
      int64_t v = 0;
      const std::string_view digits(name.data() + 1, name.size() - 1 - std::string_view(".metadata.json").size());
      auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
      if (ec == std::errc() && end == digits.data() + digits.size() && v >= table.version()) continue;
    }
    auto mtime = fs->ModifiedTimeMs(p);
    if (!mtime.ok()) continue;  // gone meanwhile
    if (*mtime >= options.older_than_ms) continue;
    orphans.push_back(p);
  }
  std::sort(orphans.begin(), orphans.end());
  if (!options.dry_run)
    for (const std::string& p : orphans)
      if (fs->FileExists(p)) RETURN_IF_ERROR(fs->RemoveFile(p));
  return orphans;
}

Result<CompactionResult> CompactIfNeeded(FileSystem* fs, IcebergTable* table, CompactionOptions options,
                                         int64_t* checked_sequence) {
  const TableMetadata& m = table->metadata();
  int64_t added = 0;
  for (const IcebergSnapshot& snap : m.snapshots) {
    if (snap.sequence_number <= *checked_sequence) continue;
    auto it = snap.summary.find("added-data-files");
    if (it != snap.summary.end()) added += std::strtoll(it->second.c_str(), nullptr, 10);
  }
  const int64_t last = m.last_sequence_number;
  if (added < static_cast<int64_t>(options.min_files)) return CompactionResult{};
  options.skip_compacted = true;
  ASSIGN_OR_RETURN(CompactionResult r, CompactTable(fs, table, options));
  // Its own replace snapshot adds files too: they are not new small ones.
  *checked_sequence = std::max(last, table->metadata().last_sequence_number);
  return r;
}

namespace {

// Adds a compaction's groups to `report`; the first unreadable input as an error.
Status CountCompaction(const CompactionResult& r, MaintenanceReport* report) {
  Status unreadable;  // reported after the other groups landed
  for (const CompactionGroup& g : r.groups) {
    if (!g.error.empty()) {
      if (unreadable.ok()) unreadable = Status::Corruption(g.error);
      continue;
    }
    report->compacted_files += static_cast<int64_t>(g.inputs.size());
    ++report->compaction_outputs;
  }
  return unreadable;
}

}  // namespace

Result<MaintenanceReport> CompactRegionIfNeeded(FileSystem* fs, const std::string& lake_root, Region region,
                                                int64_t now_ms, const MaintenanceSchedule& schedule, size_t min_files,
                                                std::map<LakeTableId, int64_t>* checked) {
  MaintenanceReport report;
  Status first;
  for (int t = 0; t < kLakeTableCount; ++t) {
    const auto id = static_cast<LakeTableId>(t);
    const std::string location = TableLocation(lake_root, region, id);
    if (!LakeTableExists(fs, location)) continue;
    auto table = IcebergTable::Load(fs, location);
    Status s = table.ok() ? Status::Ok() : table.status();
    if (table.ok()) {
      CompactionOptions c;
      c.skip_ended_before_ms = CompactionHorizonMs(id, now_ms, schedule.keep_days[static_cast<int>(region)]);
      c.target_file_size_bytes = schedule.target_file_size_bytes;
      c.min_files = min_files;
      auto r = CompactIfNeeded(fs, &*table, c, &(*checked)[id]);
      s = r.ok() ? CountCompaction(*r, &report) : r.status();
    }
    if (!s.ok() && first.ok()) first = Status(s.code(), location + ": " + s.message());
  }
  if (!first.ok()) return first;
  return report;
}

Result<MaintenanceReport> RunMaintenanceRound(FileSystem* fs, const std::string& lake_root, Region region,
                                              int64_t now_ms, const MaintenanceSchedule& schedule) {
  MaintenanceReport report;
  Status first;
  auto note = [&](const Status& s, const std::string& what) {
    if (!s.ok() && first.ok()) first = Status(s.code(), what + ": " + s.message());
  };
  auto each_table = [&](const std::function<Status(LakeTableId, IcebergTable&)>& fn) {
    for (int t = 0; t < kLakeTableCount; ++t) {
      const auto id = static_cast<LakeTableId>(t);
      const std::string location = TableLocation(lake_root, region, id);
      if (!LakeTableExists(fs, location)) continue;
      auto table = IcebergTable::Load(fs, location);
      note(table.ok() ? fn(id, *table) : table.status(), location);
    }
  };
  each_table([&](LakeTableId id, IcebergTable& table) -> Status {
    CompactionOptions c;
    c.skip_ended_before_ms = CompactionHorizonMs(id, now_ms, schedule.keep_days[static_cast<int>(region)]);
    c.skip_ending_after_ms = now_ms;
    c.skip_newest_time_range = true;
    c.target_file_size_bytes = schedule.target_file_size_bytes;
    ASSIGN_OR_RETURN(CompactionResult r, CompactTable(fs, &table, c));
    return CountCompaction(r, &report);
  });
  LifecycleOptions lifecycle;
  lifecycle.keep_days = schedule.keep_days[static_cast<int>(region)];
  auto batches = ApplyLifecycle(fs, lake_root, region, now_ms, lifecycle);
  if (batches.ok()) {
    report.lifecycle_batches = static_cast<int64_t>(batches->size());
  } else {
    note(batches.status(), std::string(RegionName(region)) + " lifecycle");
  }
  each_table([&](LakeTableId, IcebergTable& table) -> Status {
    ASSIGN_OR_RETURN(ExpireResult r, ExpireSnapshots(fs, &table,
                                                     {now_ms - schedule.snapshot_retention_ms, schedule.retain_last,
                                                      false, std::nullopt}));
    report.expired_snapshots += static_cast<int64_t>(r.expired_snapshot_ids.size());
    report.deleted_files += static_cast<int64_t>(r.deleted_files.size());
    ASSIGN_OR_RETURN(std::vector<std::string> orphans,
                     RemoveOrphanFiles(fs, table.metadata().location, {now_ms - schedule.orphan_age_ms, false}));
    report.removed_orphans += static_cast<int64_t>(orphans.size());
    return Status::Ok();
  });
  if (!first.ok()) return first;
  return report;
}

}  // namespace watershed::lake
