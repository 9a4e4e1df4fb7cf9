#pragma once
// Conformance suite for LiveStore implementations: sequences of
// PartitionWrites (the behaviours MemoryLiveStore's tests pin down, plus
// seeded random sequences) and a checker that applies each write to a
// reference store and to the store under test and, after every write,
// compares all answers: GetStory, GetSeries over several ranges,
// and TopStoriesOverall for every metric and several limits.
//
// Offsets in the scenarios never go down per region, so a store that
// refuses older writes (next_offset) must answer like one that does not;
// RandomWrites can also send older writes, which every store must refuse
// alike, and CheckOlderWritesNeverUndoNewerOnes pins that down by hand.
// Include from a GoogleTest file only.

#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "serve/live_store.h"

namespace watershed::serve::testing {

inline Aggregates Agg(uint64_t views, uint64_t uniques = 0, uint64_t watch = 0, uint64_t shares = 0,
                      uint64_t replies = 0) {
  return Aggregates{views, uniques, watch, shares, replies};
}

inline PartitionWrite StoryWrite(Region region, int64_t as_of, uint64_t story, uint64_t author, Aggregates totals,
                                 uint64_t next_offset = 0) {
  PartitionWrite w;
  w.region = region;
  w.as_of_ms = as_of;
  w.next_offset = next_offset;
  w.stories.push_back(StoryUpdate{StoryId(story), AuthorId(author), totals});
  return w;
}

inline PartitionWrite WindowWrite(Region region, uint64_t story, WindowSize size, int64_t start, Aggregates agg,
                                  bool final, uint64_t next_offset = 0) {
  PartitionWrite w;
  w.region = region;
  w.next_offset = next_offset;
  w.windows.push_back(WindowUpdate{WindowKey{StoryId(story), size, start}, agg, final});
  return w;
}

inline PartitionWrite DropWrite(Region region, std::vector<WindowKey> keys, uint64_t next_offset = 0) {
  PartitionWrite w;
  w.region = region;
  w.next_offset = next_offset;
  w.dropped_windows = std::move(keys);
  return w;
}

inline std::string Describe(const Aggregates& a) {
  return std::to_string(a.views) + "/" + std::to_string(a.unique_viewers) + "/" + std::to_string(a.watch_time_ms) +
         "/" + std::to_string(a.shares) + "/" + std::to_string(a.replies);
}
inline std::string Describe(const StoryMetrics& m) {
  return "story " + std::to_string(m.story.value) + " author " + std::to_string(m.author.value) + " " +
         Describe(m.totals) + " as_of " + std::to_string(m.as_of_ms);
}
inline std::string Describe(const Result<std::optional<StoryMetrics>>& r) {
  if (!r.ok()) return "error " + r.status().ToString();
  return r.value() ? Describe(*r.value()) : "absent";
}
inline std::string Describe(const Result<std::vector<StoryMetrics>>& r) {
  if (!r.ok()) return "error " + r.status().ToString();
  std::string s;
  for (const auto& m : r.value()) s += "[" + Describe(m) + "]";
  return s;
}
inline std::string Describe(const Result<std::vector<PartitionProgress>>& r) {
  if (!r.ok()) return "error " + r.status().ToString();
  std::string s;
  for (const auto& p : r.value())
    s += "[" + std::string(RegionName(p.region)) + "/" + std::to_string(p.partition) + " " +
         std::to_string(p.next_offset) + "]";
  return s;
}
inline std::string Describe(const Result<std::vector<SeriesPoint>>& r) {
  if (!r.ok()) return "error " + r.status().ToString();
  std::string s;
  for (const auto& p : r.value())
    s += "[" + std::to_string(p.start) + " " + Describe(p.agg) + (p.final ? " final" : "") + "]";
  return s;
}

struct ConformanceScenario {
  std::string name;
  std::vector<PartitionWrite> writes;
};

// The sequences of memory_live_store_test.cc, as data.
inline std::vector<ConformanceScenario> ConformanceScenarios() {
  std::vector<ConformanceScenario> out;
  const Region us = Region::kUs, eu = Region::kEu, apac = Region::kApac;
  const WindowSize s5 = WindowSize::k5s, m1 = WindowSize::k1m;
  out.push_back({"AbsoluteValuesNotIncrements",
                 {StoryWrite(us, 1000, 1, 9, Agg(5, 2, 700, 1, 1)), StoryWrite(us, 2000, 1, 9, Agg(7, 3, 900, 1, 2)),
                  StoryWrite(us, 2000, 1, 9, Agg(7, 3, 900, 1, 2)), StoryWrite(us, 2500, 1, 9, Agg(4))}});
  out.push_back({"AuthorIsTheLowestRegions",
                 {StoryWrite(eu, 1, 9, 5, Agg(1)), StoryWrite(us, 2, 9, 7, Agg(1)), StoryWrite(eu, 3, 9, 5, Agg(1)),
                  StoryWrite(apac, 4, 9, 3, Agg(2))}});
  out.push_back({"AuthorZeroIsIndexed", {StoryWrite(us, 1, 3, 0, Agg(1))}});
  out.push_back({"RegionsSummedAsOfMax",
                 {StoryWrite(us, 3000, 1, 9, Agg(5, 2, 100, 1, 0)), StoryWrite(eu, 5000, 1, 9, Agg(3, 1, 50, 0, 2)),
                  StoryWrite(apac, 4000, 1, 9, Agg(1, 1, 10, 0, 0)), StoryWrite(eu, 6000, 1, 9, Agg(4, 2, 60, 0, 2)),
                  StoryWrite(us, 1000, 1, 9, Agg(5, 2, 100, 1, 0))}});
  {
    ConformanceScenario s{"SeriesRangeHalfOpenAscending", {}};
    for (int64_t start : {20'000, 0, 10'000, 5'000, 15'000})
      s.writes.push_back(WindowWrite(us, 1, s5, start, Agg(static_cast<uint64_t>(start / 5000 + 1)), true));
    s.writes.push_back(WindowWrite(us, 1, m1, 0, Agg(100), false));
    s.writes.push_back(WindowWrite(us, 2, s5, 5'000, Agg(50), true));
    s.writes.push_back(WindowWrite(us, 3, s5, -5'000, Agg(1), true));  // before the epoch
    out.push_back(std::move(s));
  }
  out.push_back({"SeriesSumsRegionsFinalWhenEveryRegionIs",
                 {WindowWrite(us, 1, s5, 0, Agg(2, 1, 10, 0, 0), true),
                  WindowWrite(eu, 1, s5, 0, Agg(3, 2, 20, 1, 0), false),
                  WindowWrite(eu, 1, s5, 0, Agg(4, 2, 25, 1, 0), true),
                  WindowWrite(apac, 1, s5, 0, Agg(1), false)}});
  out.push_back({"DroppedWindows",
                 {WindowWrite(us, 1, s5, 0, Agg(2), true), WindowWrite(eu, 1, s5, 0, Agg(3), false),
                  WindowWrite(us, 1, s5, 5'000, Agg(7), true), DropWrite(eu, {WindowKey{StoryId(1), s5, 0}}),
                  DropWrite(us, {WindowKey{StoryId(1), s5, 0}}),
                  DropWrite(apac, {WindowKey{StoryId(1), m1, 0}, WindowKey{StoryId(1), s5, 5'000}}),
                  DropWrite(us, {WindowKey{StoryId(7), s5, 0}})}});
  out.push_back({"TopStoriesOrderTiesLimits",
                 {StoryWrite(us, 1, 10, 1, Agg(5, 0, 0, 9, 0)), StoryWrite(us, 1, 11, 1, Agg(8, 0, 0, 1, 0)),
                  StoryWrite(us, 1, 12, 1, Agg(5, 0, 0, 3, 0)), StoryWrite(us, 1, 13, 1, Agg(1, 0, 0, 3, 0)),
                  StoryWrite(us, 1, 9, 1, Agg(5, 0, 0, 0, 0)), StoryWrite(us, 1, 20, 2, Agg(100)),
                  StoryWrite(eu, 1, 13, 1, Agg(9))}});
  out.push_back({"AuthorChangeMovesTheStory",
                 {StoryWrite(us, 1, 10, 1, Agg(5)), StoryWrite(us, 1, 11, 1, Agg(3)), StoryWrite(us, 2, 10, 2, Agg(6)),
                  StoryWrite(us, 3, 10, 1, Agg(2))}});
  out.push_back({"TopStoriesOverallSpansAuthors",
                 {StoryWrite(us, 1, 10, 1, Agg(5, 4)), StoryWrite(us, 1, 20, 2, Agg(7, 1)),
                  StoryWrite(eu, 1, 30, 3, Agg(5, 2)), StoryWrite(apac, 1, 40, 4, Agg(1, 1))}});
  {
    // Ties by id must be numeric, not lexicographic ("10" < "9" as text).
    ConformanceScenario s{"TiesAreByNumericId", {}};
    for (uint64_t id : std::initializer_list<uint64_t>{9, 10, 100, 2, 1000000000000ull, 11})
      s.writes.push_back(StoryWrite(us, 1, id, 1, Agg(3)));
    s.writes.push_back(StoryWrite(us, 2, 42, 1, Agg(4)));
    out.push_back(std::move(s));
  }
  return out;
}

// A seeded random sequence over few stories, authors and window starts (so
// values tie, authors disagree across regions, windows are rewritten and
// dropped). Values may go down; offsets rise per region, except that with
// `older_writes` about one write in four goes below (a zombie or a replay),
// which a store must refuse for every story it already holds at a higher
// offset of the region.
inline std::vector<PartitionWrite> RandomWrites(uint64_t seed, int count, bool older_writes = false) {
  std::mt19937_64 rng(seed);
  auto pick = [&](uint64_t n) { return rng() % n; };
  std::array<uint64_t, kMaxRegions> offset{};
  std::vector<PartitionWrite> out;
  for (int i = 0; i < count; ++i) {
    PartitionWrite w;
    const int r = static_cast<int>(pick(RegionCount()));
    w.region = static_cast<Region>(r);
    offset[r] += 1 + pick(3);
    w.next_offset = offset[r];
    if (older_writes && pick(4) == 0) w.next_offset -= std::min(w.next_offset, 1 + pick(6));
    w.partition = static_cast<uint32_t>(pick(3));
    w.as_of_ms = static_cast<int64_t>(pick(10'000));
    const uint64_t n_stories = pick(4);
    for (uint64_t k = 0; k < n_stories; ++k)
      w.stories.push_back(StoryUpdate{StoryId(1 + pick(8)), AuthorId(pick(3)),
                                      Agg(pick(5), pick(3), pick(4) * 100, pick(3), pick(2))});
    const uint64_t n_windows = pick(4);
    for (uint64_t k = 0; k < n_windows; ++k) {
      const WindowSize size = pick(3) == 0 ? WindowSize::k1m : WindowSize::k5s;
      const int64_t start = static_cast<int64_t>(pick(5)) * WindowMs(size);
      w.windows.push_back(
          WindowUpdate{WindowKey{StoryId(1 + pick(8)), size, start}, Agg(pick(5), pick(3), pick(500)), pick(2) == 0});
    }
    if (pick(4) == 0) {
      const WindowSize size = pick(3) == 0 ? WindowSize::k1m : WindowSize::k5s;
      w.dropped_windows.push_back(
          WindowKey{StoryId(1 + pick(8)), size, static_cast<int64_t>(pick(5)) * WindowMs(size)});
    }
    out.push_back(std::move(w));
  }
  return out;
}

// Applies writes to `expected` (the reference) and `actual`, comparing every
// answer after each write.
class LiveStoreComparer {
 public:
  LiveStoreComparer(LiveStore& expected, LiveStore& actual) : expected_(expected), actual_(actual) {}

  void Apply(const PartitionWrite& w) {
    ASSERT_TRUE(expected_.Apply(w).ok());
    Status s = actual_.Apply(w);
    ASSERT_TRUE(s.ok()) << s.ToString();
    for (const auto& u : w.stories) stories_.insert(u.story.value);
    for (const auto& u : w.windows) stories_.insert(u.key.story.value);
    for (const auto& k : w.dropped_windows) stories_.insert(k.story.value);
  }

  void CompareAll(const std::string& context) {
    SCOPED_TRACE(context);
    std::set<uint64_t> stories = stories_;
    stories.insert(999'999);  // never written
    const std::pair<int64_t, int64_t> ranges[] = {
        {INT64_MIN, INT64_MAX}, {0, INT64_MAX}, {5'000, 20'000}, {5'001, 20'001},
        {10'000, 10'000},       {-5'000, 5'000}, {60'000, 240'000}, {20'000, 5'000}};
    for (uint64_t id : stories) {
      EXPECT_EQ(Describe(expected_.GetStory(StoryId(id))), Describe(actual_.GetStory(StoryId(id)))) << "story " << id;
      for (WindowSize size : {WindowSize::k5s, WindowSize::k1m})
        for (auto [from, to] : ranges)
          EXPECT_EQ(Describe(expected_.GetSeries(StoryId(id), size, from, to)),
                    Describe(actual_.GetSeries(StoryId(id), size, from, to)))
              << "series of " << id << " " << WindowName(size) << " [" << from << ", " << to << ")";
    }
    for (TopBy by : {TopBy::kViews, TopBy::kUniqueViewers, TopBy::kWatchTime, TopBy::kShares, TopBy::kReplies}) {
      for (size_t limit : {size_t{0}, size_t{1}, size_t{2}, size_t{3}, size_t{5}, size_t{100}}) {
        EXPECT_EQ(Describe(expected_.TopStoriesOverall(by, limit)), Describe(actual_.TopStoriesOverall(by, limit)))
            << "overall top by " << static_cast<int>(by) << " limit " << limit;
      }
    }
    EXPECT_EQ(Describe(expected_.GetProgress()), Describe(actual_.GetProgress())) << "progress";
  }

  void ApplyAndCompare(const std::vector<PartitionWrite>& writes) {
    for (size_t i = 0; i < writes.size(); ++i) {
      Apply(writes[i]);
      if (::testing::Test::HasFatalFailure()) return;
      CompareAll("after write " + std::to_string(i));
      if (::testing::Test::HasFailure()) return;  // the first divergence is the useful one
    }
  }

 private:
  LiveStore& expected_;
  LiveStore& actual_;
  std::set<uint64_t> stories_;
};

// Two owners of one partition write one story (both compute the same values
// at each offset): the new owner runs ahead, the old one (a zombie) writes
// its older state afterwards. Whatever the new owner wrote must stay:
// totals, a window's value and final flag (even when the new owner's next
// write carries the totals but not that window), and a window it dropped
// (even one of a story the store did not know).
inline void CheckOlderWritesNeverUndoNewerOnes(LiveStore& store) {
  const Region us = Region::kUs, eu = Region::kEu;
  const WindowSize s5 = WindowSize::k5s;
  const WindowKey early{StoryId(24), s5, 0}, w30{StoryId(24), s5, 30'000}, w35{StoryId(24), s5, 35'000};
  auto apply = [&](const PartitionWrite& w) {
    Status s = store.Apply(w);
    ASSERT_TRUE(s.ok()) << s.ToString();
  };
  auto story = [&] { return Describe(store.GetStory(StoryId(24))); };
  auto series = [&](uint64_t id) { return Describe(store.GetSeries(StoryId(id), s5, INT64_MIN, INT64_MAX)); };
  // Both owners' common past: an early window, already final.
  PartitionWrite past = StoryWrite(us, 10, 24, 2, Agg(1), 10);
  past.windows = {{early, Agg(1), true}};
  apply(past);
  // The new owner, at 40: window 30000 got its last event and closed, the
  // early window left retention.
  PartitionWrite owner = StoryWrite(us, 40, 24, 2, Agg(5), 40);
  owner.windows = {{w30, Agg(4), true}};
  owner.dropped_windows = {early};
  apply(owner);
  // The zombie, at 30, a full write (as after a restore): older totals, the
  // early window, window 30000 open with fewer events.
  PartitionWrite zombie = StoryWrite(us, 30, 24, 2, Agg(3), 30);
  zombie.windows = {{early, Agg(1), true}, {w30, Agg(2), false}};
  apply(zombie);
  EXPECT_EQ(story(), "story 24 author 2 5/0/0/0/0 as_of 40");
  EXPECT_EQ(series(24), "[30000 4/0/0/0/0 final]");
  // The new owner's next write: new totals and a new window, nothing for 30000.
  PartitionWrite next = StoryWrite(us, 50, 24, 2, Agg(6), 50);
  next.windows = {{w35, Agg(1), false}};
  apply(next);
  apply(zombie);
  apply(WindowWrite(us, 24, s5, 0, Agg(1), true, 49));
  EXPECT_EQ(story(), "story 24 author 2 6/0/0/0/0 as_of 50");
  EXPECT_EQ(series(24), "[30000 4/0/0/0/0 final][35000 1/0/0/0/0]");
  // Equal offsets rewrite the same values; another region's offsets are its own.
  apply(next);
  apply(WindowWrite(eu, 24, s5, 30'000, Agg(2), false, 1));
  EXPECT_EQ(story(), "story 24 author 2 6/0/0/0/0 as_of 50");
  EXPECT_EQ(series(24), "[30000 6/0/0/0/0][35000 1/0/0/0/0]");
  // A drop is the newest thing the store knows of a story it never saw.
  apply(DropWrite(us, {WindowKey{StoryId(25), s5, 0}}, 60));
  apply(WindowWrite(us, 25, s5, 0, Agg(1), true, 55));
  EXPECT_EQ(series(25), "");
  EXPECT_EQ(Describe(store.GetStory(StoryId(25))), "absent");
}

// Progress: per (region, partition), the highest next_offset applied, never
// lowered by an older write, raised by a write that changes nothing, listed
// by region then partition.
inline void CheckProgress(LiveStore& store) {
  auto progress = [&] { return Describe(store.GetProgress()); };
  EXPECT_EQ(progress(), "");
  PartitionWrite w = StoryWrite(Region::kEu, 1, 5, 1, Agg(1), 40);
  w.partition = 3;
  ASSERT_TRUE(store.Apply(w).ok());
  PartitionWrite older = w;
  older.next_offset = 7;  // a replay after a restore, or a zombie
  ASSERT_TRUE(store.Apply(older).ok());
  PartitionWrite nothing;  // only duplicates in the batch
  nothing.region = Region::kUs;
  nothing.partition = 1;
  nothing.next_offset = 12;
  ASSERT_TRUE(store.Apply(nothing).ok());
  nothing.partition = 0;
  nothing.next_offset = 1;
  ASSERT_TRUE(store.Apply(nothing).ok());
  EXPECT_EQ(progress(), "[us/0 1][us/1 12][eu/3 40]");
  nothing.region = Region::kEu;
  nothing.partition = 3;
  nothing.next_offset = (uint64_t{1} << 53) - 1;  // the largest exact Redis score
  ASSERT_TRUE(store.Apply(nothing).ok());
  EXPECT_EQ(progress(), "[us/0 1][us/1 12][eu/3 9007199254740991]");
}

}  // namespace watershed::serve::testing
