#include "lake/lake_sink.h"

#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "core/endian.h"
#include "core/fault_injection_fs.h"
#include "core/testing/sample_events.h"
#include "core/testing/temp_dir.h"
#include "lake/iceberg_maintenance.h"

namespace watershed::lake {
namespace {

using testing::SampleEvent;

// What a table's current snapshot holds: rows and event ids (events tables).
struct TableContents {
  int64_t rows = 0;
  std::multiset<std::string> event_ids;
  size_t files = 0;
};

class LakeSinkTest : public ::testing::Test {
 protected:
  LakeSinkTest() : dir_("lake_sink") {}

  std::unique_ptr<RegionLake> Open(FileSystem* fs, size_t buffer_rows = 1000) {
    LakeSinkOptions options;
    options.buffer_rows = buffer_rows;
    auto lake = RegionLake::Open(fs, dir_.Path("lake"), Region::kEu, options);
    EXPECT_TRUE(lake.ok()) << lake.status().ToString();
    return std::move(lake).value();
  }

  // Events of stories first..first+n-1, one per story, at offsets first...
  static void AddEvents(PartitionSink& sink, uint64_t first, uint64_t n) {
    for (uint64_t s = first; s < first + n; ++s) {
      const Event e = SampleEvent(EventType::kView, s);
      sink.AddRaw(e, AppendTimeMs(testing::kSampleNow), LogOffset(s));
      sink.AddEvent(e, AppendTimeMs(testing::kSampleNow), LogOffset(s));
    }
  }

  // Partition 3 commits offsets [0, 100) and its owner goes away.
  static void CommitFirst100(RegionLake* lake) {
    PartitionSink a(lake, 3);
    ASSERT_TRUE(a.Recover("", 0).ok());
    AddEvents(a, 0, 100);
    ASSERT_TRUE(a.Prepare(100).ok());
    ASSERT_TRUE(a.Commit().ok());
  }

  TableContents Read(LakeTableId id) {
    TableContents out;
    auto table = IcebergTable::Load(fs_, TableLocation(dir_.Path("lake"), Region::kEu, id));
    EXPECT_TRUE(table.ok()) << table.status().ToString();
    auto manifests = CurrentManifests(fs_, table->metadata());
    EXPECT_TRUE(manifests.ok()) << manifests.status().ToString();
    for (const ManifestFileInfo& m : *manifests) {
      auto files = ReadManifest(ReadWholeFile(fs_, m.path).value());
      EXPECT_TRUE(files.ok()) << files.status().ToString();
      for (const DataFileInfo& f : *files) {
        ++out.files;
        out.rows += f.record_count;
        auto reader = ParquetReader::Open(fs_, f.path);
        EXPECT_TRUE(reader.ok()) << reader.status().ToString();
        for (size_t g = 0; g < (*reader)->info().row_groups.size(); ++g) {
          auto cols = (*reader)->ReadRowGroup(g, {0});
          EXPECT_TRUE(cols.ok());
          for (size_t i = 0; i < (*cols)[0].bytes.size() / 16; ++i)
            out.event_ids.insert((*cols)[0].bytes.substr(16 * i, 16));
        }
      }
    }
    return out;
  }

  // Data files under the sink's directory of `table` for partition 3.
  size_t FilesOnDisk(LakeTableId id) {
    const std::string dir = JoinPath(TableLocation(dir_.Path("lake"), Region::kEu, id), "data/sink-p003");
    if (!fs_->FileExists(dir)) return 0;
    return fs_->ListDir(dir).value().size();
  }

  // A new sink `a` saves a checkpoint at offset 30 holding its files
  // uncommitted (*held: the checkpoint's sink bytes), then writes files for
  // offsets 30..59 that no checkpoint lists. Sets files_at_30_.
  void SaveAt30ThenWriteTo60(PartitionSink& a, std::string* held) {
    ASSERT_TRUE(a.Recover("", 0).ok());
    AddEvents(a, 0, 30);
    auto prepared = a.Prepare(30, /*commit=*/false);
    ASSERT_TRUE(prepared.ok());
    *held = *prepared;
    a.Saved();
    files_at_30_ = FilesOnDisk(LakeTableId::kEvents);
    AddEvents(a, 30, 30);
    ASSERT_TRUE(a.MaybeFlush(60).ok());
    ASSERT_GT(FilesOnDisk(LakeTableId::kEvents), files_at_30_);
  }

  // `sink` writes offsets from..to-1 again and commits them: the events
  // table then holds each of the `to` events once, and no data file is left
  // that it does not reference.
  void ReplayAndCommit(PartitionSink& sink, uint64_t from, uint64_t to) {
    AddEvents(sink, from, to - from);
    ASSERT_TRUE(sink.Prepare(to).ok());
    ASSERT_TRUE(sink.Commit().ok());
    const TableContents t = Read(LakeTableId::kEvents);
    EXPECT_EQ(t.rows, static_cast<int64_t>(to));
    EXPECT_TRUE(Distinct(t));
    EXPECT_EQ(FilesOnDisk(LakeTableId::kEvents), t.files);
  }

  static bool Distinct(const TableContents& t) {
    return std::set<std::string>(t.event_ids.begin(), t.event_ids.end()).size() == t.event_ids.size();
  }

  FileSystem* fs_ = FileSystem::Default();
  watershed::testing::TempDir dir_;
  size_t files_at_30_ = 0;
};

TEST_F(LakeSinkTest, APreparedCommitLandsOnceWhicheverOwnerFinishesIt) {
  auto lake = Open(fs_);
  PartitionSink a(lake.get(), 3);
  ASSERT_TRUE(a.Recover("", 0).ok());
  AddEvents(a, 0, 100);
  auto prepared = a.Prepare(100);
  ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
  ASSERT_FALSE(prepared->empty());
  EXPECT_TRUE(a.commit_pending());
  EXPECT_EQ(Read(LakeTableId::kEvents).rows, 0);  // prepared, not visible

  // "Crash" after the checkpoint: the next owner finishes the commit...
  PartitionSink b(lake.get(), 3);
  ASSERT_TRUE(b.Recover(*prepared, 100).ok());
  EXPECT_EQ(b.committed_rows(), 200u);  // raw_events + events
  // ... a second recovery and the old owner's late commit change nothing.
  PartitionSink c(lake.get(), 3);
  ASSERT_TRUE(c.Recover(*prepared, 100).ok());
  EXPECT_EQ(c.committed_rows(), 0u);
  ASSERT_TRUE(a.Commit().ok());
  EXPECT_EQ(a.committed_rows(), 0u);

  for (LakeTableId id : {LakeTableId::kRawEvents, LakeTableId::kEvents}) {
    const TableContents t = Read(id);
    EXPECT_EQ(t.rows, 100);
    EXPECT_EQ(t.event_ids.size(), 100u);
    EXPECT_TRUE(Distinct(t));
    EXPECT_EQ(FilesOnDisk(id), t.files);
  }
}

TEST_F(LakeSinkTest, FilesWrittenAfterTheCheckpointAreRemovedAtRecovery) {
  auto lake = Open(fs_, /*buffer_rows=*/10);
  PartitionSink a(lake.get(), 3);
  ASSERT_TRUE(a.Recover("", 0).ok());
  AddEvents(a, 0, 50);
  ASSERT_TRUE(a.MaybeFlush(50).ok());  // written continuously, before the checkpoint
  auto prepared = a.Prepare(50);
  ASSERT_TRUE(prepared.ok());
  ASSERT_TRUE(a.Commit().ok());
  const size_t committed_files = FilesOnDisk(LakeTableId::kEvents);
  AddEvents(a, 50, 30);
  ASSERT_TRUE(a.MaybeFlush(80).ok());
  ASSERT_GT(FilesOnDisk(LakeTableId::kEvents), committed_files);

  // Crash before the next checkpoint: restore from the one at 50.
  PartitionSink b(lake.get(), 3);
  ASSERT_TRUE(b.Recover(*prepared, 50).ok());
  EXPECT_EQ(FilesOnDisk(LakeTableId::kEvents), committed_files);
  // The replay writes 50..79 again and commits them once.
  ASSERT_NO_FATAL_FAILURE(ReplayAndCommit(b, 50, 80));
}

TEST_F(LakeSinkTest, UncommittedFilesRideOnCheckpointsUntilACommit) {
  auto lake = Open(fs_, /*buffer_rows=*/10);
  PartitionSink a(lake.get(), 3);
  ASSERT_TRUE(a.Recover("", 0).ok());
  AddEvents(a, 0, 30);
  auto held = a.Prepare(30, /*commit=*/false);  // a checkpoint between commits
  ASSERT_TRUE(held.ok());
  ASSERT_FALSE(held->empty());
  EXPECT_FALSE(a.commit_pending());
  EXPECT_TRUE(a.has_uncommitted_files());
  const size_t files_at_30 = FilesOnDisk(LakeTableId::kEvents);
  AddEvents(a, 30, 20);
  ASSERT_TRUE(a.MaybeFlush(50).ok());
  ASSERT_GT(FilesOnDisk(LakeTableId::kEvents), files_at_30);
  EXPECT_EQ(Read(LakeTableId::kEvents).rows, 0);

  // Crash: restored from the checkpoint at 30. Its files stay (uncommitted),
  // the ones written after it go, and the replay's commit covers 0..60.
  PartitionSink b(lake.get(), 3);
  ASSERT_TRUE(b.Recover(*held, 30).ok());
  EXPECT_TRUE(b.has_uncommitted_files());
  EXPECT_EQ(FilesOnDisk(LakeTableId::kEvents), files_at_30);
  AddEvents(b, 30, 30);
  auto prepared = b.Prepare(60);
  ASSERT_TRUE(prepared.ok());
  ASSERT_TRUE(b.Commit().ok());
  TableContents t = Read(LakeTableId::kEvents);
  EXPECT_EQ(t.rows, 60);
  EXPECT_TRUE(Distinct(t));
  EXPECT_EQ(FilesOnDisk(LakeTableId::kEvents), t.files);
  // That commit is the range 0..60 as one: a recovery from its checkpoint agrees.
  PartitionSink c(lake.get(), 3);
  ASSERT_TRUE(c.Recover(*prepared, 60).ok());
  EXPECT_EQ(c.committed_rows(), 0u);
  EXPECT_EQ(Read(LakeTableId::kEvents).rows, 60);
}

TEST_F(LakeSinkTest, UncommittedFilesAnotherOwnerCoveredAreNeitherLostNorDoubled) {
  auto lake = Open(fs_);
  // A checkpoint at 30 holds uncommitted files of 0..30.
  PartitionSink a(lake.get(), 3), zombie(lake.get(), 3);
  ASSERT_TRUE(a.Recover("", 0).ok());
  ASSERT_TRUE(zombie.Recover("", 0).ok());
  AddEvents(a, 0, 30);
  auto held = a.Prepare(30, /*commit=*/false);
  ASSERT_TRUE(held.ok());
  // A zombie from offset 0 commits 0..20 meanwhile: the held files overlap
  // it in part, so they stay and their commit is refused (no loss of 20..29).
  AddEvents(zombie, 0, 20);
  ASSERT_TRUE(zombie.Prepare(20).ok());
  ASSERT_TRUE(zombie.Commit().ok());
  PartitionSink b(lake.get(), 3);
  ASSERT_TRUE(b.Recover(*held, 30).ok());
  EXPECT_TRUE(b.has_uncommitted_files());
  AddEvents(b, 30, 10);
  ASSERT_TRUE(b.Prepare(40).ok());
  EXPECT_EQ(b.Commit().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(Read(LakeTableId::kEvents).rows, 20);
  // Once the tables cover the whole held range, the held files are dropped
  // (deleted: they repeat rows the tables hold) and the range goes on from
  // the checkpoint.
  AddEvents(zombie, 20, 10);
  ASSERT_TRUE(zombie.Prepare(30).ok());
  ASSERT_TRUE(zombie.Commit().ok());
  ASSERT_GT(FilesOnDisk(LakeTableId::kEvents), Read(LakeTableId::kEvents).files);
  PartitionSink c(lake.get(), 3);
  ASSERT_TRUE(c.Recover(*held, 30).ok());
  EXPECT_FALSE(c.has_uncommitted_files());
  EXPECT_EQ(FilesOnDisk(LakeTableId::kEvents), Read(LakeTableId::kEvents).files);
  AddEvents(c, 30, 10);
  ASSERT_TRUE(c.Prepare(40).ok());
  ASSERT_TRUE(c.Commit().ok());
  const TableContents t = Read(LakeTableId::kEvents);
  EXPECT_EQ(t.rows, 40);
  EXPECT_TRUE(Distinct(t));
}

TEST_F(LakeSinkTest, AFullDiskFailsThePrepareAndARetryCommitsEverythingOnce) {
  FaultInjectionFileSystem faulty(fs_);
  auto lake = Open(&faulty, /*buffer_rows=*/16);
  PartitionSink a(lake.get(), 3);
  ASSERT_TRUE(a.Recover("", 0).ok());
  AddEvents(a, 0, 40);
  ASSERT_TRUE(a.MaybeFlush(40).ok());  // some files out already
  AddEvents(a, 40, 10);
  faulty.SetFailWrites(true);
  EXPECT_FALSE(a.Prepare(50).ok());
  EXPECT_FALSE(a.commit_pending());
  faulty.SetFailWrites(false);
  auto prepared = a.Prepare(50);
  ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
  // The commit fails on the full disk too, and is retried.
  faulty.SetFailWrites(true);
  EXPECT_FALSE(a.Commit().ok());
  EXPECT_TRUE(a.commit_pending());
  faulty.SetFailWrites(false);
  ASSERT_TRUE(a.Commit().ok());
  const TableContents t = Read(LakeTableId::kEvents);
  EXPECT_EQ(t.rows, 50);
  EXPECT_TRUE(Distinct(t));
  EXPECT_EQ(FilesOnDisk(LakeTableId::kEvents), t.files);  // no temporary left behind
}

TEST_F(LakeSinkTest, AnAbandonedPrepareJoinsTheNextCommit) {
  auto lake = Open(fs_);
  PartitionSink a(lake.get(), 3);
  ASSERT_TRUE(a.Recover("", 0).ok());
  AddEvents(a, 0, 10);
  ASSERT_TRUE(a.Prepare(10).ok());
  a.Abandon();  // its checkpoint could not be saved
  EXPECT_FALSE(a.commit_pending());
  AddEvents(a, 10, 10);
  auto prepared = a.Prepare(20);
  ASSERT_TRUE(prepared.ok());
  ASSERT_TRUE(a.Commit().ok());
  EXPECT_EQ(Read(LakeTableId::kEvents).rows, 20);
  // It was one commit covering 0..20: a recovery from that checkpoint agrees.
  PartitionSink b(lake.get(), 3);
  ASSERT_TRUE(b.Recover(*prepared, 20).ok());
  EXPECT_EQ(b.committed_rows(), 0u);
  EXPECT_EQ(Read(LakeTableId::kEvents).rows, 20);
}

TEST_F(LakeSinkTest, AnOwnerWithoutTheLatestCheckpointAddsNothingTwice) {
  auto lake = Open(fs_);
  CommitFirst100(lake.get());
  // An owner that lost the checkpoints replays from 0: the table says 0..99
  // landed, so only what follows is written.
  PartitionSink b(lake.get(), 3);
  ASSERT_TRUE(b.Recover("", 0).ok());
  EXPECT_EQ(b.replay_until(), 100u);
  AddEvents(b, 0, 60);
  EXPECT_EQ(b.Prepare(60).value(), "");  // a checkpoint inside the replay commits nothing
  AddEvents(b, 60, 90);
  ASSERT_TRUE(b.Prepare(150).ok());
  ASSERT_TRUE(b.Commit().ok());
  TableContents t = Read(LakeTableId::kEvents);
  EXPECT_EQ(t.rows, 150);
  EXPECT_TRUE(Distinct(t));
}

TEST_F(LakeSinkTest, OwnersRacingOnOnePartitionNeverCommitARowTwice) {
  auto lake = Open(fs_);
  // A zombie prepares 0..100; the new owner, from the same checkpoint,
  // commits 0..150 first: the zombie's late commit is recognised as covered.
  PartitionSink zombie(lake.get(), 3), owner(lake.get(), 3);
  ASSERT_TRUE(zombie.Recover("", 0).ok());
  ASSERT_TRUE(owner.Recover("", 0).ok());
  AddEvents(zombie, 0, 100);
  AddEvents(owner, 0, 150);
  ASSERT_TRUE(zombie.Prepare(100).ok());
  ASSERT_TRUE(owner.Prepare(150).ok());
  ASSERT_TRUE(owner.Commit().ok());
  ASSERT_TRUE(zombie.Commit().ok());
  EXPECT_EQ(zombie.committed_rows(), 0u);
  EXPECT_EQ(Read(LakeTableId::kEvents).rows, 150);
  EXPECT_EQ(FilesOnDisk(LakeTableId::kEvents), Read(LakeTableId::kEvents).files);  // the zombie's went

  // The other order: the zombie lands 150..200 first, then the owner's
  // 150..250 overlaps it and is refused (and stays pending, visible as an error).
  PartitionSink zombie2(lake.get(), 3), owner2(lake.get(), 3);
  ASSERT_TRUE(zombie2.Recover("", 150).ok());
  ASSERT_TRUE(owner2.Recover("", 150).ok());
  AddEvents(zombie2, 150, 50);
  AddEvents(owner2, 150, 100);
  ASSERT_TRUE(zombie2.Prepare(200).ok());
  auto refused = owner2.Prepare(250);
  ASSERT_TRUE(refused.ok());
  ASSERT_TRUE(zombie2.Commit().ok());
  Status s = owner2.Commit();
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_TRUE(owner2.commit_pending());
  const TableContents t = Read(LakeTableId::kEvents);
  EXPECT_EQ(t.rows, 200);
  EXPECT_TRUE(Distinct(t));
  // An owner restored from owner2's checkpoint is not kept out of the
  // partition by it: the refused commit's files stay in its range (its
  // commits are refused in turn: the stall docs/lake.md describes).
  PartitionSink next(lake.get(), 3);
  ASSERT_TRUE(next.Recover(*refused, 250).ok());
  EXPECT_TRUE(next.has_uncommitted_files());
  ASSERT_TRUE(next.Prepare(260).ok());
  EXPECT_EQ(next.Commit().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(Read(LakeTableId::kEvents).rows, 200);
}

TEST_F(LakeSinkTest, AFencedOwnerDeletesOnlyTheFilesNoCheckpointLists) {
  auto lake = Open(fs_, /*buffer_rows=*/10);
  PartitionSink a(lake.get(), 3);
  std::string held;
  ASSERT_NO_FATAL_FAILURE(SaveAt30ThenWriteTo60(a, &held));
  ASSERT_TRUE(a.Prepare(60).ok());  // its checkpoint is refused: another owner took over
  ASSERT_GT(FilesOnDisk(LakeTableId::kEvents), files_at_30_);
  a.DiscardUnsaved();
  EXPECT_FALSE(a.commit_pending());
  EXPECT_FALSE(a.has_uncommitted_files());
  EXPECT_EQ(FilesOnDisk(LakeTableId::kEvents), files_at_30_);
  // The new owner, restored from the saved checkpoint, still has every file it lists.
  PartitionSink b(lake.get(), 3);
  ASSERT_TRUE(b.Recover(held, 30).ok());
  ASSERT_NO_FATAL_FAILURE(ReplayAndCommit(b, 30, 60));
}

// Runs `hook` once, right after the first listing of a directory ending in
// `suffix` (the listing returned is the one taken before).
class HookAfterListFs final : public ForwardingFileSystem {
 public:
  HookAfterListFs(FileSystem* base, std::string suffix, std::function<void()> hook)
      : ForwardingFileSystem(base), suffix_(std::move(suffix)), hook_(std::move(hook)) {}
  Result<std::vector<std::string>> ListDir(const std::string& dir) override {
    auto names = ForwardingFileSystem::ListDir(dir);
    if (hook_ && dir.ends_with(suffix_)) std::exchange(hook_, nullptr)();
    return names;
  }

 private:
  std::string suffix_;
  std::function<void()> hook_;
};

// The zombie of RegionProcessorTest.AZombieIsFencedOutByTheNextOwnersClaims,
// in one thread: the new owner's recovery lists the files written after the
// checkpoint to remove them, and the old owner, fenced meanwhile, discards
// the same files first. The recovery finds them gone: that is its goal, not
// an error (it failed Assign with "unlink ...: No such file or directory").
TEST_F(LakeSinkTest, RecoveryRacingAFencedOwnersDiscardSucceeds) {
  auto lake = Open(fs_, /*buffer_rows=*/10);
  PartitionSink a(lake.get(), 3);
  std::string held;
  ASSERT_NO_FATAL_FAILURE(SaveAt30ThenWriteTo60(a, &held));  // 30..59: a's to discard, b's to remove

  HookAfterListFs racing(fs_, "data/sink-p003", [&] { a.DiscardUnsaved(); });
  auto lake_b = Open(&racing, /*buffer_rows=*/10);
  PartitionSink b(lake_b.get(), 3);
  Status s = b.Recover(held, 30);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_FALSE(a.has_uncommitted_files());  // the hook ran
  EXPECT_EQ(FilesOnDisk(LakeTableId::kEvents), files_at_30_);
  ASSERT_NO_FATAL_FAILURE(ReplayAndCommit(b, 30, 60));
}

// Clients with skewed clocks: event times days behind or most of an hour
// ahead still land in the hour partition of their own event_time (not the
// append time), and every file stays sorted by story_id then event_time.
TEST_F(LakeSinkTest, SkewedEventTimesLandInTheirOwnHourPartitions) {
  constexpr int64_t kHourMs = 3'600'000;
  const int64_t skews[] = {-3 * 24 * kHourMs, -kHourMs, 0, 50 * 60'000};
  auto lake = Open(fs_);
  PartitionSink a(lake.get(), 3);
  ASSERT_TRUE(a.Recover("", 0).ok());
  std::multiset<int64_t> want_hours;
  for (uint64_t i = 0; i < 80; ++i) {
    Event e = SampleEvent(EventType::kView, 1 + i % 7);
    e.event_time = EventTimeMs(testing::kSampleNow + skews[i % 4] + static_cast<int64_t>(i));
    want_hours.insert(e.event_time.value / kHourMs);
    a.AddRaw(e, AppendTimeMs(testing::kSampleNow), LogOffset(i));
    a.AddEvent(e, AppendTimeMs(testing::kSampleNow), LogOffset(i));
  }
  ASSERT_TRUE(a.Prepare(80).ok());
  ASSERT_TRUE(a.Commit().ok());

  auto table = IcebergTable::Load(fs_, TableLocation(dir_.Path("lake"), Region::kEu, LakeTableId::kEvents));
  ASSERT_TRUE(table.ok());
  auto live = ListLiveFiles(fs_, table->metadata());
  ASSERT_TRUE(live.ok()) << live.status().ToString();
  std::multiset<int64_t> got_hours;
  for (const ManifestEntry& entry : *live) {
    ASSERT_TRUE(entry.file.partition[0].has_value());
    auto reader = ParquetReader::Open(fs_, entry.file.path);
    ASSERT_TRUE(reader.ok()) << reader.status().ToString();
    std::pair<int64_t, int64_t> previous{INT64_MIN, INT64_MIN};
    for (size_t g = 0; g < (*reader)->info().row_groups.size(); ++g) {
      auto cols = (*reader)->ReadRowGroup(g, {2, 6});  // story_id, event_time (µs)
      ASSERT_TRUE(cols.ok()) << cols.status().ToString();
      for (size_t r = 0; r < (*cols)[0].ints.size(); ++r) {
        const int64_t hour = (*cols)[1].ints[r] / 1000 / kHourMs;
        EXPECT_EQ(hour, *entry.file.partition[0]) << entry.file.path;
        got_hours.insert(hour);
        const std::pair<int64_t, int64_t> key{(*cols)[0].ints[r], (*cols)[1].ints[r]};
        EXPECT_LE(previous, key) << entry.file.path;
        previous = key;
      }
    }
  }
  EXPECT_EQ(got_hours, want_hours);
  EXPECT_EQ(std::set<int64_t>(want_hours.begin(), want_hours.end()).size(), 4u);
}

// Every file's rows are in the table's sort order, ties broken by offset:
// ids across the whole 64-bit range, event times out of order and repeated
// within the hour, rows added in log order (partition 3) and — what no
// caller does, but the order must not depend on it — out of it (partition 4).
TEST_F(LakeSinkTest, FilesAreSortedByStoryThenEventTimeThenOffset) {
  constexpr int64_t kHourStart = testing::kSampleNow / 3'600'000 * 3'600'000;
  constexpr uint64_t kRows = 3000;
  auto lake = Open(fs_, /*buffer_rows=*/100'000);
  for (uint32_t partition : {3u, 4u}) {
    PartitionSink sink(lake.get(), partition);
    ASSERT_TRUE(sink.Recover("", 0).ok());
    uint64_t x = 12345;
    for (uint64_t i = 0; i < kRows; ++i) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      const uint64_t top = x >> 61;  // 1 in 8: any 61-bit id; 1 in 8: above 2^63; else 40 ids, low or near 2^62
      const uint64_t story = top == 0   ? x
                             : top == 1 ? x | (1ull << 63)
                                        : (x >> 33) % 40 + ((x >> 40) % 3 == 0 ? (1ull << 62) : 0);
      Event e = SampleEvent(EventType::kView, story);
      e.event_time = EventTimeMs(kHourStart + static_cast<int64_t>((x >> 20) % ((x >> 50) % 2 ? 5 : 3'599'999)));
      const uint64_t offset = partition == 3 ? i : (i * 7919) % kRows;  // 7919 is prime: a permutation
      sink.AddRecord(e, AppendTimeMs(testing::kSampleNow), LogOffset(offset), /*distinct=*/i % 5 != 0);
    }
    ASSERT_TRUE(sink.Prepare(kRows).ok());
    ASSERT_TRUE(sink.Commit().ok());
  }
  for (LakeTableId id : {LakeTableId::kRawEvents, LakeTableId::kEvents}) {
    auto table = IcebergTable::Load(fs_, TableLocation(dir_.Path("lake"), Region::kEu, id));
    ASSERT_TRUE(table.ok());
    auto live = ListLiveFiles(fs_, table->metadata());
    ASSERT_TRUE(live.ok()) << live.status().ToString();
    int64_t rows = 0;
    for (const ManifestEntry& entry : *live) {
      auto reader = ParquetReader::Open(fs_, entry.file.path);
      ASSERT_TRUE(reader.ok()) << reader.status().ToString();
      ASSERT_EQ((*reader)->info().row_groups.size(), 1u);
      auto cols = (*reader)->ReadRowGroup(0, {2, 6, 9});  // story_id, event_time, log_offset
      ASSERT_TRUE(cols.ok()) << cols.status().ToString();
      for (size_t r = 1; r < (*cols)[0].ints.size(); ++r) {
        auto key = [&](size_t i) {
          return std::tuple(static_cast<uint64_t>((*cols)[0].ints[i]), (*cols)[1].ints[i], (*cols)[2].ints[i]);
        };
        ASSERT_LT(key(r - 1), key(r)) << entry.file.path << " row " << r;
      }
      rows += static_cast<int64_t>((*cols)[0].ints.size());
    }
    EXPECT_EQ(rows, id == LakeTableId::kRawEvents ? 2 * kRows : 2 * (kRows - kRows / 5));
  }
}

TEST_F(LakeSinkTest, RowsOfAnotherRegionAreRefused) {
  auto lake = Open(fs_);
  PartitionSink a(lake.get(), 3);
  ASSERT_TRUE(a.Recover("", 0).ok());
  Event us = SampleEvent(EventType::kView, 1);
  us.region = Region::kUs;
  a.AddRaw(us, AppendTimeMs(testing::kSampleNow), LogOffset(0));
  a.AddEvent(us, AppendTimeMs(testing::kSampleNow), LogOffset(0));
  a.AddMinute(StoryMinuteRow{1, 8, Region::kUs, 60'000, 1, 1, 0, 0, 0}, LogOffset(0));
  AddEvents(a, 1, 5);
  a.AddMinute(StoryMinuteRow{1, 8, Region::kEu, 60'000, 1, 1, 0, 0, 0}, LogOffset(5));
  EXPECT_EQ(a.refused_rows(), 3u);
  ASSERT_TRUE(a.Prepare(6).ok());
  ASSERT_TRUE(a.Commit().ok());
  EXPECT_EQ(Read(LakeTableId::kRawEvents).rows, 5);
  EXPECT_EQ(Read(LakeTableId::kStoryMinute).rows, 1);
}

// The range's age (the processor commits when it exceeds the commit
// interval) rides on the checkpoints that carry the range's files, goes back
// with an abandoned commit and restarts at a commit; a recovery with nothing
// uncommitted opens a new range.
TEST_F(LakeSinkTest, TheRangesAgeSurvivesRecoveryAndRestartsAtACommit) {
  auto lake = Open(fs_);
  ManualClock clock(1'000'000);
  PartitionSink a(lake.get(), 3, &clock);
  ASSERT_TRUE(a.Recover("", 0).ok());
  clock.AdvanceMs(4'000);
  AddEvents(a, 0, 10);
  auto held = a.Prepare(10, /*commit=*/false);
  ASSERT_TRUE(held.ok());
  EXPECT_EQ(a.range_age_ms(), 4'000);
  clock.AdvanceMs(3'000);  // a crash, a restart
  PartitionSink b(lake.get(), 3, &clock);
  ASSERT_TRUE(b.Recover(*held, 10).ok());
  EXPECT_EQ(b.range_age_ms(), 7'000);
  AddEvents(b, 10, 10);
  ASSERT_TRUE(b.Prepare(20).ok());
  EXPECT_EQ(b.range_age_ms(), 0);
  clock.AdvanceMs(1'000);
  b.Abandon();  // its checkpoint was not saved: the range goes on
  EXPECT_EQ(b.range_age_ms(), 8'000);
  auto prepared = b.Prepare(20);
  ASSERT_TRUE(prepared.ok());
  ASSERT_TRUE(b.Commit().ok());
  clock.AdvanceMs(2'000);
  PartitionSink c(lake.get(), 3, &clock);
  ASSERT_TRUE(c.Recover(*prepared, 20).ok());
  EXPECT_EQ(c.range_age_ms(), 0);
  EXPECT_EQ(Read(LakeTableId::kEvents).rows, 20);

  // Older states are still read. A state without carried buffers (only
  // carry_buffers carries them) is written as version 3, which binaries from
  // before version 4 read.
  const std::string v3 = *held;
  ASSERT_EQ(GetFixed32(v3.data() + 4), 3u);
  PartitionSink e(lake.get(), 3, &clock);
  ASSERT_TRUE(e.Recover(v3, 10).ok());
  EXPECT_FALSE(e.has_uncommitted_files());  // b's commit covers them
  EXPECT_EQ(Read(LakeTableId::kEvents).rows, 20);
  // Version 2 (no opening time): its range counts from the recovery.
  std::string v2 = v3.substr(0, 25) + v3.substr(33);
  PutFixed32(v2.data() + 4, 2);
  PartitionSink d(lake.get(), 3, &clock);
  ASSERT_TRUE(d.Recover(v2, 10).ok());
  EXPECT_EQ(d.range_age_ms(), 0);
}

TEST_F(LakeSinkTest, DamagedPreparedCommitsAreCorruption) {
  auto lake = Open(fs_);
  PartitionSink a(lake.get(), 3);
  ASSERT_TRUE(a.Recover("", 0).ok());
  AddEvents(a, 0, 5);
  auto prepared = a.Prepare(5);
  ASSERT_TRUE(prepared.ok());
  PartitionSink b(lake.get(), 3);
  EXPECT_EQ(b.Recover("garbage", 5).code(), StatusCode::kCorruption);
  EXPECT_EQ(b.Recover(prepared->substr(0, prepared->size() - 3), 5).code(), StatusCode::kCorruption);
  EXPECT_EQ(b.Recover(*prepared, 6).code(), StatusCode::kCorruption);  // not the checkpoint's range
  EXPECT_EQ(Read(LakeTableId::kEvents).rows, 0);
}

TEST_F(LakeSinkTest, ARecoveryRefusesAGuardPropertyThatIsNotAnOffset) {
  auto lake = Open(fs_);
  CommitFirst100(lake.get());
  auto table = IcebergTable::Load(fs_, TableLocation(dir_.Path("lake"), Region::kEu, LakeTableId::kEvents));
  ASSERT_TRUE(table.ok());
  ASSERT_TRUE(table
                  ->Commit([](TableMetadata& m) -> Status {
                    m.properties.at("watershed.sink.p003.next-offset") = "1OO";
                    return Status::Ok();
                  })
                  .ok());
  // Read as 0 it would let the replay commit offsets 0..99 again.
  PartitionSink b(lake.get(), 3);
  const Status s = b.Recover("", 0);
  EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.ToString();
  EXPECT_NE(s.message().find("watershed.sink.p003.next-offset"), std::string::npos) << s.ToString();
}

}  // namespace
}  // namespace watershed::lake
