#include "gateway/api.h"

#include <cctype>
#include <charconv>
#include <memory>
#include <mutex>

#include "core/event_codec.h"

namespace watershed::gateway {
namespace {

std::string_view PathOf(std::string_view target) { return target.substr(0, target.find('?')); }
std::string_view QueryOf(std::string_view target) {
  auto q = target.find('?');
  return q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
}

// The value of `key` in an application/x-www-form-urlencoded query (no decoding:
// every parameter of this API is a plain token or number).
std::optional<std::string_view> Param(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) == key) return eq == std::string_view::npos ? "" : pair.substr(eq + 1);
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

template <typename T>
bool ParseNumber(std::string_view s, T* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

// Matches "/<a>/<id>/<b>" style paths: returns the id when path is prefix + id + suffix.
std::optional<uint64_t> IdBetween(std::string_view path, std::string_view prefix, std::string_view suffix) {
  if (!path.starts_with(prefix) || !path.ends_with(suffix) || path.size() <= prefix.size() + suffix.size())
    return std::nullopt;
  uint64_t id = 0;
  if (!ParseNumber(path.substr(prefix.size(), path.size() - prefix.size() - suffix.size()), &id))
    return std::nullopt;
  return id;
}

void AppendAggregates(const serve::Aggregates& a, std::string* out) {
  *out += "\"views\":" + std::to_string(a.views) + ",\"unique_viewers\":" + std::to_string(a.unique_viewers) +
          ",\"watch_time_ms\":" + std::to_string(a.watch_time_ms) + ",\"shares\":" + std::to_string(a.shares) +
          ",\"replies\":" + std::to_string(a.replies);
}

void AppendStory(const serve::StoryMetrics& m, std::string* out) {
  *out += "{\"story_id\":" + std::to_string(m.story.value) + ",\"author_id\":" + std::to_string(m.author.value) + ",";
  AppendAggregates(m.totals, out);
  *out += ",\"as_of\":" + std::to_string(m.as_of_ms) + "}";
}

HttpResponse Json(std::string body, int status = 200) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResponse FromStatus(const Status& s) {
  switch (s.code()) {
    case StatusCode::kInvalidArgument: return JsonError(400, "invalid_argument", s.message());
    case StatusCode::kNotFound: return JsonError(404, "not_found", s.message());
    case StatusCode::kTooLarge: return JsonError(413, "too_large", s.message());
    case StatusCode::kUnavailable: return JsonError(503, "unavailable", s.message());
    default: return JsonError(500, "internal", s.message());
  }
}

}  // namespace

Api::Api(ApiDeps deps, ApiOptions options) : deps_(std::move(deps)), options_(options) {
  MetricsRegistry& m = *deps_.metrics;
  requests_ = m.AddCounter("watershed_http_requests_total", "HTTP requests received");
  events_accepted_ = m.AddCounter("watershed_ingest_events_total", "Events acknowledged durable in the log");
  events_rejected_ = m.AddCounter("watershed_ingest_rejected_events_total", "Events refused by validation");
  append_failures_ = m.AddCounter("watershed_ingest_append_failures_total", "Batches the log failed to append (503)");
  const char* help = "HTTP request latency, receipt to response hand-off, seconds";
  latency_ingest_ = m.AddHistogram("watershed_http_request_seconds", help, "route=\"ingest\"");
  latency_query_ = m.AddHistogram("watershed_http_request_seconds", help, "route=\"query\"");
  latency_other_ = m.AddHistogram("watershed_http_request_seconds", help, "route=\"other\"");
}

void Api::Handle(HttpRequest&& req, Responder respond) {
  requests_->Add();
  const int64_t start = deps_.clock->MonotonicNs();
  const std::string_view path = PathOf(req.target), query = QueryOf(req.target);
  auto timed = [this, start](Histogram* h, Responder r) {
    return [this, start, h, r = std::move(r)](HttpResponse resp) {
      h->ObserveNanos(deps_.clock->MonotonicNs() - start);
      r(std::move(resp));
    };
  };
  auto method_not_allowed = [&](const char* allow) {
    HttpResponse r = JsonError(405, "method_not_allowed", req.method + " is not allowed on " + std::string(path));
    r.headers.emplace_back("Allow", allow);
    return r;
  };
  const bool get = req.method == "GET";

  if (path == "/v1/events") {
    if (req.method != "POST") return timed(latency_other_, std::move(respond))(method_not_allowed("POST"));
    return PostEvents(std::move(req), timed(latency_ingest_, std::move(respond)));
  }
  auto reply = timed(latency_query_, std::move(respond));
  std::optional<uint64_t> id;
  if ((id = IdBetween(path, "/v1/stories/", "/metrics")))
    return reply(get ? StoryMetrics(*id) : method_not_allowed("GET"));
  if ((id = IdBetween(path, "/v1/stories/", "/series")))
    return reply(get ? StorySeries(*id, query) : method_not_allowed("GET"));
  if ((id = IdBetween(path, "/v1/creators/", "/top")))
    return reply(get ? CreatorTop(*id, query) : method_not_allowed("GET"));
  if (path == "/v1/top") return reply(get ? OverallTop(query) : method_not_allowed("GET"));
  if (path == "/v1/status") return reply(get ? StatusReport() : method_not_allowed("GET"));
  if (path == "/metrics") {
    if (!get) return reply(method_not_allowed("GET"));
    HttpResponse r;
    r.content_type = "text/plain; version=0.0.4";
    r.body = deps_.metrics->RenderPrometheus();
    return reply(std::move(r));
  }
  if (path == "/healthz") return reply(get ? Json("{\"status\":\"ok\"}") : method_not_allowed("GET"));
  if (path == "/readyz") {
    if (!get) return reply(method_not_allowed("GET"));
    bool ready = !deps_.ready || deps_.ready();
    return reply(ready ? Json("{\"status\":\"ready\"}") : JsonError(503, "not_ready", "recovery in progress"));
  }
  reply(JsonError(404, "not_found", "no such endpoint: " + std::string(path)));
}

void Api::PostEvents(HttpRequest&& req, Responder respond) {
  std::string type = req.content_type.substr(0, req.content_type.find(';'));
  while (!type.empty() && type.back() == ' ') type.pop_back();
  for (char& c : type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));  // media types ignore case
  if (type != "application/json")
    return respond(JsonError(415, "unsupported_media_type",
                             "Content-Type must be application/json (application/x-protobuf is not supported yet)"));
  EventValidation validation;
  validation.now_ms = deps_.clock->NowMs();
  validation.max_future_ms = options_.max_future_ms;
  auto batch = std::make_shared<DecodedBatch>();
  Status s = DecodeEventBatchJson(req.body, validation, batch.get());
  if (!s.ok()) {
    if (s.code() == StatusCode::kTooLarge) return respond(JsonError(413, "batch_too_large", s.message()));
    return respond(JsonError(400, "malformed_body", s.message()));
  }
  events_rejected_->Add(batch->rejected.size());
  std::string rejected = "[";
  for (size_t i = 0; i < batch->rejected.size(); ++i) {
    const auto& r = batch->rejected[i];
    if (i) rejected += ',';
    rejected += "{\"index\":" + std::to_string(r.index) + ",\"code\":";
    AppendJsonString(r.code, &rejected);
    rejected += ",\"message\":";
    AppendJsonString(r.message, &rejected);
    rejected += '}';
  }
  rejected += ']';
  if (batch->events.empty() && !batch->rejected.empty()) {
    HttpResponse r = JsonError(400, "all_events_rejected", "no event of the batch is valid");
    r.body.pop_back();
    r.body += ",\"accepted\":0,\"rejected\":" + rejected + "}";
    return respond(std::move(r));
  }

  // Route by region; answer once every region's log has made its part durable.
  std::array<std::vector<Event>, kRegionCount> by_region;
  for (Event& e : batch->events) by_region[static_cast<int>(e.region)].push_back(std::move(e));
  for (int r = 0; r < kRegionCount; ++r)
    if (!by_region[r].empty() && deps_.logs[r] == nullptr)
      return respond(JsonError(400, "region_not_served",
                               "region " + std::string(RegionName(static_cast<Region>(r))) + " is not served here"));

  struct Join {
    std::mutex mu;
    int pending = 0;
    Status first_error;
    size_t accepted = 0;
    std::string rejected;
    Responder respond;
  };
  auto join = std::make_shared<Join>();
  join->accepted = batch->events.size();
  join->rejected = std::move(rejected);
  join->respond = std::move(respond);
  for (int r = 0; r < kRegionCount; ++r)
    if (!by_region[r].empty()) ++join->pending;
  if (join->pending == 0) return join->respond(Json("{\"accepted\":0,\"rejected\":" + join->rejected + "}"));

  for (int r = 0; r < kRegionCount; ++r) {
    if (by_region[r].empty()) continue;
    deps_.logs[r]->AppendAsync(std::move(by_region[r]), [this, join](Status st) {
      std::unique_lock lock(join->mu);
      if (!st.ok() && join->first_error.ok()) join->first_error = st;
      if (--join->pending > 0) return;
      lock.unlock();
      if (!join->first_error.ok()) {
        append_failures_->Add();
        HttpResponse resp = JsonError(503, "log_unavailable",
                                      "events not stored, retry the batch: " + join->first_error.message());
        resp.headers.emplace_back("Retry-After", "1");
        return join->respond(std::move(resp));
      }
      events_accepted_->Add(join->accepted);
      join->respond(
          Json("{\"accepted\":" + std::to_string(join->accepted) + ",\"rejected\":" + join->rejected + "}"));
    });
  }
}

HttpResponse Api::StoryMetrics(uint64_t story) {
  auto m = deps_.store->GetStory(StoryId(story));
  if (!m.ok()) return FromStatus(m.status());
  if (!m.value()) return JsonError(404, "story_not_found", "no events for story " + std::to_string(story));
  std::string body;
  AppendStory(**m, &body);
  return Json(std::move(body));
}

HttpResponse Api::StorySeries(uint64_t story, std::string_view query) {
  auto window = serve::ParseWindowSize(Param(query, "window").value_or("5s"));
  if (!window) return JsonError(400, "invalid_window", "window must be 5s or 1m");
  int64_t from = 0, to = INT64_MAX;
  if (auto f = Param(query, "from"); f && !ParseNumber(*f, &from))
    return JsonError(400, "invalid_from", "from must be an integer (ms since epoch)");
  if (auto t = Param(query, "to"); t && !ParseNumber(*t, &to))
    return JsonError(400, "invalid_to", "to must be an integer (ms since epoch)");
  if (from > to) return JsonError(400, "invalid_range", "from must not be after to");
  auto points = deps_.store->GetSeries(StoryId(story), *window, from, to);
  if (!points.ok()) return FromStatus(points.status());
  std::string body = "{\"story_id\":" + std::to_string(story) + ",\"window\":\"" +
                     std::string(serve::WindowName(*window)) + "\",\"points\":[";
  bool first = true;
  for (const auto& p : *points) {
    if (!first) body += ',';
    first = false;
    body += "{\"start\":" + std::to_string(p.start) + ",";
    AppendAggregates(p.agg, &body);
    body += p.final ? ",\"final\":true}" : ",\"final\":false}";
  }
  body += "]}";
  return Json(std::move(body));
}

namespace {
// Parses by= and limit= shared by both top lists.
std::optional<HttpResponse> TopParams(std::string_view query, serve::TopBy* by, size_t* limit) {
  auto b = serve::ParseTopBy(Param(query, "by").value_or("views"));
  if (!b) return JsonError(400, "invalid_by", "by must be views, unique_viewers, watch_time_ms, shares or replies");
  *by = *b;
  *limit = 10;
  if (auto l = Param(query, "limit"); l && (!ParseNumber(*l, limit) || *limit < 1 || *limit > 1000))
    return JsonError(400, "invalid_limit", "limit must be an integer in 1..1000");
  return std::nullopt;
}
std::string StoriesJson(const std::vector<serve::StoryMetrics>& stories) {
  std::string body = "[";
  for (size_t i = 0; i < stories.size(); ++i) {
    if (i) body += ',';
    AppendStory(stories[i], &body);
  }
  return body + "]";
}
}  // namespace

HttpResponse Api::CreatorTop(uint64_t author, std::string_view query) {
  serve::TopBy by;
  size_t limit;
  if (auto err = TopParams(query, &by, &limit)) return *err;
  auto top = deps_.store->TopStories(AuthorId(author), by, limit);
  if (!top.ok()) return FromStatus(top.status());
  return Json("{\"creator_id\":" + std::to_string(author) + ",\"stories\":" + StoriesJson(*top) + "}");
}

HttpResponse Api::OverallTop(std::string_view query) {
  serve::TopBy by;
  size_t limit;
  if (auto err = TopParams(query, &by, &limit)) return *err;
  auto top = deps_.store->TopStoriesOverall(by, limit);
  if (!top.ok()) return FromStatus(top.status());
  return Json("{\"stories\":" + StoriesJson(*top) + "}");
}

HttpResponse Api::StatusReport() {
  std::vector<PartitionReport> parts = deps_.status ? deps_.status() : std::vector<PartitionReport>{};
  uint64_t lag = 0;
  std::string body = "{\"partitions\":[";
  for (size_t i = 0; i < parts.size(); ++i) {
    const auto& p = parts[i];
    lag += p.end_offset > p.processed_offset ? p.end_offset - p.processed_offset : 0;
    if (i) body += ',';
    body += "{\"region\":\"" + std::string(RegionName(p.region)) + "\",\"partition\":" + std::to_string(p.partition) +
            ",\"log_end_offset\":" + std::to_string(p.end_offset) +
            ",\"processed_offset\":" + std::to_string(p.processed_offset) +
            ",\"checkpoint_offset\":" + std::to_string(p.checkpoint_offset) +
            ",\"checkpoint_id\":" + std::to_string(p.checkpoint_id) + ",\"watermark\":" +
            (p.watermark == INT64_MIN ? std::string("null") : std::to_string(p.watermark)) +
            ",\"records\":" + std::to_string(p.records) + ",\"duplicates\":" + std::to_string(p.duplicates) +
            ",\"late_events_5s\":" + std::to_string(p.late_5s) + ",\"late_events_1m\":" + std::to_string(p.late_1m) +
            ",\"dedup_entries\":" + std::to_string(p.dedup_entries) + ",\"error\":";
    if (p.error.empty()) {
      body += "null}";
    } else {
      AppendJsonString(p.error, &body);
      body += '}';
    }
  }
  body += "],\"lag\":" + std::to_string(lag) + "}";
  return Json(std::move(body));
}

}  // namespace watershed::gateway
