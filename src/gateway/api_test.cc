// End-to-end tests of the HTTP API with auth off (api_auth_test.cc has auth
// on): a real HttpServer, real embedded logs and a memory live store, over
// raw sockets (api_test_fixture.h).

#include "gateway/api.h"

#include "gateway/api_test_fixture.h"

namespace watershed::gateway {
namespace {

using namespace api_testing;

// ---- POST /v1/events ----

TEST_F(ApiTest, ValidBatchIsAcceptedAndDurableInTheLogs) {
  std::vector<Event> events = Events(0, 12);
  RawResponse r = Post(EncodeEventBatchJson(events));
  ASSERT_TRUE(r.complete);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "{\"accepted\":12,\"rejected\":[]}");

  // Answered only once durable: the records are readable now.
  EXPECT_EQ(LogRecordCount(), 12u);
  std::vector<Event> stored = LogContents();
  ASSERT_EQ(stored.size(), 12u);
  EXPECT_EQ(IdsOf(stored), IdsOf(events));
  for (const auto& e : events) {
    auto it = std::find_if(stored.begin(), stored.end(), [&](const Event& s) { return s.event_id == e.event_id; });
    ASSERT_NE(it, stored.end());
    EXPECT_EQ(*it, e);
  }
}

TEST_F(ApiTest, ContentTypeParametersAreAccepted) {
  RawResponse r = Post(EncodeEventBatchJson(Events(0, 2)), "application/json; charset=utf-8");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(LogRecordCount(), 2u);
  r = Post(EncodeEventBatchJson(Events(10, 2)), "Application/JSON");  // media types ignore case
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(LogRecordCount(), 4u);
}

TEST_F(ApiTest, EmptyBatchAcceptsNothing) {
  RawResponse r = Post("{\"events\":[]}");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "{\"accepted\":0,\"rejected\":[]}");
  EXPECT_EQ(LogRecordCount(), 0u);
}

TEST_F(ApiTest, MixedBatchRejectsOnlyTheInvalidEvents) {
  std::vector<Event> valid = Events(0, 3);
  std::string body = "{\"events\":[";
  AppendEventJson(valid[0], &body);
  body += ",{\"event_id\":\"not-a-uuid\",\"type\":\"view\",\"story_id\":1,\"author_id\":1,\"viewer_id\":1,"
          "\"region\":\"us\",\"event_time\":1,\"watch_ms\":1},";
  AppendEventJson(valid[1], &body);
  body += ",{\"event_id\":\"" + EventId::FromHiLo(9, 9).ToString() +
          "\",\"type\":\"like\",\"story_id\":1,\"author_id\":1,\"viewer_id\":1,\"region\":\"us\","
          "\"event_time\":1,\"watch_ms\":1},";
  AppendEventJson(valid[2], &body);
  body += ",42]";
  body += "}";

  RawResponse r = Post(body);
  ASSERT_TRUE(r.complete);
  EXPECT_EQ(r.status, 200) << r.body;
  Json j(r.body);
  ASSERT_TRUE(j.ok()) << r.body;
  EXPECT_EQ(j.Int("/accepted"), 3);
  ASSERT_EQ(j.Size("/rejected"), 3) << r.body;
  EXPECT_EQ(j.Int("/rejected/0/index"), 1);
  EXPECT_EQ(j.Str("/rejected/0/code"), "invalid_event_id");
  EXPECT_EQ(j.Int("/rejected/1/index"), 3);
  EXPECT_EQ(j.Str("/rejected/1/code"), "unknown_type");
  EXPECT_EQ(j.Int("/rejected/2/index"), 5);
  EXPECT_EQ(j.Str("/rejected/2/code"), "invalid_event");
  EXPECT_FALSE(j.Str("/rejected/0/message").empty());

  EXPECT_EQ(IdsOf(LogContents()), IdsOf(valid));
}

TEST_F(ApiTest, AllInvalidIs400AndStoresNothing) {
  std::string body = "{\"events\":[{\"type\":\"view\"},{\"event_id\":\"" + EventId::FromHiLo(1, 2).ToString() +
                     "\",\"type\":\"view\",\"story_id\":-1,\"author_id\":1,\"viewer_id\":1,\"region\":\"us\","
                     "\"event_time\":1,\"watch_ms\":1}]}";
  RawResponse r = Post(body);
  ExpectError(r, 400, "all_events_rejected");
  Json j(r.body);
  EXPECT_EQ(j.Int("/accepted"), 0);
  ASSERT_EQ(j.Size("/rejected"), 2) << r.body;
  EXPECT_EQ(j.Str("/rejected/0/code"), "missing_field");
  EXPECT_EQ(j.Str("/rejected/1/code"), "invalid_field");
  EXPECT_EQ(LogRecordCount(), 0u);
}

TEST_F(ApiTest, LogFailureIs503WithRetryAfter) {
  logs_[static_cast<int>(Region::kEu)]->Close();
  std::vector<Event> events = {MakeEvent(1, Region::kUs, now_ms_), MakeEvent(2, Region::kEu, now_ms_)};
  RawResponse r = Post(EncodeEventBatchJson(events));
  ExpectError(r, 503, "log_unavailable");
  EXPECT_EQ(r.Header("retry-after"), "1");
  // Regions whose log works still take batches.
  EXPECT_EQ(Post(EncodeEventBatchJson(Events(3, 1))).status, 200);  // event 3 is us
  std::string prom = Get("/metrics").body;
  EXPECT_NE(prom.find("\nwatershed_ingest_append_failures_total 1\n"), std::string::npos) << prom;
  EXPECT_NE(prom.find("\nwatershed_ingest_events_total 1\n"), std::string::npos) << prom;
}

TEST_F(ApiTest, MalformedBodiesAre400) {
  for (std::string body : {"{\"events\":[", "not json", "[]", "{\"events\":{}}", "{}", "{\"events\":[]}}", ""}) {
    SCOPED_TRACE(body);
    ExpectError(Post(body), 400, "malformed_body");
  }
  EXPECT_EQ(LogRecordCount(), 0u);
}

TEST_F(ApiTest, DeeplyNestedJsonIs400) {
  std::string deep = "{\"events\":" + std::string(10'000, '[') + std::string(10'000, ']') + "}";
  ExpectError(Post(deep), 400, "malformed_body");
  std::string deep_objects;
  for (int i = 0; i < 10'000; ++i) deep_objects += "{\"a\":";
  deep_objects += "1" + std::string(10'000, '}');
  ExpectError(Post(deep_objects), 400, "malformed_body");
  // The server still serves.
  EXPECT_EQ(Get("/healthz").status, 200);
}

TEST_F(ApiTest, WrongContentTypeIs415) {
  std::string body = EncodeEventBatchJson(Events(0, 2));
  ExpectError(Post(body, "text/plain"), 415, "unsupported_media_type");
  ExpectError(Post(body, "application/jsonx"), 415, "unsupported_media_type");
  // No Content-Type at all.
  std::string raw = "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
                    "\r\n\r\n" + body;
  ExpectError(Call(raw), 415, "unsupported_media_type");
  EXPECT_EQ(LogRecordCount(), 0u);
}

TEST_F(ApiTest, BodyOverTheLimitIs413) {
  std::string body = "{\"events\":[" + std::string(kBodyLimit + 1000, ' ') + "]}";
  RawConn c(port_);
  c.Send(Request("POST", "/v1/events", body));  // the server may answer before reading it all
  ExpectError(c.ReadResponse(), 413, "body_too_large");

  // Chunked bodies are held to the same limit.
  RawConn chunked(port_);
  std::string raw = "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n";
  std::string chunk(16 << 10, ' ');
  char size_line[32];
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", chunk.size());
  for (int i = 0; i < 6; ++i) raw += size_line + chunk + "\r\n";
  raw += "0\r\n\r\n";
  chunked.Send(raw);
  ExpectError(chunked.ReadResponse(), 413, "body_too_large");
  EXPECT_EQ(LogRecordCount(), 0u);
}

TEST_F(ApiTest, MoreThanMaxEventsIs413BatchTooLarge) {
  auto batch_of = [](size_t n) {
    std::string body = "{\"events\":[";
    for (size_t i = 0; i < n; ++i) body += i ? ",{}" : "{}";
    return body + "]}";
  };
  ExpectError(Post(batch_of(kMaxEventsPerBatch + 1)), 413, "batch_too_large");
  // Exactly the limit is decoded (and here every event is invalid).
  RawResponse r = Post(batch_of(kMaxEventsPerBatch));
  ExpectError(r, 400, "all_events_rejected");
  EXPECT_EQ(Json(r.body).Size("/rejected"), static_cast<int64_t>(kMaxEventsPerBatch));
  EXPECT_EQ(LogRecordCount(), 0u);
}

TEST_F(ApiTest, HeadersOverTheLimitAre431) {
  std::string raw = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(20 << 10, 'a') + "\r\n\r\n";
  RawConn c(port_);
  c.Send(raw);
  ExpectError(c.ReadResponse(), 431, "headers_too_large");
}

// ---- routing ----

TEST_F(ApiTest, UnknownPathIs404Json) {
  for (std::string target : {"/", "/v2/events", "/v1/stories/1/other", "/v1/stories/abc/metrics", "/v1/stories//metrics",
                             "/v1/stories/18446744073709551616/metrics", "/v1/creators/x/top", "/metricsx"}) {
    SCOPED_TRACE(target);
    ExpectError(Get(target), 404, "not_found");
  }
}

TEST_F(ApiTest, WrongMethodIs405WithAllow) {
  RawResponse r = Call(Request("GET", "/v1/events"));
  ExpectError(r, 405, "method_not_allowed");
  EXPECT_EQ(r.Header("allow"), "POST");
  for (std::string target : {"/v1/stories/1/metrics", "/v1/stories/1/series", "/v1/creators/1/top", "/v1/top",
                             "/v1/status", "/metrics", "/healthz", "/readyz"}) {
    SCOPED_TRACE(target);
    r = Call(Request("POST", target, "{}"));
    ExpectError(r, 405, "method_not_allowed");
    EXPECT_EQ(r.Header("allow"), "GET");
  }
  r = Call(Request("DELETE", "/v1/events"));
  ExpectError(r, 405, "method_not_allowed");
  EXPECT_EQ(r.Header("allow"), "POST");
}

// ---- reads ----

TEST_F(ApiTest, MetricsOfUnknownStoryIs404) { ExpectError(Get("/v1/stories/999/metrics"), 404, "story_not_found"); }

TEST_F(ApiTest, StoryMetricsSumRegions) {
  serve::PartitionWrite w;
  w.region = Region::kUs;
  w.as_of_ms = 5000;
  w.stories.push_back({StoryId(1), AuthorId(7), serve::Aggregates{10, 4, 1500, 2, 1}});
  Apply(w);
  w.region = Region::kEu;
  w.as_of_ms = 6000;
  w.stories[0].totals = serve::Aggregates{5, 3, 500, 0, 2};
  Apply(w);

  RawResponse r = Get("/v1/stories/1/metrics");
  ASSERT_TRUE(r.complete);
  EXPECT_EQ(r.status, 200) << r.body;
  Json j(r.body);
  EXPECT_EQ(j.Int("/story_id"), 1);
  EXPECT_EQ(j.Int("/views"), 15);
  EXPECT_EQ(j.Int("/unique_viewers"), 7);
  EXPECT_EQ(j.Int("/watch_time_ms"), 2000);
  EXPECT_EQ(j.Int("/shares"), 2);
  EXPECT_EQ(j.Int("/replies"), 3);
  EXPECT_EQ(j.Int("/as_of"), 6000);
}

TEST_F(ApiTest, SeriesAnswersPointsInRange) {
  serve::PartitionWrite w;
  w.region = Region::kUs;
  for (int64_t start : {0, 5000, 10000})
    w.windows.push_back({{StoryId(1), serve::WindowSize::k5s, start}, {static_cast<uint64_t>(start / 1000), 1, 0, 0, 0},
                         start < 10000});
  w.windows.push_back({{StoryId(1), serve::WindowSize::k1m, 0}, {99, 9, 0, 0, 0}, false});
  Apply(w);

  RawResponse r = Get("/v1/stories/1/series?window=5s&from=5000&to=20000");
  ASSERT_TRUE(r.complete);
  EXPECT_EQ(r.status, 200) << r.body;
  Json j(r.body);
  EXPECT_EQ(j.Int("/story_id"), 1);
  EXPECT_EQ(j.Str("/window"), "5s");
  ASSERT_EQ(j.Size("/points"), 2) << r.body;
  EXPECT_EQ(j.Int("/points/0/start"), 5000);
  EXPECT_EQ(j.Int("/points/0/views"), 5);
  EXPECT_TRUE(j.Bool("/points/0/final"));
  EXPECT_EQ(j.Int("/points/1/start"), 10000);
  EXPECT_FALSE(j.Bool("/points/1/final"));

  // Defaults: window 5s, the whole range.
  Json all(Get("/v1/stories/1/series").body);
  EXPECT_EQ(all.Str("/window"), "5s");
  EXPECT_EQ(all.Size("/points"), 3);

  Json minute(Get("/v1/stories/1/series?window=1m").body);
  EXPECT_EQ(minute.Str("/window"), "1m");
  ASSERT_EQ(minute.Size("/points"), 1);
  EXPECT_EQ(minute.Int("/points/0/views"), 99);

  // An unknown story has an empty series, not an error.
  r = Get("/v1/stories/2/series?window=5s&from=0&to=100");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(Json(r.body).Size("/points"), 0);
  // from == to is an empty range.
  EXPECT_EQ(Json(Get("/v1/stories/1/series?from=5000&to=5000").body).Size("/points"), 0);
}

TEST_F(ApiTest, SeriesParametersAreValidated) {
  ExpectError(Get("/v1/stories/1/series?window=10s"), 400, "invalid_window");
  ExpectError(Get("/v1/stories/1/series?window="), 400, "invalid_window");
  ExpectError(Get("/v1/stories/1/series?from=abc"), 400, "invalid_from");
  ExpectError(Get("/v1/stories/1/series?from=1.5"), 400, "invalid_from");
  ExpectError(Get("/v1/stories/1/series?to="), 400, "invalid_to");
  ExpectError(Get("/v1/stories/1/series?to=99999999999999999999999"), 400, "invalid_to");
  ExpectError(Get("/v1/stories/1/series?from=2000&to=1000"), 400, "invalid_range");
}

TEST_F(ApiTest, CreatorTopAndOverallTop) {
  serve::PartitionWrite w;
  w.region = Region::kApac;
  w.stories.push_back({StoryId(1), AuthorId(7), {5, 5, 0, 0, 0}});
  w.stories.push_back({StoryId(2), AuthorId(7), {9, 1, 0, 3, 0}});
  w.stories.push_back({StoryId(3), AuthorId(7), {5, 2, 0, 0, 0}});
  w.stories.push_back({StoryId(4), AuthorId(8), {50, 0, 0, 0, 0}});
  Apply(w);
  for (uint64_t story : {1, 2, 3}) Register(story, 7);
  Register(4, 8);

  RawResponse r = Get("/v1/creators/7/top?by=views&limit=2");
  ASSERT_TRUE(r.complete);
  EXPECT_EQ(r.status, 200) << r.body;
  Json j(r.body);
  EXPECT_EQ(j.Int("/creator_id"), 7);
  ASSERT_EQ(j.Size("/stories"), 2) << r.body;
  EXPECT_EQ(j.Int("/stories/0/story_id"), 2);
  EXPECT_EQ(j.Int("/stories/0/views"), 9);
  EXPECT_EQ(j.Int("/stories/1/story_id"), 1);  // ties by id

  Json by_uniques(Get("/v1/creators/7/top?by=unique_viewers").body);
  ASSERT_EQ(by_uniques.Size("/stories"), 3);
  EXPECT_EQ(by_uniques.Int("/stories/0/story_id"), 1);
  EXPECT_EQ(by_uniques.Int("/stories/1/story_id"), 3);

  Json nobody(Get("/v1/creators/99/top").body);
  EXPECT_EQ(nobody.Size("/stories"), 0);

  Json overall(Get("/v1/top?limit=1000").body);
  ASSERT_EQ(overall.Size("/stories"), 4);
  EXPECT_EQ(overall.Int("/stories/0/story_id"), 4);
  EXPECT_EQ(overall.Int("/stories/0/author_id"), 8);
}

// A creator with more stories than the bound: one request reads at most
// kCreatorTopMaxStories of them (the highest ids), and says it did.
TEST_F(ApiTest, CreatorTopReadsABoundedNumberOfStories) {
  constexpr uint64_t kStories = kCreatorTopMaxStories + 2'000;
  std::vector<catalog::CatalogChange> changes;
  for (uint64_t id = 1; id <= kStories; ++id) {
    catalog::StoryRecord r;
    r.story = StoryId(id);
    r.author = AuthorId(7);
    changes.push_back({r, "test", {}, std::nullopt});
  }
  ASSERT_TRUE(catalog_->Apply(std::move(changes)).ok());
  serve::PartitionWrite w;
  w.stories.push_back({StoryId(1), AuthorId(7), {1000, 1, 0, 0, 0}});  // among the oldest: not ranked
  w.stories.push_back({StoryId(kStories - 5), AuthorId(7), {50, 1, 0, 0, 0}});
  w.stories.push_back({StoryId(kStories), AuthorId(7), {40, 1, 0, 0, 0}});
  Apply(w);

  const uint64_t before = store_->story_reads.load();
  RawResponse r = Get("/v1/creators/7/top?by=views&limit=2");
  const uint64_t reads = store_->story_reads.load() - before;
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_LE(reads, kCreatorTopMaxStories);
  Json j(r.body);
  EXPECT_TRUE(j.Bool("/truncated"));
  ASSERT_EQ(j.Size("/stories"), 2) << r.body;
  EXPECT_EQ(j.Int("/stories/0/story_id"), static_cast<int64_t>(kStories - 5));
  EXPECT_EQ(j.Int("/stories/1/story_id"), static_cast<int64_t>(kStories));

  Register(kStories + 1, 8);
  Json small(Get("/v1/creators/8/top").body);
  EXPECT_FALSE(small.Bool("/truncated"));
}

TEST_F(ApiTest, TopParametersAreValidated) {
  for (std::string q : {"limit=0", "limit=1001", "limit=abc", "limit=-1", "limit="}) {
    SCOPED_TRACE(q);
    ExpectError(Get("/v1/creators/7/top?" + q), 400, "invalid_limit");
    ExpectError(Get("/v1/top?" + q), 400, "invalid_limit");
  }
  ExpectError(Get("/v1/creators/7/top?by=likes"), 400, "invalid_by");
  EXPECT_EQ(Get("/v1/creators/7/top?limit=1").status, 200);
  EXPECT_EQ(Get("/v1/creators/7/top?limit=1000&by=replies").status, 200);
}

TEST_F(ApiTest, StatusReportsPartitionsAndLag) {
  ASSERT_EQ(Post(EncodeEventBatchJson(Events(0, 9))).status, 200);
  RawResponse r = Get("/v1/status");
  ASSERT_TRUE(r.complete);
  EXPECT_EQ(r.status, 200) << r.body;
  Json j(r.body);
  ASSERT_EQ(j.Size("/partitions"), RegionCount() * 2) << r.body;
  EXPECT_EQ(j.Int("/lag"), 9);
  EXPECT_EQ(j.Str("/partitions/0/region"), "us");
  EXPECT_EQ(j.Int("/partitions/0/partition"), 0);
  EXPECT_EQ(j.Int("/partitions/0/watermark"), 12'345);
  EXPECT_TRUE(j.IsNull("/partitions/1/watermark"));
  EXPECT_TRUE(j.IsNull("/partitions/0/error"));
  EXPECT_EQ(j.Int("/partitions/0/checkpoint_id"), 3);
  int64_t end_sum = 0;
  for (int i = 0; i < RegionCount() * 2; ++i) end_sum += j.Int("/partitions/" + std::to_string(i) + "/log_end_offset");
  EXPECT_EQ(end_sum, 9);

  processed_ = 1'000;
  EXPECT_EQ(Json(Get("/v1/status").body).Int("/lag"), 0);
}

TEST_F(ApiTest, HealthAndReadiness) {
  RawResponse r = Get("/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(Json(r.body).Str("/status"), "ok");
  EXPECT_EQ(Get("/readyz").status, 200);
  ready_ = false;
  ExpectError(Get("/readyz"), 503, "not_ready");
  EXPECT_EQ(Get("/healthz").status, 200);  // alive while not ready
  ready_ = true;
  EXPECT_EQ(Get("/readyz").status, 200);
}

TEST_F(ApiTest, PrometheusMetrics) {
  ASSERT_EQ(Post(EncodeEventBatchJson(Events(0, 4))).status, 200);
  ASSERT_EQ(Post("{\"events\":[{}]}").status, 400);
  ASSERT_EQ(Get("/v1/stories/1/metrics").status, 404);
  RawResponse r = Get("/metrics");
  ASSERT_TRUE(r.complete);
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.Header("content-type").starts_with("text/plain")) << r.Header("content-type");
  EXPECT_NE(r.body.find("\nwatershed_ingest_events_total 4\n"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\nwatershed_ingest_rejected_events_total{code=\"missing_field\"} 1\n"), std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find("\nwatershed_ingest_rejected_events_total{code=\"unknown_type\"} 0\n"), std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find("# TYPE watershed_http_request_seconds histogram"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("watershed_http_request_seconds_bucket{route=\"ingest\""), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("watershed_http_request_seconds_count{route=\"ingest\"} 2\n"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("watershed_http_request_seconds_count{route=\"query\"} 1\n"), std::string::npos) << r.body;
}

// ---- connection handling ----

TEST_F(ApiTest, KeepAliveAndPipelinedRequests) {
  RawConn c(port_);
  ASSERT_TRUE(c.Send(Request("GET", "/healthz")));
  EXPECT_EQ(c.ReadResponse().status, 200);
  ASSERT_TRUE(c.Send(Request("POST", "/v1/events", EncodeEventBatchJson(Events(0, 3)))));
  RawResponse r = c.ReadResponse();
  EXPECT_EQ(r.status, 200) << r.body;
  // Two requests in one write: answered in order.
  ASSERT_TRUE(c.Send(Request("GET", "/v1/stories/5/metrics") + Request("GET", "/readyz")));
  RawResponse a = c.ReadResponse(), b = c.ReadResponse();
  EXPECT_EQ(a.status, 404);
  EXPECT_EQ(b.status, 200);
  EXPECT_EQ(Json(b.body).Str("/status"), "ready");
  EXPECT_EQ(LogRecordCount(), 3u);

  ASSERT_TRUE(c.Send(Request("GET", "/healthz", "", "", "Connection: close\r\n")));
  r = c.ReadResponse();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(Lower(r.Header("connection")), "close");
  EXPECT_TRUE(c.WaitClosed());
}

TEST_F(ApiTest, HalfClosedConnectionStillGetsItsAnswer) {
  std::vector<Event> events = Events(0, 5);
  RawConn c(port_);
  ASSERT_TRUE(c.Send(Request("POST", "/v1/events", EncodeEventBatchJson(events))));
  c.ShutdownWrite();
  RawResponse r = c.ReadResponse();
  ASSERT_TRUE(r.complete);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Json(r.body).Int("/accepted"), 5);
  EXPECT_TRUE(c.WaitClosed());
  EXPECT_EQ(IdsOf(LogContents()), IdsOf(events));

  RawConn g(port_);
  ASSERT_TRUE(g.Send(Request("GET", "/healthz")));
  g.ShutdownWrite();
  EXPECT_EQ(g.ReadResponse().status, 200);
}

class ApiSlowClientTest : public ApiTest {
 protected:
  int IdleTimeoutMs() const override { return 300; }
};

TEST_F(ApiSlowClientTest, StalledClientIsClosedWhileOthersAreServed) {
  RawConn slow(port_);
  ASSERT_TRUE(slow.Send("GET /healthz HTTP/1.1\r\nHost: loc"));
  // Other clients are served while the stalled one holds its connection.
  for (int i = 0; i < 5; ++i) {
    RawResponse r = Post(EncodeEventBatchJson(Events(static_cast<uint64_t>(i) * 10, 2)));
    EXPECT_EQ(r.status, 200) << r.body;
  }
  EXPECT_TRUE(slow.WaitClosed()) << "the stalled connection was not closed";
  EXPECT_EQ(slow.received(), "");  // closed without an answer to the half request
  EXPECT_EQ(LogRecordCount(), 10u);
  EXPECT_EQ(Get("/healthz").status, 200);
}

TEST_F(ApiSlowClientTest, TricklingClientIsClosed) {
  // One byte every 50 ms never lets the connection go idle, but the request
  // as a whole must arrive within the timeout.
  RawConn c(port_);
  std::string raw = "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Pad: " + std::string(200, 'a') + "\r\n\r\n";
  bool closed = false;
  for (size_t i = 0; i < raw.size() && !closed; ++i) {
    if (!c.Send(raw.substr(i, 1))) {
      closed = true;
      break;
    }
    closed = c.ClosedWithin(50);
  }
  EXPECT_TRUE(closed) << "the server waited for the whole trickled request";
}

TEST_F(ApiTest, GarbageBytesAre400AndTheServerKeepsServing) {
  for (std::string garbage : {std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11),
                              std::string("hello world\r\n\r\n"), std::string("GET /healthz HTTP/1.1\r\nContent-Length: abc\r\n\r\n"),
                              std::string("GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n")}) {
    SCOPED_TRACE(garbage);
    RawConn c(port_);
    c.Send(garbage);
    RawResponse r = c.ReadResponse();
    ExpectError(r, 400, "bad_request");
    EXPECT_TRUE(c.WaitClosed());
    EXPECT_EQ(Get("/healthz").status, 200);
  }
}

TEST_F(ApiTest, ConcurrentClientsAllLand) {
  constexpr int kThreads = 4, kBatches = 5, kPerBatch = 10;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      RawConn c(port_);
      for (int b = 0; b < kBatches; ++b) {
        uint64_t first = static_cast<uint64_t>((t * kBatches + b) * kPerBatch);
        if (!c.Send(Request("POST", "/v1/events", EncodeEventBatchJson(Events(first, kPerBatch))))) return;
        RawResponse r = c.ReadResponse();
        if (r.status == 200 && Json(r.body).Int("/accepted") == kPerBatch) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads * kBatches);
  EXPECT_EQ(LogRecordCount(), static_cast<uint64_t>(kThreads * kBatches * kPerBatch));
  EXPECT_EQ(IdsOf(LogContents()), IdsOf(Events(0, kThreads * kBatches * kPerBatch)));
}

TEST_F(ApiSlowClientTest, NothingAcceptedIsLostAcrossBadInputs) {
  std::vector<Event> first = Events(0, 20), second = Events(20, 20);
  ASSERT_EQ(Post(EncodeEventBatchJson(first)).status, 200);

  // A stalled client, then a barrage of bad requests.
  RawConn stalled(port_);
  ASSERT_TRUE(stalled.Send("POST /v1/events HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"events\":["));
  EXPECT_EQ(Post("{\"events\":[").status, 400);
  EXPECT_EQ(Post("{\"events\":" + std::string(10'000, '[') + std::string(10'000, ']') + "}").status, 400);
  EXPECT_EQ(Post(EncodeEventBatchJson(Events(100, 2)), "text/plain").status, 415);
  EXPECT_EQ(Post("{\"events\":[{}]}").status, 400);
  {
    RawConn big(port_);
    big.Send(Request("POST", "/v1/events", std::string(kBodyLimit + 1, 'x')));
    EXPECT_EQ(big.ReadResponse().status, 413);
  }
  {
    RawConn junk(port_);
    const char kJunk[] = "\x00\xff\x13\x37 junk\r\n\r\n";
    junk.Send(std::string(kJunk, sizeof kJunk - 1));
    EXPECT_EQ(junk.ReadResponse().status, 400);
  }
  {
    RawConn half(port_);
    half.Send("POST /v1/events HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"ev");
    half.ShutdownWrite();  // the body never completes
    half.WaitClosed();
  }
  ASSERT_EQ(Post(EncodeEventBatchJson(second)).status, 200);
  EXPECT_TRUE(stalled.WaitClosed());

  std::vector<Event> all = first;
  all.insert(all.end(), second.begin(), second.end());
  EXPECT_EQ(LogRecordCount(), 40u);
  EXPECT_EQ(IdsOf(LogContents()), IdsOf(all));
  Json status(Get("/v1/status").body);
  EXPECT_EQ(status.Int("/lag"), 40);
}

// A split deployment: each process serves its role's endpoints and answers
// the others' with 404 not_served_here (never an empty success: a /v1/status
// with lag 0 from a process that processes nothing would mislead a waiter).
class IngestOnlyApiTest : public ApiTest {
  void Configure(ApiDeps* deps, ApiOptions*) override {
    deps->store = nullptr;
    deps->status = nullptr;
  }
};

TEST_F(IngestOnlyApiTest, ReadsAndStatusAreNotServedHere) {
  EXPECT_EQ(Post(EncodeEventBatchJson(Events(0, 3))).status, 200);
  for (const char* target : {"/v1/stories/100/metrics", "/v1/stories/100/series?window=5s", "/v1/creators/7/top",
                             "/v1/top", "/v1/status"})
    ExpectError(Get(target), 404, "not_served_here");
  // The message names the command that serves reads, not the `watershed query` client.
  EXPECT_NE(Get("/v1/top").body.find("`watershed query serve`"), std::string::npos) << Get("/v1/top").body;
  EXPECT_EQ(Get("/healthz").status, 200);
  EXPECT_EQ(Get("/metrics").status, 200);
}

class ReadOnlyApiTest : public ApiTest {
  void Configure(ApiDeps* deps, ApiOptions*) override {
    deps->logs = {};
    deps->status = [] {
      PartitionReport p;  // what `watershed query` knows of a remote processor
      p.region = Region::kEu;
      p.end_offset = 10;
      p.processed_offset = 4;
      p.detailed = false;
      return std::vector<PartitionReport>{p};
    };
  }
};

TEST_F(ReadOnlyApiTest, IngestIsNotServedAndStatusHasOnlyWhatTheStoreKnows) {
  ExpectError(Post(EncodeEventBatchJson(Events(0, 3))), 404, "not_served_here");
  ExpectError(Get("/v1/stories/100/metrics"), 404, "story_not_found");  // served: the story is unknown
  RawResponse r = Get("/v1/status");
  ASSERT_EQ(r.status, 200) << r.body;
  Json j(r.body);
  EXPECT_EQ(j.Int("/lag"), 6);
  EXPECT_EQ(j.Int("/partitions/0/log_end_offset"), 10);
  EXPECT_EQ(j.Int("/partitions/0/processed_offset"), 4);
  for (const char* field : {"checkpoint_offset", "checkpoint_id", "watermark", "records", "duplicates",
                            "late_events_5s", "late_events_1m", "dedup_entries"})
    EXPECT_TRUE(j.IsNull(std::string("/partitions/0/") + field)) << field << " in " << r.body;
}

class StatusFailsApiTest : public ApiTest {
  void Configure(ApiDeps* deps, ApiOptions*) override {
    deps->status = []() -> Result<std::vector<PartitionReport>> { return Status::Unavailable("redis down"); };
  }
};

TEST_F(StatusFailsApiTest, UnreadableProgressIs503NotLagZero) {
  RawResponse r = Get("/v1/status");
  ExpectError(r, 503, "status_unavailable");
  EXPECT_EQ(r.Header("retry-after"), "1");
  EXPECT_NE(r.body.find("redis down"), std::string::npos) << r.body;
}

// access-log = json: one JSON line per request, with the trace id of the
// request's traceparent; none without one (no tracer here starts traces).
class AccessLogApiTest : public ApiTest {
  void Configure(ApiDeps*, ApiOptions* options) override { options->access_log = true; }
};

TEST_F(AccessLogApiTest, EachRequestIsOneJsonLineWithItsTraceId) {
  ::testing::internal::CaptureStderr();
  RawResponse traced = Call(Request("POST", "/v1/events", EncodeEventBatchJson(Events(0, 2)), "application/json",
                                    "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n"));
  RawResponse plain = Get("/v1/stories/424242/metrics");
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(traced.status, 200);
  EXPECT_EQ(plain.status, 404);
  std::vector<std::string> lines;
  for (size_t at = 0, end; (end = err.find('\n', at)) != std::string::npos; at = end + 1)
    lines.push_back(err.substr(at, end - at));
  ASSERT_EQ(lines.size(), 2u) << err;
  simdjson::dom::parser parser;
  simdjson::dom::element first, second;
  ASSERT_EQ(parser.parse(lines[0]).get(first), simdjson::SUCCESS) << lines[0];
  EXPECT_EQ(std::string_view(first["method"]), "POST");
  EXPECT_EQ(std::string_view(first["path"]), "/v1/events");
  EXPECT_EQ(int64_t(first["status"]), 200);
  EXPECT_EQ(std::string_view(first["trace_id"]), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(std::string_view(first["span_id"]), "00f067aa0ba902b7");
  EXPECT_GE(double(first["duration_ms"]), 0.0);
  EXPECT_EQ(std::string_view(first["ts"]).size(), 24u);  // 2026-12-05T11:22:33.456Z
  simdjson::dom::parser parser2;
  ASSERT_EQ(parser2.parse(lines[1]).get(second), simdjson::SUCCESS) << lines[1];
  EXPECT_EQ(int64_t(second["status"]), 404);
  EXPECT_EQ(second["trace_id"].error(), simdjson::NO_SUCH_FIELD);
}

// With a tracer sampling every new trace: a request without a traceparent
// gets the trace the server started in `traceresponse`, and its log line
// names that trace.
class TracedAccessLogApiTest : public ApiTest {
  void Configure(ApiDeps* deps, ApiOptions* options) override {
    trace::TracerOptions o;
    o.endpoint = "http://127.0.0.1:1";  // nothing listens: spans are dropped, requests unaffected
    o.sampling_ratio = 1;
    tracer_ = std::move(trace::Tracer::Start(o)).value();
    deps->tracer = tracer_.get();
    options->access_log = true;
  }

 protected:
  std::unique_ptr<trace::Tracer> tracer_;
};

TEST_F(TracedAccessLogApiTest, AStartedTraceIsAnsweredAndLogged) {
  ::testing::internal::CaptureStderr();
  RawResponse r = Post(EncodeEventBatchJson(Events(0, 2)));
  const std::string err = ::testing::internal::GetCapturedStderr();
  ASSERT_EQ(r.status, 200);
  const std::optional<TraceContext> started = ParseTraceparent(r.Header("traceresponse"));
  ASSERT_TRUE(started.has_value()) << r.Header("traceresponse");
  EXPECT_NE(err.find("\"trace_id\":\"" + LowerHex(started->trace_id.data(), 16) + "\""), std::string::npos) << err;
  // The events carry it through the log.
  for (const Event& e : LogContents()) EXPECT_EQ(e.traceparent, r.Header("traceresponse"));
}

}  // namespace
}  // namespace watershed::gateway

namespace watershed::gateway {
namespace {

// GET /v1/stories/{id}/metrics across regions' deployments: the parts the app gathers (here fixed: us and eu
// answered, apac missing), summed and listed, the missing region named.
class ApiAcrossRegionsTest : public ApiTest {
 protected:
  void Configure(ApiDeps* deps, ApiOptions*) override {
    deps->story_across_regions = [](StoryId story) -> Result<StoryAcrossRegions> {
      StoryAcrossRegions out;
      out.missing = {Region::kApac};
      if (story.value == 5) {
        out.parts[0].emplace(serve::StoryMetrics{story, AuthorId(1), serve::Aggregates{3, 2, 300, 1, 0}, 100});
        out.parts[1].emplace(serve::StoryMetrics{story, AuthorId(1), serve::Aggregates{4, 3, 400, 0, 1}, 200});
      }
      return out;
    };
  }
};

TEST_F(ApiAcrossRegionsTest, TheAnswerSumsTheRegionsPartsAndNamesTheMissingOnes) {
  auto r = Get("/v1/stories/5/metrics");
  ASSERT_EQ(r.status, 200) << r.body;
  Json j(r.body);
  ASSERT_TRUE(j.ok()) << r.body;
  EXPECT_EQ(j.Int("/views"), 7) << r.body;
  EXPECT_EQ(j.Int("/unique_viewers"), 5) << r.body;
  EXPECT_EQ(j.Int("/watch_time_ms"), 700) << r.body;
  EXPECT_EQ(j.Int("/as_of"), 200) << r.body;
  EXPECT_FALSE(j.Bool("/unique_viewers_exact")) << "auth off, viewers in two regions: " << r.body;
  EXPECT_EQ(j.Str("/regions/0/region"), "us") << r.body;
  EXPECT_EQ(j.Int("/regions/1/views"), 4) << r.body;
  EXPECT_TRUE(j.Bool("/partial")) << r.body;
  EXPECT_EQ(j.Str("/missing/0"), "apac") << r.body;
  // Only the missing region could have the story: zeros marked partial, not a 404 that could be wrong.
  auto unknown = Get("/v1/stories/6/metrics");
  ASSERT_EQ(unknown.status, 200) << unknown.body;
  Json u(unknown.body);
  EXPECT_EQ(u.Int("/views"), 0) << unknown.body;
  EXPECT_TRUE(u.Bool("/partial")) << unknown.body;
}

TEST_F(ApiAcrossRegionsTest, ThePeerEndpointIsNotServedWithoutPeers) {
  ExpectError(Get("/v1/peer/stories/5"), 404, "not_served_here");
}

}  // namespace
}  // namespace watershed::gateway

namespace watershed::gateway {
namespace {

// GET /v1/peer/stories/{id} answers every id GET /v1/stories/{id}/metrics accepts (any unsigned 64-bit story_id):
// the asking side counts a refusal as a failed peer and leaves it out of every answer for 5 s, so a request for
// story 0 or 2^64-1 must not knock the peers out.
class ApiPeerStoryTest : public ApiTest {
 protected:
  void Configure(ApiDeps* deps, ApiOptions*) override {
    deps->peer_story = [this](const http::HttpRequest&, StoryId story) {
      asked_.push_back(story.value);
      return http::HttpResponse{};
    };
  }
  std::vector<uint64_t> asked_;
};

TEST_F(ApiPeerStoryTest, EveryStoryIdTheMetricsEndpointTakesIsAnswered) {
  ExpectError(Get("/v1/stories/0/metrics"), 404, "story_not_found");  // a valid id, no events
  ExpectError(Get("/v1/stories/18446744073709551615/metrics"), 404, "story_not_found");
  EXPECT_EQ(Get("/v1/peer/stories/18446744073709551615").status, 200);
  EXPECT_EQ(Get("/v1/peer/stories/0").status, 200);
  EXPECT_EQ(asked_, (std::vector<uint64_t>{UINT64_MAX, 0}));
  ExpectError(Get("/v1/peer/stories/18446744073709551616"), 400, "invalid_story_id");
  ExpectError(Get("/v1/peer/stories/x"), 400, "invalid_story_id");
}

}  // namespace
}  // namespace watershed::gateway
