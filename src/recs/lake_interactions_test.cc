// Interactions from a lake written by the platform's own sink (no hand-made files), checked against the
// positives computed independently from the planted events (testing/engagement_lake.h).

#include "recs/lake_interactions.h"

#include <gtest/gtest.h>

#include "core/testing/temp_dir.h"
#include "lake/iceberg_commit.h"
#include "lake/tables.h"
#include "recs/story_items.h"
#include "recs/testing/engagement_lake.h"

namespace watershed::recs {
namespace {

using testing::CommitThroughSink;
using testing::ExpectedPositives;
using testing::PlantedEngagements;
using testing::Truth;

constexpr uint32_t kMinWatch = 3000;

class LakeInteractionsTest : public ::testing::Test {
 protected:
  std::string Events() { return lake::TableLocation(dir_.Path("lake"), Region::kEu, lake::LakeTableId::kEvents); }

  Dataset Read(std::optional<int64_t> snapshot, EngagementOptions options = {}, LakeEvents* read = nullptr) {
    auto events = ReadEngagementEvents(fs_, Events(), snapshot);
    EXPECT_TRUE(events.ok()) << events.status().ToString();
    if (read) *read = *events;
    Dataset d;
    AddEngagements(events->events, options, &d);
    return d;
  }
  // The dataset in the truth's terms: viewer -> story -> weight, by external ids.
  static Truth AsTruth(const Dataset& d) {
    Truth t;
    for (const Interaction& x : d.interactions) {
      auto [it, fresh] = t[std::stoull(d.users.Name(x.user))].emplace(std::stoull(d.items.Name(x.item)), x.weight);
      EXPECT_TRUE(fresh) << "pair listed twice";
    }
    return t;
  }

  ::watershed::testing::TempDir dir_{"recs_lake"};
  FileSystem* fs_ = FileSystem::Default();
};

TEST_F(LakeInteractionsTest, ThePositivesAreThePlantedOnesAndOlderSnapshotsHoldTheOlderData) {
  const std::vector<Event> first = PlantedEngagements(1, 600, 40, 60, kMinWatch);
  const std::vector<Event> second = PlantedEngagements(2, 400, 50, 60, kMinWatch);
  const int64_t s1 = CommitThroughSink(fs_, dir_.Path("lake"), Region::kEu, first, 0);
  const int64_t s2 = CommitThroughSink(fs_, dir_.Path("lake"), Region::kEu, second, first.size());
  ASSERT_NE(s1, 0);
  ASSERT_NE(s1, s2);

  std::vector<Event> all = first;
  all.insert(all.end(), second.begin(), second.end());
  LakeEvents read;
  const Dataset now = Read(std::nullopt, {}, &read);
  EXPECT_EQ(read.snapshot_id, s2);
  EXPECT_EQ(read.events.size(), all.size());
  EXPECT_GT(read.files, 2u);  // the sink cut files per hour and bucket: the reader found them all
  const Truth truth = ExpectedPositives(all, kMinWatch);
  EXPECT_EQ(AsTruth(now), truth);
  size_t positives = 0;
  for (const auto& [viewer, stories] : truth) positives += stories.size();
  EXPECT_EQ(now.interactions.size(), positives);
  EXPECT_EQ(now.num_users(), truth.size());

  // Time travel: the first snapshot has the first commit's events only.
  const Dataset then = Read(s1, {}, &read);
  EXPECT_EQ(read.snapshot_id, s1);
  EXPECT_EQ(read.events.size(), first.size());
  EXPECT_EQ(AsTruth(then), ExpectedPositives(first, kMinWatch));
  EXPECT_NE(AsTruth(then), truth);

  // Another threshold and other weights: the same truth computed with them.
  EngagementOptions other;
  other.min_watch_ms = 1000;
  other.share_weight = 5;
  other.reply_weight = 4;
  EXPECT_EQ(AsTruth(Read(std::nullopt, other)), ExpectedPositives(all, 1000, 5, 4));
}

TEST_F(LakeInteractionsTest, AViewCountsFromExactlyMinWatchMs) {
  // Viewer 1 watches story 1 for min - 1 ms, viewer 2 for exactly min, viewer 3 for min - 1 and then shares.
  std::vector<Event> events;
  auto add = [&](uint64_t viewer, EventType type, uint32_t watch, int64_t at) {
    Event e;
    e.event_id = EventId::FromHiLo(viewer, events.size());
    e.type = type;
    e.story_id = StoryId(1);
    e.author_id = AuthorId(9);
    e.viewer_id = ViewerId(viewer);
    e.region = Region::kEu;
    e.event_time = EventTimeMs(testing::kFirstEventMs + at);
    e.watch_ms = watch;
    events.push_back(e);
  };
  add(1, EventType::kView, kMinWatch - 1, 0);
  add(2, EventType::kView, kMinWatch, 1000);
  add(3, EventType::kView, kMinWatch - 1, 2000);
  add(3, EventType::kShare, 0, 7000);
  add(4, EventType::kView, kMinWatch, 3000);  // viewer 4: a view, then a reply: one interaction of weight 3
  add(4, EventType::kReply, 0, 9000);
  CommitThroughSink(fs_, dir_.Path("lake"), Region::kEu, events, 0);
  const Dataset d = Read(std::nullopt, {.min_watch_ms = kMinWatch});
  EXPECT_EQ(AsTruth(d), (Truth{{2, {{1, 1.0f}}}, {3, {{1, 2.0f}}}, {4, {{1, 3.0f}}}}));
  EXPECT_EQ(d.below_threshold, 2u);  // viewer 1's and viewer 3's short views
  // The timestamp is the pair's first positive: viewer 3's share, viewer 4's view.
  for (const Interaction& x : d.interactions) {
    const std::string viewer = d.users.Name(x.user);
    if (viewer == "3") {
      EXPECT_EQ(x.timestamp, (testing::kFirstEventMs + 7000) / 1000);
    } else if (viewer == "4") {
      EXPECT_EQ(x.timestamp, (testing::kFirstEventMs + 3000) / 1000);
    }
  }
  // One ms lower, viewer 1 counts too.
  EXPECT_EQ(AsTruth(Read(std::nullopt, {.min_watch_ms = kMinWatch - 1})).count(1), 1u);
}

TEST_F(LakeInteractionsTest, UnknownSnapshotsAndMissingTablesAreErrors) {
  auto none = ReadEngagementEvents(fs_, Events(), std::nullopt);
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
  const int64_t s = CommitThroughSink(fs_, dir_.Path("lake"), Region::kEu, PlantedEngagements(3, 50, 5, 5, 10), 0);
  auto bad = ReadEngagementEvents(fs_, Events(), s ^ 1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kNotFound);
  EXPECT_NE(bad.status().message().find(std::to_string(s)), std::string::npos) << bad.status().message();
  // A data file the snapshot lists is gone: an error naming it, not a dataset with rows missing.
  auto table = lake::IcebergTable::Load(fs_, Events());
  ASSERT_TRUE(table.ok());
  auto live = lake::ListLiveFiles(fs_, table->metadata());
  ASSERT_TRUE(live.ok());
  ASSERT_FALSE(live->empty());
  ASSERT_TRUE(fs_->RemoveFile(live->front().file.path).ok());
  auto gone = ReadEngagementEvents(fs_, Events(), std::nullopt);
  ASSERT_FALSE(gone.ok());
  EXPECT_NE(gone.status().message().find(live->front().file.path), std::string::npos) << gone.status().message();
}

TEST_F(LakeInteractionsTest, ItemsFileFeaturesAndBadLines) {
  const std::string csv = dir_.Path("items.csv");
  ASSERT_TRUE(WriteFileAtomically(fs_, csv,
                                  "story_id,author_id,created_at,tags,language,title\n"
                                  "7,70,1790000000000,news|sport,en,Seven\n"
                                  "8,80,,cats,fr,Eight\n"
                                  "9,90,0,,de,Nine\n")
                  .ok());
  auto stories = ReadItemsFile(fs_, csv);
  ASSERT_TRUE(stories.ok()) << stories.status().ToString();
  Dataset d;
  AddStories(*stories, &d);
  ASSERT_EQ(d.num_items(), 3u);
  const ItemFeatures& seven = d.features[static_cast<size_t>(d.items.Find("7"))];
  EXPECT_EQ(seven.author, "70");
  EXPECT_EQ(seven.created_at, 1'790'000'000);
  EXPECT_EQ(seven.language, "en");
  ASSERT_EQ(seven.tags.size(), 2u);
  EXPECT_EQ(d.tag_names[seven.tags[1]], "sport");
  EXPECT_EQ(d.features[static_cast<size_t>(d.items.Find("8"))].created_at, 0);  // unknown

  // A bad line: the file and its line number, and no stories at all.
  const std::string bad = dir_.Path("bad.csv");
  ASSERT_TRUE(WriteFileAtomically(fs_, bad, "story_id,author_id,tags\n1,10,a\n2,x,b\n3,30,c\n").ok());
  auto failed = ReadItemsFile(fs_, bad);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().message().rfind(bad + ":3: ", 0), 0u) << failed.status().message();
  EXPECT_NE(failed.status().message().find("author_id"), std::string::npos) << failed.status().message();

  const std::string json = dir_.Path("bad.json");
  ASSERT_TRUE(WriteFileAtomically(fs_, json, R"([{"story_id": 1, "tags": ["a"]}, {"story_id": 2, "tags": "b"}])").ok());
  failed = ReadItemsFile(fs_, json);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find(json + ": "), std::string::npos) << failed.status().message();
  EXPECT_NE(failed.status().message().find("[1].tags"), std::string::npos) << failed.status().message();
}

TEST_F(LakeInteractionsTest, CatalogueStoriesAreCandidatesEvenWithoutEngagement) {
  auto cat = catalog::StoryCatalog::Open(fs_, dir_.Path("catalog"));
  ASSERT_TRUE(cat.ok());
  std::vector<catalog::CatalogChange> changes;
  for (uint64_t s = 1; s <= 3; ++s) {
    catalog::StoryRecord r;
    r.story = StoryId(s);
    r.author = AuthorId(10 * s);
    r.created_at_ms = 1'790'000'000'000 + static_cast<int64_t>(s);
    r.tags = {"t" + std::to_string(s)};
    r.language = "en";
    r.deleted = s == 3;
    changes.push_back({r, "test", {}, std::nullopt});
  }
  ASSERT_TRUE((*cat)->Apply(changes).ok());
  auto stories = ReadCatalogStories(fs_, dir_.Path("catalog"));
  ASSERT_TRUE(stories.ok());
  EXPECT_EQ(stories->size(), 3u);
  Dataset d;
  AddStories(*stories, &d);
  EXPECT_EQ(d.num_items(), 2u);  // the deleted story is no candidate
  EXPECT_EQ(d.features[static_cast<size_t>(d.items.Find("2"))].author, "20");
  EXPECT_EQ(ReadCatalogStories(fs_, dir_.Path("nowhere")).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(fs_->FileExists(dir_.Path("nowhere")));  // reading creates nothing
}

}  // namespace
}  // namespace watershed::recs
