#pragma once
// Test helpers for the parser: the tree as an S-expression, and a check
// that printing and parsing again gives the same tree.

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "query/parser.h"

namespace watershed::query::testing {

// "(and (= a 1) (not b))": every node explicit, so precedence is visible.
inline std::string Tree(const Expr& e) {
  static constexpr const char* kOps[] = {
      "?", "or", "and", "not", "=", "<>", "<", "<=", ">", ">=", "+", "-", "*", "/", "%", "neg"};
  std::string args;
  for (const ExprPtr& a : e.args) args += " " + Tree(*a);
  std::string no = e.negated ? "not-" : "";
  switch (e.kind) {
    case ExprKind::kColumn: {
      std::string n;
      for (const std::string& p : e.name) n += (n.empty() ? "" : ".") + p;
      return n;
    }
    case ExprKind::kInteger:
    case ExprKind::kDecimal:
      return e.text;
    case ExprKind::kString:
      return "'" + e.text + "'";
    case ExprKind::kNull:
      return "null";
    case ExprKind::kBool:
      return e.bool_value ? "true" : "false";
    case ExprKind::kTypedLiteral:
      return ToSql(e);
    case ExprKind::kUnary:
    case ExprKind::kBinary:
      return "(" + std::string(kOps[static_cast<int>(e.op)]) + args + ")";
    case ExprKind::kIsNull:
      return "(" + no + "isnull" + args + ")";
    case ExprKind::kIn:
      return "(" + no + "in" + args + ")";
    case ExprKind::kBetween:
      return "(" + no + "between" + args + ")";
    case ExprKind::kLike:
      return "(" + no + "like" + args + ")";
    case ExprKind::kFunction:
      return "(" + e.name[0] + (e.distinct ? " distinct" : "") + (e.star ? " *" : "") + args + ")";
    case ExprKind::kCast:
      return "(cast" + args + " " + e.text + ")";
    case ExprKind::kCase:
      return std::string("(case") + (e.has_operand ? "-operand" : "") + (e.has_else ? "-else" : "") + args + ")";
  }
  return "?";
}

// Parses `sql`, checks parse(print(parse(q))) == parse(q) and that the
// canonical text is a fixed point, and returns the canonical text (or
// "error: ..." when `sql` does not parse).
inline std::string Canonical(std::string_view sql) {
  auto first = Parse(sql);
  if (!first.ok()) return "error: " + first.status().message();
  const std::string text = ToSql(*first);
  auto second = Parse(text);
  EXPECT_TRUE(second.ok()) << text << " -> " << (second.ok() ? "" : second.status().message());
  if (!second.ok()) return text;
  EXPECT_TRUE(*second == *first) << "the printed text parses to another tree: " << text;
  EXPECT_EQ(ToSql(*second), text);
  return text;
}

}  // namespace watershed::query::testing
