#pragma once
// The syntax tree of Watershed's SQL subset (docs/query.md). The parser
// (query/parser.h) builds it; planning and execution, when they exist, read
// it and never see SQL text. Names are already normalised: unquoted
// identifiers and function names are lower-cased, quoted ones kept as
// written. Positions are where a node starts in the query, for the errors
// of later stages ("1:8: unknown column 'x'").
//
// operator== compares structure and values, never positions: it is what
// "parse(print(parse(q))) == parse(q)" means.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace watershed::query {

struct SourcePos {
  int line = 1;
  int column = 1;  // in characters (UTF-8 code points), from 1
};
std::string ToString(SourcePos pos);  // "line:column"

enum class ExprKind {
  kColumn,   // name: [region.][table.]column
  kInteger,  // text: the digits as written
  kDecimal,  // text: as written ("1.5", ".5", "2.")
  kString,   // text: the value, quotes removed and '' undone
  kNull,
  kBool,          // bool_value
  kTypedLiteral,  // literal_type + text: INTERVAL '7 days', TIMESTAMP '...', DATE '...'
  kUnary,         // op (kNot, kNeg), args[0]
  kBinary,        // op; kAnd/kOr are n-ary (args.size() >= 2, flattened), the others have 2 args
  kIsNull,        // negated, args[0]
  kIn,            // negated, args[0] IN (args[1..])
  kBetween,       // negated, args[0] BETWEEN args[1] AND args[2]
  kLike,          // negated, args[0] LIKE args[1]
  kFunction,      // name[0] (lower-cased), distinct, star (COUNT(*)), args
  kCast,          // args[0], text: the type (upper-cased, e.g. "BIGINT", "DECIMAL(18,2)")
  kCase,          // has_operand: args[0] is CASE's operand; then WHEN/THEN pairs; has_else: last arg
};

enum class Op { kNone, kOr, kAnd, kNot, kEq, kNe, kLt, kLe, kGt, kGe, kAdd, kSub, kMul, kDiv, kMod, kNeg };
enum class LiteralType { kNone, kInterval, kTimestamp, kDate };

// One node for every kind of expression; the fields a kind does not use
// keep their defaults (the comments of ExprKind say which are used).
struct Expr {
  ExprKind kind = ExprKind::kNull;
  SourcePos pos;
  std::vector<std::string> name;
  std::string text;
  Op op = Op::kNone;
  LiteralType literal_type = LiteralType::kNone;
  bool bool_value = false;
  bool negated = false;
  bool distinct = false;
  bool star = false;
  bool has_operand = false;
  bool has_else = false;
  int depth = 1;  // 1 + the deepest argument: bounded by ParseLimits::max_expr_depth
  std::vector<std::unique_ptr<Expr>> args;
};
using ExprPtr = std::unique_ptr<Expr>;
// A deep copy. Copies every field of Expr: a field added above goes there too.
ExprPtr Clone(const Expr& e);

struct Select;

enum class TimeTravel { kNone, kVersion, kTimestamp };

// FROM's source: a lake table ("events", "eu.events") or a subquery.
struct TableRef {
  SourcePos pos;
  std::vector<std::string> name;     // 1 or 2 parts; empty for a subquery
  std::unique_ptr<Select> subquery;  // set for a subquery (which then has an alias)
  std::string alias;                 // empty: none
  TimeTravel time_travel = TimeTravel::kNone;
  int64_t version = 0;    // FOR VERSION AS OF <version>
  std::string timestamp;  // FOR TIMESTAMP AS OF '<timestamp>'
};

enum class JoinKind { kInner, kLeft };
struct Join {
  JoinKind kind = JoinKind::kInner;
  TableRef table;
  ExprPtr on;
};

struct SelectItem {
  ExprPtr expr;                        // null for a star item
  bool star = false;                   // "*" or "t.*"
  std::vector<std::string> qualifier;  // the "t" of "t.*"
  std::string alias;                   // empty: none
};

enum class NullsOrder { kDefault, kFirst, kLast };
struct OrderItem {
  ExprPtr expr;
  bool descending = false;
  NullsOrder nulls = NullsOrder::kDefault;
};

struct Select {
  SourcePos pos;
  bool distinct = false;
  std::vector<SelectItem> items;
  std::optional<TableRef> from;  // SELECT without FROM is allowed (SELECT now())
  std::optional<Join> join;      // at most one
  ExprPtr where;
  std::vector<ExprPtr> group_by;
  ExprPtr having;
  std::vector<OrderItem> order_by;
  std::optional<int64_t> limit;
  std::optional<int64_t> offset;
};

enum class StatementKind { kSelect, kShowTables, kDescribe, kExplain };
struct Statement {
  StatementKind kind = StatementKind::kSelect;
  std::unique_ptr<Select> select;  // kSelect and kExplain
  std::vector<std::string> table;  // kDescribe: 1 or 2 parts
};

bool operator==(const Expr& a, const Expr& b);
bool operator==(const TableRef& a, const TableRef& b);
bool operator==(const Join& a, const Join& b);
bool operator==(const SelectItem& a, const SelectItem& b);
bool operator==(const OrderItem& a, const OrderItem& b);
bool operator==(const Select& a, const Select& b);
bool operator==(const Statement& a, const Statement& b);

// Canonical SQL text: keywords upper-case, names quoted only when they must
// be, parentheses only where precedence needs them, AND/OR chains flat.
// Parsing it gives back an equal tree (it may be longer than the input:
// quotes are doubled, spaces added).
std::string ToSql(const Expr& e);
std::string ToSql(const Select& s);
std::string ToSql(const Statement& s);

// True for the words that cannot be bare identifiers (given lower-case).
bool IsReservedWord(std::string_view lower);

}  // namespace watershed::query
