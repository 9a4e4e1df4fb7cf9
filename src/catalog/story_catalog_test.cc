#include "catalog/story_catalog.h"

#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "core/fault_injection_fs.h"
#include "core/testing/temp_dir.h"

namespace watershed::catalog {
namespace {

StoryRecord Story(uint64_t id, uint64_t author, std::string title = "t") {
  StoryRecord r;
  r.story = StoryId(id);
  r.author = AuthorId(author);
  r.created_at_ms = 1'700'000'000'000;
  r.updated_at_ms = 1'700'000'000'000;
  r.title = std::move(title);
  r.tags = {"news", "sport"};
  r.language = "en";
  return r;
}

// How many changes a successful Apply applied (fails the test on an error).
size_t Applied(Result<size_t> r) {
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : SIZE_MAX;
}

CatalogChange Change(StoryRecord r, std::string source = "api", uint64_t position = 0) {
  return CatalogChange{std::move(r), std::move(source), SourcePosition{position, 0}, std::nullopt};
}

class StoryCatalogTest : public ::testing::Test {
 protected:
  std::unique_ptr<StoryCatalog> Open() {
    auto c = StoryCatalog::Open(&fs_, dir_.path());
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(*c) : nullptr;
  }
  std::string LogPath() const { return JoinPath(dir_.path(), "catalog.log"); }

  testing::TempDir dir_{"catalog"};
  FaultInjectionFileSystem fs_{FileSystem::Default()};
};

TEST_F(StoryCatalogTest, AuthorshipFollowsTheLatestChange) {
  auto c = Open();
  ASSERT_EQ(Applied(c->Apply({Change(Story(1, 7)), Change(Story(2, 7)), Change(Story(3, 8))})), 3u);
  EXPECT_EQ(c->StoriesOf(AuthorId(7)), (std::vector<StoryId>{StoryId(1), StoryId(2)}));
  EXPECT_EQ(c->Get(StoryId(3))->author, AuthorId(8));
  EXPECT_EQ(c->Get(StoryId(3))->version, 3u);
  EXPECT_FALSE(c->Get(StoryId(4)).has_value());

  // Story 2 moves to author 8; story 1 is deleted (it stays readable, but
  // no longer counts among its author's stories).
  StoryRecord deleted = Story(1, 7);
  deleted.deleted = true;
  ASSERT_EQ(Applied(c->Apply({Change(Story(2, 8)), Change(deleted)})), 2u);
  EXPECT_TRUE(c->StoriesOf(AuthorId(7)).empty());
  EXPECT_EQ(c->StoriesOf(AuthorId(8)), (std::vector<StoryId>{StoryId(2), StoryId(3)}));
  EXPECT_TRUE(c->Get(StoryId(1))->deleted);
  EXPECT_EQ(c->position(), 5u);
}

TEST_F(StoryCatalogTest, ReopenRestoresEveryChangeAndPositionsGoOn) {
  {
    auto c = Open();
    ASSERT_TRUE(c->Apply({Change(Story(1, 7, "first")), Change(Story(1, 9, "second"), "pg", 100)}).ok());
  }
  auto c = Open();
  EXPECT_EQ(c->Get(StoryId(1))->title, "second");
  EXPECT_EQ(c->Get(StoryId(1))->author, AuthorId(9));
  EXPECT_EQ(c->Get(StoryId(1))->tags, (std::vector<std::string>{"news", "sport"}));
  EXPECT_EQ(c->SourcePositionOf("pg"), (SourcePosition{100, 0}));
  ASSERT_EQ(Applied(c->Apply({Change(Story(2, 9))})), 1u);
  EXPECT_EQ(c->Get(StoryId(2))->version, 3u);
}

TEST_F(StoryCatalogTest, AReplayedSourceChangeIsAppliedOnce) {
  auto c = Open();
  ASSERT_EQ(Applied(c->Apply({Change(Story(1, 7), "pg", 10), Change(Story(2, 7), "pg", 11)})), 2u);
  // A CDC source restarted from before its last confirmation sends 10 and
  // 11 again, then transaction 12 with two changes: both of those apply.
  ASSERT_EQ(Applied(c->Apply({Change(Story(1, 99), "pg", 10), Change(Story(2, 99), "pg", 11),
                              Change(Story(3, 7), "pg", 12), Change(Story(3, 8), "pg", 12)})),
            2u);
  EXPECT_EQ(c->Get(StoryId(1))->author, AuthorId(7));
  EXPECT_EQ(c->Get(StoryId(3))->author, AuthorId(8));
  ASSERT_EQ(Applied(c->Apply({Change(Story(3, 99), "pg", 12)})), 0u) << "transaction 12 again";
  // Another source has positions of its own.
  ASSERT_EQ(Applied(c->Apply({Change(Story(4, 7), "import", 10)})), 1u);
  EXPECT_EQ(c->position(), 5u);
}

TEST_F(StoryCatalogTest, AnInvalidChangeRefusesTheWholeBatch) {
  auto c = Open();
  StoryRecord no_author = Story(2, 0);
  StoryRecord long_title = Story(3, 7, std::string(kMaxTitleBytes + 1, 'x'));
  StoryRecord many_tags = Story(4, 7);
  many_tags.tags.assign(kMaxTags + 1, "t");
  for (const StoryRecord& bad : {no_author, long_title, many_tags, Story(0, 7)}) {
    Result<size_t> r = c->Apply({Change(Story(1, 7)), Change(bad)});
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(c->size(), 0u);
  EXPECT_EQ(c->position(), 0u);
}

TEST_F(StoryCatalogTest, ATornTailIsTruncatedAndAcknowledgedChangesSurvive) {
  {
    auto c = Open();
    ASSERT_TRUE(c->Apply({Change(Story(1, 7))}).ok());
    ASSERT_TRUE(c->Apply({Change(Story(2, 7))}).ok());
  }
  // A crash in the middle of the next append: half a frame at the end.
  const auto whole = std::filesystem::file_size(LogPath());
  { std::ofstream(LogPath(), std::ios::app) << std::string("\x40\x00\x00\x00garbage", 11); }
  auto c = Open();
  EXPECT_EQ(c->size(), 2u);
  EXPECT_EQ(std::filesystem::file_size(LogPath()), whole);
  ASSERT_EQ(Applied(c->Apply({Change(Story(3, 7))})), 1u);
  c.reset();
  EXPECT_EQ(Open()->size(), 3u);
}

TEST_F(StoryCatalogTest, DamageBeforeValidChangesIsRefusedNotDropped) {
  {
    auto c = Open();
    for (uint64_t id = 1; id <= 3; ++id) ASSERT_TRUE(c->Apply({Change(Story(id, 7))}).ok());
  }
  {
    std::fstream f(LogPath(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(12);  // inside the first change's payload
    f.put('\xff');
  }
  auto c = StoryCatalog::Open(&fs_, dir_.path());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kCorruption);
  EXPECT_NE(c.status().message().find("followed by valid ones"), std::string::npos) << c.status().ToString();
}

TEST_F(StoryCatalogTest, AnAcknowledgedChangeSurvivesAPowerCut) {
  auto c = Open();
  ASSERT_TRUE(c->Apply({Change(Story(1, 7))}).ok());
  c.reset();
  ASSERT_TRUE(fs_.DropUnsyncedData().ok());
  EXPECT_EQ(Open()->Get(StoryId(1))->author, AuthorId(7));
}

TEST_F(StoryCatalogTest, AFailedWriteIsReportedAndStopsFurtherWritesUntilReopen) {
  auto c = Open();
  ASSERT_TRUE(c->Apply({Change(Story(1, 7))}).ok());
  fs_.SetFailWrites(true);
  EXPECT_FALSE(c->Apply({Change(Story(2, 7))}).ok());
  fs_.SetFailWrites(false);
  EXPECT_FALSE(c->Apply({Change(Story(3, 7))}).ok()) << "a write after a failed one";
  EXPECT_FALSE(c->Get(StoryId(2)).has_value());
  c.reset();
  ASSERT_TRUE(fs_.DropUnsyncedData().ok());
  c = Open();
  EXPECT_EQ(c->size(), 1u);
  EXPECT_EQ(Applied(c->Apply({Change(Story(3, 7))})), 1u);
}

TEST_F(StoryCatalogTest, CompareAndSetRefusesAChangeBasedOnAStaleVersion) {
  auto a = Open();
  auto b = Open();
  CatalogChange create = Change(Story(1, 7));
  create.if_version = 0;
  ASSERT_EQ(Applied(a->Apply({create})), 1u);
  Result<size_t> again = b->Apply({create});
  EXPECT_EQ(again.status().code(), StatusCode::kFailedPrecondition) << "created twice";
  // b moves the story to author 8 at version 1; a, still believing
  // version 1, tries to write author 7 back: refused, with nothing applied.
  CatalogChange move = Change(Story(1, 8));
  move.if_version = 1;
  ASSERT_EQ(Applied(b->Apply({move})), 1u);
  CatalogChange stale = Change(Story(1, 7));
  stale.if_version = 1;
  Result<size_t> refused = a->Apply({Change(Story(2, 7)), stale});
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(a->AuthorOf(StoryId(1)), AuthorId(8));
  EXPECT_FALSE(a->Get(StoryId(2)).has_value());
}

TEST_F(StoryCatalogTest, ProcessesSharingTheDirectorySeeEachOthersChanges) {
  auto a = Open();
  auto b = Open();
  ASSERT_EQ(Applied(a->Apply({Change(Story(1, 7), "pg", 10)})), 1u);
  EXPECT_FALSE(b->Get(StoryId(1)).has_value()) << "seen before a refresh";
  ASSERT_TRUE(b->Refresh().ok());
  EXPECT_EQ(b->Get(StoryId(1))->author, AuthorId(7));
  // b appends after reading a's change: positions stay dense, and a's
  // source position makes b's replay of the same CDC change a no-op.
  ASSERT_EQ(Applied(b->Apply({Change(Story(1, 99), "pg", 10), Change(Story(2, 8))})), 1u);
  EXPECT_EQ(b->Get(StoryId(2))->version, 2u);
  ASSERT_EQ(Applied(a->Apply({Change(Story(3, 8))})), 1u);
  EXPECT_EQ(a->Get(StoryId(2))->author, AuthorId(8)) << "an append reads the others' changes first";
  EXPECT_EQ(a->Get(StoryId(3))->version, 3u);
  EXPECT_EQ(a->Get(StoryId(1))->author, AuthorId(7));
}

TEST_F(StoryCatalogTest, AReaderNeverTruncatesAFrameAnotherProcessIsAppending) {
  auto a = Open();
  ASSERT_TRUE(a->Apply({Change(Story(1, 7))}).ok());
  const auto whole = std::filesystem::file_size(LogPath());
  { std::ofstream(LogPath(), std::ios::app) << std::string("\x40\x00\x00\x00half", 8); }
  ASSERT_TRUE(a->Refresh().ok());
  EXPECT_EQ(std::filesystem::file_size(LogPath()), whole + 8);
  // The next append (under the lock: nobody else is appending) repairs it.
  ASSERT_EQ(Applied(a->Apply({Change(Story(2, 7))})), 1u);
  EXPECT_EQ(Open()->size(), 2u);
}

TEST_F(StoryCatalogTest, FollowPicksUpAnotherProcessesChanges) {
  auto reader = Open();
  reader->Follow(10);
  auto writer = Open();
  ASSERT_TRUE(writer->Apply({Change(Story(5, 7))}).ok());
  for (int i = 0; i < 500 && !reader->Get(StoryId(5)); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_TRUE(reader->Get(StoryId(5)).has_value());
}

}  // namespace
}  // namespace watershed::catalog
