#pragma once
// Erasure of one value of a personal column (a viewer's id) from an Iceberg
// table (issue #12 part 5, docs/governance.md "Erasure"), in three steps
// that are each idempotent, so a run cut short anywhere is finished by
// running it again:
//
//   RewriteWithoutValue      every live data file holding the value is
//                            rewritten copy-on-write without its rows (same
//                            schema, partition and sort order; encrypted
//                            under a fresh data key when the process's lake
//                            keys are set), and one snapshot replaces them
//                            (IcebergTable::Commit: a concurrent append of
//                            the sink is re-applied, a compaction that
//                            removed an input makes the step start over);
//   ExpireSnapshotsHolding   every snapshot but the current one that lists
//                            a file holding the value is expired, and the
//                            files only they reached are deleted with their
//                            key sidecars (ExpireSnapshots) — nothing is
//                            left for time travel;
//   RemoveUnreferencedHolding  files under data/ that no snapshot lists and
//                            that hold the value (leftovers of a crashed
//                            compaction, expiry or erasure) are deleted; of
//                            the lake sink's own data/sink-p*/ files only
//                            those named at or below the table's commit
//                            guard (committed once, never again); the
//                            others are left (a checkpoint may have prepared
//                            their commit) and returned, for the caller to
//                            report.
//
// Statistics cannot skip files: viewer_id is written without min/max
// (tables.h), so every file's column is read (that column only).

#include <cstdint>
#include <string>
#include <vector>

#include "core/file_system.h"
#include "core/status.h"
#include "lake/iceberg_maintenance.h"
#include "lake/iceberg_metadata.h"

namespace watershed::lake {

// The rows of the Parquet file at `path` whose INT64 column `column` equals
// `value`; a column it does not have holds none. Row groups whose min/max
// exclude the value are not read.
Result<int64_t> CountValueInFile(FileSystem* fs, const std::string& path, const std::string& column, int64_t value);

struct ErasureRewrite {
  std::vector<std::string> removed;  // live files that held the value
  std::vector<DataFileInfo> added;   // their rewrites (none for a file of only the value's rows)
  int64_t rows_removed = 0;
  bool committed = false;  // a snapshot was committed (false: no live file held the value)
};

// Step 1 (above). `tag` goes into the commit id ("erase/<tag>/<random>")
// and the new files' names (data/erased/).
Result<ErasureRewrite> RewriteWithoutValue(FileSystem* fs, IcebergTable* table, const std::string& column,
                                           int64_t value, const std::string& tag);

// Step 2 (above); ExpireResult as ExpireSnapshots returns it.
Result<ExpireResult> ExpireSnapshotsHolding(FileSystem* fs, IcebergTable* table, const std::string& column,
                                            int64_t value);

struct UnreferencedResult {
  std::vector<std::string> deleted;
  std::vector<std::string> kept_sink_files;  // under data/sink-p*/: the sink's, reported not deleted
};
// Step 3 (above).
Result<UnreferencedResult> RemoveUnreferencedHolding(FileSystem* fs, const std::string& table_location,
                                                     const std::string& column, int64_t value);

}  // namespace watershed::lake
