#pragma once
// Iceberg v2 manifests and manifest lists (Iceberg table spec, "Manifests",
// "Manifest Lists"), written as Avro container files by src/lake/avro.h with
// the spec's field ids. The commits that write them are
// src/lake/iceberg_commit.h.

#include <algorithm>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "lake/iceberg_metadata.h"
#include "lake/parquet.h"

namespace watershed::lake {

// A map keyed by field id, as a vector sorted by key: a data file carries
// five of them over ~10 columns, and maintenance holds every live file's
// (tens of thousands after an hour of small files); std::map spent a node
// per value, ~4.2 KB per file where this takes ~1.3 KB.
template <typename V>
class FieldIdMap {
 public:
  using value_type = std::pair<int32_t, V>;
  using iterator = typename std::vector<value_type>::iterator;
  using const_iterator = typename std::vector<value_type>::const_iterator;

  std::pair<iterator, bool> try_emplace(int32_t id, V v) {
    auto it =
        std::lower_bound(items_.begin(), items_.end(), id, [](const value_type& a, int32_t k) { return a.first < k; });
    if (it != items_.end() && it->first == id) return {it, false};
    return {items_.insert(it, {id, std::move(v)}), true};
  }
  V& operator[](int32_t id) { return try_emplace(id, V{}).first->second; }
  const_iterator find(int32_t id) const {
    auto it = std::lower_bound(begin(), end(), id, [](const value_type& a, int32_t k) { return a.first < k; });
    return it != end() && it->first == id ? it : end();
  }
  size_t count(int32_t id) const { return find(id) != end() ? 1 : 0; }
  // Throws std::out_of_range when `id` is absent, as std::map::at does.
  const V& at(int32_t id) const {
    auto it = find(id);
    if (it == end()) throw std::out_of_range("FieldIdMap::at");
    return it->second;
  }
  const_iterator begin() const { return items_.begin(); }
  const_iterator end() const { return items_.end(); }
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  void shrink_to_fit() { items_.shrink_to_fit(); }
  bool operator==(const FieldIdMap&) const = default;

 private:
  std::vector<value_type> items_;
};

// One data file as a manifest describes it.
struct DataFileInfo {
  std::string path;  // absolute
  int64_t record_count = 0;
  int64_t file_size_in_bytes = 0;
  // One value per partition field of the table's spec (hour and bucket give
  // ints); nullopt = null.
  std::vector<std::optional<int32_t>> partition;
  FieldIdMap<int64_t> column_sizes, value_counts, null_value_counts;
  // Single-value serialization (spec Appendix D): little-endian int/long/
  // timestamp, UTF-8 string, 16 big-endian bytes for uuid.
  FieldIdMap<std::string> lower_bounds, upper_bounds;
  std::vector<int64_t> split_offsets;  // the row groups' first bytes
  std::optional<int32_t> sort_order_id;
  bool operator==(const DataFileInfo&) const = default;
};

// A Parquet file written by ParquetWriter as a data file: counts and sizes
// per column from the footer, bounds from the column statistics (columns
// without statistics — personal data — get none), split offsets from the
// row groups.
DataFileInfo DescribeParquetFile(std::string path, int64_t file_size, const FileInfo& info,
                                 std::vector<std::optional<int32_t>> partition);

struct PartitionFieldSummary {
  bool contains_null = false;
  std::optional<std::string> lower_bound,
      upper_bound;  // 4-byte little-endian ints
  bool operator==(const PartitionFieldSummary&) const = default;
};

// One entry of a manifest list.
struct ManifestFileInfo {
  std::string path;
  int64_t length = 0;
  int32_t partition_spec_id = 0;
  int32_t content = 0;  // 0 = data
  int64_t sequence_number = 0;
  int64_t min_sequence_number = 0;
  int64_t added_snapshot_id = 0;
  int32_t added_files_count = 0, existing_files_count = 0, deleted_files_count = 0;
  int64_t added_rows_count = 0, existing_rows_count = 0, deleted_rows_count = 0;
  std::vector<PartitionFieldSummary> partitions;
  bool operator==(const ManifestFileInfo&) const = default;
};

// The manifest's Avro bytes: `files` as ADDED entries of `snapshot_id`.
Result<std::string> WriteManifest(const TableMetadata& table, int64_t snapshot_id,
                                  const std::vector<DataFileInfo>& files);
// The entries' data files (any status), for tests and maintenance.
Result<std::vector<DataFileInfo>> ReadManifest(std::string_view bytes);

// A manifest entry with its status (Iceberg spec, "Manifest Entry Fields").
// In v2 snapshot_id and both sequence numbers may be null only in ADDED
// entries: they inherit the manifest list entry's added_snapshot_id and
// sequence_number. EXISTING and DELETED entries carry them explicitly (the
// data sequence number the file was added with; a DELETED entry's
// snapshot_id is the snapshot that deleted it).
enum class EntryStatus : int32_t { kExisting = 0, kAdded = 1, kDeleted = 2 };
struct ManifestEntry {
  EntryStatus status = EntryStatus::kAdded;
  std::optional<int64_t> snapshot_id;
  std::optional<int64_t> sequence_number;  // data sequence number
  std::optional<int64_t> file_sequence_number;
  DataFileInfo file;
  bool live() const { return status != EntryStatus::kDeleted; }
  bool operator==(const ManifestEntry&) const = default;
};

// The manifest's Avro bytes with any mix of statuses. kInvalidArgument when
// an EXISTING or DELETED entry lacks its snapshot id or sequence numbers.
Result<std::string> WriteManifestEntries(const TableMetadata& table, const std::vector<ManifestEntry>& entries);
// The entries as written (nulls kept).
Result<std::vector<ManifestEntry>> ReadManifestEntries(std::string_view bytes);
// The entries of a manifest a manifest list names, read from `fs`, with the
// v2 inheritance applied (every entry then has all three values).
Result<std::vector<ManifestEntry>> ReadManifestEntries(FileSystem* fs, const ManifestFileInfo& manifest);

Result<std::string> WriteManifestList(int64_t snapshot_id, std::optional<int64_t> parent_id, int64_t sequence_number,
                                      const std::vector<ManifestFileInfo>& manifests);
Result<std::vector<ManifestFileInfo>> ReadManifestList(std::string_view bytes);

// The manifests of the table's current snapshot (empty without one).
Result<std::vector<ManifestFileInfo>> CurrentManifests(FileSystem* fs, const TableMetadata& table);

}  // namespace watershed::lake
