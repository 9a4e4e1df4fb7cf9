#pragma once
// The lake's snapshot commits on an Iceberg v2 table (Iceberg table spec,
// "Snapshots"), both published by IcebergTable::Commit (optimistic: a
// concurrent commit makes them re-apply their change to the new metadata):
//
//   AppendFiles   new data files as one "append" snapshot (the lake sink,
//                 the lifecycle's archive);
//   RewriteFiles  live files replaced by new ones, or deleted (compaction,
//                 the lifecycle).
//
// An append:
//   1. one manifest listing the files as ADDED (status 1), sequence numbers
//      left null so they inherit the snapshot's (the manifest can be reused
//      by a retry);
//   2. a manifest list: the parent snapshot's manifests plus the new one,
//      written for each attempt (it carries the attempt's sequence number);
//   3. table metadata with the new snapshot (operation "append").
// The snapshot summary carries our commit id ("watershed.commit-id"): a
// commit whose id is already in a snapshot of the table is recognised and
// not applied twice (a replay after a crash between publish and the
// caller's bookkeeping).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/file_system.h"
#include "core/status.h"
#include "lake/iceberg_manifest.h"
#include "lake/iceberg_metadata.h"

namespace watershed::lake {

inline constexpr char kCommitIdKey[] = "watershed.commit-id";
// Whether a snapshot of `m` carries `commit_id` in its summary.
bool HasCommitId(const TableMetadata& m, const std::string& commit_id);

// Orders the commits of one writer that covers consecutive ranges [from, to)
// of its input (a processor's log partition): the table property `key`
// holds the end of the last range committed. It outlives snapshot expiry,
// which the commit-id check does not.
struct RangeGuard {
  std::string key;
  uint64_t from = 0, to = 0;
};

// The end of the last range committed under the property `key` of `m`; 0
// when the table has none. kCorruption when the property is not a decimal
// offset: read as 0, it would let a range land twice.
Result<uint64_t> CommittedRangeEnd(const TableMetadata& m, const std::string& key);

// Commits `files` as one append snapshot tagged with `commit_id`. Returns
// false (and changes nothing) when a snapshot with that commit id exists, or
// when the guard's property already reaches `to`. A range that overlaps the
// committed one (from < property < to: another writer of the same input
// committed part of it) is refused with kFailedPrecondition: its rows would land twice.
// So is a commit naming a data file that does not exist. A guard property
// that does not parse ends the commit with kCorruption, nothing written.
Result<bool> AppendFiles(FileSystem* fs, IcebergTable* table, const std::vector<DataFileInfo>& files,
                         const std::string& commit_id, const std::optional<RangeGuard>& guard = std::nullopt);

// The current snapshot's live data files (ADDED or EXISTING entries), with
// the inherited snapshot id and sequence numbers filled in, in manifest
// order. Empty for a table without snapshots.
Result<std::vector<ManifestEntry>> ListLiveFiles(FileSystem* fs, const TableMetadata& metadata);

// Replaces the live files `remove` (paths) by `add` as one snapshot with
// `operation` ("replace" for a rewrite of the same rows, "delete" when `add`
// is empty, "overwrite" otherwise) tagged with `commit_id`. Manifests of
// 1 MiB or more without any removed file are reused as they are; the others
// are merged into one with EXISTING entries for the survivors and DELETED
// ones for the removed files. Returns false (nothing changed) when a snapshot with
// `commit_id` exists; kFailedPrecondition when a file of `remove` is not
// live in the current snapshot (also after re-applying on a race).
Result<bool> RewriteFiles(FileSystem* fs, IcebergTable* table, const std::vector<std::string>& remove,
                          const std::vector<DataFileInfo>& add, const std::string& operation,
                          const std::string& commit_id);

// Removes those of `paths` that exist, ignoring errors: files no snapshot
// references (written for a commit that failed or lost); whatever stays is
// RemoveOrphanFiles' to find.
void RemoveUnreferencedFiles(FileSystem* fs, const std::vector<std::string>& paths);

}  // namespace watershed::lake
