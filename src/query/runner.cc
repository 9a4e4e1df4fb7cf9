#include "query/runner.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "query/value_compare.h"

namespace watershed::query {
namespace {

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
  const bool integers = c.type != ColumnType::kDouble && c.type != ColumnType::kString && c.type != ColumnType::kUuid;
  if (integers && c.idx.empty() && !sel.empty() && sel.back() - sel.front() + 1 == sel.size()) {
    // Every row of a run of a column without NULLs: one copy.
    out->type = c.type;
    out->n = sel.size();
    out->null.assign(sel.size(), 0);
    out->i.assign(c.v->ints.begin() + sel.front(), c.v->ints.begin() + sel.back() + 1);
    out->d.clear();
    out->s.clear();
    return;
  }
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

}  // namespace

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

namespace {

bool IsString(ColumnType t) { return t == ColumnType::kString || t == ColumnType::kUuid; }
bool IsInteger(ColumnType t) {
  return t == ColumnType::kBigint || t == ColumnType::kTimestamp || t == ColumnType::kBoolean ||
         t == ColumnType::kInterval;
}

// a before b in ORDER BY, ties broken by the rows' sequence numbers (last).
bool OrderedBefore(const LogicalPlan& plan, const std::vector<Value>& a, const std::vector<Value>& b) {
  for (const SortKey& k : plan.order_by) {
    const Value &x = a[k.output], &y = b[k.output];
    if (x.null || y.null) {
      if (x.null == y.null) continue;
      return x.null == k.nulls_first;
    }
    const int c = CompareValues(x, y, plan.outputs[k.output].type);
    if (c != 0) return k.descending ? c > 0 : c < 0;
  }
  return a.back().i < b.back().i;
}

int64_t RowBytes(const std::vector<Value>& row) {
  int64_t n = 0;
  for (const Value& v : row) n += static_cast<int64_t>(sizeof(Value) + v.s.size());
  return n;
}

}  // namespace

void SortRows(const LogicalPlan& plan, std::vector<std::vector<Value>>& rows) {
  if (plan.order_by.empty()) return;
  std::sort(rows.begin(), rows.end(),
            [&](const std::vector<Value>& a, const std::vector<Value>& b) { return OrderedBefore(plan, a, b); });
}

Runner::Runner(const LogicalPlan& plan, const ExecLimits& limits, const JoinTable* join, MemoryBudget* budget,
               uint64_t seq_base)
    : plan_(plan), limits_(limits), join_(join), budget_(budget), seq_(seq_base) {
  if (!plan_.order_by.empty() && plan_.limit && !plan_.distinct) {
    const uint64_t k = static_cast<uint64_t>(std::max<int64_t>(*plan_.limit, 0)) + static_cast<uint64_t>(plan_.offset);
    if (k < (uint64_t{1} << 24)) topn_ = true, k_ = static_cast<size_t>(k);
  }
  int_keys_ = plan_.group_keys.size() == 1 && IsInteger(plan_.group_keys[0].type);
  for (const Aggregate& a : plan_.aggregates)
    fast_distinct_.push_back(a.kind == AggKind::kCountDistinct && IsInteger(a.arg.type));
  pairs_.resize(plan_.aggregates.size());
  if (plan_.aggregate && plan_.group_keys.empty()) NewGroup({});  // one row even over no input
  needed_.assign(plan_.scan_columns.size() + (plan_.join ? plan_.join->build_columns : 0), false);
  if (plan_.join) Need(plan_.join->probe_key);
  for (const BoundExpr& e : plan_.residual) Need(e);
  for (const BoundExpr& e : plan_.group_keys) Need(e);
  for (const Aggregate& a : plan_.aggregates) Need(a.arg);
  if (!plan_.aggregate)
    for (const OutputColumn& o : plan_.outputs) Need(o.expr);
}

Runner::~Runner() { budget_->used.fetch_sub(published_, std::memory_order_relaxed); }

Status Runner::Slice(const std::vector<ColumnVector>& cols, size_t begin, size_t end) {
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

// Replaces the batch by its join with the right table's rows.
Status Runner::JoinBatch(Batch& b) {
  Vec key;
  RETURN_IF_ERROR(Eval(plan_.join->probe_key, b, &key));
  std::vector<std::string> enc(b.n);
  AppendKeys(key, enc);
  std::vector<uint32_t> probe;
  std::vector<int64_t> match;  // -1: none (LEFT JOIN)
  // One batch may join to many rows each (a key shared by many build
  // rows): the output counts against query-memory before it is made.
  const int64_t row_bytes = 16 * static_cast<int64_t>(b.cols.size() + plan_.join->build_columns + 1);
  const int64_t held = budget_->used.load(std::memory_order_relaxed) + memory_ - published_;
  for (size_t r = 0; r < b.n; ++r) {
    auto it = key.null[r] ? join_->index.end() : join_->index.find(enc[r]);
    if (it != join_->index.end()) {
      if (limits_.max_memory_bytes > 0 &&
          held + static_cast<int64_t>(probe.size() + it->second.size()) * row_bytes > limits_.max_memory_bytes)
        return MemoryExceeded();
      for (uint32_t k : it->second) probe.push_back(static_cast<uint32_t>(r)), match.push_back(k);
    } else if (plan_.join->left) {
      probe.push_back(static_cast<uint32_t>(r)), match.push_back(-1);
    }
  }
  Batch out = Gather(b, probe);
  for (size_t c = 0; c < plan_.join->build_columns; ++c) {
    const Vec& src = join_->cols[c];
    Vec v;
    v.Resize(src.type, out.n);
    v.owners = src.owners;
    for (size_t j = 0; j < out.n; ++j) {
      if (match[j] < 0) continue;
      const size_t m = static_cast<size_t>(match[j]);
      v.null[j] = src.null[m];
      if (src.type == ColumnType::kDouble) {
        v.d[j] = src.d[m];
      } else if (IsString(src.type)) {
        v.s[j] = src.s[m];
      } else {
        v.i[j] = src.i[m];
      }
    }
    out.cols.push_back(std::move(v));
  }
  b = std::move(out);
  return Status::Ok();
}

Status Runner::Process(Batch b) {
  RETURN_IF_ERROR(CheckLimits());
  for (const BoundExpr& e : plan_.residual) {
    Vec keep;
    RETURN_IF_ERROR(Eval(e, b, &keep));
    std::vector<uint32_t> rows = TrueRows(keep);
    if (rows.size() != b.n) b = Gather(b, rows);
    if (b.n == 0) return Status::Ok();
  }
  if (!plan_.aggregate) return Project(b);
  return Accumulate(b);
}

Result<std::vector<std::vector<Value>>> Runner::Finish() {
  // The merged units' distinct pairs, counted. (A Runner either merges
  // units or processes batches itself: never both.)
  const size_t na = plan_.aggregates.size();
  for (size_t a = 0; a < merged_.size(); ++a) merged_[a].Count([&](uint32_t g) { ++states_[g * na + a].count; });
  if (plan_.aggregate) {
    for (size_t begin = 0; begin < keys_.size(); begin += kBatchRows) {
      RETURN_IF_ERROR(CheckLimits());
      ASSIGN_OR_RETURN(Batch b, GroupBatch(begin, std::min(keys_.size(), begin + kBatchRows)));
      if (plan_.having) {
        Vec keep;
        RETURN_IF_ERROR(Eval(*plan_.having, b, &keep));
        std::vector<uint32_t> rows = TrueRows(keep);
        if (rows.size() != b.n) b = Gather(b, rows);
      }
      RETURN_IF_ERROR(Project(b));
    }
  }
  std::vector<std::vector<Value>> out = std::move(rows_);
  rows_.clear();
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

bool Runner::Enough() const {
  return !plan_.aggregate && !plan_.distinct && plan_.order_by.empty() && plan_.limit &&
         rows_.size() >= static_cast<uint64_t>(*plan_.limit) + static_cast<uint64_t>(plan_.offset);
}

void Runner::Need(const BoundExpr& e) {
  if (e.kind == BKind::kColumn) needed_[e.column] = true;
  for (const BoundExpr& a : e.args) Need(a);
}

Status Runner::CheckLimits() {
  budget_->used.fetch_add(memory_ - published_, std::memory_order_relaxed);
  published_ = memory_;
  if (limits_.cancel && limits_.cancel->load(std::memory_order_relaxed)) return Status::Unavailable("query cancelled");
  if (limits_.deadline && std::chrono::steady_clock::now() > *limits_.deadline)
    return Status::Unavailable("query ran past its time limit (query-timeout)");
  if (limits_.max_memory_bytes > 0 && budget_->used.load(std::memory_order_relaxed) > limits_.max_memory_bytes)
    return MemoryExceeded();
  return Status::Ok();
}

Status Runner::MemoryExceeded() const {
  return Status::TooLarge("query needs more than " +
                          (limits_.max_memory_bytes >= (1 << 20)
                               ? std::to_string(limits_.max_memory_bytes >> 20) + " MiB"
                               : std::to_string(limits_.max_memory_bytes >> 10) + " KiB") +
                          " (query-memory)");
}

// A collected row: appended, or kept in the heap of the best k_.
void Runner::AddRow(std::vector<Value> row) {
  const auto before = [this](const std::vector<Value>& a, const std::vector<Value>& b) {
    return OrderedBefore(plan_, a, b);
  };
  if (topn_) {
    if (k_ == 0) return;
    if (rows_.size() == k_ && !before(row, rows_.front())) return;  // not better than the worst kept
    memory_ += RowBytes(row);
    rows_.push_back(std::move(row));
    std::push_heap(rows_.begin(), rows_.end(), before);  // the worst on top
    if (rows_.size() > k_) {
      std::pop_heap(rows_.begin(), rows_.end(), before);
      memory_ -= RowBytes(rows_.back());
      rows_.pop_back();
    }
    return;
  }
  memory_ += RowBytes(row);
  rows_.push_back(std::move(row));
}

// Evaluates the output expressions over b and collects its rows.
Status Runner::Project(const Batch& b) {
  std::vector<Vec> cols(plan_.outputs.size());
  for (size_t c = 0; c < cols.size(); ++c) RETURN_IF_ERROR(Eval(plan_.outputs[c].expr, b, &cols[c]));
  const bool seq = !plan_.order_by.empty();
  for (size_t r = 0; r < b.n; ++r) {
    std::vector<Value> row;
    row.reserve(cols.size() + seq);
    for (const Vec& v : cols) row.push_back(v.Get(r));
    if (seq) {
      row.emplace_back();
      row.back().i = static_cast<int64_t>(seq_++);
    }
    AddRow(std::move(row));
  }
  return Status::Ok();
}

Status Runner::Merge(Runner& part) {
  memory_ += part.memory_;
  part.memory_ = 0;
  if (!plan_.aggregate) {
    for (auto& row : part.rows_) AddRow(std::move(row));
    part.rows_.clear();
    return CheckLimits();
  }
  // The part's groups in their order, found or added here.
  std::vector<uint32_t> remap(part.keys_.size(), 0);
  if (int_keys_) {
    for (size_t g = 0; g < part.keys_.size(); ++g) {
      const Value& k = part.keys_[g][0];
      remap[g] = GroupOfInt(k.null, k.i, &part.keys_[g], nullptr, 0);
    }
  } else if (!plan_.group_keys.empty()) {
    std::vector<const std::string*> enc(part.keys_.size());
    for (const auto& [key, g] : part.index_) enc[g] = &key;
    for (size_t g = 0; g < part.keys_.size(); ++g) {
      auto [it, fresh] = index_.try_emplace(*enc[g], static_cast<uint32_t>(keys_.size()));
      if (fresh) {
        memory_ += static_cast<int64_t>(2 * enc[g]->size() + part.keys_[g].size() * sizeof(Value));
        NewGroup(std::move(part.keys_[g]));
      }
      remap[g] = it->second;
    }
  }
  const size_t na = plan_.aggregates.size();
  for (size_t a = 0; a < na; ++a) {
    const Aggregate& agg = plan_.aggregates[a];
    for (size_t g = 0; g < part.keys_.size(); ++g)
      MergeState(agg, states_[remap[g] * na + a], part.states_[g * na + a]);
    if (fast_distinct_[a]) {  // counted in Finish
      if (merged_.empty()) merged_.resize(na);
      part.pairs_[a].ForEach([&](uint32_t g, int64_t v) { merged_[a].Add(remap[g], v); });
      part.pairs_[a] = PairSet();
    }
  }
  int64_t bytes = 0;
  for (const PartitionedPairs& p : merged_) bytes += static_cast<int64_t>(p.bytes());
  memory_ += bytes - merged_bytes_;
  merged_bytes_ = bytes;
  return CheckLimits();
}

void Runner::MergeState(const Aggregate& agg, AggState& into, AggState& from) {
  switch (agg.kind) {
    case AggKind::kCountDistinct:
      if (from.distinct) {  // strings (integers are merged as pairs)
        if (!into.distinct) {
          into.distinct = std::move(from.distinct);
        } else {
          for (auto& s : *from.distinct) into.distinct->insert(s);
        }
      }
      return;
    case AggKind::kApproxDistinct:
    case AggKind::kHllSketch:
    case AggKind::kHllMerge:
      if (from.hll) {
        if (!into.hll) {
          into.hll = std::move(from.hll);
        } else {
          into.hll->Merge(*from.hll);
        }
      }
      return;
    case AggKind::kMin:
    case AggKind::kMax:
      if (from.count > 0) {
        const Value& cur = agg.kind == AggKind::kMin ? into.min : into.max;
        const Value& v = agg.kind == AggKind::kMin ? from.min : from.max;
        const int c = into.count == 0 ? 0 : CompareValues(v, cur, agg.arg.type);
        if (into.count == 0 || (agg.kind == AggKind::kMin ? c < 0 : c > 0))
          (agg.kind == AggKind::kMin ? into.min : into.max) = v;
      }
      into.count += from.count;
      return;
    default:
      into.count += from.count;
      into.isum += from.isum;
      into.dsum += from.dsum;
      return;
  }
}

void Runner::NewGroup(std::vector<Value> key) {
  keys_.push_back(std::move(key));
  states_.resize(states_.size() + plan_.aggregates.size());
  memory_ += static_cast<int64_t>(plan_.aggregates.size() * sizeof(AggState) + 64);
}

// The group of one integer key (int_keys_), added (its key from
// key_source, else row r of kv) when new.
uint32_t Runner::GroupOfInt(bool null, int64_t v, const std::vector<Value>* key_source, const Vec* kv, size_t r) {
  const uint32_t fresh = static_cast<uint32_t>(keys_.size());
  uint32_t g;
  bool inserted;
  if (null) {
    inserted = null_group_ < 0;
    if (inserted) null_group_ = fresh;
    g = static_cast<uint32_t>(null_group_);
  } else {
    const size_t before = int_index_.bytes();
    g = int_index_.FindOrInsert(v, fresh, &inserted);
    memory_ += static_cast<int64_t>(int_index_.bytes() - before);
  }
  if (inserted) NewGroup(key_source ? *key_source : std::vector<Value>{kv->Get(r)});
  return g;
}

Status Runner::Accumulate(const Batch& b) {
  std::vector<uint32_t> gid(b.n, 0);
  if (int_keys_) {
    Vec kv;
    RETURN_IF_ERROR(Eval(plan_.group_keys[0], b, &kv));
    for (size_t r = 0; r < b.n; ++r) gid[r] = GroupOfInt(kv.null[r], kv.i[r], nullptr, &kv, r);
  } else if (!plan_.group_keys.empty()) {
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
    const bool one_group = plan_.group_keys.empty();
    if (agg.kind == AggKind::kCountStar) {
      if (one_group) {
        states_[a].count += static_cast<int64_t>(b.n);
      } else {
        for (size_t r = 0; r < b.n; ++r) ++state(r).count;
      }
      continue;
    }
    Vec computed;  // a column is read where it is, not copied
    if (agg.arg.kind != BKind::kColumn) RETURN_IF_ERROR(Eval(agg.arg, b, &computed));
    const Vec& x = agg.arg.kind == BKind::kColumn ? b.cols[static_cast<size_t>(agg.arg.column)] : computed;
    const uint8_t* nul = x.null.data();
    // Without GROUP BY: COUNT and integer SUM summed in a register (exact, so
    // the same total), not through the state per row.
    if (one_group && (agg.kind == AggKind::kCount ||
                      ((agg.kind == AggKind::kSum || agg.kind == AggKind::kAvg) && IsInteger(x.type)))) {
      int64_t count = 0;
      Int128 sum = 0;
      for (size_t r = 0; r < b.n; ++r) {
        const bool valid = !nul[r];
        count += valid;
        sum += valid ? x.i[r] : 0;
      }
      states_[a].count += count;
      if (agg.kind != AggKind::kCount) states_[a].isum += sum;
      continue;
    }
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
      case AggKind::kHllMerge:
        for (size_t r = 0; r < b.n; ++r) {
          if (nul[r]) continue;
          auto sketch = HyperLogLog::Parse(x.s[r]);
          if (!sketch) return Status::InvalidArgument("hll_merge(" + agg.arg.text + "): a value is not a sketch");
          AggState& s = state(r);
          if (!s.hll) {
            s.hll = std::make_unique<HyperLogLog>(std::move(*sketch));
            memory_ += static_cast<int64_t>(HyperLogLog::kRegisters);
          } else {
            s.hll->Merge(*sketch);
          }
        }
        break;
      case AggKind::kCountDistinct:
        if (fast_distinct_[a]) {
          pairs_[a].Reserve(pairs_[a].size() + b.n);
          const size_t before = pairs_[a].bytes();
          for (size_t r = 0; r < b.n; ++r)
            if (!nul[r] && pairs_[a].Insert(gid[r], x.i[r])) ++state(r).count;
          memory_ += static_cast<int64_t>(pairs_[a].bytes() - before);
          break;
        }
        [[fallthrough]];
      case AggKind::kHllSketch:
      case AggKind::kApproxDistinct: {
        std::vector<std::string> enc(b.n);
        AppendKeys(x, enc);
        for (size_t r = 0; r < b.n; ++r) {
          if (nul[r]) continue;
          AggState& s = state(r);
          if (agg.kind != AggKind::kCountDistinct) {
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
Result<Batch> Runner::GroupBatch(size_t begin, size_t end) {
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
          v.i = s.distinct ? static_cast<int64_t>(s.distinct->size()) : s.count;
          break;
        case AggKind::kApproxDistinct:
        case AggKind::kHllMerge:
          v.i = s.hll ? s.hll->Estimate() : 0;
          break;
        case AggKind::kHllSketch:
          v.s = s.hll ? s.hll->Serialize() : HyperLogLog().Serialize();
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

}  // namespace watershed::query
