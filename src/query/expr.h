#pragma once
// Bound expressions and their vectorised evaluation (docs/query.md
// "Expressions"). The binder (query/binder.h) turns the syntax tree into a
// BoundExpr whose every node has a type and whose column references are
// indices into a Batch; Eval computes a node over a whole batch: one switch
// on (operator, type) per node and batch, then a tight loop over the rows —
// no per-row virtual call, no per-row type test.
//
// ANSI semantics: NULL in, NULL out for arithmetic and comparisons; AND/OR/
// NOT three-valued; BIGINT overflow and division by zero are errors
// ("line:col: BIGINT overflow in a + b"), never wrapped or NULL. CASE and
// COALESCE evaluate a branch only on the rows that reach it.

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "query/ast.h"
#include "query/catalog.h"
#include "query/value.h"

namespace watershed::query {

// Rows per batch: the scan cuts row groups into slices of this many rows.
inline constexpr size_t kBatchRows = 2048;

enum class BKind {
  kColumn,     // column: index into Batch::cols
  kConst,      // value
  kArith,      // op kAdd/kSub/kMul/kDiv/kMod on args[0], args[1]
  kNeg,        // -args[0]
  kCompare,    // op kEq..kGe; both args of one type
  kAnd,        // n-ary
  kOr,         // n-ary
  kNot,        // args[0]
  kIsNull,     // negated
  kIn,         // negated; args[0] IN (args[1..]), all of one type
  kBetween,    // negated; args[0] BETWEEN args[1] AND args[2]
  kLike,       // negated; args[0] LIKE args[1]
  kCase,       // WHEN/THEN pairs, then ELSE (always present: NULL when not written)
  kCast,       // args[0] to `type`
  kCoalesce,   // args
  kDateTrunc,  // unit_micros (7 days: ISO week), args[0]
};

struct BoundExpr {
  BKind kind = BKind::kConst;
  ColumnType type = ColumnType::kBigint;
  bool null_literal = false;  // an untyped NULL: takes the type its context needs
  int column = 0;
  Value value;
  Op op = Op::kNone;
  bool negated = false;
  int64_t unit_micros = 0;
  std::string text;  // the source as SQL, for EXPLAIN and errors
  SourcePos pos;
  std::vector<BoundExpr> args;
};

// A column of values of one type; `null[r]` marks NULLs (values there are
// unspecified). Strings are views into the scan's decoded pages or into
// `arena` (strings an expression made).
struct Vec {
  ColumnType type = ColumnType::kBigint;
  size_t n = 0;
  std::vector<uint8_t> null;
  std::vector<int64_t> i;                                        // BIGINT, TIMESTAMP, INTERVAL (micros), BOOLEAN (0/1)
  std::vector<double> d;                                         // DOUBLE
  std::vector<std::string_view> s;                               // VARCHAR, UUID (16 bytes)
  std::shared_ptr<std::deque<std::string>> arena;                // strings made here
  std::vector<std::shared_ptr<std::deque<std::string>>> owners;  // every arena viewed (arena included)

  void Resize(ColumnType t, size_t rows);  // all NULL
  Value Get(size_t r) const;
  void Set(size_t r, const Value& v);    // copies strings into the arena
  std::string_view Keep(std::string s);  // stores s in the arena
  void Adopt(const Vec& o);              // keeps o's arenas alive (its views are copied here)
};

struct Batch {
  size_t n = 0;
  std::vector<Vec> cols;
};

struct EvalContext {
  int64_t now_micros = 0;
};

// out = e over the batch's rows (out->n == batch.n).
Status Eval(const BoundExpr& e, const Batch& batch, Vec* out);
// The rows of `batch` listed in `rows`, in that order.
Batch Gather(const Batch& batch, const std::vector<uint32_t>& rows);
Vec GatherVec(const Vec& v, const std::vector<uint32_t>& rows);
// Rows of a BOOLEAN vector that are TRUE (not FALSE, not NULL).
std::vector<uint32_t> TrueRows(const Vec& v);

// Whether `text` matches the LIKE pattern (% any run, _ one character, no
// escape), by UTF-8 characters.
bool LikeMatch(std::string_view text, std::string_view pattern);

}  // namespace watershed::query
