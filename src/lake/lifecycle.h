#pragma once
// The lifecycle of the lake's zones (tables.h: keep_days, archive): data
// past its table's keep_days moves into the archive table, or is deleted.
// Run by `watershed lake lifecycle` and each maintenance round
// (iceberg_maintenance.h).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/event.h"
#include "core/file_system.h"
#include "core/status.h"
#include "lake/iceberg_manifest.h"
#include "lake/tables.h"

namespace watershed::lake {

// (done, total) in bytes of input read; called from the calling thread.
using ProgressFn = std::function<void(int64_t done, int64_t total)>;

struct LifecycleOptions {
  bool dry_run = false;
  std::optional<LakeTableId> only;  // one table instead of all
  KeepDays keep_days{};             // the region's overrides of the tables' keep_days
  ProgressFn progress;
  // Tests: runs after each batch's archive commit, before the source's
  // delete; an error ends the run there (a crash between the two commits).
  std::function<Status()> after_archive_commit;
};

struct LifecycleBatch {
  LakeTableId table;
  std::optional<LakeTableId> archive;
  std::vector<DataFileInfo> files;     // removed from `table`
  std::vector<DataFileInfo> archived;  // written into `archive` (empty in a dry run or a replay)
  std::string commit_id;
  bool archive_already_committed = false;  // a replay found its archive commit
};

// For each of the region's tables with a time partition: live files whose
// partition's time range ended before now_ms - keep_days (KeepDaysOf: the
// table's own or options.keep_days's). Tables with an
// archive: in batches of one archive day (only days that expired as a
// whole, so a rerun sees the same files), split into runs of at most the
// archive's target file size; each batch's rows are rewritten into the
// archive table (its sorted files merged into one file of their day,
// MergeSortedFiles; else partition values computed from the rows; its sort
// order, its zstd level) with an AppendFiles commit whose id derives from the
// sorted source paths, then deleted from the source table ("delete"
// snapshot). A rerun after a crash between the two commits finds the
// archive commit and only deletes. When the source delete finds files no
// longer live (a compaction replaced them in between), the archive commit
// is taken back ("delete" snapshot on the archive) and the run ends with
// kFailedPrecondition; a later run archives the new files. Residual hole: a
// compaction of the day between a crash and the rerun changes the batch
// (and its id), so its rows would be archived twice; do not compact
// partitions past keep_days (CompactionOptions::skip_ended_before_ms).
// Tables without an archive: the expired
// files are deleted in one snapshot. Tables not created yet are skipped.
// Crash point "lake.lifecycle.after_archive_commit" (core/crash_point.h).
Result<std::vector<LifecycleBatch>> ApplyLifecycle(FileSystem* fs, const std::string& lake_root, Region region,
                                                   int64_t now_ms, const LifecycleOptions& options);

}  // namespace watershed::lake
