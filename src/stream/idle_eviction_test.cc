// Idle stories leave processor memory for the cold store and come back
// unchanged: the attack (a million one-event stories), equivalence with a
// processor that never evicts, restore from a checkpoint whose cold file grew
// after it, and damage to the cold file.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/testing/temp_dir.h"
#include "stream/cold_store.h"
#include "stream/partition_processor.h"
#include "stream/testing/truth_compare.h"

namespace watershed::stream {
namespace {

using ::watershed::stream::testing::StoreModel;
using ::watershed::testing::TempDir;

constexpr HashKey kKey{0x1111, 0x2222};
constexpr int64_t kT0 = 1'700'000'000'000;

log::LogRecord Record(uint64_t offset, int64_t append_ms, uint64_t story, uint64_t viewer, uint64_t event,
                      int64_t event_ms, EventType type = EventType::kView) {
  Event e;
  e.event_id = EventId::FromHiLo(viewer, event);
  e.type = type;
  e.story_id = StoryId(story);
  e.author_id = AuthorId(story % 7 + 1);
  e.viewer_id = ViewerId(viewer);
  e.event_time = EventTimeMs(event_ms);
  e.watch_ms = type == EventType::kView ? 250 : 0;
  e.region = Region::kUs;
  return {LogOffset(offset), AppendTimeMs(append_ms), e};
}

ProcessorOptions Options(int64_t idle_ms) {
  ProcessorOptions o;
  o.hash_key = kKey;
  o.story_idle_evict_ms = idle_ms;
  return o;
}

// A processor with its cold store in `dir`, checkpointed as RegionProcessor does.
struct Evicting {
  std::string dir;
  uint64_t owner;
  std::unique_ptr<ColdStore> cold;
  std::unique_ptr<PartitionProcessor> proc;
  Evicting(std::string d, uint64_t o, const ProcessorOptions& options, std::string_view ref = {},
           std::string_view state = {})
      : dir(std::move(d)), owner(o) {
    auto opened = ColdStore::Open(FileSystem::Default(), dir, 0, owner, ref, kKey);
    EXPECT_TRUE(opened.ok()) << opened.status().ToString();
    cold = std::move(opened.value());
    proc = std::make_unique<PartitionProcessor>(Region::kUs, 0, options);
    proc->SetColdStore(cold.get());
    if (!state.empty()) {
      Status restored = proc->Restore(state);
      EXPECT_TRUE(restored.ok()) << restored.ToString();
    }
  }
  // {state, cold reference}
  std::pair<std::string, std::string> Checkpoint(bool compact = false) {
    std::string state;
    proc->Serialize(&state);
    auto ref = cold->Commit(compact);
    EXPECT_TRUE(ref.ok()) << ref.status().ToString();
    cold->Saved();
    return {state, ref.value()};
  }
};

// The attack of issue 18: one viewer makes many stories (300k here: 300 s of
// the gateway's rate for one token at 1000/s; bench/state_bench runs 10 M), one event each,
// then honest traffic goes on. Stories idle for the configured time leave
// memory, so the resident set and the checkpoint shrink back to the honest
// traffic's. With eviction off (the behaviour before it existed) every story
// stays resident and in every checkpoint: this test then fails.
TEST(IdleEvictionTest, ManyOneEventStoriesDoNotStayInMemoryOrInCheckpoints) {
  TempDir dir("evict_attack");
  ProcessorOptions options = Options(60'000);
  options.dedup_ttl_ms = 300'000;  // so that the dedup ring (bounded by its TTL) is small too
  options.retention_5s_ms = options.retention_1m_ms = 120'000;  // likewise the closed windows
  Evicting p(dir.path(), 1, options);
  serve::PartitionWrite w;
  uint64_t offset = 0;
  constexpr uint64_t kAttack = 300'000;
  std::vector<log::LogRecord> batch;
  // 1 ms of append time apart: 300 s of attack.
  for (uint64_t i = 0; i < kAttack; ++i) {
    const int64_t t = kT0 + static_cast<int64_t>(i);
    batch.push_back(Record(offset++, t, 1'000'000 + i * 7919, 666, i, t));
    if (batch.size() == 8192) {
      p.proc->ProcessBatch(batch);
      p.proc->TakeWrite(&w);
      batch.clear();
    }
  }
  p.proc->ProcessBatch(batch);
  p.proc->TakeWrite(&w);
  ASSERT_TRUE(p.proc->status().ok());
  // Honest traffic: one story, one event a second for 10 minutes.
  const int64_t end = kT0 + kAttack;
  for (int64_t s = 1; s <= 600; ++s) {
    const int64_t t = end + s * 1000;
    p.proc->Process(Record(offset++, t, 42, 7, 10'000'000 + s, t));
    p.proc->TakeWrite(&w);
  }
  ASSERT_TRUE(p.proc->status().ok()) << p.proc->status().ToString();
  EXPECT_LE(p.proc->resident_stories(), 1u);
  EXPECT_EQ(p.cold->size(), kAttack);
  auto [state, ref] = p.Checkpoint();
  EXPECT_LT(state.size(), 64u << 10) << "the checkpoint still holds the idle stories";
  // Every attacking story is still answered exactly: a restart republishes it from the cold store.
  Evicting restored(dir.path(), 2, options, ref, state);
  serve::PartitionWrite full;
  restored.proc->FullWrite(&full);
  ASSERT_TRUE(restored.proc->status().ok());
  EXPECT_EQ(full.stories.size(), kAttack + 1);
  // One comes back with its next event, its unique viewer counted once.
  restored.proc->Process(Record(offset++, end + 601'000, 1'000'000 + 5 * 7919, 666, 99'999'999, end + 601'000));
  restored.proc->TakeWrite(&w);
  ASSERT_EQ(w.stories.size(), 1u);
  EXPECT_EQ(w.stories[0].totals.views, 2u);
  EXPECT_EQ(w.stories[0].totals.unique_viewers, 1u);
  EXPECT_EQ(restored.proc->reloaded_total(), 1u);
}

// A re-sent event of a cold story is a duplicate: it must not bring the story
// back (a read, then a rewrite at the next eviction) for nothing.
TEST(IdleEvictionTest, ADuplicateDoesNotBringAColdStoryBack) {
  TempDir dir("evict_duplicate");
  ProcessorOptions options = Options(60'000);
  Evicting p(dir.path(), 1, options);
  serve::PartitionWrite w;
  p.proc->Process(Record(0, kT0, 5, 9, 1, kT0));
  p.proc->TakeWrite(&w);
  for (int64_t s = 1; s <= 200; ++s) {  // other traffic, until story 5 is idle and closed
    p.proc->Process(Record(static_cast<uint64_t>(s), kT0 + s * 1000, 42, 7, 100 + s, kT0 + s * 1000));
    p.proc->TakeWrite(&w);
  }
  ASSERT_TRUE(p.cold->Contains(5));
  EXPECT_FALSE(p.proc->Process(Record(201, kT0 + 201'000, 5, 9, 1, kT0)));  // the same event again
  p.proc->TakeWrite(&w);
  EXPECT_EQ(p.proc->reloaded_total(), 0u);
  EXPECT_EQ(p.proc->counters().duplicates, 1u);
  EXPECT_TRUE(w.stories.empty());
  EXPECT_TRUE(p.cold->Contains(5));
  // A new event of that story still brings it back, with its totals.
  EXPECT_TRUE(p.proc->Process(Record(202, kT0 + 202'000, 5, 9, 2, kT0 + 202'000)));
  p.proc->TakeWrite(&w);
  EXPECT_EQ(p.proc->reloaded_total(), 1u);
  ASSERT_FALSE(w.stories.empty());
  EXPECT_EQ(w.stories[0].totals.views, 2u);
}

// Random traffic over a few hundred stories with idle gaps, duplicates, late
// and early events: a processor that evicts (TakeWrite at another cadence,
// checkpointed and restored along the way) writes exactly what one that
// never evicts writes, and its checkpoints do not depend on where they fell.
TEST(IdleEvictionTest, EvictingGivesTheAnswersOfNeverEvicting) {
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    SCOPED_TRACE(seed);
    std::mt19937_64 rng(seed);
    std::vector<log::LogRecord> records;
    int64_t now = kT0;
    for (uint64_t i = 0; i < 6000; ++i) {
      // Mostly busy, sometimes a lull long enough for stories to go idle.
      now += rng() % 50 == 0 ? static_cast<int64_t>(rng() % 400'000) : static_cast<int64_t>(rng() % 500);
      const uint64_t story = rng() % 8 == 0 ? 1 + rng() % 300 : 1 + rng() % 12;
      const uint64_t viewer = 1 + rng() % 40;
      const uint64_t event = rng() % 10 == 0 && i > 0 ? i - 1 - rng() % std::min<uint64_t>(i, 50) : i;  // retries
      const int64_t event_ms = now - static_cast<int64_t>(rng() % 90'000) + 10'000;
      records.push_back(Record(i, now, story, viewer, event, event_ms, static_cast<EventType>(rng() % 3)));
    }
    ProcessorOptions never = Options(0);
    never.retention_5s_ms = 120'000;
    never.retention_1m_ms = 600'000;
    ProcessorOptions evicting = never;
    evicting.story_idle_evict_ms = 30'000;

    PartitionProcessor reference(Region::kUs, 0, never);
    StoreModel want;
    serve::PartitionWrite w;
    for (size_t i = 0; i < records.size(); ++i) {
      reference.Process(records[i]);
      if (rng() % 7 == 0) reference.TakeWrite(&w), want.Apply(w);
    }
    reference.TakeWrite(&w), want.Apply(w);

    TempDir dir("evict_equiv");
    auto run = [&](size_t restore_at, size_t crash_after) {
      // Checkpoint at restore_at; the run goes on to crash_after (its cold file
      // growing past the checkpoint), then a new owner restores and replays.
      auto p = std::make_unique<Evicting>(dir.path(), 1, evicting);
      StoreModel got;
      std::pair<std::string, std::string> checkpoint;
      size_t i = 0;
      for (; i < crash_after; ++i) {
        if (i == restore_at) {  // checkpoints follow a TakeWrite, as RegionProcessor's do
          p->proc->TakeWrite(&w), got.Apply(w);
          checkpoint = p->Checkpoint();
        }
        p->proc->Process(records[i]);
        if (i % 13 == 0 || i + 1 == crash_after) p->proc->TakeWrite(&w), got.Apply(w);
      }
      auto q = std::make_unique<Evicting>(dir.path(), 2, evicting, checkpoint.second, checkpoint.first);
      serve::PartitionWrite full;
      q->proc->FullWrite(&full);
      got.Apply(full);
      for (i = restore_at; i < records.size(); ++i) {
        q->proc->Process(records[i]);
        if (i % 17 == 0) q->proc->TakeWrite(&w), got.Apply(w);
      }
      q->proc->TakeWrite(&w), got.Apply(w);
      EXPECT_TRUE(q->proc->status().ok()) << q->proc->status().ToString();
      EXPECT_GT(q->proc->evicted_total(), 0u);
      EXPECT_GT(q->proc->reloaded_total(), 0u);
      StoreModel restarted;  // what a restart would republish
      q->proc->FullWrite(&full);
      restarted.Apply(full);
      EXPECT_EQ(restarted, want);
      std::string state;
      q->proc->Serialize(&state);
      return std::make_pair(got, state);
    };
    const auto [got1, state1] = run(records.size() / 3, records.size() / 2);
    EXPECT_TRUE(got1 == want);
    const auto [got2, state2] = run(records.size() / 5, records.size() - 1);
    EXPECT_TRUE(got2 == want);
    EXPECT_EQ(state1, state2) << "the state depends on where checkpoints fell";
  }
}

TEST(IdleEvictionTest, DamagedColdFileIsCorruptionNotAReset) {
  TempDir dir("evict_damage");
  Evicting p(dir.path(), 1, Options(1000));
  serve::PartitionWrite w;
  for (uint64_t i = 0; i < 50; ++i) p.proc->Process(Record(i, kT0, 100 + i, 1, i, kT0));
  p.proc->TakeWrite(&w);
  p.proc->Process(Record(50, kT0 + 200'000, 1, 1, 50, kT0 + 200'000));
  p.proc->TakeWrite(&w);  // the 50 stories go cold
  ASSERT_EQ(p.cold->size(), 50u);
  auto [state, ref] = p.Checkpoint();
  std::string file;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) file = e.path().string();
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('\x7f');
  }
  // A new owner refuses to start from it...
  auto opened = ColdStore::Open(FileSystem::Default(), dir.path(), 0, 2, ref, kKey);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), StatusCode::kCorruption);
  EXPECT_NE(opened.status().message().find("damaged at byte"), std::string::npos) << opened.status().ToString();
  // ...and the running owner stops at the record whose story it cannot read back.
  uint64_t offset = 51;
  for (; offset < 101; ++offset) {
    p.proc->Process(Record(offset, kT0 + 201'000, 100 + offset - 51, 2, offset, kT0 + 201'000));
    if (!p.proc->status().ok()) break;
  }
  ASSERT_LT(offset, 101u) << "no story's damaged record was noticed";
  EXPECT_EQ(p.proc->status().code(), StatusCode::kCorruption);
  // The record whose story could not come back is not consumed, nor anything after it.
  EXPECT_EQ(p.proc->next_offset().value, offset);
  EXPECT_FALSE(p.proc->Process(Record(offset, kT0 + 201'000, 1, 2, 1, kT0 + 201'000)));
  EXPECT_EQ(p.proc->next_offset().value, offset);
}

// Erasure of a viewer from a processor's state (docs/governance.md
// "Erasure"): the id leaves every viewer set — of a resident story, its open
// window and a cold story — and the dedup table, while every unique count
// already published stays; after the checkpoint no file beside it holds the
// old records. The viewer coming back is then a new viewer.
TEST(IdleEvictionTest, EraseViewerForgetsTheIdButKeepsPublishedCounts) {
  TempDir dir("evict_erase");
  constexpr uint64_t kErased = 0x1122334455667788;
  const std::string word(reinterpret_cast<const char*>(&kErased), 8);  // little-endian, as checkpoints store it
  ProcessorOptions options = Options(60'000);
  Evicting p(dir.path(), 1, options);
  serve::PartitionWrite w;
  uint64_t offset = 0;
  p.proc->Process(Record(offset++, kT0, 5, kErased, 1, kT0));  // story 5: goes cold
  p.proc->TakeWrite(&w);
  for (int64_t s = 1; s <= 200; ++s) {
    const int64_t t = kT0 + s * 1000;
    p.proc->Process(Record(offset++, t, 42, s % 2 ? kErased : 7, 100 + static_cast<uint64_t>(s), t));
    p.proc->TakeWrite(&w);
  }
  ASSERT_TRUE(p.proc->status().ok());
  ASSERT_TRUE(p.cold->Contains(5));
  auto [state1, ref1] = p.Checkpoint();
  ASSERT_NE(state1.find(word), std::string::npos);  // the test's premise

  Evicting q(dir.path(), 2, options, ref1, state1);
  serve::PartitionWrite before, after;
  q.proc->FullWrite(&before);
  EXPECT_TRUE(q.proc->HoldsViewer(ViewerId(kErased)));
  auto erased = q.proc->EraseViewer(ViewerId(kErased));
  ASSERT_TRUE(erased.ok()) << erased.status().ToString();
  EXPECT_GE(erased->sets, 2u);  // story 42's totals and its open window at least
  EXPECT_EQ(erased->cold_stories, 1u);
  EXPECT_GE(erased->dedup_entries, 2u);
  EXPECT_EQ(q.proc->EraseViewer(ViewerId(kErased))->sets, 0u);  // idempotent
  EXPECT_FALSE(q.proc->HoldsViewer(ViewerId(kErased)));
  EXPECT_TRUE(q.proc->HoldsViewer(ViewerId(7)));
  q.proc->FullWrite(&after);
  auto uniques = [](const serve::PartitionWrite& x) {
    std::map<uint64_t, uint64_t> out;
    for (const auto& s : x.stories) out[s.story.value] = s.totals.unique_viewers;
    return out;
  };
  EXPECT_EQ(uniques(after), uniques(before));
  EXPECT_EQ(uniques(after)[5], 1u);
  EXPECT_EQ(uniques(after)[42], 2u);
  auto [state2, ref2] = q.Checkpoint(/*compact=*/true);
  EXPECT_EQ(state2.find(word), std::string::npos);
  for (const auto& f : std::filesystem::directory_iterator(dir.path()))
    EXPECT_NE(f.path().filename().string().find(".cold.2."), std::string::npos) << f.path() << " was left";

  Evicting r(dir.path(), 3, options, ref2, state2);
  // An event of theirs within the dedup TTL counts again: its entry is gone.
  EXPECT_TRUE(r.proc->Process(Record(offset++, kT0 + 201'000, 42, kErased, 101, kT0 + 201'000)));
  EXPECT_TRUE(r.proc->Process(Record(offset++, kT0 + 202'000, 5, kErased, 2, kT0 + 202'000)));
  r.proc->TakeWrite(&w);
  ASSERT_TRUE(r.proc->status().ok()) << r.proc->status().ToString();
  EXPECT_EQ(uniques(w)[42], 3u);  // no set knew the id any more
  EXPECT_EQ(uniques(w)[5], 2u);   // nor the cold story's
}

}  // namespace
}  // namespace watershed::stream
