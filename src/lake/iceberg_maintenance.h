#pragma once
// Maintenance of the lake's Iceberg v2 tables (issue #5 "Maintenance"):
//
//   CompactTable       small data files of one partition rewritten into
//                      fewer, sorted ones ("replace" snapshot)
//   ExpireSnapshots    old snapshots dropped from the metadata; the files
//                      only they reached deleted
//   RemoveOrphanFiles  files under data/ and metadata/ that no snapshot or
//                      metadata file references (crash leftovers) deleted
//   ApplyLifecycle     data past its zone's keep_days moved into the
//                      archive table (or deleted); lifecycle.h
//
// The commits are iceberg_commit.h's; the rows compaction and the
// lifecycle rewrite are row_set.h's.
//
// Every operation has a dry run that returns what it would do and changes
// nothing. Commits go through IcebergTable::Commit (optimistic): a
// concurrent commit (the lake sink appending) makes the operation re-apply
// its change to the new metadata; a file it means to remove that is no
// longer live (another maintenance run removed it) ends it with
// kFailedPrecondition and nothing committed.
//
// Data files leave the disk only through ExpireSnapshots (and
// RemoveOrphanFiles for files no snapshot ever referenced): a compaction or
// lifecycle commit keeps the replaced files readable for the snapshots
// that still list them (time travel, readers mid-scan).
//
// Not thread-safe per IcebergTable object; separate processes may run
// maintenance and appends on the same table at once.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/event.h"
#include "core/file_system.h"
#include "core/status.h"
#include "lake/iceberg_commit.h"
#include "lake/iceberg_manifest.h"
#include "lake/iceberg_metadata.h"
#include "lake/lifecycle.h"
#include "lake/tables.h"

namespace watershed::lake {

// Every data file some snapshot of the table lists (live or not): the
// files a reader of any retained snapshot may open.
Result<std::set<std::string>> ListReferencedFiles(FileSystem* fs, const TableMetadata& metadata);

struct CompactionOptions {
  std::optional<int64_t> target_file_size_bytes;  // overrides the table property
  // Partitions whose time range ended at or before this are left alone:
  // they belong to the lifecycle, and a compaction between a lifecycle's
  // crash and its rerun would change the rerun's batch (CompactionHorizonMs).
  std::optional<int64_t> skip_ended_before_ms;
  // Open partitions are left alone too: those whose time range ends after
  // skip_ending_after_ms (the wall clock's hour or day) and, with
  // skip_newest_time_range, those of the newest time range any live file
  // holds (the data's own clock: a backfill or a lagging producer writes an
  // hour that ended by the wall clock). Rounds set both, so an open hour's
  // growing compacted file is not rewritten every round (compaction by need
  // merges its new files meanwhile); the hour is compacted once when done.
  std::optional<int64_t> skip_ending_after_ms;
  bool skip_newest_time_range = false;
  // A partition is compacted only when it holds at least this many files
  // below the target (2: any two that fit together).
  size_t min_files = 2;
  // Leave out files an earlier compaction wrote (data/compacted/): compaction
  // by need merges only new small files, so a row is rewritten once between
  // rounds, not once per check as its partition's compacted file grows.
  bool skip_compacted = false;
  bool dry_run = false;
  ProgressFn progress;
};

struct CompactionGroup {
  std::vector<std::optional<int32_t>> partition;
  std::vector<DataFileInfo> inputs;
  int64_t input_bytes = 0, input_rows = 0;
  std::optional<DataFileInfo> output;  // set when written (not in a dry run)
  std::string error;                   // an input could not be read (it names the file): the group was left as it is
};

struct CompactionResult {
  std::vector<CompactionGroup> groups;  // the plan; empty: nothing to do
  bool committed = false;
};

// Per partition tuple, live files smaller than the target are bin-packed
// (first-fit decreasing by size) into groups of at least two files whose
// sizes sum to at most the target. Each group's files, sorted by the
// table's sort order as the sink and compaction write them, are merged
// (MergeSortedFiles) into one Parquet file under <location>/data/compacted/
// (RewriteOptions); a group with an input not sorted so is sorted in memory
// instead. All groups are committed as ONE "replace" snapshot. A failed or
// lost commit removes the files it wrote. A group with a damaged or missing
// input is left as it is (CompactionGroup::error names the file) and the
// others are compacted.
// Memory: one row group of each input of a group and the output's row group
// (kRewrittenRowGroupBytes); a group sorted in memory: all its rows.
Result<CompactionResult> CompactTable(FileSystem* fs, IcebergTable* table, const CompactionOptions& options);

// Compaction by need, between maintenance rounds: when the table's
// snapshots with a sequence number above `*checked_sequence` added at least
// `min_files` data files, CompactTable with options.min_files = min_files
// and skip_compacted (only partitions holding that many new small files are
// rewritten); `*checked_sequence` then moves to the table's last sequence
// number, so the same files do not trigger twice. Reads only the metadata
// when nothing is due (no manifest); returns an empty result then.
Result<CompactionResult> CompactIfNeeded(FileSystem* fs, IcebergTable* table, CompactionOptions options,
                                         int64_t* checked_sequence);

// [start, end) in ms of a file's time partition (the table's first hour or
// day field); nullopt without one, or for a null value.
std::optional<std::pair<int64_t, int64_t>> PartitionTimeRange(const TableMetadata& m, const DataFileInfo& f);

// The skip_ended_before_ms for a lake table: a day before its data becomes
// the lifecycle's (KeepDaysOf), so no compaction races a lifecycle run.
int64_t CompactionHorizonMs(LakeTableId id, int64_t now_ms, const KeepDays& keep_days);

struct ExpireOptions {
  int64_t older_than_ms = 0;  // snapshots with timestamp-ms below it may go
  int retain_last = 1;        // the newest N snapshots always stay (and the current one)
  bool dry_run = false;
  // Set: exactly these snapshots go (the current one never), whatever their
  // age or rank; older_than_ms and retain_last are ignored (an erasure).
  std::optional<std::set<int64_t>> snapshot_ids;
};

struct ExpireResult {
  std::vector<int64_t> expired_snapshot_ids;
  // Manifest lists, manifests and data files reached only by expired
  // snapshots: deleted (or, in a dry run, to be deleted).
  std::vector<std::string> deleted_files;
  // Such paths outside the table's location, or symbolic links: left alone
  // (a manifest naming them is not ours to trust).
  std::vector<std::string> refused_files;
};

// Drops the expired snapshots from the metadata (and snapshot-log entries
// up to the last one that names a dropped snapshot, as the log must stay a
// gap-free history), commits, then deletes the files that only expired
// snapshots reached: a file any retained snapshot lists (as live data, as
// a manifest, as its manifest list) stays.
Result<ExpireResult> ExpireSnapshots(FileSystem* fs, IcebergTable* table, const ExpireOptions& options);

struct OrphanOptions {
  // Only files modified before this are candidates: protects files of
  // commits in flight (the sink's uncommitted files, a manifest being
  // published). Use hours or days, never minutes.
  int64_t older_than_ms = 0;
  bool dry_run = false;
};

// Files under <location>/data and <location>/metadata (recursively) that
// no snapshot of the table references (manifest lists, manifests, data
// files of any entry) and that are not the current metadata, a
// metadata-log file, a newer metadata version or version-hint.text. Files
// under data/sink-p*/ are the lake sink's to clean (at a partition's
// recovery), never this function's.
// Returns the removed (dry run: removable) paths. kFailedPrecondition when
// the listing does not find the current snapshot's own files (the
// metadata's location does not match the directory: removing would be
// wrong).
// Every file under `dir` (recursively) appended to *out; a missing dir has
// none. Symbolic links are neither followed nor listed: nothing maintenance
// deletes can lie outside the table.
Status ListRecursively(FileSystem* fs, const std::string& dir, std::vector<std::string>* out);

Result<std::vector<std::string>> RemoveOrphanFiles(FileSystem* fs, const std::string& table_location,
                                                   const OrphanOptions& options);

// What `serve` runs every lake-maintenance-interval (docs/lake.md).
struct MaintenanceSchedule {
  int64_t snapshot_retention_ms = 86'400'000;     // expire snapshots older than this...
  int retain_last = 1;                            // ...beyond the newest N
  int64_t orphan_age_ms = 3 * 86'400'000ll;       // remove orphans older than this
  std::optional<int64_t> target_file_size_bytes;  // compaction target (unset: the table property)
  std::array<KeepDays, kMaxRegions> keep_days{};  // per region: its retention overrides (governance-file)
};
struct MaintenanceReport {
  int64_t compacted_files = 0, compaction_outputs = 0, lifecycle_batches = 0, expired_snapshots = 0, deleted_files = 0,
          removed_orphans = 0;
};
// One round over a region's lake: per table compaction (of partitions that
// ended, back to its CompactionHorizonMs), then the lifecycle, snapshot expiry and orphan
// removal. Every table gets its turn; the first error is returned after.
Result<MaintenanceReport> RunMaintenanceRound(FileSystem* fs, const std::string& lake_root, Region region,
                                              int64_t now_ms, const MaintenanceSchedule& schedule);

// CompactIfNeeded over a region's tables (up to their CompactionHorizonMs);
// `checked` holds each table's checked sequence number between calls. The
// report counts compacted files and outputs only.
Result<MaintenanceReport> CompactRegionIfNeeded(FileSystem* fs, const std::string& lake_root, Region region,
                                                int64_t now_ms, const MaintenanceSchedule& schedule, size_t min_files,
                                                std::map<LakeTableId, int64_t>* checked);

}  // namespace watershed::lake
