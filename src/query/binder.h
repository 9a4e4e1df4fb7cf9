#pragma once
// Syntax tree -> BoundExpr (query/expr.h): types every node, coerces
// operands (BIGINT with DOUBLE -> DOUBLE; a string literal compared with a
// TIMESTAMP or UUID is parsed as one; an untyped NULL takes its context's
// type), checks functions and their arguments, and folds every node whose
// operands are constants (so `now() - INTERVAL '1 hour'` is a TIMESTAMP
// literal at plan time, and prunes). Errors: kInvalidArgument "line:col: ...".
//
// Column references and aggregates are left to the caller's hooks: over a
// scan they name scan columns; above an aggregation they name group keys
// and aggregate results (query/planner.cc).

#include <functional>
#include <optional>
#include <string>

#include "core/status.h"
#include "query/ast.h"
#include "query/expr.h"

namespace watershed::query {

struct BindHooks {
  // A column reference -> a kColumn node (or an error).
  std::function<Result<BoundExpr>(const Expr&)> column;
  // Called first on every node: a bound node when the caller binds it
  // itself (a group key, an aggregate call), nullopt to bind it here.
  std::function<Result<std::optional<BoundExpr>>(const Expr&)> intercept;
  // An aggregate call reaching the binder is an error: where it stands.
  std::string aggregate_error = "aggregate functions are not allowed here";
  int64_t now_micros = 0;
};

Result<BoundExpr> BindExpr(const Expr& e, const BindHooks& hooks);

// Whether `name` is an aggregate function (count, sum, min, max, avg,
// approx_count_distinct).
bool IsAggregateName(const std::string& name);
// Whether the tree calls an aggregate anywhere.
bool ContainsAggregate(const Expr& e);
// A string equal for two bound trees exactly when they compute the same.
std::string Fingerprint(const BoundExpr& e);
// x converted to `to` (a kCast node).
BoundExpr CastTo(BoundExpr x, ColumnType to);
// A node that reads one batch column.
BoundExpr ColumnRef(int column, ColumnType type, const Expr& source);

}  // namespace watershed::query
