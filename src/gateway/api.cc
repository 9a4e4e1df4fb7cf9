#include "gateway/api.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <memory>
#include <mutex>

#include "core/event_codec.h"
#include "core/event_proto.h"
#include "core/random.h"
#include "serve/regional_live_store.h"

namespace watershed::gateway {
namespace {

using http::AppendJsonString;
using http::HttpRequest;
using http::HttpResponse;
using http::JsonError;
using http::Responder;

std::string_view PathOf(std::string_view target) { return target.substr(0, target.find('?')); }
std::string_view QueryOf(std::string_view target) {
  auto q = target.find('?');
  return q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
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

// author: the catalogue's (null when it does not know the story), never the
// author_id events carried.
void AppendStory(const serve::StoryMetrics& m, std::optional<AuthorId> author, std::string* out) {
  *out += "{\"story_id\":" + std::to_string(m.story.value) +
          ",\"author_id\":" + (author ? std::to_string(author->value) : std::string("null")) + ",";
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

Api::Api(ApiDeps deps, ApiOptions options)
    : deps_(std::move(deps)),
      options_(std::move(options)),
      rate_limiter_(options_.rate_limit),
      auth_failure_limiter_(
          {.requests_per_second = options_.auth_failures_per_second, .burst = options_.auth_failure_burst}),
      verifying_(options_.max_verifying),
      in_flight_(options_.max_in_flight) {
  if (!HashKey::Random(&address_key_)) RandomBytes(&address_key_, sizeof address_key_);
  MetricsRegistry& m = *deps_.metrics;
  requests_ = m.AddCounter("watershed_http_requests_total", "HTTP requests received");
  events_accepted_ = m.AddCounter("watershed_ingest_events_total", "Events acknowledged durable in the log");
  // One series per rejection code of docs/api.md; a code added later counts under "other".
  for (const char* code :
       {"invalid_event", "invalid_event_id", "unknown_type", "missing_field", "invalid_field", "invalid_region",
        "event_time_in_future", "identity_mismatch", "invalid_traceparent", "other"})
    events_rejected_.emplace_back(
        code, m.AddCounter("watershed_ingest_rejected_events_total", "Events refused by validation, by rejection code",
                           "code=\"" + std::string(code) + "\""));
  append_failures_ = m.AddCounter("watershed_ingest_append_failures_total", "Batches the log failed to append (503)");
  author_hint_mismatches_ =
      m.AddCounter("watershed_ingest_author_hint_mismatches_total",
                   "Accepted events whose author_id differs from the story catalogue's author (ignored)");
  stories_written_ = m.AddCounter("watershed_catalog_stories_written_total", "Story changes applied by POST /v1/stories");
  for (size_t c = 0; c < auth_failures_.size(); ++c) {
    const std::string code(auth::AuthErrorCodeName(static_cast<auth::AuthErrorCode>(c)));
    auth_failures_[c] = m.AddCounter("watershed_auth_failures_total", "Requests refused with 401, by code",
                                     "code=\"" + code + "\"");
  }
  forbidden_ = m.AddCounter("watershed_forbidden_total", "Requests refused with 403 (role or ownership)");
  rate_limited_ = m.AddCounter("watershed_rate_limited_total", "Requests refused with 429: user over its rate");
  over_capacity_ = m.AddCounter("watershed_over_capacity_total", "Requests refused with 429: too many in flight");
  auth_throttled_ = m.AddCounter("watershed_auth_throttled_total",
                                 "Requests refused with 429: their address failed authentication too often");
  auth_busy_ =
      m.AddCounter("watershed_auth_busy_total", "Requests refused with 503: too many signature checks at once");
  query_busy_ = m.AddCounter("watershed_query_busy_total", "Lake queries refused with 503: as many running as admitted");
  if (const auth::Verifier* v = deps_.verifier)
    m.AddCounterFunc("watershed_auth_signature_checks_total", "Token signature checks run since start",
                     [v] { return static_cast<double>(v->signature_checks()); });
  m.AddGauge("watershed_in_flight_requests", "/v1/ requests in progress",
             [this] { return static_cast<double>(in_flight_.InFlight()); });
  const char* help = "HTTP request latency, receipt to response hand-off, seconds";
  latency_ingest_ = m.AddHistogram("watershed_http_request_seconds", help, "route=\"ingest\"");
  latency_query_ = m.AddHistogram("watershed_http_request_seconds", help, "route=\"query\"");
  latency_other_ = m.AddHistogram("watershed_http_request_seconds", help, "route=\"other\"");
  const char* responses_help = "HTTP responses the API sent, by status code";
  for (int code : {200, 201, 202, 204, 304, 400, 401, 403, 404, 405, 408, 409,
                   411, 413, 414, 415, 422, 429, 431, 500, 501, 502, 503, 504})
    responses_[code] =
        m.AddCounter("watershed_http_responses_total", responses_help, "code=\"" + std::to_string(code) + "\"");
  responses_other_ = m.AddCounter("watershed_http_responses_total", responses_help, "code=\"other\"");
}

void Api::LogAccess(const std::string& method, const std::string& path, const HttpResponse& resp, int64_t elapsed_ns,
                    const std::optional<TraceContext>& request_trace) const {
  std::optional<TraceContext> trace = request_trace;
  for (const auto& [name, value] : resp.headers)
    if (name == "traceresponse") trace = ParseTraceparent(value);  // the trace the server started
  char time[96];
  const int64_t now_ms = deps_.clock->NowMs();
  const std::time_t secs = static_cast<std::time_t>(now_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  std::snprintf(time, sizeof time, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(now_ms % 1000));
  std::string line = "{\"ts\":\"" + std::string(time) + "\",\"method\":";
  AppendJsonString(method, &line);
  line += ",\"path\":";
  AppendJsonString(path, &line);
  char duration[32];
  std::snprintf(duration, sizeof duration, "%.3f", static_cast<double>(elapsed_ns) * 1e-6);
  line += ",\"status\":" + std::to_string(resp.status) + ",\"duration_ms\":" + duration;
  if (trace)
    line += ",\"trace_id\":\"" + LowerHex(trace->trace_id.data(), trace->trace_id.size()) + "\",\"span_id\":\"" +
            LowerHex(trace->span_id.data(), trace->span_id.size()) + "\"";
  line += "}\n";
  std::fwrite(line.data(), 1, line.size(), stderr);  // one write per line: lines of threads never interleave
}

void Api::CountResponse(int status) {
  Counter* c = status >= 0 && status < static_cast<int>(responses_.size()) ? responses_[status] : nullptr;
  (c ? c : responses_other_)->Add();
}

namespace {
bool HasAny(const std::optional<auth::Claims>& caller, std::initializer_list<auth::Role> roles) {
  for (auth::Role r : roles)
    if (caller->roles.Has(r)) return true;
  return false;
}
HttpResponse TooMany(std::string_view code, std::string_view message, int64_t retry_after_ns) {
  HttpResponse r = JsonError(429, code, message);
  const int64_t seconds = std::max<int64_t>(1, (retry_after_ns + 999'999'999) / 1'000'000'000);
  r.headers.emplace_back("Retry-After", std::to_string(seconds));
  return r;
}
}  // namespace

bool Api::IsPublic(std::string_view path) const {
  // The pages (never under /v1/) hold no data; /v1/dev/token is open when on
  // and 404 to all when off.
  if (path == kDevTokenPath || (!path.starts_with("/v1/") && PageAt(path))) return true;
  // Authenticated by the peer credential (deps_.query_fragment), never by a user token.
  if (path == kQueryFragmentPath || path.starts_with(kPeerStoriesPath)) return true;
  return std::find(options_.public_paths.begin(), options_.public_paths.end(), path) != options_.public_paths.end();
}

std::variant<auth::Claims, HttpResponse> Api::Authenticate(const HttpRequest& req, int64_t now_ns) {
  auto unauthorized = [this](const auth::AuthError& e) {
    auth_failures_[static_cast<size_t>(e.code)]->Add();
    HttpResponse r = JsonError(401, e.code_name(), e.message);
    // RFC 6750 §3: tell the client which scheme and why.
    r.headers.emplace_back("WWW-Authenticate", e.code == auth::AuthErrorCode::kTokenMissing
                                                   ? "Bearer realm=\"watershed\""
                                                   : "Bearer realm=\"watershed\", error=\"invalid_token\"");
    return r;
  };
  auto token = auth::ExtractBearerToken(req.Header("authorization"));
  if (!token.ok()) return unauthorized(token.error());
  const int64_t now_s = deps_.clock->NowMs() / 1000;
  // Addresses, not users, pay for failures: a failed token names no user.
  const uint64_t address = KeyedHash(address_key_, req.remote_address);
  std::optional<auth::AuthResult<auth::Claims>> claims = deps_.verifier->VerifyCheaply(*token, now_s);
  if (!claims) {
    const Admission a = auth_failure_limiter_.Peek(address, now_ns);
    if (!a.allowed) {
      auth_throttled_->Add();
      return TooMany("auth_rate_limited",
                     "too many failed authentications from this address; retry after the Retry-After seconds",
                     a.retry_after_ns);
    }
    // Only an address that failed lately counts against the cap: a client
    // whose tokens all verified is never turned away because others send
    // unknown tokens (a new user's first request must not get 503).
    const bool capped = !a.rested;
    if (capped && !verifying_.TryEnter()) {
      auth_busy_->Add();
      HttpResponse r = JsonError(503, "auth_busy", "too many tokens being verified at once; retry shortly");
      r.headers.emplace_back("Retry-After", "1");
      return r;
    }
    if (capped && deps_.on_capped_verification) deps_.on_capped_verification();
    claims = deps_.verifier->VerifyUncached(*token, now_s);
    if (capped) verifying_.Leave();
  }
  if (!claims->ok()) {
    auth_failure_limiter_.Acquire(address, now_ns);
    return unauthorized(claims->error());
  }
  const auth::Claims& caller = claims->value();
  const bool exempt = (caller.roles.bits() & options_.rate_limit_exempt.bits()) != 0;
  Admission a = exempt ? Admission{} : rate_limiter_.Acquire(caller.user.value, now_ns);
  if (!a.allowed) {
    rate_limited_->Add();
    return TooMany("rate_limited", "too many requests for this user; retry after the Retry-After seconds",
                   a.retry_after_ns);
  }
  return caller;
}

std::optional<HttpResponse> Api::CheckHeader(HttpRequest& head) {
  if (!deps_.verifier || IsPublic(PathOf(head.target))) return std::nullopt;
  auto outcome = Authenticate(head, deps_.clock->MonotonicNs());
  if (auto* refused = std::get_if<HttpResponse>(&outcome)) {
    requests_->Add();
    CountResponse(refused->status);
    return std::move(*refused);
  }
  head.context = std::get<auth::Claims>(std::move(outcome));
  return std::nullopt;
}

void Api::Handle(HttpRequest&& req, Responder respond) {
  requests_->Add();
  const int64_t start = deps_.clock->MonotonicNs();
  const std::string_view path = PathOf(req.target);
  const bool v1 = path.starts_with("/v1/");
  Histogram* histogram = path == "/v1/events" ? latency_ingest_ : v1 ? latency_query_ : latency_other_;
  std::optional<std::pair<std::string, std::string>> access;  // method and path, when logging
  std::optional<TraceContext> request_trace;
  if (options_.access_log) {
    access.emplace(req.method, std::string(path));
    request_trace = ParseTraceparent(req.Header("traceparent"));
  }
  Responder reply = [this, start, histogram, access = std::move(access), request_trace,
                     r = std::move(respond)](HttpResponse resp) {
    const int64_t elapsed_ns = deps_.clock->MonotonicNs() - start;
    histogram->ObserveNanos(elapsed_ns);
    CountResponse(resp.status);
    if (access) LogAccess(access->first, access->second, resp, elapsed_ns, request_trace);
    r(std::move(resp));
  };

  Caller caller;
  if (deps_.verifier && !IsPublic(path)) {
    if (const auto* checked = std::any_cast<auth::Claims>(&req.context)) {
      caller = *checked;  // CheckHeader did the work
    } else {
      auto outcome = Authenticate(req, start);
      if (auto* refused = std::get_if<HttpResponse>(&outcome)) return reply(std::move(*refused));
      caller = std::get<auth::Claims>(std::move(outcome));
    }
  }
  if (v1) {
    if (!in_flight_.TryEnter()) {
      over_capacity_->Add();
      return reply(TooMany("over_capacity", "the server is at its in-flight request limit; retry shortly", 0));
    }
    reply = [this, r = std::move(reply)](HttpResponse resp) {
      in_flight_.Leave();
      r(std::move(resp));
    };
  }
  Route(std::move(req), path, caller, std::move(reply));
}

void Api::Route(HttpRequest&& req, std::string_view path, const Caller& caller, Responder reply) {
  const std::string_view query = QueryOf(req.target);
  auto method_not_allowed = [&](const char* allow) {
    HttpResponse r = JsonError(405, "method_not_allowed", req.method + " is not allowed on " + std::string(path));
    r.headers.emplace_back("Allow", allow);
    return r;
  };
  auto forbidden = [&](std::string_view code, std::string_view message) {
    forbidden_->Add();
    return reply(JsonError(403, code, message));
  };
  using auth::Role;
  // Analysts and admins read everything; anyone else only what the checks below allow.
  const bool operator_only = caller && !HasAny(caller, {Role::kAnalyst, Role::kAdmin});
  const bool get = req.method == "GET";

  // Endpoints of a role this process does not have (a split deployment).
  auto not_served = [&](std::string_view what, std::string_view where) {
    return reply(JsonError(404, "not_served_here",
                           std::string(what) + " is not served by this process; " + std::string(where)));
  };
  const bool ingests = std::any_of(deps_.logs.begin(), deps_.logs.end(), [](log::Log* l) { return l != nullptr; });
  const bool reads = deps_.store != nullptr;
  constexpr std::string_view kReadsAt = "read from `watershed query serve` or `watershed serve`";

  if (path == "/v1/events") {
    if (!ingests) return not_served(path, "send events to `watershed gateway` or `watershed serve`");
    if (req.method != "POST") return reply(method_not_allowed("POST"));
    if (caller && !HasAny(caller, {Role::kViewer, Role::kCreator, Role::kAdmin}))
      return forbidden("role_required", "sending events needs the viewer, creator or admin role");
    return PostEvents(std::move(req), caller, std::move(reply));
  }
  if (path == "/v1/stories") {
    if (req.method != "POST") return reply(method_not_allowed("POST"));
    if (!deps_.catalog) return not_served(path, "this process has no story catalogue");
    if (caller && !HasAny(caller, {Role::kCreator, Role::kAdmin}))
      return forbidden("role_required", "registering stories needs the creator or admin role");
    return PostStories(std::move(req), caller, std::move(reply));
  }
  std::optional<uint64_t> id;
  if ((id = IdBetween(path, "/v1/stories/", ""))) {
    if (!get) return reply(method_not_allowed("GET"));
    if (!deps_.catalog) return not_served(path, "this process has no story catalogue");
    return reply(GetStoryRecord(*id, caller));
  }
  if (path.starts_with(kPeerStoriesPath)) {
    if (!deps_.peer_story) return not_served(path, "this process has no peers (peer-token-file)");
    if (!get) return reply(method_not_allowed("GET"));
    // Every id GET /v1/stories/{id}/metrics asks about (any unsigned 64-bit story_id an event may carry): a refusal
    // here would count as a failed peer at the asking side and hide it from every answer for 5 s.
    id = IdBetween(path, kPeerStoriesPath, "");
    if (!id) return reply(JsonError(400, "invalid_story_id", "the story id must be an unsigned 64-bit integer"));
    return reply(deps_.peer_story(req, StoryId(*id)));
  }
  if (path == kQueryFragmentPath) {
    if (!deps_.query_fragment || !deps_.lake_queries)
      return not_served(path, "this process has no peers (peer-token-file)");
    if (req.method != "POST") return reply(method_not_allowed("POST"));
    if (deps_.query_fragment_auth)
      if (auto refused = deps_.query_fragment_auth(req)) return reply(std::move(*refused));
    auto shared = std::make_shared<HttpRequest>(std::move(req));
    const bool admitted = deps_.lake_queries->TrySubmit(
        [this, shared, reply](LakeQueries::Slot) { reply(deps_.query_fragment(*shared)); });
    if (!admitted) {
      HttpResponse r = JsonError(503, "query_busy", "the server runs as many lake queries as it admits");
      r.headers.emplace_back("Retry-After", "1");
      return reply(std::move(r));
    }
    return;
  }
  if (path == "/v1/admin/erasures") {
    if (req.method != "POST") return reply(method_not_allowed("POST"));
    if (!deps_.erase) return not_served(path, "send erasure requests to `watershed serve`");
    if (caller && !HasAny(caller, {Role::kAdmin}))
      return forbidden("role_required", "erasure requests need the admin role");
    return reply(PostErasure(req.body, caller));
  }
  if (path == "/v1/query") {
    if (req.method != "POST") return reply(method_not_allowed("POST"));
    if (!deps_.lake_queries) return not_served(path, "this process reads no lake");
    if (operator_only) {
      const std::string why = "/v1/query needs the analyst or admin role";
      auto request = ParseQueryRequest(req.body, deps_.lake_queries->options().limits);
      const std::string sql = request.ok() ? request->sql : "";
      if (auto failed = Audit(caller, sql, deps_.clock->NowMs() * 1000, {}, 0, Status::PermissionDenied(why)))
        return reply(std::move(*failed));
      return forbidden("role_required", why);
    }
    return PostQuery(std::move(req), caller, std::move(reply));
  }
  if (path.starts_with("/v1/stories/") && path.ends_with("/history")) {
    if (!get) return reply(method_not_allowed("GET"));
    if (!deps_.lake_queries) return not_served(path, "this process reads no lake");
    id = IdBetween(path, "/v1/stories/", "/history");
    // Audited like a query, refusals included (the request line, bounded by the header limits, names it).
    std::string what = "GET " + req.target;
    const int64_t arrived_us = deps_.clock->NowMs() * 1000;
    auto refuse = [&](HttpResponse&& r) {
      const Status why = r.status == 403 ? Status::PermissionDenied(r.body) : Status::InvalidArgument(r.body);
      if (auto failed = Audit(caller, what, arrived_us, {}, 0, why)) return reply(std::move(*failed));
      return reply(std::move(r));
    };
    if (!id || *id == 0 || *id > static_cast<uint64_t>(INT64_MAX))
      return refuse(JsonError(400, "invalid_story_id", "the story id must be an integer in 1..2^63-1"));
    if (auto denied = CheckStoryAccess(*id, caller)) return refuse(std::move(*denied));
    return StoryHistory(*id, query, caller, std::move(what), std::move(reply));
  }
  if (path.starts_with("/v1/users/") && path.ends_with("/recommendations"))
    return reply(Recommendations(req.method, IdBetween(path, "/v1/users/", "/recommendations"), query, caller));
  const bool is_read = path.starts_with("/v1/stories/") || path.starts_with("/v1/creators/") || path == "/v1/top";
  if (is_read && !reads) return not_served(path, kReadsAt);
  if (path == "/v1/status" && !deps_.status) return not_served(path, std::string(kReadsAt) + " or a processor");
  if ((id = IdBetween(path, "/v1/stories/", "/metrics"))) {
    if (!get) return reply(method_not_allowed("GET"));
    if (auto denied = CheckStoryAccess(*id, caller)) return reply(std::move(*denied));
    return reply(StoryMetrics(*id));
  }
  if ((id = IdBetween(path, "/v1/stories/", "/series"))) {
    if (!get) return reply(method_not_allowed("GET"));
    if (auto denied = CheckStoryAccess(*id, caller)) return reply(std::move(*denied));
    return reply(StorySeries(*id, query));
  }
  if ((id = IdBetween(path, "/v1/creators/", "/top"))) {
    if (!get) return reply(method_not_allowed("GET"));
    if (operator_only) {
      if (!caller->roles.Has(Role::kCreator))
        return forbidden("role_required", "creator top lists need the creator, analyst or admin role");
      if (caller->user.value != *id)
        return forbidden("not_own_creator", "a creator reads only their own top list");
    }
    return reply(CreatorTop(*id, query));
  }
  if (path == "/v1/top" || path == "/v1/status") {
    if (!get) return reply(method_not_allowed("GET"));
    if (operator_only) return forbidden("role_required", std::string(path) + " needs the analyst or admin role");
    return reply(path == "/v1/top" ? OverallTop(query) : StatusReport());
  }
  if (path == "/metrics") {
    if (!get) return reply(method_not_allowed("GET"));
    if (operator_only) return forbidden("role_required", "/metrics needs the analyst or admin role");
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
  if (const web::File* page = PageAt(path)) return reply(Page(*page, req.method));
  if (path == kDevTokenPath && deps_.mint_dev_token) {
    if (req.method != "POST") return reply(method_not_allowed("POST"));
    return reply(PostDevToken(req));
  }
  reply(JsonError(404, "not_found", "no such endpoint: " + std::string(path)));
}

std::optional<AuthorId> Api::AuthorOf(StoryId story) const {
  return deps_.catalog ? deps_.catalog->AuthorOf(story) : std::nullopt;
}

std::optional<HttpResponse> Api::CheckStoryAccess(uint64_t story, const Caller& caller) {
  using auth::Role;
  if (!caller || HasAny(caller, {Role::kAnalyst, Role::kAdmin})) return std::nullopt;
  if (!caller->roles.Has(Role::kCreator)) {
    forbidden_->Add();
    return JsonError(403, "role_required", "story metrics need the creator, analyst or admin role");
  }
  // Authorship comes from the catalogue only: the author_id of events is
  // whatever a client wrote, so a story the catalogue does not know has no
  // author a creator could prove.
  std::optional<AuthorId> author = AuthorOf(StoryId(story));
  if (!author)
    return JsonError(404, "story_not_found", "story " + std::to_string(story) + " is not in the story catalogue");
  if (author->value != caller->user.value) {
    forbidden_->Add();
    return JsonError(403, "not_story_author", "a creator reads only the stories they authored");
  }
  return std::nullopt;
}

void Api::PostEvents(HttpRequest&& req, const Caller& caller, Responder respond) {
  // A sampled request: its ingest span ends with the answer, whatever it is.
  std::shared_ptr<trace::Span> ingest;
  std::string ingest_traceparent;  // the ingest span as a context: the answer's traceresponse, the events' parent
  if (trace::Tracer* tracer = deps_.tracer) {
    const TraceContext context = tracer->Join(req.Header("traceparent"));
    if (context.sampled()) {
      ingest = std::make_shared<trace::Span>();
      ingest->name = "watershed.ingest";
      ingest->kind = 2;
      ingest->trace_id = context.trace_id;
      ingest->parent_id = context.span_id;
      ingest->span_id = tracer->NewSpanId();
      ingest->start_unix_ns = trace::UnixNowNs();
      ingest_traceparent = FormatTraceparent(TraceContext{ingest->trace_id, ingest->span_id, 1});
      respond = [tracer, ingest, ingest_traceparent, r = std::move(respond)](HttpResponse resp) {
        // W3C Trace Context level 2: the client learns the trace it is part of.
        resp.headers.emplace_back("traceresponse", ingest_traceparent);
        ingest->end_unix_ns = trace::UnixNowNs();
        ingest->attributes = {{"http.route", "/v1/events"}, {"http.status_code", std::to_string(resp.status)}};
        ingest->error = resp.status >= 500;
        tracer->Export(*ingest);
        r(std::move(resp));
      };
    }
  }
  std::string type = req.content_type.substr(0, req.content_type.find(';'));
  while (!type.empty() && type.back() == ' ') type.pop_back();
  for (char& c : type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));  // media types ignore case
  const bool protobuf = type == "application/x-protobuf";
  if (type != "application/json" && !protobuf)
    return respond(JsonError(415, "unsupported_media_type",
                             "Content-Type must be application/json or application/x-protobuf"));
  EventValidation validation;
  validation.now_ms = deps_.clock->NowMs();
  validation.max_future_ms = options_.max_future_ms;
  if (caller) validation.identity = EventValidation::Identity{ViewerId(caller->user.value), caller->region};
  auto batch = std::make_shared<DecodedBatch>();
  Status s = protobuf ? DecodeEventBatchProto(req.body, validation, batch.get())
                      : DecodeEventBatchJson(req.body, validation, batch.get());
  if (!s.ok()) {
    if (s.code() == StatusCode::kTooLarge) return respond(JsonError(413, "batch_too_large", s.message()));
    return respond(JsonError(400, "malformed_body", s.message()));
  }
  for (const EventRejection& r : batch->rejected) {
    auto it = std::find_if(events_rejected_.begin(), events_rejected_.end() - 1,
                           [&](const auto& c) { return c.first == r.code; });
    it->second->Add();
  }
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
    // 403 when the caller may send none of them (every event is another
    // viewer's or region's), else 400.
    const bool all_forbidden = std::all_of(batch->rejected.begin(), batch->rejected.end(),
                                           [](const EventRejection& r) { return r.HttpStatus() == 403; });
    if (all_forbidden) forbidden_->Add();
    HttpResponse r = all_forbidden ? JsonError(403, kIdentityMismatchCode,
                                               "every event names another viewer or region than the token's")
                                   : JsonError(400, "all_events_rejected", "no event of the batch is valid");
    r.body.pop_back();
    r.body += ",\"accepted\":0,\"rejected\":" + rejected + "}";
    return respond(std::move(r));
  }

  CountAuthorHints(batch->events);
  if (ingest) {  // events without a context of their own continue the request's trace
    for (Event& e : batch->events)
      if (e.traceparent.empty()) e.traceparent = ingest_traceparent;
  }
  // Route by region; answer once every region's log has made its part durable.
  std::array<std::vector<Event>, kMaxRegions> by_region;
  for (Event& e : batch->events) by_region[static_cast<int>(e.region)].push_back(std::move(e));
  for (int r = 0; r < RegionCount(); ++r)
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
  for (int r = 0; r < RegionCount(); ++r)
    if (!by_region[r].empty()) ++join->pending;
  if (join->pending == 0) return join->respond(Json("{\"accepted\":0,\"rejected\":" + join->rejected + "}"));

  for (int r = 0; r < RegionCount(); ++r) {
    if (by_region[r].empty()) continue;
    std::shared_ptr<trace::Span> append;
    if (ingest) {
      append = std::make_shared<trace::Span>();
      append->name = "watershed.log.append";
      append->trace_id = ingest->trace_id;
      append->parent_id = ingest->span_id;
      append->span_id = deps_.tracer->NewSpanId();
      append->attributes = {{"watershed.region", std::string(RegionName(static_cast<Region>(r)))},
                            {"watershed.events", std::to_string(by_region[r].size())}};
      append->start_unix_ns = trace::UnixNowNs();
    }
    deps_.logs[r]->AppendAsync(std::move(by_region[r]), [this, join, append](Status st) {
      if (append) {  // the append and its fsync are done (or failed)
        append->end_unix_ns = trace::UnixNowNs();
        append->error = !st.ok();
        deps_.tracer->Export(*append);
      }
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
  if (deps_.story_across_regions) {
    auto across = deps_.story_across_regions(StoryId(story));
    if (!across.ok()) return FromStatus(across.status());
    return StoryAcrossRegionsAnswer(story, *across);
  }
  auto m = deps_.store->GetStory(StoryId(story));
  if (!m.ok()) return FromStatus(m.status());
  if (!m.value()) return JsonError(404, "story_not_found", "no events for story " + std::to_string(story));
  std::string body;
  AppendStory(**m, AuthorOf(StoryId(story)), &body);
  return Json(std::move(body));
}

// The sum of the regions' parts, each part, and which regions are missing. Distinct viewers add up only when a
// viewer's events are all in one region: with auth on (the token's region), or when one region has viewers of the
// story; else `unique_viewers` is the sum of the regions' counts, an upper bound, and unique_viewers_exact says so.
HttpResponse Api::StoryAcrossRegionsAnswer(uint64_t story, const StoryAcrossRegions& across) {
  std::optional<serve::StoryMetrics> sum = serve::SumParts(across.parts);
  if (!sum && across.missing.empty())
    return JsonError(404, "story_not_found", "no events for story " + std::to_string(story));
  if (!sum) {  // only the missing regions could have it: an answer of zeros, marked partial
    sum.emplace();
    sum->story = StoryId(story);
  }
  int regions_with_viewers = 0;
  for (const auto& part : across.parts) regions_with_viewers += part && part->totals.unique_viewers > 0;
  const bool exact = deps_.verifier != nullptr || regions_with_viewers <= 1;
  std::string body;
  AppendStory(*sum, AuthorOf(StoryId(story)), &body);
  body.pop_back();  // reopen the object
  body += std::string(",\"unique_viewers_exact\":") + (exact ? "true" : "false") + ",\"regions\":[";
  bool first = true;
  for (int r = 0; r < RegionCount(); ++r) {
    const auto& part = across.parts[r];
    if (!part) continue;
    if (!first) body += ',';
    first = false;
    body += "{\"region\":\"" + std::string(RegionName(static_cast<Region>(r))) + "\",";
    AppendAggregates(part->totals, &body);
    body += ",\"as_of\":" + std::to_string(part->as_of_ms) + "}";
  }
  body += std::string("],\"partial\":") + (across.missing.empty() ? "false" : "true") + ",\"missing\":[";
  for (size_t i = 0; i < across.missing.size(); ++i)
    body += (i ? ",\"" : "\"") + std::string(RegionName(across.missing[i])) + "\"";
  body += "]}";
  return Json(std::move(body));
}

HttpResponse Api::StorySeries(uint64_t story, std::string_view query) {
  auto window = serve::ParseWindowSize(QueryParam(query, "window").value_or("5s"));
  if (!window) return JsonError(400, "invalid_window", "window must be 5s or 1m");
  int64_t from = 0, to = INT64_MAX;
  if (auto f = QueryParam(query, "from"); f && !ParseNumber(*f, &from))
    return JsonError(400, "invalid_from", "from must be an integer (ms since epoch)");
  if (auto t = QueryParam(query, "to"); t && !ParseNumber(*t, &to))
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
  auto b = serve::ParseTopBy(QueryParam(query, "by").value_or("views"));
  if (!b) return JsonError(400, "invalid_by", "by must be views, unique_viewers, watch_time_ms, shares or replies");
  *by = *b;
  *limit = 10;
  if (auto l = QueryParam(query, "limit"); l && (!ParseNumber(*l, limit) || *limit < 1 || *limit > 1000))
    return JsonError(400, "invalid_limit", "limit must be an integer in 1..1000");
  return std::nullopt;
}
}  // namespace

std::string Api::StoriesJson(const std::vector<serve::StoryMetrics>& stories) const {
  std::string body = "[";
  for (size_t i = 0; i < stories.size(); ++i) {
    if (i) body += ',';
    AppendStory(stories[i], AuthorOf(stories[i].story), &body);
  }
  return body + "]";
}

// The catalogue says which stories are the creator's (so a story that
// changes author or is deleted leaves the list at once); the store has their
// numbers. Costs one store read per story ranked: at most
// kCreatorTopMaxStories, the creator's highest ids ("truncated" says so).
HttpResponse Api::CreatorTop(uint64_t author, std::string_view query) {
  serve::TopBy by;
  size_t limit;
  if (auto err = TopParams(query, &by, &limit)) return *err;
  std::vector<StoryId> ids = deps_.catalog ? deps_.catalog->StoriesOf(AuthorId(author)) : std::vector<StoryId>{};
  const bool truncated = ids.size() > kCreatorTopMaxStories;
  if (truncated) ids.erase(ids.begin(), ids.end() - kCreatorTopMaxStories);  // ascending: keep the highest
  auto found = deps_.store->GetStories(ids);
  if (!found.ok()) return FromStatus(found.status());
  std::vector<serve::StoryMetrics> top;
  for (auto& m : *found)
    if (m) top.push_back(std::move(*m));
  auto better = [by](const serve::StoryMetrics& a, const serve::StoryMetrics& b) {
    const uint64_t va = serve::TopValue(a.totals, by), vb = serve::TopValue(b.totals, by);
    return va != vb ? va > vb : a.story < b.story;
  };
  const size_t keep = std::min(limit, top.size());
  std::partial_sort(top.begin(), top.begin() + static_cast<std::ptrdiff_t>(keep), top.end(), better);
  top.resize(keep);
  return Json("{\"creator_id\":" + std::to_string(author) + ",\"stories\":" + StoriesJson(top) +
              ",\"truncated\":" + (truncated ? "true" : "false") + "}");
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
  auto report = deps_.status();
  if (!report.ok()) {
    HttpResponse r = JsonError(503, "status_unavailable", "progress cannot be read now: " + report.status().message());
    r.headers.emplace_back("Retry-After", "1");
    return r;
  }
  const std::vector<PartitionReport>& parts = report.value();
  uint64_t lag = 0;
  std::string body = "{\"partitions\":[";
  for (size_t i = 0; i < parts.size(); ++i) {
    const auto& p = parts[i];
    lag += p.end_offset > p.processed_offset ? p.end_offset - p.processed_offset : 0;
    if (i) body += ',';
    body += "{\"region\":\"" + std::string(RegionName(p.region)) + "\",\"partition\":" + std::to_string(p.partition) +
            ",\"partition_scheme\":\"" + std::string(PartitionSchemeName(p.scheme)) +
            "\",\"log_end_offset\":" + std::to_string(p.end_offset) +
            ",\"processed_offset\":" + std::to_string(p.processed_offset);
    auto detail = [&](std::string_view name, uint64_t value) {
      body += ",\"";
      body += name;
      body += "\":" + (p.detailed ? std::to_string(value) : std::string("null"));
    };
    detail("checkpoint_offset", p.checkpoint_offset);
    detail("checkpoint_id", p.checkpoint_id);
    body += ",\"watermark\":" + (p.watermark == INT64_MIN || !p.detailed ? std::string("null") : std::to_string(p.watermark));
    detail("records", p.records);
    detail("duplicates", p.duplicates);
    detail("late_events_5s", p.late_5s);
    detail("late_events_1m", p.late_1m);
    detail("dedup_entries", p.dedup_entries);
    body += ",\"error\":";
    if (p.error.empty()) {
      body += "null}";
    } else {
      AppendJsonString(p.error, &body);
      body += '}';
    }
  }
  body += "],\"lag\":" + std::to_string(lag) + ",\"catalog_feed\":";
  if (deps_.catalog_feed) {
    const CatalogFeedReport f = deps_.catalog_feed();
    body += std::string("{\"running\":") + (f.running ? "true" : "false") +
            ",\"lag_bytes\":" + std::to_string(f.lag_bytes) + ",\"transactions\":" + std::to_string(f.transactions) +
            ",\"dead_lettered\":" + std::to_string(f.dead_lettered) + "}}";
  } else {
    body += "null}";
  }
  return Json(std::move(body));
}

}  // namespace watershed::gateway
