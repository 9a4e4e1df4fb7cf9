#pragma once
// The rows of several Parquet data files of one table, re-sorted and
// written back as new data files: what compaction and the lifecycle's
// archive do with the files they rewrite.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/file_system.h"
#include "core/status.h"
#include "lake/iceberg_manifest.h"
#include "lake/iceberg_metadata.h"
#include "lake/parquet.h"

namespace watershed::lake {

// The rows of a set of Parquet files with one schema, all held in memory,
// addressed by index in the order the files were added.
class RowSet {
 public:
  // Adds every row of `path`. kFailedPrecondition when its schema differs
  // from the files added before. A column without min/max statistics in any
  // input (personal data) is written without them.
  Status AddFile(FileSystem* fs, const std::string& path);
  // Adds the rows of one row group of `reader`'s file (same rules).
  Status AddRowGroup(ParquetReader* reader, size_t row_group);

  const std::vector<ColumnSpec>& schema() const { return schema_; }
  size_t rows() const { return refs_.size(); }
  // The column of Iceberg field `field_id`, or -1.
  int ColumnOf(int32_t field_id) const;

  // Value index of row `r` in column `c`, or -1 for null.
  int64_t ValueIndex(size_t r, size_t c) const;
  // The value of a non-null row `r` in an int, double or byte column `c`.
  int64_t Int(size_t r, size_t c) const;
  double Double(size_t r, size_t c) const;
  std::string_view Bytes(size_t r, size_t c) const;

  // Orders `rows` (indices into this set) by the sort order; stable, so
  // equal keys keep their input order. Non-identity transforms sort by the
  // source value (monotonic for hour/day; the order is a hint to readers).
  void Sort(const std::vector<IcebergSortField>& order, std::vector<size_t>* rows) const;

  // The columns of `rows` [begin, end), in that order.
  std::vector<ColumnValues> Gather(const std::vector<size_t>& rows, size_t begin, size_t end) const;
  // Appends row `r` to `out` (one ColumnValues per column of the schema).
  void AppendRow(size_t r, std::vector<ColumnValues>* out) const;

 private:
  // One row group of an input.
  struct Source {
    std::vector<ColumnValues> columns;
    std::vector<std::vector<int32_t>> index;  // OPTIONAL columns: row -> value index or -1
    size_t rows = 0;
  };
  struct Ref {
    uint32_t source, row;
  };
  // Takes the schema of the first file; checks the others' against it.
  Status TakeSchema(const ParquetReader& reader);

  std::vector<ColumnSpec> schema_;
  std::vector<Source> sources_;
  std::vector<Ref> refs_;
};

// Whether two files' columns match (names, ids, types, optionality).
bool SameColumns(const std::vector<ColumnSpec>& a, const std::vector<ColumnSpec>& b);

// A sort order over the columns of one schema: compares rows of RowSets
// with that schema (the same set or two), nulls placed as the field says.
class RowOrder {
 public:
  RowOrder(const std::vector<ColumnSpec>& schema, const std::vector<IcebergSortField>& order);
  // <0, 0 or >0 as row `ra` of `a` sorts before, with or after row `rb` of `b`.
  int Compare(const RowSet& a, size_t ra, const RowSet& b, size_t rb) const;

 private:
  std::vector<std::pair<int, IcebergSortField>> keys_;  // column, field
};

// The partition value of `row` for one partition field (transforms our
// tables use: identity, hour, day, bucket[N]); nullopt for a null source.
Result<std::optional<int32_t>> PartitionValue(const RowSet& set, size_t row, const IcebergPartitionField& f);

inline constexpr int64_t kDefaultTargetFileSize = 128ll << 20;
// The table's write.target-file-size-bytes (default 128 MiB).
int64_t TargetFileSize(const TableMetadata& metadata);

// Writes `rows` rows of `columns` (schema order) as one Parquet data file at
// `path` (its directory created) and describes it for a manifest.
Result<DataFileInfo> WriteDataFile(FileSystem* fs, const std::string& path, const std::vector<ColumnSpec>& schema,
                                   const std::vector<ColumnValues>& columns, size_t rows,
                                   const ParquetWriterOptions& options, std::vector<std::optional<int32_t>> partition);

// Uncompressed bytes per row group of the files compaction and the
// lifecycle write: small enough that a merge holding one row group of each
// of its inputs stays small, large enough for readers (~80,000 event rows).
inline constexpr uint64_t kRewrittenRowGroupBytes = 8ull << 20;
// How rewritten files of `table` are written: zstd at its
// write.parquet.compression-level (default 3), kRewrittenRowGroupBytes.
ParquetWriterOptions RewriteOptions(const TableMetadata& table);

// Writes `rows` of `set` (in that order) as one data file of `table` at
// `path` (its directory created), with RewriteOptions and the table's sort
// order id when it has one.
Result<DataFileInfo> WriteRows(FileSystem* fs, const RowSet& set, const std::vector<size_t>& rows,
                               const TableMetadata& table, const std::string& path,
                               std::vector<std::optional<int32_t>> partition);

}  // namespace watershed::lake
