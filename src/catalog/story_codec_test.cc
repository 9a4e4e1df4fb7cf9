#include "catalog/story_codec.h"

#include <gtest/gtest.h>

namespace watershed::catalog {
namespace {

std::string ErrorOf(std::string_view text, bool csv) {
  auto r = ParseStoryFile(text, csv);
  return r.ok() ? "ok" : r.status().message();
}

TEST(StoryCodecTest, ParsesABatchAndMergesPatchesOverTheCurrentRecord) {
  auto batch = ParseStoryBatchJson(R"({"stories": [
      {"story_id": 42, "author_id": 7, "title": "Caf\u00e9", "tags": ["food", "paris"], "language": "fr",
       "is_original": true, "created_at": 1700000000000, "unknown": {"ignored": 1}},
      {"story_id": 42, "title": "Renamed"}]})");
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  ASSERT_EQ(batch->size(), 2u);
  StoryRecord first = ApplyPatch(std::nullopt, (*batch)[0], 5);
  EXPECT_EQ(first.author, AuthorId(7));
  EXPECT_EQ(first.title, "Caf\xc3\xa9");
  EXPECT_EQ(first.created_at_ms, 1700000000000);
  EXPECT_EQ(first.updated_at_ms, 5);
  EXPECT_TRUE(first.is_original);
  StoryRecord second = ApplyPatch(first, (*batch)[1], 9);
  EXPECT_EQ(second.title, "Renamed");
  EXPECT_EQ(second.author, AuthorId(7)) << "a field the patch omits keeps its value";
  EXPECT_EQ(second.tags, (std::vector<std::string>{"food", "paris"}));
  EXPECT_EQ(second.updated_at_ms, 9);

  std::string json;
  AppendStoryJson(second, &json);
  auto back = ParseStoryBatchJson("{\"stories\":[" + json + "]}");
  ASSERT_TRUE(back.ok()) << json;
  EXPECT_EQ(ApplyPatch(std::nullopt, (*back)[0], 9).title, "Renamed");
}

TEST(StoryCodecTest, EveryBadFieldIsNamedWithItsIndex) {
  auto error = [](std::string_view body) {
    auto r = ParseStoryBatchJson(body);
    return r.ok() ? std::string("ok") : r.status().message();
  };
  EXPECT_EQ(error(R"({"stories": [{"story_id": 1}, {"story_id": 0}]})"),
            "stories[1].story_id: must be a positive integer");
  EXPECT_EQ(error(R"({"stories": [{"author_id": 3}]})"), "stories[0]: story_id is missing");
  EXPECT_EQ(error(R"({"stories": [{"story_id": 1, "tags": "a"}]})"), "stories[0].tags: must be an array of strings");
  EXPECT_EQ(error(R"({"stories": [{"story_id": 1, "deleted": 1}]})"), "stories[0].deleted: must be true or false");
  EXPECT_EQ(error(R"({"stories": [{"story_id": 1, "created_at": -5}]})"),
            "stories[0].created_at: must be ms since the epoch");
  EXPECT_EQ(error(R"({"stories": [{"story_id": -1}]})"), "stories[0].story_id: must be a positive integer");
  EXPECT_EQ(error(R"({"events": []})"), "the body must have a 'stories' array");
  EXPECT_NE(error("{nope"), "ok");
  std::string big = R"({"stories": [)";
  for (size_t i = 0; i <= kMaxStoriesPerBatch; ++i) big += std::string(i ? "," : "") + R"({"story_id": 1})";
  auto r = ParseStoryBatchJson(big + "]}");
  EXPECT_EQ(r.status().code(), StatusCode::kTooLarge);
}

TEST(StoryCodecTest, ReadsCsvWithQuotesAndTags) {
  auto r = ParseStoryFile(
      "story_id,author_id,title,tags,is_original\r\n"
      "1,7,\"Hello, \"\"world\"\"\",news|sport,true\r\n"
      "\n"
      "2,8,\"two\nlines\",,\n",
      /*csv=*/true);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ(*(*r)[0].title, "Hello, \"world\"");
  EXPECT_EQ(*(*r)[0].tags, (std::vector<std::string>{"news", "sport"}));
  EXPECT_TRUE(*(*r)[0].is_original);
  EXPECT_EQ(*(*r)[1].title, "two\nlines");
  EXPECT_TRUE((*r)[1].tags->empty());
  EXPECT_FALSE((*r)[1].is_original.has_value());
}

TEST(StoryCodecTest, CsvErrorsNameTheLine) {
  EXPECT_EQ(ErrorOf("", true), "line 1: no header (story_id,author_id,title,...)");
  EXPECT_EQ(ErrorOf("author_id,title\n1,x\n", true), "line 1: the header has no story_id column");
  EXPECT_EQ(ErrorOf("story_id,colour\n", true).substr(0, 30), "line 1: unknown column 'colour");
  EXPECT_EQ(ErrorOf("story_id,author_id\n1,7\n2\n", true), "line 3: 1 fields, the header has 2");
  EXPECT_EQ(ErrorOf("story_id,author_id\n1,7\nx,7\n", true), "line 3: story_id must be a positive integer, not 'x'");
  EXPECT_EQ(ErrorOf("story_id,title\n1,\"a\nb\n2,c\n", true), "line 2: unclosed quote");
  EXPECT_EQ(ErrorOf("story_id,title\n1,\"a\"b\n", true), "line 2: text after a closing quote");
  EXPECT_EQ(ErrorOf("story_id,deleted\n1,yes\n", true), "line 2: deleted must be true or false, not 'yes'");
}

TEST(StoryCodecTest, AJsonFileMayBeAPlainArrayOfAnySize) {
  std::string big = "[";
  for (size_t i = 1; i <= kMaxStoriesPerBatch + 5; ++i)
    big += std::string(i > 1 ? "," : "") + R"({"story_id": )" + std::to_string(i) + R"(, "author_id": 3})";
  auto r = ParseStoryFile(big + "]", /*csv=*/false);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->size(), kMaxStoriesPerBatch + 5);
}

TEST(StoryCodecTest, NonUtf8TextIsRefusedByValidation) {
  auto r = ParseStoryFile("story_id,author_id,title\n1,7,\xff\xfe\n", true);
  ASSERT_TRUE(r.ok());
  Status s = ValidateStory(ApplyPatch(std::nullopt, (*r)[0], 1));
  EXPECT_EQ(s.message(), "title is not UTF-8 text");
}

}  // namespace
}  // namespace watershed::catalog
