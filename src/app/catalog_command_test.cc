#include <fstream>

#include <gtest/gtest.h>

#include "app/commands.h"
#include "catalog/story_catalog.h"
#include "core/testing/temp_dir.h"

namespace watershed::app {
namespace {

class CatalogCommandTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& content) {
    const std::string path = dir_.Path(name);
    std::ofstream(path) << content;
    return path;
  }
  int Run(std::vector<std::string> args) {
    args.push_back("--catalog-dir");
    args.push_back(dir_.Path("catalog"));
    return CatalogCommand(args);
  }
  std::unique_ptr<catalog::StoryCatalog> Open() {
    auto c = catalog::StoryCatalog::Open(FileSystem::Default(), dir_.Path("catalog"));
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(*c) : nullptr;
  }
  testing::TempDir dir_{"catalog_command"};
};

TEST_F(CatalogCommandTest, ImportsCsvAndJsonAndLaterLinesWin) {
  ASSERT_EQ(Run({"import", Write("a.csv", "story_id,author_id,title,tags\n1,7,One,x|y\n2,8,Two,\n1,,Renamed,\n")}), 0);
  auto c = Open();
  EXPECT_EQ(c->Get(StoryId(1))->title, "Renamed");
  EXPECT_EQ(c->Get(StoryId(1))->author, AuthorId(7)) << "an empty cell keeps the earlier value";
  EXPECT_EQ(c->Get(StoryId(1))->tags, std::vector<std::string>{});
  EXPECT_EQ(c->StoriesOf(AuthorId(8)), std::vector<StoryId>{StoryId(2)});
  c.reset();
  ASSERT_EQ(Run({"import", Write("b.json", R"([{"story_id": 2, "author_id": 7, "deleted": true}])")}), 0);
  c = Open();
  EXPECT_TRUE(c->Get(StoryId(2))->deleted);
  EXPECT_EQ(c->Get(StoryId(2))->author, AuthorId(7));
}

TEST_F(CatalogCommandTest, ABadFileWritesNothing) {
  EXPECT_EQ(Run({"import", Write("bad.csv", "story_id,author_id\n1,7\n2,x\n")}), 1);
  EXPECT_EQ(Run({"import", Write("new.csv", "story_id,title\n3,no author\n")}), 1);
  EXPECT_EQ(Run({"import", Write("long.json", R"({"stories": [{"story_id": 4, "author_id": 1, "title": ")" +
                                                  std::string(600, 'x') + R"("}]})")}),
            1);
  EXPECT_EQ(Run({"import", Write("data.txt", "story_id,author_id\n1,7\n")}), 2) << "unknown format";
  EXPECT_EQ(Run({"import", dir_.Path("missing.csv")}), 1);
  EXPECT_EQ(Run({"import", Write("ok.csv", "story_id,author_id\n5,7\n"), "--dry-run"}), 0);
  EXPECT_EQ(Run({"frobnicate", "x"}), 2);
  EXPECT_EQ(Open()->size(), 0u);
}

}  // namespace
}  // namespace watershed::app
