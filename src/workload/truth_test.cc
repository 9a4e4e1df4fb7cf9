#include "workload/truth.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <utility>
#include <vector>

#include "workload/generator.h"

namespace watershed::workload {
namespace {

constexpr int64_t kT0 = 1'699'999'980'000;  // a multiple of 60 s

uint64_t next_id = 1;

Event Ev(EventType type, uint64_t story, uint64_t viewer, int64_t time, Region region = Region::kUs,
         uint32_t watch_ms = 0) {
  Event e;
  e.event_id = EventId::FromHiLo(7, next_id++);
  e.type = type;
  e.story_id = StoryId(story);
  e.author_id = AuthorId(100 + story);
  e.viewer_id = ViewerId(viewer);
  e.event_time = EventTimeMs(time);
  e.region = region;
  e.watch_ms = type == EventType::kView ? watch_ms : 0;
  return e;
}

Event View(uint64_t story, uint64_t viewer, int64_t time, Region region = Region::kUs,
           uint32_t watch = 1000) {
  return Ev(EventType::kView, story, viewer, time, region, watch);
}

TEST(TruthTest, DuplicateIgnored) {
  TruthBuilder b(TruthOptions{});
  Event e = View(1, 10, kT0, Region::kUs, 500);
  b.Add(e);
  b.Add(e);
  b.Add(e);
  Truth t = b.Finish();
  EXPECT_EQ(t.distinct_events, 1u);
  EXPECT_EQ(t.duplicates, 2u);
  EXPECT_EQ(t.stories.at(1).totals.views, 1u);
  EXPECT_EQ(t.stories.at(1).totals.watch_time_ms, 500u);
  EXPECT_EQ(t.stories.at(1).author_id, 101u);
  EXPECT_EQ((t.windows.at({1, 5000, kT0}).agg.views), 1u);
}

TEST(TruthTest, LateEventInTotalsButNotWindow) {
  TruthBuilder b(TruthOptions{});
  b.Add(View(1, 10, kT0 + 200'000));  // W = kT0 + 195 s
  // 1 min window [kT0, kT0+60s) closes at kT0 + 120 s <= W: too late for both.
  b.Add(Ev(EventType::kShare, 1, 11, kT0 + 1'000));
  // 5 s window [kT0+125s, +130s) closes at kT0+190s <= W: too late; but the
  // 1 min window [kT0+120s, +180s) closes at kT0+240s > W: on time.
  b.Add(Ev(EventType::kReply, 1, 12, kT0 + 125'000));
  Truth t = b.Finish();
  EXPECT_EQ(t.stories.at(1).totals.shares, 1u);
  EXPECT_EQ(t.stories.at(1).totals.replies, 1u);
  EXPECT_EQ(t.late_5s, 2u);
  EXPECT_EQ(t.late_1m, 1u);
  EXPECT_FALSE(t.windows.contains({1, 5000, kT0}));
  EXPECT_FALSE(t.windows.contains({1, 60000, kT0}));
  EXPECT_FALSE(t.windows.contains({1, 5000, kT0 + 125'000}));
  EXPECT_EQ((t.windows.at({1, 60000, kT0 + 120'000}).agg.replies), 1u);
}

TEST(TruthTest, AServersWatermarkFromEarlierEventsClosesTheWorkloadsWindows) {
  // Events sent before the load (the README tour's) moved the server's
  // watermark of one partition: the load's late event there is too late for
  // its window, as the server judges it; in another partition it is on time.
  const uint32_t p = PartitionOf(StoryId(1), 8, PartitionScheme::kAligned);
  TruthBuilder b(TruthOptions{});
  b.StartWatermark(Region::kUs, p, kT0 + 120'000);
  b.StartWatermark(Region::kUs, p, kT0);  // never moves back
  b.Add(View(1, 10, kT0 + 1'000));
  b.Add(View(1, 11, kT0 + 1'000, Region::kEu));
  Truth t = b.Finish();
  EXPECT_EQ(t.stories.at(1).totals.views, 2u);
  EXPECT_EQ(t.late_1m, 1u);
  EXPECT_EQ(t.late_5s, 1u);
  EXPECT_EQ(t.windows.at({1, 60000, kT0}).agg.views, 1u);  // the eu one
}

TEST(TruthTest, BoundaryIsInclusive) {
  TruthOptions o;
  TruthBuilder b(o);
  // The 5 s window [kT0, kT0 + 5 s) closes at kT0 + 65 s: an event for it is
  // too late once W >= kT0 + 65 s, not only once W > kT0 + 65 s.
  b.Add(View(1, 10, kT0 + 70'000));  // W = kT0 + 65 s
  b.Add(View(1, 11, kT0));           // 5 s window closes at kT0 + 65 s: W >= close -> late
  b.Add(View(1, 12, kT0 + 1));       // same window -> also late
  b.Add(View(1, 13, kT0 + 5'000));   // next 5 s window closes at kT0 + 70 s -> on time
  Truth t = b.Finish();
  EXPECT_EQ(t.late_5s, 2u);
  EXPECT_EQ(t.late_1m, 0u);
  EXPECT_EQ((t.windows.at({1, 5000, kT0 + 5'000}).agg.views), 1u);
  EXPECT_EQ((t.windows.at({1, 60000, kT0}).agg.views), 3u);
}

TEST(TruthTest, WindowFinality) {
  TruthBuilder b(TruthOptions{});
  b.Add(View(1, 10, kT0));
  b.Add(View(1, 11, kT0 + 70'000));  // W = kT0 + 65 s: 5 s window at kT0 closes exactly
  Truth t = b.Finish();
  EXPECT_TRUE((t.windows.at({1, 5000, kT0}).final));
  EXPECT_FALSE((t.windows.at({1, 60000, kT0}).final));  // closes at kT0 + 120 s
  EXPECT_FALSE((t.windows.at({1, 5000, kT0 + 70'000}).final));

  // One ms less of watermark and the window is not final.
  TruthBuilder b2(TruthOptions{});
  b2.Add(View(1, 10, kT0));
  b2.Add(View(1, 11, kT0 + 69'999));
  EXPECT_FALSE((b2.Finish().windows.at({1, 5000, kT0}).final));
}

TEST(TruthTest, WatermarkIsPerPartition) {
  TruthOptions o;
  o.partitions = 64;
  // Find two stories in different partitions.
  uint64_t other = 2;
  while (PartitionOf(StoryId(other), o.partitions, o.partition_scheme) ==
         PartitionOf(StoryId(1), o.partitions, o.partition_scheme))
    ++other;
  TruthBuilder b(o);
  b.Add(View(other, 10, kT0 + 500'000));  // advances only the other partition
  b.Add(View(1, 11, kT0));                // not late in story 1's partition
  Truth t = b.Finish();
  EXPECT_EQ(t.late_5s, 0u);
  EXPECT_EQ(t.late_1m, 0u);
  EXPECT_FALSE((t.windows.at({1, 5000, kT0}).final));
}

TEST(TruthTest, UniqueViewersExact) {
  TruthBuilder b(TruthOptions{});
  b.Add(View(1, 10, kT0, Region::kUs, 100));
  b.Add(View(1, 10, kT0 + 1, Region::kUs, 200));  // same viewer again
  b.Add(View(1, 11, kT0 + 2, Region::kUs, 300));
  b.Add(Ev(EventType::kShare, 1, 12, kT0 + 3));       // shares do not make viewers
  b.Add(View(1, 11, kT0 + 6'000, Region::kUs, 400));  // next 5 s window
  Truth t = b.Finish();
  const Aggregates& total = t.stories.at(1).totals;
  EXPECT_EQ(total.views, 4u);
  EXPECT_EQ(total.unique_viewers, 2u);
  EXPECT_EQ(total.watch_time_ms, 1000u);
  EXPECT_EQ(total.shares, 1u);
  EXPECT_EQ((t.windows.at({1, 5000, kT0}).agg.unique_viewers), 2u);
  EXPECT_EQ((t.windows.at({1, 5000, kT0 + 5'000}).agg.unique_viewers), 1u);
  EXPECT_EQ((t.windows.at({1, 60000, kT0}).agg.unique_viewers), 2u);
}

TEST(TruthTest, CrossRegionSumAndFinality) {
  TruthBuilder b(TruthOptions{});
  b.Add(View(1, 10, kT0, Region::kUs));
  b.Add(View(1, 20, kT0 + 1, Region::kEu));
  b.Add(View(1, 10, kT0 + 2, Region::kEu));        // id 10 in two regions: counted per region
  b.Add(View(1, 11, kT0 + 200'000, Region::kUs));  // closes us windows at kT0
  Truth t = b.Finish();
  const WindowTruth& w = t.windows.at({1, 60000, kT0});
  EXPECT_EQ(w.agg.views, 3u);
  EXPECT_EQ(w.agg.unique_viewers, 3u);
  EXPECT_FALSE(w.final);  // eu has events in it and its watermark has not passed
  EXPECT_EQ(t.stories.at(1).totals.unique_viewers, 4u);

  b.Add(View(2, 21, kT0 + 200'000, Region::kEu));  // other story, maybe other partition
  b.Add(View(1, 22, kT0 + 200'000, Region::kEu));  // closes eu windows at kT0 for story 1
  EXPECT_TRUE((b.Finish().windows.at({1, 60000, kT0}).final));
  // apac never had events in it, so it does not hold the window open.
}

Truth SampleTruth() {
  WorkloadOptions w;
  w.stories = 50;
  w.viewers = 200;
  w.base_time_ms = kT0;
  w.event_time_rate = 100;  // 100 s of event time for 10k events
  Generator g(w);
  TruthBuilder b(TruthOptions{4, 5000, 60000});
  for (int i = 0; i < 10'000; ++i) {
    Event e = g.Next();
    b.Add(e);
    if (i % 50 == 0) b.Add(e);
  }
  return b.Finish();
}

// The windows a server with a series retention still holds: those that
// start within `within` of the newest window's end, whatever their size.
TEST(TruthTest, KeepRecentWindowsDropsOnlyWindowsOlderThanTheHorizon) {
  Truth t;
  t.stories[1] = StoryTruth{101, Aggregates{4, 1, 0, 0, 0}};
  for (int64_t start : {0, 55'000, 60'000, 65'000, 115'000}) t.windows[{1, 5'000, kT0 + start}] = WindowTruth{};
  t.windows[{1, 60'000, kT0}] = WindowTruth{};
  t.windows[{1, 60'000, kT0 + 60'000}] = WindowTruth{};
  // Newest end: kT0 + 120 s (both the last 5 s and the last 1 min window).
  Truth kept = t;
  EXPECT_EQ(KeepRecentWindows(&kept, 60'000), 3u);
  std::vector<std::pair<int64_t, int64_t>> left;
  for (const auto& [key, w] : kept.windows) left.emplace_back(std::get<1>(key), std::get<2>(key) - kT0);
  EXPECT_EQ(left, (std::vector<std::pair<int64_t, int64_t>>{
                      {5'000, 60'000}, {5'000, 65'000}, {5'000, 115'000}, {60'000, 60'000}}));
  EXPECT_EQ(kept.stories, t.stories);
  Truth all = t;
  EXPECT_EQ(KeepRecentWindows(&all, 120'000), 0u);
  EXPECT_EQ(all, t);
  Truth none = t;
  EXPECT_EQ(KeepRecentWindows(&none, 0), 7u);
  EXPECT_TRUE(none.windows.empty());
}

std::string TempPath(const std::string& name) {
  return ::testing::TempDir() + "/workload_truth_test_" + name;
}

TEST(TruthFileTest, RoundTrip) {
  Truth t = SampleTruth();
  ASSERT_EQ(t.duplicates, 200u);
  ASSERT_GT(t.late_5s, 0u);
  ASSERT_GT(t.windows.size(), 100u);
  const std::string path = TempPath("roundtrip");
  ASSERT_TRUE(WriteTruthFile(t, path).ok());
  Result<Truth> back = ReadTruthFile(path);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back.value(), t);
  std::remove(path.c_str());
}

TEST(TruthFileTest, Format) {
  Truth t;
  t.stories[3] = StoryTruth{9, Aggregates{1, 1, 50, 0, 2}};
  t.windows[{3, 5000, 10000}] = WindowTruth{Aggregates{1, 1, 50, 0, 0}, true};
  t.distinct_events = 3;
  t.late_1m = 2;
  EXPECT_EQ(SerializeTruth(t),
            "watershed-truth v1 partitions=8 out_of_order_ms=5000 allowed_lateness_ms=60000 scheme=aligned\n"
            "counts distinct_events=3 duplicates=0 late_5s=0 late_1m=2\n"
            "story 3 9 1 1 50 0 2\n"
            "window 3 5000 10000 1 1 1 50 0 0\n"
            "end stories=1 windows=1\n");
}

const char kHeader[] =
    "watershed-truth v1 partitions=8 out_of_order_ms=5000 allowed_lateness_ms=60000\n"
    "counts distinct_events=3 duplicates=0 late_5s=0 late_1m=0\n";

void ExpectError(const std::string& text, const std::string& want) {
  Result<Truth> r = ParseTruth(text, "f");
  ASSERT_FALSE(r.ok()) << text;
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find(want), std::string::npos)
      << "got: " << r.status().message() << " want: " << want;
}

TEST(TruthFileTest, MalformedInputIsRejectedWithLineNumber) {
  const std::string h = kHeader;
  ASSERT_TRUE(ParseTruth(h + "end stories=0 windows=0\n", "f").ok());
  ExpectError("", "f:1: missing end line");
  ExpectError("watershed-truth v2 partitions=8 out_of_order_ms=5000 allowed_lateness_ms=60000\n",
              "f:1: expected header");
  ExpectError("watershed-truth v1 partitions=x out_of_order_ms=5000 allowed_lateness_ms=1\n",
              "f:1: field 1: bad number 'x'");
  ExpectError("watershed-truth v1 partitions=0 out_of_order_ms=5000 allowed_lateness_ms=1\n",
              "f:1: partitions");
  ExpectError(h + "story 1 2 3 4 5 6\nend stories=1 windows=0\n", "f:3: expected 8 fields");
  ExpectError(h + "story 1 2 3 4 5 6 -7\nend stories=1 windows=0\n", "f:3: field 8: bad number");
  ExpectError(h + "story 1 2 3 4 5 6 7 \nend stories=1 windows=0\n", "f:3: expected 8 fields");
  ExpectError(h + "story 1 2 3 4 5 6 7\nstory 1 2 3 4 5 6 7\n", "f:4: repeated story 1");
  ExpectError(h + "window 1 7000 0 1 1 1 1 1 1\n", "f:3: bad window size");
  ExpectError(h + "window 1 5000 2500 1 1 1 1 1 1\n", "f:3: window start not aligned");
  ExpectError(h + "window 1 5000 5000 2 1 1 1 1 1\n", "f:3: final must be 0 or 1");
  ExpectError(h + "bogus 1\n", "f:3: unknown record 'bogus'");
  ExpectError(h + "end stories=1 windows=0\n", "f:3: end line counts");
  ExpectError(h + "end stories=0 windows=0\nstory 1 2 3 4 5 6 7\n", "f:4: data after end");
  ExpectError(h + "end stories=0 windows=0", "f:3: last line lacks a newline");
  ExpectError(h + "story 1 2 3 4 5 6 7\n", "f:4: missing end line");
}

// Truth files from before partition schemes have no scheme=: their server
// used the legacy one.
TEST(TruthFileTest, PartitionSchemeInTheHeader) {
  Result<Truth> old = ParseTruth(std::string(kHeader) + "end stories=0 windows=0\n", "f");
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_EQ(old->options.partition_scheme, PartitionScheme::kLegacy);
  Truth t;
  t.options.partition_scheme = PartitionScheme::kLegacy;
  Result<Truth> back = ParseTruth(SerializeTruth(t), "f");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->options.partition_scheme, PartitionScheme::kLegacy);
  ExpectError("watershed-truth v1 partitions=8 out_of_order_ms=5000 allowed_lateness_ms=1 scheme=hash\n",
              "f:1: field 6: expected scheme=aligned or scheme=legacy");
  ExpectError("watershed-truth v1 partitions=8 out_of_order_ms=5000 allowed_lateness_ms=1 aligned\n", "f:1: field 6");
}

TEST(TruthFileTest, MissingFileIsIoError) {
  Result<Truth> r = ReadTruthFile(TempPath("does_not_exist"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kIoError);
}

TEST(TruthFileTest, TruncatedFileIsRejected) {
  const std::string path = TempPath("truncated");
  ASSERT_TRUE(WriteTruthFile(SampleTruth(), path).ok());
  std::string text;
  {
    std::ifstream in(path);
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  text.resize(text.size() / 2);
  text.resize(text.rfind('\n') + 1);  // cut at a line boundary
  {
    std::ofstream out(path, std::ios::trunc);
    out << text;
  }
  Result<Truth> r = ReadTruthFile(path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("missing end line"), std::string::npos);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace watershed::workload
