#include "serve/regional_live_store.h"

#include <gtest/gtest.h>

#include "serve/peer_story_codec.h"
#include "serve/testing/live_store_conformance.h"

namespace watershed::serve {
namespace {

using testing::Agg;
using testing::StoryWrite;
using testing::WindowWrite;

// The embedded default: one memory store per region, in one process.
class RegionalMemoryStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<LiveStore> us_ = NewMemoryLiveStore(), eu_ = NewMemoryLiveStore();
  RegionalLiveStore store_{{us_.get(), eu_.get(), nullptr}};
};

TEST_F(RegionalMemoryStoreTest, AWriteLandsInItsRegionsStoreOnly) {
  ASSERT_TRUE(store_.Apply(StoryWrite(Region::kEu, 100, 7, 3, Agg(4, 2, 900, 1, 0), 10)).ok());
  auto in_us = us_->GetStory(StoryId(7));
  auto in_eu = eu_->GetStory(StoryId(7));
  ASSERT_TRUE(in_us.ok() && in_eu.ok());
  EXPECT_FALSE(in_us->has_value()) << "an eu write reached the us store";
  ASSERT_TRUE(in_eu->has_value());
  EXPECT_EQ((*in_eu)->totals, Agg(4, 2, 900, 1, 0));
  auto progress_us = us_->GetProgress();
  ASSERT_TRUE(progress_us.ok());
  EXPECT_TRUE(progress_us->empty());
}

TEST_F(RegionalMemoryStoreTest, ARegionNotServedIsRefusedAndNothingIsWritten) {
  Status s = store_.Apply(StoryWrite(Region::kApac, 1, 7, 3, Agg(1)));
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  auto m = store_.GetStory(StoryId(7));
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE(m->has_value());
}

TEST_F(RegionalMemoryStoreTest, ReadsAddTheRegionsStoresUp) {
  ASSERT_TRUE(store_.Apply(StoryWrite(Region::kUs, 100, 7, 3, Agg(5, 2, 100, 1, 0))).ok());
  ASSERT_TRUE(store_.Apply(StoryWrite(Region::kEu, 300, 7, 3, Agg(3, 1, 50, 0, 2))).ok());
  auto sum = store_.GetStory(StoryId(7));
  ASSERT_TRUE(sum.ok() && sum->has_value());
  EXPECT_EQ((*sum)->totals, Agg(8, 3, 150, 1, 2));
  EXPECT_EQ((*sum)->as_of_ms, 300);
  auto parts = store_.GetStoryRegions(StoryId(7));
  ASSERT_TRUE(parts.ok());
  ASSERT_TRUE((*parts)[0] && (*parts)[1]);
  EXPECT_FALSE((*parts)[2]);
  EXPECT_EQ((*parts)[0]->totals, Agg(5, 2, 100, 1, 0));
  EXPECT_EQ((*parts)[1]->totals, Agg(3, 1, 50, 0, 2));
  EXPECT_EQ((*parts)[1]->as_of_ms, 300);

  ASSERT_TRUE(store_.Apply(WindowWrite(Region::kUs, 7, WindowSize::k5s, 5000, Agg(2), true)).ok());
  ASSERT_TRUE(store_.Apply(WindowWrite(Region::kEu, 7, WindowSize::k5s, 5000, Agg(3), false)).ok());
  ASSERT_TRUE(store_.Apply(WindowWrite(Region::kEu, 7, WindowSize::k5s, 10000, Agg(1), true)).ok());
  auto series = store_.GetSeries(StoryId(7), WindowSize::k5s, INT64_MIN, INT64_MAX);
  ASSERT_TRUE(series.ok());
  ASSERT_EQ(series->size(), 2u);
  EXPECT_EQ((*series)[0].start, 5000);
  EXPECT_EQ((*series)[0].agg.views, 5u);
  EXPECT_FALSE((*series)[0].final) << "final only once every region's part is";
  EXPECT_TRUE((*series)[1].final);

  auto many = store_.GetStories({StoryId(7), StoryId(8)});
  ASSERT_TRUE(many.ok());
  ASSERT_TRUE((*many)[0]);
  EXPECT_EQ((*many)[0]->totals.views, 8u);
  EXPECT_FALSE((*many)[1]);
}

TEST_F(RegionalMemoryStoreTest, TheTopListRanksByTheSumOverTheStores) {
  // Story 1 leads in us, story 2 in eu; story 3 is second in both and first by the sum.
  ASSERT_TRUE(store_.Apply(StoryWrite(Region::kUs, 1, 1, 9, Agg(10))).ok());
  ASSERT_TRUE(store_.Apply(StoryWrite(Region::kUs, 1, 3, 9, Agg(7))).ok());
  ASSERT_TRUE(store_.Apply(StoryWrite(Region::kEu, 1, 2, 9, Agg(10))).ok());
  ASSERT_TRUE(store_.Apply(StoryWrite(Region::kEu, 1, 3, 9, Agg(7))).ok());
  auto top = store_.TopStoriesOverall(TopBy::kViews, 2);
  ASSERT_TRUE(top.ok());
  ASSERT_EQ(top->size(), 2u);
  EXPECT_EQ((*top)[0].story, StoryId(3));
  EXPECT_EQ((*top)[0].totals.views, 14u);
  EXPECT_EQ((*top)[1].story, StoryId(1));
}

TEST_F(RegionalMemoryStoreTest, AStoryInNoRegionsTopCanLeadByItsSum) {
  // Limit 1: story 1 leads us, story 2 leads eu, story 3 is second in both and first by the sum (12).
  ASSERT_TRUE(store_.Apply(StoryWrite(Region::kUs, 1, 1, 9, Agg(10))).ok());
  ASSERT_TRUE(store_.Apply(StoryWrite(Region::kUs, 1, 3, 9, Agg(6))).ok());
  ASSERT_TRUE(store_.Apply(StoryWrite(Region::kEu, 1, 2, 9, Agg(10))).ok());
  ASSERT_TRUE(store_.Apply(StoryWrite(Region::kEu, 1, 3, 9, Agg(6))).ok());
  for (uint64_t s = 10; s < 40; ++s)  // more stories, so a list is not read whole at once
    ASSERT_TRUE(store_.Apply(StoryWrite(s % 2 ? Region::kUs : Region::kEu, 1, s, 9, Agg(1))).ok());
  auto top = store_.TopStoriesOverall(TopBy::kViews, 1);
  ASSERT_TRUE(top.ok());
  ASSERT_EQ(top->size(), 1u);
  EXPECT_EQ((*top)[0].story, StoryId(3));
  EXPECT_EQ((*top)[0].totals.views, 12u);
  auto three = store_.TopStoriesOverall(TopBy::kViews, 3);
  ASSERT_TRUE(three.ok());
  ASSERT_EQ(three->size(), 3u);
  EXPECT_EQ((*three)[1].story, StoryId(1));
  EXPECT_EQ((*three)[2].story, StoryId(2));
}

TEST_F(RegionalMemoryStoreTest, ProgressListsEachRegionsPartitions) {
  ASSERT_TRUE(store_.Apply(StoryWrite(Region::kEu, 1, 1, 9, Agg(1), 40)).ok());
  ASSERT_TRUE(store_.Apply(StoryWrite(Region::kUs, 1, 2, 9, Agg(1), 30)).ok());
  auto progress = store_.GetProgress();
  ASSERT_TRUE(progress.ok());
  ASSERT_EQ(progress->size(), 2u);
  EXPECT_EQ((*progress)[0], (PartitionProgress{Region::kUs, 0, 30}));
  EXPECT_EQ((*progress)[1], (PartitionProgress{Region::kEu, 0, 40}));
}

// One store named for several regions (one Redis for every region) is read once, and each region's part comes
// from the store mapped to that region.
TEST(RegionalSharedStoreTest, AStoreNamedTwiceIsReadOnce) {
  auto shared = NewMemoryLiveStore();
  RegionalLiveStore store({shared.get(), shared.get(), nullptr});
  ASSERT_TRUE(store.Apply(StoryWrite(Region::kUs, 1, 5, 9, Agg(2, 1))).ok());
  ASSERT_TRUE(store.Apply(StoryWrite(Region::kEu, 2, 5, 9, Agg(3, 1))).ok());
  auto m = store.GetStory(StoryId(5));
  ASSERT_TRUE(m.ok() && m->has_value());
  EXPECT_EQ((*m)->totals.views, 5u) << "a shared store must not be counted once per region";
  auto top = store.TopStoriesOverall(TopBy::kViews, 10);
  ASSERT_TRUE(top.ok());
  ASSERT_EQ(top->size(), 1u);
  EXPECT_EQ((*top)[0].totals.views, 5u);
  auto parts = store.GetStoryRegions(StoryId(5));
  ASSERT_TRUE(parts.ok());
  ASSERT_TRUE((*parts)[0] && (*parts)[1]);
  EXPECT_EQ((*parts)[0]->totals.views, 2u);
  EXPECT_EQ((*parts)[1]->totals.views, 3u);
}

// A region's deployment on a Redis still holding another region's data (shared before the split) reads only its
// own region's part of a story.
TEST(RegionalSharedStoreTest, AStoreHoldingARegionServedElsewhereAnswersOnlyTheServedOnes) {
  auto shared = NewMemoryLiveStore();
  ASSERT_TRUE(shared->Apply(StoryWrite(Region::kUs, 1, 5, 9, Agg(2, 1))).ok());  // written before the split
  RegionalLiveStore store({nullptr, shared.get(), nullptr});
  ASSERT_TRUE(store.Apply(StoryWrite(Region::kEu, 2, 5, 9, Agg(3, 1))).ok());
  auto m = store.GetStory(StoryId(5));
  ASSERT_TRUE(m.ok() && m->has_value());
  EXPECT_EQ((*m)->totals.views, 3u) << "the us part is the us deployment's to count";
  auto many = store.GetStories({StoryId(5), StoryId(6)});
  ASSERT_TRUE(many.ok());
  ASSERT_EQ(many->size(), 2u);
  ASSERT_TRUE((*many)[0].has_value());
  EXPECT_EQ((*many)[0]->totals.views, 3u);
  EXPECT_FALSE((*many)[1].has_value());
}

TEST(PeerStoryCodecTest, RoundTripsARegionsPartAndRefusesWhatIsNotOne) {
  RegionParts parts;
  parts[1].emplace(StoryMetrics{StoryId(42), AuthorId(7), Agg(10, 4, 5000, 2, 1), 1234});
  const std::string body = EncodePeerStory(StoryId(42), parts);
  auto eu = DecodePeerStory(body, StoryId(42), Region::kEu);
  ASSERT_TRUE(eu.ok()) << eu.status().ToString();
  ASSERT_TRUE(eu->has_value());
  EXPECT_EQ((*eu)->totals, Agg(10, 4, 5000, 2, 1));
  EXPECT_EQ((*eu)->as_of_ms, 1234);
  auto us = DecodePeerStory(body, StoryId(42), Region::kUs);
  ASSERT_TRUE(us.ok());
  EXPECT_FALSE(us->has_value()) << "a peer speaks for its own region only";
  EXPECT_FALSE(DecodePeerStory(body, StoryId(43), Region::kEu).ok()) << "another story";
  for (const char* bad : {"", "[]", "{\"story_id\":42}", "{\"story_id\":42,\"regions\":[{\"region\":\"mars\"}]}",
                          "{\"story_id\":42,\"regions\":[{\"region\":\"eu\",\"views\":-1,\"unique_viewers\":0,"
                          "\"watch_time_ms\":0,\"shares\":0,\"replies\":0,\"as_of\":0}]}",
                          "{\"story_id\":42,\"regions\":[{\"region\":\"eu\",\"views\":1,\"unique_viewers\":2,"
                          "\"watch_time_ms\":0,\"shares\":0,\"replies\":0,\"as_of\":0}]}"})
    EXPECT_FALSE(DecodePeerStory(bad, StoryId(42), Region::kEu).ok()) << bad;
  std::string twice = body;
  twice.insert(twice.size() - 2,
               "," + body.substr(body.find("{\"region\""), body.size() - 2 - body.find("{\"region\"")));
  EXPECT_FALSE(DecodePeerStory(twice, StoryId(42), Region::kEu).ok()) << twice;
  EXPECT_FALSE(DecodePeerStory(std::string(kMaxPeerStoryBytes + 1, ' '), StoryId(42), Region::kEu).ok());
}

// A hostile peer's huge counts would wrap the sum over the regions around 2^64 (its 2^64-1 views plus a local
// region's 2 read as 1): they are refused, while counts up to the bound still add up exactly.
TEST(PeerStoryCodecTest, RefusesCountsThatWouldWrapTheSum) {
  auto part = [](uint64_t views, uint64_t watch) {
    return "{\"story_id\":42,\"regions\":[{\"region\":\"eu\",\"views\":" + std::to_string(views) +
           ",\"unique_viewers\":0,\"watch_time_ms\":" + std::to_string(watch) +
           ",\"shares\":0,\"replies\":0,\"as_of\":0}]}";
  };
  EXPECT_FALSE(DecodePeerStory(part(UINT64_MAX, 0), StoryId(42), Region::kEu).ok());
  EXPECT_FALSE(DecodePeerStory(part(1, UINT64_MAX - 1), StoryId(42), Region::kEu).ok());
  EXPECT_FALSE(DecodePeerStory(part(kMaxPeerCount + 1, 0), StoryId(42), Region::kEu).ok());
  auto top = DecodePeerStory(part(kMaxPeerCount, kMaxPeerCount), StoryId(42), Region::kEu);
  ASSERT_TRUE(top.ok()) << top.status().ToString();
  ASSERT_TRUE(top->has_value());
  RegionParts parts;
  parts[0].emplace(StoryMetrics{StoryId(42), AuthorId(7), Agg(2, 1, 2, 0, 0), 1});
  parts[1] = **top;
  parts[2] = **top;
  auto sum = SumParts(parts);
  ASSERT_TRUE(sum);
  EXPECT_EQ(sum->totals.views, 2 * kMaxPeerCount + 2) << "no wrap";
}

}  // namespace
}  // namespace watershed::serve
