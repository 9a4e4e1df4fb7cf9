#pragma once
// Merging data files that are each sorted by their table's sort order (what
// the lake sink and compaction write) into one sorted data file, streaming:
// what compaction does with its groups, so that its memory follows the
// inputs' row groups rather than the group's total size.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/file_system.h"
#include "core/status.h"
#include "lake/iceberg_manifest.h"
#include "lake/iceberg_metadata.h"

namespace watershed::lake {

// Writes the rows of `inputs` (same schema, each sorted by `table`'s sort
// order) as one data file of `table` at `path`, sorted, equal keys in input
// order; written as WriteRows writes (RewriteOptions, the sort order id). Holds one row group per
// input and the writer's row group at a time.
// kFailedPrecondition when an input is not sorted or its schema differs
// (the caller sorts in memory instead, RowSet); kCorruption / kIoError name
// the input. On any error `path` may hold a partial file: the caller removes it.
Result<DataFileInfo> MergeSortedFiles(FileSystem* fs, const std::vector<std::string>& inputs,
                                      const TableMetadata& table, const std::string& path,
                                      std::vector<std::optional<int32_t>> partition);

}  // namespace watershed::lake
