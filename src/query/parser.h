#pragma once
// The SQL parser: one statement of Watershed's subset (docs/query.md) ->
// its syntax tree (query/ast.h). It only reads syntax: whether a table or a
// column exists, or an aggregate is allowed where it stands, is for the
// planner. A bad query gets kInvalidArgument (kTooLarge past
// max_query_bytes) whose message starts with the position, e.g.
// "1:17: expected FROM, found 'FORM'".

#include <string_view>

#include "core/status.h"
#include "query/ast.h"
#include "query/lexer.h"

namespace watershed::query {

// One statement, optionally ended by ';'.
Result<Statement> Parse(std::string_view sql, const ParseLimits& limits = {});

}  // namespace watershed::query
