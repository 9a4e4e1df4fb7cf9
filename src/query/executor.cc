#include "query/executor.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "lake/parquet.h"
#include "query/hll.h"
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
    case ColumnType::kTimestamp:
    case ColumnType::kBoolean:
    case ColumnType::kInterval: {
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

// The selected rows of a decoded column as a Vec (one type switch).
void GatherColumn(const ColumnVector& c, const std::vector<uint32_t>& sel, Vec* out) {
  out->Resize(c.type, sel.size());
  for (size_t j = 0; j < sel.size(); ++j) out->null[j] = c.IsNull(sel[j]);
  switch (c.type) {
    case ColumnType::kDouble:
      for (size_t j = 0; j < sel.size(); ++j)
        if (!out->null[j]) out->d[j] = c.Dbl(sel[j]);
      return;
    case ColumnType::kString:
    case ColumnType::kUuid:
      for (size_t j = 0; j < sel.size(); ++j)
        if (!out->null[j]) out->s[j] = c.Str(sel[j]);
      return;
    default:
      for (size_t j = 0; j < sel.size(); ++j)
        if (!out->null[j]) out->i[j] = c.Int(sel[j]);
      return;
  }
}

// Appends each row's value of v to its key (NULL distinct from any value).
void AppendKeys(const Vec& v, std::vector<std::string>& keys) {
  for (size_t r = 0; r < v.n; ++r) {
    keys[r].push_back(v.null[r] ? '\0' : '\1');
    if (v.null[r]) continue;
    if (v.type == ColumnType::kString || v.type == ColumnType::kUuid) {
      const uint32_t n = static_cast<uint32_t>(v.s[r].size());
      keys[r].append(reinterpret_cast<const char*>(&n), 4).append(v.s[r]);
    } else {
      const int64_t x = v.type == ColumnType::kDouble ? std::bit_cast<int64_t>(v.d[r] == 0 ? 0.0 : v.d[r]) : v.i[r];
      keys[r].append(reinterpret_cast<const char*>(&x), 8);
    }
  }
}

struct AggState {
  int64_t count = 0;
  Int128 isum = 0;  // exact whatever the order: only SUM's final value must fit BIGINT
  double dsum = 0;
  Value min, max;                                             // valid when count > 0
  std::unique_ptr<std::unordered_set<std::string>> distinct;  // COUNT(DISTINCT x)
  std::unique_ptr<HyperLogLog> hll;                           // approx_count_distinct(x)
};

bool IsString(ColumnType t) { return t == ColumnType::kString || t == ColumnType::kUuid; }

class Runner {
 public:
  Runner(const LogicalPlan& plan, const ExecLimits& limits) : plan_(plan), limits_(limits) {
    if (plan_.aggregate && plan_.group_keys.empty()) NewGroup({});  // one row even over no input
    needed_.assign(plan_.scan_columns.size() + (plan_.join ? plan_.join->build_columns : 0), false);
    if (plan_.join) Need(plan_.join->probe_key);
    for (const BoundExpr& e : plan_.residual) Need(e);
    for (const BoundExpr& e : plan_.group_keys) Need(e);
    for (const Aggregate& a : plan_.aggregates) Need(a.arg);
    if (!plan_.aggregate)
      for (const OutputColumn& o : plan_.outputs) Need(o.expr);
  }

  // Rows [begin, end) of a decoded row group.
  Status Slice(const std::vector<ColumnVector>& cols, size_t begin, size_t end) {
    RETURN_IF_ERROR(CheckLimits());
    std::vector<uint32_t> sel(end - begin);
    for (size_t i = begin; i < end; ++i) sel[i - begin] = static_cast<uint32_t>(i);
    for (const Predicate& p : plan_.filters) Filter(sel, cols[p.column], p);
    if (sel.empty()) return Status::Ok();
    Batch b;
    b.n = sel.size();
    b.cols.resize(cols.size());
    for (size_t c = 0; c < cols.size(); ++c) {
      if (needed_[c]) {
        GatherColumn(cols[c], sel, &b.cols[c]);
      } else {
        b.cols[c].Resize(cols[c].type, b.n);
      }
    }
    if (plan_.join) RETURN_IF_ERROR(JoinBatch(b));
    return Process(std::move(b));
  }

  // JOIN: the right table's rows (its plan run to the end) in a hash table
  // by key; rows whose key is NULL never match.
  Status BuildJoin(FileSystem* fs) {
    ASSIGN_OR_RETURN(QueryResult build, Execute(*plan_.join->build, fs, limits_));
    build_rows_ = std::move(build.rows);
    const size_t key = plan_.join->build_columns;
    Vec keys;
    keys.Resize(plan_.join->build->outputs[key].type, build_rows_.size());
    for (size_t r = 0; r < build_rows_.size(); ++r) keys.Set(r, build_rows_[r][key]);
    std::vector<std::string> enc(build_rows_.size());
    AppendKeys(keys, enc);
    for (size_t r = 0; r < build_rows_.size(); ++r) {
      memory_ += static_cast<int64_t>(enc[r].size() + 64 + build_rows_[r].size() * sizeof(Value));
      if (!keys.null[r]) build_index_[std::move(enc[r])].push_back(static_cast<uint32_t>(r));
    }
    return CheckLimits();
  }

  // Replaces the batch by its join with the right table's rows.
  Status JoinBatch(Batch& b) {
    Vec key;
    RETURN_IF_ERROR(Eval(plan_.join->probe_key, b, &key));
    std::vector<std::string> enc(b.n);
    AppendKeys(key, enc);
    std::vector<uint32_t> probe;
    std::vector<int64_t> match;  // -1: none (LEFT JOIN)
    // One batch may join to many rows each (a key shared by many build
    // rows): the output counts against query-memory before it is made.
    const int64_t row_bytes = 16 * static_cast<int64_t>(b.cols.size() + plan_.join->build_columns + 1);
    for (size_t r = 0; r < b.n; ++r) {
      auto it = key.null[r] ? build_index_.end() : build_index_.find(enc[r]);
      if (it != build_index_.end()) {
        if (limits_.max_memory_bytes > 0 &&
            memory_ + static_cast<int64_t>(probe.size() + it->second.size()) * row_bytes > limits_.max_memory_bytes)
          return MemoryExceeded();
        for (uint32_t k : it->second) probe.push_back(static_cast<uint32_t>(r)), match.push_back(k);
      } else if (plan_.join->left) {
        probe.push_back(static_cast<uint32_t>(r)), match.push_back(-1);
      }
    }
    Batch out = Gather(b, probe);
    for (size_t c = 0; c < plan_.join->build_columns; ++c) {
      Vec v;
      v.Resize(plan_.join->build->outputs[c].type, out.n);
      for (size_t j = 0; j < out.n; ++j)
        if (match[j] >= 0) v.Set(j, build_rows_[static_cast<size_t>(match[j])][c]);
      out.cols.push_back(std::move(v));
    }
    b = std::move(out);
    return Status::Ok();
  }

  // A batch of the scan's columns, pushed-down filters applied.
  Status Process(Batch b) {
    RETURN_IF_ERROR(CheckLimits());
    for (const BoundExpr& e : plan_.residual) {
      Vec keep;
      RETURN_IF_ERROR(Eval(e, b, &keep));
      std::vector<uint32_t> rows = TrueRows(keep);
      if (rows.size() != b.n) b = Gather(b, rows);
      if (b.n == 0) return Status::Ok();
    }
    if (!plan_.aggregate) return Project(b, rows_);
    return Accumulate(b);
  }

  Result<std::vector<std::vector<Value>>> Finish() {
    std::vector<std::vector<Value>> out;
    if (!plan_.aggregate) {
      out = std::move(rows_);
    } else {
      for (size_t begin = 0; begin < keys_.size(); begin += kBatchRows) {
        RETURN_IF_ERROR(CheckLimits());
        ASSIGN_OR_RETURN(Batch b, GroupBatch(begin, std::min(keys_.size(), begin + kBatchRows)));
        if (plan_.having) {
          Vec keep;
          RETURN_IF_ERROR(Eval(*plan_.having, b, &keep));
          std::vector<uint32_t> rows = TrueRows(keep);
          if (rows.size() != b.n) b = Gather(b, rows);
        }
        RETURN_IF_ERROR(Project(b, out));
      }
    }
    if (plan_.distinct) {
      std::unordered_set<std::string> seen;
      size_t k = 0;
      for (size_t r = 0; r < out.size(); ++r) {
        std::string key;
        for (size_t c = 0; c < plan_.visible; ++c) {
          Vec v;
          v.Resize(plan_.outputs[c].type, 1);
          v.Set(0, out[r][c]);
          std::vector<std::string> one(1);
          AppendKeys(v, one);
          key += one[0];
        }
        memory_ += static_cast<int64_t>(key.size() + 64);
        if (seen.insert(std::move(key)).second) {
          if (k != r) out[k] = std::move(out[r]);
          ++k;
        }
      }
      out.resize(k);
      RETURN_IF_ERROR(CheckLimits());
    }
    return out;
  }

  // Rows already enough for LIMIT (no ORDER BY, aggregate or DISTINCT): the
  // scan may stop.
  bool Enough() const {
    return !plan_.aggregate && !plan_.distinct && plan_.order_by.empty() && plan_.limit &&
           rows_.size() >= static_cast<uint64_t>(*plan_.limit) + static_cast<uint64_t>(plan_.offset);
  }

 private:
  void Need(const BoundExpr& e) {
    if (e.kind == BKind::kColumn) needed_[e.column] = true;
    for (const BoundExpr& a : e.args) Need(a);
  }

  Status CheckLimits() const {
    if (limits_.cancel && limits_.cancel->load(std::memory_order_relaxed))
      return Status::Unavailable("query cancelled");
    if (limits_.deadline && std::chrono::steady_clock::now() > *limits_.deadline)
      return Status::Unavailable("query ran past its time limit (query-timeout)");
    if (limits_.max_memory_bytes > 0 && memory_ > limits_.max_memory_bytes) return MemoryExceeded();
    return Status::Ok();
  }

  Status MemoryExceeded() const {
    return Status::TooLarge("query needs more than " +
                            (limits_.max_memory_bytes >= (1 << 20)
                                 ? std::to_string(limits_.max_memory_bytes >> 20) + " MiB"
                                 : std::to_string(limits_.max_memory_bytes >> 10) + " KiB") +
                            " (query-memory)");
  }

  // Evaluates the output expressions over b and appends its rows.
  Status Project(const Batch& b, std::vector<std::vector<Value>>& out) {
    std::vector<Vec> cols(plan_.outputs.size());
    for (size_t c = 0; c < cols.size(); ++c) RETURN_IF_ERROR(Eval(plan_.outputs[c].expr, b, &cols[c]));
    for (size_t r = 0; r < b.n; ++r) {
      std::vector<Value> row;
      row.reserve(cols.size());
      for (const Vec& v : cols) {
        row.push_back(v.Get(r));
        memory_ += static_cast<int64_t>(sizeof(Value) + row.back().s.size());
      }
      out.push_back(std::move(row));
    }
    return Status::Ok();
  }

  void NewGroup(std::vector<Value> key) {
    keys_.push_back(std::move(key));
    states_.resize(states_.size() + plan_.aggregates.size());
    memory_ += static_cast<int64_t>(plan_.aggregates.size() * sizeof(AggState) + 64);
  }

  Status Accumulate(const Batch& b) {
    std::vector<uint32_t> gid(b.n, 0);
    if (!plan_.group_keys.empty()) {
      std::vector<Vec> kv(plan_.group_keys.size());
      std::vector<std::string> enc(b.n);
      for (size_t k = 0; k < kv.size(); ++k) {
        RETURN_IF_ERROR(Eval(plan_.group_keys[k], b, &kv[k]));
        AppendKeys(kv[k], enc);
      }
      for (size_t r = 0; r < b.n; ++r) {
        auto [it, fresh] = index_.try_emplace(std::move(enc[r]), static_cast<uint32_t>(keys_.size()));
        if (fresh) {
          std::vector<Value> key;
          for (const Vec& v : kv) key.push_back(v.Get(r));
          memory_ += static_cast<int64_t>(2 * it->first.size() + kv.size() * sizeof(Value));
          NewGroup(std::move(key));
        }
        gid[r] = it->second;
      }
    }
    const size_t na = plan_.aggregates.size();
    for (size_t a = 0; a < na; ++a) {
      const Aggregate& agg = plan_.aggregates[a];
      auto state = [&](size_t r) -> AggState& { return states_[gid[r] * na + a]; };
      if (agg.kind == AggKind::kCountStar) {
        for (size_t r = 0; r < b.n; ++r) ++state(r).count;
        continue;
      }
      Vec x;
      RETURN_IF_ERROR(Eval(agg.arg, b, &x));
      const uint8_t* nul = x.null.data();
      switch (agg.kind) {
        case AggKind::kCount:
          for (size_t r = 0; r < b.n; ++r) state(r).count += !nul[r];
          break;
        case AggKind::kSum:
        case AggKind::kAvg:
          if (x.type == ColumnType::kDouble) {
            for (size_t r = 0; r < b.n; ++r)
              if (!nul[r]) state(r).dsum += x.d[r], ++state(r).count;
          } else {
            for (size_t r = 0; r < b.n; ++r)
              if (!nul[r]) state(r).isum += x.i[r], ++state(r).count;
          }
          break;
        case AggKind::kMin:
        case AggKind::kMax: {
          const bool is_min = agg.kind == AggKind::kMin;
          auto better = [is_min](const auto& v, const auto& cur) { return is_min ? v < cur : v > cur; };
          for (size_t r = 0; r < b.n; ++r) {
            if (nul[r]) continue;
            AggState& s = state(r);
            Value& cur = is_min ? s.min : s.max;
            if (x.type == ColumnType::kDouble) {
              if (s.count == 0 || better(x.d[r], cur.d)) cur.d = x.d[r];
            } else if (IsString(x.type)) {
              if (s.count == 0 || better(x.s[r], std::string_view(cur.s))) cur.s.assign(x.s[r]);
            } else {
              if (s.count == 0 || better(x.i[r], cur.i)) cur.i = x.i[r];
            }
            ++s.count;
          }
          break;
        }
        case AggKind::kCountDistinct:
        case AggKind::kApproxDistinct: {
          std::vector<std::string> enc(b.n);
          AppendKeys(x, enc);
          for (size_t r = 0; r < b.n; ++r) {
            if (nul[r]) continue;
            AggState& s = state(r);
            if (agg.kind == AggKind::kApproxDistinct) {
              if (!s.hll) {
                s.hll = std::make_unique<HyperLogLog>();
                memory_ += static_cast<int64_t>(HyperLogLog::kRegisters);
              }
              s.hll->Add(HashBytes(enc[r]));
              continue;
            }
            if (!s.distinct) s.distinct = std::make_unique<std::unordered_set<std::string>>();
            const size_t bytes = enc[r].size();
            if (s.distinct->insert(std::move(enc[r])).second) memory_ += static_cast<int64_t>(bytes + 48);
          }
          break;
        }
        case AggKind::kCountStar:
          break;
      }
    }
    return Status::Ok();
  }

  // Groups [begin, end) as a batch: the keys, then the aggregates' values.
  Result<Batch> GroupBatch(size_t begin, size_t end) {
    Batch b;
    b.n = end - begin;
    const size_t nk = plan_.group_keys.size(), na = plan_.aggregates.size();
    b.cols.resize(nk + na);
    for (size_t k = 0; k < nk; ++k) {
      b.cols[k].Resize(plan_.group_keys[k].type, b.n);
      for (size_t g = begin; g < end; ++g) b.cols[k].Set(g - begin, keys_[g][k]);
    }
    for (size_t a = 0; a < na; ++a) {
      const Aggregate& agg = plan_.aggregates[a];
      Vec& out = b.cols[nk + a];
      out.Resize(agg.type, b.n);
      for (size_t g = begin; g < end; ++g) {
        const AggState& s = states_[g * na + a];
        Value v;
        switch (agg.kind) {
          case AggKind::kCountStar:
          case AggKind::kCount:
            v.i = s.count;
            break;
          case AggKind::kCountDistinct:
            v.i = s.distinct ? static_cast<int64_t>(s.distinct->size()) : 0;
            break;
          case AggKind::kApproxDistinct:
            v.i = s.hll ? s.hll->Estimate() : 0;
            break;
          case AggKind::kSum:
            v.null = s.count == 0;
            if (agg.type == ColumnType::kDouble) {
              v.d = s.dsum;
            } else {
              if (s.isum > INT64_MAX || s.isum < INT64_MIN)
                return Status::InvalidArgument("SUM(" + agg.arg.text + ") overflows BIGINT");
              v.i = static_cast<int64_t>(s.isum);
            }
            break;
          case AggKind::kMin:
          case AggKind::kMax:
            v = agg.kind == AggKind::kMin ? s.min : s.max;
            v.null = s.count == 0;
            break;
          case AggKind::kAvg:
            v.null = s.count == 0;
            if (!v.null)
              v.d = agg.arg.type == ColumnType::kDouble ? s.dsum / static_cast<double>(s.count)
                                                        : static_cast<double>(s.isum) / static_cast<double>(s.count);
            break;
        }
        out.Set(g - begin, v);
      }
    }
    return b;
  }

  const LogicalPlan& plan_;
  const ExecLimits& limits_;
  std::vector<bool> needed_;  // per scan column: read by an expression
  int64_t memory_ = 0;        // bytes held in rows, groups and distinct sets (estimated)
  std::vector<std::vector<Value>> rows_;
  std::unordered_map<std::string, uint32_t> index_;
  std::vector<std::vector<Value>> build_rows_;                          // JOIN's right rows
  std::unordered_map<std::string, std::vector<uint32_t>> build_index_;  // by encoded key
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

Result<QueryResult> Execute(const LogicalPlan& plan, FileSystem* fs, const ExecLimits& limits) {
  QueryResult result;
  for (size_t c = 0; c < plan.visible; ++c) {
    result.names.push_back(plan.outputs[c].name);
    result.types.push_back(plan.outputs[c].type);
  }
  Runner runner(plan, limits);
  if (plan.join && !plan.always_empty) RETURN_IF_ERROR(runner.BuildJoin(fs));
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
      // Fixed-size batches: a row group is cut into slices of kBatchRows.
      for (size_t begin = 0; begin < rows && !runner.Enough(); begin += kBatchRows)
        RETURN_IF_ERROR(runner.Slice(cols, begin, std::min(rows, begin + kBatchRows)));
    }
  }
  if (plan.no_from && !plan.always_empty) {
    Batch one;
    one.n = 1;
    RETURN_IF_ERROR(runner.Process(std::move(one)));
  }
  if (plan.subquery && !plan.always_empty) {
    // FROM (subquery): its rows, in batches, are the scan.
    ASSIGN_OR_RETURN(QueryResult sub, Execute(*plan.subquery, fs, limits));
    result.stats = sub.stats;
    for (size_t begin = 0; begin < sub.rows.size() && !runner.Enough(); begin += kBatchRows) {
      const size_t end = std::min(sub.rows.size(), begin + kBatchRows);
      Batch b;
      b.n = end - begin;
      for (int c : plan.scan_columns) {
        Vec v;
        v.Resize(plan.table.columns[c].type, b.n);
        for (size_t r = begin; r < end; ++r) v.Set(r - begin, sub.rows[r][c]);
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
  for (auto& row : result.rows) row.resize(plan.visible);  // drop the sort-only columns
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
