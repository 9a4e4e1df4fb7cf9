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

// Inputs a merge holds open at once (a compaction by need starts at 32).
inline constexpr size_t kMaxMergeInputs = 16;

// Writes the rows of `inputs` (same schema, each sorted by `table`'s sort
// order) as one data file of `table` at `path`, sorted, equal keys in input
// order; written as WriteRows writes (RewriteOptions, the sort order id).
// Holds one row group and one open file per input, at most
// `max_open_inputs` inputs at a time (more are merged in passes through
// intermediate files beside `path`, removed after), and the writer's row
// group: so neither memory nor file descriptors follow the input count.
// kFailedPrecondition when an input is not sorted or its schema differs
// (the caller sorts in memory instead, RowSet); kCorruption / kIoError name
// the input. On any error `path` may hold a partial file: the caller removes it.
Result<DataFileInfo> MergeSortedFiles(FileSystem* fs, const std::vector<std::string>& inputs,
                                      const TableMetadata& table, const std::string& path,
                                      std::vector<std::optional<int32_t>> partition,
                                      size_t max_open_inputs = kMaxMergeInputs);

}  // namespace watershed::lake
