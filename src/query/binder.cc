#include "query/binder.h"

#include <bit>
#include <charconv>

#include "query/literals.h"
#include "query/value_compare.h"

namespace watershed::query {
namespace {

Status Err(SourcePos pos, const std::string& message) {
  return Status::InvalidArgument(ToString(pos) + ": " + message);
}

bool IsNumeric(ColumnType t) { return t == ColumnType::kBigint || t == ColumnType::kDouble; }

BoundExpr Const(const Expr& src, ColumnType type, Value v) {
  BoundExpr b;
  b.kind = BKind::kConst;
  b.type = type;
  b.value = std::move(v);
  b.text = ToSql(src);
  b.pos = src.pos;
  return b;
}

BoundExpr Node(BKind kind, ColumnType type, const Expr& src) {
  BoundExpr b;
  b.kind = kind;
  b.type = type;
  b.text = ToSql(src);
  b.pos = src.pos;
  return b;
}

}  // namespace

BoundExpr CastTo(BoundExpr x, ColumnType to) {
  BoundExpr c;
  c.kind = BKind::kCast;
  c.type = to;
  c.text = x.text;
  c.pos = x.pos;
  c.args.push_back(std::move(x));
  return c;
}

namespace {

// Makes x of type `to` where SQL allows it implicitly; false otherwise.
Result<bool> Coerce(BoundExpr& x, ColumnType to) {
  if (x.type == to) return true;
  if (x.null_literal) {
    x.type = to;
    x.null_literal = false;
    return true;
  }
  if (x.type == ColumnType::kBigint && to == ColumnType::kDouble) {
    if (x.kind == BKind::kConst) {
      x.value.d = static_cast<double>(x.value.i);
      x.type = to;
    } else {
      x = CastTo(std::move(x), to);
    }
    return true;
  }
  if (x.kind == BKind::kConst && x.type == ColumnType::kString && !x.value.null) {
    if (to == ColumnType::kTimestamp) {
      auto t = TimestampMicros(x.value.s, false);
      if (!t.ok()) t = TimestampMicros(x.value.s, true);
      if (!t.ok()) return Err(x.pos, "not a timestamp: " + x.text);
      x.value.i = *t;
      x.type = to;
      return true;
    }
    if (to == ColumnType::kUuid) {
      auto u = ParseUuidText(x.value.s);
      if (!u) return Err(x.pos, "not a uuid: " + x.text);
      x.value.s = *u;
      x.type = to;
      return true;
    }
  }
  return false;
}

// Brings a and b to one type for a comparison (or CASE/COALESCE/IN).
Status Unify(BoundExpr& a, BoundExpr& b, const char* what) {
  if (a.type == b.type && !a.null_literal && !b.null_literal) return Status::Ok();
  if (a.null_literal && b.null_literal) {
    ASSIGN_OR_RETURN(bool ok, Coerce(a, ColumnType::kBigint));
    ASSIGN_OR_RETURN(ok, Coerce(b, ColumnType::kBigint));
    (void)ok;
    return Status::Ok();
  }
  if (a.null_literal || (a.type == ColumnType::kBigint && b.type == ColumnType::kDouble) ||
      (a.kind == BKind::kConst && a.type == ColumnType::kString)) {
    ASSIGN_OR_RETURN(bool ok, Coerce(a, b.type));
    if (ok) return Status::Ok();
  }
  ASSIGN_OR_RETURN(bool ok, Coerce(b, a.type));
  if (ok) return Status::Ok();
  // Name the literal when there is one: "cannot compare BIGINT with 'a'".
  const BoundExpr& lit = b.kind == BKind::kConst ? b : a;
  const BoundExpr& other = &lit == &b ? a : b;
  if (lit.kind == BKind::kConst)
    return Err(lit.pos, std::string("cannot ") + what + " " + TypeName(other.type) + " with " + lit.text);
  return Err(a.pos, std::string("cannot ") + what + " " + TypeName(a.type) + " with " + TypeName(b.type));
}

Status Expect(BoundExpr& x, ColumnType t, const std::string& context) {
  ASSIGN_OR_RETURN(bool ok, Coerce(x, t));
  if (!ok) return Err(x.pos, context + " needs " + TypeName(t) + ", not " + TypeName(x.type) + " (" + x.text + ")");
  return Status::Ok();
}

// A node whose operands are all constants becomes a constant.
Status Fold(BoundExpr& b) {
  if (b.kind == BKind::kColumn || b.kind == BKind::kConst) return Status::Ok();
  for (const BoundExpr& a : b.args)
    if (a.kind != BKind::kConst) return Status::Ok();
  Batch one;
  one.n = 1;
  Vec v;
  RETURN_IF_ERROR(Eval(b, one, &v));
  b.value = v.Get(0);
  b.kind = BKind::kConst;
  b.args.clear();
  return Status::Ok();
}

class Binder {
 public:
  explicit Binder(const BindHooks& h) : h_(h) {}

  Result<BoundExpr> Bind(const Expr& e) {
    if (h_.intercept) {
      ASSIGN_OR_RETURN(std::optional<BoundExpr> got, h_.intercept(e));
      if (got) return std::move(*got);
    }
    ASSIGN_OR_RETURN(BoundExpr b, BindNode(e));
    RETURN_IF_ERROR(Fold(b));
    return b;
  }

 private:
  Result<BoundExpr> BindNode(const Expr& e) {
    switch (e.kind) {
      case ExprKind::kColumn:
        return h_.column(e);
      case ExprKind::kInteger:
        return Integer(e, false);
      case ExprKind::kDecimal: {
        Value v;
        auto [p, ec] = std::from_chars(e.text.data(), e.text.data() + e.text.size(), v.d);
        if (ec != std::errc()) return Err(e.pos, "bad number " + e.text);
        return Const(e, ColumnType::kDouble, v);
      }
      case ExprKind::kString: {
        Value v;
        v.s = e.text;
        return Const(e, ColumnType::kString, v);
      }
      case ExprKind::kNull: {
        Value v;
        v.null = true;
        BoundExpr b = Const(e, ColumnType::kBigint, v);
        b.null_literal = true;
        return b;
      }
      case ExprKind::kBool: {
        Value v;
        v.i = e.bool_value;
        return Const(e, ColumnType::kBoolean, v);
      }
      case ExprKind::kTypedLiteral: {
        Value v;
        if (e.literal_type == LiteralType::kInterval) {
          ASSIGN_OR_RETURN(v.i, IntervalMicros(e.text));
          return Const(e, ColumnType::kInterval, v);
        }
        ASSIGN_OR_RETURN(v.i, TimestampMicros(e.text, e.literal_type == LiteralType::kDate));
        return Const(e, ColumnType::kTimestamp, v);
      }
      case ExprKind::kUnary:
        return Unary(e);
      case ExprKind::kBinary:
        return Binary(e);
      case ExprKind::kIsNull: {
        BoundExpr b = Node(BKind::kIsNull, ColumnType::kBoolean, e);
        b.negated = e.negated;
        ASSIGN_OR_RETURN(BoundExpr x, Bind(*e.args[0]));
        b.args.push_back(std::move(x));
        return b;
      }
      case ExprKind::kIn:
      case ExprKind::kBetween: {
        BoundExpr b = Node(e.kind == ExprKind::kIn ? BKind::kIn : BKind::kBetween, ColumnType::kBoolean, e);
        b.negated = e.negated;
        for (const ExprPtr& a : e.args) {
          ASSIGN_OR_RETURN(BoundExpr x, Bind(*a));
          b.args.push_back(std::move(x));
        }
        // One type for all: numbers widen to DOUBLE when one is.
        for (size_t k = 1; k < b.args.size(); ++k) RETURN_IF_ERROR(Unify(b.args[0], b.args[k], "compare"));
        for (size_t k = 1; k < b.args.size(); ++k) RETURN_IF_ERROR(Unify(b.args[0], b.args[k], "compare"));
        return b;
      }
      case ExprKind::kLike: {
        BoundExpr b = Node(BKind::kLike, ColumnType::kBoolean, e);
        b.negated = e.negated;
        for (const ExprPtr& a : e.args) {
          ASSIGN_OR_RETURN(BoundExpr x, Bind(*a));
          RETURN_IF_ERROR(Expect(x, ColumnType::kString, "LIKE"));
          b.args.push_back(std::move(x));
        }
        return b;
      }
      case ExprKind::kFunction:
        return Function(e);
      case ExprKind::kCast:
        return Cast(e);
      case ExprKind::kCase:
        return Case(e);
    }
    return Err(e.pos, "unknown expression");
  }

  Result<BoundExpr> Integer(const Expr& e, bool negative) {
    Value v;
    const std::string digits = (negative ? "-" : "") + e.text;
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v.i);
    if (ec != std::errc() || p != digits.data() + digits.size()) return Err(e.pos, "integer out of range");
    v.d = static_cast<double>(v.i);
    return Const(e, ColumnType::kBigint, v);
  }

  Result<BoundExpr> Unary(const Expr& e) {
    if (e.op == Op::kNeg && e.args[0]->kind == ExprKind::kInteger) {  // -9223372036854775808 fits
      ASSIGN_OR_RETURN(BoundExpr b, Integer(*e.args[0], true));
      b.text = ToSql(e);
      b.pos = e.pos;
      return b;
    }
    ASSIGN_OR_RETURN(BoundExpr x, Bind(*e.args[0]));
    if (e.op == Op::kNot) {
      RETURN_IF_ERROR(Expect(x, ColumnType::kBoolean, "NOT"));
      BoundExpr b = Node(BKind::kNot, ColumnType::kBoolean, e);
      b.args.push_back(std::move(x));
      return b;
    }
    if (!IsNumeric(x.type) && x.type != ColumnType::kInterval && !x.null_literal)
      return Err(e.pos, std::string("cannot negate ") + TypeName(x.type));
    BoundExpr b = Node(BKind::kNeg, x.type, e);
    b.args.push_back(std::move(x));
    return b;
  }

  Result<BoundExpr> Binary(const Expr& e) {
    std::vector<BoundExpr> args;
    for (const ExprPtr& a : e.args) {
      ASSIGN_OR_RETURN(BoundExpr x, Bind(*a));
      args.push_back(std::move(x));
    }
    if (e.op == Op::kAnd || e.op == Op::kOr) {
      BoundExpr b = Node(e.op == Op::kAnd ? BKind::kAnd : BKind::kOr, ColumnType::kBoolean, e);
      for (BoundExpr& x : args) RETURN_IF_ERROR(Expect(x, ColumnType::kBoolean, e.op == Op::kAnd ? "AND" : "OR"));
      b.args = std::move(args);
      return b;
    }
    BoundExpr& x = args[0];
    BoundExpr& y = args[1];
    if (e.op >= Op::kEq && e.op <= Op::kGe) {
      RETURN_IF_ERROR(Unify(x, y, "compare"));
      if (x.type == ColumnType::kInterval) return Err(e.pos, "cannot compare INTERVALs");
      BoundExpr b = Node(BKind::kCompare, ColumnType::kBoolean, e);
      b.op = e.op;
      b.args = std::move(args);
      return b;
    }
    // Arithmetic.
    using T = ColumnType;
    if (x.null_literal && !y.null_literal) x.type = y.type == T::kTimestamp ? T::kInterval : y.type;
    if (y.null_literal && !x.null_literal) y.type = x.type == T::kTimestamp ? T::kInterval : x.type;
    T result;
    const bool additive = e.op == Op::kAdd || e.op == Op::kSub;
    if (IsNumeric(x.type) && IsNumeric(y.type)) {
      result = x.type == T::kDouble || y.type == T::kDouble ? T::kDouble : T::kBigint;
      ASSIGN_OR_RETURN(bool ok, Coerce(x, result));
      ASSIGN_OR_RETURN(ok, Coerce(y, result));
      (void)ok;
    } else if (additive && x.type == T::kTimestamp && y.type == T::kInterval) {
      result = T::kTimestamp;
    } else if (e.op == Op::kAdd && x.type == T::kInterval && y.type == T::kTimestamp) {
      result = T::kTimestamp;
      std::swap(x, y);
    } else if (additive && x.type == T::kInterval && y.type == T::kInterval) {
      result = T::kInterval;
    } else {
      static const char* kSymbol[] = {
          "", "OR", "AND", "NOT", "=", "<>", "<", "<=", ">", ">=", "+", "-", "*", "/", "%", "-"};
      return Err(e.pos, std::string("cannot apply ") + kSymbol[static_cast<int>(e.op)] + " to " + TypeName(x.type) +
                            " and " + TypeName(y.type));
    }
    x.null_literal = y.null_literal = false;
    BoundExpr b = Node(BKind::kArith, result, e);
    b.op = e.op;
    b.args = std::move(args);
    return b;
  }

  Result<BoundExpr> Function(const Expr& e) {
    const std::string& fn = e.name[0];
    if (IsAggregateName(fn)) return Err(e.pos, h_.aggregate_error);
    auto arity = [&](size_t n) -> Status {
      if (e.star || e.distinct || e.args.size() != n)
        return Err(e.pos, fn + "() takes " + std::to_string(n) + (n == 1 ? " argument" : " arguments"));
      return Status::Ok();
    };
    if (fn == "now") {
      RETURN_IF_ERROR(arity(0));
      Value v;
      v.i = h_.now_micros;
      return Const(e, ColumnType::kTimestamp, v);
    }
    if (fn == "date_trunc") {
      RETURN_IF_ERROR(arity(2));
      ASSIGN_OR_RETURN(BoundExpr unit, Bind(*e.args[0]));
      if (unit.kind != BKind::kConst || unit.type != ColumnType::kString || unit.value.null)
        return Err(e.args[0]->pos, "date_trunc's unit must be a string literal");
      std::string u = unit.value.s;
      for (char& c : u) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      static constexpr std::pair<const char*, int64_t> kUnits[] = {
          {"minute", 60'000'000LL}, {"hour", 3'600'000'000LL}, {"day", 86'400'000'000LL}, {"week", 604'800'000'000LL}};
      BoundExpr b = Node(BKind::kDateTrunc, ColumnType::kTimestamp, e);
      for (const auto& [name, micros] : kUnits)
        if (u == name) b.unit_micros = micros;
      if (b.unit_micros == 0)
        return Err(e.args[0]->pos,
                   "date_trunc's unit must be 'minute', "
                   "'hour', 'day' or 'week', not " +
                       unit.text);
      ASSIGN_OR_RETURN(BoundExpr ts, Bind(*e.args[1]));
      RETURN_IF_ERROR(Expect(ts, ColumnType::kTimestamp, "date_trunc"));
      b.args.push_back(std::move(ts));
      return b;
    }
    if (fn == "coalesce") {
      if (e.star || e.distinct || e.args.empty()) return Err(e.pos, "coalesce() takes one or more arguments");
      BoundExpr b = Node(BKind::kCoalesce, ColumnType::kBigint, e);
      for (const ExprPtr& a : e.args) {
        ASSIGN_OR_RETURN(BoundExpr x, Bind(*a));
        b.args.push_back(std::move(x));
      }
      RETURN_IF_ERROR(UnifyAll(b.args));
      b.type = b.args[0].type;
      return b;
    }
    return Err(e.pos, "function " + fn + "() is not supported");
  }

  // One type for all values (CASE's results, COALESCE's arguments).
  Status UnifyAll(std::vector<BoundExpr*> xs) {
    for (size_t k = 1; k < xs.size(); ++k) RETURN_IF_ERROR(Unify(*xs[0], *xs[k], "combine"));
    for (size_t k = 1; k < xs.size(); ++k) RETURN_IF_ERROR(Unify(*xs[0], *xs[k], "combine"));
    if (xs[0]->null_literal)
      for (BoundExpr* x : xs) x->null_literal = false;  // all NULL: BIGINT
    return Status::Ok();
  }
  Status UnifyAll(std::vector<BoundExpr>& xs) {
    std::vector<BoundExpr*> ptrs;
    for (BoundExpr& x : xs) ptrs.push_back(&x);
    return UnifyAll(ptrs);
  }

  Result<BoundExpr> Cast(const Expr& e) {
    ASSIGN_OR_RETURN(BoundExpr x, Bind(*e.args[0]));
    const std::string name = e.text.substr(0, e.text.find('('));
    using T = ColumnType;
    T to;
    if (name == "BIGINT" || name == "INTEGER") {
      to = T::kBigint;
    } else if (name == "DOUBLE" || name == "REAL") {
      to = T::kDouble;
    } else if (name == "VARCHAR") {
      to = T::kString;
    } else if (name == "BOOLEAN") {
      to = T::kBoolean;
    } else if (name == "TIMESTAMP") {
      to = T::kTimestamp;
    } else {
      return Err(e.pos, "CAST to " + e.text + " is not supported");
    }
    if (x.null_literal) x.type = to, x.null_literal = false;
    const T from = x.type;
    const bool ok = from == to || to == T::kString || from == T::kString || (IsNumeric(from) && IsNumeric(to)) ||
                    (from == T::kBoolean && to == T::kBigint) || (from == T::kBigint && to == T::kBoolean);
    if (!ok || from == T::kInterval || (from == T::kString && to == T::kUuid))
      return Err(e.pos, std::string("cannot cast ") + TypeName(from) + " to " + TypeName(to));
    BoundExpr b = Node(BKind::kCast, to, e);
    b.args.push_back(std::move(x));
    return b;
  }

  Result<BoundExpr> Case(const Expr& e) {
    BoundExpr b = Node(BKind::kCase, ColumnType::kBigint, e);
    size_t i = 0;
    const size_t pairs_end = e.args.size() - (e.has_else ? 1 : 0);
    if (e.has_operand) ++i;
    std::vector<BoundExpr*> results;
    for (; i + 2 <= pairs_end; i += 2) {
      BoundExpr cond;
      if (e.has_operand) {  // CASE x WHEN v: x = v
        ASSIGN_OR_RETURN(BoundExpr x, Bind(*e.args[0]));
        ASSIGN_OR_RETURN(BoundExpr v, Bind(*e.args[i]));
        RETURN_IF_ERROR(Unify(x, v, "compare"));
        cond = Node(BKind::kCompare, ColumnType::kBoolean, *e.args[i]);
        cond.op = Op::kEq;
        cond.args.push_back(std::move(x));
        cond.args.push_back(std::move(v));
        RETURN_IF_ERROR(Fold(cond));
      } else {
        ASSIGN_OR_RETURN(cond, Bind(*e.args[i]));
        RETURN_IF_ERROR(Expect(cond, ColumnType::kBoolean, "WHEN"));
      }
      ASSIGN_OR_RETURN(BoundExpr then, Bind(*e.args[i + 1]));
      b.args.push_back(std::move(cond));
      b.args.push_back(std::move(then));
    }
    if (e.has_else) {
      ASSIGN_OR_RETURN(BoundExpr other, Bind(*e.args.back()));
      b.args.push_back(std::move(other));
    } else {
      Value v;
      v.null = true;
      BoundExpr other = Const(e, ColumnType::kBigint, v);
      other.null_literal = true;
      b.args.push_back(std::move(other));
    }
    for (size_t k = 1; k < b.args.size(); k += 2) results.push_back(&b.args[k]);
    results.push_back(&b.args.back());
    RETURN_IF_ERROR(UnifyAll(results));
    b.type = b.args.back().type;
    return b;
  }

  const BindHooks& h_;
};

bool ContainsAggregateIn(const Expr& e) {
  if (e.kind == ExprKind::kFunction && IsAggregateName(e.name[0])) return true;
  for (const ExprPtr& a : e.args)
    if (ContainsAggregateIn(*a)) return true;
  return false;
}

}  // namespace

Result<BoundExpr> BindExpr(const Expr& e, const BindHooks& hooks) {
  Binder b(hooks);
  return b.Bind(e);
}

bool IsAggregateName(const std::string& name) {
  return name == "count" || name == "sum" || name == "min" || name == "max" || name == "avg" ||
         name == "approx_count_distinct" || name == "hll_sketch" || name == "hll_merge";
}

bool ContainsAggregate(const Expr& e) { return ContainsAggregateIn(e); }

std::string Fingerprint(const BoundExpr& e) {
  std::string out = std::to_string(static_cast<int>(e.kind)) + ":" + std::to_string(static_cast<int>(e.type));
  switch (e.kind) {
    case BKind::kColumn:
      out += "#" + std::to_string(e.column);
      break;
    case BKind::kConst:
      out += e.value.null ? "=null"
                          : "=" + std::to_string(e.value.i) + "/" + std::to_string(std::bit_cast<int64_t>(e.value.d)) +
                                "/'" + std::to_string(e.value.s.size()) + ":" + e.value.s;
      break;
    default:
      out += "/" + std::to_string(static_cast<int>(e.op)) + (e.negated ? "!" : "") + std::to_string(e.unit_micros);
  }
  out += "(";
  for (const BoundExpr& a : e.args) out += Fingerprint(a) + ",";
  return out + ")";
}

BoundExpr ColumnRef(int column, ColumnType type, const Expr& source) {
  BoundExpr b = Node(BKind::kColumn, type, source);
  b.column = column;
  return b;
}

}  // namespace watershed::query
