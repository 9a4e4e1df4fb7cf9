#include "stream/cold_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/crc32c.h"
#include "core/endian.h"
#include "core/fault_injection_fs.h"
#include "core/testing/temp_dir.h"
#include "stream/viewer_set.h"

namespace watershed::stream {
namespace {

using ::watershed::testing::TempDir;

constexpr HashKey kKey{3, 4};

std::unique_ptr<ColdStore> Open(const std::string& dir, uint64_t owner, std::string_view ref = {},
                                keys::KeyProvider* keys = nullptr) {
  auto s = ColdStore::Open(FileSystem::Default(), dir, 0, owner, ref, kKey, keys);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(s.value()) : nullptr;
}

std::map<uint64_t, std::string> Contents(ColdStore& s) {
  std::map<uint64_t, std::string> out;
  EXPECT_TRUE(s.ForEach([&](uint64_t id, std::string_view payload) {
                 EXPECT_TRUE(out.emplace(id, std::string(payload)).second) << id;
                 return Status::Ok();
               }).ok());
  return out;
}

std::vector<std::string> Files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

// Puts, takes and forgets against a reference map, across commits (which
// compact) and reopenings from the committed reference; sealed with `keys`.
void MatchesAReferenceMap(keys::KeyProvider* keys) {
  TempDir dir("cold");
  std::map<uint64_t, std::string> want;
  auto store = Open(dir.path(), 1, {}, keys);
  std::mt19937_64 rng(5);
  uint64_t owner = 1;
  for (int round = 0; round < 40'000; ++round) {
    const uint64_t id = rng() % 3000;
    switch (rng() % 4) {
      case 0:
      case 1: {
        std::string payload(rng() % 600, static_cast<char>('a' + id % 26));
        ASSERT_TRUE(store->Put(id, payload).ok());
        want[id] = payload;
        break;
      }
      case 2:
        if (want.count(id)) {
          std::string got;
          ASSERT_TRUE(store->Take(id, &got).ok());
          EXPECT_EQ(got, want[id]);
          want.erase(id);
        }
        EXPECT_FALSE(store->Contains(id));
        break;
      default:
        store->Forget(id);
        want.erase(id);
    }
    if (round % 5000 == 4999) {
      auto ref = store->Commit();
      ASSERT_TRUE(ref.ok());
      store->Saved();
      ASSERT_EQ(Files(dir.path()).size(), 1u);  // older files are gone
      // More after the commit: a crash forgets it, the reference does not cover it.
      ASSERT_TRUE(store->Put(99'999, "after the checkpoint").ok());
      store = Open(dir.path(), ++owner, *ref, keys);
      ASSERT_NE(store, nullptr);
      // Take and Forget are not durable: the processor forgets the stories its restored state holds.
      for (uint64_t id = 0; id < 3000; ++id)
        if (!want.count(id)) store->Forget(id);
    }
  }
  EXPECT_EQ(store->size(), want.size());
  EXPECT_EQ(Contents(*store), want);
}

TEST(ColdStoreTest, MatchesAReferenceMapAcrossCommitsAndReopens) { MatchesAReferenceMap(nullptr); }

class EncryptedColdStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(keys::LocalKeyStore(keys_dir_.path(), "eu").Create(false).ok());
    keys_ = keys::NewLocalKeyProvider(keys_dir_.path(), "eu");
  }
  static std::string FileText(const std::string& dir) {
    std::string all;
    for (const std::string& name : Files(dir)) {
      std::ifstream in(dir + "/" + name, std::ios::binary);
      all += std::string(std::istreambuf_iterator<char>(in), {});
    }
    return all;
  }
  TempDir keys_dir_{"cold_keys"};
  std::unique_ptr<keys::KeyProvider> keys_;
};

TEST_F(EncryptedColdStoreTest, MatchesAReferenceMapAcrossCommitsAndReopens) { MatchesAReferenceMap(keys_.get()); }

TEST_F(EncryptedColdStoreTest, EveryRewriteStartsAFreshDataKey) {
  TempDir dir("cold");
  auto store = Open(dir.path(), 1, {}, keys_.get());
  ASSERT_TRUE(store->Put(1, "one").ok());
  auto first = store->Commit();
  ASSERT_TRUE(first.ok());
  store->Saved();
  auto reopened = Open(dir.path(), 2, *first, keys_.get());  // a new owner rewrites the file
  auto second = reopened->Commit();
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE(ColdStoreDataKey(*first) && ColdStoreDataKey(*second));
  // The keys themselves differ (wrapped blobs always would: a nonce each).
  auto k1 = keys_->Unwrap(*ColdStoreDataKey(*first)), k2 = keys_->Unwrap(*ColdStoreDataKey(*second));
  ASSERT_TRUE(k1.ok() && k2.ok());
  EXPECT_FALSE(*k1 == *k2);
  EXPECT_EQ(Contents(*reopened), (std::map<uint64_t, std::string>{{1, "one"}}));
}

TEST_F(EncryptedColdStoreTest, RecordsAreSealedAndAPlaintextStoreIsSealedAtOpen) {
  TempDir dir("cold");
  auto plain = Open(dir.path(), 1);
  ASSERT_TRUE(plain->Put(7, "viewer 31337 of story 7").ok());
  auto plain_ref = plain->Commit();
  ASSERT_TRUE(plain_ref.ok());
  plain->Saved();
  EXPECT_NE(FileText(dir.path()).find("viewer 31337"), std::string::npos);

  auto sealed = Open(dir.path(), 2, *plain_ref, keys_.get());  // encryption turned on
  ASSERT_NE(sealed, nullptr);
  ASSERT_TRUE(sealed->Put(8, "viewer 4242 of story 8").ok());
  auto ref = sealed->Commit();
  ASSERT_TRUE(ref.ok());
  sealed->Saved();
  const std::string text = FileText(dir.path());
  EXPECT_EQ(text.find("viewer 31337"), std::string::npos);
  EXPECT_EQ(text.find("viewer 4242"), std::string::npos);
  EXPECT_EQ(Contents(*sealed),
            (std::map<uint64_t, std::string>{{7, "viewer 31337 of story 7"}, {8, "viewer 4242 of story 8"}}));

  // The reference carries the wrapped data key: a new owner reads the records.
  auto reopened = Open(dir.path(), 3, *ref, keys_.get());
  ASSERT_NE(reopened, nullptr);
  std::string got;
  ASSERT_TRUE(reopened->Take(8, &got).ok());
  EXPECT_EQ(got, "viewer 4242 of story 8");
  // Without the keys the store is refused, not read as garbage.
  auto refused = ColdStore::Open(FileSystem::Default(), dir.path(), 0, 4, *ref, kKey);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("encryption = on"), std::string::npos);
}

TEST_F(EncryptedColdStoreTest, ARecordMovedToAnotherStoryFailsToOpen) {
  TempDir dir("cold");
  auto store = Open(dir.path(), 1, {}, keys_.get());
  ASSERT_TRUE(store->Put(5, "story five's viewers").ok());
  auto ref = store->Commit();
  ASSERT_TRUE(ref.ok());
  store->Saved();
  // Rewrite the record's story id to 6 with a matching CRC: only the
  // authenticated id (GCM's additional data) catches it.
  const std::string name = Files(dir.path()).front();
  std::string data = FileText(dir.path());
  PutFixed64(data.data() + 8, 6);
  const std::string_view stored(data.data() + 16, GetFixed32(data.data()));
  PutFixed32(data.data() + 4,
             crc32c::Extend(crc32c::Value(std::string_view(data.data() + 8, 8)), stored.data(), stored.size()));
  std::ofstream(dir.path() + "/" + name, std::ios::binary | std::ios::trunc) << data;
  // Opening re-seals every live record under a fresh key, so it finds the move.
  auto reopened = ColdStore::Open(FileSystem::Default(), dir.path(), 0, 2, *ref, kKey, keys_.get());
  ASSERT_FALSE(reopened.ok());
  EXPECT_EQ(reopened.status().code(), StatusCode::kCorruption);
  EXPECT_NE(reopened.status().message().find("record of story 6"), std::string::npos) << reopened.status().message();
}

TEST(ColdStoreTest, CompactsWhenGarbageOutweighsLiveRecords) {
  TempDir dir("cold_compact");
  auto store = Open(dir.path(), 1);
  const std::string payload(1000, 'x');
  for (uint64_t id = 0; id < 4000; ++id) ASSERT_TRUE(store->Put(id, payload).ok());
  for (uint64_t id = 0; id < 3000; ++id) store->Forget(id);
  const uint64_t before = store->file_bytes();
  auto ref = store->Commit();
  ASSERT_TRUE(ref.ok());
  EXPECT_LT(store->file_bytes(), before / 3);
  store->Saved();
  auto reopened = Open(dir.path(), 2, *ref);
  EXPECT_EQ(reopened->size(), 1000u);
  EXPECT_EQ(Contents(*reopened).begin()->first, 3000u);
}

// Saved deletes this owner's and older owners' files, never a later owner's.
TEST(ColdStoreTest, SavedSparesALaterOwnersFiles) {
  TempDir dir("cold_owners");
  auto old_owner = Open(dir.path(), 1);
  ASSERT_TRUE(old_owner->Put(1, "a").ok());
  auto ref = old_owner->Commit();
  auto new_owner = Open(dir.path(), 2, *ref);
  old_owner->Saved();  // a zombie's save that still succeeded
  EXPECT_EQ(Files(dir.path()), (std::vector<std::string>{"p000.cold.1.1", "p000.cold.2.1"}));
  ASSERT_TRUE(new_owner->Commit().ok());
  new_owner->Saved();
  EXPECT_EQ(Files(dir.path()), (std::vector<std::string>{"p000.cold.2.1"}));
}

// A failed write or fdatasync (a full disk) breaks the store for good: a
// later Commit, once the disk has room again, must not hand a checkpoint a
// length that counts bytes which never reached the file, and a failed
// compaction must not leave the index pointing into a file never switched to.
TEST(ColdStoreTest, AFailedWriteBreaksTheStoreForGood) {
  TempDir dir("cold_full_disk");
  FaultInjectionFileSystem fs(FileSystem::Default());
  auto opened = ColdStore::Open(&fs, dir.path(), 0, 1, {}, kKey);
  ASSERT_TRUE(opened.ok());
  ColdStore& store = **opened;
  const std::string payload(1000, 'x');
  for (uint64_t id = 0; id < 4000; ++id) ASSERT_TRUE(store.Put(id, payload).ok());
  auto good = store.Commit();
  ASSERT_TRUE(good.ok());
  store.Saved();
  for (uint64_t id = 0; id < 3000; ++id) store.Forget(id);  // the next Commit compacts
  fs.SetFailWrites(true);
  EXPECT_FALSE(store.Commit().ok());
  fs.SetFailWrites(false);
  EXPECT_FALSE(store.Commit().ok());  // room again, still broken
  EXPECT_FALSE(store.Put(9000, payload).ok());
  std::string out;
  EXPECT_FALSE(store.Take(3500, &out).ok());
  // The last good reference still opens with every record it named.
  auto reopened = Open(dir.path(), 2, *good);
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(reopened->size(), 4000u);

  // A failed append (the buffer reaching the disk) breaks it too.
  auto again = ColdStore::Open(&fs, dir.path(), 0, 3, *good, kKey);
  ASSERT_TRUE(again.ok());
  fs.SetFailWrites(true);
  Status put = Status::Ok();
  for (uint64_t id = 10'000; id < 12'000 && put.ok(); ++id) put = (*again)->Put(id, payload);
  EXPECT_FALSE(put.ok());
  fs.SetFailWrites(false);
  EXPECT_FALSE((*again)->Commit().ok());
}

// An owner killed before its first checkpoint leaves its copy behind; the
// next owner opening from the same reference removes it.
TEST(ColdStoreTest, OpenRemovesCopiesOfOwnersThatDiedBeforeACheckpoint) {
  TempDir dir("cold_crash_loop");
  auto first = Open(dir.path(), 1);
  ASSERT_TRUE(first->Put(1, "a").ok());
  auto ref = first->Commit();
  ASSERT_TRUE(ref.ok());
  first->Saved();
  for (uint64_t owner = 2; owner <= 5; ++owner) ASSERT_NE(Open(dir.path(), owner, *ref), nullptr);  // each dies
  EXPECT_EQ(Files(dir.path()), (std::vector<std::string>{"p000.cold.1.1", "p000.cold.5.1"}));
}

TEST(ColdStoreTest, DamageIsCorruptionNamingTheFileAndByte) {
  TempDir dir("cold_damage");
  auto store = Open(dir.path(), 1);
  for (uint64_t id = 0; id < 10; ++id) ASSERT_TRUE(store->Put(id, std::string(20, 'p')).ok());
  auto ref = store->Commit();
  ASSERT_TRUE(ref.ok());
  store.reset();
  const std::string path = dir.path() + "/p000.cold.1.1";
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(36 * 3 + 20);  // inside the fourth record's payload
    f.put('q');
  }
  auto damaged = ColdStore::Open(FileSystem::Default(), dir.path(), 0, 2, *ref, kKey);
  ASSERT_FALSE(damaged.ok());
  EXPECT_EQ(damaged.status().code(), StatusCode::kCorruption);
  EXPECT_NE(damaged.status().message().find(path + " is damaged at byte 108"), std::string::npos)
      << damaged.status().ToString();
  // Cut short within the committed length: also corruption, not a silent reset.
  std::filesystem::resize_file(path, 50);
  damaged = ColdStore::Open(FileSystem::Default(), dir.path(), 0, 2, *ref, kKey);
  ASSERT_FALSE(damaged.ok());
  EXPECT_EQ(damaged.status().code(), StatusCode::kCorruption);
  // A reference to a file that is gone.
  std::filesystem::remove(path);
  damaged = ColdStore::Open(FileSystem::Default(), dir.path(), 0, 2, *ref, kKey);
  EXPECT_EQ(damaged.status().code(), StatusCode::kCorruption);
}

TEST(ColdStoreTest, CompactViewerEncodingRoundTripsAndItsSize) {
  std::mt19937_64 rng(9);
  for (bool dense : {true, false}) {
    ViewerSet set;
    for (uint64_t i = 0; i < 100'000; ++i) set.Insert(kKey, dense ? i : rng());
    std::string bytes;
    set.SerializeCompact(&bytes);
    // The figures docs/architecture.md states.
    EXPECT_LE(bytes.size(), dense ? 100'005u : 800'005u) << (dense ? "dense" : "random");
    std::string_view in = bytes;
    ViewerSet back;
    ASSERT_TRUE(back.RestoreCompact(kKey, &in).ok());
    EXPECT_TRUE(in.empty());
    std::string a, b;
    set.Serialize(&a);
    back.Serialize(&b);
    EXPECT_EQ(a, b);
  }
  std::string repeated;  // 2 ids, gaps 5 and 0: not ascending
  for (char c : {2, 5, 0}) repeated.push_back(c);
  std::string_view in = repeated;
  ViewerSet bad;
  EXPECT_EQ(bad.RestoreCompact(kKey, &in).code(), StatusCode::kCorruption);
}

}  // namespace
}  // namespace watershed::stream
