// The erasure's processor-state step and its locks (docs/governance.md
// "Erasure"): real checkpoints, cold stores and key rings in temporary
// directories, RunErasure as `watershed erase` and serve's thread run it.
#include "app/erasure.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/testing/temp_dir.h"
#include "keys/key_provider.h"
#include "keys/key_ring.h"
#include "recs/experiments.h"
#include "recs/feature_store.h"
#include "stream/checkpoint.h"
#include "stream/cold_store.h"
#include "stream/partition_processor.h"

namespace watershed::app {
namespace {

using ::watershed::testing::TempDir;

constexpr uint64_t kViewer = 0x1122334455667788;
constexpr int64_t kT0 = 1'700'000'000'000;

log::LogRecord Record(uint64_t offset, int64_t t, uint64_t story, uint64_t viewer, uint64_t event) {
  Event e;
  e.event_id = EventId::FromHiLo(viewer, event);
  e.type = EventType::kView;
  e.story_id = StoryId(story);
  e.author_id = AuthorId(story + 1);
  e.viewer_id = ViewerId(viewer);
  e.event_time = EventTimeMs(t);
  e.watch_ms = 100;
  e.region = Region::kEu;
  return {LogOffset(offset), AppendTimeMs(t), e};
}

struct Fixture {
  TempDir dir{"app_erasure"};
  std::unique_ptr<keys::KeyRing> ring;
  ErasurePaths paths;
  std::unique_ptr<ErasureStore> store;

  explicit Fixture(bool sealed) {
    paths.data_dir = dir.path() + "/data";
    paths.checkpoint_dir = dir.path() + "/checkpoints";
    paths.regions = {Region::kEu};
    if (sealed) {
      EXPECT_TRUE(keys::LocalKeyStore(dir.path() + "/keys", "eu").Create(false).ok());
      auto r = keys::KeyRing::Open(dir.path() + "/keys", "", {"eu"});
      if (!r.ok()) throw std::runtime_error(r.status().ToString());
      ring = std::move(r).value();
      paths.checkpoint_keys = ring.get();
    }
    store = std::make_unique<ErasureStore>(FileSystem::Default(), paths.data_dir);
  }

  // A partition's checkpoint as RegionProcessor saves one: the viewer in a
  // story that went cold (5) and in one still resident with an open window (42).
  void Checkpoint(uint32_t partition) {
    stream::CheckpointStore checkpoints(FileSystem::Default(), paths.checkpoint_dir, ring.get());
    auto owner = checkpoints.Claim(Region::kEu, partition);
    ASSERT_TRUE(owner.ok());
    auto key = checkpoints.LoadOrCreateHashKey(Region::kEu);
    ASSERT_TRUE(key.ok());
    stream::ProcessorOptions o;
    o.hash_key = *key;
    o.story_idle_evict_ms = 60'000;
    auto cold = stream::ColdStore::Open(FileSystem::Default(), checkpoints.RegionDir(Region::kEu), partition, *owner,
                                        "", *key, checkpoints.KeysOf(Region::kEu));
    ASSERT_TRUE(cold.ok()) << cold.status().ToString();
    stream::PartitionProcessor p(Region::kEu, partition, o);
    p.SetColdStore(cold->get());
    serve::PartitionWrite w;
    uint64_t offset = 0;
    p.Process(Record(offset++, kT0, 5, kViewer, 1));
    p.TakeWrite(&w);
    for (int64_t s = 1; s <= 200; ++s) {
      p.Process(Record(offset++, kT0 + s * 1000, 42, s % 2 ? kViewer : 7, 100 + static_cast<uint64_t>(s)));
      p.TakeWrite(&w);
    }
    ASSERT_TRUE(p.status().ok());
    ASSERT_TRUE((*cold)->Contains(5));
    stream::Checkpoint c;
    c.id = 3;
    c.next_offset = p.next_offset();
    p.Serialize(&c.state);
    auto ref = (*cold)->Commit();
    ASSERT_TRUE(ref.ok());
    c.cold = *ref;
    ASSERT_TRUE(checkpoints.Save(Region::kEu, partition, c, *owner).ok());
    (*cold)->Saved();
  }

  // {story → unique viewers} from the partition's checkpoint, and whether its state holds `viewer`;
  // then `viewer` views story 5 and 42 again: the unique counts that gives.
  struct Reloaded {
    std::map<uint64_t, uint64_t> uniques, after_return;
    bool holds = false;
    uint64_t checkpoint_id = 0;
  };
  Reloaded Reload(uint32_t partition) {
    Reloaded out;
    stream::CheckpointStore checkpoints(FileSystem::Default(), paths.checkpoint_dir, ring.get());
    auto owner = checkpoints.Claim(Region::kEu, partition);
    auto c = checkpoints.Load(Region::kEu, partition);
    EXPECT_TRUE(owner.ok() && c.ok() && c->has_value());
    if (!owner.ok() || !c.ok() || !c->has_value()) return out;
    out.checkpoint_id = (*c)->id;
    stream::ProcessorOptions o;
    o.hash_key = checkpoints.LoadOrCreateHashKey(Region::kEu).value();
    o.story_idle_evict_ms = 60'000;
    auto cold = stream::ColdStore::Open(FileSystem::Default(), checkpoints.RegionDir(Region::kEu), partition, *owner,
                                        (*c)->cold, *o.hash_key, checkpoints.KeysOf(Region::kEu));
    EXPECT_TRUE(cold.ok()) << cold.status().ToString();
    if (!cold.ok()) return out;
    stream::PartitionProcessor p(Region::kEu, partition, o);
    p.SetColdStore(cold->get());
    EXPECT_TRUE(p.Restore((*c)->state).ok());
    out.holds = p.HoldsViewer(ViewerId(kViewer));
    serve::PartitionWrite w;
    p.FullWrite(&w);
    for (const auto& s : w.stories) out.uniques[s.story.value] = s.totals.unique_viewers;
    uint64_t offset = p.next_offset().value;
    p.Process(Record(offset++, kT0 + 201'000, 5, kViewer, 9001));
    p.Process(Record(offset++, kT0 + 202'000, 42, kViewer, 9002));
    p.TakeWrite(&w);
    for (const auto& s : w.stories) out.after_return[s.story.value] = s.totals.unique_viewers;
    return out;
  }

  Result<ErasureRequest> Request() { return store->Create(kViewer, "cli", kT0); }
};

// With the server stopped: every viewer set and the cold story lose the id,
// the published unique counts stay, and --verify finds nothing in the
// checkpoints. Sealed checkpoints and cold stores (encryption = on) and
// plaintext ones alike.
void ErasesOffline(bool sealed) {
  Fixture f(sealed);
  f.Checkpoint(0);
  f.Checkpoint(3);
  const Fixture::Reloaded before = f.Reload(0);
  ASSERT_TRUE(before.holds);
  ASSERT_EQ(before.uniques.at(5), 1u);
  ASSERT_EQ(before.uniques.at(42), 2u);
  auto found = FindViewer(FileSystem::Default(), f.paths, kViewer, kT0);
  ASSERT_TRUE(found.ok());
  size_t listed = 0, cold = 0;
  for (const Occurrence& o : *found) {
    listed += o.store == "checkpoint" && o.note.find("processor state holds") == 0;
    cold += o.store == "checkpoint" && o.note.find("cold store: stories") == 0 && o.rows == 1;
  }
  EXPECT_EQ(listed, 2u) << "verify does not see both checkpoints holding the viewer";
  EXPECT_GE(cold, 2u) << "verify does not see both cold stores holding the viewer (sealed ones opened)";

  auto r = f.Request();
  ASSERT_TRUE(r.ok());
  std::vector<std::string> log;
  Status s = RunErasure(FileSystem::Default(), f.paths, f.store.get(), &*r,
                        [&](const std::string& line) { log.push_back(line); });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(r->complete);
  EXPECT_EQ(r->done, (std::vector<std::string>{"checkpoints eu p0", "checkpoints eu p3", "checkpoints eu"}));
  const ErasureReceipt receipt = MakeReceipt(FileSystem::Default(), f.paths, *r, kT0);
  for (const auto& rem : receipt.remains) EXPECT_NE(rem.store, "processor state") << rem.what;

  // Before any reload (which copies the cold store to a file of its own).
  found = FindViewer(FileSystem::Default(), f.paths, kViewer, kT0);
  ASSERT_TRUE(found.ok());
  // Every file scanned (sealed ones opened with the checkpoints' keys): nothing left.
  for (const Occurrence& o : *found) EXPECT_NE(o.store, "checkpoint") << o.path << ": " << o.note;
  for (uint32_t p : {0u, 3u}) {
    const Fixture::Reloaded after = f.Reload(p);
    EXPECT_FALSE(after.holds) << p;
    EXPECT_EQ(after.uniques, before.uniques) << "a published count changed";
    EXPECT_EQ(after.checkpoint_id, 3u);
    // Nothing remembers them: they are new to both stories, the cold one too.
    EXPECT_EQ(after.after_return.at(5), 2u);
    EXPECT_EQ(after.after_return.at(42), 3u);
  }
}

// A checkpoint writer killed after writing its temporary leaves the whole
// state in it (p<N>.ckpt.tmp.<pid>), also of a partition with no checkpoint
// yet: --verify lists it, the erasure removes it.
TEST(ErasureCheckpointTest, CrashedWritersTemporariesAreListedAndRemoved) {
  Fixture f(false);
  f.Checkpoint(0);
  const std::string region_dir = f.paths.checkpoint_dir + "/eu";
  const std::string state = ReadWholeFile(FileSystem::Default(), region_dir + "/p000.ckpt").value();
  for (const char* name : {"p000.ckpt.tmp.999999", "p005.ckpt.tmp.999999"})
    ASSERT_TRUE(WriteFileAtomically(FileSystem::Default(), region_dir + "/" + name, state).ok());
  auto temporaries = [&] {
    size_t n = 0;
    const std::vector<Occurrence> found = FindViewer(FileSystem::Default(), f.paths, kViewer, kT0).value();
    for (const Occurrence& o : found) n += o.path.find(".ckpt.tmp.") != std::string::npos;
    return n;
  };
  EXPECT_EQ(temporaries(), 2u);
  auto r = f.Request();
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(RunErasure(FileSystem::Default(), f.paths, f.store.get(), &*r, [](const std::string&) {}).ok());
  EXPECT_EQ(temporaries(), 0u);
  EXPECT_FALSE(FileSystem::Default()->FileExists(region_dir + "/p005.ckpt.tmp.999999"));
  EXPECT_FALSE(FileSystem::Default()->FileExists(region_dir + "/p005.ckpt")) << "no checkpoint is made up";
  const std::vector<Occurrence> left = FindViewer(FileSystem::Default(), f.paths, kViewer, kT0).value();
  for (const Occurrence& o : left) EXPECT_NE(o.store, "checkpoint") << o.path << ": " << o.note;
}

TEST(ErasureCheckpointTest, PlaintextCheckpointsAndColdStoresLoseTheIdButNotTheCounts) { ErasesOffline(false); }
TEST(ErasureCheckpointTest, SealedCheckpointsAndColdStoresLoseTheIdButNotTheCounts) { ErasesOffline(true); }

// A server holds the processors' lock: the step is refused with the reason,
// the request stays unfinished and its receipt says what remains; once the
// server is gone, a resume finishes it.
TEST(ErasureCheckpointTest, ARunningServerLeavesTheStepRecordedAsRemaining) {
  Fixture f(false);
  f.Checkpoint(1);
  auto r = f.Request();
  ASSERT_TRUE(r.ok());
  {
    auto serving = ProcessorsLock::Shared(f.paths.checkpoint_dir + "/eu");
    ASSERT_TRUE(serving.ok() && *serving);
    Status s = RunErasure(FileSystem::Default(), f.paths, f.store.get(), &*r, [](const std::string&) {});
    EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(s.message().find("a running `watershed serve` holds them"), std::string::npos) << s.ToString();
    EXPECT_FALSE(r->complete);
    const ErasureReceipt receipt = MakeReceipt(FileSystem::Default(), f.paths, *r, kT0);
    bool remains = false;
    for (const auto& rem : receipt.remains) remains = remains || rem.store == "processor state";
    EXPECT_TRUE(remains);
    EXPECT_FALSE(receipt.last_copy_expires_ms);
    EXPECT_TRUE(f.Reload(1).holds);
  }
  Status s = RunErasure(FileSystem::Default(), f.paths, f.store.get(), &*r, [](const std::string&) {});
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(r->complete);
  EXPECT_FALSE(f.Reload(1).holds);
}

// The recommendations' state as `watershed erase` finds it with no server: the embedded feature store's snapshot
// and the exposure logs lose the viewer (and only the viewer); while a server holds <data-dir>/recs the step is
// refused with the reason and the files stay as they are.
TEST(ErasureRecsTest, TheFeatureSnapshotAndTheExposureLogsLoseTheViewerOnly) {
  Fixture f(false);
  FileSystem* fs = FileSystem::Default();
  f.paths.recs_dir = f.paths.data_dir + "/recs";
  f.paths.feature_snapshot = f.paths.recs_dir + "/features.snap";
  f.paths.exposures_dir = f.paths.recs_dir + "/exposures";
  {
    auto features = recs::EmbeddedFeatureStore::Create({});
    ASSERT_TRUE(features.ok());
    for (uint64_t viewer : {kViewer, uint64_t{7}, kViewer})
      ASSERT_TRUE((*features)->Apply({viewer, 10, kT0 + static_cast<int64_t>(viewer % 5), 1}).ok());
    ASSERT_TRUE(CreateDirsDurably(fs, f.paths.recs_dir).ok());
    ASSERT_TRUE((*features)->SaveSnapshot(fs, f.paths.feature_snapshot).ok());
    auto log = recs::ExposureWriter::Open(fs, f.paths.exposures_dir, "seeds");
    ASSERT_TRUE(log.ok());
    for (uint64_t user : {kViewer, uint64_t{7}, kViewer})
      ASSERT_TRUE((*log)->Append({"r" + std::to_string(user % 97), user, "seeds", "control", kT0, {10}}).ok());
  }
  auto found = FindViewer(fs, f.paths, kViewer, kT0);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  std::map<std::string, int64_t> rows;
  for (const Occurrence& o : *found) rows[o.store] = o.rows;
  EXPECT_EQ(rows, (std::map<std::string, int64_t>{{"exposures", 2}, {"feature-store", 1}}));

  auto r = f.Request();
  ASSERT_TRUE(r.ok());
  {
    auto serving = ProcessorsLock::Shared(f.paths.recs_dir);
    ASSERT_TRUE(serving.ok() && *serving);
    Status s = RunErasure(fs, f.paths, f.store.get(), &*r, [](const std::string&) {});
    EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(s.message().find("owned by a running `watershed serve`"), std::string::npos) << s.ToString();
    EXPECT_FALSE(r->complete);
    EXPECT_EQ(FindViewer(fs, f.paths, kViewer, kT0)->size(), 2u);
  }
  Status s = RunErasure(fs, f.paths, f.store.get(), &*r, [](const std::string&) {});
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(r->complete);
  found = FindViewer(fs, f.paths, kViewer, kT0);
  ASSERT_TRUE(found.ok());
  EXPECT_TRUE(found->empty()) << found->front().store << " " << found->front().path;
  auto features = recs::EmbeddedFeatureStore::Restore(fs, f.paths.feature_snapshot);
  ASSERT_TRUE(features.ok());
  EXPECT_FALSE((*features)->HoldsViewer(kViewer).value());
  EXPECT_TRUE((*features)->HoldsViewer(7).value());
  EXPECT_EQ((*features)->Item(10, kT0 + 10)->popularity, 3u);  // the items' counts stay, anonymous
  EXPECT_EQ(recs::CountUserExposures(fs, f.paths.exposures_dir, 7).value(), 1u);
  const ErasureReceipt receipt = MakeReceipt(fs, f.paths, *r, kT0);
  for (const auto& rem : receipt.remains) EXPECT_TRUE(rem.expires_ms.has_value()) << rem.store << ": " << rem.what;
}

// In serve the running processors' state goes first; their checkpoint commits the lake's buffered rows, so lake
// steps recorded before (by the CLI) run again. A server that does not process every partition (a consumer group)
// skips the step and the run goes on to the checkpoint files.
TEST(ErasureServeTest, TheProcessorsGoFirstAndSendTheLakeStepsAgain) {
  Fixture f(false);
  f.Checkpoint(1);
  auto r = f.Request();
  ASSERT_TRUE(r.ok());
  r->done = {"lake eu/events rewrite", "lake eu/events expire"};
  ASSERT_TRUE(f.store->Save(*r).ok());
  int calls = 0;
  f.paths.erase_processor_state = [&](Region region, uint64_t viewer) {
    EXPECT_EQ(region, Region::kEu);
    EXPECT_EQ(viewer, kViewer);
    ++calls;
    return Result<stream::PartitionProcessor::ErasedViewer>(stream::PartitionProcessor::ErasedViewer{3, 2, 1});
  };
  std::vector<std::string> lines;
  Status s = RunErasure(FileSystem::Default(), f.paths, f.store.get(), &*r,
                        [&](const std::string& line) { lines.push_back(line); });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(calls, 1);
  ASSERT_FALSE(lines.empty());
  EXPECT_TRUE(lines[0].starts_with("checkpoints eu: 3 viewer sets")) << lines[0];
  for (const std::string& d : r->done) EXPECT_FALSE(d.starts_with("lake eu/")) << d;
  EXPECT_TRUE(r->complete);
  EXPECT_TRUE(f.Reload(1).holds);  // the hook stood in for the processors: the files were not touched

  auto again = f.store->Create(kViewer + 1, "cli", kT0);
  ASSERT_TRUE(again.ok());
  f.paths.erase_processor_state = [&](Region, uint64_t) {
    return Result<stream::PartitionProcessor::ErasedViewer>(Status::FailedPrecondition("owns 1 of the log's 4"));
  };
  lines.clear();
  s = RunErasure(FileSystem::Default(), f.paths, f.store.get(), &*again,
                 [&](const std::string& line) { lines.push_back(line); });
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0], "checkpoints eu: owns 1 of the log's 4");
  EXPECT_TRUE(again->complete);  // by the checkpoint-file step (no server holds them here)
}

// Two processes resuming one request (serve's thread and `watershed erase`):
// the second waits for the first and reads its steps back, so it neither
// runs them again nor fails on the first's locks.
TEST(ErasureLockTest, ASecondRunOfTheSameRequestWaitsAndFindsItDone) {
  Fixture f(false);
  f.Checkpoint(0);
  auto r = f.Request();
  ASSERT_TRUE(r.ok());
  ErasureRequest stale = *r;  // what the other process read before this one ran
  ErasureStore other_store(FileSystem::Default(), f.paths.data_dir);
  std::vector<std::string> other_log;
  Status other_status;
  std::thread other;
  Status s = RunErasure(FileSystem::Default(), f.paths, f.store.get(), &*r, [&](const std::string&) {
    if (other.joinable()) return;
    other = std::thread([&] {
      other_status = RunErasure(FileSystem::Default(), f.paths, &other_store, &stale,
                                [&](const std::string& line) { other_log.push_back(line); });
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the other run starts meanwhile
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_TRUE(other.joinable());
  other.join();
  EXPECT_TRUE(other_status.ok()) << other_status.ToString();
  EXPECT_TRUE(other_log.empty()) << "the second run redid " << other_log.front();
  EXPECT_TRUE(stale.complete);
}

// Two processes recording the same viewer's erasure at once make one request.
TEST(ErasureLockTest, ConcurrentRequestsForOneViewerMakeOne) {
  Fixture f(false);
  std::vector<std::string> ids(8);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < ids.size(); ++i)
    threads.emplace_back([&, i] {
      ErasureStore store(FileSystem::Default(), f.paths.data_dir);
      auto r = store.Create(kViewer, "cli", kT0 + static_cast<int64_t>(i));
      if (r.ok()) ids[i] = r->id;
    });
  for (auto& t : threads) t.join();
  for (const std::string& id : ids) EXPECT_EQ(id, ids[0]);
  auto all = f.store->List();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 1u);
}

}  // namespace
}  // namespace watershed::app
