// `watershed serve --recs-model`: GET /v1/users/{id}/recommendations answered by the process's feature store
// (filled from the logs) and a model of the registry under its data dir; a promoted version is served without
// a restart; the settings' errors.

#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "app/commands.h"
#include "app/config.h"
#include "app/erasure.h"
#include "app/server.h"
#include "app/testing/serve_environment.h"
#include "core/event_codec.h"
#include "core/testing/temp_dir.h"
#include "core/testing/wait.h"
#include "http/http_client.h"
#include "recs/bpr.h"
#include "recs/experiments.h"
#include "recs/feature_store.h"
#include "recs/registry.h"
#include "recs/stored_model.h"
#include "recs/two_tower.h"

namespace watershed::app {
namespace {

using ::watershed::http::HttpClient;

constexpr uint64_t kStories = 40;
constexpr uint64_t kFirstViewer = 500, kViewers = 10;

class ServerRecsTest : public ::testing::Test {
 protected:
  void SetUp() override { testing::ClearServeEnvironment(); }

  Result<std::unique_ptr<Server>> StartServer(std::vector<std::string> extra) {
    std::vector<std::string> args = {"--data-dir", dir_.path(), "--port", "0", "--partitions", "2", "--auth", "off"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto config = Config::Load(ServeConfigKeys(), args);
    if (!config.ok()) return config.status();
    return Server::Start(config.value(), FileSystem::Default(), ServerRoles::AllInOne());
  }

  // The viewers and stories the test posts (ids as the API's), each viewer with every 4th story.
  static recs::Dataset Data() {
    recs::Dataset d;
    for (uint64_t v = 0; v < kViewers; ++v) d.users.Intern(std::to_string(kFirstViewer + v));
    for (uint64_t s = 1; s <= kStories; ++s) d.items.Intern(std::to_string(s));
    d.features.resize(kStories);
    for (uint32_t u = 0; u < kViewers; ++u)
      for (uint32_t i = 0; i < kStories; ++i)
        if ((i + u) % 4 == 0) d.interactions.push_back({.user = u, .item = i, .weight = 1, .timestamp = 1});
    return d;
  }

  // A version of "stories" over `d`.
  static recs::ModelManifest Manifest(const recs::Dataset& d, const std::string& model, uint32_t dim) {
    recs::ModelManifest m;
    m.name = "stories";
    m.model = model;
    m.users = d.num_users();
    m.items = d.num_items();
    m.dim = dim;
    return m;
  }

  // Two BPR versions of "stories" over Data().
  void SaveModels() {
    const recs::Dataset d = Data();
    recs::ModelRegistry registry(FileSystem::Default(), dir_.path() + "/models");
    recs::BprConfig config;
    config.factors = 8;
    config.training.max_epochs = 3;
    for (uint64_t seed : {1, 2}) {
      config.training.seed = seed;
      const recs::BprModel bpr = recs::BprModel::Train(d.num_users(), d.num_items(), d.interactions, config);
      recs::ModelManifest m = Manifest(d, "bpr", config.factors);
      ASSERT_TRUE(registry.Save(&m, recs::ExportBpr(d, bpr)).ok());
    }
  }

  // Shares (a view below 3 s is no feature event) of every viewer, each of stories (viewer + k) % kStories + 1.
  std::vector<Event> Shares() {
    std::vector<Event> out;
    const int64_t now = Clock::Real()->NowMs();
    for (uint64_t v = 0; v < kViewers; ++v)
      for (uint64_t k = 0; k < 3; ++k) {
        Event e;
        e.event_id = EventId::FromHiLo(0x7ec5, v * 16 + k);
        e.type = EventType::kShare;
        e.story_id = StoryId((v + k * 7) % kStories + 1);
        e.author_id = AuthorId(7);
        e.viewer_id = ViewerId(kFirstViewer + v);
        e.region = Region::kUs;
        e.event_time = EventTimeMs(now - 10'000 + static_cast<int64_t>(v * 16 + k));
        out.push_back(e);
      }
    return out;
  }

  // Both versions of "stories" served through the experiment "seeds" (control stories@1, treatment stories@2), the
  // catalogue's stories and every viewer's shares sent, the feature store caught up with them.
  void StartServingTheExperiment() {
    SaveModels();
    experiments_ = dir_.path() + "/experiments.toml";
    ASSERT_TRUE(WriteFileAtomically(FileSystem::Default(), experiments_,
                                    "[[layer]]\nname = \"ranking\"\n\n[[experiment]]\nname = \"seeds\"\nlayer = "
                                    "\"ranking\"\ncontrol = \"control\"\n\n[[arm]]\nexperiment = \"seeds\"\nname = "
                                    "\"control\"\nmodel = \"stories@1\"\n\n[[arm]]\nexperiment = \"seeds\"\nname = "
                                    "\"treatment\"\nmodel = \"stories@2\"\n")
                    .ok());
    auto server = StartServer({"--recs-features", "embedded", "--recs-model", "stories", "--recs-experiments",
                               experiments_, "--recs-refresh", "50ms"});
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    client_ = std::make_unique<HttpClient>("127.0.0.1", server_->port());
    auto registered = client_->Request("POST", "/v1/stories", testing::StoriesBody(kStories, 7));
    ASSERT_TRUE(registered.ok() && registered->status == 200) << registered->body;
    auto posted = client_->Request("POST", "/v1/events", EncodeEventBatchJson(Shares()));
    ASSERT_TRUE(posted.ok() && posted->status == 200) << posted->body;
    ASSERT_TRUE(watershed::testing::WaitUntil([&] {
      return client_->Get("/metrics")->body.find("\nwatershed_recs_feature_lag_records 0\n") != std::string::npos;
    }));
  }

  ::watershed::testing::TempDir dir_{"server_recs"};
  std::string experiments_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<HttpClient> client_;
};

struct Answer {
  int status = 0;
  std::string model, body;
  std::vector<uint64_t> items;
};

Answer Get(HttpClient& client, const std::string& target) {
  Answer a;
  auto r = client.Get(target);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return a;
  a.status = r->status;
  a.body = r->body;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(a.body).get(root) != simdjson::SUCCESS) return a;
  std::string_view model;
  if (root["model"].get(model) == simdjson::SUCCESS) a.model = model;
  simdjson::dom::array items;
  if (root["items"].get(items) == simdjson::SUCCESS)
    for (simdjson::dom::element item : items) a.items.push_back(item["story_id"].get_uint64().value());
  return a;
}

TEST_F(ServerRecsTest, ServesTheCurrentVersionAndSwapsInAPromotedOne) {
  SaveModels();
  auto server = StartServer({"--recs-features", "embedded", "--recs-model", "stories", "--recs-refresh", "50ms"});
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  HttpClient client("127.0.0.1", (*server)->port());
  auto registered = client.Request("POST", "/v1/stories", testing::StoriesBody(kStories, 7));
  ASSERT_TRUE(registered.ok() && registered->status == 200) << registered->body;
  const std::vector<Event> shares = Shares();
  auto posted = client.Request("POST", "/v1/events", EncodeEventBatchJson(shares));
  ASSERT_TRUE(posted.ok() && posted->status == 200) << posted->body;
  ASSERT_TRUE(watershed::testing::WaitUntil([&] {
    return client.Get("/metrics")->body.find("\nwatershed_recs_feature_lag_records 0\n") != std::string::npos;
  }));

  std::set<uint64_t> seen;  // viewer 500's shared stories: never recommended to them
  for (const Event& e : shares)
    if (e.viewer_id.value == kFirstViewer) seen.insert(e.story_id.value);
  Answer a = Get(client, "/v1/users/500/recommendations?k=10&explain=true");
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.model, "stories@1");
  EXPECT_EQ(a.items.size(), 10u) << a.body;
  for (uint64_t item : a.items) {
    EXPECT_GE(item, 1u);
    EXPECT_LE(item, kStories);
    EXPECT_EQ(seen.count(item), 0u) << "seen story " << item << " recommended: " << a.body;
  }
  EXPECT_NE(client.Get("/metrics")->body.find("\nwatershed_recs_model_version 1\n"), std::string::npos);

  recs::ModelRegistry registry(FileSystem::Default(), dir_.path() + "/models");
  ASSERT_TRUE(registry.Promote("stories", 2).ok());
  EXPECT_TRUE(watershed::testing::WaitUntil(
      [&] { return Get(client, "/v1/users/500/recommendations?k=10").model == "stories@2"; }));
  EXPECT_EQ(Get(client, "/v1/users/500/recommendations?k=0").status, 400);
  ASSERT_TRUE((*server)->Stop().ok());
}

// End to end: serve with an experiments file → every answer names its arm and is an exposure in
// <data-dir>/recs/exposures → outcome events → `watershed recs experiment report` sees both arms.
TEST_F(ServerRecsTest, AnswersNameTheirArmAndTheReportCommandJoinsOutcomesToTheirExposures) {
  ASSERT_NO_FATAL_FAILURE(StartServingTheExperiment());
  HttpClient& client = *client_;
  const std::string& experiments = experiments_;
  // Every viewer asks twice; the answer names the model of its arm.
  std::map<std::string, std::pair<uint64_t, std::vector<uint64_t>>> requests;  // request id → (viewer, items)
  std::map<std::string, int> per_arm;
  std::string csv = "viewer,story,type,watch_ms,event_time_ms\n";
  const int64_t later = Clock::Real()->NowMs() + 60'000;
  for (int round = 0; round < 2; ++round)
    for (uint64_t v = kFirstViewer; v < kFirstViewer + kViewers; ++v) {
      Answer a = Get(client, "/v1/users/" + std::to_string(v) + "/recommendations?k=5");
      ASSERT_EQ(a.status, 200) << a.body;
      simdjson::dom::parser parser;
      simdjson::dom::element root = parser.parse(a.body).value();
      const std::string request_id(root["request_id"].get_string().value());
      simdjson::dom::array arms = root["experiments"].get_array().value();
      ASSERT_EQ(arms.size(), 1u) << a.body;
      const std::string arm(arms.at(0)["arm"].get_string().value());
      EXPECT_EQ(std::string(arms.at(0)["experiment"].get_string().value()), "seeds");
      EXPECT_EQ(a.model, arm == "treatment" ? "stories@2" : "stories@1") << a.body;
      requests[request_id] = {v, a.items};
      ++per_arm[arm];
      if (round == 0 && !a.items.empty())
        csv += std::to_string(v) + "," + std::to_string(a.items[0]) + ",view," +
               (arm == "treatment" ? "40000" : "20000") + "," + std::to_string(later) + "\n";
    }
  EXPECT_EQ(requests.size(), 2 * kViewers);
  EXPECT_GT(per_arm["control"], 0);  // both arms served (the assignment of these ten viewers is fixed)
  EXPECT_GT(per_arm["treatment"], 0);
  EXPECT_NE(client.Get("/metrics")->body.find("\nwatershed_recs_exposures_total 20\n"), std::string::npos);
  ASSERT_TRUE(server_->Stop().ok());
  server_.reset();

  auto log = recs::ReadExposures(FileSystem::Default(), dir_.path() + "/recs/exposures", "seeds");
  ASSERT_TRUE(log.ok()) << log.status().message();
  ASSERT_EQ(log->exposures.size(), 2 * kViewers);
  for (const recs::Exposure& e : log->exposures) {
    ASSERT_TRUE(requests.count(e.request_id)) << e.request_id;
    EXPECT_EQ(requests[e.request_id].first, e.user);
    EXPECT_EQ(requests[e.request_id].second, e.items);
  }
  const std::string events = dir_.path() + "/outcomes.csv";
  ASSERT_TRUE(WriteFileAtomically(FileSystem::Default(), events, csv).ok());
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  const int code = RecsCommand({"experiment", "report", "seeds", "--events", events, "--config", experiments,
                                "--data-dir", dir_.path(), "--json"});
  const std::string out = ::testing::internal::GetCapturedStdout();
  const std::string err = ::testing::internal::GetCapturedStderr();
  ASSERT_EQ(code, 0) << err;
  simdjson::dom::parser parser;
  simdjson::dom::element report = parser.parse(out).value();
  EXPECT_EQ(report["exposures_read"].get_uint64().value(), 2 * kViewers);
  uint64_t users = 0, counted = 0;
  const simdjson::dom::array arms_array =
      report["arms"].get_array().value();  // named: a range-for over a temporary's value() dangles
  for (simdjson::dom::element arm : arms_array) {
    const std::string name(arm["name"].get_string().value());
    EXPECT_EQ(arm["exposures"].get_uint64().value(), static_cast<uint64_t>(per_arm[name])) << out;
    users += arm["users"].get_uint64().value();
    if (per_arm[name] > 0) {
      EXPECT_GT(arm["ctr"].get_double().value(), 0) << out;
      EXPECT_NEAR(arm["watch_s_per_user"].get_double().value(), name == "treatment" ? 40 : 20, 1e-9) << out;
    }
  }
  counted = report["events_counted"].get_uint64().value();
  EXPECT_EQ(users, kViewers);
  EXPECT_EQ(counted, kViewers);
}

// POST /v1/admin/erasures on a server that keeps the feature store and appends exposures: its own threads take the
// viewer out of both (the snapshot is rewritten at once), while the rest of the viewers and serving carry on.
TEST_F(ServerRecsTest, ARunningServerErasesAViewerEverywhereWhileItServes) {
  ASSERT_NO_FATAL_FAILURE(StartServingTheExperiment());
  HttpClient& client = *client_;
  for (int round = 0; round < 2; ++round)
    for (uint64_t v = kFirstViewer; v < kFirstViewer + kViewers; ++v)
      ASSERT_EQ(Get(client, "/v1/users/" + std::to_string(v) + "/recommendations?k=5").status, 200);
  const std::string exposures = dir_.path() + "/recs/exposures", snapshot = dir_.path() + "/recs/features.snap";
  auto before = recs::CountUserExposures(FileSystem::Default(), exposures, kFirstViewer);
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(*before, 2u);

  auto erased = client.Request("POST", "/v1/admin/erasures", "{\"viewer_id\": " + std::to_string(kFirstViewer) + "}");
  ASSERT_TRUE(erased.ok() && erased->status == 202) << erased->body;
  // Every step runs in the server while it serves: its processors' state, the lake, the recommendations'.
  ErasureStore store(FileSystem::Default(), dir_.path());
  auto step_done = [&](const std::string& step) {
    auto all = store.List();
    return all.ok() && all->size() == 1 &&
           std::find((*all)[0].done.begin(), (*all)[0].done.end(), step) != (*all)[0].done.end();
  };
  ASSERT_TRUE(watershed::testing::WaitUntil([&] {
    auto all = store.List();
    return all.ok() && all->size() == 1 && (*all)[0].complete;
  }));
  for (const char* step : {"checkpoints us", "feature-store", "exposures"}) EXPECT_TRUE(step_done(step)) << step;
  auto features = recs::EmbeddedFeatureStore::Restore(FileSystem::Default(), snapshot);
  ASSERT_TRUE(features.ok()) << features.status().ToString();
  EXPECT_FALSE((*features)->HoldsViewer(kFirstViewer).value());
  EXPECT_TRUE((*features)->HoldsViewer(kFirstViewer + 1).value());
  EXPECT_EQ(recs::CountUserExposures(FileSystem::Default(), exposures, kFirstViewer).value(), 0u);
  EXPECT_EQ(recs::CountUserExposures(FileSystem::Default(), exposures, kFirstViewer + 1).value(), 2u);
  // Serving goes on into the rewritten log.
  ASSERT_EQ(Get(client, "/v1/users/" + std::to_string(kFirstViewer + 1) + "/recommendations?k=5").status, 200);
  ASSERT_TRUE(server_->Stop().ok());
  server_.reset();
  auto log = recs::ReadExposures(FileSystem::Default(), exposures, "seeds");
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  EXPECT_EQ(log->exposures.size(), 2 * kViewers - 2 + 1);
  EXPECT_EQ(log->torn_bytes, 0u);
  // `erase --verify` finds the viewer only in the log's segments, which expire.
  ::testing::internal::CaptureStdout();
  const int verified = EraseCommand({"--verify", std::to_string(kFirstViewer), "--data-dir", dir_.path()});
  const std::string found = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(verified, 0) << found;
  std::istringstream lines(found);
  for (std::string line; std::getline(lines, line);)
    EXPECT_TRUE(line.starts_with("log ") || line.starts_with("viewer ")) << line;
}

// Stories registered after training are embedded by a two-tower version's item tower and added to its index when
// the version is loaded: they come back as `ann` candidates (without the catalogue's feed they could not: the
// version's index holds only its own stories).
TEST_F(ServerRecsTest, StoriesPublishedAfterTrainingAreFoundInTheIndexOfATwoTowerVersion) {
  SaveModels();
  {
    const recs::Dataset d = Data();
    recs::TwoTowerConfig c;
    c.dim = 8;
    c.training.max_epochs = 2;
    const recs::TwoTowerModel tt =
        recs::TwoTowerModel::Train(d.num_users(), d.num_items(), d.interactions, recs::TwoTowerFeatures(d), c);
    recs::ModelManifest m = Manifest(d, "two-tower", c.dim);
    recs::ModelRegistry registry(FileSystem::Default(), dir_.path() + "/models");
    auto saved = registry.Save(&m, recs::ExportTwoTower(d, tt));
    ASSERT_TRUE(saved.ok()) << saved.status().message();
    ASSERT_EQ(*saved, 3u);
  }
  auto server = StartServer({"--recs-features", "embedded", "--recs-model", "stories", "--recs-refresh", "50ms"});
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  HttpClient client("127.0.0.1", (*server)->port());
  // Five stories more than the versions know (41..45).
  auto registered = client.Request("POST", "/v1/stories", testing::StoriesBody(kStories + 5, 7));
  ASSERT_TRUE(registered.ok() && registered->status == 200) << registered->body;
  auto posted = client.Request("POST", "/v1/events", EncodeEventBatchJson(Shares()));
  ASSERT_TRUE(posted.ok() && posted->status == 200) << posted->body;
  ASSERT_TRUE(watershed::testing::WaitUntil([&] {
    return client.Get("/metrics")->body.find("\nwatershed_recs_feature_lag_records 0\n") != std::string::npos;
  }));
  // Which of 41..45 are answered as `ann` candidates (k = every candidate).
  auto published_from_index = [&] {
    std::set<uint64_t> out;
    Answer a = Get(client, "/v1/users/501/recommendations?k=200");
    EXPECT_EQ(a.status, 200) << a.body;
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (parser.parse(a.body).get(root) != simdjson::SUCCESS) return out;
    const simdjson::dom::array items_array = root["items"].get_array().value();
    for (simdjson::dom::element item : items_array) {
      const uint64_t id = item["story_id"].get_uint64().value();
      const simdjson::dom::array sources_array = item["sources"].get_array().value();
      for (simdjson::dom::element source : sources_array)
        if (id > kStories && source.get_string().value() == "ann") out.insert(id);
    }
    return out;
  };
  EXPECT_TRUE(published_from_index().empty());  // stories@1 (BPR): no tower, its index holds its own stories
  recs::ModelRegistry registry(FileSystem::Default(), dir_.path() + "/models");
  ASSERT_TRUE(registry.Promote("stories", 3).ok());
  ASSERT_TRUE(watershed::testing::WaitUntil(
      [&] { return Get(client, "/v1/users/501/recommendations?k=10").model == "stories@3"; }));
  EXPECT_EQ(published_from_index(), (std::set<uint64_t>{41, 42, 43, 44, 45}));
  ASSERT_TRUE((*server)->Stop().ok());
}

// recs-coviews = lake: ten other viewers shared story 1 and then story 30; viewer 500 shared story 1 (Shares()), so
// once the lake holds those events story 30 is one of viewer 500's `coviewed` candidates.
TEST_F(ServerRecsTest, CoViewedStoriesComeFromTheLakesEvents) {
  SaveModels();
  auto server =
      StartServer({"--recs-features", "embedded", "--recs-model", "stories", "--recs-refresh", "50ms", "--recs-coviews",
                   "lake", "--recs-coviews-refresh", "1ms", "--lake-commit-interval", "200ms"});
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  HttpClient client("127.0.0.1", (*server)->port());
  auto registered = client.Request("POST", "/v1/stories", testing::StoriesBody(kStories, 7));
  ASSERT_TRUE(registered.ok() && registered->status == 200) << registered->body;
  std::vector<Event> events = Shares();
  const int64_t now = Clock::Real()->NowMs();
  for (uint64_t v = 0; v < 10; ++v)
    for (uint64_t k = 0; k < 2; ++k) {
      Event e = events[0];
      e.event_id = EventId::FromHiLo(0xc0, v * 2 + k);
      e.story_id = StoryId(k == 0 ? 1 : 30);
      e.viewer_id = ViewerId(600 + v);
      e.event_time = EventTimeMs(now - 5'000 + static_cast<int64_t>(v * 2 + k));
      events.push_back(e);
    }
  auto posted = client.Request("POST", "/v1/events", EncodeEventBatchJson(events));
  ASSERT_TRUE(posted.ok() && posted->status == 200) << posted->body;
  // The co-viewed items are recomputed with each new snapshot: promote versions in turn until the lake's events
  // are in one.
  recs::ModelRegistry registry(FileSystem::Default(), dir_.path() + "/models");
  uint32_t version = 1;
  std::string body;
  EXPECT_TRUE(watershed::testing::WaitUntil([&] {
    version = 3 - version;
    if (!registry.Promote("stories", version).ok()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    body = Get(client, "/v1/users/500/recommendations?k=40&explain=true").body;
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (parser.parse(body).get(root) != simdjson::SUCCESS) return false;
    const simdjson::dom::array items_array = root["items"].get_array().value();
    for (simdjson::dom::element item : items_array) {
      if (item["story_id"].get_uint64().value() != 30) continue;
      const simdjson::dom::array sources_array = item["sources"].get_array().value();
      for (simdjson::dom::element source : sources_array)
        if (source.get_string().value() == "coviewed") return true;
    }
    return false;
  })) << body;
  ASSERT_TRUE((*server)->Stop().ok());
}

TEST_F(ServerRecsTest, RecommendationsAreOffWithoutAModelAndBadSettingsAreErrors) {
  auto plain = StartServer({});
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  HttpClient client("127.0.0.1", (*plain)->port());
  Answer off = Get(client, "/v1/users/500/recommendations");
  EXPECT_EQ(off.status, 404);
  EXPECT_NE(off.body.find("recs_off"), std::string::npos) << off.body;
  ASSERT_TRUE((*plain)->Stop().ok());
  plain->reset();

  auto no_features = StartServer({"--recs-model", "stories"});
  ASSERT_FALSE(no_features.ok());
  EXPECT_NE(no_features.status().message().find("recs-model needs recs-features"), std::string::npos)
      << no_features.status().ToString();
  auto no_model = StartServer({"--recs-features", "embedded", "--recs-model", "stories"});
  ASSERT_FALSE(no_model.ok());
  EXPECT_NE(no_model.status().message().find("recs-model stories"), std::string::npos) << no_model.status().ToString();
  SaveModels();
  auto bad_rules = StartServer(
      {"--recs-features", "embedded", "--recs-model", "stories", "--recs-rules", dir_.path() + "/missing.toml"});
  ASSERT_FALSE(bad_rules.ok());
  EXPECT_NE(bad_rules.status().message().find("recs-rules"), std::string::npos) << bad_rules.status().ToString();
}

}  // namespace
}  // namespace watershed::app
