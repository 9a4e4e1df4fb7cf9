#include "query/lexer.h"

#include <cstdio>

namespace watershed::query {

namespace {

bool IsIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsIdentChar(char c) { return IsIdentStart(c) || IsDigit(c); }

class Lexer {
 public:
  Lexer(std::string_view sql, const ParseLimits& limits) : sql_(sql), limits_(limits) {}

  Result<std::vector<Token>> Run() {
    std::vector<Token> out;
    while (true) {
      RETURN_IF_ERROR(SkipSpaceAndComments());
      Token t;
      t.pos = pos_;
      const size_t start = i_;
      if (i_ == sql_.size()) {
        t.kind = TokenKind::kEnd;
        out.push_back(std::move(t));
        return out;
      }
      RETURN_IF_ERROR(Next(&t));
      t.raw = sql_.substr(start, i_ - start);
      if (t.raw.size() > limits_.max_token_bytes) {
        return Error(t.pos, "token of " + std::to_string(t.raw.size()) + " bytes; the limit is " +
                                std::to_string(limits_.max_token_bytes));
      }
      out.push_back(std::move(t));
    }
  }

 private:
  static Status Error(SourcePos pos, const std::string& message) {
    return Status::InvalidArgument(ToString(pos) + ": " + message);
  }

  char Peek(size_t ahead = 0) const { return i_ + ahead < sql_.size() ? sql_[i_ + ahead] : '\0'; }
  bool AtEnd(size_t ahead = 0) const { return i_ + ahead >= sql_.size(); }

  // Moves one byte on; columns count code points, so UTF-8 continuation bytes add none.
  void Advance() {
    const char c = sql_[i_++];
    if (c == '\n') {
      ++pos_.line;
      pos_.column = 1;
    } else if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) {
      ++pos_.column;
    }
  }

  Status SkipSpaceAndComments() {
    while (!AtEnd()) {
      const char c = Peek();
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
        Advance();
      } else if (c == '-' && Peek(1) == '-') {
        while (!AtEnd() && Peek() != '\n') Advance();
      } else if (c == '/' && Peek(1) == '*') {
        const SourcePos start = pos_;
        Advance();
        Advance();
        while (!AtEnd() && !(Peek() == '*' && Peek(1) == '/')) Advance();
        if (AtEnd()) return Error(start, "unterminated /* comment");
        Advance();
        Advance();
      } else {
        break;
      }
    }
    return Status::Ok();
  }

  // Reads the body of a quoted string or identifier whose opening quote is
  // at i_; a doubled quote stands for one.
  Status Quoted(char quote, Token* t) {
    Advance();
    while (true) {
      if (AtEnd()) {
        return Error(t->pos, quote == '\'' ? "unterminated string literal" : "unterminated quoted identifier");
      }
      if (Peek() == quote) {
        if (Peek(1) != quote) break;
        Advance();
      }
      t->text += Peek();
      Advance();
      if (t->text.size() > limits_.max_token_bytes) {
        return Error(t->pos, "token longer than " + std::to_string(limits_.max_token_bytes) + " bytes");
      }
    }
    Advance();
    return Status::Ok();
  }

  Status Next(Token* t) {
    const char c = Peek();
    if (IsIdentStart(c)) {
      t->kind = TokenKind::kIdentifier;
      while (IsIdentChar(Peek())) {
        const char ch = Peek();
        t->text += (ch >= 'A' && ch <= 'Z') ? static_cast<char>(ch - 'A' + 'a') : ch;
        Advance();
      }
      return Status::Ok();
    }
    if (IsDigit(c) || (c == '.' && IsDigit(Peek(1)))) {
      t->kind = TokenKind::kInteger;
      while (IsDigit(Peek()) || (Peek() == '.' && t->kind == TokenKind::kInteger)) {
        if (Peek() == '.') t->kind = TokenKind::kDecimal;
        t->text += Peek();
        Advance();
      }
      // "1e5", "12abc", "1.2.3": refused rather than read as a number and an alias.
      if (IsIdentChar(Peek()) || Peek() == '.') return Error(t->pos, "malformed number");
      return Status::Ok();
    }
    if (c == '\'') {
      t->kind = TokenKind::kString;
      return Quoted('\'', t);
    }
    if (c == '"') {
      t->kind = TokenKind::kQuotedIdentifier;
      RETURN_IF_ERROR(Quoted('"', t));
      if (t->text.empty()) return Error(t->pos, "empty quoted identifier");
      return Status::Ok();
    }
    t->kind = TokenKind::kSymbol;
    const char d = Peek(1);
    if ((c == '<' && (d == '=' || d == '>')) || (c == '>' && d == '=') || (c == '!' && d == '=')) {
      t->text = c == '!' ? "<>" : std::string{c, d};
      Advance();
      Advance();
      return Status::Ok();
    }
    if (std::string_view("(),.;*+-/%=<>").find(c) != std::string_view::npos) {
      t->text = std::string(1, c);
      Advance();
      return Status::Ok();
    }
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x21 && byte < 0x7F) return Error(t->pos, std::string("unexpected character '") + c + "'");
    char hex[8];
    snprintf(hex, sizeof hex, "0x%02X", byte);
    return Error(t->pos, std::string("unexpected byte ") + hex + " (names with other characters must be quoted)");
  }

  std::string_view sql_;
  const ParseLimits& limits_;
  size_t i_ = 0;
  SourcePos pos_;
};

}  // namespace

Result<std::vector<Token>> Lex(std::string_view sql, const ParseLimits& limits) {
  if (sql.size() > limits.max_query_bytes) {
    return Status::TooLarge("1:1: query of " + std::to_string(sql.size()) + " bytes; the limit is " +
                            std::to_string(limits.max_query_bytes));
  }
  return Lexer(sql, limits).Run();
}

std::string Describe(const Token& t) {
  std::string_view raw = t.raw.substr(0, 40);
  const std::string more = raw.size() < t.raw.size() ? "..." : "";
  switch (t.kind) {
    case TokenKind::kEnd:
      return "end of query";
    case TokenKind::kString:
      return "string " + std::string(raw) + more;
    default:
      return "'" + std::string(raw) + more + "'";
  }
}

}  // namespace watershed::query
