// The TOML subset of the recommenders' config files: what it reads, and errors with line and column.

#include "core/config_text.h"

#include <gtest/gtest.h>

namespace watershed {
namespace {

TEST(ConfigText, ReadsTablesKeysAndValues) {
  auto t = ParseConfigText(
      "# rules\n"
      "top_k = 20   # trailing comment\n"
      "[diversity]\n"
      "mmr_lambda = 0.7\n"
      "name = \"a \\\"quoted\\\" # not a comment\"\n"
      "\n"
      "[[pin]]\r\n"
      "items = [1, 2, 3,]\r\n"
      "flag = true\n"
      "[[pin]]\n"
      "neg = -4\n"
      "exp = 1e-3\n",
      "f.toml");
  ASSERT_TRUE(t.ok()) << t.status().message();
  ASSERT_EQ(t->size(), 4u);
  EXPECT_EQ((*t)[0].name, "");
  EXPECT_EQ((*t)[0].entries[0].value.integer, 20);
  EXPECT_EQ((*t)[1].name, "diversity");
  EXPECT_DOUBLE_EQ((*t)[1].entries[0].value.number, 0.7);
  EXPECT_EQ((*t)[1].entries[1].value.text, "a \"quoted\" # not a comment");
  EXPECT_TRUE((*t)[2].array_element);
  ASSERT_EQ((*t)[2].entries[0].value.items.size(), 3u);
  EXPECT_EQ((*t)[2].entries[0].value.items[2].integer, 3);
  EXPECT_TRUE((*t)[2].entries[1].value.boolean);
  EXPECT_EQ((*t)[3].entries[0].value.integer, -4);
  EXPECT_EQ((*t)[3].entries[1].value.kind, ConfigValue::Kind::kFloat);
  EXPECT_DOUBLE_EQ((*t)[3].entries[1].value.number, 1e-3);
}

TEST(ConfigText, ErrorsNameLineAndColumn) {
  const std::pair<const char*, const char*> cases[] = {
      {"a = 1\nb = \n", "f:2:5: expected a value"},
      {"a = 1\na = 2\n", "f:2:1: key 'a' given twice in this table"},
      {"[x]\n[x]\n", "f:2:2: table [x] defined twice"},
      {"[x]\n[[x]]\n", "f:2:3: table 'x' is used both as [x] and [[x]]"},
      {"a = \"open\n", "f:1:5: unterminated string"},
      {"a = [1, 2\n", "f:1:10: unterminated array (arrays are one line)"},
      {"a = [[1]]\n", "f:1:6: nested arrays are not supported"},
      {"a = 1 2\n", "f:1:7: unexpected '2'"},
      {"a = nope\n", "f:1:5: expected a value (\"string\", number, true, false or [array]), got 'nope'"},
      {"a = 99999999999999999999\n", "f:1:5: integer out of range"},
      {"= 1\n", "f:1:1: expected a key (letters, digits, '_', '-', '.')"},
      {"a 1\n", "f:1:3: expected '=' after the key 'a'"},
      {"[x\n", "f:1:3: expected ']' after the table name"},
      {"a = \"\\q\"\n", "f:1:6: unknown escape '\\q'"},
  };
  for (const auto& [text, want] : cases) {
    auto t = ParseConfigText(text, "f");
    ASSERT_FALSE(t.ok()) << text;
    EXPECT_EQ(t.status().message(), want) << text;
  }
}

TEST(ConfigText, TableReaderChecksTypesRangesAndUnknownKeys) {
  auto t = ParseConfigText("[d]\nlambda = 1.5\ncount = 2\nnames = [\"a\", 1]\ntypo = 3\n", "f");
  ASSERT_TRUE(t.ok());
  TableReader r((*t)[1], "f");
  double lambda = 0;
  EXPECT_EQ(r.Number("lambda", &lambda, 0, 1).message(), "f:2:10: [d] lambda: must be in [0, 1]");
  int64_t count = 0;
  EXPECT_TRUE(r.Integer("count", &count, 0, 10).ok());
  EXPECT_EQ(count, 2);
  std::vector<std::string> names;
  EXPECT_EQ(r.Strings("names", &names).message(), "f:4:15: [d] names: must be an array of strings");
  EXPECT_EQ(r.String("missing", nullptr, true).message(), "f:1:1: [d] missing: is required");
  EXPECT_EQ(r.Finish().message(), "f:5:1: [d] typo: unknown key (known: count, lambda, missing, names)");
}

}  // namespace
}  // namespace watershed
