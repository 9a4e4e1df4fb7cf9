#pragma once
// The SQL lexer: query text -> tokens with their line:column. Hostile text
// is bounded by ParseLimits (query and token sizes here, nesting in the
// parser); every failure is an error naming its position, never a crash.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "query/ast.h"

namespace watershed::query {

struct ParseLimits {
  size_t max_query_bytes = 1 << 20;   // larger: kTooLarge
  size_t max_token_bytes = 16 << 10;  // one literal, identifier or number
  int max_nesting = 64;               // parentheses, subqueries, NOT/- chains the parser recurses into
  int max_expr_depth = 256;           // depth of an expression tree (AND/OR chains are flat, so do not count)
};

enum class TokenKind {
  kIdentifier,        // unquoted; text lower-cased (keywords are identifiers the parser recognises)
  kQuotedIdentifier,  // "..." with "" undone; text as written
  kInteger,           // digits
  kDecimal,           // digits with one '.'
  kString,            // '...' with '' undone
  kSymbol,            // ( ) , . ; * + - / % = <> != < <= > >=  ("!=" is stored as "<>")
  kEnd,
};

struct Token {
  TokenKind kind = TokenKind::kEnd;
  std::string text;
  std::string_view raw;  // the source bytes, for error messages
  SourcePos pos;
};

// The tokens of `sql`, ending with one kEnd token. Comments (-- to the end
// of the line, /* ... */ not nested) and white space are skipped.
Result<std::vector<Token>> Lex(std::string_view sql, const ParseLimits& limits = {});

// "'FORM'", "end of query", "string 'abc'": how an error names a token.
std::string Describe(const Token& t);

}  // namespace watershed::query
