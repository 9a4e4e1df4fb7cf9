// The whole server in-process: HTTP in, logs, processors, live store, HTTP
// out; then restarts on the same data directory.

#include "app/server.h"

#include <gtest/gtest.h>
#include <simdjson.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "app/auth_setup.h"
#include "app/config.h"
#include "app/testing/serve_environment.h"
#include "auth/signer.h"
#include "core/event_codec.h"
#include "core/testing/temp_dir.h"
#include "core/testing/wait.h"
#include "http/http_client.h"
#include "recs/feature_store_redis.h"
#include "serve/redis_live_store.h"
#include "serve/redis_node_client.h"
#include "serve/testing/redis_server.h"
#include "trace/testing/otlp_collector.h"

namespace watershed::app {
namespace {

using ::watershed::http::HttpClient;
using ::watershed::testing::TempDir;

struct Expected {
  uint64_t views = 0, watch_time_ms = 0, shares = 0, replies = 0;
  std::set<uint64_t> viewers;
};

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override { testing::ClearServeEnvironment(); }
  // A test that names other regions (region-names) leaves the default table.
  void TearDown() override { ASSERT_TRUE(SetRegionNames("us,eu,apac").ok()); }

  Result<std::unique_ptr<Server>> StartServer(std::vector<std::string> extra = {},
                                              ServerRoles roles = ServerRoles::AllInOne()) {
    std::vector<std::string> args = {"--data-dir",   dir_.path(), "--port",      "0",
                                     "--fsync",      "always",    "--checkpoint-interval", "100ms",
                                     "--partitions", "2",         "--auth",  "off"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto config = Config::Load(ServeConfigKeys(), args);
    if (!config.ok()) return config.status();
    return Server::Start(config.value(), FileSystem::Default(), roles);
  }

  // Polls /v1/status until every acknowledged event is in the live store.
  // The deadline only guards against a hang; nothing asserts how fast.
  void WaitForLagZero(HttpClient& client) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    int64_t lag = -1;
    while (std::chrono::steady_clock::now() < deadline) {
      auto r = client.Get("/v1/status");
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      ASSERT_EQ(r->status, 200) << r->body;
      simdjson::dom::parser parser;
      simdjson::dom::element root;
      ASSERT_EQ(parser.parse(r->body).get(root), simdjson::SUCCESS) << r->body;
      ASSERT_EQ(root["lag"].get(lag), simdjson::SUCCESS) << r->body;
      if (lag == 0) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    FAIL() << "lag still " << lag;
  }

  // Sum over partitions of a numeric /v1/status field.
  int64_t StatusSum(HttpClient& client, const char* field) {
    auto r = client.Get("/v1/status");
    EXPECT_TRUE(r.ok());
    if (!r.ok()) return -1;
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    EXPECT_EQ(parser.parse(r->body).get(root), simdjson::SUCCESS);
    simdjson::dom::array parts;
    EXPECT_EQ(root["partitions"].get(parts), simdjson::SUCCESS) << r->body;
    int64_t sum = 0;
    for (simdjson::dom::element p : parts) {
      int64_t v = 0;
      EXPECT_EQ(p[field].get(v), simdjson::SUCCESS) << field;
      sum += v;
    }
    return sum;
  }

  // Story metrics as (status, body).
  std::pair<int, std::string> StoryMetrics(HttpClient& client, uint64_t story) {
    auto r = client.Get("/v1/stories/" + std::to_string(story) + "/metrics");
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return {0, ""};
    return {r->status, r->body};
  }
  std::map<uint64_t, std::string> AllMetrics(HttpClient& client) {
    std::map<uint64_t, std::string> out;
    for (uint64_t story = 1; story <= kStories; ++story) {
      auto [status, body] = StoryMetrics(client, story);
      EXPECT_EQ(status, 200) << body;
      out[story] = body;
    }
    return out;
  }

  // The metrics without "as_of": a duplicate still advances the time the
  // store is current as of, but must not change any count.
  static std::map<uint64_t, std::string> Counts(std::map<uint64_t, std::string> metrics) {
    for (auto& [story, body] : metrics) body = std::regex_replace(body, std::regex(",\"as_of\":[0-9]+"), "");
    return metrics;
  }

  // Batch b of kPerBatch events. A viewer always comes from the same region
  // (a viewer has one home region), ids are unique across batches.
  std::vector<Event> Batch(int b) {
    std::vector<Event> out;
    for (int i = 0; i < kPerBatch; ++i) {
      uint64_t n = static_cast<uint64_t>(b * kPerBatch + i);
      Event e;
      e.event_id = EventId::FromHiLo(0x5e7e7, n);
      e.type = n % 7 == 3 ? EventType::kShare : n % 11 == 5 ? EventType::kReply : EventType::kView;
      e.story_id = StoryId(1 + n % kStories);
      e.author_id = AuthorId(1 + e.story_id.value % 2);
      e.viewer_id = ViewerId(500 + n % 13);
      e.region = static_cast<Region>(e.viewer_id.value % RegionCount());
      e.event_time = EventTimeMs(now_ms_ - 60'000 + static_cast<int64_t>(n) * 100);
      e.watch_ms = e.type == EventType::kView ? static_cast<uint32_t>(100 + n) : 0;
      out.push_back(e);
    }
    return out;
  }
  static void Count(const std::vector<Event>& events, std::map<uint64_t, Expected>* expected) {
    for (const auto& e : events) {
      Expected& x = (*expected)[e.story_id.value];
      if (e.type == EventType::kView) {
        ++x.views;
        x.watch_time_ms += e.watch_ms;
        x.viewers.insert(e.viewer_id.value);
      } else if (e.type == EventType::kShare) {
        ++x.shares;
      } else {
        ++x.replies;
      }
    }
  }
  void Post(HttpClient& client, const std::vector<Event>& events) {
    auto r = client.Request("POST", "/v1/events", EncodeEventBatchJson(events));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(r->body, "{\"accepted\":" + std::to_string(events.size()) + ",\"rejected\":[]}");
  }

  static constexpr uint64_t kStories = 5;
  static constexpr int kPerBatch = 40;
  TempDir dir_{"server_test"};
  int64_t now_ms_ = Clock::Real()->NowMs();
};

TEST_F(ServerTest, IngestRestartAndRetry) {
  std::map<uint64_t, Expected> expected;
  std::map<uint64_t, std::string> before;
  {
    auto server = StartServer();
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    HttpClient client("127.0.0.1", (*server)->port());
    for (int b = 0; b < 3; ++b) {
      std::vector<Event> batch = Batch(b);
      Post(client, batch);
      Count(batch, &expected);
    }
    WaitForLagZero(client);
    EXPECT_EQ((*server)->Lag(), 0u);
    EXPECT_EQ(StatusSum(client, "log_end_offset"), 3 * kPerBatch);

    // Totals are exactly the distinct events sent.
    for (uint64_t story = 1; story <= kStories; ++story) {
      SCOPED_TRACE(story);
      auto [status, body] = StoryMetrics(client, story);
      ASSERT_EQ(status, 200) << body;
      simdjson::dom::parser parser;
      simdjson::dom::element m;
      ASSERT_EQ(parser.parse(body).get(m), simdjson::SUCCESS);
      const Expected& x = expected[story];
      EXPECT_EQ(uint64_t(m["views"]), x.views) << body;
      EXPECT_EQ(uint64_t(m["unique_viewers"]), x.viewers.size()) << body;
      EXPECT_EQ(uint64_t(m["watch_time_ms"]), x.watch_time_ms) << body;
      EXPECT_EQ(uint64_t(m["shares"]), x.shares) << body;
      EXPECT_EQ(uint64_t(m["replies"]), x.replies) << body;
      EXPECT_GT(int64_t(m["as_of"]), 0) << body;
    }
    before = AllMetrics(client);
    EXPECT_EQ(StoryMetrics(client, kStories + 1).first, 404);
    ASSERT_TRUE((*server)->Stop().ok());
  }

  // Restart on the same directory: restored from the final checkpoints.
  {
    auto server = StartServer();
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    HttpClient client("127.0.0.1", (*server)->port());
    WaitForLagZero(client);
    EXPECT_EQ(AllMetrics(client), before);
    EXPECT_EQ(StatusSum(client, "log_end_offset"), 3 * kPerBatch);
    EXPECT_EQ(StatusSum(client, "checkpoint_offset"), 3 * kPerBatch);

    // A client retrying a batch it already sent changes nothing.
    Post(client, Batch(1));
    WaitForLagZero(client);
    EXPECT_EQ(StatusSum(client, "log_end_offset"), 4 * kPerBatch);  // stored again in the log...
    EXPECT_EQ(StatusSum(client, "duplicates"), kPerBatch);          // ...and dropped by the processor
    EXPECT_EQ(Counts(AllMetrics(client)), Counts(before));
    ASSERT_TRUE((*server)->Stop().ok());
  }

  // Without checkpoints, the processors replay the whole log, duplicate
  // batch included, and arrive at the same answers.
  std::filesystem::remove_all(dir_.Path("checkpoints"));
  {
    auto server = StartServer();
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    HttpClient client("127.0.0.1", (*server)->port());
    WaitForLagZero(client);
    EXPECT_EQ(Counts(AllMetrics(client)), Counts(before));
    EXPECT_EQ(StatusSum(client, "processed_offset"), 4 * kPerBatch);
    ASSERT_TRUE((*server)->Stop().ok());
  }
}

TEST_F(ServerTest, RestoreFromAnOlderCheckpointReplaysTheLogTail) {
  // Keep a copy of the checkpoints taken after batch 0 only, as a crash
  // right after them would leave; batch 1 then exists only in the log.
  const std::string checkpoints = dir_.Path("checkpoints"), saved = dir_.Path("checkpoints-after-batch-0");
  std::map<uint64_t, std::string> before;
  {
    auto server = StartServer();
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    HttpClient client("127.0.0.1", (*server)->port());
    Post(client, Batch(0));
    WaitForLagZero(client);
    watershed::testing::WaitUntil([&] { return StatusSum(client, "checkpoint_offset") >= kPerBatch; },
                                  std::chrono::seconds(30));
    ASSERT_EQ(StatusSum(client, "checkpoint_offset"), kPerBatch) << "no periodic checkpoint was taken";
    std::filesystem::copy(checkpoints, saved, std::filesystem::copy_options::recursive);
    Post(client, Batch(1));
    WaitForLagZero(client);
    before = AllMetrics(client);
  }  // the destructor stops the server
  std::filesystem::remove_all(checkpoints);
  std::filesystem::rename(saved, checkpoints);

  auto server = StartServer();
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  HttpClient client("127.0.0.1", (*server)->port());
  WaitForLagZero(client);
  EXPECT_EQ(AllMetrics(client), before);
  EXPECT_EQ(StatusSum(client, "processed_offset"), 2 * kPerBatch);

  // Retries of events from before the checkpoint and from the replayed
  // tail are both recognised.
  Post(client, Batch(0));
  Post(client, Batch(1));
  WaitForLagZero(client);
  EXPECT_EQ(Counts(AllMetrics(client)), Counts(before));
  EXPECT_EQ(StatusSum(client, "duplicates"), 2 * kPerBatch);
}

// Residency: a region's events are written only under that region's
// directories (log and checkpoints); no other region's file holds a byte of them.
TEST_F(ServerTest, EventsOfARegionStayInThatRegionsFiles) {
  std::vector<Event> eu;
  for (const Event& e : Batch(0))
    if (e.region == Region::kEu) eu.push_back(e);
  ASSERT_FALSE(eu.empty());
  {
    auto server = StartServer();
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    HttpClient client("127.0.0.1", (*server)->port());
    Post(client, eu);
    WaitForLagZero(client);
    ASSERT_TRUE((*server)->Stop().ok());  // final checkpoints written
  }
  // Every file of the data directory, by the region directory it lies in.
  std::map<std::string, std::string> bytes_by_region;
  for (const auto& f : std::filesystem::recursive_directory_iterator(dir_.path())) {
    if (!f.is_regular_file()) continue;
    const std::string path = f.path().string();
    // The story catalogue is content metadata (authors, titles), no
    // viewer's data: every region's processes share one.
    if (path.find("/catalog/") != std::string::npos) continue;
    if (path.ends_with("/region-names")) continue;  // the deployment's region names, no data
    std::string region;
    for (const char* r : {"us", "eu", "apac"})
      if (path.find("/" + std::string(r) + "/") != std::string::npos) region = r;
    ASSERT_FALSE(region.empty()) << path << " belongs to no region";
    std::ifstream in(path, std::ios::binary);
    bytes_by_region[region] += std::string(std::istreambuf_iterator<char>(in), {});
  }
  for (const Event& e : eu) {
    const std::string id(reinterpret_cast<const char*>(e.event_id.bytes.data()), 16);
    EXPECT_NE(bytes_by_region["eu"].find(id), std::string::npos) << "EU log lacks " << e.event_id.ToString();
    EXPECT_EQ(bytes_by_region["us"].find(id), std::string::npos) << e.event_id.ToString();
    EXPECT_EQ(bytes_by_region["apac"].find(id), std::string::npos) << e.event_id.ToString();
  }
  // The EU checkpoints carry the EU viewers (unique-viewer state); no other region's do.
  const uint64_t viewer = eu[0].viewer_id.value;
  const std::string viewer_bytes(reinterpret_cast<const char*>(&viewer), 8);
  EXPECT_EQ(bytes_by_region["us"].find(viewer_bytes), std::string::npos);
  EXPECT_EQ(bytes_by_region["apac"].find(viewer_bytes), std::string::npos);
}

// One live store per region (issue #12 part 1): each region's processors write only their region's store, and
// /metrics adds the regions' parts up and lists them.
TEST_F(ServerTest, EachRegionsProcessorsWriteOnlyItsOwnLiveStore) {
  std::map<Region, std::set<uint64_t>> stories_of;
  std::vector<Event> events = Batch(0);
  for (const Event& e : events) stories_of[e.region].insert(e.story_id.value);
  ASSERT_EQ(stories_of.size(), 3u);
  auto server = StartServer();
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  HttpClient client("127.0.0.1", (*server)->port());
  Post(client, events);
  WaitForLagZero(client);
  std::set<serve::LiveStore*> distinct;
  for (Region r : {Region::kUs, Region::kEu, Region::kApac}) {
    serve::LiveStore* store = (*server)->live_store(r);
    ASSERT_NE(store, nullptr);
    distinct.insert(store);
    auto progress = store->GetProgress();
    ASSERT_TRUE(progress.ok());
    ASSERT_FALSE(progress->empty());
    for (const auto& p : *progress) EXPECT_EQ(p.region, r) << "another region's progress in " << RegionName(r);
    for (uint64_t story : stories_of[r]) {
      auto parts = store->GetStoryRegions(StoryId(story));
      ASSERT_TRUE(parts.ok());
      for (int other = 0; other < RegionCount(); ++other)
        EXPECT_EQ((*parts)[other].has_value(), other == static_cast<int>(r))
            << "story " << story << " in " << RegionName(r) << "'s store has a part of region "
            << RegionName(static_cast<Region>(other));
    }
  }
  EXPECT_EQ(distinct.size(), 3u) << "the embedded default keeps a memory store per region";
  // A story with events in several regions: its answer lists each region's part and adds them up.
  std::map<uint64_t, std::map<Region, Expected>> expected;
  for (const Event& e : events) {
    Expected& x = expected[e.story_id.value][e.region];
    if (e.type == EventType::kView) {
      ++x.views;
      x.viewers.insert(e.viewer_id.value);
    }
  }
  uint64_t story = 0;
  for (const auto& [id, by_region] : expected)
    if (by_region.size() > 1) story = id;
  ASSERT_NE(story, 0u) << "the batch has no story in several regions";
  auto r = client.Get("/v1/stories/" + std::to_string(story) + "/metrics");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 200) << r->body;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(r->body).get(root), simdjson::SUCCESS);
  uint64_t views = 0;
  for (const auto& [region, x] : expected[story]) views += x.views;
  EXPECT_EQ(root["views"].get_uint64().value(), views) << r->body;
  EXPECT_FALSE(root["partial"].get_bool().value()) << r->body;
  EXPECT_FALSE(root["unique_viewers_exact"].get_bool().value()) << "auth off: viewers are not pinned: " << r->body;
  simdjson::dom::array parts = root["regions"].get_array().value();
  size_t listed = 0;
  for (simdjson::dom::element part : parts) {
    auto region = ParseRegion(part["region"].get_string().value());
    ASSERT_TRUE(region.has_value());
    EXPECT_EQ(part["views"].get_uint64().value(), expected[story][*region].views) << r->body;
    EXPECT_EQ(part["unique_viewers"].get_uint64().value(), expected[story][*region].viewers.size()) << r->body;
    ++listed;
  }
  EXPECT_EQ(listed, expected[story].size()) << r->body;
}

// Region names are configuration: events of eu-west-1 land in eu-west-1's log and answer under that name; the
// data dir pins the names' order (their ids are stored there) and takes regions appended at the end.
TEST_F(ServerTest, RegionNamesAreConfigurationAndTheDataDirKeepsTheirOrder) {
  {
    auto server = StartServer({"--region-names", "eu-west-1,us-east-1"});
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    ASSERT_EQ(RegionCount(), 2);
    ASSERT_EQ(ParseRegion("us"), std::nullopt);
    HttpClient client("127.0.0.1", (*server)->port());
    const std::string body =
        R"({"events":[{"event_id":"00000000-0000-4000-8000-000000000001","type":"view","story_id":7,"author_id":1,)"
        R"("viewer_id":11,"region":"us-east-1","event_time":)" +
        std::to_string(now_ms_) + R"(,"watch_ms":500},)" +
        R"({"event_id":"00000000-0000-4000-8000-000000000002","type":"view","story_id":7,"author_id":1,)"
        R"("viewer_id":12,"region":"eu-west-1","event_time":)" +
        std::to_string(now_ms_) + R"(,"watch_ms":700}]})";
    auto posted = client.Request("POST", "/v1/events", body);
    ASSERT_TRUE(posted.ok());
    ASSERT_EQ(posted->status, 200) << posted->body;
    auto old_name = client.Request(
        "POST", "/v1/events",
        R"({"events":[{"event_id":"00000000-0000-4000-8000-000000000003","type":"view","story_id":7,"author_id":1,)"
        R"("viewer_id":13,"region":"eu","event_time":)" +
            std::to_string(now_ms_) + "}]}");
    ASSERT_TRUE(old_name.ok());
    EXPECT_NE(old_name->body.find("must be one of eu-west-1, us-east-1"), std::string::npos) << old_name->body;
    WaitForLagZero(client);
    auto r = client.Get("/v1/stories/7/metrics");
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_NE(r->body.find("\"views\":2"), std::string::npos) << r->body;
    EXPECT_NE(r->body.find("\"region\":\"eu-west-1\""), std::string::npos) << r->body;
    EXPECT_NE(r->body.find("\"region\":\"us-east-1\""), std::string::npos) << r->body;
    ASSERT_TRUE((*server)->Stop().ok());
  }
  EXPECT_TRUE(std::filesystem::is_directory(dir_.path() + "/log/eu-west-1"));
  EXPECT_TRUE(std::filesystem::is_directory(dir_.path() + "/log/us-east-1"));
  // Reordered: eu-west-1's records would read as us-east-1's.
  auto reordered = StartServer({"--region-names", "us-east-1,eu-west-1"});
  ASSERT_FALSE(reordered.ok());
  EXPECT_EQ(reordered.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(reordered.status().message().find("eu-west-1,us-east-1"), std::string::npos)
      << reordered.status().message();
  // Dropped: refused alike.
  EXPECT_FALSE(StartServer({"--region-names", "eu-west-1"}).ok());
  // Appended: accepted, the old regions' counts are still there.
  auto grown = StartServer({"--region-names", "eu-west-1,us-east-1,ap-south-1"});
  ASSERT_TRUE(grown.ok()) << grown.status().ToString();
  HttpClient client("127.0.0.1", (*grown)->port());
  WaitForLagZero(client);
  auto r = client.Get("/v1/stories/7/metrics");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_NE(r->body.find("\"views\":2"), std::string::npos) << r->body;
}

// A data dir written before region names were configuration holds ids of us,eu,apac: other orders are refused.
TEST_F(ServerTest, ADataDirFromBeforeRegionNamesCountsAsUsEuApac) {
  std::filesystem::create_directories(dir_.path() + "/log/eu");
  auto swapped = StartServer({"--region-names", "eu,us,apac"});
  ASSERT_FALSE(swapped.ok());
  EXPECT_NE(swapped.status().message().find("(us,eu,apac)"), std::string::npos) << swapped.status().message();
  auto grown = StartServer({"--region-names", "us,eu,apac,me-central-1"});
  ASSERT_TRUE(grown.ok()) << grown.status().ToString();
  ASSERT_TRUE((*grown)->Stop().ok());
  std::ifstream pinned(dir_.path() + "/region-names");
  std::string names;
  std::getline(pinned, names);
  EXPECT_EQ(names, "us,eu,apac,me-central-1");
}

// A bad region-names is a clear configuration error.
TEST_F(ServerTest, BadRegionNamesFailToStart) {
  auto bad = StartServer({"--region-names", "eu-west-1,EU"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("region-names: 'EU'"), std::string::npos) << bad.status().message();
  auto unknown = StartServer({"--region-names", "eu-west-1", "--regions", "eu"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("unknown region 'eu'"), std::string::npos) << unknown.status().message();
}

// live-store.eu names eu's own Redis; us keeps live-store's: each Redis holds only its region's fields.
TEST_F(ServerTest, ARegionsOwnRedisHoldsOnlyThatRegion) {
  serve::testing::RedisServer us_redis, eu_redis;
  ASSERT_TRUE(us_redis.Start() && eu_redis.Start());
  std::vector<Event> events;
  for (const Event& e : Batch(0))
    if (e.region != Region::kApac) events.push_back(e);
  auto server =
      StartServer({"--regions", "us,eu", "--live-store", "redis://127.0.0.1:" + std::to_string(us_redis.port()),
                   "--live-store.eu", "redis://127.0.0.1:" + std::to_string(eu_redis.port())});
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  HttpClient client("127.0.0.1", (*server)->port());
  Post(client, events);
  WaitForLagZero(client);
  ASSERT_NE((*server)->live_store(Region::kUs), (*server)->live_store(Region::kEu));
  auto us = serve::NewRedisNodeLiveStore("127.0.0.1", us_redis.port(), 2000);
  auto eu = serve::NewRedisNodeLiveStore("127.0.0.1", eu_redis.port(), 2000);
  size_t checked = 0;
  for (const Event& e : events) {
    for (auto* store : {us.get(), eu.get()}) {
      auto parts = store->GetStoryRegions(e.story_id);
      ASSERT_TRUE(parts.ok()) << parts.status().ToString();
      const Region holds = store == us.get() ? Region::kUs : Region::kEu;
      for (int r = 0; r < RegionCount(); ++r)
        if (static_cast<Region>(r) != holds) {
          EXPECT_FALSE((*parts)[r].has_value()) << "story " << e.story_id.value;
        }
      if (holds == e.region) {
        EXPECT_TRUE((*parts)[static_cast<int>(holds)].has_value());
      }
    }
    ++checked;
  }
  EXPECT_GT(checked, 0u);
  auto progress = eu->GetProgress();
  ASSERT_TRUE(progress.ok());
  ASSERT_FALSE(progress->empty());
  for (const auto& p : *progress) EXPECT_EQ(p.region, Region::kEu);
}

// Moving a region to a Redis of its own: restart with live-store.eu pointing at it. Restoring each partition writes
// its whole checkpointed state to the region's store, so eu's stories are in the new Redis without a new event.
TEST_F(ServerTest, ARegionMovedToItsOwnRedisIsRefilledFromItsCheckpointsAtRestart) {
  serve::testing::RedisServer shared, eu_redis;
  ASSERT_TRUE(shared.Start() && eu_redis.Start());
  const std::string shared_spec = "redis://127.0.0.1:" + std::to_string(shared.port());
  std::vector<Event> events;
  for (const Event& e : Batch(0))
    if (e.region != Region::kApac) events.push_back(e);
  {
    auto server = StartServer({"--regions", "us,eu", "--live-store", shared_spec});
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    HttpClient client("127.0.0.1", (*server)->port());
    Post(client, events);
    WaitForLagZero(client);
    ASSERT_TRUE((*server)->Stop().ok());
  }
  auto server = StartServer({"--regions", "us,eu", "--live-store", shared_spec, "--live-store.eu",
                             "redis://127.0.0.1:" + std::to_string(eu_redis.port())});
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  HttpClient client("127.0.0.1", (*server)->port());
  WaitForLagZero(client);
  auto eu = serve::NewRedisNodeLiveStore("127.0.0.1", eu_redis.port(), 2000);
  std::map<uint64_t, uint64_t> eu_views;
  for (const Event& e : events)
    if (e.region == Region::kEu && e.type == EventType::kView) ++eu_views[e.story_id.value];
  ASSERT_FALSE(eu_views.empty());
  for (const auto& [story, views] : eu_views) {
    auto parts = eu->GetStoryRegions(StoryId(story));
    ASSERT_TRUE(parts.ok()) << parts.status().ToString();
    ASSERT_TRUE((*parts)[static_cast<int>(Region::kEu)].has_value()) << "story " << story << " not refilled";
    EXPECT_EQ((*parts)[static_cast<int>(Region::kEu)]->totals.views, views) << "story " << story;
    EXPECT_FALSE((*parts)[static_cast<int>(Region::kUs)].has_value());
  }
}

TEST_F(ServerTest, ServesHealthAndPrometheus) {
  auto server = StartServer();
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  HttpClient client("127.0.0.1", (*server)->port());
  EXPECT_EQ(client.Get("/healthz")->status, 200);
  EXPECT_EQ(client.Get("/readyz")->status, 200);
  Post(client, Batch(0));
  WaitForLagZero(client);
  auto r = client.Get("/metrics");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("\nwatershed_ingest_events_total " + std::to_string(kPerBatch) + "\n"), std::string::npos)
      << r->body;
  EXPECT_NE(r->body.find("\nwatershed_lag_records 0\n"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("\nwatershed_processed_records_total " + std::to_string(kPerBatch) + "\n"),
            std::string::npos)
      << r->body;
}

// recs-features: the feature store follows the logs inside `serve` (embedded:
// its snapshot restored at the next start; Redis: the store's own positions),
// and a restart counts nothing twice.
TEST_F(ServerTest, TheFeatureStoreFollowsTheLogsAcrossARestart) {
  serve::testing::RedisServer redis;
  ASSERT_TRUE(redis.Start());
  const std::string redis_spec = "redis://127.0.0.1:" + std::to_string(redis.port());
  for (const std::string spec : {"embedded", redis_spec.c_str()}) {
    SCOPED_TRACE(spec);
    for (const auto& entry : std::filesystem::directory_iterator(dir_.path()))  // a fresh data dir
      std::filesystem::remove_all(entry.path());
    uint64_t positives = 0;  // shares and replies: every view of Batch() is below 3 s
    for (int run = 0; run < 2; ++run) {
      auto server = StartServer({"--recs-features", spec, "--recs-features-prefix", "t0"});
      ASSERT_TRUE(server.ok()) << server.status().ToString();
      HttpClient client("127.0.0.1", (*server)->port());
      // Only the catalogue's stories get features: 1..kStories are registered, 999 is not.
      auto registered = client.Request("POST", "/v1/stories", testing::StoriesBody(kStories, 7));
      ASSERT_TRUE(registered.ok() && registered->status == 200) << registered->body;
      std::vector<Event> batch = Batch(10 + run);
      Event stray = batch.front();
      stray.event_id = EventId::FromHiLo(0xbad, static_cast<uint64_t>(run));
      stray.story_id = StoryId(999);
      stray.type = EventType::kShare;
      Post(client, batch);
      Post(client, {stray});
      for (const Event& e : batch) positives += e.type != EventType::kView;
      std::string body;
      ASSERT_TRUE(watershed::testing::WaitUntil([&] {
        body = client.Get("/metrics")->body;
        return body.find("\nwatershed_recs_feature_lag_records 0\n") != std::string::npos;
      })) << body;
      // This process's count: the first run applied its batch, the second only its own (it resumed).
      uint64_t here = 0;
      for (const Event& e : batch) here += e.type != EventType::kView;
      EXPECT_NE(body.find("\nwatershed_recs_feature_events_total " + std::to_string(here) + "\n"), std::string::npos)
          << body;
      EXPECT_NE(body.find("\nwatershed_recs_feature_duplicates_total 0\n"), std::string::npos) << body;
      ASSERT_TRUE((*server)->Stop().ok());
    }
    // Every story's popularity, read back from the store as a new process finds it.
    std::unique_ptr<recs::FeatureStore> store;
    if (spec == "embedded") {
      auto restored = recs::EmbeddedFeatureStore::Restore(FileSystem::Default(), dir_.path() + "/recs/features.snap");
      ASSERT_TRUE(restored.ok()) << restored.status().ToString();
      store = std::move(restored).value();
    } else {
      recs::RedisFeatureStoreOptions options;
      options.prefix = "t0";
      auto opened = recs::RedisFeatureStore::Open(serve::ConnectRedisNode("127.0.0.1", redis.port(), 2000).value(),
                                                  recs::FeatureStoreConfig{}, options);
      ASSERT_TRUE(opened.ok()) << opened.status().ToString();
      store = std::move(opened).value();
    }
    uint64_t popularity = 0;
    for (uint64_t story = 1; story <= kStories; ++story)
      popularity += store->Item(story, store->watermark() + 1)->popularity;
    EXPECT_EQ(popularity, positives);
  }
}

// A sampled request's trace at a real collector: ingest (child of the
// client's span), one append per region (children of ingest), and per
// event a process and a visible span (children of ingest, since the events
// carry no context of their own), each ending after it starts; visible
// spans start at the append, within the ingest span. An unsampled request
// leaves no span.
TEST_F(ServerTest, ASampledRequestIsTracedFromIngestToVisible) {
  trace::testing::OtlpCollector collector;
  ASSERT_TRUE(collector.running());
  auto server = StartServer({"--otlp-endpoint", collector.endpoint(), "--otlp-sampling-ratio", "0"});
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  HttpClient client("127.0.0.1", (*server)->port());
  const std::string trace_id = "4bf92f3577b34da6a3ce929d0e0e4736", client_span = "00f067aa0ba902b7";
  std::vector<Event> events = Batch(0);
  events.resize(6);
  std::set<int> regions;
  for (const Event& e : events) regions.insert(static_cast<int>(e.region));
  ASSERT_TRUE(client.SetHeader("traceparent", "00-" + trace_id + "-" + client_span + "-01").ok());
  Post(client, events);
  ASSERT_TRUE(client.SetHeader("traceparent", "00-" + trace_id + "-" + client_span + "-00").ok());
  Post(client, Batch(1));  // not sampled
  ASSERT_TRUE(client.SetHeader("traceparent", "").ok());
  Post(client, Batch(2));  // no context: sampled at the ratio, 0
  WaitForLagZero(client);
  const size_t expected = 1 + regions.size() + 2 * events.size();
  auto spans = collector.WaitFor(expected);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));  // a flush interval: nothing more comes
  spans = collector.spans();
  ASSERT_EQ(spans.size(), expected);
  std::map<std::string, std::vector<trace::testing::ReceivedSpan>> by_name;
  for (const auto& s : spans) {
    EXPECT_EQ(s.trace_id, trace_id);
    EXPECT_EQ(s.service, "watershed");
    EXPECT_LE(s.start_ns, s.end_ns) << s.name;
    by_name[s.name].push_back(s);
  }
  ASSERT_EQ(by_name["watershed.ingest"].size(), 1u);
  const auto& ingest = by_name["watershed.ingest"][0];
  EXPECT_EQ(ingest.parent_span_id, client_span);
  EXPECT_EQ(ingest.kind, 2);
  EXPECT_EQ(ingest.attributes.at("http.status_code"), "200");
  ASSERT_EQ(by_name["watershed.log.append"].size(), regions.size());
  for (const auto& a : by_name["watershed.log.append"]) {
    EXPECT_EQ(a.parent_span_id, ingest.span_id);
    EXPECT_GE(a.start_ns, ingest.start_ns);
    EXPECT_LE(a.end_ns, ingest.end_ns);  // acknowledged only once appended
  }
  ASSERT_EQ(by_name["watershed.process"].size(), events.size());
  ASSERT_EQ(by_name["watershed.visible"].size(), events.size());
  std::set<std::string> event_ids;
  for (const char* name : {"watershed.process", "watershed.visible"})
    for (const auto& s : by_name[name]) {
      EXPECT_EQ(s.parent_span_id, ingest.span_id) << name;
      event_ids.insert(std::string(name) + s.attributes.at("watershed.event_id"));
    }
  EXPECT_EQ(event_ids.size(), 2 * events.size());  // one of each per event
  for (const auto& v : by_name["watershed.visible"]) {
    // Append times are in ms: the visible span starts within the ingest span, to the ms.
    EXPECT_GE(v.start_ns + 1'000'000, ingest.start_ns);
    EXPECT_LE(v.start_ns, ingest.end_ns);
  }
}

// With auth on and no key configured, the first start creates the HS256
// secret readable by the owner only; later starts keep it (tokens stay valid).
TEST_F(ServerTest, AuthOnGeneratesItsSecretOnce) {
  std::string secret;
  for (int start = 0; start < 2; ++start) {
    auto server = StartServer({"--auth", "on"});
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    const std::string path = dir_.Path("auth/hs256.secret");
    std::ifstream in(path);
    std::string now((std::istreambuf_iterator<char>(in)), {});
    ASSERT_GE(now.size(), 32u);
    if (start == 0) secret = now;
    EXPECT_EQ(now, secret);
    namespace fs = std::filesystem;
    EXPECT_EQ(fs::status(path).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
    EXPECT_EQ(fs::status(dir_.Path("auth")).permissions() & fs::perms::all, fs::perms::owner_all);
    HttpClient client("127.0.0.1", (*server)->port());
    auto r = client.Get("/v1/status");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 401);
    ASSERT_TRUE((*server)->Stop().ok());
  }
}

// The takeover attack of a story through the author_id of events, against
// the whole pipeline: the catalogue says who wrote story 500, and an event
// that claims otherwise changes the counts but not who may read them.
TEST_F(ServerTest, AnEventsAuthorIdCannotTakeAStoryOver) {
  auto server = StartServer({"--auth", "on"});
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  auto secret = ReadHs256Secret(FileSystem::Default(), dir_.Path("auth/hs256.secret"));
  ASSERT_TRUE(secret.ok());
  auto client_as = [&](uint64_t user, Region region, std::initializer_list<auth::Role> roles) {
    auth::RoleSet set;
    for (auth::Role r : roles) set.Add(r);
    auto token = auth::SignToken(NewTokenClaims(user, region, set, 3600, "watershed", "watershed"),
                                 auth::SigningKey{.alg = auth::Algorithm::kHs256, .key = *secret, .kid = ""});
    EXPECT_TRUE(token.ok());
    auto client = std::make_unique<HttpClient>("127.0.0.1", (*server)->port());
    EXPECT_TRUE(client->SetHeader("Authorization", "Bearer " + (token.ok() ? *token : std::string())).ok());
    return client;
  };
  auto admin = client_as(1, Region::kUs, {auth::Role::kAdmin});
  auto author = client_as(7, Region::kEu, {auth::Role::kCreator, auth::Role::kViewer});
  auto attacker = client_as(666, Region::kUs, {auth::Role::kCreator, auth::Role::kViewer});
  auto registered = admin->Request("POST", "/v1/stories", R"({"stories": [{"story_id": 500, "author_id": 7}]})");
  ASSERT_TRUE(registered.ok());
  ASSERT_EQ(registered->status, 200) << registered->body;

  auto event = [&](uint64_t n, EventType type, uint64_t viewer, Region region, uint64_t author_hint) {
    Event e;
    e.event_id = EventId::FromHiLo(0x5e5e, n);
    e.type = type;
    e.story_id = StoryId(500);
    e.author_id = AuthorId(author_hint);
    e.viewer_id = ViewerId(viewer);
    e.region = region;
    e.event_time = EventTimeMs(now_ms_);
    e.watch_ms = type == EventType::kView ? 1000 : 0;
    return e;
  };
  Event view = event(1, EventType::kView, 7, Region::kEu, 7);
  Event share = event(2, EventType::kShare, 666, Region::kUs, 666);
  Post(*author, {view});
  Post(*attacker, {share});
  WaitForLagZero(*admin);

  auto stolen = attacker->Get("/v1/stories/500/metrics");
  ASSERT_TRUE(stolen.ok());
  EXPECT_EQ(stolen->status, 403) << stolen->body;
  auto top = attacker->Get("/v1/creators/666/top");
  ASSERT_TRUE(top.ok());
  EXPECT_EQ(top->body, R"({"creator_id":666,"stories":[],"truncated":false})");
  auto own = author->Get("/v1/stories/500/metrics");
  ASSERT_TRUE(own.ok());
  ASSERT_EQ(own->status, 200) << own->body;
  EXPECT_NE(own->body.find(R"("story_id":500,"author_id":7,"views":1,)"), std::string::npos) << own->body;
  EXPECT_NE(own->body.find(R"("shares":1)"), std::string::npos) << own->body;
  auto author_top = author->Get("/v1/creators/7/top");
  ASSERT_TRUE(author_top.ok());
  EXPECT_NE(author_top->body.find(R"("story_id":500)"), std::string::npos) << author_top->body;
  ASSERT_TRUE((*server)->Stop().ok());
}

TEST_F(ServerTest, BadConfigurationFailsToStart) {
  auto s = StartServer({"--partitions", "0"});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  s = StartServer({"--regions", "us,mars"});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("mars"), std::string::npos) << s.status().message();
  s = StartServer({"--fsync", "sometimes"});
  EXPECT_FALSE(s.ok());
  s = StartServer({"--port", "70000"});
  EXPECT_FALSE(s.ok());
  s = StartServer({"--listen", "not-an-address"});
  EXPECT_FALSE(s.ok());
  // Auth and TLS settings are checked before anything listens.
  const std::string short_secret = dir_.Path("short.secret");
  std::ofstream(short_secret) << "too-short\n";
  for (std::vector<std::string> bad : {
           std::vector<std::string>{"--auth", "on", "--auth-secret-file", short_secret},
           {"--auth", "on", "--auth-secret-file", dir_.Path("missing.secret")},
           {"--auth", "on", "--auth-jwks-file", dir_.Path("missing.jwks")},
           {"--auth", "maybe"},
           {"--auth", "on", "--rate-limit-exempt", "wizard"},
           {"--tls-cert", dir_.Path("missing.crt"), "--tls-key", dir_.Path("missing.key")},
           {"--tls-cert", dir_.Path("missing.crt")},
       }) {
    s = StartServer(bad);
    EXPECT_FALSE(s.ok()) << bad[0] << " " << bad[1] << " " << bad.back();
  }

  // A port already taken is an error, not a crash.
  auto first = StartServer();
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  std::string other = dir_.Path("other");
  auto config = Config::Load(ServeConfigKeys(), {"--data-dir", other, "--port", std::to_string((*first)->port()),
                                                 "--partitions", "2"});
  ASSERT_TRUE(config.ok());
  auto second = Server::Start(config.value());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable) << second.status().ToString();
}

// Each write would wait for a replica that is not there: the start does not
// fail, but says so, naming the setting and the replicas found.
TEST_F(ServerTest, WaitingForMoreRedisReplicasThanConnectedWarnsAtStart) {
  serve::testing::RedisServer redis;
  ASSERT_TRUE(redis.Start());
  ::testing::internal::CaptureStderr();
  auto server = StartServer({"--live-store", "redis://127.0.0.1:" + std::to_string(redis.port()),
                             "--live-store-wait-replicas", "1", "--lake", "off"});
  const std::string err = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  EXPECT_NE(err.find("live-store-wait-replicas is 1 but redis://127.0.0.1:"), std::string::npos) << err;
  EXPECT_NE(err.find("has 0 connected replica(s)"), std::string::npos) << err;
}

TEST_F(ServerTest, SplitRolesRefuseWhatCannotBeShared) {
  // The embedded log lives inside one process: no split role runs on it.
  for (ServerRoles roles : {ServerRoles::Gateway(), ServerRoles::Processor(), ServerRoles::Query()}) {
    auto s = StartServer({"--live-store", "redis://127.0.0.1:1"}, roles);
    ASSERT_FALSE(s.ok()) << roles.command;
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(s.status().message().find("kafka://"), std::string::npos) << s.status().message();
    EXPECT_NE(s.status().message().find(roles.command), std::string::npos) << s.status().message();
  }
  // A memory live store is invisible to the other processes.
  for (ServerRoles roles : {ServerRoles::Processor(), ServerRoles::Query()}) {
    auto s = StartServer({"--log", "kafka://127.0.0.1:1"}, roles);
    ASSERT_FALSE(s.ok()) << roles.command;
    EXPECT_NE(s.status().message().find("redis"), std::string::npos) << s.status().message();
  }
}

// A data dir from before partition schemes (LOG_META v1) keeps the legacy
// scheme: its logs open as they are, a region log created beside them takes
// their scheme, /v1/status says so (for `watershed load`), and asking for
// the aligned scheme is refused.
TEST_F(ServerTest, AnOldDataDirKeepsItsLegacyPartitionScheme) {
  std::filesystem::create_directories(dir_.Path("log/us"));
  std::ofstream(dir_.Path("log/us/LOG_META")) << "watershed-log v1 partitions=2\n";
  {
    auto server = StartServer({"--regions", "us,eu"});
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    HttpClient client("127.0.0.1", (*server)->port());
    auto r = client.Get("/v1/status");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 200);
    EXPECT_NE(r->body.find("\"partition_scheme\":\"legacy\""), std::string::npos) << r->body;
    EXPECT_EQ(r->body.find("\"partition_scheme\":\"aligned\""), std::string::npos) << r->body;
    EXPECT_TRUE((*server)->Stop().ok());
  }
  std::ifstream us(dir_.Path("log/us/LOG_META")), eu(dir_.Path("log/eu/LOG_META"));
  std::string us_meta, eu_meta;
  std::getline(us, us_meta);
  std::getline(eu, eu_meta);
  EXPECT_EQ(us_meta, "watershed-log v1 partitions=2");  // never rewritten
  EXPECT_EQ(eu_meta, "watershed-log v2 partitions=2 scheme=legacy");
  auto aligned = StartServer({"--regions", "us,eu", "--log-partition-scheme", "aligned"});
  ASSERT_FALSE(aligned.ok());
  EXPECT_EQ(aligned.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(aligned.status().message().find("partition scheme legacy"), std::string::npos)
      << aligned.status().message();
  auto bad = StartServer({"--log-partition-scheme", "round-robin"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("log-partition-scheme"), std::string::npos) << bad.status().message();
}

}  // namespace
}  // namespace watershed::app
