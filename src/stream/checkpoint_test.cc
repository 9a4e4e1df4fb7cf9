#include "stream/checkpoint.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/crc32c.h"
#include "core/fault_injection_fs.h"
#include "core/testing/temp_dir.h"
#include "core/testing/wait.h"
#include "keys/envelope.h"
#include "keys/key_ring.h"

namespace watershed::stream {
namespace {

using ::watershed::testing::TempDir;

Checkpoint Make(uint64_t id, uint64_t offset, std::string state) {
  Checkpoint c;
  c.id = id;
  c.next_offset = LogOffset(offset);
  c.state = std::move(state);
  return c;
}

void ExpectSame(const Checkpoint& got, const Checkpoint& want) {
  EXPECT_EQ(got.id, want.id);
  EXPECT_EQ(got.next_offset, want.next_offset);
  EXPECT_EQ(got.state, want.state);
  EXPECT_EQ(got.sink, want.sink);
  EXPECT_EQ(got.cold, want.cold);
}

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A death-test child re-runs the test: it works in its parent's
    // directory, which the parent owns and removes.
    const char* inherited = std::getenv("WATERSHED_TEST_CKPT_DIR");
    dir_ = inherited != nullptr ? inherited : own_dir_.emplace("ckpt").path();
  }
  // Every file under the checkpoint root, relative names, sorted.
  std::vector<std::string> Files() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir_))
      if (e.is_regular_file()) out.push_back(std::filesystem::relative(e.path(), dir_).string());
    std::sort(out.begin(), out.end());
    return out;
  }
  std::string ReadRaw(const std::string& path) {
    auto r = ReadWholeFile(FileSystem::Default(), path);
    EXPECT_TRUE(r.ok());
    return r.ok() ? r.value() : "";
  }
  void WriteRaw(const std::string& path, const std::string& data) {
    ASSERT_TRUE(FileSystem::Default()->RemoveFile(path).ok());
    auto f = FileSystem::Default()->NewWritableFile(path);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE(f.value()->Append(data).ok());
    ASSERT_TRUE(f.value()->Close().ok());
  }

  std::optional<TempDir> own_dir_;  // unset in a death-test child
  std::string dir_;
};

TEST_F(CheckpointTest, SaveLoadRoundTrip) {
  CheckpointStore store(FileSystem::Default(), dir_);
  std::string state(10'000, '\0');
  for (size_t i = 0; i < state.size(); ++i) state[i] = static_cast<char>(i * 7);
  Checkpoint c = Make(3, 12345, state);
  c.sink = "sink section";
  c.cold = std::string(24, '\x5a');
  ASSERT_TRUE(store.Save(Region::kEu, 2, c).ok());
  auto loaded = store.Load(Region::kEu, 2);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_TRUE(loaded.value().has_value());
  ExpectSame(**loaded, c);
  // Partitions and regions are separate files.
  auto other = store.Load(Region::kUs, 2);
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other.value().has_value());
  other = store.Load(Region::kEu, 3);
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other.value().has_value());
  // An empty state is a valid checkpoint too.
  ASSERT_TRUE(store.Save(Region::kUs, 0, Make(1, 0, "")).ok());
  auto empty = store.Load(Region::kUs, 0);
  ASSERT_TRUE(empty.ok() && empty.value().has_value());
  ExpectSame(**empty, Make(1, 0, ""));
  EXPECT_EQ(Files(), (std::vector<std::string>{"eu/p002.ckpt", "us/p000.ckpt"}));  // no temp files left
}

// A version 2 file (no cold section), as written before cold stores existed, still loads.
TEST_F(CheckpointTest, LoadsVersion2Files) {
  CheckpointStore store(FileSystem::Default(), dir_);
  std::string data;
  auto put32 = [&](uint32_t v) { data.append(reinterpret_cast<const char*>(&v), 4); };
  auto put64 = [&](uint64_t v) { data.append(reinterpret_cast<const char*>(&v), 8); };
  put32(0x50435357), put32(2), put64(7), put64(99), put64(5);
  data += "state";
  put64(4);
  data += "sink";
  put32(crc32c::Value(data));
  ASSERT_TRUE(CreateDirsDurably(FileSystem::Default(), store.RegionDir(Region::kUs)).ok());
  ASSERT_TRUE(WriteFileAtomically(FileSystem::Default(), store.PathOf(Region::kUs, 0), data, "test").ok());
  auto loaded = store.Load(Region::kUs, 0);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->id, 7u);
  EXPECT_EQ((*loaded)->state, "state");
  EXPECT_EQ((*loaded)->sink, "sink");
  EXPECT_EQ((*loaded)->cold, "");
}

TEST_F(CheckpointTest, MissingCheckpointIsNullopt) {
  CheckpointStore store(FileSystem::Default(), JoinPath(dir_, "never-created"));
  auto loaded = store.Load(Region::kApac, 0);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_FALSE(loaded.value().has_value());
}

TEST_F(CheckpointTest, AnyCorruptByteIsDetected) {
  CheckpointStore store(FileSystem::Default(), dir_);
  const Checkpoint c = Make(9, 77, "some processor state bytes");
  ASSERT_TRUE(store.Save(Region::kUs, 1, c).ok());
  const std::string path = store.PathOf(Region::kUs, 1);
  const std::string good = ReadRaw(path);
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] ^= 0x20;
    WriteRaw(path, bad);
    auto loaded = store.Load(Region::kUs, 1);
    ASSERT_FALSE(loaded.ok()) << "flipped byte " << i;
    EXPECT_EQ(loaded.status().code(), StatusCode::kCorruption) << "flipped byte " << i;
  }
  WriteRaw(path, good);
  auto loaded = store.Load(Region::kUs, 1);
  ASSERT_TRUE(loaded.ok() && loaded.value().has_value());
  ExpectSame(**loaded, c);
}

TEST_F(CheckpointTest, TruncatedIsCorruption) {
  CheckpointStore store(FileSystem::Default(), dir_);
  ASSERT_TRUE(store.Save(Region::kUs, 1, Make(2, 5, "state")).ok());
  const std::string path = store.PathOf(Region::kUs, 1);
  const std::string good = ReadRaw(path);
  for (size_t len = 0; len < good.size(); ++len) {
    WriteRaw(path, good.substr(0, len));
    auto loaded = store.Load(Region::kUs, 1);
    ASSERT_FALSE(loaded.ok()) << "length " << len;
    EXPECT_EQ(loaded.status().code(), StatusCode::kCorruption) << "length " << len;
  }
  // Extra bytes at the end are corruption too.
  WriteRaw(path, good + "x");
  auto loaded = store.Load(Region::kUs, 1);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kCorruption);
}

// encryption = on: checkpoints sealed under the region's keys.
class EncryptedCheckpointTest : public CheckpointTest {
 protected:
  void SetUp() override {
    CheckpointTest::SetUp();
    for (const char* r : {"eu", "us"}) ASSERT_TRUE(keys::LocalKeyStore(keys_dir_.path(), r).Create(false).ok());
    auto ring = keys::KeyRing::Open(keys_dir_.path(), "", {"eu", "us"});
    ASSERT_TRUE(ring.ok()) << ring.status().ToString();
    ring_ = std::move(*ring);
  }
  TempDir keys_dir_{"ckpt_keys"};
  std::unique_ptr<keys::KeyRing> ring_;
};

TEST_F(EncryptedCheckpointTest, SealedOnDiskAndEveryDamageIsAnError) {
  CheckpointStore store(FileSystem::Default(), dir_, ring_.get());
  Checkpoint c = Make(4, 999, "viewer 123456789 watched story 42");
  c.sink = "sink section";
  ASSERT_TRUE(store.Save(Region::kEu, 2, c).ok());
  const std::string path = store.PathOf(Region::kEu, 2);
  const std::string good = ReadRaw(path);
  EXPECT_TRUE(keys::IsSealed(good));
  EXPECT_EQ(good.find("viewer 123456789"), std::string::npos);
  EXPECT_EQ(good.find("sink section"), std::string::npos);
  auto loaded = store.Load(Region::kEu, 2);
  ASSERT_TRUE(loaded.ok() && loaded.value().has_value()) << loaded.status().ToString();
  ExpectSame(**loaded, c);

  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] ^= 0x20;
    WriteRaw(path, bad);
    auto r = store.Load(Region::kEu, 2);
    ASSERT_FALSE(r.ok()) << "flipped byte " << i;
    // A flip in the key id names a key that does not exist; any other is corruption.
    EXPECT_TRUE(r.status().code() == StatusCode::kCorruption || r.status().code() == StatusCode::kNotFound)
        << i << ": " << r.status().ToString();
  }
  for (size_t len = 0; len < good.size(); len += 7) {
    WriteRaw(path, good.substr(0, len));
    EXPECT_FALSE(store.Load(Region::kEu, 2).ok()) << "length " << len;
  }
  // Moved to another partition (same region, same keys): its context differs.
  WriteRaw(path, good);
  ASSERT_TRUE(store.Save(Region::kEu, 3, Make(1, 0, "")).ok());
  WriteRaw(store.PathOf(Region::kEu, 3), good);
  EXPECT_FALSE(store.Load(Region::kEu, 3).ok());
  // Without the keys it is refused, not read as garbage.
  auto plain_store = CheckpointStore(FileSystem::Default(), dir_).Load(Region::kEu, 2);
  ASSERT_FALSE(plain_store.ok());
  EXPECT_NE(plain_store.status().message().find("encryption = on"), std::string::npos);
}

TEST_F(EncryptedCheckpointTest, PlaintextCheckpointsLoadAndRotationKeepsOldOnesReadable) {
  const Checkpoint old = Make(1, 10, "written before encryption was turned on");
  ASSERT_TRUE(CheckpointStore(FileSystem::Default(), dir_).Save(Region::kUs, 0, old).ok());
  CheckpointStore store(FileSystem::Default(), dir_, ring_.get());
  auto loaded = store.Load(Region::kUs, 0);
  ASSERT_TRUE(loaded.ok() && loaded.value().has_value());
  ExpectSame(**loaded, old);

  const Checkpoint first = Make(2, 20, "sealed under the first key");
  ASSERT_TRUE(store.Save(Region::kUs, 0, first).ok());
  const std::string first_key = keys::SealedKey(ReadRaw(store.PathOf(Region::kUs, 0)))->key_id;
  auto rotated = keys::LocalKeyStore(keys_dir_.path(), "us").Create(true);
  ASSERT_TRUE(rotated.ok());
  loaded = store.Load(Region::kUs, 0);  // the old key still unwraps
  ASSERT_TRUE(loaded.ok() && loaded.value().has_value());
  ExpectSame(**loaded, first);
  ASSERT_TRUE(store.Save(Region::kUs, 0, Make(3, 30, "under the new key")).ok());
  const std::string second_key = keys::SealedKey(ReadRaw(store.PathOf(Region::kUs, 0)))->key_id;
  EXPECT_NE(second_key, first_key);
  EXPECT_EQ(second_key, *rotated);
}

TEST_F(CheckpointTest, SurvivesPowerLoss) {
  FaultInjectionFileSystem fs(FileSystem::Default());
  CheckpointStore store(&fs, dir_);
  const Checkpoint first = Make(1, 100, std::string(5'000, 'a'));
  ASSERT_TRUE(store.Save(Region::kUs, 0, first).ok());
  ASSERT_TRUE(fs.DropUnsyncedData().ok());
  auto loaded = store.Load(Region::kUs, 0);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_TRUE(loaded.value().has_value());
  ExpectSame(**loaded, first);

  // A second Save replaces the first, durably.
  const Checkpoint second = Make(2, 250, std::string(3'000, 'b'));
  ASSERT_TRUE(store.Save(Region::kUs, 0, second).ok());
  ASSERT_TRUE(fs.DropUnsyncedData().ok());
  loaded = store.Load(Region::kUs, 0);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_TRUE(loaded.value().has_value());
  ExpectSame(**loaded, second);
  EXPECT_EQ(Files(), (std::vector<std::string>{"us/p000.ckpt"}));
}

TEST_F(CheckpointTest, FailedSaveKeepsPreviousAndLeavesNothingBehind) {
  FaultInjectionFileSystem fs(FileSystem::Default());
  CheckpointStore store(&fs, dir_);
  const Checkpoint first = Make(1, 100, "first");
  ASSERT_TRUE(store.Save(Region::kUs, 0, first).ok());
  fs.SetFailWrites(true);
  Status s = store.Save(Region::kUs, 0, Make(2, 200, "second"));
  fs.SetFailWrites(false);
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  auto loaded = store.Load(Region::kUs, 0);
  ASSERT_TRUE(loaded.ok() && loaded.value().has_value());
  ExpectSame(**loaded, first);
  EXPECT_EQ(Files(), (std::vector<std::string>{"us/p000.ckpt"}));  // no orphan temp file
  // And the next Save works.
  ASSERT_TRUE(store.Save(Region::kUs, 0, Make(3, 300, "third")).ok());
  loaded = store.Load(Region::kUs, 0);
  ASSERT_TRUE(loaded.ok() && loaded.value().has_value());
  ExpectSame(**loaded, Make(3, 300, "third"));
}

// A kill -9 at each crash point leaves either the old or the new checkpoint.
// The death-test child re-runs the whole test, so the directory is handed to
// it through the environment (see SetUp).
void CrashAt(const char* point, const std::string& dir, bool expect_new) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const bool child = std::getenv("WATERSHED_TEST_CKPT_DIR") != nullptr;
  CheckpointStore store(FileSystem::Default(), dir);
  const Checkpoint first = Make(1, 10, "old state");
  const Checkpoint second = Make(2, 20, "new state");
  if (!child) {
    ASSERT_TRUE(store.Save(Region::kUs, 0, first).ok());
    ::setenv("WATERSHED_TEST_CKPT_DIR", dir.c_str(), 1);
  }
  EXPECT_EXIT(
      {
        ::setenv("WATERSHED_CRASH_POINT", point, 1);
        store.Save(Region::kUs, 0, second).IgnoreError();
        std::_Exit(0);  // the crash point did not fire
      },
      ::testing::ExitedWithCode(137), "");
  ::unsetenv("WATERSHED_TEST_CKPT_DIR");
  auto loaded = store.Load(Region::kUs, 0);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_TRUE(loaded.value().has_value());
  ExpectSame(**loaded, expect_new ? second : first);
  // Recovery goes on: the next Save succeeds and replaces whatever is there.
  ASSERT_TRUE(store.Save(Region::kUs, 0, Make(3, 30, "after")).ok());
  loaded = store.Load(Region::kUs, 0);
  ASSERT_TRUE(loaded.ok() && loaded.value().has_value());
  EXPECT_EQ(loaded.value()->id, 3u);
}

TEST_F(CheckpointTest, CrashAfterTempSyncKeepsOld) {
  CrashAt("checkpoint.after_temp_sync", dir_, false);
  EXPECT_EQ(Files(), (std::vector<std::string>{"us/p000.ckpt"}));
}

TEST_F(CheckpointTest, CrashAfterRenameHasNew) { CrashAt("checkpoint.after_rename", dir_, true); }

TEST_F(CheckpointTest, ALaterClaimFencesTheEarlierOwner) {
  // Two processes sharing the directory: the group gave the partition from
  // the first (now a zombie) to the second.
  CheckpointStore zombie(FileSystem::Default(), dir_), owner(FileSystem::Default(), dir_);
  auto first = zombie.Claim(Region::kEu, 4);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_TRUE(zombie.Save(Region::kEu, 4, Make(1, 10, "zombie"), *first).ok());
  auto second = owner.Claim(Region::kEu, 4);
  ASSERT_TRUE(second.ok());
  EXPECT_GT(*second, *first);
  EXPECT_FALSE(zombie.Owns(Region::kEu, 4, *first).value());
  EXPECT_TRUE(owner.Owns(Region::kEu, 4, *second).value());
  // The zombie's save is refused and leaves the owner's view as it was.
  Status s = zombie.Save(Region::kEu, 4, Make(2, 20, "late"), *first);
  EXPECT_EQ(s.code(), StatusCode::kFenced) << s.ToString();
  auto seen = owner.Load(Region::kEu, 4);
  ASSERT_TRUE(seen.ok() && seen.value().has_value());
  ExpectSame(**seen, Make(1, 10, "zombie"));
  ASSERT_TRUE(owner.Save(Region::kEu, 4, Make(2, 25, "owner"), *second).ok());
  // Other partitions, and unfenced saves (owner 0), are not affected.
  EXPECT_TRUE(zombie.Save(Region::kEu, 5, Make(1, 1, "x")).ok());
  EXPECT_TRUE(zombie.Owns(Region::kEu, 4, 0).value());
  // Only the newest epoch stays on disk, and no temporary.
  EXPECT_EQ(Files(), (std::vector<std::string>{"eu/p004.ckpt", "eu/p004.owners/" + std::to_string(*second),
                                               "eu/p004.owners/lock", "eu/p005.ckpt"}));
}

// A file system whose checkpoint renames wait for the test's go-ahead.
class PausedRenameFileSystem : public ForwardingFileSystem {
 public:
  PausedRenameFileSystem() : ForwardingFileSystem(FileSystem::Default()) {}
  Status RenameFile(const std::string& from, const std::string& to) override {
    if (to.ends_with(".ckpt")) {
      in_rename_.set_value();
      go_.get_future().wait();
    }
    return base()->RenameFile(from, to);
  }
  std::promise<void> in_rename_, go_;
};

// A file system that tells when a caller has entered LockFile.
class LockWatchingFileSystem : public ForwardingFileSystem {
 public:
  LockWatchingFileSystem() : ForwardingFileSystem(FileSystem::Default()) {}
  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) override {
    locker_ = watershed::testing::CurrentThreadId();
    return base()->LockFile(path);
  }
  std::atomic<pid_t> locker_{0};
};

TEST_F(CheckpointTest, AClaimWaitsForASaveBetweenItsCheckAndItsRename) {
  PausedRenameFileSystem paused;
  LockWatchingFileSystem watched;
  CheckpointStore zombie(&paused, dir_), owner(&watched, dir_);
  auto first = zombie.Claim(Region::kEu, 1);
  ASSERT_TRUE(first.ok());
  auto in_rename = paused.in_rename_.get_future();
  std::thread save([&] { EXPECT_TRUE(zombie.Save(Region::kEu, 1, Make(7, 70, "zombie"), *first).ok()); });
  in_rename.wait();  // the save passed its ownership check
  std::atomic<bool> claimed{false};
  uint64_t second = 0;
  std::thread claim([&] {
    second = owner.Claim(Region::kEu, 1).value();
    claimed = true;
  });
  // The claim sleeps in LockFile (not merely not yet run) and has not claimed: held off by the save's lock.
  ASSERT_TRUE(watershed::testing::WaitUntil(
      [&] { return watched.locker_.load() != 0 && watershed::testing::ThreadIsAsleep(watched.locker_.load()); }));
  EXPECT_FALSE(claimed.load());
  paused.go_.set_value();
  save.join();
  claim.join();
  EXPECT_GT(second, *first);
  // So the new owner reads the zombie's last checkpoint, which no later save replaces.
  auto seen = owner.Load(Region::kEu, 1);
  ASSERT_TRUE(seen.ok() && seen.value().has_value());
  ExpectSame(**seen, Make(7, 70, "zombie"));
  PausedRenameFileSystem never_paused;
  never_paused.go_.set_value();
  CheckpointStore zombie_again(&never_paused, dir_);
  EXPECT_EQ(zombie_again.Save(Region::kEu, 1, Make(8, 80, "late"), *first).code(), StatusCode::kFenced);
}

TEST_F(CheckpointTest, ConcurrentClaimsGetDistinctEpochs) {
  constexpr int kThreads = 4, kClaims = 25;
  std::vector<std::vector<uint64_t>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      CheckpointStore store(FileSystem::Default(), dir_);
      for (int i = 0; i < kClaims; ++i) {
        auto e = store.Claim(Region::kUs, 0);
        if (e.ok()) got[t].push_back(*e);
      }
    });
  for (auto& t : threads) t.join();
  std::set<uint64_t> all;
  size_t n = 0;
  for (const auto& v : got) {
    n += v.size();
    all.insert(v.begin(), v.end());
  }
  EXPECT_EQ(n, size_t{kThreads * kClaims});
  EXPECT_EQ(all.size(), n);  // no epoch given twice
  CheckpointStore store(FileSystem::Default(), dir_);
  EXPECT_TRUE(store.Owns(Region::kUs, 0, *all.rbegin()).value());
  EXPECT_FALSE(store.Owns(Region::kUs, 0, *all.rbegin() - 1).value());
}

// The region's hash key: random once, then the same for every store on the
// directory (every owner, every restart), per region; a damaged file is refused.
TEST_F(CheckpointTest, HashKeyIsMadeOnceAndKept) {
  CheckpointStore store(FileSystem::Default(), dir_);
  auto us = store.LoadOrCreateHashKey(Region::kUs);
  ASSERT_TRUE(us.ok()) << us.status().ToString();
  EXPECT_NE(*us, HashKey{});
  auto again = CheckpointStore(FileSystem::Default(), dir_).LoadOrCreateHashKey(Region::kUs);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *us);
  auto eu = store.LoadOrCreateHashKey(Region::kEu);
  ASSERT_TRUE(eu.ok());
  EXPECT_NE(*eu, *us);
  EXPECT_EQ(Files(), (std::vector<std::string>{"eu/hash.key", "us/hash.key"}));  // no temporaries left

  const std::string path = dir_ + "/us/hash.key";
  std::string bytes = ReadRaw(path);
  ASSERT_EQ(bytes.size(), 24u);
  bytes[7] ^= 1;
  WriteRaw(path, bytes);
  EXPECT_EQ(store.LoadOrCreateHashKey(Region::kUs).status().code(), StatusCode::kCorruption);
}

}  // namespace
}  // namespace watershed::stream
