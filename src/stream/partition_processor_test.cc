#include "stream/partition_processor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "core/endian.h"
#include "stream/testing/truth_compare.h"
#include "workload/generator.h"
#include "workload/truth.h"

namespace watershed::stream {
namespace {

using serve::WindowSize;
using ::watershed::stream::testing::Diff;
using ::watershed::stream::testing::Dump;
using ::watershed::stream::testing::FromTruth;
using ::watershed::stream::testing::StoreModel;

constexpr uint32_t kPartitions = 4;
// The events of one partition as a legacy log holds them (the workload's
// sizes below were chosen with it; any scheme would do).
constexpr PartitionScheme kScheme = PartitionScheme::kLegacy;
constexpr uint32_t kPartition = 1;
constexpr int64_t kAppendBase = 1'700'000'000'000;

Event MakeEvent(uint64_t n, uint64_t story, int64_t t, EventType type = EventType::kView, uint64_t viewer = 1,
                uint32_t watch = 100) {
  Event e;
  e.event_id = EventId::FromHiLo(0xabcd, n);
  e.type = type;
  e.story_id = StoryId(story);
  e.author_id = AuthorId(story * 10);
  e.viewer_id = ViewerId(viewer);
  e.event_time = EventTimeMs(t);
  e.watch_ms = type == EventType::kView ? watch : 0;
  e.region = Region::kUs;
  return e;
}

// Log records for `events` at offsets 0.., 10 ms of append time apart.
std::vector<log::LogRecord> ToRecords(const std::vector<Event>& events) {
  std::vector<log::LogRecord> records;
  records.reserve(events.size());
  for (size_t i = 0; i < events.size(); ++i)
    records.push_back({LogOffset(i), AppendTimeMs(kAppendBase + static_cast<int64_t>(i) * 10), events[i]});
  return records;
}

// The events of (us, kPartition) from a generated workload, in generation
// order, with repeats of earlier events (client retries) mixed in.
std::vector<Event> PartitionEvents(uint64_t seed, size_t generated) {
  workload::WorkloadOptions w;
  w.seed = seed;
  w.stories = 300;
  w.viewers = 20'000;
  w.event_time_rate = 200;  // 400 s of event time for 80k events: many windows close
  w.late_fraction = 0.03;
  workload::Generator gen(w);
  std::mt19937_64 rng(seed);
  std::vector<Event> out;
  for (size_t i = 0; i < generated; ++i) {
    Event e = gen.Next();
    if (e.region != Region::kUs || PartitionOf(e.story_id, kPartitions, kScheme) != kPartition) continue;
    out.push_back(e);
    if (rng() % 20 == 0) {  // a recent repeat
      out.push_back(out[out.size() - 1 - rng() % std::min<size_t>(out.size(), 50)]);
    } else if (rng() % 50 == 0) {  // a repeat of an event whose windows are likely closed by now
      out.push_back(out[out.size() - 1 - rng() % std::min<size_t>(out.size(), 3'000)]);
    }
  }
  return out;
}

StoreModel FromWrite(const serve::PartitionWrite& w) {
  StoreModel m;
  for (const auto& s : w.stories) EXPECT_TRUE(m.stories.emplace(s.story.value, std::pair(s.author.value, s.totals)).second);
  for (const auto& u : w.windows)
    EXPECT_TRUE(m.windows.emplace(workload::WindowKey{u.key.story.value, serve::WindowMs(u.key.size), u.key.start},
                                  std::pair(u.agg, u.final))
                    .second);
  return m;
}

workload::Truth TruthOf(const std::vector<Event>& events) {
  workload::TruthOptions o;
  o.partitions = kPartitions;
  o.partition_scheme = kScheme;
  workload::TruthBuilder b(o);
  for (const Event& e : events) b.Add(e);
  return b.Finish();
}

class PartitionProcessorTest : public ::testing::Test {
 protected:
  PartitionProcessor NewProcessor() { return PartitionProcessor(Region::kUs, kPartition, options_); }
  ProcessorOptions options_;
};

// The exactly-once test: duplicates, out-of-order and late events, compared
// with the independent ground truth.
TEST_F(PartitionProcessorTest, MatchesGroundTruth) {
  const std::vector<Event> events = PartitionEvents(7, 80'000);
  const workload::Truth truth = TruthOf(events);
  ASSERT_GT(events.size(), 5'000u);
  // The workload must exercise every path.
  ASSERT_GT(truth.duplicates, 100u);
  ASSERT_GT(truth.late_5s, 20u);
  ASSERT_GT(truth.late_1m, 5u);
  size_t finals = 0;
  for (const auto& [k, w] : truth.windows) finals += w.final;
  ASSERT_GT(finals, 100u);
  ASSERT_LT(finals, truth.windows.size());

  PartitionProcessor p = NewProcessor();
  StoreModel incremental;
  serve::PartitionWrite write;
  size_t i = 0;
  for (const auto& r : ToRecords(events)) {
    p.Process(r);
    if (++i % 500 == 0) {
      p.TakeWrite(&write);
      EXPECT_EQ(write.partition, kPartition);
      EXPECT_EQ(write.as_of_ms, r.append_time.value);
      incremental.Apply(write);
    }
  }
  p.TakeWrite(&write);
  incremental.Apply(write);

  EXPECT_EQ(p.next_offset(), LogOffset(events.size()));
  EXPECT_EQ(p.counters().records, events.size());
  EXPECT_EQ(p.counters().duplicates, truth.duplicates);
  EXPECT_EQ(p.counters().late[0], truth.late_5s);
  EXPECT_EQ(p.counters().late[1], truth.late_1m);

  serve::PartitionWrite full;
  p.FullWrite(&full);
  const StoreModel want = FromTruth(truth);
  const StoreModel got = FromWrite(full);
  EXPECT_EQ(Diff(got, want), "");
  EXPECT_TRUE(got == want);
  // The incremental writes, applied in order, converge to the same values.
  EXPECT_EQ(Diff(incremental, want), "");
}

// A clock that stepped back across a restart can make append times
// decrease; dedup must still not depend on where TakeWrite (and so expiry) fell.
TEST_F(PartitionProcessorTest, DedupIsIndependentOfBatchingWhenAppendTimeGoesBack) {
  options_.dedup_ttl_ms = 100;
  const Event x = MakeEvent(1, 1, 1'000), z = MakeEvent(2, 1, 1'000);
  const std::vector<log::LogRecord> records = {
      {LogOffset(0), AppendTimeMs(0), x}, {LogOffset(1), AppendTimeMs(150), z}, {LogOffset(2), AppendTimeMs(90), x}};
  serve::PartitionWrite write;
  PartitionProcessor together = NewProcessor();
  for (const auto& r : records) together.Process(r);
  together.TakeWrite(&write);
  PartitionProcessor split = NewProcessor();
  split.Process(records[0]);
  split.Process(records[1]);
  split.TakeWrite(&write);  // expires x: 150 - 0 > ttl
  split.Process(records[2]);
  split.TakeWrite(&write);
  EXPECT_EQ(together.counters().duplicates, split.counters().duplicates);
  std::string a, b;
  together.Serialize(&a);
  split.Serialize(&b);
  EXPECT_TRUE(a == b);
}

// ProcessBatch (the prefetching path the region processor uses) is Process
// record by record: same state bytes, same writes, for any batch cut.
TEST_F(PartitionProcessorTest, ProcessBatchEqualsProcess) {
  const std::vector<log::LogRecord> records = ToRecords(PartitionEvents(5, 30'000));
  PartitionProcessor one = NewProcessor();
  for (const auto& r : records) one.Process(r);
  serve::PartitionWrite ignored;
  one.TakeWrite(&ignored);  // closes and expires as the batched runs' last TakeWrite does
  std::string want;
  one.Serialize(&want);
  serve::PartitionWrite want_write;
  one.FullWrite(&want_write);

  for (size_t batch : {1u, 3u, 9u, 700u, 100'000u}) {
    PartitionProcessor p = NewProcessor();
    serve::PartitionWrite write;
    for (size_t at = 0; at < records.size(); at += batch) {
      std::vector<log::LogRecord> chunk(records.begin() + static_cast<ptrdiff_t>(at),
                                        records.begin() + static_cast<ptrdiff_t>(std::min(at + batch, records.size())));
      p.ProcessBatch(chunk);
      p.TakeWrite(&write);
    }
    std::string got;
    p.Serialize(&got);
    EXPECT_TRUE(got == want) << "state bytes differ, batch " << batch;
    serve::PartitionWrite got_write;
    p.FullWrite(&got_write);
    EXPECT_EQ(Diff(FromWrite(got_write), FromWrite(want_write)), "") << "batch " << batch;
  }
}

// Determinism: a checkpoint/restore anywhere, and TakeWrite at any cadence,
// give the same state and the same output as one uninterrupted run.
TEST_F(PartitionProcessorTest, CheckpointRestoreIsDeterministic) {
  const std::vector<Event> events = PartitionEvents(11, 40'000);
  const std::vector<log::LogRecord> records = ToRecords(events);
  const size_t n = records.size();
  ASSERT_GT(n, 2'000u);

  PartitionProcessor whole = NewProcessor();
  for (const auto& r : records) whole.Process(r);
  serve::PartitionWrite whole_write;
  whole.FullWrite(&whole_write);
  std::string whole_state;
  whole.Serialize(&whole_state);
  const StoreModel want = FromWrite(whole_write);
  EXPECT_EQ(Diff(want, FromTruth(TruthOf(events))), "");

  struct Variant {
    size_t split, chunk;
    bool take_before_checkpoint;
  };
  const Variant variants[] = {{0, 97, false},     {1, 1, true},          {n / 3, 97, false}, {n / 3, n, true},
                              {n / 2, 1, false},  {n / 2, 97, true},     {2 * n / 3, 1, true},
                              {2 * n / 3, 500, false}, {n - 1, n, false}, {n, 97, true}};
  for (const auto& [split, chunk, take_before_checkpoint] : variants) {
    {
      {
        SCOPED_TRACE("split " + std::to_string(split) + " chunk " + std::to_string(chunk) +
                     (take_before_checkpoint ? " take" : ""));
        StoreModel store;
        serve::PartitionWrite w;
        PartitionProcessor first = NewProcessor();
        for (size_t i = 0; i < split; ++i) {
          first.Process(records[i]);
          if ((i + 1) % chunk == 0) {
            first.TakeWrite(&w);
            store.Apply(w);
          }
        }
        if (take_before_checkpoint) {
          first.TakeWrite(&w);
          store.Apply(w);
        }
        std::string checkpoint;
        first.Serialize(&checkpoint);

        PartitionProcessor second = NewProcessor();
        ASSERT_TRUE(second.Restore(checkpoint).ok());
        EXPECT_EQ(second.next_offset(), LogOffset(split));
        std::string again;
        second.Serialize(&again);
        EXPECT_TRUE(again == checkpoint) << "re-serialized state differs";  // restore loses nothing
        // A restarted runner rewrites everything the checkpoint holds.
        second.FullWrite(&w);
        store.Apply(w);
        for (size_t i = split; i < n; ++i) {
          second.Process(records[i]);
          if ((i + 1) % chunk == 0) {
            second.TakeWrite(&w);
            store.Apply(w);
          }
        }
        second.TakeWrite(&w);
        store.Apply(w);
        serve::PartitionWrite full;
        second.FullWrite(&full);
        std::string state;
        second.Serialize(&state);
        EXPECT_TRUE(state == whole_state) << "state differs from the uninterrupted run";
        EXPECT_EQ(Diff(FromWrite(full), want), "");
        EXPECT_EQ(Diff(store, want), "");
        EXPECT_EQ(second.counters().records, whole.counters().records);
        EXPECT_EQ(second.counters().duplicates, whole.counters().duplicates);
        EXPECT_EQ(second.watermark(), whole.watermark());
      }
    }
  }
}

// Event ownership: an event id identifies an event of its viewer. Viewer B,
// having learned viewer A's event id, sends an event of B's own with it
// first: A's event must still count, and each viewer's retry is still dropped.
TEST_F(PartitionProcessorTest, AnotherViewerCannotSuppressAnEventById) {
  const Event a = MakeEvent(1, 5, 10'000, EventType::kView, /*viewer=*/100, /*watch=*/700);
  Event b = MakeEvent(1, 5, 10'500, EventType::kView, /*viewer=*/200, /*watch=*/30);
  ASSERT_EQ(a.event_id, b.event_id);
  PartitionProcessor p = NewProcessor();
  std::vector<bool> distinct;
  for (const auto& r : ToRecords({b, a, a, b})) distinct.push_back(p.Process(r));
  EXPECT_EQ(distinct, (std::vector<bool>{true, true, false, false}));
  EXPECT_EQ(p.counters().duplicates, 2u);
  serve::PartitionWrite full;
  p.FullWrite(&full);
  ASSERT_EQ(full.stories.size(), 1u);
  EXPECT_EQ(full.stories[0].totals.views, 2u);
  EXPECT_EQ(full.stories[0].totals.unique_viewers, 2u);
  EXPECT_EQ(full.stories[0].totals.watch_time_ms, 730u);

  // The same after a checkpoint between the two viewers' events.
  PartitionProcessor first = NewProcessor();
  const std::vector<log::LogRecord> records = ToRecords({b, a, a, b});
  first.Process(records[0]);
  std::string state;
  first.Serialize(&state);
  PartitionProcessor second = NewProcessor();
  ASSERT_TRUE(second.Restore(state).ok());
  EXPECT_TRUE(second.Process(records[1]));
  EXPECT_FALSE(second.Process(records[2]));
  EXPECT_FALSE(second.Process(records[3]));
}

// A state written before dedup keyed on the viewer (version 1) still
// restores: its ids keep matching every viewer until their TTL ends, and
// the restored processor writes the current version.
TEST_F(PartitionProcessorTest, RestoresVersion1StateWithIdOnlyDedup) {
  options_.dedup_ttl_ms = 1'000;
  std::string v1;
  auto put = [&](uint64_t v) {
    char b[8];
    PutFixed64(b, v);
    v1.append(b, 8);
  };
  const Event seen = MakeEvent(7, 5, 10'000, EventType::kView, /*viewer=*/100);
  put((uint64_t{1} << 32) | 0x4b435357);  // version 1, "WSCK"
  put(3);                                 // next offset
  put(10'000 - 5'000);                    // watermark
  put(kAppendBase);                       // last append time
  put(3), put(1), put(0), put(0);         // records, duplicates, late 5 s, late 1 min
  put(1), put(seen.event_id.Hi()), put(seen.event_id.Lo()), put(kAppendBase);  // dedup: one id
  put(0);                                                                      // no stories
  PartitionProcessor p = NewProcessor();
  ASSERT_TRUE(p.Restore(v1).ok());
  EXPECT_EQ(p.next_offset(), LogOffset(3));
  EXPECT_EQ(p.watermark(), 5'000);
  EXPECT_EQ(p.dedup_entries(), 1u);

  std::string v2;
  p.Serialize(&v2);
  EXPECT_NE(v2.substr(4, 4), v1.substr(4, 4));  // a newer version
  PartitionProcessor q = NewProcessor();
  ASSERT_TRUE(q.Restore(v2).ok());
  for (PartitionProcessor* proc : {&p, &q}) {
    Event other_viewer = seen;
    other_viewer.viewer_id = ViewerId(200);
    // Within the TTL the id matches any viewer, as when it was recorded.
    EXPECT_FALSE(proc->Process({LogOffset(3), AppendTimeMs(kAppendBase + 1'000), other_viewer}));
    EXPECT_FALSE(proc->Process({LogOffset(4), AppendTimeMs(kAppendBase + 1'000), seen}));
    // Then it is gone; from now on the key is (viewer, id).
    EXPECT_TRUE(proc->Process({LogOffset(5), AppendTimeMs(kAppendBase + 1'001), other_viewer}));
    EXPECT_TRUE(proc->Process({LogOffset(6), AppendTimeMs(kAppendBase + 1'001), seen}));
    EXPECT_FALSE(proc->Process({LogOffset(7), AppendTimeMs(kAppendBase + 1'002), seen}));
    EXPECT_EQ(proc->counters().duplicates, 4u);
    serve::PartitionWrite w;
    proc->TakeWrite(&w);
    EXPECT_EQ(proc->dedup_entries(), 2u);
  }
  std::string a, b;
  p.Serialize(&a);
  q.Serialize(&b);
  EXPECT_TRUE(a == b);
}

// A client clock running ahead: the gateway accepts event_time up to
// max-future (5 min) past its clock. One such event among honest traffic
// must not close the partition's current windows early, nor make the honest
// events that follow it late.
TEST_F(PartitionProcessorTest, FutureEventDoesNotMoveTheWatermark) {
  // Four minutes of honest traffic, 10 events a second: event time trails
  // append time by 0..1.9 s, the way clients' events reach the log, but not
  // for the last event before each TakeWrite, so that honest traffic alone
  // has the same watermark there under either bound.
  std::vector<Event> honest;
  std::vector<int64_t> append;
  for (uint64_t i = 0; i < 2'400; ++i) {
    const int64_t at = kAppendBase + static_cast<int64_t>(i) * 100;
    const int64_t delay = i % 50 == 49 ? 0 : static_cast<int64_t>(i % 20) * 100;
    honest.push_back(MakeEvent(i, 1 + i % 7, at - delay, EventType::kView, i % 50));
    append.push_back(at);
  }
  constexpr uint64_t kFutureStory = 99;
  constexpr size_t kFutureAt = 600;  // a minute in
  const Event future = MakeEvent(1'000'000, kFutureStory, append[kFutureAt] + 299'000);

  // Per honest window: the number of honest records processed when it was written final.
  using Finals = std::map<std::tuple<uint64_t, WindowSize, int64_t>, size_t>;
  auto run = [&](bool with_future, Finals* finals) {
    PartitionProcessor p = NewProcessor();
    serve::PartitionWrite w;
    uint64_t offset = 0;
    for (size_t i = 0; i < honest.size(); ++i) {
      if (with_future && i == kFutureAt) p.Process({LogOffset(offset++), AppendTimeMs(append[i]), future});
      p.Process({LogOffset(offset++), AppendTimeMs(append[i]), honest[i]});
      if ((i + 1) % 50 == 0) {
        p.TakeWrite(&w);
        for (const auto& u : w.windows)
          if (u.final && u.key.story.value != kFutureStory)
            finals->emplace(std::tuple(u.key.story.value, u.key.size, u.key.start), i + 1);
      }
    }
    return p.counters();
  };
  Finals without, with;
  const ProcessorCounters honest_only = run(false, &without);
  const ProcessorCounters attacked = run(true, &with);
  ASSERT_GT(without.size(), 100u);  // honest windows did close during the run
  EXPECT_EQ(honest_only.late[0], 0u);
  EXPECT_EQ(attacked.late[0], 0u);
  EXPECT_EQ(attacked.late[1], 0u);
  size_t early = 0;
  for (const auto& [key, when] : with) {
    auto it = without.find(key);
    if (it == without.end() || it->second != when) ++early;
  }
  EXPECT_EQ(early, 0u) << "honest windows written final at another point than without the future event";
  EXPECT_EQ(with.size(), without.size());
}

// While the append-time bound holds the watermark back, the max event time
// is state the watermark no longer gives: a restore anywhere must carry it.
TEST_F(PartitionProcessorTest, RestoreCarriesMaxEventTimeAheadOfAppendTime) {
  std::vector<log::LogRecord> records;
  for (uint64_t i = 0; i < 1'000; ++i) {
    const int64_t at = kAppendBase + static_cast<int64_t>(i) * 100;
    // Every 100th event from a clock 4 minutes ahead.
    const int64_t t = i % 100 == 7 ? at + 240'000 : at - static_cast<int64_t>(i % 13) * 100;
    records.push_back({LogOffset(i), AppendTimeMs(at), MakeEvent(i, 1 + i % 5, t, EventType::kView, i % 40)});
  }
  PartitionProcessor whole = NewProcessor();
  for (const auto& r : records) whole.Process(r);
  std::string want;
  whole.Serialize(&want);
  EXPECT_LT(whole.watermark(), records.back().event.event_time.value);  // held back by append time
  for (size_t split : {8u, 50u, 333u, 999u}) {
    PartitionProcessor first = NewProcessor();
    for (size_t i = 0; i < split; ++i) first.Process(records[i]);
    std::string checkpoint;
    first.Serialize(&checkpoint);
    PartitionProcessor second = NewProcessor();
    ASSERT_TRUE(second.Restore(checkpoint).ok());
    for (size_t i = split; i < records.size(); ++i) second.Process(records[i]);
    std::string got;
    second.Serialize(&got);
    EXPECT_TRUE(got == want) << "split " << split;
    EXPECT_EQ(second.watermark(), whole.watermark()) << "split " << split;
  }
}

TEST_F(PartitionProcessorTest, LateEventsCountInTotalsButNotWindows) {
  PartitionProcessor p = NewProcessor();
  // W = 200000 - 5000 = 195000 after the first event.
  const std::vector<Event> events = {
      MakeEvent(1, 5, 200'000, EventType::kView, 1, 1000),
      MakeEvent(2, 5, 100'000, EventType::kView, 2, 20),   // 5 s closes 165000, 1 m closes 180000: late for both
      MakeEvent(3, 5, 130'000, EventType::kShare, 3),      // 5 s closes 195000 (= W: late), 1 m closes 240000
      MakeEvent(4, 5, 194'999, EventType::kReply, 4),      // 5 s [190000,195000) closes 255000: on time
  };
  for (const auto& r : ToRecords(events)) p.Process(r);
  EXPECT_EQ(p.counters().late[0], 2u);
  EXPECT_EQ(p.counters().late[1], 1u);
  EXPECT_EQ(p.watermark(), 195'000);

  serve::PartitionWrite full;
  p.FullWrite(&full);
  ASSERT_EQ(full.stories.size(), 1u);
  const serve::Aggregates& totals = full.stories[0].totals;
  EXPECT_EQ(totals.views, 2u);
  EXPECT_EQ(totals.unique_viewers, 2u);
  EXPECT_EQ(totals.watch_time_ms, 1020u);
  EXPECT_EQ(totals.shares, 1u);
  EXPECT_EQ(totals.replies, 1u);
  EXPECT_EQ(full.stories[0].author, AuthorId(50));

  std::map<std::pair<WindowSize, int64_t>, serve::Aggregates> windows;
  for (const auto& w : full.windows) windows[{w.key.size, w.key.start}] = w.agg;
  std::map<std::pair<WindowSize, int64_t>, serve::Aggregates> want;
  want[{WindowSize::k5s, 200'000}] = {1, 1, 1000, 0, 0};
  want[{WindowSize::k1m, 180'000}] = {1, 1, 1000, 0, 1};  // the view and the reply (194999)
  want[{WindowSize::k1m, 120'000}] = {0, 0, 0, 1, 0};     // the share: late for 5 s, not for 1 m
  want[{WindowSize::k5s, 190'000}] = {0, 0, 0, 0, 1};
  EXPECT_EQ(windows, want);
  // Nothing was added to the windows the late events would have gone to.
  EXPECT_EQ(windows.count({WindowSize::k5s, 100'000}), 0u);
  EXPECT_EQ(windows.count({WindowSize::k1m, 60'000}), 0u);
  EXPECT_EQ(windows.count({WindowSize::k5s, 130'000}), 0u);
}

// (size, start) -> final, for the windows in a write.
std::map<std::pair<WindowSize, int64_t>, bool> Finals(const serve::PartitionWrite& w) {
  std::map<std::pair<WindowSize, int64_t>, bool> out;
  for (const auto& u : w.windows) out[{u.key.size, u.key.start}] = u.final;
  return out;
}

TEST_F(PartitionProcessorTest, WindowFinalExactlyWhenWatermarkReachesBound) {
  PartitionProcessor p = NewProcessor();
  uint64_t n = 0;
  int64_t append = kAppendBase;
  auto feed = [&](uint64_t story, int64_t t) {
    p.Process({LogOffset(n), AppendTimeMs(append), MakeEvent(n, story, t)});
    ++n;
    append += 10;
  };
  serve::PartitionWrite w;
  feed(1, 0);  // windows [0,5000) final at W >= 65000, [0,60000) at W >= 120000
  p.TakeWrite(&w);
  EXPECT_EQ(Finals(w), (std::map<std::pair<WindowSize, int64_t>, bool>{{{WindowSize::k5s, 0}, false},
                                                                         {{WindowSize::k1m, 0}, false}}));
  EXPECT_EQ(p.open_windows(), 2u);

  feed(2, 69'999);  // W = 64999: one short
  p.TakeWrite(&w);
  EXPECT_EQ(Finals(w).count({WindowSize::k5s, 0}), 0u);  // unchanged, not rewritten
  EXPECT_EQ(p.open_windows(), 4u);

  feed(2, 70'000);  // W = 65000: the 5 s window is final, the 1 m window not
  p.TakeWrite(&w);
  auto f = Finals(w);
  ASSERT_EQ(f.count({WindowSize::k5s, 0}), 1u);
  EXPECT_TRUE((f[{WindowSize::k5s, 0}]));
  EXPECT_EQ(f.count({WindowSize::k1m, 0}), 0u);
  // A late event for the closed window does not reopen it.
  feed(1, 4'000);
  EXPECT_EQ(p.counters().late[0], 1u);
  EXPECT_EQ(p.counters().late[1], 0u);

  feed(2, 124'999);  // W = 119999
  p.TakeWrite(&w);
  f = Finals(w);
  EXPECT_FALSE((f.count({WindowSize::k1m, 0}) && f[{WindowSize::k1m, 0}]));
  feed(2, 125'000);  // W = 120000
  p.TakeWrite(&w);
  f = Finals(w);
  ASSERT_EQ(f.count({WindowSize::k1m, 0}), 1u);
  EXPECT_TRUE((f[{WindowSize::k1m, 0}]));

  serve::PartitionWrite full;
  p.FullWrite(&full);
  for (const auto& u : full.windows) {
    const int64_t bound = u.key.start + serve::WindowMs(u.key.size) + options_.allowed_lateness_ms;
    EXPECT_EQ(u.final, p.watermark() >= bound) << u.key.start;
  }
}

TEST_F(PartitionProcessorTest, RetentionDropsClosedWindows) {
  options_.retention_5s_ms = 100'000;  // 5 s window [0,5000) dropped at W >= 105000
  options_.retention_1m_ms = 200'000;  // 1 m window [0,60000) dropped at W >= 260000
  PartitionProcessor p = NewProcessor();
  uint64_t n = 0;
  auto feed = [&](PartitionProcessor& proc, int64_t t) {
    proc.Process({LogOffset(n), AppendTimeMs(kAppendBase + static_cast<int64_t>(n)), MakeEvent(n, 3, t)});
    ++n;
  };
  serve::PartitionWrite w;
  feed(p, 1'000);
  feed(p, 70'000);  // W = 65000: [0,5000) final
  p.TakeWrite(&w);
  EXPECT_TRUE(w.dropped_windows.empty());

  std::string checkpoint;
  p.Serialize(&checkpoint);
  PartitionProcessor restored = NewProcessor();
  ASSERT_TRUE(restored.Restore(checkpoint).ok());

  for (PartitionProcessor* proc : {&p, &restored}) {
    const uint64_t n0 = n;
    feed(*proc, 109'999);  // W = 104999
    proc->TakeWrite(&w);
    EXPECT_TRUE(w.dropped_windows.empty());
    feed(*proc, 110'000);  // W = 105000
    proc->TakeWrite(&w);
    ASSERT_EQ(w.dropped_windows.size(), 1u);
    EXPECT_EQ(w.dropped_windows[0], (serve::WindowKey{StoryId(3), WindowSize::k5s, 0}));
    for (const auto& u : w.windows) EXPECT_NE(u.key, w.dropped_windows[0]);
    serve::PartitionWrite full;
    proc->FullWrite(&full);
    EXPECT_TRUE(full.dropped_windows.empty());  // reported once
    bool has_5s_0 = false, has_1m_0 = false;
    for (const auto& u : full.windows) {
      has_5s_0 |= u.key.size == WindowSize::k5s && u.key.start == 0;
      has_1m_0 |= u.key.size == WindowSize::k1m && u.key.start == 0;
    }
    EXPECT_FALSE(has_5s_0);
    EXPECT_TRUE(has_1m_0);
    // Totals are never dropped.
    ASSERT_EQ(full.stories.size(), 1u);
    EXPECT_EQ(full.stories[0].totals.views, 4u);

    feed(*proc, 265'000);  // W = 260000: the 1 m window goes too (and the 5 s ones before 155000)
    proc->TakeWrite(&w);
    bool dropped_1m_0 = false;
    for (const auto& k : w.dropped_windows) dropped_1m_0 |= k == serve::WindowKey{StoryId(3), WindowSize::k1m, 0};
    EXPECT_TRUE(dropped_1m_0);
    n = n0;  // the second processor gets the same records
  }
  std::string a, b;
  p.Serialize(&a);
  restored.Serialize(&b);
  EXPECT_EQ(a, b);
}

// Two owners of one partition over one live store, without threads: the
// interleaving RegionProcessorTest.AZombieIsFencedOutByTheNextOwnersClaims
// hits by chance. The new owner restores the old one's checkpoint and
// processes to the end of the log; the old one (a zombie, not told) keeps
// processing behind it, in other batches, until it is fenced. Whichever
// writes first, the store ends as the new owner alone leaves it: windows
// the zombie rewrites with older values, and windows the new owner dropped,
// are not brought back by a write the new owner never follows up.
TEST_F(PartitionProcessorTest, AZombiesOlderWritesDoNotSurviveTheNewOwners) {
  options_.retention_5s_ms = 20'000;  // windows leave retention during the run
  options_.retention_1m_ms = 120'000;
  const std::vector<log::LogRecord> records = ToRecords(PartitionEvents(13, 40'000));
  const size_t n = records.size(), handover = n / 3, fenced = 2 * n / 3;
  ASSERT_GT(n, 2'000u);
  // Processes [from, to) in batches, one write per batch.
  auto run = [&](PartitionProcessor& p, size_t from, size_t to, size_t batch) {
    std::vector<serve::PartitionWrite> writes;
    for (size_t at = from; at < to; at += batch) {
      p.ProcessBatch({records.begin() + static_cast<ptrdiff_t>(at),
                      records.begin() + static_cast<ptrdiff_t>(std::min(at + batch, to))});
      writes.emplace_back();
      p.TakeWrite(&writes.back());
    }
    return writes;
  };
  for (bool zombie_first : {false, true}) {
    SCOPED_TRACE(zombie_first ? "the zombie writes first" : "the new owner writes first");
    auto store = serve::NewMemoryLiveStore();
    auto apply = [&](const std::vector<serve::PartitionWrite>& writes) {
      for (const auto& w : writes) ASSERT_TRUE(store->Apply(w).ok());
    };
    PartitionProcessor zombie = NewProcessor();
    apply(run(zombie, 0, handover, 97));
    std::string checkpoint;
    zombie.Serialize(&checkpoint);
    PartitionProcessor owner = NewProcessor();
    ASSERT_TRUE(owner.Restore(checkpoint).ok());
    std::vector<serve::PartitionWrite> owner_writes(1);
    owner.FullWrite(&owner_writes[0]);  // as RegionProcessor::Assign republishes
    for (auto& w : run(owner, handover, n, 50)) owner_writes.push_back(std::move(w));
    const std::vector<serve::PartitionWrite> zombie_writes = run(zombie, handover, fenced, 70);
    size_t dropped = 0;
    for (const auto& w : owner_writes) dropped += w.dropped_windows.size();
    ASSERT_GT(dropped, 100u);
    if (zombie_first) apply(zombie_writes);
    apply(owner_writes);
    if (!zombie_first) apply(zombie_writes);

    serve::PartitionWrite full;
    owner.FullWrite(&full);
    EXPECT_EQ(Diff(Dump(*store), FromWrite(full)), "");
  }
}

TEST_F(PartitionProcessorTest, RestoreRejectsCorruptState) {
  PartitionProcessor p = NewProcessor();
  const std::vector<Event> events = {
      MakeEvent(1, 5, 10'000, EventType::kView, 1),  MakeEvent(2, 5, 11'000, EventType::kView, 2),
      MakeEvent(3, 6, 90'000, EventType::kShare, 3), MakeEvent(1, 5, 10'000, EventType::kView, 1),
      MakeEvent(4, 7, 12'000, EventType::kView, 0),  MakeEvent(5, 6, 150'000, EventType::kReply, 9),
  };
  for (const auto& r : ToRecords(events)) p.Process(r);
  serve::PartitionWrite w;
  p.TakeWrite(&w);
  std::string state;
  p.Serialize(&state);
  {
    PartitionProcessor ok = NewProcessor();
    ASSERT_TRUE(ok.Restore(state).ok());
  }
  // Every truncation is detected.
  for (size_t len = 0; len < state.size(); ++len) {
    PartitionProcessor q = NewProcessor();
    Status s = q.Restore(std::string_view(state.data(), len));
    EXPECT_EQ(s.code(), StatusCode::kCorruption) << "truncated to " << len << " of " << state.size();
  }
  // Trailing bytes, a wrong magic, an unknown version.
  for (auto mutate : {+[](std::string& s) { s += '\0'; }, +[](std::string& s) { s[0] ^= 0x01; },
                      +[](std::string& s) { s[3] ^= 0x40; }, +[](std::string& s) { s[4] ^= 0x01; }}) {
    std::string bad = state;
    mutate(bad);
    PartitionProcessor q = NewProcessor();
    EXPECT_EQ(q.Restore(bad).code(), StatusCode::kCorruption);
  }
  PartitionProcessor q = NewProcessor();
  EXPECT_EQ(q.Restore("").code(), StatusCode::kCorruption);
}

}  // namespace
}  // namespace watershed::stream
