#include "query/executor.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <memory>
#include <unordered_map>

#include "lake/parquet.h"
#include "query/value_compare.h"

namespace watershed::query {
namespace {

// A sum of up to 2^64 BIGINTs fits (GCC and Clang; __extension__: -Wpedantic).
__extension__ typedef __int128 Int128;

// One decoded column of a batch. idx maps a row to its value (-1: NULL)
// for a column with NULLs; empty otherwise (row i is value i).
struct ColumnVector {
  const lake::ColumnSpec* spec = nullptr;
  const lake::ColumnValues* v = nullptr;
  ColumnType type = ColumnType::kBigint;
  std::vector<int32_t> idx;

  bool IsNull(uint32_t r) const { return !idx.empty() && idx[r] < 0; }
  size_t Pos(uint32_t r) const { return idx.empty() ? r : static_cast<size_t>(idx[r]); }
  int64_t Int(uint32_t r) const { return v->ints[Pos(r)]; }
  double Dbl(uint32_t r) const { return v->doubles[Pos(r)]; }
  std::string_view Str(uint32_t r) const { return v->ByteValue(*spec, Pos(r)); }
  Value Get(uint32_t r) const {
    Value out;
    if (IsNull(r)) {
      out.null = true;
    } else if (type == ColumnType::kString || type == ColumnType::kUuid) {
      out.s = std::string(Str(r));
    } else if (type == ColumnType::kDouble) {
      out.d = Dbl(r);
    } else {
      out.i = Int(r);
    }
    return out;
  }
};

// Keeps the selected rows for which test(value) holds (NULL never does).
template <typename Get, typename Test>
void Keep(std::vector<uint32_t>& sel, const ColumnVector& c, Get get, Test test) {
  size_t k = 0;
  if (c.idx.empty()) {
    for (uint32_t r : sel)
      if (test(get(r))) sel[k++] = r;
  } else {
    for (uint32_t r : sel)
      if (!c.IsNull(r) && test(get(r))) sel[k++] = r;
  }
  sel.resize(k);
}

template <typename T, typename Get>
void FilterTyped(std::vector<uint32_t>& sel, const ColumnVector& c, Get get, const Predicate& p,
                 const std::vector<T>& vals) {
  const bool neg = p.negated;
  const T& a = vals[0];
  switch (p.op) {
    case PredOp::kEq:
      return Keep(sel, c, get, [&](const T& x) { return x == a; });
    case PredOp::kNe:
      return Keep(sel, c, get, [&](const T& x) { return x != a; });
    case PredOp::kLt:
      return Keep(sel, c, get, [&](const T& x) { return x < a; });
    case PredOp::kLe:
      return Keep(sel, c, get, [&](const T& x) { return x <= a; });
    case PredOp::kGt:
      return Keep(sel, c, get, [&](const T& x) { return x > a; });
    case PredOp::kGe:
      return Keep(sel, c, get, [&](const T& x) { return x >= a; });
    case PredOp::kBetween: {
      const T& b = vals[1];
      return Keep(sel, c, get, [&](const T& x) { return (a <= x && x <= b) != neg; });
    }
    case PredOp::kIn:
      return Keep(sel, c, get,
                  [&](const T& x) { return (std::find(vals.begin(), vals.end(), x) != vals.end()) != neg; });
    case PredOp::kIsNull:
      return;
  }
}

void Filter(std::vector<uint32_t>& sel, const ColumnVector& c, const Predicate& p) {
  if (p.op == PredOp::kIsNull) {
    size_t k = 0;
    for (uint32_t r : sel)
      if (c.IsNull(r) != p.negated) sel[k++] = r;
    sel.resize(k);
    return;
  }
  if (p.values.empty()) {  // IN () after NULLs were dropped: planned as always_empty
    sel.clear();
    return;
  }
  switch (c.type) {
    case ColumnType::kBigint:
    case ColumnType::kTimestamp: {
      std::vector<int64_t> vals;
      for (const Value& v : p.values) vals.push_back(v.i);
      return FilterTyped(
          sel, c, [&](uint32_t r) { return c.Int(r); }, p, vals);
    }
    case ColumnType::kDouble: {
      std::vector<double> vals;
      for (const Value& v : p.values) vals.push_back(v.d);
      return FilterTyped(
          sel, c, [&](uint32_t r) { return c.Dbl(r); }, p, vals);
    }
    case ColumnType::kString:
    case ColumnType::kUuid: {
      // string_view compares as char_traits<char>: unsigned bytes, as MayMatch
      // does.
      std::vector<std::string_view> vals;
      for (const Value& v : p.values) vals.push_back(v.s);
      return FilterTyped(
          sel, c, [&](uint32_t r) { return c.Str(r); }, p, vals);
    }
  }
}

struct AggState {
  int64_t count = 0;
  Int128 isum = 0;  // exact whatever the order: only SUM's final value must fit BIGINT
  double dsum = 0;
  Value min, max;  // valid when count > 0
};

class Runner {
 public:
  Runner(const LogicalPlan& plan) : plan_(plan) {
    if (plan_.aggregate && plan_.group_keys.empty()) NewGroup({});  // one row even over no input
  }

  Status Batch(const std::vector<ColumnVector>& cols, size_t rows) {
    std::vector<uint32_t> sel(rows);
    for (size_t i = 0; i < rows; ++i) sel[i] = static_cast<uint32_t>(i);
    for (const Predicate& p : plan_.filters) Filter(sel, cols[p.column], p);
    if (!plan_.aggregate) {
      for (uint32_t r : sel) {
        std::vector<Value> row;
        for (const OutputColumn& o : plan_.outputs) row.push_back(cols[o.index].Get(r));
        rows_.push_back(std::move(row));
      }
      return Status::Ok();
    }
    std::string key;
    for (uint32_t r : sel) {
      uint32_t g = 0;
      if (!plan_.group_keys.empty()) {
        key.clear();
        for (int k : plan_.group_keys) {
          const ColumnVector& c = cols[k];
          if (c.IsNull(r)) {
            key.push_back('\0');
            continue;
          }
          key.push_back('\1');
          if (c.type == ColumnType::kString || c.type == ColumnType::kUuid) {
            std::string_view s = c.Str(r);
            const uint32_t n = static_cast<uint32_t>(s.size());
            key.append(reinterpret_cast<const char*>(&n), 4).append(s);
          } else {
            const int64_t x = c.type == ColumnType::kDouble ? std::bit_cast<int64_t>(c.Dbl(r)) : c.Int(r);
            key.append(reinterpret_cast<const char*>(&x), 8);
          }
        }
        auto [it, fresh] = index_.try_emplace(key, static_cast<uint32_t>(keys_.size()));
        if (fresh) {
          std::vector<Value> kv;
          for (int k : plan_.group_keys) kv.push_back(cols[k].Get(r));
          NewGroup(std::move(kv));
        }
        g = it->second;
      }
      for (size_t a = 0; a < plan_.aggregates.size(); ++a) RETURN_IF_ERROR(Accumulate(cols, r, a, g));
    }
    return Status::Ok();
  }

  Result<std::vector<std::vector<Value>>> Finish() {
    if (!plan_.aggregate) return std::move(rows_);
    std::vector<std::vector<Value>> out;
    for (size_t g = 0; g < keys_.size(); ++g) {
      std::vector<Value> row;
      for (const OutputColumn& o : plan_.outputs) {
        if (!o.aggregate) {
          row.push_back(keys_[g][o.index]);
          continue;
        }
        const Aggregate& a = plan_.aggregates[o.index];
        const AggState& s = states_[g * plan_.aggregates.size() + o.index];
        Value v;
        v.null = s.count == 0 && a.kind != AggKind::kCount && a.kind != AggKind::kCountStar;
        switch (a.kind) {
          case AggKind::kCountStar:
          case AggKind::kCount:
            v.i = s.count;
            break;
          case AggKind::kSum:
            if (s.isum > INT64_MAX || s.isum < INT64_MIN)
              return Status::InvalidArgument("SUM(" + plan_.table.columns[plan_.scan_columns[a.column]].name +
                                             ") overflows BIGINT");
            v.i = static_cast<int64_t>(s.isum), v.d = s.dsum;
            break;
          case AggKind::kMin:
            if (!v.null) v = s.min;
            break;
          case AggKind::kMax:
            if (!v.null) v = s.max;
            break;
          case AggKind::kAvg:
            if (!v.null)
              v.d = ColumnOf(a) == ColumnType::kDouble ? s.dsum / s.count : static_cast<double>(s.isum) / s.count;
            break;
        }
        row.push_back(std::move(v));
      }
      out.push_back(std::move(row));
    }
    return out;
  }

  // Rows already enough for LIMIT (no ORDER BY, no aggregate): the scan may
  // stop.
  bool Enough() const {
    return !plan_.aggregate && plan_.order_by.empty() && plan_.limit &&
           rows_.size() >= static_cast<uint64_t>(*plan_.limit) + static_cast<uint64_t>(plan_.offset);
  }

 private:
  ColumnType ColumnOf(const Aggregate& a) const { return plan_.table.columns[plan_.scan_columns[a.column]].type; }

  void NewGroup(std::vector<Value> key) {
    keys_.push_back(std::move(key));
    states_.resize(states_.size() + plan_.aggregates.size());
  }

  Status Accumulate(const std::vector<ColumnVector>& cols, uint32_t r, size_t a, uint32_t g) {
    const Aggregate& agg = plan_.aggregates[a];
    AggState& s = states_[g * plan_.aggregates.size() + a];
    if (agg.kind == AggKind::kCountStar) {
      ++s.count;
      return Status::Ok();
    }
    const ColumnVector& c = cols[agg.column];
    if (c.IsNull(r)) return Status::Ok();
    switch (agg.kind) {
      case AggKind::kSum:
      case AggKind::kAvg:
        if (c.type == ColumnType::kDouble) {
          s.dsum += c.Dbl(r);
        } else {
          s.isum += c.Int(r);
        }
        break;
      case AggKind::kMin:
      case AggKind::kMax: {
        Value v = c.Get(r);
        Value& cur = agg.kind == AggKind::kMin ? s.min : s.max;
        const int cmp = CompareValues(v, cur, c.type);
        if (s.count == 0 || (agg.kind == AggKind::kMin ? cmp < 0 : cmp > 0)) cur = std::move(v);
        break;
      }
      default:
        break;
    }
    ++s.count;
    return Status::Ok();
  }

  const LogicalPlan& plan_;
  std::vector<std::vector<Value>> rows_;
  std::unordered_map<std::string, uint32_t> index_;
  std::vector<std::vector<Value>> keys_;
  std::vector<AggState> states_;
};

void SortRows(const LogicalPlan& plan, std::vector<std::vector<Value>>& rows) {
  if (plan.order_by.empty()) return;
  std::stable_sort(rows.begin(), rows.end(), [&](const std::vector<Value>& a, const std::vector<Value>& b) {
    for (const SortKey& k : plan.order_by) {
      const Value &x = a[k.output], &y = b[k.output];
      if (x.null || y.null) {
        if (x.null == y.null) continue;
        return x.null == k.nulls_first;
      }
      const int c = CompareValues(x, y, plan.outputs[k.output].type);
      if (c != 0) return k.descending ? c > 0 : c < 0;
    }
    return false;
  });
}

}  // namespace

Result<QueryResult> Execute(const LogicalPlan& plan, FileSystem* fs) {
  QueryResult result;
  for (const OutputColumn& o : plan.outputs) {
    result.names.push_back(o.name);
    result.types.push_back(o.type);
  }
  Runner runner(plan);
  for (const FileScan& f : plan.always_empty ? std::vector<FileScan>{} : plan.files) {
    if (runner.Enough()) break;
    ASSIGN_OR_RETURN(std::unique_ptr<lake::ParquetReader> r, lake::ParquetReader::Open(fs, f.path));
    ++result.stats.files_read;
    std::vector<int> columns;
    std::vector<ColumnVector> cols(plan.scan_columns.size());
    for (size_t i = 0; i < plan.scan_columns.size(); ++i) {
      const CatalogColumn& c = plan.table.columns[plan.scan_columns[i]];
      const int idx = r->ColumnIndex(c.name);
      if (idx < 0) return Status::Corruption(f.path + " has no column " + c.name);
      columns.push_back(idx);
      cols[i].spec = &r->info().schema[idx];
      cols[i].type = c.type;
    }
    for (int g : f.row_groups) {
      if (runner.Enough()) break;
      ASSIGN_OR_RETURN(std::vector<lake::ColumnValues> values, r->ReadRowGroup(g, columns));
      const size_t rows = static_cast<size_t>(r->info().row_groups[g].num_rows);
      for (size_t i = 0; i < cols.size(); ++i) {
        cols[i].v = &values[i];
        cols[i].idx.clear();
        if (!values[i].present.empty()) {
          int32_t next = 0;
          cols[i].idx.resize(rows);
          for (size_t row = 0; row < rows; ++row) cols[i].idx[row] = values[i].present[row] ? next++ : -1;
        }
      }
      ++result.stats.row_groups_read;
      result.stats.rows_scanned += static_cast<int64_t>(rows);
      RETURN_IF_ERROR(runner.Batch(cols, rows));
    }
  }
  ASSIGN_OR_RETURN(result.rows, runner.Finish());
  SortRows(plan, result.rows);
  const size_t begin = std::min(result.rows.size(), static_cast<size_t>(std::max<int64_t>(plan.offset, 0)));
  result.rows.erase(result.rows.begin(), result.rows.begin() + static_cast<std::ptrdiff_t>(begin));
  if (plan.limit && static_cast<int64_t>(result.rows.size()) > *plan.limit)
    result.rows.resize(static_cast<size_t>(std::max<int64_t>(*plan.limit, 0)));
  return result;
}

std::string FormatTable(const QueryResult& r) {
  std::vector<size_t> width(r.names.size());
  std::vector<std::vector<std::string>> cells;
  for (size_t c = 0; c < r.names.size(); ++c) width[c] = r.names[c].size();
  for (const auto& row : r.rows) {
    std::vector<std::string> line;
    for (size_t c = 0; c < row.size(); ++c) {
      line.push_back(FormatValue(row[c], r.types[c]));
      width[c] = std::max(width[c], line.back().size());
    }
    cells.push_back(std::move(line));
  }
  auto emit = [&](const std::vector<std::string>& line, std::string& out) {
    for (size_t c = 0; c < line.size(); ++c) {
      const bool right = r.types[c] == ColumnType::kBigint || r.types[c] == ColumnType::kDouble;
      const std::string pad(width[c] - line[c].size(), ' ');
      const bool last = c + 1 == line.size();  // no trailing spaces
      out += (c ? " | " : "") + (right ? pad + line[c] : last ? line[c] : line[c] + pad);
    }
    out += "\n";
  };
  std::string out;
  emit(r.names, out);
  for (size_t c = 0; c < width.size(); ++c) out += (c ? "-+-" : "") + std::string(width[c], '-');
  out += "\n";
  for (const auto& line : cells) emit(line, out);
  out += "(" + std::to_string(r.rows.size()) + (r.rows.size() == 1 ? " row)\n" : " rows)\n");
  return out;
}

std::string FormatJson(const QueryResult& r) {
  auto quote = [](std::string_view s) {
    std::string out = "\"";
    for (unsigned char ch : s) {
      if (ch == '"' || ch == '\\') {
        out += '\\';
        out += static_cast<char>(ch);
      } else if (ch < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", ch);
        out += buf;
      } else {
        out += static_cast<char>(ch);
      }
    }
    return out + "\"";
  };
  std::string out = "{\"columns\":[";
  for (size_t c = 0; c < r.names.size(); ++c)
    out += std::string(c ? "," : "") + "{\"name\":" + quote(r.names[c]) + ",\"type\":\"" + TypeName(r.types[c]) + "\"}";
  out += "],\"rows\":[";
  for (size_t i = 0; i < r.rows.size(); ++i) {
    out += i ? ",[" : "[";
    for (size_t c = 0; c < r.rows[i].size(); ++c) {
      const Value& v = r.rows[i][c];
      const bool number = r.types[c] == ColumnType::kBigint || r.types[c] == ColumnType::kDouble;
      out += c ? "," : "";
      out += v.null ? "null" : number ? FormatValue(v, r.types[c]) : quote(FormatValue(v, r.types[c]));
    }
    out += "]";
  }
  out += "],\"stats\":{\"files_read\":" + std::to_string(r.stats.files_read) +
         ",\"row_groups_read\":" + std::to_string(r.stats.row_groups_read) +
         ",\"rows_scanned\":" + std::to_string(r.stats.rows_scanned) + "}}\n";
  return out;
}

}  // namespace watershed::query
