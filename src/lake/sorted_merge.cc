#include "lake/sorted_merge.h"

#include <algorithm>
#include <memory>
#include <queue>

#include "lake/file_keys.h"
#include "lake/parquet.h"
#include "lake/row_set.h"

namespace watershed::lake {
namespace {

// Rows handed to ParquetWriter::Write at once (~0.5 MB of events): the
// writer cuts a row group once one of these takes it past its size.
constexpr size_t kMergeChunkRows = 1 << 12;

// Intermediate files' row groups: what a later pass holds per input.
constexpr uint64_t kIntermediateRowGroupBytes = 1 << 20;

// One input: its reader and the row group being merged.
struct Cursor {
  std::unique_ptr<ParquetReader> reader;
  size_t next_group = 0;
  RowSet rows;  // the current row group only
  size_t row = 0;
};

// Moves `c` to its next row group with rows; false at the end of its file.
// The previous group's last row must not sort after the new group's first.
Result<bool> NextGroup(Cursor* c, const RowOrder& order) {
  while (c->next_group < c->reader->info().row_groups.size()) {
    RowSet next;
    RETURN_IF_ERROR(next.AddRowGroup(c->reader.get(), c->next_group++));
    if (next.rows() == 0) continue;
    if (c->rows.rows() > 0 && order.Compare(c->rows, c->rows.rows() - 1, next, 0) > 0)
      return Status::FailedPrecondition(c->reader->path() + " is not sorted by the table's sort order");
    c->rows = std::move(next);
    c->row = 0;
    return true;
  }
  return false;
}

// One merge of at most the caller's bound of inputs.
Result<DataFileInfo> MergeOnce(FileSystem* fs, const std::vector<std::string>& inputs, const TableMetadata& table,
                               const std::string& path, std::vector<std::optional<int32_t>> partition,
                               const ParquetWriterOptions& options) {
  std::vector<Cursor> cursors(inputs.size());
  std::vector<ColumnSpec> schema;
  for (size_t i = 0; i < inputs.size(); ++i) {
    ASSIGN_OR_RETURN(cursors[i].reader, ParquetReader::Open(fs, inputs[i]));
    const std::vector<ColumnSpec>& s = cursors[i].reader->info().schema;
    if (i == 0) schema = s;
    if (!SameColumns(s, schema))
      return Status::FailedPrecondition(inputs[i] + " has another schema than the files it is merged with");
  }
  if (schema.empty()) return Status::FailedPrecondition("nothing to merge");
  const RowOrder order(schema, table.sort_order);

  // Min-heap of the inputs by their current row; ties go to the earlier input.
  auto after = [&](size_t a, size_t b) {
    const int cmp = order.Compare(cursors[a].rows, cursors[a].row, cursors[b].rows, cursors[b].row);
    return cmp != 0 ? cmp > 0 : a > b;
  };
  std::priority_queue<size_t, std::vector<size_t>, decltype(after)> heap(after);
  for (size_t i = 0; i < cursors.size(); ++i) {
    ASSIGN_OR_RETURN(bool has_rows, NextGroup(&cursors[i], order));
    if (has_rows) heap.push(i);
  }

  // The output's schema drops min/max where any input row group has none
  // (personal data): known only once every group was read, so the writer is
  // created with the first groups' view and every later group is checked
  // against it (a file mixing both is refused: the caller sorts in memory).
  std::vector<ColumnSpec> out_schema = cursors.front().rows.rows() ? cursors.front().rows.schema() : schema;
  for (const Cursor& c : cursors)
    if (c.rows.rows() > 0)
      for (size_t col = 0; col < out_schema.size(); ++col)
        out_schema[col].statistics = out_schema[col].statistics && c.rows.schema()[col].statistics;

  RETURN_IF_ERROR(CreateDirsDurably(fs, DirName(path)));
  ASSIGN_OR_RETURN(auto writer, ParquetWriter::Create(fs, path, out_schema, options));
  std::vector<ColumnValues> chunk(out_schema.size());
  size_t chunk_rows = 0;
  auto flush = [&]() -> Status {
    if (chunk_rows == 0) return Status::Ok();
    RETURN_IF_ERROR(writer->Write(chunk, chunk_rows));
    for (ColumnValues& c : chunk) c.Clear();
    chunk_rows = 0;
    return Status::Ok();
  };
  while (!heap.empty()) {
    const size_t i = heap.top();
    heap.pop();
    Cursor& c = cursors[i];
    c.rows.AppendRow(c.row, &chunk);
    if (++chunk_rows == kMergeChunkRows) RETURN_IF_ERROR(flush());
    if (++c.row < c.rows.rows()) {
      if (order.Compare(c.rows, c.row - 1, c.rows, c.row) > 0)
        return Status::FailedPrecondition(inputs[i] + " is not sorted by the table's sort order");
      heap.push(i);
      continue;
    }
    ASSIGN_OR_RETURN(bool more, NextGroup(&c, order));
    if (!more) continue;
    for (size_t col = 0; col < out_schema.size(); ++col)
      if (out_schema[col].statistics && !c.rows.schema()[col].statistics)
        return Status::FailedPrecondition(inputs[i] + " has row groups with and without statistics");
    heap.push(i);
  }
  RETURN_IF_ERROR(flush());
  ASSIGN_OR_RETURN(uint64_t size, writer->Finish());
  DataFileInfo d = DescribeParquetFile(path, static_cast<int64_t>(size), writer->info(), std::move(partition));
  if (!table.sort_order.empty()) d.sort_order_id = 1;
  return d;
}

}  // namespace

Result<DataFileInfo> MergeSortedFiles(FileSystem* fs, const std::vector<std::string>& inputs,
                                      const TableMetadata& table, const std::string& path,
                                      std::vector<std::optional<int32_t>> partition, size_t max_open_inputs) {
  max_open_inputs = std::max<size_t>(max_open_inputs, 2);
  const ParquetWriterOptions options = RewriteOptions(table);
  if (inputs.size() <= max_open_inputs) return MergeOnce(fs, inputs, table, path, std::move(partition), options);
  // Intermediate files are read once, soon: cheap to write (zstd 1, not an
  // archive's 19) and small row groups (what the next pass holds per input).
  ParquetWriterOptions intermediate = options;
  intermediate.row_group_bytes = kIntermediateRowGroupBytes;
  intermediate.zstd_level = 1;
  // More inputs than may be open at once: runs of consecutive inputs are
  // merged into intermediate files beside `path` (consecutive, so that equal
  // keys keep their input order), then those, until one merge is left. A
  // pass's intermediate inputs are removed once the next pass is written.
  std::vector<std::string> level = inputs, written;  // written: the intermediates not yet removed
  size_t named = 0;
  auto remove = [&](const std::vector<std::string>& files) {
    for (const std::string& f : files) {
      auto it = std::find(written.begin(), written.end(), f);
      if (it == written.end()) continue;  // an original input: never removed here
      (void)RemoveLakeFile(fs, f);        // best effort: remove-orphans sweeps what is left
      written.erase(it);
    }
  };
  while (level.size() > max_open_inputs) {
    std::vector<std::string> next;
    for (size_t begin = 0; begin < level.size(); begin += max_open_inputs) {
      const std::vector<std::string> run(
          level.begin() + static_cast<ptrdiff_t>(begin),
          level.begin() + static_cast<ptrdiff_t>(std::min(level.size(), begin + max_open_inputs)));
      if (run.size() == 1) {
        next.push_back(run.front());
        continue;
      }
      written.push_back(path + ".merge-" + std::to_string(named++));
      auto merged = MergeOnce(fs, run, table, written.back(), partition, intermediate);
      if (!merged.ok()) {
        remove(std::vector<std::string>(written));
        return merged.status();
      }
      next.push_back(written.back());
    }
    std::vector<std::string> consumed;
    for (const std::string& f : level)
      if (std::find(next.begin(), next.end(), f) == next.end()) consumed.push_back(f);
    remove(consumed);
    level = std::move(next);
  }
  auto merged = MergeOnce(fs, level, table, path, std::move(partition), options);
  remove(std::vector<std::string>(written));
  return merged;
}

}  // namespace watershed::lake
