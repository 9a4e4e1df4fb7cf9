#include "query/planner.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <memory>
#include <set>

#include "lake/iceberg_commit.h"
#include "lake/iceberg_transform.h"
#include "lake/parquet.h"
#include "query/binder.h"
#include "query/literals.h"
#include "query/value_compare.h"

namespace watershed::query {
namespace {

// "eu.events" from {"eu", "events"}.
std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : ".") + p;
  return out;
}

Status Err(SourcePos pos, const std::string& message) {
  return Status::InvalidArgument(ToString(pos) + ": " + message);
}

class Planner {
 public:
  static constexpr int kRight = 1 << 20;  // column indices of the JOIN's right table, until Remap

  // `right`: the JOIN's build side — the right table, or the left one when
  // `swapped` (an INNER JOIN whose left table is the smaller).
  Planner(const Select& s, LogicalPlan* plan, const CatalogTable* right, bool swapped)
      : s_(s), p_(*plan), right_(right), swapped_(swapped) {
    if (s_.from) probe_ref_ = &*s_.from;
    if (s_.join) build_ref_ = &s_.join->table;
    if (swapped_) std::swap(probe_ref_, build_ref_);
    scan_.column = [this](const Expr& e) -> Result<BoundExpr> {
      ASSIGN_OR_RETURN(int c, ScanColumn(e));
      return ColumnRef(c, TypeOf(c), e);
    };
    scan_.now_micros = p_.now_micros;
    post_ = scan_;
    post_.column = [](const Expr& e) -> Result<BoundExpr> {
      return Err(e.pos, "column '" + e.name.back() + "' must appear in GROUP BY or be used in an aggregate");
    };
    post_.intercept = [this](const Expr& e) { return InterceptPost(e); };
  }

  Status Run() {
    RETURN_IF_ERROR(CheckShape());
    if (right_) RETURN_IF_ERROR(PlanJoinKeys());
    if (s_.where) {
      BindHooks where = scan_;
      where.aggregate_error = "aggregate functions are not allowed in WHERE";
      std::vector<const Expr*> conjuncts;
      if (s_.where->kind == ExprKind::kBinary && s_.where->op == Op::kAnd) {
        for (const ExprPtr& a : s_.where->args) conjuncts.push_back(a.get());
      } else {
        conjuncts.push_back(s_.where.get());
      }
      for (const Expr* c : conjuncts) {
        ASSIGN_OR_RETURN(BoundExpr b, BindExpr(*c, where));
        if (b.type != ColumnType::kBoolean && !b.null_literal)
          return Err(c->pos, std::string("WHERE needs a condition, not ") + TypeName(b.type));
        AddConjunct(std::move(b));
      }
    }
    for (const ExprPtr& g : s_.group_by) RETURN_IF_ERROR(PlanGroupKey(*g));
    p_.aggregate = !s_.group_by.empty() || s_.having;
    for (const SelectItem& item : s_.items)
      if (item.expr && ContainsAggregate(*item.expr)) p_.aggregate = true;
    for (const OrderItem& o : s_.order_by)
      if (ContainsAggregate(*o.expr)) p_.aggregate = true;
    p_.distinct = s_.distinct;
    for (const SelectItem& item : s_.items) RETURN_IF_ERROR(PlanItem(item));
    p_.visible = p_.outputs.size();
    if (s_.having) {
      ASSIGN_OR_RETURN(BoundExpr h, BindExpr(*s_.having, post_));
      if (h.type != ColumnType::kBoolean && !h.null_literal)
        return Err(s_.having->pos, std::string("HAVING needs a condition, not ") + TypeName(h.type));
      p_.having = std::move(h);
    }
    for (const OrderItem& o : s_.order_by) RETURN_IF_ERROR(PlanOrder(o));
    p_.limit = s_.limit;
    p_.offset = s_.offset.value_or(0);
    if (right_) FinishJoin();
    return Status::Ok();
  }

 private:
  Status CheckShape() {
    if (s_.join && (s_.from->subquery || s_.join->table.subquery))
      return Err(s_.join->table.pos, "JOIN with a subquery is not supported yet");
    return Status::Ok();
  }

  // Whether `q` ("t", "eu.t" or the FROM alias) names the query's table.
  bool NamesTheTable(const std::vector<std::string>& q) const {
    if (q.empty()) return true;
    if (p_.no_from) return false;
    if (p_.subquery) return q.size() == 1 && q[0] == probe_ref_->alias;
    const std::string table = lake::SpecOf(p_.table.id).name;
    if (q.size() == 1) return q[0] == table || q[0] == probe_ref_->alias;
    return q.size() == 2 && q[0] + "." + q[1] == p_.table.name;  // "eu.events"
  }

  bool NamesTheRight(const std::vector<std::string>& q) const {
    if (q.empty()) return true;
    if (q.size() == 1) return q[0] == lake::SpecOf(right_->id).name || q[0] == build_ref_->alias;
    return q.size() == 2 && q[0] + "." + q[1] == right_->name;
  }

  // The scan index of a column reference, added to the scan when new (a
  // column of the JOIN's right table: kRight + its index in right_cols_).
  Result<int> ScanColumn(const Expr& e) {
    const std::string& column = e.name.back();
    const std::vector<std::string> q(e.name.begin(), e.name.end() - 1);
    if (right_) {
      const bool in_left = NamesTheTable(q) && p_.table.ColumnIndex(column) >= 0;
      const int rc = NamesTheRight(q) ? right_->ColumnIndex(column) : -1;
      if (!NamesTheTable(q) && !NamesTheRight(q)) return Err(e.pos, "unknown table '" + Join(q) + "'");
      if (in_left && rc >= 0) return Err(e.pos, "column '" + column + "' is ambiguous (qualify it)");
      if (rc >= 0) {
        auto it = std::find(right_cols_.begin(), right_cols_.end(), rc);
        if (it != right_cols_.end()) return kRight + static_cast<int>(it - right_cols_.begin());
        right_cols_.push_back(rc);
        return kRight + static_cast<int>(right_cols_.size() - 1);
      }
      if (!in_left) {
        RETURN_IF_ERROR(CheckDenied(e, NamesTheTable(q) ? &p_.table : nullptr, NamesTheRight(q) ? right_ : nullptr));
        return Err(e.pos, "unknown column '" + column + "' in " + p_.table.name + " or " + right_->name);
      }
    }
    if (!NamesTheTable(q)) return Err(e.pos, "unknown table '" + Join(q) + "'");
    const int c = p_.table.ColumnIndex(column);
    if (c < 0 && p_.no_from) return Err(e.pos, "unknown column '" + column + "' (no FROM)");
    if (c < 0) RETURN_IF_ERROR(CheckDenied(e, &p_.table, nullptr));
    if (c < 0) return Err(e.pos, "unknown column '" + column + "' in " + p_.table.name);
    auto it = std::find(p_.scan_columns.begin(), p_.scan_columns.end(), c);
    if (it != p_.scan_columns.end()) return static_cast<int>(it - p_.scan_columns.begin());
    p_.scan_columns.push_back(c);
    return static_cast<int>(p_.scan_columns.size() - 1);
  }
  // kPermissionDenied when the column `e` names is one the caller may not read in `a` or `b` (governance).
  static Status CheckDenied(const Expr& e, const CatalogTable* a, const CatalogTable* b) {
    for (const CatalogTable* t : {a, b}) {
      if (!t) continue;
      if (const DeniedColumn* d = t->Denied(e.name.back()))
        return Status::PermissionDenied(ToString(e.pos) + ": " +
                                        DenialMessage({t->name, d->name, d->rule}, "the caller may not read it"));
    }
    return Status::Ok();
  }
  ColumnType TypeOf(int scan) const {
    if (scan >= kRight) return right_->columns[right_cols_[scan - kRight]].type;
    return p_.table.columns[p_.scan_columns[scan]].type;
  }

  static int Sides(const BoundExpr& e) {
    int sides = e.kind == BKind::kColumn ? (e.column >= kRight ? 2 : 1) : 0;
    for (const BoundExpr& a : e.args) sides |= Sides(a);
    return sides;
  }

  // ON left_expr = right_expr (either order), one type for both.
  Status PlanJoinKeys() {
    const Expr& on = *s_.join->on;
    const std::string shape = "JOIN ... ON takes one equality between the two tables (a.x = b.y)";
    if (on.kind != ExprKind::kBinary || on.op != Op::kEq) return Err(on.pos, shape);
    BindHooks hooks = scan_;
    hooks.aggregate_error = "aggregate functions are not allowed in ON";
    ASSIGN_OR_RETURN(BoundExpr a, BindExpr(*on.args[0], hooks));
    ASSIGN_OR_RETURN(BoundExpr b, BindExpr(*on.args[1], hooks));
    if (Sides(a) == 2 && Sides(b) == 1) std::swap(a, b);
    if (Sides(a) != 1 || Sides(b) != 2) return Err(on.pos, shape);
    const bool numeric = (a.type == ColumnType::kBigint || a.type == ColumnType::kDouble) &&
                         (b.type == ColumnType::kBigint || b.type == ColumnType::kDouble);
    if (a.type != b.type && numeric) {
      if (a.type == ColumnType::kBigint) a = CastTo(std::move(a), ColumnType::kDouble);
      if (b.type == ColumnType::kBigint) b = CastTo(std::move(b), ColumnType::kDouble);
    }
    if (a.type != b.type)
      return Err(on.pos, std::string("cannot join ") + TypeName(a.type) + " with " + TypeName(b.type));
    JoinPlan j;
    j.left = s_.join->kind == JoinKind::kLeft;
    j.probe_key = std::move(a);
    j.text = std::string(j.left ? "LEFT" : "INNER") + " " + right_->name + " ON " + ToSql(on);
    build_key_ = std::move(b);
    p_.join = std::move(j);
    return Status::Ok();
  }

  // Right-table columns move to their place after the scan's columns.
  void Remap(BoundExpr& e, int base) {
    if (e.kind == BKind::kColumn && e.column >= kRight) e.column = base + (e.column - kRight);
    for (BoundExpr& a : e.args) Remap(a, base);
  }

  void FinishJoin() {
    const int base = static_cast<int>(p_.scan_columns.size());
    for (BoundExpr& e : p_.residual) Remap(e, base);
    for (BoundExpr& e : p_.group_keys) Remap(e, base);
    for (Aggregate& a : p_.aggregates) Remap(a.arg, base);
    if (!p_.aggregate)
      for (OutputColumn& o : p_.outputs) Remap(o.expr, base);
    auto build = std::make_shared<LogicalPlan>();
    build->table = *right_;
    build->now_micros = p_.now_micros;
    build->scan_columns = right_cols_;
    for (size_t j = 0; j < right_cols_.size(); ++j) {
      const CatalogColumn& c = right_->columns[right_cols_[j]];
      BoundExpr ref;
      ref.kind = BKind::kColumn;
      ref.type = c.type;
      ref.column = static_cast<int>(j);
      ref.text = c.name;
      build->outputs.push_back({c.name, c.type, std::move(ref)});
    }
    Remap(build_key_, 0);
    build->outputs.push_back({"key", build_key_.type, build_key_});
    build->visible = build->outputs.size();
    p_.join->build = std::move(build);
    p_.join->build_columns = right_cols_.size();
  }

  // A WHERE conjunct: `column op constant` goes to pruning (and is applied
  // first); a constant decides the whole query; anything else is filtered
  // after the scan.
  void AddConjunct(BoundExpr b) {
    if (b.kind == BKind::kAnd) {
      for (BoundExpr& a : b.args) AddConjunct(std::move(a));
      return;
    }
    if (b.kind == BKind::kConst) {
      if (b.value.null || b.value.i == 0) p_.always_empty = true;
      return;
    }
    if (!TryPushDown(b)) p_.residual.push_back(std::move(b));
  }

  bool TryPushDown(const BoundExpr& b) {
    static constexpr std::pair<Op, PredOp> kOps[] = {{Op::kEq, PredOp::kEq}, {Op::kNe, PredOp::kNe},
                                                     {Op::kLt, PredOp::kLt}, {Op::kLe, PredOp::kLe},
                                                     {Op::kGt, PredOp::kGt}, {Op::kGe, PredOp::kGe}};
    if (b.args.empty() || p_.subquery || p_.no_from) return false;  // a subquery's rows are not pruned
    Predicate p;
    p.text = b.text;
    p.negated = b.negated;
    const BoundExpr* column = &b.args[0];
    std::vector<const BoundExpr*> constants;
    for (size_t k = 1; k < b.args.size(); ++k) constants.push_back(&b.args[k]);
    switch (b.kind) {
      case BKind::kCompare: {
        p.op = std::find_if(std::begin(kOps), std::end(kOps), [&](auto& o) { return o.first == b.op; })->second;
        if (column->kind != BKind::kColumn && b.args[1].kind == BKind::kColumn) {  // constant op column: flip
          std::swap(column, constants[0]);
          static constexpr PredOp kFlip[] = {PredOp::kEq, PredOp::kNe, PredOp::kGt,
                                             PredOp::kGe, PredOp::kLt, PredOp::kLe};
          p.op = kFlip[static_cast<int>(p.op)];
        }
        break;
      }
      case BKind::kBetween:
        p.op = PredOp::kBetween;
        break;
      case BKind::kIn:
        p.op = PredOp::kIn;
        break;
      case BKind::kIsNull:
        p.op = PredOp::kIsNull;
        break;
      default:
        return false;
    }
    if (column->kind != BKind::kColumn || column->column >= kRight) return false;
    // A masked column is compared as its pseudonym, after the scan: pruning would test the raw values.
    if (p_.table.columns[p_.scan_columns[column->column]].mask) return false;
    bool any_null = false;
    for (const BoundExpr* c : constants) {
      if (c->kind != BKind::kConst || c->type != column->type) return false;
      if (c->value.null) {
        any_null = true;
      } else {
        p.values.push_back(c->value);
      }
    }
    p.column = column->column;
    // ANSI: a comparison with NULL is unknown, never true. x IN (1, NULL)
    // is true only where x = 1; x NOT IN (.., NULL) is never true; x NOT
    // BETWEEN NULL AND 5 is true where x > 5 (filtered after the scan).
    if (any_null) {
      if (p.op == PredOp::kBetween && p.negated) return false;
      if (!(p.op == PredOp::kIn && !p.negated && !p.values.empty())) {
        p_.always_empty = true;
        return true;
      }
    }
    p_.filters.push_back(std::move(p));
    return true;
  }

  // A select item named in GROUP BY by position or alias stands for its
  // expression (a table column of that name wins over an alias).
  Status PlanGroupKey(const Expr& g) {
    const Expr* e = &g;
    if (g.kind == ExprKind::kInteger) {
      int64_t n = 0;
      std::from_chars(g.text.data(), g.text.data() + g.text.size(), n);
      if (n < 1 || n > static_cast<int64_t>(s_.items.size()) || s_.items[n - 1].star)
        return Err(g.pos, "GROUP BY position " + g.text + " is not in the select list");
      e = s_.items[n - 1].expr.get();
    } else if (g.kind == ExprKind::kColumn && g.name.size() == 1 && p_.table.ColumnIndex(g.name[0]) < 0) {
      for (const SelectItem& item : s_.items)
        if (!item.star && item.alias == g.name[0]) e = item.expr.get();
    }
    BindHooks hooks = scan_;
    hooks.aggregate_error = "aggregate functions are not allowed in GROUP BY";
    ASSIGN_OR_RETURN(BoundExpr b, BindExpr(*e, hooks));
    if (b.type == ColumnType::kInterval) return Err(g.pos, "cannot group by an INTERVAL");
    const std::string fp = Fingerprint(b);
    if (std::find(group_fps_.begin(), group_fps_.end(), fp) != group_fps_.end()) return Status::Ok();
    group_fps_.push_back(fp);
    p_.group_keys.push_back(std::move(b));
    return Status::Ok();
  }

  // Above an aggregation: an aggregate call is an aggregate's result, an
  // expression equal to a GROUP BY key is that key.
  Result<std::optional<BoundExpr>> InterceptPost(const Expr& e) {
    const int keys = static_cast<int>(p_.group_keys.size());
    if (e.kind == ExprKind::kFunction && IsAggregateName(e.name[0])) {
      ASSIGN_OR_RETURN(int a, PlanAggregate(e));
      return std::optional<BoundExpr>(ColumnRef(keys + a, p_.aggregates[a].type, e));
    }
    if (ContainsAggregate(e)) return std::optional<BoundExpr>();
    ASSIGN_OR_RETURN(BoundExpr b, BindExpr(e, scan_));
    if (b.kind == BKind::kConst) return std::optional<BoundExpr>(std::move(b));
    auto it = std::find(group_fps_.begin(), group_fps_.end(), Fingerprint(b));
    if (it != group_fps_.end()) {
      const int k = static_cast<int>(it - group_fps_.begin());
      return std::optional<BoundExpr>(ColumnRef(k, p_.group_keys[k].type, e));
    }
    return std::optional<BoundExpr>();
  }

  Result<int> PlanAggregate(const Expr& e) {
    static constexpr std::pair<const char*, AggKind> kAggs[] = {{"count", AggKind::kCount},
                                                                {"sum", AggKind::kSum},
                                                                {"min", AggKind::kMin},
                                                                {"max", AggKind::kMax},
                                                                {"avg", AggKind::kAvg},
                                                                {"approx_count_distinct", AggKind::kApproxDistinct},
                                                                {"hll_sketch", AggKind::kHllSketch},
                                                                {"hll_merge", AggKind::kHllMerge}};
    const std::string& fn = e.name[0];
    Aggregate agg;
    agg.kind = std::find_if(std::begin(kAggs), std::end(kAggs), [&](auto& a) { return fn == a.first; })->second;
    agg.text = ToSql(e);
    if (e.star) {
      if (agg.kind != AggKind::kCount) return Err(e.pos, fn + "(*) is not valid");
      agg.kind = AggKind::kCountStar;
    } else {
      if (e.args.size() != 1) return Err(e.pos, fn + "() takes one argument");
      if (e.distinct && agg.kind != AggKind::kCount) return Err(e.pos, fn + "(DISTINCT ...) is not supported");
      if (e.distinct) agg.kind = AggKind::kCountDistinct;
      BindHooks inner = scan_;
      inner.aggregate_error = "aggregate calls cannot be nested";
      ASSIGN_OR_RETURN(agg.arg, BindExpr(*e.args[0], inner));
      if (agg.arg.null_literal) agg.arg.null_literal = false;  // NULL: BIGINT
      const ColumnType in = agg.arg.type;
      const bool numeric = in == ColumnType::kBigint || in == ColumnType::kDouble;
      if ((agg.kind == AggKind::kSum || agg.kind == AggKind::kAvg) && !numeric)
        return Err(e.args[0]->pos, fn + "() needs a number, not " + TypeName(in));
      if (in == ColumnType::kInterval) return Err(e.args[0]->pos, fn + "() of an INTERVAL is not supported");
      if (agg.kind == AggKind::kSum || agg.kind == AggKind::kMin || agg.kind == AggKind::kMax) agg.type = in;
      if (agg.kind == AggKind::kAvg) agg.type = ColumnType::kDouble;
      if (agg.kind == AggKind::kHllSketch) agg.type = ColumnType::kString;
      if (agg.kind == AggKind::kHllMerge && in != ColumnType::kString)
        return Err(e.args[0]->pos, "hll_merge() needs a VARCHAR sketch, not " + std::string(TypeName(in)));
    }
    const std::string fp = std::to_string(static_cast<int>(agg.kind)) + Fingerprint(agg.arg);
    auto it = std::find(agg_fps_.begin(), agg_fps_.end(), fp);
    if (it != agg_fps_.end()) return static_cast<int>(it - agg_fps_.begin());
    agg_fps_.push_back(fp);
    p_.aggregates.push_back(std::move(agg));
    return static_cast<int>(p_.aggregates.size() - 1);
  }

  Result<BoundExpr> BindOutput(const Expr& e) { return BindExpr(e, p_.aggregate ? post_ : scan_); }

  Status AddOutput(std::string name, BoundExpr b, const Expr& e) {
    if (b.type == ColumnType::kInterval) return Err(e.pos, "an INTERVAL cannot be a result (add it to a TIMESTAMP)");
    if (b.null_literal) b.null_literal = false;
    p_.outputs.push_back({std::move(name), b.type, std::move(b)});
    return Status::Ok();
  }

  Status PlanItem(const SelectItem& item) {
    if (item.star && !NamesTheTable(item.qualifier)) return Err(s_.pos, "unknown table '" + Join(item.qualifier) + "'");
    if (item.star) {
      if (p_.aggregate) return Err(s_.pos, "SELECT * with GROUP BY or aggregates is not supported");
      if (p_.no_from) return Err(s_.pos, "SELECT * needs a FROM");
      // With a JOIN, `*` is both tables' columns and `t.*` one table's.
      const bool left = !right_ || item.qualifier.empty() || NamesTheTable(item.qualifier);
      const bool right = right_ && (item.qualifier.empty() || NamesTheRight(item.qualifier));
      auto expand = [&](const CatalogTable& t, const std::string& q) -> Status {
        for (const CatalogColumn& c : t.columns) {
          Expr e;
          e.kind = ExprKind::kColumn;
          e.name = {c.name};
          if (right_) e.name.insert(e.name.begin(), q);
          ASSIGN_OR_RETURN(BoundExpr b, BindOutput(e));
          RETURN_IF_ERROR(AddOutput(c.name, std::move(b), e));
          item_sql_.push_back(c.name);
        }
        return Status::Ok();
      };
      auto qualifier = [](const CatalogTable& t, const TableRef* ref) {
        return ref->alias.empty() ? std::string(lake::SpecOf(t.id).name) : ref->alias;
      };
      // In the query's order (FROM's table first), whichever side is built.
      if (swapped_ && right) RETURN_IF_ERROR(expand(*right_, qualifier(*right_, build_ref_)));
      if (left) RETURN_IF_ERROR(expand(p_.table, qualifier(p_.table, probe_ref_)));
      if (!swapped_ && right) RETURN_IF_ERROR(expand(*right_, qualifier(*right_, build_ref_)));
      return Status::Ok();
    }
    const Expr& e = *item.expr;
    item_sql_.push_back(ToSql(e));
    ASSIGN_OR_RETURN(BoundExpr b, BindOutput(e));
    std::string name = item.alias;
    if (name.empty()) name = e.kind == ExprKind::kColumn ? e.name.back() : ToSql(e);
    return AddOutput(std::move(name), std::move(b), e);
  }

  // ORDER BY a position, an output's name or text; else an expression
  // computed for sorting only (not with DISTINCT: it would change the rows).
  Status PlanOrder(const OrderItem& o) {
    const Expr& e = *o.expr;
    int found = -1;
    if (e.kind == ExprKind::kInteger) {
      int64_t n = 0;
      std::from_chars(e.text.data(), e.text.data() + e.text.size(), n);
      if (n < 1 || n > static_cast<int64_t>(p_.visible))
        return Err(e.pos, "ORDER BY position " + e.text + " is not in the select list");
      found = static_cast<int>(n - 1);
    } else {
      const std::string sql = ToSql(e);
      for (size_t i = 0; i < p_.visible && found < 0; ++i)
        if ((e.kind == ExprKind::kColumn && e.name.size() == 1 && p_.outputs[i].name == e.name[0]) ||
            item_sql_[i] == sql)
          found = static_cast<int>(i);
      if (found < 0) {
        ASSIGN_OR_RETURN(BoundExpr b, BindOutput(e));
        if (p_.distinct) return Err(e.pos, "with SELECT DISTINCT, ORDER BY must name a selected column");
        RETURN_IF_ERROR(AddOutput(sql, std::move(b), e));
        found = static_cast<int>(p_.outputs.size() - 1);
      }
    }
    const bool nulls_first = o.nulls == NullsOrder::kDefault ? o.descending : o.nulls == NullsOrder::kFirst;
    p_.order_by.push_back({found, o.descending, nulls_first});
    return Status::Ok();
  }

  const Select& s_;
  LogicalPlan& p_;
  const CatalogTable* right_;  // the JOIN's build side, or null
  bool swapped_;
  const TableRef* probe_ref_ = nullptr;  // FROM's table ref (the JOIN's other one when swapped)
  const TableRef* build_ref_ = nullptr;
  std::vector<int> right_cols_;  // its columns the query reads
  BoundExpr build_key_;
  BindHooks scan_, post_;
  std::vector<std::string> item_sql_;  // per visible output column
  std::vector<std::string> group_fps_, agg_fps_;
};

}  // namespace

namespace {

// The current snapshot's total-records; INT64_MAX when unknown.
int64_t Records(const CatalogTable& t) {
  const lake::TableMetadata& m = t.metadata;
  for (const lake::IcebergSnapshot& s : m.snapshots) {
    auto total = s.summary.find("total-records");
    if (!m.current_snapshot_id || s.snapshot_id != *m.current_snapshot_id || total == s.summary.end()) continue;
    int64_t n = 0;
    auto [p, ec] = std::from_chars(total->second.data(), total->second.data() + total->second.size(), n);
    if (ec == std::errc() && p == total->second.data() + total->second.size()) return n;
  }
  return INT64_MAX;
}

Result<LogicalPlan> PlanAt(const Select& select, const Catalog& catalog, int64_t now_micros) {
  LogicalPlan plan;
  plan.now_micros = now_micros;
  if (select.from && select.from->subquery) {
    // A subquery in FROM: planned (and later run) first; the outer query
    // reads its rows as a table named by the alias.
    ASSIGN_OR_RETURN(LogicalPlan sub, PlanAt(*select.from->subquery, catalog, now_micros));
    plan.table.name = select.from->alias;
    for (size_t i = 0; i < sub.visible; ++i)
      plan.table.columns.push_back({sub.outputs[i].name, -1, sub.outputs[i].type, true, nullptr});
    plan.subquery = std::make_shared<const LogicalPlan>(std::move(sub));
  } else if (select.from && !select.from->name.empty()) {
    ASSIGN_OR_RETURN(plan.table, catalog.Resolve(*select.from));
  } else {
    plan.no_from = true;
  }
  std::optional<CatalogTable> right;
  if (select.join && select.from && !select.from->subquery && !select.join->table.subquery) {
    ASSIGN_OR_RETURN(right, catalog.Resolve(select.join->table));
  }
  // The smaller table is built in memory: an INNER JOIN whose left table
  // holds fewer records (by the snapshots' summaries) builds that one.
  const bool swapped = right && select.join->kind == JoinKind::kInner && Records(plan.table) < Records(*right);
  if (swapped) std::swap(plan.table, *right);
  Planner planner(select, &plan, right ? &*right : nullptr, swapped);
  RETURN_IF_ERROR(planner.Run());
  if (!plan.always_empty && !plan.subquery && !plan.no_from) RETURN_IF_ERROR(PruneFiles(catalog.fs(), &plan));
  if (plan.join && !plan.always_empty) RETURN_IF_ERROR(PruneFiles(catalog.fs(), plan.join->build.get()));
  return plan;
}

}  // namespace

Result<LogicalPlan> PlanOverRows(const Select& select, std::vector<CatalogColumn> columns,
                                 std::shared_ptr<const std::vector<std::vector<Value>>> rows) {
  LogicalPlan plan;
  plan.now_micros =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  if (!select.from || select.join) return Status::InvalidArgument("PlanOverRows: one FROM and no JOIN");
  plan.table.name = select.from->alias;
  plan.table.columns = std::move(columns);
  plan.subquery = std::make_shared<const LogicalPlan>();  // planned as a subquery's outer query
  plan.given_rows = std::move(rows);
  Planner planner(select, &plan, nullptr, false);
  RETURN_IF_ERROR(planner.Run());
  return plan;
}

Result<LogicalPlan> PlanSelect(const Select& select, const Catalog& catalog) {
  const int64_t now =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  return PlanAt(select, catalog, now);
}

}  // namespace watershed::query
