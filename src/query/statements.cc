#include "query/statements.h"

namespace watershed::query {

std::string StatementText::Positioned() const {
  return std::string(static_cast<size_t>(line - 1), '\n') + std::string(static_cast<size_t>(column - 1), ' ') + text;
}

SplitStatements SplitSql(std::string_view text) {
  SplitStatements out;
  enum class State { kCode, kString, kName, kLineComment, kBlockComment } state = State::kCode;
  int line = 1, column = 1;  // of text[i]
  size_t start = 0;
  int start_line = 1, start_column = 1;
  bool blank = true;
  auto finish = [&](size_t end, std::vector<StatementText>* into) {
    if (!blank) into->push_back({std::string(text.substr(start, end - start)), start, start_line, start_column});
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const char next = i + 1 < text.size() ? text[i + 1] : '\0';
    switch (state) {
      case State::kCode:
        if (c == ';') {
          finish(i, &out.complete);
          start = i + 1;
          start_line = line;
          start_column = column + 1;
          blank = true;
        } else if (c == '-' && next == '-') {
          state = State::kLineComment;
        } else if (c == '/' && next == '*') {
          state = State::kBlockComment;
          ++i;  // the '*' cannot also close it
          ++column;
        } else if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
          blank = false;
          if (c == '\'') state = State::kString;
          if (c == '"') state = State::kName;
        }
        break;
      case State::kString:
        if (c == '\'') state = State::kCode;  // '' re-enters at once
        break;
      case State::kName:
        if (c == '"') state = State::kCode;
        break;
      case State::kLineComment:
        if (c == '\n') state = State::kCode;
        break;
      case State::kBlockComment:
        if (c == '*' && next == '/') {
          state = State::kCode;
          ++i;
          ++column;
        }
        break;
    }
    if (c == '\n') {
      ++line;
      column = 1;
    } else if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) {
      ++column;  // a character starts here (UTF-8 continuation bytes do not count)
    }
  }
  // Within a string or quoted name the statement is not blank whatever it holds.
  out.rest = {std::string(text.substr(start)), start, start_line, start_column};
  out.rest_blank = blank;
  return out;
}

}  // namespace watershed::query
