#include "query/executor.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <memory>
#include <mutex>
#include <thread>

#include "lake/parquet.h"
#include "query/runner.h"

namespace watershed::query {
namespace {

// One unit of the parallel scan: consecutive row groups, of one file or
// of several (pieces), about ExecLimits::unit_rows rows.
struct Piece {
  const FileScan* file = nullptr;
  std::vector<int> row_groups;
};
using Unit = std::vector<Piece>;

std::vector<Unit> Units(const LogicalPlan& plan, int64_t unit_rows) {
  std::vector<Unit> units(1);
  if (plan.always_empty) return {};
  int64_t rows = 0;
  for (const FileScan& f : plan.files) {
    for (size_t i = 0; i < f.row_groups.size(); ++i) {
      if (units.back().empty() || units.back().back().file != &f) units.back().push_back({&f, {}});
      units.back().back().row_groups.push_back(f.row_groups[i]);
      rows += i < f.rows.size() ? f.rows[i] : 1;
      if (rows >= unit_rows) units.emplace_back(), rows = 0;
    }
  }
  if (units.back().empty()) units.pop_back();
  return units;
}

// The values of a column replaced by their MaskedText (present flags kept).
lake::ColumnValues MaskColumn(const lake::ColumnSpec& spec, const lake::ColumnValues& v, const HashKey& key) {
  lake::ColumnValues out;
  out.present = v.present;
  const size_t n = v.ValueCount(spec);
  for (size_t k = 0; k < n; ++k) {
    std::string raw;
    if (spec.type == lake::PhysicalType::kInt32 || spec.type == lake::PhysicalType::kInt64) {
      const uint64_t x = static_cast<uint64_t>(v.ints[k]);
      for (int b = 0; b < 8; ++b) raw.push_back(static_cast<char>(x >> (8 * b)));
    } else if (spec.type == lake::PhysicalType::kDouble) {
      const uint64_t x = std::bit_cast<uint64_t>(v.doubles[k]);
      for (int b = 0; b < 8; ++b) raw.push_back(static_cast<char>(x >> (8 * b)));
    } else {
      raw = v.ByteValue(spec, k);
    }
    out.bytes += MaskedText(key, raw);
    out.ends.push_back(static_cast<uint32_t>(out.bytes.size()));
  }
  return out;
}

// Reads one piece's row groups (only the scan's columns) into `runner`.
Status ScanPiece(const LogicalPlan& plan, FileSystem* fs, const Piece& piece, Runner* runner, ExecStats* stats) {
  ASSIGN_OR_RETURN(std::unique_ptr<lake::ParquetReader> r, lake::ParquetReader::Open(fs, piece.file->path));
  if (piece.row_groups.front() == piece.file->row_groups.front()) ++stats->files_read;  // once per file
  std::vector<int> columns;
  std::vector<ColumnVector> cols(plan.scan_columns.size());
  // Masked columns are replaced by their pseudonyms (VARCHAR) as soon as they are read: no filter, key or
  // expression of the query ever sees a raw value (docs/governance.md).
  std::vector<lake::ColumnSpec> masked_specs(plan.scan_columns.size());
  for (size_t i = 0; i < plan.scan_columns.size(); ++i) {
    const CatalogColumn& c = plan.table.columns[plan.scan_columns[i]];
    const int idx = r->ColumnIndex(c.name);
    if (idx < 0) return Status::Corruption(piece.file->path + " has no column " + c.name);
    columns.push_back(idx);
    cols[i].spec = &r->info().schema[idx];
    cols[i].type = c.type;
    if (c.mask) {
      masked_specs[i] = *cols[i].spec;
      masked_specs[i].type = lake::PhysicalType::kByteArray;
      masked_specs[i].logical = lake::LogicalType::kString;
      masked_specs[i].type_length = 0;
    }
  }
  for (int g : piece.row_groups) {
    if (runner->Enough()) break;
    ASSIGN_OR_RETURN(std::vector<lake::ColumnValues> values, r->ReadRowGroup(g, columns));
    const size_t rows = static_cast<size_t>(r->info().row_groups[g].num_rows);
    for (size_t i = 0; i < cols.size(); ++i) {
      if (const auto& mask = plan.table.columns[plan.scan_columns[i]].mask) {
        values[i] = MaskColumn(r->info().schema[columns[i]], values[i], mask->key);
        cols[i].spec = &masked_specs[i];
      }
      cols[i].v = &values[i];
      cols[i].idx.clear();
      if (!values[i].present.empty()) {
        int32_t next = 0;
        cols[i].idx.resize(rows);
        for (size_t row = 0; row < rows; ++row) cols[i].idx[row] = values[i].present[row] ? next++ : -1;
      }
    }
    ++stats->row_groups_read;
    stats->rows_scanned += static_cast<int64_t>(rows);
    // Fixed-size batches: a row group is cut into slices of kBatchRows.
    for (size_t begin = 0; begin < rows && !runner->Enough(); begin += kBatchRows)
      RETURN_IF_ERROR(runner->Slice(cols, begin, std::min(rows, begin + kBatchRows)));
  }
  return Status::Ok();
}

Status ScanUnit(const LogicalPlan& plan, FileSystem* fs, const Unit& unit, Runner* runner, ExecStats* stats) {
  for (const Piece& p : unit) RETURN_IF_ERROR(ScanPiece(plan, fs, p, runner, stats));
  return Status::Ok();
}

// The units on `threads` threads (the caller's one of them), each into a
// Runner of its own, merged into `query` in unit order as they complete.
// A failure stops handing out units; the failure of the lowest unit is
// returned, so it is the one a single thread meets first.
Status ScanParallel(const LogicalPlan& plan, FileSystem* fs, const ExecLimits& limits, const JoinTable* join,
                    MemoryBudget* budget, Runner* query, ExecStats* stats) {
  const std::vector<Unit> units = Units(plan, std::max<int64_t>(limits.unit_rows, 1));
  std::mutex mu;
  std::vector<std::unique_ptr<Runner>> done(units.size());
  size_t next = 0, merged = 0, failed_unit = units.size();
  bool merging = false;             // a thread is merging (outside mu): others only hand their units over
  std::atomic<bool> enough{false};  // the query has LIMIT's rows: no more units
  Status failure;
  auto fail = [&](size_t unit, Status s) {  // under mu
    if (unit < failed_unit) failed_unit = unit, failure = std::move(s);
  };
  auto work = [&] {
    for (;;) {
      size_t i;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (next >= units.size() || failed_unit < units.size() || enough.load()) return;
        i = next++;
      }
      auto part = std::make_unique<Runner>(plan, limits, join, budget, static_cast<uint64_t>(i) << 32);
      ExecStats st;
      Status s = ScanUnit(plan, fs, units[i], part.get(), &st);
      std::unique_lock<std::mutex> lock(mu);
      stats->files_read += st.files_read, stats->row_groups_read += st.row_groups_read;
      stats->rows_scanned += st.rows_scanned;
      if (!s.ok()) {
        fail(i, std::move(s));
        continue;
      }
      done[i] = std::move(part);
      if (merging) continue;  // the merging thread takes it in its turn
      // Merge the units ready in order, one at a time outside the lock, so
      // the other threads go on scanning meanwhile.
      merging = true;
      while (merged < units.size() && done[merged]) {
        std::unique_ptr<Runner> ready = std::move(done[merged]);
        const size_t at = merged++;
        lock.unlock();
        Status m = query->Merge(*ready);
        ready.reset();
        if (query->Enough()) enough = true;
        lock.lock();
        if (!m.ok()) fail(at, std::move(m));
      }
      merging = false;
    }
  };
  const size_t n = std::min(units.size(), static_cast<size_t>(std::clamp(limits.threads, 1, 256)));
  std::vector<std::thread> helpers;
  for (size_t t = 1; t < n; ++t) helpers.emplace_back(work);
  work();
  for (std::thread& t : helpers) t.join();
  return failure;
}

// JOIN: the right table's rows (its plan run to the end) in a hash table by
// key; rows whose key is NULL never match.
Status BuildJoin(const LogicalPlan& plan, FileSystem* fs, const ExecLimits& limits, MemoryBudget* budget,
                 JoinTable* join) {
  ASSIGN_OR_RETURN(QueryResult build, Execute(*plan.join->build, fs, limits));
  const size_t key = plan.join->build_columns, n = build.rows.size();
  join->cols.resize(key);
  for (size_t c = 0; c < key; ++c) {
    join->cols[c].Resize(plan.join->build->outputs[c].type, n);
    for (size_t r = 0; r < n; ++r) join->cols[c].Set(r, build.rows[r][c]);
  }
  Vec keys;
  keys.Resize(plan.join->build->outputs[key].type, n);
  for (size_t r = 0; r < n; ++r) keys.Set(r, build.rows[r][key]);
  std::vector<std::string> enc(n);
  AppendKeys(keys, enc);
  int64_t bytes = 0;
  for (size_t r = 0; r < n; ++r) {
    bytes += static_cast<int64_t>(enc[r].size() + 64 + build.rows[r].size() * (sizeof(Value) + 16));
    if (!keys.null[r]) join->index[std::move(enc[r])].push_back(static_cast<uint32_t>(r));
  }
  budget->used.fetch_add(bytes, std::memory_order_relaxed);
  return Status::Ok();
}

}  // namespace

Result<QueryResult> Execute(const LogicalPlan& plan, FileSystem* fs, const ExecLimits& limits) {
  QueryResult result;
  for (size_t c = 0; c < plan.visible; ++c) {
    result.names.push_back(plan.outputs[c].name);
    result.types.push_back(plan.outputs[c].type);
  }
  MemoryBudget budget;
  JoinTable join;
  Runner runner(plan, limits, &join, &budget, 0);
  if (plan.join && !plan.always_empty) {
    RETURN_IF_ERROR(BuildJoin(plan, fs, limits, &budget, &join));
    RETURN_IF_ERROR(runner.CheckLimits());
  }
  RETURN_IF_ERROR(ScanParallel(plan, fs, limits, &join, &budget, &runner, &result.stats));
  if (plan.no_from && !plan.always_empty) {
    Batch one;
    one.n = 1;
    RETURN_IF_ERROR(runner.Process(std::move(one)));
  }
  if (plan.subquery && !plan.always_empty) {
    // FROM (subquery): its rows, in batches, are the scan (or the rows given with the plan).
    QueryResult sub;
    if (!plan.given_rows) {
      ASSIGN_OR_RETURN(sub, Execute(*plan.subquery, fs, limits));
      result.stats = sub.stats;
    }
    const std::vector<std::vector<Value>>& rows = plan.given_rows ? *plan.given_rows : sub.rows;
    for (size_t begin = 0; begin < rows.size() && !runner.Enough(); begin += kBatchRows) {
      const size_t end = std::min(rows.size(), begin + kBatchRows);
      Batch b;
      b.n = end - begin;
      for (int c : plan.scan_columns) {
        Vec v;
        v.Resize(plan.table.columns[c].type, b.n);
        for (size_t r = begin; r < end; ++r) v.Set(r - begin, rows[r][c]);
        b.cols.push_back(std::move(v));
      }
      RETURN_IF_ERROR(runner.Process(std::move(b)));
    }
  }
  ASSIGN_OR_RETURN(result.rows, runner.Finish());
  SortRows(plan, result.rows);
  const size_t begin = std::min(result.rows.size(), static_cast<size_t>(std::max<int64_t>(plan.offset, 0)));
  result.rows.erase(result.rows.begin(), result.rows.begin() + static_cast<std::ptrdiff_t>(begin));
  if (plan.limit && static_cast<int64_t>(result.rows.size()) > *plan.limit)
    result.rows.resize(static_cast<size_t>(std::max<int64_t>(*plan.limit, 0)));
  for (auto& row : result.rows) row.resize(plan.visible);  // drop the sort-only columns and sequence numbers
  return result;
}

}  // namespace watershed::query
