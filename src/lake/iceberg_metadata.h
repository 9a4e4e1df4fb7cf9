#pragma once
// Iceberg v2 table metadata (the JSON a reader starts from) and its commit
// protocol on a file-system root (Iceberg table spec, "Table Metadata" and
// "File System Tables"):
//
//   <location>/metadata/v<N>.metadata.json   N = 1, 2, 3 ...
//   <location>/metadata/version-hint.text    "N": where Hadoop-style readers
//                                            (DuckDB iceberg_scan, Spark
//                                            type=hadoop) find the current one
//
// A commit writes v<N+1> under a temporary name, then publishes it with
// RenameNoReplace: of two committers that read v<N>, exactly one creates
// v<N+1>; the other reloads, re-applies its change to the new metadata and
// tries v<N+2> (optimistic concurrency). version-hint.text is rewritten
// after the publish; it is only a hint (a reader that finds a higher
// v<N>.metadata.json trusts that), so a crash between the two is harmless.
//
// Snapshots are committed by iceberg_commit.h (manifests and manifest lists
// encoded by iceberg_manifest.h); this file carries them as data.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/file_system.h"
#include "core/status.h"

namespace watershed::lake {

struct IcebergField {
  int32_t id = 0;
  std::string name;
  std::string type;  // "long", "int", "string", "uuid", "timestamptz", ...
  bool required = true;
  bool operator==(const IcebergField&) const = default;
};

struct IcebergPartitionField {
  int32_t source_id = 0;
  int32_t field_id = 0;  // 1000, 1001, ...
  std::string name;
  std::string transform;  // "identity", "hour", "day", "bucket[16]"
  bool operator==(const IcebergPartitionField&) const = default;
};

struct IcebergSortField {
  int32_t source_id = 0;
  std::string transform = "identity";
  bool ascending = true;
  bool nulls_first = true;
  bool operator==(const IcebergSortField&) const = default;
};

struct IcebergSnapshot {
  int64_t snapshot_id = 0;
  std::optional<int64_t> parent_snapshot_id;
  int64_t sequence_number = 0;
  int64_t timestamp_ms = 0;
  std::string manifest_list;
  std::map<std::string, std::string> summary;  // "operation" and counters
  int32_t schema_id = 0;
  bool operator==(const IcebergSnapshot&) const = default;
};

struct TableMetadata {
  std::string table_uuid;
  std::string location;
  int64_t last_sequence_number = 0;
  int64_t last_updated_ms = 0;
  std::vector<IcebergField> schema;                // schema-id 0
  std::vector<IcebergPartitionField> partition_spec;  // spec-id 0
  std::vector<IcebergSortField> sort_order;        // order-id 1; empty = unsorted (order-id 0)
  std::map<std::string, std::string> properties;
  std::optional<int64_t> current_snapshot_id;
  std::vector<IcebergSnapshot> snapshots;
  std::vector<std::pair<int64_t, int64_t>> snapshot_log;      // (timestamp-ms, snapshot-id)
  std::vector<std::pair<int64_t, std::string>> metadata_log;  // (timestamp-ms, metadata-file)
  bool operator==(const TableMetadata&) const = default;

  int32_t LastColumnId() const;
  int32_t LastPartitionId() const;  // 999 when unpartitioned, as the spec's id space starts at 1000
};

// Makes a new snapshot of `m` its current one: the previous current one is
// its parent, its timestamp never precedes the table's last update, and the
// snapshot log records it. For the commits' `change` functions.
void AddCurrentSnapshot(TableMetadata& m, int64_t snapshot_id, int64_t sequence_number, std::string manifest_list,
                        std::map<std::string, std::string> summary);

// The schema as Iceberg JSON ({"type":"struct","schema-id":0,"fields":[...]})
// and the partition spec's fields (a JSON array): manifests carry both.
std::string IcebergSchemaJson(const std::vector<IcebergField>& fields);
std::string PartitionFieldsJson(const std::vector<IcebergPartitionField>& fields);

// The v2 JSON: format-version 2 and every field the spec requires.
std::string TableMetadataToJson(const TableMetadata& m);
// kCorruption (naming the problem) for JSON that is not v2 metadata we can
// represent; unknown fields are ignored.
Result<TableMetadata> ParseTableMetadata(std::string_view json);

class IcebergTable {
 public:
  // Creates v1 (no snapshot) under `location`; kFailedPrecondition when a
  // table exists there.
  static Result<IcebergTable> Create(FileSystem* fs, std::string location, TableMetadata initial);
  // The current version: the highest v<N>.metadata.json in metadata/.
  static Result<IcebergTable> Load(FileSystem* fs, std::string location);

  const TableMetadata& metadata() const { return metadata_; }
  int64_t version() const { return version_; }
  std::string MetadataPath(int64_t version) const;

  // Applies `change` to the current metadata and publishes it as the next
  // version; on a concurrent commit, reloads and applies `change` again (up
  // to max_attempts). `change` may inspect the metadata and refuse
  // (returning an error ends the commit with it). The previous file is
  // appended to metadata-log; files older than the
  // write.metadata.previous-versions-max property (default 100) are removed.
  Status Commit(const std::function<Status(TableMetadata&)>& change, int max_attempts = 10);

 private:
  IcebergTable(FileSystem* fs, std::string location) : fs_(fs), location_(std::move(location)) {}
  Status Publish(const TableMetadata& m, int64_t version);
  Status RemoveOldMetadata();

  FileSystem* fs_;
  std::string location_;
  TableMetadata metadata_;
  int64_t version_ = 0;
};

}  // namespace watershed::lake
