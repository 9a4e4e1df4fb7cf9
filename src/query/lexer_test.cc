#include "query/lexer.h"

#include <gtest/gtest.h>

namespace watershed::query {
namespace {

std::string Kinds(std::string_view sql) {
  auto r = Lex(sql);
  if (!r.ok()) return r.status().message();
  std::string out;
  for (const Token& t : *r) {
    static constexpr const char* kNames[] = {"id", "qid", "int", "dec", "str", "sym", "end"};
    out += std::string(kNames[static_cast<int>(t.kind)]) + (t.text.empty() ? "" : ":" + t.text) + " ";
  }
  return out;
}

TEST(LexerTest, KeywordsFoldQuotedNamesKeepTheirCase) {
  EXPECT_EQ(Kinds("SeLeCt \"MiXed\"\"q\" FROM t"), "id:select qid:MiXed\"q id:from id:t end ");
}

TEST(LexerTest, NumbersStringsAndOperators) {
  EXPECT_EQ(Kinds("12 1.5 .5 2. 'it''s' '' <> != <= >= < > = + - * / % ( ) , . ;"),
            "int:12 dec:1.5 dec:.5 dec:2. str:it's str sym:<> sym:<> sym:<= sym:>= sym:< sym:> sym:= sym:+ sym:- "
            "sym:* sym:/ sym:% sym:( sym:) sym:, sym:. sym:; end ");
}

TEST(LexerTest, CommentsAreSkipped) {
  EXPECT_EQ(Kinds("a -- to the end\nb /* across\nlines */ c--"), "id:a id:b id:c end ");
  EXPECT_EQ(Kinds("a - -1"), "id:a sym:- sym:- int:1 end ");
}

TEST(LexerTest, PositionsAreLineAndColumnInCharacters) {
  auto r = Lex("SELECT\n  'é' ,x\n/* c */ y");
  ASSERT_TRUE(r.ok());
  const std::vector<Token>& t = *r;
  ASSERT_EQ(t.size(), 6u);
  EXPECT_EQ(ToString(t[0].pos), "1:1");
  EXPECT_EQ(ToString(t[1].pos), "2:3");
  EXPECT_EQ(ToString(t[2].pos), "2:7") << "é is one column though two bytes";
  EXPECT_EQ(ToString(t[3].pos), "2:8");
  EXPECT_EQ(ToString(t[4].pos), "3:9");
}

TEST(LexerTest, BadTextIsAnErrorWithItsPosition) {
  EXPECT_EQ(Kinds("SELECT 'abc"), "1:8: unterminated string literal");
  EXPECT_EQ(Kinds("SELECT \"abc"), "1:8: unterminated quoted identifier");
  EXPECT_EQ(Kinds("a /* never closed"), "1:3: unterminated /* comment");
  EXPECT_EQ(Kinds("SELECT 1e5"), "1:8: malformed number");
  EXPECT_EQ(Kinds("SELECT 1.2.3"), "1:8: malformed number");
  EXPECT_EQ(Kinds("SELECT \"\""), "1:8: empty quoted identifier");
  EXPECT_EQ(Kinds("SELECT a\n  ?"), "2:3: unexpected character '?'");
  EXPECT_EQ(Kinds(std::string("SELECT \0", 8)),
            "1:8: unexpected byte 0x00 (names with other characters must be quoted)");
  EXPECT_EQ(Kinds("SELECT é"), "1:8: unexpected byte 0xC3 (names with other characters must be quoted)");
}

TEST(LexerTest, QueryAndTokenSizesAreBounded) {
  ParseLimits limits;
  limits.max_query_bytes = 20;
  limits.max_token_bytes = 6;
  auto big = Lex("SELECT aaaaaaaaaaaaaaaaaaaaaaaa", limits);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), StatusCode::kTooLarge);
  EXPECT_EQ(big.status().message(), "1:1: query of 31 bytes; the limit is 20");
  EXPECT_EQ(Lex("SELECT abcdefg", limits).status().message(), "1:8: token of 7 bytes; the limit is 6");
  EXPECT_EQ(Lex("SELECT 'abcdefgh'", limits).status().message(), "1:8: token longer than 6 bytes");
  EXPECT_TRUE(Lex("SELECT abcdef", limits).ok());
}

}  // namespace
}  // namespace watershed::query
