#include "stream/region_processor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/fault_injection_fs.h"
#include "core/testing/temp_dir.h"
#include "core/testing/wait.h"
#include "lake/iceberg_maintenance.h"
#include "log/embedded_log.h"
#include "serve/testing/forwarding_live_store.h"
#include "stream/cold_store.h"
#include "stream/testing/truth_compare.h"
#include "workload/generator.h"
#include "workload/truth.h"

namespace watershed::stream {
namespace {

using ::watershed::stream::testing::Diff;
using ::watershed::stream::testing::Dump;
using ::watershed::stream::testing::FromTruth;
using ::watershed::stream::testing::StoreModel;
using ::watershed::testing::TempDir;
constexpr uint32_t kPartitions = 4;

class RegionProcessorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log::EmbeddedLogOptions o;
    o.dir = dir_.Path("log");
    o.partitions = kPartitions;
    o.fsync = log::FsyncPolicy::kNever;
    auto opened = log::EmbeddedLog::Open(o);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    log_ = std::move(opened).value();
    checkpoints_ = std::make_unique<CheckpointStore>(FileSystem::Default(), CheckpointDir());
    options_.checkpoint_interval_ms = 200;
    options_.max_batch = 300;  // many writes per partition
  }
  void TearDown() override {
    if (log_) log_->Close();
    log_.reset();
  }

  std::string CheckpointDir() const { return dir_.Path("ckpt"); }

  // Generated events, all in region us (truth sums regions; one region's
  // processor sees only its own log).
  std::vector<Event> Generate(uint64_t seed, size_t n, int64_t base_time_ms) {
    workload::WorkloadOptions w;
    w.seed = seed;
    w.stories = 200;
    w.viewers = 10'000;
    w.event_time_rate = 500;
    w.base_time_ms = base_time_ms;
    w.late_fraction = 0.02;
    workload::Generator gen(w);
    std::vector<Event> out;
    for (size_t i = 0; i < n; ++i) {
      Event e = gen.Next();
      e.region = Region::kUs;
      out.push_back(std::move(e));
    }
    return out;
  }

  // Appends in batches of 500, re-sending every 7th batch (a client retry);
  // everything appended also goes to the truth, in the same order.
  void Append(const std::vector<Event>& events) {
    for (size_t at = 0, batch = 0; at < events.size(); at += 500, ++batch) {
      std::vector<Event> b(events.begin() + static_cast<ptrdiff_t>(at),
                           events.begin() + static_cast<ptrdiff_t>(std::min(at + 500, events.size())));
      const int sends = batch % 7 == 3 ? 2 : 1;
      for (int k = 0; k < sends; ++k) {
        std::promise<Status> done;
        auto f = done.get_future();
        log_->AppendAsync(b, [&done](Status s) { done.set_value(std::move(s)); });
        Status s = f.get();
        ASSERT_TRUE(s.ok()) << s.ToString();
        for (const Event& e : b) truth_.Add(e);
      }
    }
  }

  std::unique_ptr<RegionProcessor> StartProcessor(serve::LiveStore* store) {
    auto p = std::make_unique<RegionProcessor>(Region::kUs, log_.get(), store, checkpoints_.get(), options_);
    Status s = p->Start();
    EXPECT_TRUE(s.ok()) << s.ToString();
    return p;
  }

  void WaitCaughtUp(RegionProcessor& p) {
    watershed::testing::WaitUntil([&] { return p.Lag() == 0; });
    ASSERT_EQ(p.Lag(), 0u);
    for (const auto& s : p.GetStatus()) {
      EXPECT_EQ(s.error, "") << "partition " << s.partition;
      EXPECT_EQ(s.processed_offset, s.end_offset);
    }
  }

  void CopyCheckpoints(const std::string& from, const std::string& to) {
    std::error_code ec;
    std::filesystem::remove_all(to, ec);
    std::filesystem::copy(from, to, std::filesystem::copy_options::recursive);
  }

  workload::Truth Truth() const { return truth_.Finish(); }

  void ZombieIsFencedOut(bool carry);

  // raw_events holds every log record once, events every distinct event
  // once, and no data file is left that no snapshot references. Returns the
  // number of data files of raw_events.
  size_t ExpectLakeHoldsEachRowOnce(const workload::Truth& truth) {
    uint64_t records = 0;
    size_t raw_files = 0;
    for (uint32_t p = 0; p < kPartitions; ++p) records += log_->EndOffset(p).value;
    for (lake::LakeTableId id : {lake::LakeTableId::kRawEvents, lake::LakeTableId::kEvents}) {
      const std::string location = lake::TableLocation(dir_.Path("lake"), Region::kUs, id);
      auto table = lake::IcebergTable::Load(FileSystem::Default(), location);
      EXPECT_TRUE(table.ok());
      if (!table.ok()) return 0;
      auto live = lake::ListLiveFiles(FileSystem::Default(), table->metadata());
      EXPECT_TRUE(live.ok()) << live.status().ToString();
      int64_t rows = 0;
      std::set<std::string> referenced;
      for (const auto& e : *live) {
        rows += e.file.record_count;
        referenced.insert(e.file.path);
      }
      EXPECT_EQ(static_cast<uint64_t>(rows), id == lake::LakeTableId::kEvents ? truth.distinct_events : records);
      std::set<std::string> on_disk;
      for (const auto& f : std::filesystem::recursive_directory_iterator(JoinPath(location, "data")))
        if (f.is_regular_file()) on_disk.insert(f.path().string());
      EXPECT_EQ(on_disk, referenced);
      if (id == lake::LakeTableId::kRawEvents) raw_files = referenced.size();
    }
    return raw_files;
  }

  TempDir dir_{"region"};  // declared first: removed after everything using it
  std::unique_ptr<log::EmbeddedLog> log_;
  std::unique_ptr<CheckpointStore> checkpoints_;
  RunnerOptions options_;
  workload::TruthBuilder truth_{workload::TruthOptions{kPartitions, 5'000, 60'000}};
};

TEST_F(RegionProcessorTest, StoreMatchesTruthAndSurvivesRestart) {
  Append(Generate(1, 20'000, 300'000));  // 40 s of event time
  const workload::Truth first_truth = Truth();
  ASSERT_GT(first_truth.duplicates, 1'000u);
  ASSERT_GT(first_truth.late_5s, 0u);

  auto store1 = serve::NewMemoryLiveStore();
  {
    auto a = StartProcessor(store1.get());
    WaitCaughtUp(*a);
    EXPECT_EQ(Diff(Dump(*store1), FromTruth(first_truth)), "");
    uint64_t records = 0, duplicates = 0, late5 = 0, late1 = 0;
    for (const auto& s : a->GetStatus()) {
      records += s.counters.records;
      duplicates += s.counters.duplicates;
      late5 += s.counters.late[0];
      late1 += s.counters.late[1];
    }
    EXPECT_EQ(records, first_truth.distinct_events + first_truth.duplicates);
    EXPECT_EQ(duplicates, first_truth.duplicates);
    EXPECT_EQ(late5, first_truth.late_5s);
    EXPECT_EQ(late1, first_truth.late_1m);
    ASSERT_TRUE(a->Stop().ok());
    // The final checkpoint covers everything.
    for (const auto& s : a->GetStatus()) {
      EXPECT_EQ(s.checkpoint_offset, s.end_offset) << "partition " << s.partition;
      EXPECT_GT(s.checkpoint_id, 0u);
    }
  }

  // A restart with an empty store: Start alone repopulates it from the checkpoints.
  auto store2 = serve::NewMemoryLiveStore();
  auto b = StartProcessor(store2.get());
  EXPECT_EQ(Diff(Dump(*store2), FromTruth(first_truth)), "");
  WaitCaughtUp(*b);
  EXPECT_EQ(Diff(Dump(*store2), FromTruth(first_truth)), "");

  // More events after the restart: 40 s later in event time, so earlier windows finalize.
  Append(Generate(2, 20'000, 340'000));
  WaitCaughtUp(*b);
  const workload::Truth all_truth = Truth();
  const StoreModel want = FromTruth(all_truth);
  EXPECT_EQ(Diff(Dump(*store2), want), "");
  size_t finals = 0;
  for (const auto& [k, w] : want.windows) finals += w.second;
  EXPECT_GT(finals, 0u);
  ASSERT_TRUE(b->Stop().ok());
}

// What the alerts watch (watershed_checkpoint_failures_total, _age_seconds,
// watershed_append_to_visible_seconds): checkpoints that fail on a full disk
// are counted and their age grows; once the disk is back the next one
// succeeds and the age starts again. Every processed record is observed once.
TEST_F(RegionProcessorTest, CheckpointFailuresAndAgeAndFreshnessAreReported) {
  FaultInjectionFileSystem fs(FileSystem::Default());
  checkpoints_ = std::make_unique<CheckpointStore>(&fs, CheckpointDir());
  Histogram visible, durations;
  options_.visible_seconds = &visible;
  options_.checkpoint_seconds = &durations;
  Append(Generate(1, 3'000, 300'000));
  auto store = serve::NewMemoryLiveStore();
  auto p = StartProcessor(store.get());
  WaitCaughtUp(*p);
  EXPECT_EQ(visible.Count(), Truth().distinct_events + Truth().duplicates);
  auto sum = [&](auto field) {
    uint64_t n = 0;
    for (const auto& s : p->GetStatus()) n += static_cast<uint64_t>(field(s));
    return n;
  };
  auto oldest_ok_ms = [&] {
    int64_t oldest = INT64_MAX;
    for (const auto& s : p->GetStatus()) oldest = std::min(oldest, s.checkpoint_ok_ms);
    return oldest;
  };
  EXPECT_EQ(sum([](const PartitionStatus& s) { return s.checkpoint_failures; }), 0u);
  fs.SetFailWrites(true);
  const int64_t failing_since = Clock::Real()->NowMs();
  Append(Generate(2, 1'000, 340'000));  // something new to checkpoint
  watershed::testing::WaitUntil(
      [&] { return sum([](const PartitionStatus& s) { return s.checkpoint_failures; }) >= kPartitions; });
  EXPECT_GE(sum([](const PartitionStatus& s) { return s.checkpoint_failures; }), kPartitions);
  EXPECT_LE(oldest_ok_ms(), failing_since);  // the age counts from before the failures
  fs.SetFailWrites(false);
  watershed::testing::WaitUntil([&] { return oldest_ok_ms() > failing_since; });
  EXPECT_GT(oldest_ok_ms(), failing_since);
  EXPECT_GT(durations.Count(), 0u);
  ASSERT_TRUE(p->Stop().ok());
}

// Idle eviction end to end: stories idle for 1 s of append time go to the
// cold stores, come back with their next event, and a restart with an empty
// store republishes them: the store always matches the truth.
TEST_F(RegionProcessorTest, EvictedStoriesAreAnsweredExactlyAcrossARestart) {
  options_.processor.story_idle_evict_ms = 1000;
  auto evicted = [](RegionProcessor& p) {
    uint64_t n = 0, reloaded = 0;
    for (const auto& s : p.GetStatus()) n += s.evicted_stories, reloaded += s.reloaded_stories;
    return std::make_pair(n, reloaded);
  };
  Append(Generate(1, 6'000, 300'000));
  auto store1 = serve::NewMemoryLiveStore();
  {
    auto a = StartProcessor(store1.get());
    WaitCaughtUp(*a);
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));
    // Later in append time and in event time (so the first windows close): the stories not in it go cold.
    Append(Generate(2, 3'000, 600'000));
    WaitCaughtUp(*a);
    EXPECT_GT(evicted(*a).first, 0u);
    EXPECT_EQ(Diff(Dump(*store1), FromTruth(Truth())), "");
    ASSERT_TRUE(a->Stop().ok());
  }
  auto store2 = serve::NewMemoryLiveStore();
  auto b = StartProcessor(store2.get());
  EXPECT_EQ(Diff(Dump(*store2), FromTruth(Truth())), "");
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  Append(Generate(3, 6'000, 900'000));  // brings cold stories back
  WaitCaughtUp(*b);
  EXPECT_GT(evicted(*b).second, 0u);
  EXPECT_EQ(Diff(Dump(*store2), FromTruth(Truth())), "");
  ASSERT_TRUE(b->Stop().ok());
}

// Erasure while processing runs: the counts stay those of the truth, and no partition's checkpoint nor cold store
// (some of the viewer's stories went cold) holds the id afterwards; without every partition owned it is refused.
TEST_F(RegionProcessorTest, AViewerIsErasedFromTheRunningStateAndEveryCheckpoint) {
  options_.processor.story_idle_evict_ms = 1000;
  const std::vector<Event> first = Generate(1, 6'000, 300'000);
  std::map<uint64_t, int> events_of;
  for (const Event& e : first) ++events_of[e.viewer_id.value];
  const ViewerId viewer(std::max_element(events_of.begin(), events_of.end(), [](const auto& a, const auto& b) {
                          return a.second < b.second;
                        })->first);
  Append(first);
  auto store = serve::NewMemoryLiveStore();
  auto a = StartProcessor(store.get());
  WaitCaughtUp(*a);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  Append(Generate(2, 3'000, 600'000));  // later: stories not in it go cold
  WaitCaughtUp(*a);
  // Holds the id in some partition's checkpoint state or cold store, read as `erase --verify` does.
  auto checkpoints_hold = [&] {
    ProcessorOptions o;
    o.hash_key = HashKey{1, 2};
    PartitionProcessor reader(Region::kUs, 0, o);
    int holding = 0;
    for (uint32_t p = 0; p < kPartitions; ++p) {
      auto c = checkpoints_->Read(Region::kUs, p);
      EXPECT_TRUE(c.ok() && c->has_value());
      if (!c.ok() || !c->has_value()) continue;
      PartitionProcessor state(Region::kUs, p, o);
      EXPECT_TRUE(state.Restore((*c)->state).ok());
      holding += state.HoldsViewer(viewer);
      std::string path;
      uint64_t length = 0;
      Status s = ReadColdRecords(FileSystem::Default(), checkpoints_->RegionDir(Region::kUs), p, (*c)->cold, nullptr,
                                 &path, &length, [&](uint64_t, std::string_view payload) -> Status {
                                   ASSIGN_OR_RETURN(bool h, reader.ColdRecordHolds(payload, viewer));
                                   holding += h;
                                   return Status::Ok();
                                 });
      EXPECT_TRUE(s.ok()) << s.ToString();
    }
    return holding;
  };
  std::this_thread::sleep_for(std::chrono::milliseconds(2 * options_.checkpoint_interval_ms));
  EXPECT_GT(checkpoints_hold(), 0);

  auto erased = a->EraseViewer(viewer, std::chrono::steady_clock::now() + std::chrono::seconds(30));
  ASSERT_TRUE(erased.ok()) << erased.status().ToString();
  EXPECT_GT(erased->sets, 0u);
  EXPECT_GT(erased->dedup_entries, 0u);
  EXPECT_EQ(checkpoints_hold(), 0);
  EXPECT_EQ(Diff(Dump(*store), FromTruth(Truth())), "");  // the published counts are the same
  ASSERT_TRUE(a->Stop().ok());
  EXPECT_EQ(checkpoints_hold(), 0);
  a.reset();

  auto b = std::make_unique<RegionProcessor>(Region::kUs, log_.get(), store.get(), checkpoints_.get(), options_);
  ASSERT_TRUE(b->Assign(1).ok());
  auto refused = b->EraseViewer(viewer, std::chrono::steady_clock::now() + std::chrono::seconds(30));
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition) << refused.status().ToString();
  ASSERT_TRUE(b->Stop().ok());
}

// Replay after a "crash": restoring an older checkpoint and replaying the log
// converges to exactly what an uninterrupted run stored, whether the store
// starts empty or already holds newer values.
TEST_F(RegionProcessorTest, ReplayFromOlderCheckpointConverges) {
  const std::string saved = dir_.Path("saved-ckpt");
  Append(Generate(3, 12'000, 0));
  {
    auto store = serve::NewMemoryLiveStore();
    auto a = StartProcessor(store.get());
    WaitCaughtUp(*a);
    ASSERT_TRUE(a->Stop().ok());
  }
  CopyCheckpoints(CheckpointDir(), saved);  // A's checkpoint: the first half only

  Append(Generate(4, 12'000, 24'000));
  auto store_b = serve::NewMemoryLiveStore();
  {
    auto b = StartProcessor(store_b.get());
    WaitCaughtUp(*b);
    ASSERT_TRUE(b->Stop().ok());
  }
  const StoreModel dump_b = Dump(*store_b);
  EXPECT_EQ(Diff(dump_b, FromTruth(Truth())), "");

  // C: A's checkpoint, the full log, a new store.
  CopyCheckpoints(saved, CheckpointDir());
  auto store_c = serve::NewMemoryLiveStore();
  {
    auto c = StartProcessor(store_c.get());
    WaitCaughtUp(*c);
    ASSERT_TRUE(c->Stop().ok());
  }
  EXPECT_EQ(Diff(Dump(*store_c), dump_b), "");
  EXPECT_TRUE(Dump(*store_c) == dump_b);

  // D: A's checkpoint again, over B's store, which holds values newer than
  // the checkpoint (as after a crash between a store write and a checkpoint).
  CopyCheckpoints(saved, CheckpointDir());
  {
    auto d = StartProcessor(store_b.get());
    WaitCaughtUp(*d);
    ASSERT_TRUE(d->Stop().ok());
  }
  EXPECT_EQ(Diff(Dump(*store_b), dump_b), "");
}

// Ownership errors and what GetStatus shows: only the owned partitions.
// A live store that refuses writes (kUnavailable) while `down` is set.
class FlakyStore final : public serve::testing::ForwardingLiveStore {
 public:
  using ForwardingLiveStore::ForwardingLiveStore;
  std::atomic<bool> down{false};
  std::atomic<int> refused{0};
  Status Apply(const serve::PartitionWrite& w) override {
    if (down) {
      ++refused;
      return Status::Unavailable("store down (test)");
    }
    return ForwardingLiveStore::Apply(w);
  }
};

// Restarting while the store is unreachable: the processor starts anyway,
// republishes the restored state once the store is back, and converges.
TEST_F(RegionProcessorTest, StartsWhileTheStoreIsDownAndRepublishesWhenItIsBack) {
  Append(Generate(1, 20'000, 300'000));
  {
    auto store = serve::NewMemoryLiveStore();
    auto p = StartProcessor(store.get());
    WaitCaughtUp(*p);
    ASSERT_TRUE(p->Stop().ok());  // final checkpoints: the restart restores, it does not replay
  }
  auto fresh = serve::NewMemoryLiveStore();
  FlakyStore flaky(fresh.get());
  flaky.down = true;
  auto p = StartProcessor(&flaky);  // EXPECTs Start to succeed
  ASSERT_GT(flaky.refused.load(), 0);
  EXPECT_NE(Diff(Dump(*fresh), FromTruth(Truth())), "");  // nothing republished yet
  flaky.down = false;
  WaitCaughtUp(*p);
  EXPECT_EQ(Diff(Dump(*fresh), FromTruth(Truth())), "");
  ASSERT_TRUE(p->Stop().ok());
}

TEST_F(RegionProcessorTest, AssignRevokeOwnOnlyWhatTheyAreGiven) {
  Append(Generate(5, 4'000, 0));
  auto store = serve::NewMemoryLiveStore();
  RegionProcessor a(Region::kUs, log_.get(), store.get(), checkpoints_.get(), options_);
  EXPECT_TRUE(a.GetStatus().empty());
  EXPECT_EQ(a.Lag(), 0u);
  ASSERT_TRUE(a.Assign(2).ok());
  ASSERT_TRUE(a.Assign(0).ok());
  ASSERT_TRUE(a.Assign(2).ok());  // already owned: no-op
  EXPECT_EQ(a.Assign(kPartitions).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(a.Owned(), (std::vector<uint32_t>{0, 2}));
  WaitCaughtUp(a);
  std::vector<uint32_t> listed;
  for (const auto& s : a.GetStatus()) listed.push_back(s.partition);
  EXPECT_EQ(listed, (std::vector<uint32_t>{0, 2}));

  uint64_t records_before = 0, records_of_2 = 0;
  for (const auto& s : a.GetStatus()) {
    records_before += s.counters.records;
    if (s.partition == 2) records_of_2 = s.counters.records;
  }
  ASSERT_GT(records_of_2, 0u);
  EXPECT_EQ(a.Released().counters.records, 0u);
  EXPECT_TRUE(a.Revoke(1).ok());  // not owned: no-op
  ASSERT_TRUE(a.Revoke(2).ok());
  EXPECT_EQ(a.Owned(), (std::vector<uint32_t>{0}));
  // What partition 2 counted stays in this processor's totals (a Prometheus
  // counter must not go down when a partition moves away).
  EXPECT_EQ(a.Released().counters.records, records_of_2);
  uint64_t records_after = a.Released().counters.records;
  for (const auto& s : a.GetStatus()) records_after += s.counters.records;
  EXPECT_EQ(records_after, records_before);
  // The revoke checkpointed everything partition 2 had processed.
  auto c = checkpoints_->Load(Region::kUs, 2);
  ASSERT_TRUE(c.ok() && c.value().has_value());
  EXPECT_EQ(c.value()->next_offset, log_->EndOffset(2));
  ASSERT_TRUE(a.Stop().ok());
  EXPECT_EQ(a.Assign(1).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(a.Owned(), (std::vector<uint32_t>{0}));
}

// Two processors (as two processes of one group) over one log, one
// checkpoint directory and one live store: partitions move back and forth
// while events keep arriving, and the store ends equal to the truth.
TEST_F(RegionProcessorTest, PartitionsMovedMidStreamBetweenTwoProcessors) {
  options_.threads = 2;
  auto store = serve::NewMemoryLiveStore();
  CheckpointStore checkpoints_b(FileSystem::Default(), CheckpointDir());
  RegionProcessor a(Region::kUs, log_.get(), store.get(), checkpoints_.get(), options_);
  RegionProcessor b(Region::kUs, log_.get(), store.get(), &checkpoints_b, options_);
  RegionProcessor* owner[kPartitions];
  for (uint32_t p = 0; p < kPartitions; ++p) {
    owner[p] = p % 2 ? &b : &a;
    ASSERT_TRUE(owner[p]->Assign(p).ok());
  }

  const std::vector<Event> events = Generate(6, 30'000, 0);  // 60 s of event time
  int moves = 0;
  for (size_t at = 0, chunk = 0; at < events.size(); at += 2'000, ++chunk) {
    Append(std::vector<Event>(events.begin() + static_cast<ptrdiff_t>(at),
                              events.begin() + static_cast<ptrdiff_t>(std::min(at + 2'000, events.size()))));
    // Hand one partition over while the records just appended are (likely) in flight.
    const uint32_t p = static_cast<uint32_t>(chunk % kPartitions);
    RegionProcessor* to = owner[p] == &a ? &b : &a;
    ASSERT_TRUE(owner[p]->Revoke(p).ok());
    ASSERT_TRUE(to->Assign(p).ok());
    owner[p] = to;
    ++moves;
  }
  ASSERT_GE(moves, 15);

  // Every partition owned by exactly one of them.
  std::vector<uint32_t> all = a.Owned();
  for (uint32_t p : b.Owned()) all.push_back(p);
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, (std::vector<uint32_t>{0, 1, 2, 3}));
  for (uint32_t p = 0; p < kPartitions; ++p) {
    auto owned = owner[p]->Owned();
    EXPECT_TRUE(std::find(owned.begin(), owned.end(), p) != owned.end()) << "partition " << p;
  }

  WaitCaughtUp(a);
  WaitCaughtUp(b);
  const workload::Truth truth = Truth();
  ASSERT_GT(truth.duplicates, 1'000u);
  const StoreModel want = FromTruth(truth);
  EXPECT_EQ(Diff(Dump(*store), want), "");
  ASSERT_TRUE(a.Stop().ok());
  ASSERT_TRUE(b.Stop().ok());

  // The checkpoints the two left behind restore the same store from scratch.
  auto fresh = serve::NewMemoryLiveStore();
  auto c = StartProcessor(fresh.get());
  EXPECT_EQ(Diff(Dump(*fresh), want), "");
  ASSERT_TRUE(c->Stop().ok());
}

// A zombie: processor A keeps running after the group gave its partitions
// to B. B's claims fence A: A's next checkpoint is refused, A stops and
// deletes the lake files no checkpoint lists, and the store and the lake
// end as the truth says — each row once, no data file left unreferenced.
// With `carry`, the checkpoints carry the lake's buffers (B refills them from
// the log while A goes on filling and cutting its own).
void RegionProcessorTest::ZombieIsFencedOut(bool carry) {
  lake::LakeSinkOptions sink;
  sink.buffer_rows = 200;
  sink.carry_buffers = carry;
  auto lake = lake::RegionLake::Open(FileSystem::Default(), dir_.Path("lake"), Region::kUs, sink);
  ASSERT_TRUE(lake.ok()) << lake.status().ToString();
  options_.lake = lake->get();
  auto store = serve::NewMemoryLiveStore();
  CheckpointStore checkpoints_b(FileSystem::Default(), CheckpointDir());
  RegionProcessor a(Region::kUs, log_.get(), store.get(), checkpoints_.get(), options_);
  RegionProcessor b(Region::kUs, log_.get(), store.get(), &checkpoints_b, options_);
  ASSERT_TRUE(a.Start().ok());
  Append(Generate(7, 4'000, 0));
  WaitCaughtUp(a);
  for (uint32_t p = 0; p < kPartitions; ++p) {  // A is not told
    Status s = b.Assign(p);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  Append(Generate(8, 6'000, 30'000));
  // A processes the new records too, until its next checkpoint is refused.
  auto all_fenced = [&] {
    for (const auto& st : a.GetStatus())
      if (st.error.find("fenced") == std::string::npos) return false;
    return true;
  };
  ASSERT_TRUE(watershed::testing::WaitUntil(all_fenced));
  WaitCaughtUp(b);
  for (uint32_t p = 0; p < kPartitions; ++p) EXPECT_TRUE(a.Revoke(p).ok());  // no checkpoint: nothing to refuse
  ASSERT_TRUE(a.Stop().ok());
  ASSERT_TRUE(b.Stop().ok());  // commits the lake

  const workload::Truth truth = Truth();
  EXPECT_EQ(Diff(Dump(*store), FromTruth(truth)), "");
  ExpectLakeHoldsEachRowOnce(truth);
}
TEST_F(RegionProcessorTest, AZombieIsFencedOutByTheNextOwnersClaims) { ZombieIsFencedOut(/*carry=*/false); }
TEST_F(RegionProcessorTest, AZombieIsFencedOutWithCarriedLakeBuffers) { ZombieIsFencedOut(/*carry=*/true); }

// The lake commits at the first checkpoint lake_commit_interval_ms after its
// range opened, however often its owner changes: each owner here lives 0.6 ×
// the interval (as a server killed every 2 minutes with a 5-minute interval)
// and hands over through a checkpoint without a commit, yet the commit comes
// at 1 × the interval, with every row appended by then, once.
TEST_F(RegionProcessorTest, LakeCommitsOnTimeWhenOwnersLiveShorterThanTheInterval) {
  auto lake = lake::RegionLake::Open(FileSystem::Default(), dir_.Path("lake"), Region::kUs, {.buffer_rows = 200});
  ASSERT_TRUE(lake.ok()) << lake.status().ToString();
  ManualClock clock(1'700'000'000'000);
  options_.lake = lake->get();
  options_.clock = &clock;
  options_.checkpoint_interval_ms = 1'000;
  options_.lake_commit_interval_ms = 10'000;
  auto store = serve::NewMemoryLiveStore();
  auto committed_raw_rows = [&] {
    auto table = lake::IcebergTable::Load(
        FileSystem::Default(), lake::TableLocation(dir_.Path("lake"), Region::kUs, lake::LakeTableId::kRawEvents));
    EXPECT_TRUE(table.ok()) << table.status().ToString();
    auto live = lake::ListLiveFiles(FileSystem::Default(), table->metadata());
    EXPECT_TRUE(live.ok()) << live.status().ToString();
    int64_t rows = 0;
    for (const auto& e : *live) rows += e.file.record_count;
    return rows;
  };
  bool committed_at_interval = false;
  for (int owner = 0, tick = 0; owner < 3; ++owner) {
    auto p = StartProcessor(store.get());
    for (int i = 0; i < 6; ++i, ++tick) {  // 6 checkpoint intervals = 0.6 × the lake's
      Append(Generate(100 + tick, 500, 300'000 + tick * 1'000));
      WaitCaughtUp(*p);
      clock.AdvanceMs(1'000);
      ASSERT_TRUE(watershed::testing::WaitUntil([&] {
        for (const auto& s : p->GetStatus())
          if (s.checkpoint_offset != s.end_offset) return false;
        return true;
      }));
      // The checkpoints at 10 s (after the 10th tick) commit, right after they are saved.
      if (tick == 9)
        committed_at_interval =
            watershed::testing::WaitUntil([&] { return committed_raw_rows() == 10 * 500; }, std::chrono::seconds(20));
    }
    // A handover: the last checkpoint carries the uncommitted files.
    for (uint32_t k = 0; k < kPartitions; ++k) ASSERT_TRUE(p->Revoke(k, /*commit_lake=*/false).ok());
  }
  EXPECT_TRUE(committed_at_interval) << committed_raw_rows() << " raw rows committed";
  // The next commit is due at 20 s: no owner reached it.
  EXPECT_EQ(committed_raw_rows(), 10 * 500);
}

// The lake's buffers ride on checkpoints (lake-carry-buffers): the first
// owner leaves the group (a commit), the second hands the partitions over
// through checkpoints that do not commit, and the third refills the buffers
// from the log — which retention, run between owners with a 1-byte budget,
// must not have deleted below the oldest buffered row (only below the first
// commit). At Stop every row is in the lake once, in one file per log
// partition, Iceberg partition and commit: none was cut at a checkpoint.
TEST_F(RegionProcessorTest, CarriedLakeBuffersSurviveHandoversAndTheLogKeepsThem) {
  log_->Close();
  log::EmbeddedLogOptions o;
  o.dir = dir_.Path("log2");
  o.partitions = kPartitions;
  o.fsync = log::FsyncPolicy::kNever;
  o.segment_bytes = 4096;
  o.retention_bytes = 1;  // everything below the floor may go
  auto opened = log::EmbeddedLog::Open(o);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  log_ = std::move(opened).value();
  lake::LakeSinkOptions sink;
  sink.carry_buffers = true;
  sink.file_max_age_ms = 0;
  auto lake = lake::RegionLake::Open(FileSystem::Default(), dir_.Path("lake"), Region::kUs, sink);
  ASSERT_TRUE(lake.ok()) << lake.status().ToString();
  options_.lake = lake->get();
  options_.lake_commit_interval_ms = 86'400'000;
  auto store = serve::NewMemoryLiveStore();
  bool retention_ran = false;
  for (int owner = 0; owner < 3; ++owner) {
    auto p = StartProcessor(store.get());
    Append(Generate(200 + owner, 3'000, 300'000 + owner * 10'000));
    WaitCaughtUp(*p);
    ASSERT_TRUE(watershed::testing::WaitUntil([&] {
      for (const auto& s : p->GetStatus())
        if (s.checkpoint_offset != s.end_offset) return false;
      return true;
    }));
    if (owner == 2) {
      ASSERT_TRUE(p->Stop().ok());
      break;
    }
    for (uint32_t k = 0; k < kPartitions; ++k) ASSERT_TRUE(p->Revoke(k, /*commit_lake=*/owner == 0).ok());
    ASSERT_TRUE(log_->EnforceRetention().ok());
    if (owner == 1)
      for (uint32_t k = 0; k < kPartitions; ++k) retention_ran |= log_->StartOffset(k).value > 0;
  }
  EXPECT_TRUE(retention_ran);  // the first owner's segments went: only the floor kept the buffered ones
  const workload::Truth truth = Truth();
  EXPECT_EQ(Diff(Dump(*store), FromTruth(truth)), "");
  const size_t files = ExpectLakeHoldsEachRowOnce(truth);
  // Two commits, no cut: a file per commit, log partition, hour and bucket at most.
  EXPECT_LE(files, 2 * kPartitions * 16u * 2u);
}

}  // namespace
}  // namespace watershed::stream

namespace watershed::stream {
namespace {

// With the log's aligned partition scheme (the default of a new log), the
// lake sink of partition p writes only the story buckets b with
// b % kPartitions == p: 4 of the 16, not all of them, in every table.
TEST_F(RegionProcessorTest, EachPartitionsLakeSinkWritesOnlyItsOwnBuckets) {
  ASSERT_EQ(log_->partition_scheme(), PartitionScheme::kAligned);
  auto lake = lake::RegionLake::Open(FileSystem::Default(), dir_.Path("lake"), Region::kUs, {.buffer_rows = 200});
  ASSERT_TRUE(lake.ok()) << lake.status().ToString();
  options_.lake = lake->get();
  auto store = serve::NewMemoryLiveStore();
  auto p = StartProcessor(store.get());
  Append(Generate(11, 6'000, 0));
  Append(Generate(12, 2'000, 180'000));  // the watermarks pass the first minutes: story_minute rows
  WaitCaughtUp(*p);
  ASSERT_TRUE(p->Stop().ok());  // commits the lake
  for (lake::LakeTableId id :
       {lake::LakeTableId::kRawEvents, lake::LakeTableId::kEvents, lake::LakeTableId::kStoryMinute}) {
    const std::string location = lake::TableLocation(dir_.Path("lake"), Region::kUs, id);
    auto table = lake::IcebergTable::Load(FileSystem::Default(), location);
    ASSERT_TRUE(table.ok()) << table.status().ToString();
    auto live = lake::ListLiveFiles(FileSystem::Default(), table->metadata());
    ASSERT_TRUE(live.ok()) << live.status().ToString();
    std::map<uint32_t, std::set<int32_t>> buckets;  // sink partition -> bucket values of its files
    for (const auto& e : *live) {
      const size_t at = e.file.path.find("/sink-p");
      ASSERT_NE(at, std::string::npos) << e.file.path;
      const uint32_t sink = static_cast<uint32_t>(std::stoul(e.file.path.substr(at + 7, 3)));
      ASSERT_EQ(e.file.partition.size(), 2u);  // (hour or day, bucket[16](story_id))
      ASSERT_TRUE(e.file.partition[1].has_value());
      buckets[sink].insert(*e.file.partition[1]);
    }
    ASSERT_EQ(buckets.size(), kPartitions) << location;
    for (const auto& [sink, seen] : buckets) {
      std::set<int32_t> own;
      for (int32_t b = 0; b < 16; ++b)
        if (static_cast<uint32_t>(b) % kPartitions == sink) own.insert(b);
      if (id == lake::LakeTableId::kStoryMinute) {  // only the stories whose minutes closed
        EXPECT_TRUE(std::includes(own.begin(), own.end(), seen.begin(), seen.end())) << location << " sink-p" << sink;
      } else {
        EXPECT_EQ(seen, own) << location << " sink-p" << sink;  // 200 stories fill every bucket
      }
    }
  }
}

}  // namespace
}  // namespace watershed::stream
