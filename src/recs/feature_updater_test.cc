// The online consumer of the log against a real embedded log (two
// partitions), over every backend: a run killed mid-stream and restarted
// ends with the features of one uninterrupted pass over the same events,
// computed independently (a plain embedded store fed the events in time
// order, without the log or the updater).

#include "recs/feature_updater.h"

#include <gtest/gtest.h>

#include <map>
#include <thread>

#include "core/testing/temp_dir.h"
#include "log/embedded_log.h"
#include "log/testing/embedded_log_fixture.h"
#include "log/testing/log_test_util.h"
#include "recs/candidate_signals.h"
#include "recs/rng.h"
#include "recs/testing/feature_store_backends.h"

namespace watershed::recs {
namespace {

using testing::Backend;

constexpr uint32_t kPartitions = 2;
constexpr uint64_t kViewers = 40;
constexpr int64_t kT0 = 1'600'000'000'000;  // event times well before the log's clock

// Viewers 0..19 only engage with stories of partition 0, 20..39 with those of
// partition 1, so the result does not depend on how the consumer interleaves
// the partitions (a viewer's events come in its partition's order); event
// times ascend. All three types; views short and long.
std::vector<Event> MakeEvents(size_t n) {
  Rng rng(17);
  std::vector<uint64_t> stories[kPartitions];
  for (uint32_t p = 0; p < kPartitions; ++p)
    for (uint64_t s = 1; stories[p].size() < 15; s = log::testing::StoryIn(p, kPartitions, s) + 1)
      stories[p].push_back(log::testing::StoryIn(p, kPartitions, s));
  std::vector<Event> out;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t p = rng.Below(kPartitions);
    Event e;
    e.event_id = EventId::FromHiLo(1, i);
    e.type = static_cast<EventType>(1 + rng.Below(3));
    e.story_id = StoryId(stories[p][rng.Below(15)]);
    e.author_id = AuthorId(e.story_id.value % 4 + 1);
    e.viewer_id = ViewerId(p * (kViewers / 2) + rng.Below(kViewers / 2));
    e.event_time = EventTimeMs(kT0 + static_cast<int64_t>(i) * 60'000);
    e.watch_ms = e.type == EventType::kView ? rng.Below(8000) : 0;
    e.region = Region::kEu;
    out.push_back(e);
  }
  return out;
}

class FeatureUpdaterTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    log::EmbeddedLogOptions o;
    o.dir = dir_.Path("eu");
    o.partitions = kPartitions;
    o.fsync = log::FsyncPolicy::kNever;
    auto opened = log::EmbeddedLog::Open(o);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    log_ = std::move(opened).value();
    events_ = MakeEvents(1500);
    for (size_t i = 0; i < events_.size(); i += 100) {
      std::vector<Event> chunk(events_.begin() + i, events_.begin() + std::min(events_.size(), i + 100));
      ASSERT_TRUE(log::testing::AppendAndWait(*log_, chunk).ok());
    }
    config_.history_length = 8;
    config_.max_tag_affinities = 4;
    config_.max_author_affinities = 3;
    prefix_ = testing::FreshPrefix();
  }

  // The store as a restarted process finds it: the embedded one from its
  // snapshot (or empty), the Redis one reconnected over the same keys.
  std::unique_ptr<FeatureStore> Reopen() {
    if (GetParam() == Backend::kEmbedded) {
      auto restored = EmbeddedFeatureStore::Restore(FileSystem::Default(), SnapshotPath());
      if (!restored.ok() && restored.status().code() == StatusCode::kNotFound)
        restored = EmbeddedFeatureStore::Create(config_);
      EXPECT_TRUE(restored.ok()) << restored.status().ToString();
      return restored.ok() ? std::move(restored).value() : nullptr;
    }
    auto store = testing::OpenRedisStore(GetParam(), config_, prefix_);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  FeatureUpdaterOptions Options(size_t batch) const {
    FeatureUpdaterOptions o;
    o.batch_records = batch;
    o.fs = FileSystem::Default();
    o.snapshot_path = SnapshotPath();
    o.snapshot_interval_ms = 0;
    return o;
  }
  uint64_t MaxStory() const {
    uint64_t m = 0;
    for (const Event& e : events_) m = std::max(m, e.story_id.value);
    return m;
  }
  std::string SnapshotPath() const { return dir_.Path("features.snap"); }

  // The independent computation: the events the updater should apply, in
  // time order, with the training path's Apply.
  std::unique_ptr<EmbeddedFeatureStore> Truth(const std::map<uint64_t, ItemInfo>& items = {}) const {
    auto truth = std::move(EmbeddedFeatureStore::Create(config_)).value();
    for (const auto& [story, info] : items) EXPECT_TRUE(truth->PutItem(story, info).ok());
    FeatureUpdaterOptions o;
    for (const Event& e : events_) {
      if (e.type == EventType::kView && e.watch_ms < o.engagement.min_watch_ms) continue;
      const float w = e.type == EventType::kView ? 1.f : e.type == EventType::kShare ? 2.f : 3.f;
      EXPECT_TRUE(truth->Apply({e.viewer_id.value, e.story_id.value, e.event_time.value, w, e.author_id.value}).ok());
    }
    return truth;
  }

  ::watershed::testing::TempDir dir_{"feature-updater"};
  std::unique_ptr<log::EmbeddedLog> log_;
  std::vector<Event> events_;
  FeatureStoreConfig config_;
  std::string prefix_;
};

TEST_P(FeatureUpdaterTest, KilledAndRestartedMidStreamEndsAsOneUninterruptedPass) {
  auto truth = Truth();
  {
    auto store = Reopen();
    ASSERT_NE(store, nullptr);
    FeatureUpdater updater(store.get(), {{Region::kEu, log_.get()}}, Options(37));
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(updater.Step().ok());
    if (GetParam() == Backend::kEmbedded) {
      ASSERT_TRUE(updater.Snapshot().ok());
    }
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(updater.Step().ok());  // the embedded store loses these: no snapshot
    EXPECT_EQ(updater.consumed_records(), 9u * 37 * kPartitions);
    // Killed: no Stop(), no final snapshot.
  }
  {
    auto store = Reopen();
    ASSERT_NE(store, nullptr);
    auto positions = store->Positions();
    ASSERT_TRUE(positions.ok());
    const uint64_t resumed = GetParam() == Backend::kEmbedded ? 5 * 37 : 9 * 37;
    EXPECT_EQ(*positions, (std::vector<LogPosition>{{1, 0, resumed}, {1, 1, resumed}}));
    FeatureUpdater updater(store.get(), {{Region::kEu, log_.get()}}, Options(53));
    ASSERT_TRUE(updater.Step().ok());
    // A second updater over the same store (a zombie of the first process)
    // finds its ranges applied already and starts again from the store.
    FeatureUpdater zombie(store.get(), {{Region::kEu, log_.get()}}, Options(53));
    ASSERT_TRUE(zombie.Step().ok());  // reads the store's positions first: no overlap
    int fenced = 0;
    for (;;) {
      auto n = updater.Step();
      if (!n.ok()) {
        ASSERT_EQ(n.status().code(), StatusCode::kFenced) << n.status().ToString();
        ASSERT_LT(++fenced, 3);
        continue;  // the zombie went ahead: resume from the store's positions
      }
      if (*n == 0) break;
    }
    EXPECT_EQ(fenced, 1);
    EXPECT_EQ(updater.Lag(), 0u);
    testing::ExpectSameFeatures(*truth, *store, kViewers, MaxStory() + 1);
  }
}

TEST_P(FeatureUpdaterTest, TheThreadCatchesUpAndStopWritesTheSnapshot) {
  auto store = Reopen();
  ASSERT_NE(store, nullptr);
  FeatureUpdater updater(store.get(), {{Region::kEu, log_.get()}}, Options(100));
  updater.Start();
  for (int i = 0; i < 600 && (updater.Lag() > 0 || updater.consumed_records() < events_.size()); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(updater.Stop().ok());
  EXPECT_EQ(updater.Lag(), 0u);
  EXPECT_EQ(updater.last_error(), "");
  EXPECT_EQ(updater.consumed_records(), events_.size());
  auto truth = Truth();
  testing::ExpectSameFeatures(*truth, *store, kViewers, MaxStory() + 1);
  if (GetParam() == Backend::kEmbedded) {
    EXPECT_EQ(updater.snapshots(), 1u);
    auto restored = EmbeddedFeatureStore::Restore(FileSystem::Default(), SnapshotPath());
    ASSERT_TRUE(restored.ok()) << restored.status().ToString();
    EXPECT_EQ((*restored)->EncodeSnapshot(), dynamic_cast<EmbeddedFeatureStore*>(store.get())->EncodeSnapshot());
  }
}

// on_applied hands every applied event, with its log's region, to the per-region trending (candidate_signals.h):
// its counts are the events the store applied, all in the EU, none elsewhere.
TEST_P(FeatureUpdaterTest, AppliedBatchesFeedTheRegionalTrendingOfTheirLogsRegion) {
  auto store = Reopen();
  ASSERT_NE(store, nullptr);
  RegionalTrending regional(kDayMs);
  FeatureUpdaterOptions o = Options(100);
  size_t calls = 0;
  o.on_applied = [&](uint8_t region, const std::vector<FeatureEvent>& events) {
    ++calls;
    regional.Add(region, events);
  };
  FeatureUpdater updater(store.get(), {{Region::kEu, log_.get()}}, o);
  while (updater.consumed_records() < events_.size()) {
    auto step = updater.Step();
    ASSERT_TRUE(step.ok()) << step.status().ToString();
  }
  EXPECT_GT(calls, 1u);
  std::map<uint64_t, uint64_t> expected;  // story → counted events
  FeatureUpdaterOptions defaults;
  for (const Event& e : events_)
    if (e.type != EventType::kView || e.watch_ms >= defaults.engagement.min_watch_ms) ++expected[e.story_id.value];
  const auto read = regional.Read(kT0 + 1000 * kDayMs);
  ASSERT_EQ(read.size(), 1u);
  ASSERT_EQ(read.begin()->first, static_cast<uint8_t>(Region::kEu));
  std::map<uint64_t, uint64_t> counted;
  for (const RegionalTrending::ItemActivity& a : read.begin()->second) counted[a.item] = a.events;
  EXPECT_EQ(counted, expected);
}

TEST_P(FeatureUpdaterTest, ItemsTakeTheirTagsAndAuthorFromTheCatalogue) {
  auto catalog = catalog::StoryCatalog::Open(FileSystem::Default(), dir_.Path("catalog"));
  ASSERT_TRUE(catalog.ok()) << catalog.status().ToString();
  std::vector<catalog::CatalogChange> changes;
  std::map<uint64_t, ItemInfo> items;
  for (uint64_t story = 1; story <= MaxStory(); ++story) {
    catalog::StoryRecord r;
    r.story = StoryId(story);
    r.author = AuthorId(900 + story % 3);  // not the events' authors: the catalogue's win
    r.created_at_ms = kT0 - 1000;
    r.tags = {"tag" + std::to_string(story % 5), "tag" + std::to_string(story % 2 + 10)};
    changes.push_back({r, "test", {}, std::nullopt});
    // A story nobody engaged with is not put (the consumer never sees it).
    const bool engaged =
        std::any_of(events_.begin(), events_.end(), [&](const Event& e) { return e.story_id == r.story; });
    if (engaged) items[story] = {r.created_at_ms, r.author.value, {CatalogTagId(r.tags[0]), CatalogTagId(r.tags[1])}};
  }
  ASSERT_TRUE((*catalog)->Apply(changes).ok());
  auto store = Reopen();
  ASSERT_NE(store, nullptr);
  FeatureUpdaterOptions options = Options(64);
  options.catalog = catalog->get();
  FeatureUpdater updater(store.get(), {{Region::kEu, log_.get()}}, options);
  for (;;) {
    auto n = updater.Step();
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    if (*n == 0) break;
  }
  auto truth = Truth(items);
  testing::ExpectSameFeatures(*truth, *store, kViewers, MaxStory() + 1);
  const auto viewer = store->Viewer(events_[0].viewer_id.value, store->watermark() + 1);
  ASSERT_TRUE(viewer.ok());
  EXPECT_FALSE(viewer->tag_affinity.empty());
  EXPECT_GE(viewer->author_affinity.at(0).key, 900u);
}

// A client's retry appends an event twice: the updater counts it once, also when the retry lands after a restart
// (the window is filled again from the log); the same event id from another viewer is another event. Control:
// without the window, the duplicates count twice.
TEST_P(FeatureUpdaterTest, ADuplicatedEventIdCountsOnceAlsoAcrossARestart) {
  const auto drain = [](FeatureUpdater& u) {
    for (;;) {
      auto n = u.Step();
      ASSERT_TRUE(n.ok()) << n.status().ToString();
      if (*n == 0) break;
    }
  };
  {
    auto store = Reopen();
    ASSERT_NE(store, nullptr);
    FeatureUpdater updater(store.get(), {{Region::kEu, log_.get()}}, Options(37));
    drain(updater);
    EXPECT_EQ(updater.duplicate_records(), 0u);
    if (GetParam() == Backend::kEmbedded) {
      ASSERT_TRUE(updater.Snapshot().ok());
    }
  }  // the process ends
  // Retries of the last 100 events (all within the window), and 6 events reusing an id under another viewer (of
  // the same partition's viewers, later than every event).
  std::vector<Event> retries(events_.end() - 100, events_.end());
  std::vector<Event> others;
  for (int k = 0; k < 6; ++k) {
    Event e = events_[events_.size() - 1 - k];
    e.viewer_id = ViewerId(e.viewer_id.value < kViewers / 2 ? (e.viewer_id.value + 1) % (kViewers / 2)
                                                            : kViewers / 2 + (e.viewer_id.value + 1) % (kViewers / 2));
    e.event_time = EventTimeMs(kT0 + static_cast<int64_t>(events_.size() + k) * 60'000);
    others.push_back(e);
  }
  ASSERT_TRUE(log::testing::AppendAndWait(*log_, retries).ok());
  ASSERT_TRUE(log::testing::AppendAndWait(*log_, others).ok());
  auto store = Reopen();
  ASSERT_NE(store, nullptr);
  FeatureUpdater updater(store.get(), {{Region::kEu, log_.get()}}, Options(37));
  drain(updater);
  EXPECT_EQ(updater.duplicate_records(), 100u);
  EXPECT_EQ(updater.consumed_records(), 106u);
  events_.insert(events_.end(), others.begin(), others.end());
  auto truth = Truth();
  testing::ExpectSameFeatures(*truth, *store, kViewers, MaxStory() + 1);

  // Control: no window, every retry counts again.
  prefix_ = testing::FreshPrefix();
  if (GetParam() == Backend::kEmbedded) {
    ASSERT_TRUE(FileSystem::Default()->RemoveFile(SnapshotPath()).ok());
  }
  auto plain = Reopen();
  ASSERT_NE(plain, nullptr);
  FeatureUpdaterOptions o = Options(37);
  o.dedup_window_records = 0;
  FeatureUpdater counting(plain.get(), {{Region::kEu, log_.get()}}, o);
  drain(counting);
  EXPECT_EQ(counting.duplicate_records(), 0u);
  const int64_t at = std::max(plain->watermark(), truth->watermark()) + 1;
  uint64_t counted = 0, once = 0;
  for (uint64_t story = 1; story <= MaxStory(); ++story) {
    counted += plain->Item(story, at).value().popularity;
    once += truth->Item(story, at).value().popularity;
  }
  EXPECT_GT(counted, once);
}

INSTANTIATE_TEST_SUITE_P(All, FeatureUpdaterTest,
                         ::testing::Values(Backend::kEmbedded, Backend::kRedis, Backend::kRedisCluster),
                         [](const auto& info) { return testing::BackendName(info.param); });

TEST(FeatureUpdaterEvents, RecordsBecomeEventsByTypeWatchTimeAndTheLogsClock) {
  FeatureUpdaterOptions o;
  log::LogRecord r;
  r.append_time = AppendTimeMs(5000);
  r.event.viewer_id = ViewerId(3);
  r.event.story_id = StoryId(4);
  r.event.author_id = AuthorId(9);
  r.event.event_time = EventTimeMs(4000);
  r.event.type = EventType::kView;
  r.event.watch_ms = 2999;
  EXPECT_FALSE(ToFeatureEvent(r, o).has_value());  // below min_watch_ms
  r.event.watch_ms = 3000;
  auto e = ToFeatureEvent(r, o);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->viewer, 3u);
  EXPECT_EQ(e->item, 4u);
  EXPECT_EQ(e->author, 9u);
  EXPECT_EQ(e->time_ms, 4000);
  EXPECT_EQ(e->weight, 1.f);
  r.event.type = EventType::kShare;
  r.event.event_time = EventTimeMs(9000);  // a client clock ahead of the log's
  e = ToFeatureEvent(r, o);
  EXPECT_EQ(e->weight, 2.f);
  EXPECT_EQ(e->time_ms, 5000);
  r.event.type = EventType::kReply;
  EXPECT_EQ(ToFeatureEvent(r, o)->weight, 3.f);
}

}  // namespace
}  // namespace watershed::recs
