// The lake's endpoints on the whole server: events in over HTTP, through the
// logs, processors and the lake sink into real Iceberg tables, then
// POST /v1/query and GET /v1/stories/{id}/history over them, checked against
// ground truth computed here from the events sent.

#include <gtest/gtest.h>
#include <simdjson.h>
#include <time.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "app/auth_setup.h"
#include "app/config.h"
#include "app/server.h"
#include "app/testing/serve_environment.h"
#include "auth/signer.h"
#include "core/event_codec.h"
#include "core/testing/temp_dir.h"
#include "http/http_client.h"

namespace watershed::app {
namespace {

using auth::Role;
using ::watershed::http::HttpClient;
using ::watershed::testing::TempDir;

constexpr uint64_t kStory = 900, kAuthor = 77;
constexpr int64_t kMinuteMs = 60'000;

struct Minute {
  int64_t views = 0, watch_time_ms = 0, shares = 0, replies = 0;
  std::set<uint64_t> viewers;
};

std::string Iso(int64_t ms) {
  const time_t t = static_cast<time_t>(ms / 1000);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

class ServerQueryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::ClearServeEnvironment();
    auto config = Config::Load(ServeConfigKeys(),
                               {"--data-dir", dir_.path(), "--port", "0", "--partitions", "2", "--checkpoint-interval",
                                "100ms", "--regions", "us,eu", "--lake-commit-interval", "200ms", "--auth", "on"});
    ASSERT_TRUE(config.ok()) << config.status().ToString();
    auto server = Server::Start(*config, FileSystem::Default());
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
    auto secret = ReadHs256Secret(FileSystem::Default(), dir_.Path("auth/hs256.secret"));
    ASSERT_TRUE(secret.ok());
    secret_ = *secret;
  }

  std::unique_ptr<HttpClient> As(uint64_t user, Region region, std::initializer_list<Role> roles) {
    auth::RoleSet set;
    for (Role r : roles) set.Add(r);
    auto token = auth::SignToken(NewTokenClaims(user, region, set, 3600, "watershed", "watershed"),
                                 auth::SigningKey{.alg = auth::Algorithm::kHs256, .key = secret_, .kid = ""});
    EXPECT_TRUE(token.ok());
    auto client = std::make_unique<HttpClient>("127.0.0.1", server_->port());
    EXPECT_TRUE(client->SetHeader("Authorization", "Bearer " + (token.ok() ? *token : std::string())).ok());
    return client;
  }

  // Sends `events` minute by minute (so none is later than the windows
  // allow), each with a token of its own viewer (the API takes the viewer
  // and region from the token).
  void Send(const std::vector<Event>& events) {
    std::map<std::pair<int64_t, uint64_t>, std::vector<Event>> by_minute_viewer;
    for (const Event& e : events) by_minute_viewer[{e.event_time.value / 60'000, e.viewer_id.value}].push_back(e);
    for (const auto& [key, mine] : by_minute_viewer) {
      auto client = As(key.second, mine.front().region, {Role::kViewer});
      auto r = client->Request("POST", "/v1/events", EncodeEventBatchJson(mine));
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      ASSERT_EQ(r->status, 200) << r->body;
    }
  }

  // POST /v1/query as `client`: (status, body).
  static std::pair<int, std::string> Query(HttpClient& client, const std::string& sql, int64_t max_rows = 0) {
    std::string body = "{\"sql\":";
    AppendJsonString(sql, &body);
    if (max_rows) body += ",\"max_rows\":" + std::to_string(max_rows);
    body += "}";
    auto r = client.Request("POST", "/v1/query", body);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::pair{r->status, r->body} : std::pair{0, std::string()};
  }
  static int64_t Count(HttpClient& client, const std::string& sql) {
    auto [status, body] = Query(client, sql);
    EXPECT_EQ(status, 200) << body;
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (parser.parse(body).get(root) != simdjson::SUCCESS) return -1;
    int64_t n = -1;
    EXPECT_EQ(root["rows"].at(0).at(0).get(n), simdjson::SUCCESS) << body;
    return n;
  }

  TempDir dir_{"server_query_test"};
  std::unique_ptr<Server> server_;
  std::string secret_;
};

TEST_F(ServerQueryTest, QueryAndHistoryAnswerWhatWasSentToTheRightCallers) {
  auto admin = As(1, Region::kUs, {Role::kAdmin});
  auto analyst = As(2, Region::kUs, {Role::kAnalyst});
  auto owner = As(kAuthor, Region::kEu, {Role::kCreator});
  auto other_creator = As(78, Region::kEu, {Role::kCreator});
  auto viewer = As(2001, Region::kUs, {Role::kViewer});
  auto reg = admin->Request("POST", "/v1/stories",
                            R"({"stories": [{"story_id": 900, "author_id": 77}, {"story_id": 901, "author_id": 78}]})");
  ASSERT_TRUE(reg.ok());
  ASSERT_EQ(reg->status, 200) << reg->body;

  // 600 events over 30 minutes ending 10 minutes ago: a third for story 900,
  // the rest over 30 other stories (other buckets); 6 viewers in us and eu.
  const int64_t now = Clock::Real()->NowMs();
  const int64_t base = now / kMinuteMs * kMinuteMs - 40 * kMinuteMs;
  std::vector<Event> events;
  std::map<int64_t, Minute> truth;  // story 900's, by minute
  std::map<Region, int64_t> events_900;
  for (uint64_t n = 0; n < 600; ++n) {
    Event e;
    e.event_id = EventId::FromHiLo(0x9e7, n);
    e.type = n % 7 == 3 ? EventType::kShare : n % 11 == 5 ? EventType::kReply : EventType::kView;
    e.story_id = StoryId(n % 3 == 0 ? kStory : 901 + n % 30);
    e.viewer_id = ViewerId(2001 + n % 6);
    e.region = e.viewer_id.value % 2 ? Region::kUs : Region::kEu;
    e.event_time = EventTimeMs(base + static_cast<int64_t>(n) * 3000);
    e.watch_ms = e.type == EventType::kView ? static_cast<uint32_t>(100 + n) : 0;
    events.push_back(e);
    if (e.story_id.value != kStory) continue;
    ++events_900[e.region];
    Minute& m = truth[e.event_time.value / kMinuteMs * kMinuteMs];
    if (e.type == EventType::kView) {
      ++m.views;
      m.watch_time_ms += e.watch_ms;
      m.viewers.insert(e.viewer_id.value);
    } else if (e.type == EventType::kShare) {
      ++m.shares;
    } else {
      ++m.replies;
    }
  }
  Send(events);
  // Then one event of story 900 now in each region moves its partition's
  // watermark past the 30 minutes, which makes them final (story_minute).
  std::vector<Event> pushers;
  for (Region region : {Region::kUs, Region::kEu}) {
    Event e = events.front();
    e.event_id = EventId::FromHiLo(0x9e8, static_cast<uint64_t>(region));
    e.viewer_id = ViewerId(region == Region::kUs ? 2001 : 2002);
    e.region = region;
    e.event_time = EventTimeMs(now);
    pushers.push_back(e);
    ++events_900[region];
  }
  Send(pushers);
  int64_t total_views = 0;
  for (const auto& [t, m] : truth) total_views += m.views;

  const std::string range = "from=" + Iso(base) + "&to=" + Iso(base + 30 * kMinuteMs);
  const std::string minutes = "/v1/stories/900/history?granularity=minute&" + range;
  // Waits for the sink to commit every final minute (a deadline against a hang only).
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  std::string body;
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);;) {
    auto r = owner->Get(minutes);
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->status, 200) << r->body;
    body = r->body;
    ASSERT_EQ(parser.parse(body).get(root), simdjson::SUCCESS) << body;
    int64_t views = 0;
    for (simdjson::dom::element p : root["points"].get_array()) views += p["views"].get_int64().value();
    if (views == total_views) break;
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "views " << views << " of " << total_views << ": " << body;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  // By minute: every minute of the truth, with its distinct viewers (a
  // viewer has one region, so the regions' counts add up).
  std::map<int64_t, Minute> got;
  for (simdjson::dom::element p : root["points"].get_array()) {
    std::string_view t = p["t"].get_string().value();
    int64_t ms = -1;
    for (const auto& [minute, m] : truth)
      if (Iso(minute) == t) ms = minute;
    ASSERT_NE(ms, -1) << "a point outside the truth: " << t;
    Minute& m = got[ms];
    m.views = p["views"].get_int64().value();
    m.watch_time_ms = p["watch_time_ms"].get_int64().value();
    m.shares = p["shares"].get_int64().value();
    m.replies = p["replies"].get_int64().value();
    EXPECT_EQ(p["unique_viewers"].get_int64().value(), static_cast<int64_t>(truth[ms].viewers.size())) << t;
  }
  ASSERT_EQ(got.size(), truth.size()) << body;
  for (const auto& [minute, m] : truth) {
    EXPECT_EQ(got[minute].views, m.views) << Iso(minute);
    EXPECT_EQ(got[minute].watch_time_ms, m.watch_time_ms) << Iso(minute);
    EXPECT_EQ(got[minute].shares, m.shares) << Iso(minute);
    EXPECT_EQ(got[minute].replies, m.replies) << Iso(minute);
  }
  EXPECT_EQ(std::string(root["granularity"].get_string().value()), "minute");

  // By hour: sums of the minutes; no unique_viewers (minutes' distinct
  // viewers do not add up to an hour's).
  auto hours = analyst->Get("/v1/stories/900/history?granularity=hour&" + range);
  ASSERT_TRUE(hours.ok());
  ASSERT_EQ(hours->status, 200) << hours->body;
  std::map<std::string, int64_t> hour_views, hour_watch;
  for (const auto& [minute, m] : truth) {
    hour_views[Iso(minute / 3'600'000 * 3'600'000)] += m.views;
    hour_watch[Iso(minute / 3'600'000 * 3'600'000)] += m.watch_time_ms;
  }
  simdjson::dom::element hroot;
  simdjson::dom::parser hparser;
  ASSERT_EQ(hparser.parse(hours->body).get(hroot), simdjson::SUCCESS);
  size_t n_hours = 0;
  for (simdjson::dom::element p : hroot["points"].get_array()) {
    const std::string t(p["t"].get_string().value());
    EXPECT_EQ(p["views"].get_int64().value(), hour_views[t]) << t;
    EXPECT_EQ(p["watch_time_ms"].get_int64().value(), hour_watch[t]) << t;
    EXPECT_TRUE(p["unique_viewers"].error()) << "unique_viewers at granularity=hour: " << hours->body;
    ++n_hours;
  }
  EXPECT_EQ(n_hours, hour_views.size());
  // Pruned: only story 900's bucket of the days asked is read, fewer rows
  // than story_minute holds in both regions.
  const int64_t files_read = hroot["stats"]["files_read"].get_int64().value();
  EXPECT_GT(files_read, 0);
  EXPECT_LT(files_read, hroot["stats"]["files_considered"].get_int64().value()) << hours->body;
  const int64_t all_rows =
      Count(*analyst, "SELECT count(*) FROM us.story_minute") + Count(*analyst, "SELECT count(*) FROM eu.story_minute");
  EXPECT_LT(hroot["stats"]["rows_scanned"].get_int64().value(), all_rows) << hours->body;

  // The same authorization as /metrics.
  EXPECT_EQ(other_creator->Get(minutes)->status, 403);
  EXPECT_EQ(viewer->Get(minutes)->status, 403);
  EXPECT_EQ(admin->Get(minutes)->status, 200);
  EXPECT_EQ(other_creator->Get("/v1/stories/901/history")->status, 200);  // their own, empty
  // Hostile ids, times and ranges: 400 before any lake file is read.
  for (const char* bad :
       {"/v1/stories/0/history", "/v1/stories/abc/history", "/v1/stories/18446744073709551615/history",
        "/v1/stories/9223372036854775808/history", "/v1/stories/900/history?from=yesterday",
        "/v1/stories/900/history?from=2026-01-01&to=2026-03-01&granularity=minute",
        "/v1/stories/900/history?from=2020-01-01&to=2026-01-01&granularity=day",
        "/v1/stories/900/history?granularity=second", "/v1/stories/900/history?to=%00",
        "/v1/stories/900/history?from=2026-12-05T00:00:00%27%20OR%201=1"}) {
    auto r = owner->Get(bad);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 400) << bad << ": " << r->body;
  }

  // POST /v1/query: analysts and admins only; bare names are the server's
  // first region (us). First every event sent is committed (each partition
  // commits on its own).
  const int64_t sent = static_cast<int64_t>(events.size() + pushers.size());
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);;) {
    const int64_t in_lake =
        Count(*analyst, "SELECT count(*) FROM us.events") + Count(*analyst, "SELECT count(*) FROM eu.events");
    if (in_lake == sent) break;
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << in_lake << " of " << sent << " events in the lake";
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(Count(*analyst, "SELECT count(*) FROM events WHERE story_id = 900"), events_900[Region::kUs]);
  EXPECT_EQ(Count(*admin, "SELECT count(*) FROM eu.events WHERE story_id = 900"), events_900[Region::kEu]);
  EXPECT_EQ(Query(*viewer, "SELECT count(*) FROM events").first, 403);
  EXPECT_EQ(Query(*owner, "SELECT count(*) FROM events").first, 403);
  auto [bad_status, bad_body] = Query(*analyst, "SELECT count(*)\n  FORM events");
  EXPECT_EQ(bad_status, 400);
  EXPECT_NE(bad_body.find("\"line\":2,\"column\":3"), std::string::npos) << bad_body;
  auto [unknown_status, unknown_body] = Query(*analyst, "SELECT nope FROM events");
  EXPECT_EQ(unknown_status, 400);
  EXPECT_NE(unknown_body.find("\"line\":1,\"column\":8"), std::string::npos) << unknown_body;
  EXPECT_EQ(Query(*analyst, std::string(70 << 10, ' ') + "SELECT 1").first, 413);  // sql over 64 KiB
  auto big = analyst->Request("POST", "/v1/query", "{\"sql\":\"" + std::string(2 << 20, ' ') + "\"}");
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->status, 413);  // over max-body
  EXPECT_EQ(Query(*analyst, "SELECT 1 FROM events", 100'001).first, 400);

  // max_rows cuts the answer and says so; the answer is streamed in chunks.
  const int64_t us_events = Count(*analyst, "SELECT count(*) FROM events");
  ASSERT_GT(us_events, 5);
  for (int64_t max_rows : {int64_t{5}, int64_t{100'000}}) {
    auto r = analyst->Request(
        "POST", "/v1/query",
        "{\"sql\":\"SELECT event_id, event_time FROM events\",\"max_rows\":" + std::to_string(max_rows) + "}");
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->status, 200) << r->body;
    bool chunked = false;
    for (const auto& [k, v] : r->headers) chunked |= k == "transfer-encoding" && v == "chunked";
    EXPECT_TRUE(chunked);
    simdjson::dom::parser p;
    simdjson::dom::element rr;
    ASSERT_EQ(p.parse(r->body).get(rr), simdjson::SUCCESS) << r->body;
    EXPECT_EQ(static_cast<int64_t>(rr["rows"].get_array().size()), std::min(max_rows, us_events));
    EXPECT_EQ(rr["truncated"].get_bool().value(), max_rows < us_events);
    EXPECT_EQ(std::string(rr["columns"].at(1)["type"].get_string().value()), "TIMESTAMP");
    EXPECT_GT(rr["stats"]["files_read"].get_int64().value(), 0);
  }

  // A lake file that cannot be read: 500 with JSON, not a crash or a 400.
  std::string victim;
  for (const auto& f : std::filesystem::recursive_directory_iterator(dir_.Path("lake/us/events")))
    if (f.path().extension() == ".parquet") victim = f.path().string();
  ASSERT_FALSE(victim.empty());
  std::ofstream(victim, std::ios::trunc) << "not parquet at all";
  auto [broken_status, broken_body] = Query(*analyst, "SELECT count(*) FROM events");
  EXPECT_EQ(broken_status, 500) << broken_body;
  EXPECT_NE(broken_body.find("\"code\":\"lake_unreadable\""), std::string::npos) << broken_body;
  ASSERT_TRUE(server_->Stop().ok());
}

}  // namespace
}  // namespace watershed::app
