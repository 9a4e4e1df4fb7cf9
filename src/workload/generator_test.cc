#include "workload/generator.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <vector>

namespace watershed::workload {
namespace {

std::vector<Event> Generate(const WorkloadOptions& options, size_t n) {
  Generator g(options);
  std::vector<Event> events;
  events.reserve(n);
  for (size_t i = 0; i < n; ++i) events.push_back(g.Next());
  return events;
}

WorkloadOptions TestOptions() {
  WorkloadOptions o;
  o.seed = 42;
  o.stories = 1'000;
  o.viewers = 50'000;
  o.base_time_ms = 1'700'000'000'000;
  return o;
}

TEST(GeneratorTest, SameOptionsSameSequence) {
  auto a = Generate(TestOptions(), 5'000);
  auto b = Generate(TestOptions(), 5'000);
  EXPECT_EQ(a, b);
  WorkloadOptions other = TestOptions();
  other.seed = 43;
  auto c = Generate(other, 5'000);
  EXPECT_NE(a, c);
}

// Pins the sequence so a change to the generator (which would invalidate
// stored truth files and benchmark baselines) is noticed.
TEST(GeneratorTest, SequenceIsPinned) {
  Generator g(TestOptions());
  Event e = g.Next();
  EXPECT_EQ(g.produced(), 1u);
  uint64_t h = 0;
  for (int i = 0; i < 1000; ++i, e = g.Next()) {
    h = h * 1'000'003 + e.story_id.value * 31 + e.viewer_id.value * 7 +
        static_cast<uint64_t>(e.event_time.value) + e.watch_ms + static_cast<uint64_t>(e.type) +
        e.event_id.Lo();
  }
  EXPECT_EQ(h, 6750514414367513359u);
}

TEST(GeneratorTest, IdsUniqueAndFieldsConsistent) {
  const WorkloadOptions o = TestOptions();
  auto events = Generate(o, 20'000);
  std::set<EventId> ids;
  for (size_t i = 0; i < events.size(); ++i) {
    const Event& e = events[i];
    EXPECT_TRUE(ids.insert(e.event_id).second);
    ASSERT_GE(e.story_id.value, 1u);
    ASSERT_LE(e.story_id.value, o.stories);
    ASSERT_GE(e.viewer_id.value, 1u);
    ASSERT_LE(e.viewer_id.value, o.viewers);
    ASSERT_EQ(e.author_id, AuthorOfStory(e.story_id, o.authors));
    ASSERT_GE(e.author_id.value, 1u);
    ASSERT_LE(e.author_id.value, o.authors);
    ASSERT_EQ(e.region, HomeRegionOf(e.viewer_id));
    if (e.type == EventType::kView) {
      ASSERT_GE(e.watch_ms, 1u);
      ASSERT_LE(e.watch_ms, 60'000u);
    } else {
      ASSERT_EQ(e.watch_ms, 0u);
    }
    ASSERT_GE(e.event_time.value, 0);
    ASSERT_LE(e.event_time.value,
              o.base_time_ms + static_cast<int64_t>((i + 1) * 1000 / o.event_time_rate));
  }
}

TEST(GeneratorTest, TypeMixWithinOnePercent) {
  auto events = Generate(TestOptions(), 100'000);
  std::map<EventType, double> count;
  for (const Event& e : events) count[e.type] += 1;
  const double n = static_cast<double>(events.size());
  EXPECT_NEAR(count[EventType::kView] / n, 0.85, 0.01);
  EXPECT_NEAR(count[EventType::kShare] / n, 0.10, 0.01);
  EXPECT_NEAR(count[EventType::kReply] / n, 0.05, 0.01);
}

TEST(GeneratorTest, ZipfSkew) {
  auto events = Generate(TestOptions(), 100'000);
  std::map<uint64_t, uint64_t> count;
  for (const Event& e : events) ++count[e.story_id.value];
  uint64_t top_story = 0, top = 0;
  for (auto [story, c] : count) {
    if (c > top) top_story = story, top = c;
  }
  EXPECT_EQ(top_story, 1u);
  // Zipf(1.1): story 1 is about 2^1.1 = 2.14 times as popular as story 2,
  // and far more than story 100.
  const double ratio = static_cast<double>(count[1]) / static_cast<double>(count[2]);
  EXPECT_NEAR(ratio, 2.14, 0.2);
  EXPECT_GT(count[1], 50 * count[100]);
  EXPECT_GT(count.size(), 500u);  // the long tail is reached
}

TEST(GeneratorTest, LateAndOutOfOrderFractions) {
  WorkloadOptions o = TestOptions();
  auto events = Generate(o, 200'000);
  double late = 0, shifted = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    const int64_t nominal =
        o.base_time_ms + static_cast<int64_t>(static_cast<double>(i) * 1000.0 / o.event_time_rate);
    const int64_t delay = nominal - events[i].event_time.value;
    ASSERT_GE(delay, 0);
    if (delay >= o.late_min_ms) {
      ASSERT_LE(delay, o.late_max_ms);
      ++late;
    } else if (delay > 0) {
      ASSERT_LE(delay, o.out_of_order_max_ms);
      ++shifted;
    }
  }
  const double n = static_cast<double>(events.size());
  EXPECT_NEAR(late / n, 0.005, 0.001);
  // A shifted event may draw delay 0 (1 in 3001), so allow a little slack.
  EXPECT_NEAR(shifted / n, 0.10, 0.005);
}

TEST(GeneratorTest, EventTimeClampedAtZero) {
  WorkloadOptions o = TestOptions();
  o.base_time_ms = 0;
  o.late_fraction = 1.0;  // every event is minutes late
  for (const Event& e : Generate(o, 1'000)) ASSERT_EQ(e.event_time.value, 0);
}

TEST(GeneratorTest, RetriedBatchFraction) {
  WorkloadOptions o = TestOptions();
  int retried = 0;
  for (uint64_t b = 0; b < 100'000; ++b) retried += IsRetriedBatch(o, b) ? 1 : 0;
  EXPECT_NEAR(retried / 100'000.0, 0.02, 0.002);
  EXPECT_EQ(IsRetriedBatch(o, 12345), IsRetriedBatch(o, 12345));
}

}  // namespace
}  // namespace watershed::workload
