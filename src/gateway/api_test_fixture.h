#pragma once
// Test fixture of the HTTP API tests (api_test.cc, api_auth_test.cc): a real
// HttpServer on an ephemeral port, real embedded logs and a memory live
// store, spoken to over raw sockets so that malformed, half-closed and slow
// clients can be played.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <simdjson.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/event_codec.h"
#include "core/testing/temp_dir.h"
#include "gateway/api.h"
#include "http/http_server.h"
#include "http/testing/raw_http.h"
#include "log/embedded_log.h"
#include "serve/live_store.h"
#include "serve/testing/forwarding_live_store.h"

namespace watershed::gateway::api_testing {

using http::HttpRequest;
using http::HttpServer;
using http::HttpServerOptions;
using http::Responder;

using ::watershed::testing::TempDir;

constexpr uint64_t kBodyLimit = 64 << 10;

using http::testing::Lower;
using http::testing::RawConn;
using http::testing::RawResponse;
using http::testing::ReadHttpResponse;
using http::testing::Request;

// A parsed JSON body with JSON-pointer accessors that report absence
// instead of throwing.
class Json {
 public:
  explicit Json(const std::string& text) { ok_ = parser_.parse(text).get(root_) == simdjson::SUCCESS; }
  bool ok() const { return ok_; }
  bool Has(std::string_view ptr) {
    simdjson::dom::element e;
    return ok_ && root_.at_pointer(ptr).get(e) == simdjson::SUCCESS;
  }
  std::string Str(std::string_view ptr) {
    std::string_view s;
    if (!ok_ || root_.at_pointer(ptr).get(s) != simdjson::SUCCESS) return "<absent>";
    return std::string(s);
  }
  int64_t Int(std::string_view ptr) {
    int64_t v;
    if (!ok_ || root_.at_pointer(ptr).get(v) != simdjson::SUCCESS) return -1;
    return v;
  }
  bool Bool(std::string_view ptr) {
    bool v = false;
    EXPECT_TRUE(ok_ && root_.at_pointer(ptr).get(v) == simdjson::SUCCESS) << ptr;
    return v;
  }
  bool IsNull(std::string_view ptr) {
    simdjson::dom::element e;
    return ok_ && root_.at_pointer(ptr).get(e) == simdjson::SUCCESS && e.is_null();
  }
  int64_t Size(std::string_view ptr) {
    simdjson::dom::array a;
    if (!ok_ || root_.at_pointer(ptr).get(a) != simdjson::SUCCESS) return -1;
    return static_cast<int64_t>(a.size());
  }

 private:
  simdjson::dom::parser parser_;
  simdjson::dom::element root_;
  bool ok_ = false;
};

// The error-body contract: {"error": {"code": ..., "message": ...}}.
inline void ExpectError(const RawResponse& r, int status, const std::string& code) {
  ASSERT_TRUE(r.complete) << "no complete response";
  EXPECT_EQ(r.status, status) << r.body;
  EXPECT_TRUE(r.Header("content-type").starts_with("application/json")) << r.Header("content-type");
  Json j(r.body);
  ASSERT_TRUE(j.ok()) << r.body;
  EXPECT_EQ(j.Str("/error/code"), code) << r.body;
  EXPECT_NE(j.Str("/error/message"), "<absent>") << r.body;
  EXPECT_FALSE(j.Str("/error/message").empty()) << r.body;
}

inline Event MakeEvent(uint64_t n, Region region, int64_t now_ms) {
  Event e;
  e.event_id = EventId::FromHiLo(0xabcdef, n);
  e.type = n % 5 == 0 ? EventType::kShare : EventType::kView;
  e.story_id = StoryId(100 + n % 7);
  e.author_id = AuthorId(7);
  e.viewer_id = ViewerId(1000 + n);
  e.region = region;
  e.event_time = EventTimeMs(now_ms - 1000);
  e.watch_ms = e.type == EventType::kView ? 250 : 0;
  return e;
}

// A memory live store that counts the stories read through it (GetStory,
// and each id of GetStories), for cost bounds.
class CountingStore final : public serve::testing::ForwardingLiveStore {
 public:
  explicit CountingStore(std::unique_ptr<serve::LiveStore> real)
      : ForwardingLiveStore(real.get()), real_(std::move(real)) {}
  std::atomic<uint64_t> story_reads{0};
  Result<std::optional<serve::StoryMetrics>> GetStory(StoryId s) override {
    ++story_reads;
    return ForwardingLiveStore::GetStory(s);
  }
  Result<std::vector<std::optional<serve::StoryMetrics>>> GetStories(const std::vector<StoryId>& s) override {
    story_reads += s.size();
    return ForwardingLiveStore::GetStories(s);
  }

 private:
  std::unique_ptr<serve::LiveStore> real_;
};

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int r = 0; r < RegionCount(); ++r) {
      log::EmbeddedLogOptions o;
      o.dir = dir_.Path(RegionName(static_cast<Region>(r)));
      o.partitions = 2;
      o.fsync = log::FsyncPolicy::kNever;
      auto l = log::EmbeddedLog::Open(o);
      ASSERT_TRUE(l.ok()) << l.status().ToString();
      logs_[r] = std::move(l.value());
    }
    store_ = std::make_unique<CountingStore>(serve::NewMemoryLiveStore());
    auto catalog = catalog::StoryCatalog::Open(FileSystem::Default(), dir_.Path("catalog"));
    ASSERT_TRUE(catalog.ok()) << catalog.status().ToString();
    catalog_ = std::move(*catalog);
    ApiDeps deps;
    deps.catalog = catalog_.get();
    for (int r = 0; r < RegionCount(); ++r) deps.logs[r] = logs_[r].get();
    deps.store = store_.get();
    deps.metrics = &metrics_;
    deps.status = [this] {
      std::vector<PartitionReport> out;
      for (int r = 0; r < RegionCount(); ++r) {
        for (uint32_t p = 0; p < logs_[r]->partition_count(); ++p) {
          PartitionReport rep;
          rep.region = static_cast<Region>(r);
          rep.partition = p;
          rep.end_offset = logs_[r]->EndOffset(p).value;
          rep.processed_offset = std::min(rep.end_offset, processed_.load());
          rep.checkpoint_id = 3;
          rep.watermark = r == 0 && p == 0 ? 12'345 : INT64_MIN;
          out.push_back(rep);
        }
      }
      return out;
    };
    deps.ready = [this] { return ready_.load(); };
    ApiOptions options;
    Configure(&deps, &options);
    api_ = std::make_unique<Api>(std::move(deps), std::move(options));
    HttpServerOptions h;
    h.port = 0;
    h.threads = 2;
    h.body_limit = kBodyLimit;
    h.idle_timeout_ms = IdleTimeoutMs();
    h.metrics = &metrics_;
    h.header_check = [this](HttpRequest& head) { return api_->CheckHeader(head); };
    ConfigureServer(&h);
    auto s = HttpServer::Start(
        h, [this](HttpRequest&& req, Responder respond) { api_->Handle(std::move(req), std::move(respond)); });
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s.value());
    port_ = server_->port();
    ASSERT_NE(port_, 0);
  }

  // Long enough that a busy test machine never trips it; the slow-client
  // tests shorten it.
  virtual int IdleTimeoutMs() const { return 30'000; }
  // Auth tests install a verifier and limits here.
  virtual void Configure(ApiDeps* deps, ApiOptions* options) {}
  virtual void ConfigureServer(HttpServerOptions* options) {}

  void TearDown() override {
    if (server_) server_->Stop();
    for (auto& l : logs_)
      if (l) l->Close();
  }

  // One request on a fresh connection.
  RawResponse Call(const std::string& raw) {
    RawConn c(port_);
    EXPECT_TRUE(c.Send(raw));
    return c.ReadResponse();
  }
  RawResponse Get(const std::string& target) { return Call(Request("GET", target)); }
  RawResponse Post(const std::string& body, const std::string& content_type = "application/json") {
    return Call(Request("POST", "/v1/events", body, content_type));
  }

  std::vector<Event> Events(uint64_t first, uint64_t count) {
    std::vector<Event> out;
    for (uint64_t n = first; n < first + count; ++n)
      out.push_back(MakeEvent(n, static_cast<Region>(n % RegionCount()), now_ms_));
    return out;
  }

  uint64_t LogRecordCount() {
    uint64_t total = 0;
    for (auto& l : logs_)
      if (l)
        for (uint32_t p = 0; p < l->partition_count(); ++p) total += l->EndOffset(p).value;
    return total;
  }

  // Every event stored in any partition, checking each sits in its region's
  // log and its story's partition.
  std::vector<Event> LogContents() {
    std::vector<Event> out;
    for (int r = 0; r < RegionCount(); ++r) {
      for (uint32_t p = 0; p < logs_[r]->partition_count(); ++p) {
        auto reader = logs_[r]->NewReader(p, LogOffset(0));
        EXPECT_TRUE(reader.ok());
        if (!reader.ok()) continue;
        std::vector<log::LogRecord> records;
        for (;;) {
          size_t before = records.size();
          EXPECT_TRUE(reader.value()->Read(1000, &records).ok());
          if (records.size() == before) break;
        }
        for (auto& rec : records) {
          EXPECT_EQ(static_cast<int>(rec.event.region), r);
          EXPECT_EQ(logs_[r]->PartitionFor(rec.event.story_id), p);
          out.push_back(std::move(rec.event));
        }
      }
    }
    return out;
  }

  static std::set<std::string> IdsOf(const std::vector<Event>& events) {
    std::set<std::string> ids;
    for (const auto& e : events) ids.insert(e.event_id.ToString());
    return ids;
  }

  void Apply(const serve::PartitionWrite& w) { ASSERT_TRUE(store_->Apply(w).ok()); }
  // Makes `author` the story's author in the catalogue.
  void Register(uint64_t story, uint64_t author) {
    catalog::StoryRecord r;
    r.story = StoryId(story);
    r.author = AuthorId(author);
    ASSERT_TRUE(catalog_->Apply({{r, "test", {}, std::nullopt}}).ok());
  }

  TempDir dir_{"api_test"};  // declared first: removed after the logs and server
  int64_t now_ms_ = Clock::Real()->NowMs();
  std::array<std::unique_ptr<log::EmbeddedLog>, kMaxRegions> logs_;
  std::unique_ptr<CountingStore> store_;
  std::unique_ptr<catalog::StoryCatalog> catalog_;
  MetricsRegistry metrics_;
  std::atomic<uint64_t> processed_{0};
  std::atomic<bool> ready_{true};
  std::unique_ptr<Api> api_;
  std::unique_ptr<HttpServer> server_;
  uint16_t port_ = 0;
};

}  // namespace watershed::gateway::api_testing
