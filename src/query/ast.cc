#include "query/ast.h"

#include <algorithm>
#include <array>

namespace watershed::query {

std::string ToString(SourcePos pos) { return std::to_string(pos.line) + ":" + std::to_string(pos.column); }

ExprPtr Clone(const Expr& e) {
  auto c = std::make_unique<Expr>();
  c->kind = e.kind;
  c->pos = e.pos;
  c->name = e.name;
  c->text = e.text;
  c->op = e.op;
  c->literal_type = e.literal_type;
  c->bool_value = e.bool_value;
  c->negated = e.negated;
  c->distinct = e.distinct;
  c->star = e.star;
  c->has_operand = e.has_operand;
  c->has_else = e.has_else;
  c->depth = e.depth;
  for (const ExprPtr& a : e.args) c->args.push_back(Clone(*a));
  return c;
}

bool IsReservedWord(std::string_view lower) {
  // Words that start or separate clauses, so that "FROM t WHERE" never reads
  // WHERE as t's alias; the joins and set operations we refuse are here too,
  // so "FROM a RIGHT JOIN b" is an error rather than a table aliased "right".
  static constexpr std::array<std::string_view, 48> kWords = {
      "all",      "and",    "as",        "asc",    "between", "by",    "case",  "cast",   "cross",   "desc",
      "distinct", "else",   "end",       "except", "false",   "for",   "from",  "full",   "group",   "having",
      "in",       "inner",  "intersect", "is",     "join",    "left",  "like",  "limit",  "natural", "not",
      "null",     "offset", "on",        "or",     "order",   "outer", "right", "select", "then",    "true",
      "union",    "using",  "when",      "where",  "window",  "with",  "over",  "lateral"};
  return std::find(kWords.begin(), kWords.end(), lower) != kWords.end();
}

// ---- equality ----

namespace {

template <typename T>
bool SamePtr(const std::unique_ptr<T>& a, const std::unique_ptr<T>& b) {
  if (!a || !b) return !a && !b;
  return *a == *b;
}

template <typename T>
bool SameList(const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if constexpr (std::is_same_v<T, ExprPtr>) {
      if (!SamePtr(a[i], b[i])) return false;
    } else {
      if (!(a[i] == b[i])) return false;
    }
  }
  return true;
}

}  // namespace

bool operator==(const Expr& a, const Expr& b) {
  return a.kind == b.kind && a.name == b.name && a.text == b.text && a.op == b.op && a.literal_type == b.literal_type &&
         a.bool_value == b.bool_value && a.negated == b.negated && a.distinct == b.distinct && a.star == b.star &&
         a.has_operand == b.has_operand && a.has_else == b.has_else && SameList(a.args, b.args);
}

bool operator==(const TableRef& a, const TableRef& b) {
  return a.name == b.name && SamePtr(a.subquery, b.subquery) && a.alias == b.alias && a.time_travel == b.time_travel &&
         a.version == b.version && a.timestamp == b.timestamp;
}

bool operator==(const Join& a, const Join& b) { return a.kind == b.kind && a.table == b.table && SamePtr(a.on, b.on); }

bool operator==(const SelectItem& a, const SelectItem& b) {
  return SamePtr(a.expr, b.expr) && a.star == b.star && a.qualifier == b.qualifier && a.alias == b.alias;
}

bool operator==(const OrderItem& a, const OrderItem& b) {
  return SamePtr(a.expr, b.expr) && a.descending == b.descending && a.nulls == b.nulls;
}

bool operator==(const Select& a, const Select& b) {
  return a.distinct == b.distinct && SameList(a.items, b.items) && a.from == b.from && a.join == b.join &&
         SamePtr(a.where, b.where) && SameList(a.group_by, b.group_by) && SamePtr(a.having, b.having) &&
         SameList(a.order_by, b.order_by) && a.limit == b.limit && a.offset == b.offset;
}

bool operator==(const Statement& a, const Statement& b) {
  return a.kind == b.kind && SamePtr(a.select, b.select) && a.table == b.table;
}

// ---- printing ----

namespace {

std::string Ident(const std::string& name) {
  bool bare = !name.empty() && !IsReservedWord(name) && !(name[0] >= '0' && name[0] <= '9');
  for (char c : name) bare = bare && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_');
  if (bare) return name;
  std::string out = "\"";
  for (char c : name) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string Name(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : ".") + Ident(p);
  return out;
}

std::string Quote(const std::string& value) {
  std::string out = "'";
  for (char c : value) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

// Binding strength, weakest first; a child weaker than its slot needs is
// printed in parentheses.
constexpr int kPrecOr = 1, kPrecAnd = 2, kPrecNot = 3, kPrecCompare = 4, kPrecAdd = 5, kPrecMul = 6, kPrecNeg = 7,
              kPrecPrimary = 8;

int Prec(const Expr& e) {
  switch (e.kind) {
    case ExprKind::kBinary:
      switch (e.op) {
        case Op::kOr:
          return kPrecOr;
        case Op::kAnd:
          return kPrecAnd;
        case Op::kAdd:
        case Op::kSub:
          return kPrecAdd;
        case Op::kMul:
        case Op::kDiv:
        case Op::kMod:
          return kPrecMul;
        default:
          return kPrecCompare;
      }
    case ExprKind::kUnary:
      return e.op == Op::kNot ? kPrecNot : kPrecNeg;
    case ExprKind::kIsNull:
    case ExprKind::kIn:
    case ExprKind::kBetween:
    case ExprKind::kLike:
      return kPrecCompare;
    default:
      return kPrecPrimary;
  }
}

std::string_view OpText(Op op) {
  switch (op) {
    case Op::kOr:
      return "OR";
    case Op::kAnd:
      return "AND";
    case Op::kEq:
      return "=";
    case Op::kNe:
      return "<>";
    case Op::kLt:
      return "<";
    case Op::kLe:
      return "<=";
    case Op::kGt:
      return ">";
    case Op::kGe:
      return ">=";
    case Op::kAdd:
      return "+";
    case Op::kSub:
      return "-";
    case Op::kMul:
      return "*";
    case Op::kDiv:
      return "/";
    case Op::kMod:
      return "%";
    default:
      return "?";
  }
}

std::string Print(const Expr& e, int min_prec);

std::string List(const std::vector<ExprPtr>& args, size_t from = 0) {
  std::string out;
  for (size_t i = from; i < args.size(); ++i) out += (i > from ? ", " : "") + Print(*args[i], 0);
  return out;
}

std::string PrintBare(const Expr& e) {
  const std::string_view no = e.negated ? " NOT" : "";
  switch (e.kind) {
    case ExprKind::kColumn:
      return Name(e.name);
    case ExprKind::kInteger:
    case ExprKind::kDecimal:
      return e.text;
    case ExprKind::kString:
      return Quote(e.text);
    case ExprKind::kNull:
      return "NULL";
    case ExprKind::kBool:
      return e.bool_value ? "TRUE" : "FALSE";
    case ExprKind::kTypedLiteral: {
      std::string_view type = e.literal_type == LiteralType::kInterval    ? "INTERVAL "
                              : e.literal_type == LiteralType::kTimestamp ? "TIMESTAMP "
                                                                          : "DATE ";
      return std::string(type) + Quote(e.text);
    }
    case ExprKind::kUnary:
      if (e.op == Op::kNot) return "NOT " + Print(*e.args[0], kPrecNot);
      // "- -x", never "--x", which would start a comment.
      return (e.args[0]->kind == ExprKind::kUnary ? "- " : "-") + Print(*e.args[0], kPrecNeg);
    case ExprKind::kBinary: {
      const int p = Prec(e);
      std::string out;
      for (size_t i = 0; i < e.args.size(); ++i) {
        // Left-associative: the first operand may be as weak as the node itself,
        // except for comparisons, which do not chain.
        const int slot = (i == 0 && p != kPrecCompare) ? p : p + 1;
        if (i > 0) out += " " + std::string(OpText(e.op)) + " ";
        out += Print(*e.args[i], slot);
      }
      return out;
    }
    case ExprKind::kIsNull:
      return Print(*e.args[0], kPrecAdd) + " IS" + std::string(no) + " NULL";
    case ExprKind::kIn:
      return Print(*e.args[0], kPrecAdd) + std::string(no) + " IN (" + List(e.args, 1) + ")";
    case ExprKind::kBetween:
      return Print(*e.args[0], kPrecAdd) + std::string(no) + " BETWEEN " + Print(*e.args[1], kPrecAdd) + " AND " +
             Print(*e.args[2], kPrecAdd);
    case ExprKind::kLike:
      return Print(*e.args[0], kPrecAdd) + std::string(no) + " LIKE " + Print(*e.args[1], kPrecAdd);
    case ExprKind::kFunction:
      if (e.star) return Ident(e.name[0]) + "(*)";
      return Ident(e.name[0]) + "(" + (e.distinct ? "DISTINCT " : "") + List(e.args) + ")";
    case ExprKind::kCast:
      return "CAST(" + Print(*e.args[0], 0) + " AS " + e.text + ")";
    case ExprKind::kCase: {
      std::string out = "CASE";
      size_t i = 0;
      if (e.has_operand) out += " " + Print(*e.args[i++], 0);
      const size_t pairs_end = e.args.size() - (e.has_else ? 1 : 0);
      for (; i + 2 <= pairs_end; i += 2) out += " WHEN " + Print(*e.args[i], 0) + " THEN " + Print(*e.args[i + 1], 0);
      if (e.has_else) out += " ELSE " + Print(*e.args.back(), 0);
      return out + " END";
    }
  }
  return "?";
}

std::string Print(const Expr& e, int min_prec) {
  std::string s = PrintBare(e);
  return Prec(e) < min_prec ? "(" + s + ")" : s;
}

std::string PrintTable(const TableRef& t) {
  std::string out = t.subquery ? "(" + ToSql(*t.subquery) + ")" : Name(t.name);
  if (t.time_travel == TimeTravel::kVersion) out += " FOR VERSION AS OF " + std::to_string(t.version);
  if (t.time_travel == TimeTravel::kTimestamp) out += " FOR TIMESTAMP AS OF " + Quote(t.timestamp);
  if (!t.alias.empty()) out += " AS " + Ident(t.alias);
  return out;
}

}  // namespace

std::string ToSql(const Expr& e) { return Print(e, 0); }

std::string ToSql(const Select& s) {
  std::string out = s.distinct ? "SELECT DISTINCT " : "SELECT ";
  for (size_t i = 0; i < s.items.size(); ++i) {
    const SelectItem& item = s.items[i];
    if (i > 0) out += ", ";
    if (item.star) {
      out += item.qualifier.empty() ? "*" : Name(item.qualifier) + ".*";
    } else {
      out += ToSql(*item.expr);
      if (!item.alias.empty()) out += " AS " + Ident(item.alias);
    }
  }
  if (s.from) out += " FROM " + PrintTable(*s.from);
  if (s.join) {
    out += s.join->kind == JoinKind::kLeft ? " LEFT JOIN " : " JOIN ";
    out += PrintTable(s.join->table) + " ON " + ToSql(*s.join->on);
  }
  if (s.where) out += " WHERE " + ToSql(*s.where);
  if (!s.group_by.empty()) out += " GROUP BY " + List(s.group_by);
  if (s.having) out += " HAVING " + ToSql(*s.having);
  for (size_t i = 0; i < s.order_by.size(); ++i) {
    const OrderItem& o = s.order_by[i];
    out += (i == 0 ? " ORDER BY " : ", ") + ToSql(*o.expr);
    if (o.descending) out += " DESC";
    if (o.nulls != NullsOrder::kDefault) out += o.nulls == NullsOrder::kFirst ? " NULLS FIRST" : " NULLS LAST";
  }
  if (s.limit) out += " LIMIT " + std::to_string(*s.limit);
  if (s.offset) out += " OFFSET " + std::to_string(*s.offset);
  return out;
}

std::string ToSql(const Statement& s) {
  switch (s.kind) {
    case StatementKind::kSelect:
      return ToSql(*s.select);
    case StatementKind::kShowTables:
      return "SHOW TABLES";
    case StatementKind::kDescribe:
      return "DESCRIBE " + Name(s.table);
    case StatementKind::kExplain:
      return "EXPLAIN " + ToSql(*s.select);
  }
  return "?";
}

}  // namespace watershed::query
