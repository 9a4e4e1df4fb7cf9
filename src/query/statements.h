#pragma once
// Splits SQL text (a file, what a shell has read so far) into statements at
// each ';' outside strings, quoted names and comments, keeping where each
// starts so that errors point into the whole text. Used by `watershed sql`.

#include <string>
#include <string_view>
#include <vector>

namespace watershed::query {

struct StatementText {
  std::string text;   // without its ';'
  size_t offset = 0;  // of text in the whole text, in bytes
  int line = 1;       // where it starts in the whole text, 1-based
  int column = 1;     // in characters, as the lexer counts
  // `text` preceded by line-1 newlines and column-1 spaces: the parser's
  // line:column in it are those of the whole text.
  std::string Positioned() const;
};

struct SplitStatements {
  std::vector<StatementText> complete;  // ended by ';' (blank ones, e.g. ";;", left out)
  StatementText rest;                   // after the last ';': an unfinished statement
  bool rest_blank = true;               // rest holds only spaces and comments
};

SplitStatements SplitSql(std::string_view text);

}  // namespace watershed::query
