#include "core/fault_injection_fs.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "core/testing/temp_dir.h"

namespace watershed {
namespace {

using ::watershed::testing::TempDir;

class FaultInjectionFsTest : public ::testing::Test {
 protected:
  std::string Path(const std::string& name) const { return dir_.Path(name); }
  std::string Read(const std::string& name) {
    auto r = ReadWholeFile(FileSystem::Default(), Path(name));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r.value() : std::string();
  }
  std::vector<std::string> Entries() {
    auto r = fs_.ListDir(dir_.path());
    EXPECT_TRUE(r.ok());
    std::vector<std::string> names = r.ok() ? r.value() : std::vector<std::string>{};
    std::sort(names.begin(), names.end());
    return names;
  }

  TempDir dir_{"fifs"};
  FaultInjectionFileSystem fs_{FileSystem::Default()};
};

TEST_F(FaultInjectionFsTest, UnsyncedBytesVanishSyncedStay) {
  auto f = fs_.NewWritableFile(Path("log"));
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ASSERT_TRUE(f.value()->Append("durable-").ok());
  ASSERT_TRUE(f.value()->Sync().ok());
  ASSERT_TRUE(f.value()->Append("volatile").ok());
  EXPECT_EQ(f.value()->Size(), 16u);
  EXPECT_EQ(Read("log"), "durable-volatile");

  ASSERT_TRUE(fs_.DropUnsyncedData().ok());
  EXPECT_EQ(Read("log"), "durable-");
  EXPECT_EQ(fs_.FileSize(Path("log")).value(), 8u);
  ASSERT_TRUE(f.value()->Close().ok());

  // A file never synced loses everything.
  auto g = fs_.NewWritableFile(Path("never"));
  ASSERT_TRUE(g.ok());
  ASSERT_TRUE(g.value()->Append("gone").ok());
  ASSERT_TRUE(g.value()->Close().ok());
  ASSERT_TRUE(fs_.DropUnsyncedData().ok());
  EXPECT_EQ(Read("never"), "");
  EXPECT_EQ(Read("log"), "durable-");
}

TEST_F(FaultInjectionFsTest, AppendableFileTreatsExistingBytesAsDurable) {
  ASSERT_TRUE(WriteFileAtomically(FileSystem::Default(), Path("a"), "old").ok());
  auto f = fs_.NewAppendableFile(Path("a"));
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f.value()->Size(), 3u);
  ASSERT_TRUE(f.value()->Append("+new").ok());
  EXPECT_EQ(Read("a"), "old+new");
  ASSERT_TRUE(fs_.DropUnsyncedData().ok());
  EXPECT_EQ(Read("a"), "old");
}

TEST_F(FaultInjectionFsTest, FailWritesAndRecover) {
  auto f = fs_.NewWritableFile(Path("log"));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(f.value()->Append("abc").ok());

  fs_.SetFailWrites(true);
  EXPECT_TRUE(fs_.fail_writes());
  Status s = f.value()->Append("def");
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  EXPECT_FALSE(s.message().empty());
  EXPECT_EQ(f.value()->Sync().code(), StatusCode::kIoError);
  EXPECT_EQ(Read("log"), "abc");  // the failed append wrote nothing

  fs_.SetFailWrites(false);
  EXPECT_FALSE(fs_.fail_writes());
  ASSERT_TRUE(f.value()->Append("ghi").ok());
  ASSERT_TRUE(f.value()->Sync().ok());
  ASSERT_TRUE(fs_.DropUnsyncedData().ok());
  EXPECT_EQ(Read("log"), "abcghi");
}

TEST_F(FaultInjectionFsTest, FailedSyncDoesNotCountAsDurable) {
  auto f = fs_.NewWritableFile(Path("log"));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(f.value()->Append("one").ok());
  ASSERT_TRUE(f.value()->Sync().ok());
  ASSERT_TRUE(f.value()->Append("two").ok());
  fs_.SetFailWrites(true);
  EXPECT_EQ(f.value()->Sync().code(), StatusCode::kIoError);
  fs_.SetFailWrites(false);
  ASSERT_TRUE(fs_.DropUnsyncedData().ok());
  EXPECT_EQ(Read("log"), "one");
}

TEST_F(FaultInjectionFsTest, RenameKeepsSyncedSize) {
  auto f = fs_.NewWritableFile(Path("from"));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(f.value()->Append("synced").ok());
  ASSERT_TRUE(f.value()->Sync().ok());
  ASSERT_TRUE(f.value()->Append("-unsynced").ok());
  ASSERT_TRUE(f.value()->Close().ok());

  ASSERT_TRUE(fs_.RenameFile(Path("from"), Path("to")).ok());
  EXPECT_FALSE(fs_.FileExists(Path("from")));
  EXPECT_EQ(Read("to"), "synced-unsynced");
  ASSERT_TRUE(fs_.DropUnsyncedData().ok());
  EXPECT_EQ(Read("to"), "synced");
  EXPECT_FALSE(fs_.FileExists(Path("from")));
}

TEST_F(FaultInjectionFsTest, TruncateLowersSyncedSize) {
  auto f = fs_.NewWritableFile(Path("log"));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(f.value()->Append("0123456789").ok());
  ASSERT_TRUE(f.value()->Sync().ok());
  ASSERT_TRUE(f.value()->Close().ok());
  ASSERT_TRUE(fs_.Truncate(Path("log"), 4).ok());
  // Growing the file again without a sync must not resurrect bytes 4..9.
  auto g = fs_.NewAppendableFile(Path("log"));
  ASSERT_TRUE(g.ok());
  ASSERT_TRUE(g.value()->Append("xyz").ok());
  ASSERT_TRUE(fs_.DropUnsyncedData().ok());
  EXPECT_EQ(Read("log"), "0123");
}

TEST_F(FaultInjectionFsTest, RemovedFileIsForgotten) {
  auto f = fs_.NewWritableFile(Path("log"));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(f.value()->Append("x").ok());
  ASSERT_TRUE(f.value()->Close().ok());
  ASSERT_TRUE(fs_.RemoveFile(Path("log")).ok());
  ASSERT_TRUE(fs_.DropUnsyncedData().ok());
  EXPECT_FALSE(fs_.FileExists(Path("log")));
}

TEST_F(FaultInjectionFsTest, WriteFileAtomicallySurvivesCrash) {
  ASSERT_TRUE(WriteFileAtomically(&fs_, Path("manifest"), "version-1").ok());
  ASSERT_TRUE(fs_.DropUnsyncedData().ok());
  EXPECT_EQ(Read("manifest"), "version-1");

  ASSERT_TRUE(WriteFileAtomically(&fs_, Path("manifest"), "version-2, longer").ok());
  ASSERT_TRUE(fs_.DropUnsyncedData().ok());
  EXPECT_EQ(Read("manifest"), "version-2, longer");
  EXPECT_EQ(Entries(), std::vector<std::string>{"manifest"});  // no temporary left behind
}

TEST_F(FaultInjectionFsTest, FailedAtomicWriteKeepsOldContentAndLeavesNothing) {
  ASSERT_TRUE(WriteFileAtomically(&fs_, Path("manifest"), "version-1").ok());
  fs_.SetFailWrites(true);
  Status s = WriteFileAtomically(&fs_, Path("manifest"), "version-2");
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  fs_.SetFailWrites(false);
  ASSERT_TRUE(fs_.DropUnsyncedData().ok());
  EXPECT_EQ(Read("manifest"), "version-1");
  EXPECT_EQ(Entries(), std::vector<std::string>{"manifest"});
}

TEST_F(FaultInjectionFsTest, ErrorsFromBaseArePassedThrough) {
  EXPECT_EQ(fs_.NewWritableFile(Path("missing-dir/file")).status().code(), StatusCode::kIoError);
  EXPECT_EQ(fs_.RenameFile(Path("nope"), Path("also-nope")).code(), StatusCode::kIoError);
  EXPECT_FALSE(fs_.FileExists(Path("nope")));
  ASSERT_TRUE(fs_.DropUnsyncedData().ok());
}

}  // namespace
}  // namespace watershed

namespace watershed {
namespace {

TEST(PosixFileSystemTest, RenameNoReplaceRefusesAnExistingTargetAndOneOfTwoRacersWins) {
  ::watershed::testing::TempDir dir("rnr");
  FileSystem* fs = FileSystem::Default();
  ASSERT_TRUE(WriteFileAtomically(fs, dir.Path("a"), "first").ok());
  ASSERT_TRUE(WriteFileAtomically(fs, dir.Path("b"), "second").ok());
  ASSERT_TRUE(fs->RenameNoReplace(dir.Path("a"), dir.Path("v1")).ok());
  Status s = fs->RenameNoReplace(dir.Path("b"), dir.Path("v1"));
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_EQ(ReadWholeFile(fs, dir.Path("v1")).value(), "first");  // not replaced
  EXPECT_TRUE(fs->FileExists(dir.Path("b")));                      // the loser keeps its file
  EXPECT_FALSE(fs->FileExists(dir.Path("a")));

  // Racing threads: exactly one wins each name.
  for (int round = 0; round < 20; ++round) {
    const std::string target = dir.Path("race" + std::to_string(round));
    std::atomic<int> wins{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      const std::string mine = dir.Path("c" + std::to_string(round) + "_" + std::to_string(t));
      ASSERT_TRUE(WriteFileAtomically(fs, mine, std::to_string(t)).ok());
      threads.emplace_back([&, mine] {
        if (fs->RenameNoReplace(mine, target).ok()) ++wins;
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(wins.load(), 1) << round;
  }
}

}  // namespace
}  // namespace watershed
