#include "lake/lifecycle.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "core/crash_point.h"
#include "lake/iceberg_commit.h"
#include "lake/iceberg_maintenance.h"
#include "lake/row_set.h"
#include "lake/sorted_merge.h"

namespace watershed::lake {
namespace {

constexpr int64_t kDayMs = 86'400'000;

// 128 bits of FNV-1a (two offset bases) as hex: stable across builds and
// runs, unlike std::hash.
std::string StableHash(const std::vector<std::string>& parts) {
  uint64_t a = 0xcbf29ce484222325ull, b = 0x84222325cbf29ce4ull;
  auto mix = [&](unsigned char c) {
    a = (a ^ c) * 0x100000001b3ull;
    b = (b ^ c) * 0x100000001b3ull;
  };
  for (const std::string& p : parts) {
    for (char c : p) mix(static_cast<unsigned char>(c));
    mix(0);  // separator: {"ab","c"} differs from {"a","bc"}
  }
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(a),
                static_cast<unsigned long long>(b));
  return buf;
}

// Rewrites `files` (of `source`) into `archive`: rows split by the
// archive's partition spec, sorted by its order, one file per partition.
// `day`: the day every file's partition lies in, when the archive is
// partitioned by that day of the source's time field alone; the files,
// sorted as the sink and compaction write them, are then merged into one
// file row group by row group (MergeSortedFiles), else read whole.
Result<std::vector<DataFileInfo>> WriteArchive(FileSystem* fs, const std::vector<DataFileInfo>& files,
                                               const TableMetadata& archive, const std::string& name,
                                               std::optional<int32_t> day) {
  if (day) {
    std::vector<std::string> paths;
    for (const DataFileInfo& f : files) paths.push_back(f.path);
    auto merged = MergeSortedFiles(fs, paths, archive,
                                   JoinPath(JoinPath(archive.location, "data/lifecycle"), name + "-0.parquet"), {day});
    if (merged.ok()) return std::vector<DataFileInfo>{std::move(merged).value()};
    if (merged.status().code() != StatusCode::kFailedPrecondition) return merged.status();
  }
  RowSet rows;
  for (const DataFileInfo& f : files) RETURN_IF_ERROR(rows.AddFile(fs, f.path));
  std::map<std::vector<std::optional<int32_t>>, std::vector<size_t>> by_partition;
  for (size_t r = 0; r < rows.rows(); ++r) {
    std::vector<std::optional<int32_t>> key;
    for (const IcebergPartitionField& p : archive.partition_spec) {
      ASSIGN_OR_RETURN(std::optional<int32_t> v, PartitionValue(rows, r, p));
      key.push_back(v);
    }
    by_partition[key].push_back(r);
  }
  std::vector<DataFileInfo> out;
  std::vector<std::string> written;
  size_t i = 0;
  for (auto& entry : by_partition) {
    rows.Sort(archive.sort_order, &entry.second);
    const std::string path =
        JoinPath(JoinPath(archive.location, "data/lifecycle"), name + "-" + std::to_string(i++) + ".parquet");
    auto d = WriteRows(fs, rows, entry.second, archive, path, entry.first);
    if (!d.ok()) {
      RemoveUnreferencedFiles(fs, written);
      return d.status();
    }
    written.push_back(path);
    out.push_back(std::move(d).value());
  }
  return out;
}

// Whether `archive` is partitioned by the day of `source`'s time partition
// field alone (so a source day is one archive partition).
bool ArchivedByDay(const TableMetadata& source, const TableMetadata& archive) {
  if (archive.partition_spec.size() != 1 || archive.partition_spec[0].transform != "day") return false;
  for (const IcebergPartitionField& f : source.partition_spec)
    if (f.transform == "hour" || f.transform == "day") return f.source_id == archive.partition_spec[0].source_id;
  return false;
}

// The data files `commit_id` added to the table (its snapshot's ADDED entries).
Result<std::vector<std::string>> FilesAddedBy(FileSystem* fs, const TableMetadata& m, const std::string& commit_id) {
  std::vector<std::string> out;
  for (const IcebergSnapshot& s : m.snapshots) {
    auto it = s.summary.find(kCommitIdKey);
    if (it == s.summary.end() || it->second != commit_id) continue;
    ASSIGN_OR_RETURN(std::string bytes, ReadWholeFile(fs, s.manifest_list));
    ASSIGN_OR_RETURN(std::vector<ManifestFileInfo> list, ReadManifestList(bytes));
    for (const ManifestFileInfo& mf : list) {
      if (mf.added_snapshot_id != s.snapshot_id) continue;
      ASSIGN_OR_RETURN(std::vector<ManifestEntry> entries, ReadManifestEntries(fs, mf));
      for (const ManifestEntry& e : entries)
        if (e.status == EntryStatus::kAdded && e.snapshot_id == s.snapshot_id) out.push_back(e.file.path);
    }
  }
  return out;
}

}  // namespace

Result<std::vector<LifecycleBatch>> ApplyLifecycle(FileSystem* fs, const std::string& lake_root, Region region,
                                                   int64_t now_ms, const LifecycleOptions& options) {
  std::vector<LifecycleBatch> batches;
  for (int t = 0; t < kLakeTableCount; ++t) {
    const LakeTableId id = static_cast<LakeTableId>(t);
    if (options.only && *options.only != id) continue;
    const LakeTableSpec& spec = SpecOf(id);
    const std::string location = TableLocation(lake_root, region, id);
    if (!LakeTableExists(fs, location)) continue;  // not created yet
    ASSIGN_OR_RETURN(IcebergTable source, IcebergTable::Load(fs, location));
    const int64_t cutoff = now_ms - KeepDaysOf(id, options.keep_days) * kDayMs;
    ASSIGN_OR_RETURN(std::vector<ManifestEntry> live, ListLiveFiles(fs, source.metadata()));

    if (!spec.archive) {
      LifecycleBatch b{id, std::nullopt, {}, {}, {}, false};
      for (ManifestEntry& e : live) {
        auto range = PartitionTimeRange(source.metadata(), e.file);
        if (range && range->second <= cutoff) b.files.push_back(std::move(e.file));
      }
      if (b.files.empty()) continue;
      std::vector<std::string> paths;
      for (const DataFileInfo& f : b.files) paths.push_back(f.path);
      std::sort(paths.begin(), paths.end());
      b.commit_id = std::string("lifecycle-delete/") + spec.name + "/" + StableHash(paths);
      if (!options.dry_run) {
        auto deleted = RewriteFiles(fs, &source, paths, {}, "delete", b.commit_id);
        if (!deleted.ok()) return deleted.status();
      }
      batches.push_back(std::move(b));
      continue;
    }

    // Whole archive days only: a rerun then sees the same files (no more
    // arrive for a day that has passed keep_days).
    std::map<int64_t, std::vector<DataFileInfo>> by_day;
    for (ManifestEntry& e : live) {
      auto range = PartitionTimeRange(source.metadata(), e.file);
      if (!range) continue;
      const int64_t day = range->first >= 0 ? range->first / kDayMs : (range->first - kDayMs + 1) / kDayMs;
      if ((day + 1) * kDayMs <= cutoff) by_day[day].push_back(std::move(e.file));
    }
    if (by_day.empty()) continue;
    IcebergTable* archive = nullptr;
    std::optional<IcebergTable> archive_table;
    if (!options.dry_run) {
      ASSIGN_OR_RETURN(IcebergTable a,
                       LoadOrCreateLakeTable(fs, TableLocation(lake_root, region, *spec.archive), *spec.archive));
      archive_table.emplace(std::move(a));
      archive = &*archive_table;
    }
    // Runs of at most the archive's target size, in path order (deterministic).
    int64_t target = kDefaultTargetFileSize;
    if (archive) target = TargetFileSize(archive->metadata());
    int64_t total = 0, done = 0;
    for (const auto& day : by_day)
      for (const DataFileInfo& f : day.second) total += f.file_size_in_bytes;
    for (auto& day : by_day) {
      std::vector<DataFileInfo>& files = day.second;
      std::sort(files.begin(), files.end(),
                [](const DataFileInfo& a, const DataFileInfo& b) { return a.path < b.path; });
      std::vector<std::vector<DataFileInfo>> runs(1);
      int64_t run_bytes = 0;
      for (DataFileInfo& f : files) {
        if (!runs.back().empty() && run_bytes + f.file_size_in_bytes > target) {
          runs.emplace_back();
          run_bytes = 0;
        }
        run_bytes += f.file_size_in_bytes;
        runs.back().push_back(std::move(f));
      }
      for (std::vector<DataFileInfo>& run : runs) {
        LifecycleBatch b{id, spec.archive, std::move(run), {}, {}, false};
        std::vector<std::string> paths;
        for (const DataFileInfo& f : b.files) paths.push_back(f.path);
        const std::string hash = StableHash(paths);
        b.commit_id = std::string("lifecycle/") + spec.name + "/" + hash;
        const std::string undo_id = std::string("lifecycle-undo/") + spec.name + "/" + hash;
        if (!options.dry_run) {
          if (HasCommitId(archive->metadata(), undo_id))
            return Status::FailedPrecondition("lifecycle batch " + b.commit_id +
                                              " was archived and undone before; not archiving it again");
          b.archive_already_committed = HasCommitId(archive->metadata(), b.commit_id);
          if (!b.archive_already_committed) {
            ASSIGN_OR_RETURN(b.archived, WriteArchive(fs, b.files, archive->metadata(), hash,
                                                      ArchivedByDay(source.metadata(), archive->metadata())
                                                          ? std::optional<int32_t>(static_cast<int32_t>(day.first))
                                                          : std::nullopt));
            auto appended = AppendFiles(fs, archive, b.archived, b.commit_id);
            std::vector<std::string> written;
            for (const DataFileInfo& f : b.archived) written.push_back(f.path);
            if (!appended.ok()) {
              RemoveUnreferencedFiles(fs, written);
              return appended.status();
            }
            if (!*appended) {  // landed meanwhile (another run): ours are duplicates
              RemoveUnreferencedFiles(fs, written);
              b.archived.clear();
              b.archive_already_committed = true;
            }
          }
          CrashPoint("lake.lifecycle.after_archive_commit");
          if (options.after_archive_commit) RETURN_IF_ERROR(options.after_archive_commit());
          auto deleted =
              RewriteFiles(fs, &source, paths, {}, "delete", "lifecycle-delete/" + std::string(spec.name) + "/" + hash);
          if (!deleted.ok()) {
            if (deleted.status().code() != StatusCode::kFailedPrecondition) return deleted.status();
            // Some source files were replaced meanwhile (a compaction): their
            // rows live on in other files, so the archive copy would become a
            // duplicate. Take it back; a later run archives the new files.
            ASSIGN_OR_RETURN(std::vector<std::string> added, FilesAddedBy(fs, archive->metadata(), b.commit_id));
            auto undone = RewriteFiles(fs, archive, added, {}, "delete", undo_id);
            if (!undone.ok())
              return Status(undone.status().code(),
                            deleted.status().message() +
                                "; taking back the archive commit failed too: " + undone.status().message());
            return deleted.status();
          }
        }
        for (const DataFileInfo& f : b.files) done += f.file_size_in_bytes;
        if (options.progress) options.progress(done, total);
        batches.push_back(std::move(b));
      }
    }
  }
  return batches;
}

}  // namespace watershed::lake
