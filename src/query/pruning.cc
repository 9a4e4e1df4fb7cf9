// Which data files and row groups a plan reads (planner.h, "Pruning"), and
// EXPLAIN's text.

#include <cstring>
#include <set>

#include "lake/iceberg_commit.h"
#include "lake/iceberg_transform.h"
#include "lake/parquet.h"
#include "query/planner.h"
#include "query/value_compare.h"

namespace watershed::query {
namespace {

constexpr int64_t kHourMicros = 3'600'000'000;
constexpr int64_t kDayMicros = 24 * kHourMicros;

// A bound as Iceberg (Appendix D) or Parquet statistics (PLAIN) serialize
// it: little-endian 4- or 8-byte integers, raw bytes otherwise. Doubles are
// not used for pruning (nullopt).
std::optional<Value> DecodeBound(std::string_view bytes, ColumnType t) {
  Value v;
  if (t == ColumnType::kString || t == ColumnType::kUuid) {
    v.s = std::string(bytes);
    return v;
  }
  if (t == ColumnType::kDouble) return std::nullopt;
  if (bytes.size() == 8) {
    std::memcpy(&v.i, bytes.data(), 8);
  } else if (bytes.size() == 4) {
    int32_t x;
    std::memcpy(&x, bytes.data(), 4);
    v.i = x;
  } else {
    return std::nullopt;
  }
  return v;
}

// Whether the file's partition value for `pf` may hold rows matching p.
bool PartitionMayMatch(const lake::IcebergPartitionField& pf, int32_t value, const Predicate& p, ColumnType t) {
  if (t != ColumnType::kBigint && t != ColumnType::kTimestamp) return true;
  Value lo, hi;
  if (pf.transform == "hour" || pf.transform == "day") {
    const int64_t width = pf.transform == "hour" ? kHourMicros : kDayMicros;
    // A partition value from a hostile manifest may put the range past
    // BIGINT: such a file is read, never skipped.
    if (__builtin_mul_overflow(int64_t{value}, width, &lo.i) || __builtin_add_overflow(lo.i, width - 1, &hi.i))
      return true;
    return MayMatch(p, t, lo, hi);
  }
  if (pf.transform == "identity") {
    lo.i = hi.i = value;
    return MayMatch(p, t, lo, hi);
  }
  if (pf.transform.starts_with("bucket[") && !p.negated && (p.op == PredOp::kEq || p.op == PredOp::kIn)) {
    const int32_t n = std::atoi(pf.transform.c_str() + 7);
    if (n <= 0) return true;
    for (const Value& v : p.values)
      if (lake::iceberg::Bucket(n, lake::iceberg::HashLong(v.i)) == value) return true;
    return false;
  }
  return true;
}

bool FileMayMatch(const LogicalPlan& plan, const lake::DataFileInfo& f) {
  for (const Predicate& p : plan.filters) {
    const CatalogColumn& c = plan.table.columns[plan.scan_columns[p.column]];
    const auto& spec = plan.table.metadata.partition_spec;
    for (size_t i = 0; i < spec.size() && i < f.partition.size(); ++i)
      if (spec[i].source_id == c.field_id && f.partition[i] && !PartitionMayMatch(spec[i], *f.partition[i], p, c.type))
        return false;
    if (p.op == PredOp::kIsNull) {
      auto nulls = f.null_value_counts.find(c.field_id);
      if (nulls != f.null_value_counts.end()) {
        if (!p.negated && nulls->second == 0) return false;
        if (p.negated && nulls->second == f.record_count) return false;
      }
      continue;
    }
    auto lo = f.lower_bounds.find(c.field_id);
    auto hi = f.upper_bounds.find(c.field_id);
    if (lo == f.lower_bounds.end() || hi == f.upper_bounds.end()) continue;
    auto lv = DecodeBound(lo->second, c.type), hv = DecodeBound(hi->second, c.type);
    // A string bound may be truncated: only an exact-length uuid/int bound is
    // trusted.
    if (lv && hv && c.type != ColumnType::kString && !MayMatch(p, c.type, *lv, *hv)) return false;
  }
  return true;
}

bool RowGroupMayMatch(const LogicalPlan& plan, const lake::ParquetReader& r, const lake::RowGroupInfo& rg) {
  for (const Predicate& p : plan.filters) {
    const CatalogColumn& c = plan.table.columns[plan.scan_columns[p.column]];
    const int idx = r.ColumnIndex(c.name);
    if (idx < 0 || static_cast<size_t>(idx) >= rg.columns.size()) continue;
    const lake::ChunkStatistics& st = rg.columns[idx].statistics;
    if (p.op == PredOp::kIsNull) {
      if (st.null_count && !p.negated && *st.null_count == 0) return false;
      if (st.null_count && p.negated && *st.null_count == rg.num_rows) return false;
      continue;
    }
    if (!st.min_value || !st.max_value) continue;
    auto lv = DecodeBound(*st.min_value, c.type), hv = DecodeBound(*st.max_value, c.type);
    if (lv && hv && !MayMatch(p, c.type, *lv, *hv)) return false;
  }
  return true;
}

}  // namespace

Status PruneFiles(FileSystem* fs, LogicalPlan* plan) {
  ASSIGN_OR_RETURN(std::vector<lake::ManifestEntry> live, lake::ListLiveFiles(fs, plan->table.metadata));
  for (const lake::ManifestEntry& e : live) {
    ++plan->stats.files_considered;
    if (!FileMayMatch(*plan, e.file)) continue;
    ++plan->stats.files_read;
    ASSIGN_OR_RETURN(std::unique_ptr<lake::ParquetReader> r, lake::ParquetReader::Open(fs, e.file.path));
    FileScan scan{e.file.path, {}, {}};
    const auto& groups = r->info().row_groups;
    for (size_t g = 0; g < groups.size(); ++g) {
      ++plan->stats.row_groups_considered;
      if (RowGroupMayMatch(*plan, *r, groups[g]))
        scan.row_groups.push_back(static_cast<int>(g)), scan.rows.push_back(groups[g].num_rows);
    }
    plan->stats.row_groups_read += static_cast<int64_t>(scan.row_groups.size());
    if (!scan.row_groups.empty()) plan->files.push_back(std::move(scan));
  }
  return Status::Ok();
}

std::string Explain(const LogicalPlan& plan) {
  std::string out;
  auto column = [&](int scan) { return plan.table.columns[plan.scan_columns[scan]].name; };
  auto join = [](const std::vector<std::string>& v, const char* sep) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
    return s;
  };
  if (plan.limit || plan.offset)
    out += "Limit " + (plan.limit ? std::to_string(*plan.limit) : std::string("ALL")) + " offset " +
           std::to_string(plan.offset) + "\n";
  if (!plan.order_by.empty()) {
    std::vector<std::string> keys;
    for (const SortKey& k : plan.order_by)
      keys.push_back(plan.outputs[k.output].name + (k.descending ? " DESC" : " ASC") +
                     (k.nulls_first ? " NULLS FIRST" : " NULLS LAST"));
    out += "Sort " + join(keys, ", ") + "\n";
  }
  std::vector<std::string> outs;
  for (size_t i = 0; i < plan.visible; ++i)
    outs.push_back(plan.outputs[i].expr.text == plan.outputs[i].name
                       ? plan.outputs[i].name
                       : plan.outputs[i].expr.text + " AS " + plan.outputs[i].name);
  out += "Project " + join(outs, ", ") + "\n";
  if (plan.distinct) out += "Distinct\n";
  if (plan.having) out += "Filter " + plan.having->text + "\n";
  if (plan.aggregate) {
    std::vector<std::string> keys, aggs;
    for (const BoundExpr& k : plan.group_keys) keys.push_back(k.text);
    for (const Aggregate& a : plan.aggregates) aggs.push_back(a.text);
    out += "HashAggregate keys [" + join(keys, ", ") + "] aggregates [" + join(aggs, ", ") + "]\n";
  }
  if (plan.always_empty) out += "Empty (WHERE is never true)\n";
  if (!plan.residual.empty()) {
    std::vector<std::string> conds;
    for (const BoundExpr& e : plan.residual) conds.push_back(e.text);
    out += "Filter " + join(conds, " AND ") + " (after the scan)\n";
  }
  if (!plan.filters.empty()) {
    std::vector<std::string> conds;
    for (const Predicate& p : plan.filters) conds.push_back(p.text);
    out += "Filter " + join(conds, " AND ") + " (pushed into pruning)\n";
  }
  if (plan.no_from) return out + "Values (one row, no FROM)\n";
  if (plan.join) {
    const PruneStats& b = plan.join->build->stats;
    out += "HashJoin " + plan.join->text + " (the right side built in memory)\n";
    out += "  Scan " + plan.join->build->table.name + " columns [" + std::to_string(plan.join->build_columns) +
           "]: files " + std::to_string(b.files_read) + "/" + std::to_string(b.files_considered) +
           " read, row groups " + std::to_string(b.row_groups_read) + "/" + std::to_string(b.row_groups_considered) +
           " read\n";
  }
  std::vector<std::string> cols;
  for (size_t i = 0; i < plan.scan_columns.size(); ++i) cols.push_back(column(static_cast<int>(i)));
  out += (plan.subquery ? "Scan subquery " : "Scan ") + plan.table.name + " columns [" + join(cols, ", ") + "]\n";
  if (plan.subquery) {
    out += "Subquery " + plan.table.name + "\n";
    std::string inner = Explain(*plan.subquery), indented;
    for (size_t at = 0; at < inner.size();) {
      size_t nl = inner.find('\n', at);
      if (nl == std::string::npos) nl = inner.size() - 1;
      indented += "  " + inner.substr(at, nl - at + 1);
      at = nl + 1;
    }
    return out + indented;
  }
  const PruneStats& s = plan.stats;
  out += "Pruning " + plan.table.name + ": files " + std::to_string(s.files_read) + "/" +
         std::to_string(s.files_considered) + " read, row groups " + std::to_string(s.row_groups_read) + "/" +
         std::to_string(s.row_groups_considered) + " read\n";
  return out;
}

}  // namespace watershed::query
