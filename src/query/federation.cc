#include "query/federation.h"

#include <algorithm>
#include <charconv>
#include <functional>
#include <limits>

#include "query/binder.h"
#include "query/parser.h"
#include "query/planner.h"

namespace watershed::query {
namespace {

Status Err(SourcePos pos, const std::string& what) { return Status::InvalidArgument(ToString(pos) + ": " + what); }

ExprPtr Col(const std::string& name) {
  auto c = std::make_unique<Expr>();
  c->kind = ExprKind::kColumn;
  c->name = {name};
  return c;
}

ExprPtr Fn(const std::string& name, ExprPtr arg, bool distinct = false) {
  auto f = std::make_unique<Expr>();
  f->kind = ExprKind::kFunction;
  f->name = {name};
  f->distinct = distinct;
  if (arg) {
    f->depth = arg->depth + 1;
    f->args.push_back(std::move(arg));
  } else {
    f->star = true;
  }
  return f;
}

bool IsAggregateCall(const Expr& e) { return e.kind == ExprKind::kFunction && IsAggregateName(e.name[0]); }

// Column names qualified by the global table ("events.x", "global.events.x") or FROM's alias become bare.
Status Unqualify(Expr& e, const std::string& table, const std::string& alias) {
  if (e.kind == ExprKind::kColumn && e.name.size() > 1) {
    std::vector<std::string> q(e.name.begin(), e.name.end() - 1);
    const bool ok = (q.size() == 1 && (q[0] == table || (!alias.empty() && q[0] == alias))) ||
                    (q.size() == 2 && q[0] == "global" && q[1] == table);
    if (!ok) return Err(e.pos, "unknown table in column '" + ToSql(e) + "'");
    e.name = {e.name.back()};
  }
  for (ExprPtr& a : e.args) RETURN_IF_ERROR(Unqualify(*a, table, alias));
  return Status::Ok();
}

bool SelectIsAggregate(const Select& s) {
  if (!s.group_by.empty() || s.having) return true;
  for (const SelectItem& item : s.items)
    if (item.expr && ContainsAggregate(*item.expr)) return true;
  return false;
}

// The first personal column `e` reads other than as the bare argument of a count (COUNT(x), COUNT(DISTINCT x),
// approx_count_distinct(x), hll_sketch(x)). Only a bare column: COUNT(CASE WHEN viewer_id = '...' THEN 1 END) or
// COUNT(DISTINCT CASE WHEN viewer_id < '...' THEN viewer_id END) would answer questions about single ids.
std::optional<std::string> PersonalUse(const Expr& e, lake::LakeTableId id, const Residency& r) {
  if (e.kind == ExprKind::kFunction &&
      (e.name[0] == "count" || e.name[0] == "approx_count_distinct" || e.name[0] == "hll_sketch") &&
      (e.star || (e.args.size() == 1 && e.args[0]->kind == ExprKind::kColumn))) {
    return std::nullopt;
  }
  if (e.kind == ExprKind::kColumn && r.IsPersonal(id, e.name.back())) return e.name.back();
  for (const ExprPtr& a : e.args)
    if (auto p = PersonalUse(*a, id, r)) return p;
  return std::nullopt;
}

void ColumnsOf(const Expr& e, std::vector<std::string>* out) {
  if (e.kind == ExprKind::kColumn) {
    if (std::find(out->begin(), out->end(), e.name.back()) == out->end()) out->push_back(e.name.back());
    return;
  }
  for (const ExprPtr& a : e.args) ColumnsOf(*a, out);
}

void ReadColumns(const Expr& e, bool counted, std::vector<std::string>* plain, std::vector<std::string>* in_count) {
  if (e.kind == ExprKind::kFunction &&
      (e.name[0] == "count" || e.name[0] == "approx_count_distinct" || e.name[0] == "hll_sketch"))
    counted = true;
  if (e.kind == ExprKind::kColumn) {
    auto* out = counted ? in_count : plain;
    if (std::find(out->begin(), out->end(), e.name.back()) == out->end()) out->push_back(e.name.back());
  }
  for (const ExprPtr& a : e.args) ReadColumns(*a, counted, plain, in_count);
}

bool HasColumn(lake::LakeTableId id, const std::string& name) {
  for (const auto& c : lake::SchemaOf(id))
    if (c.name == name) return true;
  return false;
}

// The name a select item's result gets (as the planner names it).
std::string ResultName(const SelectItem& item) {
  if (!item.alias.empty()) return item.alias;
  return item.expr->kind == ExprKind::kColumn ? item.expr->name.back() : ToSql(*item.expr);
}

constexpr const char* kPartials = "partials";

// Rewrites the aggregate query's expressions over the partial rows.
class AggregateSplit {
 public:
  AggregateSplit(std::vector<ExprPtr> keys, DistinctViewers distinct) : keys_(std::move(keys)), distinct_(distinct) {}

  Result<ExprPtr> Rewrite(const Expr& e) {
    for (size_t i = 0; i < keys_.size(); ++i)
      if (e == *keys_[i]) return Col("_g" + std::to_string(i));
    if (IsAggregateCall(e)) return Merge(e);
    if (e.kind == ExprKind::kColumn)
      return Err(e.pos, "column '" + e.name.back() + "' must appear in GROUP BY or be used in an aggregate function");
    ExprPtr c = Clone(e);
    c->args.clear();
    for (const ExprPtr& a : e.args) {
      ASSIGN_OR_RETURN(ExprPtr r, Rewrite(*a));
      c->args.push_back(std::move(r));
    }
    return c;
  }

  const std::vector<ExprPtr>& keys() const { return keys_; }
  std::vector<SelectItem>& partials() { return partials_; }
  std::vector<std::string>& described() { return described_; }

 private:
  std::string AddPartial(ExprPtr e) {
    const std::string sql = ToSql(*e);
    for (size_t i = 0; i < partials_.size(); ++i)
      if (ToSql(*partials_[i].expr) == sql) return partials_[i].alias;
    SelectItem item;
    item.alias = "_a" + std::to_string(partials_.size());
    described_.push_back(item.alias + " = " + sql);
    item.expr = std::move(e);
    partials_.push_back(std::move(item));
    return partials_.back().alias;
  }

  Result<ExprPtr> Merge(const Expr& e) {
    const std::string& fn = e.name[0];
    for (const ExprPtr& a : e.args)
      if (ContainsAggregate(*a)) return Err(a->pos, "aggregate functions cannot be nested");
    if (fn == "count" && e.star) return Fn("sum", Col(AddPartial(Fn("count", nullptr))));
    if (e.args.size() != 1) return Err(e.pos, fn + " takes one argument");
    const Expr& arg = *e.args[0];
    if (fn == "approx_count_distinct") return Fn("hll_merge", Col(AddPartial(Fn("hll_sketch", Clone(arg)))));
    if (fn == "count" && e.distinct) {
      if (arg.kind != ExprKind::kColumn || arg.name.back() != "viewer_id")
        return Err(e.pos, ToSql(e) +
                              " over a global table is not supported (only distinct viewer_id counts merge across "
                              "regions)");
      if (fn == "count" && distinct_ == DistinctViewers::kSum) return Fn("sum", Col(AddPartial(Clone(e))));
      return Fn("hll_merge", Col(AddPartial(Fn("hll_sketch", Clone(arg)))));
    }
    if (e.distinct) return Err(e.pos, ToSql(e) + " over a global table is not supported");
    if (fn == "count" || fn == "sum") return Fn("sum", Col(AddPartial(Clone(e))));
    if (fn == "min" || fn == "max") return Fn(fn, Col(AddPartial(Clone(e))));
    if (fn == "avg") {
      // AVG(x) = SUM(x) / COUNT(x) over every region; NULL when no region has a value.
      const std::string s = AddPartial(Fn("sum", Clone(arg)));
      const std::string n = AddPartial(Fn("count", Clone(arg)));
      ASSIGN_OR_RETURN(Statement st, Parse("SELECT CASE WHEN sum(" + n + ") = 0 THEN NULL ELSE CAST(sum(" + s +
                                           ") AS DOUBLE) / sum(" + n + ") END"));
      return std::move(st.select->items[0].expr);
    }
    return Err(e.pos, ToSql(e) + " over a global table is not supported");
  }

  std::vector<ExprPtr> keys_;
  DistinctViewers distinct_;
  std::vector<SelectItem> partials_;
  std::vector<std::string> described_;
};

// The expression a GROUP BY item stands for (a position or an alias names a select item).
Result<ExprPtr> GroupKey(const Expr& g, const Select& s, lake::LakeTableId id) {
  if (g.kind == ExprKind::kInteger) {
    int64_t n = 0;
    std::from_chars(g.text.data(), g.text.data() + g.text.size(), n);  // n stays 0 when out of range
    if (n < 1 || n > static_cast<int64_t>(s.items.size()) || s.items[n - 1].star)
      return Err(g.pos, "GROUP BY position " + g.text + " is not in the select list");
    return Clone(*s.items[n - 1].expr);
  }
  if (g.kind == ExprKind::kColumn && g.name.size() == 1 && !HasColumn(id, g.name[0])) {
    for (const SelectItem& item : s.items)
      if (!item.star && item.alias == g.name[0]) return Clone(*item.expr);
  }
  return Clone(g);
}

TableRef RegionTable(Region region, const std::string& table) {
  TableRef t;
  t.name = {std::string(RegionName(region)), table};
  return t;
}

}  // namespace

bool Residency::IsPersonal(lake::LakeTableId table, const std::string& column) const {
  const auto& p = personal[static_cast<size_t>(table)];
  return std::find(p.begin(), p.end(), column) != p.end();
}

std::string ViolationMessage(const ResidencyViolation& v) {
  return "residency_violation: table '" + v.table + "' column '" + v.column + "' region '" + v.region + "' rule '" +
         v.rule + "': " + v.reason;
}

std::optional<ResidencyViolation> ParseViolation(const std::string& message) {
  // The fields are quoted in order; a rule may hold quotes, so each field ends at the next "' <label> '".
  const std::string_view m = message;
  auto pos = m.find("residency_violation: table '");
  if (pos == std::string_view::npos) return std::nullopt;
  ResidencyViolation v;
  size_t at = pos + std::string_view("residency_violation: table '").size();
  auto field = [&](std::string_view end, std::string* out) {
    const size_t e = m.find(end, at);
    if (e == std::string_view::npos) return false;
    *out = std::string(m.substr(at, e - at));
    at = e + end.size();
    return true;
  };
  if (!field("' column '", &v.table) || !field("' region '", &v.column) || !field("' rule '", &v.region)) {
    return std::nullopt;
  }
  const size_t e = m.rfind("': ");
  if (e == std::string_view::npos || e < at) return std::nullopt;
  v.rule = std::string(m.substr(at, e - at));
  v.reason = std::string(m.substr(e + 3));
  return v;
}

Status Violation(const ResidencyViolation& v) { return Status::PermissionDenied(ViolationMessage(v)); }

bool NamesGlobal(const Statement& st) {
  std::function<bool(const Select&)> in = [&](const Select& s) {
    auto ref = [&](const TableRef& t) {
      if (!t.name.empty() && t.name[0] == "global" && t.name.size() == 2) return true;
      return t.subquery && in(*t.subquery);
    };
    return (s.from && ref(*s.from)) || (s.join && ref(s.join->table));
  };
  if (st.kind == StatementKind::kDescribe) return !st.table.empty() && st.table[0] == "global";
  return st.select && in(*st.select);
}

Status CheckFragment(const Select& f, Region region, Region to, const Residency& residency) {
  if (!f.from || f.from->subquery || f.join || f.from->name.size() != 2)
    return Status::InvalidArgument("a fragment reads one table of its region: SELECT ... FROM <region>.<table>");
  if (f.from->name[0] != RegionName(region))
    return Status::InvalidArgument("a fragment for region " + std::string(RegionName(region)) + " reads " +
                                   f.from->name[0] + "." + f.from->name[1]);
  const auto id = lake::LakeTableByName(f.from->name[1]);
  if (!id) return Status::InvalidArgument("unknown table '" + f.from->name[1] + "'");
  if (to == region) return Status::Ok();
  const ExportRule& rule = residency.regions[static_cast<size_t>(region)];
  ResidencyViolation v;
  v.table = f.from->name[0] + "." + f.from->name[1];
  v.region = RegionName(region);
  v.rule = rule.rule;
  const std::string where = "region " + v.region + " to " + std::string(RegionName(to));
  if (rule.kind == ExportRule::Kind::kNone) {
    v.reason = "export = none: nothing of " + v.table + " may leave " + where;
    return Violation(v);
  }
  // A personal column anywhere but as the bare argument of a count. Not in WHERE either: a filter over ids
  // (viewer_id < 'm', viewer_id <> '...') turns the counts, or the k refusal itself, into an oracle on single ids.
  std::optional<std::string> personal;
  if (f.where) personal = PersonalUse(*f.where, *id, residency);
  for (const SelectItem& item : f.items) {
    if (personal) break;
    if (item.star) {
      for (const auto& c : lake::SchemaOf(*id))
        if (residency.IsPersonal(*id, c.name)) {
          personal = c.name;
          break;
        }
    } else {
      personal = PersonalUse(*item.expr, *id, residency);
    }
  }
  for (const ExprPtr& g : f.group_by)
    if (!personal) personal = PersonalUse(*g, *id, residency);
  if (!personal && f.having) personal = PersonalUse(*f.having, *id, residency);
  for (const OrderItem& o : f.order_by)
    if (!personal) personal = PersonalUse(*o.expr, *id, residency);
  if (personal && rule.kind != ExportRule::Kind::kRows) {
    v.column = *personal;
    v.reason = "personal column " + *personal + " may not leave " + where + " (export = aggregates)";
    return Violation(v);
  }
  if (!SelectIsAggregate(f) && rule.kind != ExportRule::Kind::kRows) {
    v.column = f.items.empty() || f.items[0].star ? "*" : ResultName(f.items[0]);
    v.reason = "rows may not leave " + where +
               ": only aggregates over groups of at least k = " + std::to_string(rule.k) +
               " distinct viewers (export = aggregates)";
    return Violation(v);
  }
  return Status::Ok();
}

Result<QueryResult> RunFragment(const std::string& sql, Region to, Region region, const Catalog& catalog,
                                const Residency& residency, const ExecLimits& limits, size_t max_rows) {
  ASSIGN_OR_RETURN(Statement st, Parse(sql));
  if (st.kind != StatementKind::kSelect) return Status::InvalidArgument("a fragment is one SELECT");
  Select& f = *st.select;
  RETURN_IF_ERROR(CheckFragment(f, region, to, residency));
  const auto id = *lake::LakeTableByName(f.from->name[1]);
  const ExportRule& rule = residency.regions[static_cast<size_t>(region)];
  const bool check_k =
      to != region && rule.kind == ExportRule::Kind::kAggregates && SelectIsAggregate(f) && HasColumn(id, "viewer_id");
  if (check_k) {
    // Computed even when not asked for: the k check of every group, removed before the answer.
    SelectItem k;
    k.expr = Fn("count", Col("viewer_id"), /*distinct=*/true);
    k.alias = kKColumn;
    f.items.push_back(std::move(k));
  }
  auto plan = PlanSelect(f, catalog);
  // A region whose table was never created (no data yet) has nothing to add: no columns, no rows.
  if (!plan.ok() && plan.status().code() == StatusCode::kNotFound) return QueryResult{};
  if (!plan.ok()) return plan.status();
  ASSIGN_OR_RETURN(QueryResult result, Execute(*plan, catalog.fs(), limits));
  if (result.rows.size() > max_rows)
    return Status::TooLarge("the fragment's answer has more than " + std::to_string(max_rows) + " rows");
  if (check_k) {
    for (auto& row : result.rows) {
      if (row.back().null || row.back().i < rule.k) {
        ResidencyViolation v;
        v.table = f.from->name[0] + "." + f.from->name[1];
        v.column = "viewer_id";
        v.region = RegionName(region);
        v.rule = rule.rule;
        v.reason = "a group of the answer has fewer than k = " + std::to_string(rule.k) +
                   " distinct viewers; aggregates leave region " + v.region + " only over groups of at least k";
        return Violation(v);
      }
      row.pop_back();
    }
    result.names.pop_back();
    result.types.pop_back();
  }
  return result;
}

Result<GlobalPlan> PlanGlobal(const Statement& st, Region coordinator, const std::vector<Region>& regions,
                              const Residency& residency, DistinctViewers distinct) {
  if (st.kind == StatementKind::kDescribe)
    return Status::InvalidArgument("1:1: DESCRIBE of a global table is not supported (describe a region's table)");
  if (!st.select) return Status::InvalidArgument("1:1: only SELECT and EXPLAIN run over a global table");
  const Select& s = *st.select;
  if (!s.from || s.from->name.size() != 2 || s.from->name[0] != "global") {
    const SourcePos pos = s.from ? s.from->pos : s.pos;
    return Err(pos, "a subquery or JOIN over a global table is not supported (FROM global.<table> at the top only)");
  }
  if (s.join) return Err(s.join->table.pos, "a JOIN with a global table is not supported (joins across regions)");
  if (s.from->time_travel != TimeTravel::kNone)
    return Err(s.from->pos, "time travel over a global table is not supported");
  const std::string table = s.from->name[1];
  const auto id = lake::LakeTableByName(table);
  if (!id) return Err(s.from->pos, "unknown table 'global." + table + "'");
  const std::string alias = s.from->alias;

  // A normalised copy: bare column names.
  Select q;
  q.pos = s.pos;
  q.distinct = s.distinct;
  for (const SelectItem& item : s.items) {
    SelectItem c;
    c.star = item.star;
    c.qualifier = item.qualifier;
    c.alias = item.alias;
    if (item.star && !item.qualifier.empty()) {
      const auto& qq = item.qualifier;
      const bool ok = (qq.size() == 1 && (qq[0] == table || qq[0] == alias)) ||
                      (qq.size() == 2 && qq[0] == "global" && qq[1] == table);
      if (!ok) return Err(s.pos, "unknown table in '" + ToSql(s) + "'");
      c.qualifier.clear();
    }
    if (item.expr) {
      c.expr = Clone(*item.expr);
      RETURN_IF_ERROR(Unqualify(*c.expr, table, alias));
    }
    q.items.push_back(std::move(c));
  }
  if (s.where) {
    q.where = Clone(*s.where);
    RETURN_IF_ERROR(Unqualify(*q.where, table, alias));
  }
  for (const ExprPtr& g : s.group_by) {
    q.group_by.push_back(Clone(*g));
    RETURN_IF_ERROR(Unqualify(*q.group_by.back(), table, alias));
  }
  if (s.having) {
    q.having = Clone(*s.having);
    RETURN_IF_ERROR(Unqualify(*q.having, table, alias));
  }
  for (const OrderItem& o : s.order_by) {
    OrderItem c;
    c.expr = Clone(*o.expr);
    c.descending = o.descending;
    c.nulls = o.nulls;
    RETURN_IF_ERROR(Unqualify(*c.expr, table, alias));
    q.order_by.push_back(std::move(c));
  }
  q.limit = s.limit;
  q.offset = s.offset;

  GlobalPlan plan;
  plan.table = table;
  plan.explain = st.kind == StatementKind::kExplain;
  plan.distinct = distinct;
  plan.aggregate = SelectIsAggregate(q);
  auto merge = std::make_shared<Select>();
  merge->pos = q.pos;
  merge->distinct = q.distinct;
  merge->from.emplace();
  merge->from->name = {kPartials};
  merge->from->alias = kPartials;
  merge->limit = q.limit;
  merge->offset = q.offset;

  Select frag;  // the fragment over region "us"; the others differ only in FROM
  std::vector<std::string> crossing;
  // ORDER BY <name> names a select item's result before a column of the table (as the planner resolves it), also
  // when an alias shadows a column (SELECT -watch_ms AS watch_ms ... ORDER BY watch_ms).
  auto is_output_name = [&](const Expr& e) {
    if (e.kind != ExprKind::kColumn || e.name.size() != 1) return false;
    for (const SelectItem& item : q.items)
      if (!item.star && ResultName(item) == e.name[0]) return true;
    return false;
  };
  if (plan.aggregate) {
    std::vector<ExprPtr> keys;
    for (const ExprPtr& g : q.group_by) {
      ASSIGN_OR_RETURN(ExprPtr k, GroupKey(*g, q, *id));
      if (ContainsAggregate(*k)) return Err(g->pos, "aggregate functions are not allowed in GROUP BY");
      keys.push_back(std::move(k));
    }
    AggregateSplit split(std::move(keys), distinct);
    for (const SelectItem& item : q.items) {
      if (item.star) return Err(q.pos, "SELECT * with GROUP BY or an aggregate");
      SelectItem m;
      ASSIGN_OR_RETURN(m.expr, split.Rewrite(*item.expr));
      m.alias = ResultName(item);
      merge->items.push_back(std::move(m));
    }
    if (q.having) {
      ASSIGN_OR_RETURN(merge->having, split.Rewrite(*q.having));
    }
    for (const OrderItem& o : q.order_by) {
      OrderItem m;
      m.descending = o.descending;
      m.nulls = o.nulls;
      if (o.expr->kind == ExprKind::kInteger || is_output_name(*o.expr)) {
        m.expr = Clone(*o.expr);
      } else {
        ASSIGN_OR_RETURN(m.expr, split.Rewrite(*o.expr));
      }
      merge->order_by.push_back(std::move(m));
    }
    for (size_t i = 0; i < split.keys().size(); ++i) {
      SelectItem k;
      k.expr = Clone(*split.keys()[i]);
      k.alias = "_g" + std::to_string(i);
      crossing.push_back(k.alias + " = " + ToSql(*k.expr));
      frag.items.push_back(std::move(k));
      frag.group_by.push_back(Clone(*split.keys()[i]));
      merge->group_by.push_back(Col("_g" + std::to_string(i)));
    }
    for (SelectItem& p : split.partials()) frag.items.push_back(std::move(p));
    for (std::string& d : split.described()) crossing.push_back(std::move(d));
  } else {
    bool star = false;
    std::vector<std::string> cols;
    for (const SelectItem& item : q.items) {
      if (item.star)
        star = true;
      else
        ColumnsOf(*item.expr, &cols);
    }
    for (const OrderItem& o : q.order_by)
      if (o.expr->kind != ExprKind::kInteger && !is_output_name(*o.expr)) ColumnsOf(*o.expr, &cols);
    if (star) {
      SelectItem all;
      all.star = true;
      frag.items.push_back(std::move(all));
      for (const auto& c : lake::SchemaOf(*id)) crossing.push_back(c.name);
    } else {
      for (const std::string& c : cols) {
        SelectItem item;
        item.expr = Col(c);
        frag.items.push_back(std::move(item));
        crossing.push_back(c);
      }
      if (cols.empty()) {  // SELECT 1 FROM global.events: one constant per row
        SelectItem item;
        auto one = std::make_unique<Expr>();
        one->kind = ExprKind::kInteger;
        one->text = "1";
        item.expr = std::move(one);
        item.alias = "_one";
        frag.items.push_back(std::move(item));
        crossing.push_back("_one");
      }
    }
    // ORDER BY ... LIMIT n and a bare LIMIT go down too (n + OFFSET rows per region), unless DISTINCT.
    if (q.limit && !q.distinct) {
      const int64_t off = std::max<int64_t>(q.offset.value_or(0), 0);
      const int64_t n =
          *q.limit > std::numeric_limits<int64_t>::max() - off ? std::numeric_limits<int64_t>::max() : *q.limit + off;
      bool pushable = true;
      std::vector<OrderItem> order;
      for (const OrderItem& o : q.order_by) {
        OrderItem c;
        c.descending = o.descending;
        c.nulls = o.nulls;
        if (o.expr->kind == ExprKind::kInteger) {
          int64_t pos = 0;
          std::from_chars(o.expr->text.data(), o.expr->text.data() + o.expr->text.size(), pos);
          const size_t k = static_cast<size_t>(std::max<int64_t>(0, pos));
          if (k < 1 || k > q.items.size() || q.items[k - 1].star) {
            pushable = false;
            break;
          }
          c.expr = Clone(*q.items[k - 1].expr);
        } else if (is_output_name(*o.expr)) {
          for (const SelectItem& item : q.items)
            if (!item.star && ResultName(item) == o.expr->name[0]) c.expr = Clone(*item.expr);
        } else {
          c.expr = Clone(*o.expr);
        }
        order.push_back(std::move(c));
      }
      if (pushable) {
        frag.order_by = std::move(order);
        frag.limit = n;
      }
    }
    for (const SelectItem& item : q.items)
      merge->items.push_back({item.expr ? Clone(*item.expr) : nullptr, item.star, {}, item.alias});
    for (const OrderItem& o : q.order_by) {
      OrderItem m;
      m.expr = Clone(*o.expr);
      m.descending = o.descending;
      m.nulls = o.nulls;
      merge->order_by.push_back(std::move(m));
    }
  }
  if (q.where) frag.where = Clone(*q.where);
  for (const SelectItem& item : frag.items) {
    if (item.star) {
      for (const auto& c : lake::SchemaOf(*id)) plan.plain_columns.push_back(c.name);
    } else {
      ReadColumns(*item.expr, false, &plan.plain_columns, &plan.counted_columns);
    }
  }
  if (frag.where) ReadColumns(*frag.where, false, &plan.plain_columns, &plan.counted_columns);
  for (const ExprPtr& g : frag.group_by) ReadColumns(*g, false, &plan.plain_columns, &plan.counted_columns);
  for (const OrderItem& o : frag.order_by) ReadColumns(*o.expr, false, &plan.plain_columns, &plan.counted_columns);

  // The fragments: one per region, each checked before anything is sent.
  for (Region r : regions) {
    Fragment fr;
    fr.region = r;
    Select one;
    one.distinct = false;
    for (const SelectItem& item : frag.items)
      one.items.push_back({item.expr ? Clone(*item.expr) : nullptr, item.star, {}, item.alias});
    one.from = RegionTable(r, table);
    if (frag.where) one.where = Clone(*frag.where);
    for (const ExprPtr& g : frag.group_by) one.group_by.push_back(Clone(*g));
    for (const OrderItem& o : frag.order_by) {
      OrderItem c;
      c.expr = Clone(*o.expr);
      c.descending = o.descending;
      c.nulls = o.nulls;
      one.order_by.push_back(std::move(c));
    }
    one.limit = frag.limit;
    RETURN_IF_ERROR(CheckFragment(one, r, coordinator, residency));
    fr.sql = ToSql(one);
    fr.columns = crossing;
    plan.fragments.push_back(std::move(fr));
  }
  plan.merge = std::move(merge);
  return plan;
}

Result<QueryResult> MergeGlobal(const GlobalPlan& plan, std::vector<QueryResult> partials, const ExecLimits& limits) {
  if (partials.size() != plan.fragments.size() || partials.empty())
    return Status::Internal("MergeGlobal: one result per fragment");
  // A region without the table answered no columns: it adds no rows. The others name the columns.
  size_t named = 0;
  while (named < partials.size() && partials[named].names.empty() && partials[named].rows.empty()) ++named;
  if (named == partials.size()) return Status::NotFound("global." + plan.table + " does not exist yet in any region");
  const QueryResult& first = partials[named];
  std::vector<CatalogColumn> columns;
  for (size_t c = 0; c < first.names.size(); ++c)
    columns.push_back({first.names[c], -1, first.types[c], true, nullptr});
  auto rows = std::make_shared<std::vector<std::vector<Value>>>();
  ExecStats stats;
  for (size_t i = 0; i < partials.size(); ++i) {
    QueryResult& p = partials[i];
    if (p.names.empty() && p.rows.empty()) continue;
    if (p.names != first.names || p.types != first.types)
      return Status::Internal("region " + std::string(RegionName(plan.fragments[i].region)) +
                              " answered other columns than region " +
                              std::string(RegionName(plan.fragments[named].region)));
    for (auto& row : p.rows) {
      if (row.size() != columns.size()) return Status::Internal("a fragment row has the wrong number of values");
      rows->push_back(std::move(row));
    }
    stats.files_read += p.stats.files_read;
    stats.row_groups_read += p.stats.row_groups_read;
    stats.rows_scanned += p.stats.rows_scanned;
  }
  ASSIGN_OR_RETURN(LogicalPlan merge, PlanOverRows(*plan.merge, std::move(columns), std::move(rows)));
  ASSIGN_OR_RETURN(QueryResult out, Execute(merge, nullptr, limits));
  out.stats = stats;
  return out;
}

std::string ExplainGlobal(const GlobalPlan& plan, Region coordinator, const std::vector<int64_t>& estimated_rows) {
  std::string out = "Global " + plan.table + " (coordinator " + std::string(RegionName(coordinator)) + ", " +
                    (plan.aggregate ? "partial aggregates" : "rows") + ")\n";
  if (plan.aggregate)
    out += std::string("  Distinct viewers: ") +
           (plan.distinct == DistinctViewers::kSum
                ? "summed over regions (viewers pinned to their home region: auth on)"
                : "HyperLogLog sketches merged (viewers not provably in one region: auth off)") +
           "\n";
  for (size_t i = 0; i < plan.fragments.size(); ++i) {
    const Fragment& f = plan.fragments[i];
    const int64_t est = i < estimated_rows.size() ? estimated_rows[i] : -1;
    if (f.region == coordinator) {
      out += "  Local " + std::string(RegionName(f.region)) + " (crosses no border)";
    } else {
      out += "  Border " + std::string(RegionName(f.region)) + " -> " + std::string(RegionName(coordinator)) + ":";
    }
    out += " columns [";
    for (size_t c = 0; c < f.columns.size(); ++c) out += (c ? ", " : "") + f.columns[c];
    out += "], estimated rows " + (est < 0 ? std::string("unknown") : "<= " + std::to_string(est)) + "\n";
    out += "    Fragment: " + f.sql + "\n";
  }
  out += "  Merge: " + ToSql(*plan.merge) + "\n";
  return out;
}

Result<int64_t> EstimateFragment(const std::string& sql, const Catalog& catalog) {
  ASSIGN_OR_RETURN(Statement st, Parse(sql));
  if (st.kind != StatementKind::kSelect) return Status::InvalidArgument("a fragment is one SELECT");
  auto plan = PlanSelect(*st.select, catalog);
  if (!plan.ok() && plan.status().code() == StatusCode::kNotFound) return int64_t{0};
  if (!plan.ok()) return plan.status();
  if (plan->aggregate && plan->group_keys.empty()) return int64_t{1};
  int64_t rows = 0;
  for (const FileScan& f : plan->files)
    for (int64_t r : f.rows) rows += r;
  if (plan->limit) rows = std::min(rows, *plan->limit);
  return rows;
}

}  // namespace watershed::query
