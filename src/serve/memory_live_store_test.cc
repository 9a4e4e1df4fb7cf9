#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "serve/live_store.h"
#include "serve/testing/live_store_conformance.h"

namespace watershed::serve {
namespace {

Aggregates Agg(uint64_t views, uint64_t uniques = 0, uint64_t watch = 0, uint64_t shares = 0, uint64_t replies = 0) {
  return Aggregates{views, uniques, watch, shares, replies};
}

PartitionWrite StoryWrite(Region region, int64_t as_of, uint64_t story, uint64_t author, Aggregates totals) {
  PartitionWrite w;
  w.region = region;
  w.as_of_ms = as_of;
  w.stories.push_back(StoryUpdate{StoryId(story), AuthorId(author), totals});
  return w;
}

PartitionWrite WindowWrite(Region region, uint64_t story, WindowSize size, int64_t start, Aggregates agg,
                           bool final) {
  PartitionWrite w;
  w.region = region;
  w.windows.push_back(WindowUpdate{WindowKey{StoryId(story), size, start}, agg, final});
  return w;
}

std::vector<uint64_t> Ids(const std::vector<StoryMetrics>& v) {
  std::vector<uint64_t> out;
  for (const auto& m : v) out.push_back(m.story.value);
  return out;
}

class MemoryLiveStoreTest : public ::testing::Test {
 protected:
  void Apply(const PartitionWrite& w) { ASSERT_TRUE(store_->Apply(w).ok()); }
  std::optional<StoryMetrics> Story(uint64_t id) {
    auto r = store_->GetStory(StoryId(id));
    EXPECT_TRUE(r.ok());
    return r.ok() ? r.value() : std::nullopt;
  }
  std::vector<SeriesPoint> Series(uint64_t id, WindowSize size, int64_t from, int64_t to) {
    auto r = store_->GetSeries(StoryId(id), size, from, to);
    EXPECT_TRUE(r.ok());
    return r.ok() ? r.value() : std::vector<SeriesPoint>{};
  }
  std::vector<uint64_t> Top(TopBy by, size_t limit) {
    auto r = store_->TopStoriesOverall(by, limit);
    EXPECT_TRUE(r.ok());
    return r.ok() ? Ids(r.value()) : std::vector<uint64_t>{};
  }

  std::unique_ptr<LiveStore> store_ = NewMemoryLiveStore();
};

TEST_F(MemoryLiveStoreTest, UnknownStoryIsAbsent) {
  EXPECT_FALSE(Story(42).has_value());
  EXPECT_TRUE(Series(42, WindowSize::k5s, 0, INT64_MAX).empty());
  EXPECT_TRUE(Top(TopBy::kViews, 10).empty());
}

TEST_F(MemoryLiveStoreTest, ApplyWritesAbsoluteValuesNotIncrements) {
  Apply(StoryWrite(Region::kUs, 1000, 1, 9, Agg(5, 2, 700, 1, 1)));
  Apply(StoryWrite(Region::kUs, 2000, 1, 9, Agg(7, 3, 900, 1, 2)));
  auto m = Story(1);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->totals, Agg(7, 3, 900, 1, 2));
  EXPECT_EQ(m->as_of_ms, 2000);
  EXPECT_EQ(m->author, AuthorId(9));

  // A replay rewriting the same value converges instead of doubling.
  Apply(StoryWrite(Region::kUs, 2000, 1, 9, Agg(7, 3, 900, 1, 2)));
  EXPECT_EQ(Story(1)->totals, Agg(7, 3, 900, 1, 2));

  // A smaller absolute value replaces too (the store never keeps a max).
  Apply(StoryWrite(Region::kUs, 2500, 1, 9, Agg(4)));
  EXPECT_EQ(Story(1)->totals, Agg(4));
}

// Regions may disagree about a story's author (it comes from the request
// body); the answer must not depend on which region's processor wrote last.
TEST_F(MemoryLiveStoreTest, AuthorIsTheLowestRegionsWhateverTheWriteOrder) {
  Aggregates one;
  one.views = 1;
  Apply(StoryWrite(Region::kEu, 1, 9, 5, one));
  Apply(StoryWrite(Region::kUs, 2, 9, 7, one));
  Apply(StoryWrite(Region::kEu, 3, 9, 5, one));  // eu writes last
  auto m = store_->GetStory(StoryId(9));
  ASSERT_TRUE(m.ok() && m.value().has_value());
  EXPECT_EQ(m.value()->author, AuthorId(7));
  auto top = store_->TopStoriesOverall(TopBy::kViews, 10);
  ASSERT_TRUE(top.ok());
  ASSERT_EQ(top->size(), 1u);
  EXPECT_EQ(top->front().author, AuthorId(7));
}

TEST_F(MemoryLiveStoreTest, RegionsAreSummedAndAsOfIsTheMax) {
  Apply(StoryWrite(Region::kUs, 3000, 1, 9, Agg(5, 2, 100, 1, 0)));
  Apply(StoryWrite(Region::kEu, 5000, 1, 9, Agg(3, 1, 50, 0, 2)));
  Apply(StoryWrite(Region::kApac, 4000, 1, 9, Agg(1, 1, 10, 0, 0)));
  auto m = Story(1);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->totals, Agg(9, 4, 160, 1, 2));
  EXPECT_EQ(m->as_of_ms, 5000);

  // Rewriting one region replaces only that region's part.
  Apply(StoryWrite(Region::kEu, 6000, 1, 9, Agg(4, 2, 60, 0, 2)));
  m = Story(1);
  EXPECT_EQ(m->totals, Agg(10, 5, 170, 1, 2));
  EXPECT_EQ(m->as_of_ms, 6000);

  // An older as_of from another region does not move as_of back.
  Apply(StoryWrite(Region::kUs, 1000, 1, 9, Agg(5, 2, 100, 1, 0)));
  EXPECT_EQ(Story(1)->as_of_ms, 6000);

  // Other stories are untouched.
  EXPECT_FALSE(Story(2).has_value());
}

TEST_F(MemoryLiveStoreTest, SeriesRangeIsHalfOpenAndAscending) {
  // Written out of order, in both sizes and for two stories.
  for (int64_t start : {20'000, 0, 10'000, 5'000, 15'000})
    Apply(WindowWrite(Region::kUs, 1, WindowSize::k5s, start, Agg(static_cast<uint64_t>(start / 5000 + 1)), true));
  Apply(WindowWrite(Region::kUs, 1, WindowSize::k1m, 0, Agg(100), false));
  Apply(WindowWrite(Region::kUs, 2, WindowSize::k5s, 5'000, Agg(50), true));

  auto pts = Series(1, WindowSize::k5s, 5'000, 20'000);
  ASSERT_EQ(pts.size(), 3u);  // 5000, 10000, 15000; 20000 excluded
  EXPECT_EQ(pts[0].start, 5'000);
  EXPECT_EQ(pts[1].start, 10'000);
  EXPECT_EQ(pts[2].start, 15'000);
  EXPECT_EQ(pts[0].agg.views, 2u);
  EXPECT_EQ(pts[2].agg.views, 4u);

  // from inside a window's span does not include that window.
  pts = Series(1, WindowSize::k5s, 5'001, 20'001);
  ASSERT_EQ(pts.size(), 3u);
  EXPECT_EQ(pts[0].start, 10'000);
  EXPECT_EQ(pts[2].start, 20'000);

  EXPECT_TRUE(Series(1, WindowSize::k5s, 10'000, 10'000).empty());
  EXPECT_EQ(Series(1, WindowSize::k5s, 0, INT64_MAX).size(), 5u);

  pts = Series(1, WindowSize::k1m, 0, INT64_MAX);
  ASSERT_EQ(pts.size(), 1u);
  EXPECT_EQ(pts[0].agg.views, 100u);
  EXPECT_FALSE(pts[0].final);

  pts = Series(2, WindowSize::k5s, 0, INT64_MAX);
  ASSERT_EQ(pts.size(), 1u);
  EXPECT_EQ(pts[0].agg.views, 50u);
}

TEST_F(MemoryLiveStoreTest, SeriesSumsRegionsAndIsFinalOnlyWhenEveryRegionIs) {
  Apply(WindowWrite(Region::kUs, 1, WindowSize::k5s, 0, Agg(2, 1, 10, 0, 0), true));
  Apply(WindowWrite(Region::kEu, 1, WindowSize::k5s, 0, Agg(3, 2, 20, 1, 0), false));
  auto pts = Series(1, WindowSize::k5s, 0, INT64_MAX);
  ASSERT_EQ(pts.size(), 1u);
  EXPECT_EQ(pts[0].agg, Agg(5, 3, 30, 1, 0));
  EXPECT_FALSE(pts[0].final);

  Apply(WindowWrite(Region::kEu, 1, WindowSize::k5s, 0, Agg(4, 2, 25, 1, 0), true));
  pts = Series(1, WindowSize::k5s, 0, INT64_MAX);
  ASSERT_EQ(pts.size(), 1u);
  EXPECT_EQ(pts[0].agg, Agg(6, 3, 35, 1, 0));  // absolute: the eu part replaced
  EXPECT_TRUE(pts[0].final);                    // apac contributed nothing, so it does not block

  Apply(WindowWrite(Region::kApac, 1, WindowSize::k5s, 0, Agg(1), false));
  EXPECT_FALSE(Series(1, WindowSize::k5s, 0, INT64_MAX)[0].final);
}

TEST_F(MemoryLiveStoreTest, DroppedWindowsRemoveTheRegionsPartThenThePoint) {
  Apply(WindowWrite(Region::kUs, 1, WindowSize::k5s, 0, Agg(2), true));
  Apply(WindowWrite(Region::kEu, 1, WindowSize::k5s, 0, Agg(3), false));
  Apply(WindowWrite(Region::kUs, 1, WindowSize::k5s, 5'000, Agg(7), true));

  PartitionWrite drop;
  drop.region = Region::kEu;
  drop.dropped_windows.push_back(WindowKey{StoryId(1), WindowSize::k5s, 0});
  Apply(drop);
  auto pts = Series(1, WindowSize::k5s, 0, INT64_MAX);
  ASSERT_EQ(pts.size(), 2u);
  EXPECT_EQ(pts[0].agg.views, 2u);  // only the us part left
  EXPECT_TRUE(pts[0].final);        // the non-final eu part went with it

  drop.region = Region::kUs;
  Apply(drop);
  pts = Series(1, WindowSize::k5s, 0, INT64_MAX);
  ASSERT_EQ(pts.size(), 1u);
  EXPECT_EQ(pts[0].start, 5'000);

  // Dropping an unknown window, or one of a region that never wrote it, is harmless.
  drop.dropped_windows = {WindowKey{StoryId(1), WindowSize::k1m, 0}, WindowKey{StoryId(1), WindowSize::k5s, 5'000}};
  drop.region = Region::kApac;
  Apply(drop);
  pts = Series(1, WindowSize::k5s, 0, INT64_MAX);
  ASSERT_EQ(pts.size(), 1u);
  EXPECT_EQ(pts[0].agg.views, 7u);
}

TEST_F(MemoryLiveStoreTest, TopStoriesOrdersByValueThenIdAndLimits) {
  Apply(StoryWrite(Region::kUs, 1, 10, 1, Agg(5, 0, 0, 9, 0)));
  Apply(StoryWrite(Region::kUs, 1, 11, 1, Agg(8, 0, 0, 1, 0)));
  Apply(StoryWrite(Region::kUs, 1, 12, 1, Agg(5, 0, 0, 3, 0)));
  Apply(StoryWrite(Region::kUs, 1, 13, 1, Agg(1, 0, 0, 3, 0)));
  Apply(StoryWrite(Region::kUs, 1, 9, 1, Agg(5, 0, 0, 0, 0)));
  Apply(StoryWrite(Region::kUs, 1, 100, 2, Agg(0)));  // worth 0: last, still listed
  // Region sums count: story 13 reaches 10 views with eu.
  Apply(StoryWrite(Region::kEu, 1, 13, 1, Agg(9)));

  EXPECT_EQ(Top(TopBy::kViews, 10), (std::vector<uint64_t>{13, 11, 9, 10, 12, 100}));
  EXPECT_EQ(Top(TopBy::kViews, 3), (std::vector<uint64_t>{13, 11, 9}));
  EXPECT_EQ(Top(TopBy::kShares, 10), (std::vector<uint64_t>{10, 12, 13, 11, 9, 100}));
  EXPECT_EQ(Top(TopBy::kViews, 0), std::vector<uint64_t>{});

  // A value that goes down moves the story down.
  Apply(StoryWrite(Region::kEu, 1, 13, 1, Agg(0)));
  EXPECT_EQ(Top(TopBy::kViews, 3), (std::vector<uint64_t>{11, 9, 10}));

  auto full = store_->TopStoriesOverall(TopBy::kViews, 1);
  ASSERT_TRUE(full.ok());
  ASSERT_EQ(full->size(), 1u);
  EXPECT_EQ(full.value()[0].totals.views, 8u);
  EXPECT_EQ(full.value()[0].author, AuthorId(1));
}

TEST_F(MemoryLiveStoreTest, AuthorChangeIsReported) {
  Apply(StoryWrite(Region::kUs, 1, 10, 1, Agg(5)));
  Apply(StoryWrite(Region::kUs, 2, 10, 2, Agg(6)));
  EXPECT_EQ(Story(10)->author, AuthorId(2));
  auto top = store_->TopStoriesOverall(TopBy::kViews, 10);
  ASSERT_TRUE(top.ok());
  ASSERT_EQ(top->size(), 1u);
  EXPECT_EQ(top->front().author, AuthorId(2));
}

TEST_F(MemoryLiveStoreTest, TopStoriesOverallSpansAuthors) {
  Apply(StoryWrite(Region::kUs, 1, 10, 1, Agg(5, 4)));
  Apply(StoryWrite(Region::kUs, 1, 20, 2, Agg(7, 1)));
  Apply(StoryWrite(Region::kEu, 1, 30, 3, Agg(5, 2)));
  Apply(StoryWrite(Region::kApac, 1, 40, 4, Agg(1, 1)));

  auto top = store_->TopStoriesOverall(TopBy::kViews, 3);
  ASSERT_TRUE(top.ok());
  EXPECT_EQ(Ids(*top), (std::vector<uint64_t>{20, 10, 30}));
  top = store_->TopStoriesOverall(TopBy::kUniqueViewers, 100);
  ASSERT_TRUE(top.ok());
  EXPECT_EQ(Ids(*top), (std::vector<uint64_t>{10, 30, 20, 40}));
}

// Writes only move a story's values; the rank lists catch up at a read or
// when a shard's dirty list grows long, one move at a time or in one merge
// pass. Whatever the mix, a top list must equal a ranking computed from
// scratch: random absolute totals (up and down, many ties) over 3 regions,
// rounds of a few writes or of thousands without a read.
TEST_F(MemoryLiveStoreTest, TopAfterAnyWritesEqualsABruteForceRanking) {
  std::mt19937_64 rng(18);
  constexpr uint64_t kStories = 12'000;  // ~190 per shard: long dirty lists flush on writes
  std::map<uint64_t, std::array<std::optional<Aggregates>, kMaxRegions>> model;
  uint64_t offset = 0;
  auto value = [&] { return rng() % 24; };
  for (int round = 0; round < 60; ++round) {
    const int writes = round % 3 == 0 ? 1 : round % 3 == 1 ? 8 : 120;
    const uint64_t per_write = round % 3 == 0 ? 1 + rng() % 4 : 100;
    for (int n = 0; n < writes; ++n) {
      PartitionWrite w;
      w.region = static_cast<Region>(rng() % RegionCount());
      w.next_offset = ++offset;
      for (uint64_t i = 0; i < per_write; ++i) {
        // Half the writes go to 300 hot stories, written many times between reads.
        const uint64_t id = rng() % 2 ? rng() % 300 : rng() % kStories;
        const Aggregates a{value(), value(), value() * 100, value() % 5, value() % 3};
        w.stories.push_back(StoryUpdate{StoryId(id), AuthorId(id % 7), a});
      }
      // Known only through a window: never listed.
      w.windows.push_back(
          WindowUpdate{WindowKey{StoryId(kStories + rng() % 1000), WindowSize::k5s, 0}, Agg(99), false});
      Apply(w);
      // Later parts of the same story in one write win, as in the store.
      for (const auto& u : w.stories) model[u.story.value][static_cast<int>(w.region)] = u.totals;
    }
    for (int b = 0; b < 5; ++b) {
      const TopBy by = static_cast<TopBy>(b);
      std::vector<std::pair<uint64_t, uint64_t>> expected;  // (value, id)
      for (const auto& [id, totals] : model) {
        Aggregates sum;
        for (const auto& t : totals)
          if (t) sum += *t;
        expected.emplace_back(TopValue(sum, by), id);
      }
      std::sort(expected.begin(), expected.end(), [](const auto& x, const auto& y) {
        return x.first != y.first ? x.first > y.first : x.second < y.second;
      });
      const size_t limit = round == 59 ? expected.size() + 5 : 1 + rng() % 60;
      auto top = store_->TopStoriesOverall(by, limit);
      ASSERT_TRUE(top.ok());
      ASSERT_EQ(top->size(), std::min(limit, expected.size())) << "round " << round;
      for (size_t i = 0; i < top->size(); ++i) {
        ASSERT_EQ((*top)[i].story.value, expected[i].second) << "round " << round << " by " << b << " rank " << i;
        ASSERT_EQ(TopValue((*top)[i].totals, by), expected[i].first);
      }
    }
  }
}

// Readers flush shards while writers dirty them: every answer stays in
// order (value descending, id ascending) and holds the stories it should.
TEST_F(MemoryLiveStoreTest, TopListsStayOrderedUnderConcurrentWrites) {
  constexpr uint64_t kStories = 4'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(t);
      for (uint64_t n = 1; n <= 300; ++n) {
        PartitionWrite w;
        w.region = static_cast<Region>(t);
        w.next_offset = n;
        for (int i = 0; i < 50; ++i) {
          const uint64_t id = rng() % kStories;
          w.stories.push_back(StoryUpdate{StoryId(id), AuthorId(1), Agg(rng() % 50, rng() % 50)});
        }
        EXPECT_TRUE(store_->Apply(w).ok());
      }
    });
  bool ordered = true;
  size_t reads = 0;
  threads.emplace_back([&] {
    for (; reads < 300; ++reads) {
      auto top = store_->TopStoriesOverall(reads % 2 ? TopBy::kViews : TopBy::kUniqueViewers, 100);
      if (!top.ok()) {
        ordered = false;
        return;
      }
      const TopBy by = reads % 2 ? TopBy::kViews : TopBy::kUniqueViewers;
      for (size_t i = 1; i < top->size(); ++i) {
        const uint64_t a = TopValue((*top)[i - 1].totals, by), b = TopValue((*top)[i].totals, by);
        if (a < b || (a == b && (*top)[i - 1].story.value >= (*top)[i].story.value)) ordered = false;
      }
    }
  });
  for (auto& t : threads) t.join();
  EXPECT_TRUE(ordered);
  EXPECT_EQ(Top(TopBy::kViews, 1000).size(), 1000u);
}

// The zombie of RegionProcessorTest.AZombieIsFencedOutByTheNextOwnersClaims,
// write by write: before the store kept an offset per story, the zombie's
// older window value (or a window the new owner had dropped) stayed.
TEST_F(MemoryLiveStoreTest, OlderWritesNeverUndoNewerOnes) { testing::CheckOlderWritesNeverUndoNewerOnes(*store_); }

TEST_F(MemoryLiveStoreTest, ProgressIsTheHighestNextOffsetPerPartition) {
  testing::CheckProgress(*store_);
}

TEST(LiveStoreNamesTest, ParseAndName) {
  EXPECT_EQ(ParseWindowSize("5s"), WindowSize::k5s);
  EXPECT_EQ(ParseWindowSize("1m"), WindowSize::k1m);
  EXPECT_FALSE(ParseWindowSize("10s").has_value());
  EXPECT_EQ(WindowName(WindowSize::k1m), "1m");
  EXPECT_EQ(WindowMs(WindowSize::k1m), 60'000);
  EXPECT_EQ(ParseTopBy("watch_time_ms"), TopBy::kWatchTime);
  EXPECT_FALSE(ParseTopBy("likes").has_value());
  EXPECT_EQ(TopValue(Aggregates{1, 2, 3, 4, 5}, TopBy::kReplies), 5u);
}

}  // namespace
}  // namespace watershed::serve
