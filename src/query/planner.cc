#include "query/planner.h"

#include <algorithm>
#include <charconv>
#include <memory>
#include <set>

#include "lake/iceberg_commit.h"
#include "lake/iceberg_transform.h"
#include "lake/parquet.h"
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
  Planner(const Select& s, LogicalPlan* plan) : s_(s), p_(*plan) {}

  Status Run() {
    RETURN_IF_ERROR(CheckShape());
    if (s_.where) RETURN_IF_ERROR(PlanWhere(*s_.where));
    for (const ExprPtr& g : s_.group_by) {
      if (g->kind != ExprKind::kColumn) return Err(g->pos, "GROUP BY on an expression is not supported yet");
      ASSIGN_OR_RETURN(int c, ScanColumn(*g));
      if (std::find(p_.group_keys.begin(), p_.group_keys.end(), c) == p_.group_keys.end()) p_.group_keys.push_back(c);
    }
    p_.aggregate = !s_.group_by.empty();
    for (const SelectItem& item : s_.items)
      if (item.expr && item.expr->kind == ExprKind::kFunction) p_.aggregate = true;
    for (const SelectItem& item : s_.items) RETURN_IF_ERROR(PlanItem(item));
    for (const OrderItem& o : s_.order_by) RETURN_IF_ERROR(PlanOrder(o));
    p_.limit = s_.limit;
    p_.offset = s_.offset.value_or(0);
    return Status::Ok();
  }

 private:
  Status CheckShape() {
    if (s_.distinct) return Err(s_.pos, "SELECT DISTINCT is not supported yet");
    if (!s_.from) return Err(s_.pos, "SELECT without FROM is not supported yet");
    if (s_.from->subquery) return Err(s_.from->pos, "a subquery in FROM is not supported yet");
    if (s_.from->time_travel != TimeTravel::kNone) return Err(s_.from->pos, "time travel is not supported yet");
    if (s_.join) return Err(s_.join->table.pos, "JOIN is not supported yet");
    if (s_.having) return Err(s_.having->pos, "HAVING is not supported yet");
    return Status::Ok();
  }

  // Whether `q` ("t", "eu.t" or the FROM alias) names the query's table.
  bool NamesTheTable(const std::vector<std::string>& q) const {
    if (q.empty()) return true;
    const std::string table = lake::SpecOf(p_.table.id).name;
    if (q.size() == 1) return q[0] == table || q[0] == s_.from->alias;
    return q.size() == 2 && q[0] + "." + q[1] == p_.table.name;  // "eu.events"
  }

  // The scan index of a column reference, added to the scan when new.
  Result<int> ScanColumn(const Expr& e) {
    const std::string& column = e.name.back();
    const std::vector<std::string> q(e.name.begin(), e.name.end() - 1);
    if (!NamesTheTable(q)) return Err(e.pos, "unknown table '" + Join(q) + "'");
    const int c = p_.table.ColumnIndex(column);
    if (c < 0) return Err(e.pos, "unknown column '" + column + "' in " + p_.table.name);
    auto it = std::find(p_.scan_columns.begin(), p_.scan_columns.end(), c);
    if (it != p_.scan_columns.end()) return static_cast<int>(it - p_.scan_columns.begin());
    p_.scan_columns.push_back(c);
    return static_cast<int>(p_.scan_columns.size() - 1);
  }
  ColumnType TypeOf(int scan) const { return p_.table.columns[p_.scan_columns[scan]].type; }

  // A literal as a value of the column's type.
  Result<Value> LiteralFor(const Expr& e, ColumnType type) {
    Value v;
    const Expr* lit = &e;
    bool negative = false;
    if (e.kind == ExprKind::kUnary && e.op == Op::kNeg && e.args[0]->kind == ExprKind::kInteger) {
      lit = e.args[0].get();
      negative = true;
    }
    const std::string mismatch = "cannot compare " + std::string(TypeName(type)) + " with " + ToSql(e);
    switch (lit->kind) {
      case ExprKind::kNull:
        v.null = true;
        return v;
      case ExprKind::kInteger: {
        if (type != ColumnType::kBigint && type != ColumnType::kDouble) return Err(e.pos, mismatch);
        std::string digits = (negative ? "-" : "") + lit->text;
        auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v.i);
        if (ec != std::errc() || ptr != digits.data() + digits.size()) return Err(e.pos, "integer out of range");
        v.d = static_cast<double>(v.i);
        return v;
      }
      case ExprKind::kString:
        if (type == ColumnType::kString) {
          v.s = lit->text;
          return v;
        }
        if (type == ColumnType::kTimestamp) {
          auto t = TimestampMicros(lit->text, false);
          if (!t.ok()) t = TimestampMicros(lit->text, true);
          if (!t.ok()) return Err(e.pos, "not a timestamp: '" + lit->text + "'");
          v.i = *t;
          return v;
        }
        if (type == ColumnType::kUuid) {
          auto u = ParseUuidText(lit->text);
          if (!u) return Err(e.pos, "not a uuid: '" + lit->text + "'");
          v.s = *u;
          return v;
        }
        return Err(e.pos, mismatch);
      case ExprKind::kTypedLiteral:
        if (type == ColumnType::kTimestamp && lit->literal_type != LiteralType::kInterval) {
          ASSIGN_OR_RETURN(v.i, TimestampMicros(lit->text, lit->literal_type == LiteralType::kDate));
          return v;
        }
        return Err(e.pos, mismatch);
      default:
        return Err(e.pos,
                   "only a literal can stand here for now (expressions "
                   "are not supported yet)");
    }
  }

  static bool IsLiteral(const Expr& e) {
    return e.kind == ExprKind::kInteger || e.kind == ExprKind::kDecimal || e.kind == ExprKind::kString ||
           e.kind == ExprKind::kNull || e.kind == ExprKind::kTypedLiteral || e.kind == ExprKind::kBool ||
           (e.kind == ExprKind::kUnary && e.op == Op::kNeg);
  }

  Status PlanWhere(const Expr& where) {
    if (where.kind == ExprKind::kBinary && where.op == Op::kAnd) {
      for (const ExprPtr& a : where.args) RETURN_IF_ERROR(PlanConjunct(*a));
      return Status::Ok();
    }
    return PlanConjunct(where);
  }

  Status PlanConjunct(const Expr& e) {
    static constexpr std::pair<Op, PredOp> kOps[] = {{Op::kEq, PredOp::kEq}, {Op::kNe, PredOp::kNe},
                                                     {Op::kLt, PredOp::kLt}, {Op::kLe, PredOp::kLe},
                                                     {Op::kGt, PredOp::kGt}, {Op::kGe, PredOp::kGe}};
    const std::string unsupported =
        "this condition is not supported yet "
        "(WHERE takes an AND of column op literal)";
    Predicate p;
    p.text = ToSql(e);
    p.negated = e.negated;
    const Expr* column = e.args.empty() ? nullptr : e.args[0].get();
    std::vector<const Expr*> literals;
    if (e.kind == ExprKind::kBinary) {
      auto it = std::find_if(std::begin(kOps), std::end(kOps), [&](auto& o) { return o.first == e.op; });
      if (it == std::end(kOps)) return Err(e.pos, unsupported);
      p.op = it->second;
      if (e.args[0]->kind != ExprKind::kColumn && e.args[1]->kind == ExprKind::kColumn) {
        column = e.args[1].get();  // literal op column: flip
        literals = {e.args[0].get()};
        static constexpr PredOp kFlip[] = {PredOp::kEq, PredOp::kNe, PredOp::kGt,
                                           PredOp::kGe, PredOp::kLt, PredOp::kLe};
        p.op = kFlip[static_cast<int>(p.op)];
      } else {
        literals = {e.args[1].get()};
      }
    } else if (e.kind == ExprKind::kBetween) {
      p.op = PredOp::kBetween;
      literals = {e.args[1].get(), e.args[2].get()};
    } else if (e.kind == ExprKind::kIn) {
      p.op = PredOp::kIn;
      for (size_t i = 1; i < e.args.size(); ++i) literals.push_back(e.args[i].get());
    } else if (e.kind == ExprKind::kIsNull) {
      p.op = PredOp::kIsNull;
    } else {
      return Err(e.pos, unsupported);
    }
    if (column == nullptr || column->kind != ExprKind::kColumn) return Err(e.pos, unsupported);
    ASSIGN_OR_RETURN(p.column, ScanColumn(*column));
    const ColumnType type = TypeOf(p.column);
    bool any_null = false;
    for (const Expr* l : literals) {
      if (!IsLiteral(*l)) return Err(l->pos, unsupported);
      ASSIGN_OR_RETURN(Value v, LiteralFor(*l, type));
      if (v.null) {
        any_null = true;
        continue;
      }
      p.values.push_back(std::move(v));
    }
    // ANSI: a comparison with NULL is unknown, never true. x IN (1, NULL)
    // is true only where x = 1; x NOT IN (.., NULL) is never true.
    if (any_null) {
      if (p.op == PredOp::kIn && !p.negated && !p.values.empty()) {
      } else if (p.op == PredOp::kBetween && p.negated) {
        return Err(e.pos, "NOT BETWEEN with a NULL bound is not supported yet");
      } else {
        p_.always_empty = true;
      }
    }
    p_.filters.push_back(std::move(p));
    return Status::Ok();
  }

  Status PlanItem(const SelectItem& item) {
    if (item.star && !NamesTheTable(item.qualifier)) return Err(s_.pos, "unknown table '" + Join(item.qualifier) + "'");
    if (item.star) {
      if (p_.aggregate) return Err(s_.pos, "SELECT * with GROUP BY or aggregates is not supported");
      for (const CatalogColumn& c : p_.table.columns) {
        Expr e;
        e.kind = ExprKind::kColumn;
        e.name = {c.name};
        ASSIGN_OR_RETURN(int scan, ScanColumn(e));
        p_.outputs.push_back({c.name, c.type, false, scan});
        item_sql_.push_back(c.name);
      }
      return Status::Ok();
    }
    const Expr& e = *item.expr;
    item_sql_.push_back(ToSql(e));
    if (e.kind == ExprKind::kColumn) {
      ASSIGN_OR_RETURN(int scan, ScanColumn(e));
      OutputColumn out{item.alias.empty() ? e.name.back() : item.alias, TypeOf(scan), false, scan};
      if (p_.aggregate) {
        auto it = std::find(p_.group_keys.begin(), p_.group_keys.end(), scan);
        if (it == p_.group_keys.end())
          return Err(e.pos, "column '" + e.name.back() + "' must appear in GROUP BY or be used in an aggregate");
        out.index = static_cast<int>(it - p_.group_keys.begin());
      }
      p_.outputs.push_back(std::move(out));
      return Status::Ok();
    }
    if (e.kind != ExprKind::kFunction) return Err(e.pos, "expressions in SELECT are not supported yet");
    static constexpr std::pair<const char*, AggKind> kAggs[] = {{"count", AggKind::kCount},
                                                                {"sum", AggKind::kSum},
                                                                {"min", AggKind::kMin},
                                                                {"max", AggKind::kMax},
                                                                {"avg", AggKind::kAvg}};
    const std::string& fn = e.name[0];
    auto it = std::find_if(std::begin(kAggs), std::end(kAggs), [&](auto& a) { return fn == a.first; });
    if (it == std::end(kAggs)) return Err(e.pos, "function " + fn + "() is not supported yet");
    if (e.distinct) return Err(e.pos, fn + "(DISTINCT ...) is not supported yet");
    Aggregate agg{it->second, -1};
    ColumnType type = ColumnType::kBigint;
    std::string name = fn + "(*)";
    if (e.star) {
      if (agg.kind != AggKind::kCount) return Err(e.pos, fn + "(*) is not valid");
      agg.kind = AggKind::kCountStar;
    } else {
      if (e.args.size() != 1 || e.args[0]->kind != ExprKind::kColumn)
        return Err(e.pos, fn + "() takes one column for now (expressions are "
                               "not supported yet)");
      ASSIGN_OR_RETURN(agg.column, ScanColumn(*e.args[0]));
      const ColumnType in = TypeOf(agg.column);
      name = fn + "(" + e.args[0]->name.back() + ")";
      const bool numeric = in == ColumnType::kBigint || in == ColumnType::kDouble;
      if ((agg.kind == AggKind::kSum || agg.kind == AggKind::kAvg) && !numeric)
        return Err(e.args[0]->pos, fn + "() needs a number, not " + TypeName(in));
      if (agg.kind == AggKind::kSum || agg.kind == AggKind::kMin || agg.kind == AggKind::kMax) type = in;
      if (agg.kind == AggKind::kAvg) type = ColumnType::kDouble;
    }
    p_.aggregates.push_back(agg);
    p_.outputs.push_back(
        {item.alias.empty() ? name : item.alias, type, true, static_cast<int>(p_.aggregates.size() - 1)});
    return Status::Ok();
  }

  Status PlanOrder(const OrderItem& o) {
    const Expr& e = *o.expr;
    int found = -1;
    if (e.kind == ExprKind::kInteger) {
      int64_t n = 0;
      std::from_chars(e.text.data(), e.text.data() + e.text.size(), n);
      if (n < 1 || n > static_cast<int64_t>(p_.outputs.size()))
        return Err(e.pos, "ORDER BY position " + e.text + " is not in the select list");
      found = static_cast<int>(n - 1);
    } else {
      const std::string sql = ToSql(e);
      for (size_t i = 0; i < p_.outputs.size() && found < 0; ++i)
        if ((e.kind == ExprKind::kColumn && e.name.size() == 1 && p_.outputs[i].name == e.name[0]) ||
            item_sql_[i] == sql)
          found = static_cast<int>(i);
      if (found < 0 && e.kind == ExprKind::kColumn) {
        RETURN_IF_ERROR(ScanColumn(e).status());  // an unknown column is named as such
      }
      if (found < 0)
        return Err(e.pos,
                   "ORDER BY on something not in the select list is not "
                   "supported yet");
    }
    const bool nulls_first = o.nulls == NullsOrder::kDefault ? o.descending : o.nulls == NullsOrder::kFirst;
    p_.order_by.push_back({found, o.descending, nulls_first});
    return Status::Ok();
  }

  const Select& s_;
  LogicalPlan& p_;
  std::vector<std::string> item_sql_;  // per output column
};

}  // namespace

Result<LogicalPlan> PlanSelect(const Select& select, const Catalog& catalog) {
  LogicalPlan plan;
  if (select.from && !select.from->subquery && !select.from->name.empty()) {
    ASSIGN_OR_RETURN(plan.table, catalog.Resolve(*select.from));
  }
  Planner planner(select, &plan);
  RETURN_IF_ERROR(planner.Run());
  if (!plan.always_empty) RETURN_IF_ERROR(PruneFiles(catalog.fs(), &plan));
  return plan;
}

}  // namespace watershed::query
