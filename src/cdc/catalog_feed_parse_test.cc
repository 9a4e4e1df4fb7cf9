// The PostgreSQL text forms the catalog feed parses (catalog_feed.h), with
// hostile inputs: every malformed value must be refused, never misread.

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "cdc/catalog_feed.h"

namespace watershed::cdc {
namespace {

using Elems = std::vector<std::optional<std::string>>;

// The value of a parse that must succeed.
template <typename T>
T V(Result<T> r) {
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : T{};
}

TEST(CatalogFeedParseTest, Int64) {
  EXPECT_EQ(V(ParsePgInt64("0")), 0);
  EXPECT_EQ(V(ParsePgInt64("42")), 42);
  EXPECT_EQ(V(ParsePgInt64("-7")), -7);
  EXPECT_EQ(V(ParsePgInt64("9223372036854775807")), INT64_MAX);
  EXPECT_EQ(V(ParsePgInt64("-9223372036854775808")), INT64_MIN);
  for (const char* bad : {"", "-", "+1", " 1", "1 ", "1.0", "1e3", "0x10", "9223372036854775808",
                          "-9223372036854775809", "99999999999999999999", "--1", "１"}) {
    EXPECT_FALSE(ParsePgInt64(bad).ok()) << bad;
  }
}

TEST(CatalogFeedParseTest, Bool) {
  EXPECT_TRUE(V(ParsePgBool("t")));
  EXPECT_FALSE(V(ParsePgBool("f")));
  for (const char* bad : {"", "T", "true", "1", "0", "yes", "t ", "tf"}) EXPECT_FALSE(ParsePgBool(bad).ok()) << bad;
}

TEST(CatalogFeedParseTest, Timestamptz) {
  EXPECT_EQ(V(ParsePgTimestamptz("1970-01-01 00:00:00+00")), 0);
  EXPECT_EQ(V(ParsePgTimestamptz("2024-01-02 03:04:05+00")), 1704164645'000000);
  EXPECT_EQ(V(ParsePgTimestamptz("2024-01-02 03:04:05.123456+00")), 1704164645'123456);
  EXPECT_EQ(V(ParsePgTimestamptz("2024-01-02 03:04:05.5+00")), 1704164645'500000);
  EXPECT_EQ(V(ParsePgTimestamptz("2024-01-02 05:04:05+02")), 1704164645'000000);
  EXPECT_EQ(V(ParsePgTimestamptz("2024-01-02 08:34:05+05:30")), 1704164645'000000);
  EXPECT_EQ(V(ParsePgTimestamptz("2024-01-01 23:04:05-04:00:00")), 1704164645'000000);
  EXPECT_EQ(V(ParsePgTimestamptz("1969-12-31 23:59:59.999999+00")), -1);
  EXPECT_EQ(V(ParsePgTimestamptz("2024-02-29 00:00:00+00")), 1709164800'000000);  // leap day
  EXPECT_EQ(V(ParsePgTimestamptz("0001-01-01 00:00:00+00")), -62135596800'000000);
  for (const char* bad : {"",
                          "2024-01-02",
                          "2024-01-02 03:04:05",
                          "2024-01-02T03:04:05+00",
                          "2024-13-02 03:04:05+00",
                          "2023-02-29 03:04:05+00",
                          "2024-01-32 03:04:05+00",
                          "2024-01-02 24:00:00+00",
                          "2024-01-02 03:60:05+00",
                          "2024-01-02 03:04:60+00",
                          "2024-01-02 03:04:05.+00",
                          "2024-01-02 03:04:05.1234567+00",
                          "2024-01-02 03:04:05+0",
                          "2024-01-02 03:04:05+000",
                          "2024-01-02 03:04:05+16",
                          "2024-01-02 03:04:05+00:60",
                          "2024-01-02 03:04:05+00 BC",
                          "12024-01-02 03:04:05+00",
                          "infinity",
                          "-infinity",
                          "0000-01-01 00:00:00+00",
                          "2024-01-02 03:04:05+00:",
                          "2024-01-02 03:04:05Z",
                          "2024-0a-02 03:04:05+00",
                          "2024-01-02 03:04:05 +00",
                          "-024-01-02 03:04:05+00"}) {
    EXPECT_FALSE(ParsePgTimestamptz(bad).ok()) << bad;
  }
}

TEST(CatalogFeedParseTest, TextArray) {
  EXPECT_EQ(V(ParsePgTextArray("{}")), Elems{});
  EXPECT_EQ(V(ParsePgTextArray("{a}")), (Elems{"a"}));
  EXPECT_EQ(V(ParsePgTextArray(R"({a,b,"c d","e\"f"})")), (Elems{"a", "b", "c d", "e\"f"}));
  EXPECT_EQ(V(ParsePgTextArray("{NULL,null,\"NULL\",x}")), (Elems{std::nullopt, std::nullopt, "NULL", "x"}));
  EXPECT_EQ(V(ParsePgTextArray(R"({\NULL})")), (Elems{"NULL"}));  // escaped: a string
  EXPECT_EQ(V(ParsePgTextArray(R"({"",  b  ,"a,b","{}","back\\slash"})")),
            (Elems{"", "b", "a,b", "{}", "back\\slash"}));
  EXPECT_EQ(V(ParsePgTextArray(R"({a\ })")), (Elems{"a "}));  // escaped trailing space kept
  EXPECT_EQ(V(ParsePgTextArray("{\"caf\xc3\xa9\"}")), (Elems{"caf\xc3\xa9"}));
  for (const char* bad :
       {"",      "{",        "}",        "a,b",  "{a,b", "{a,}",  "{,a}",      "{a,,b}", "{{a},{b}}", "[1:2]={a,b}",
        "{\"a}", "{\"a\"b}", "{a\"b\"}", "{a}x", "{a}}", "{a\\}", "{\"a\\\"}", "{ }x",   "{a b\"}",   "{a,{b}}"}) {
    EXPECT_FALSE(ParsePgTextArray(bad).ok()) << bad;
  }
}

TEST(CatalogFeedParseTest, ColumnMapping) {
  Result<CatalogColumnMapping> m = ParseColumnMapping("story_id=id,author_id=owner,deleted=");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->story_id, "id");
  EXPECT_EQ(m->author_id, "owner");
  EXPECT_EQ(m->title, "title");
  EXPECT_EQ(m->deleted, "");
  EXPECT_FALSE(ParseColumnMapping("story=id").ok());
  EXPECT_FALSE(ParseColumnMapping("story_id").ok());
  EXPECT_FALSE(ParseColumnMapping("story_id=").ok());
  EXPECT_EQ(CdcTableName("public.stories"), "cdc_stories");
  EXPECT_EQ(CdcTableName("stories"), "cdc_stories");
}

}  // namespace
}  // namespace watershed::cdc
