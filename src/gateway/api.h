#pragma once
// The public HTTP API v1 (docs/api.md): ingest into the region logs, reads
// from the live store, status, Prometheus metrics and health probes; in
// front of them bearer-token authentication, per-user rate limits, a global
// in-flight cap and role-based authorization.
// Thread-safe: the HTTP server calls Handle from its I/O threads.

#include <array>
#include <atomic>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "auth/verifier.h"
#include "catalog/story_catalog.h"
#include "core/clock.h"
#include "core/keyed_hash.h"
#include "core/metrics.h"
#include "core/partitioning.h"
#include "gateway/lake_queries.h"
#include "gateway/rate_limiter.h"
#include "gov/audit_log.h"
#include "gov/policy.h"
#include "http/http_server.h"
#include "log/log.h"
#include "query/run.h"
#include "serve/live_store.h"
#include "trace/tracer.h"
#include "web/web_files.h"

namespace watershed::gateway {

// What /v1/status reports of one partition; filled by the app from the processors.
struct PartitionReport {
  Region region = Region::kUs;
  uint32_t partition = 0;
  PartitionScheme scheme = PartitionScheme::kAligned;  // of the region's log
  uint64_t end_offset = 0;
  uint64_t processed_offset = 0;
  uint64_t checkpoint_offset = 0;
  uint64_t checkpoint_id = 0;
  int64_t watermark = INT64_MIN;
  uint64_t records = 0, duplicates = 0, late_5s = 0, late_1m = 0, dedup_entries = 0;
  std::string error;
  // False where the processor runs in another process (`watershed query`):
  // only end_offset and processed_offset (the live store's progress) are
  // known, the other fields are reported as null.
  bool detailed = true;
};

// What /v1/status reports of the story catalogue's CDC feed (docs/cdc.md),
// filled by the app when this process runs one.
struct CatalogFeedReport {
  bool running = false;        // this process's feed holds the replication slot
  uint64_t lag_bytes = 0;      // WAL the slot holds beyond what the feed stored
  uint64_t transactions = 0;   // stored and confirmed by this process
  uint64_t dead_lettered = 0;  // rows that did not map
};

// A story's live parts across the regions' deployments (GET /v1/stories/{id}/metrics, docs/api.md): each region's
// part (nullopt: no events there, or the region did not answer) and the regions whose deployment did not answer.
struct StoryAcrossRegions {
  serve::RegionParts parts;
  std::vector<Region> missing;
};

struct ApiOptions {
  int64_t max_future_ms = 5 * 60'000;  // event_time may lead the server clock by this much
  // Paths answered without a token when auth is on (exact match).
  std::vector<std::string> public_paths = {"/healthz", "/readyz", "/metrics"};
  RateLimitOptions rate_limit;  // per user; needs auth (the user is the token's sub)
  auth::RoleSet rate_limit_exempt{static_cast<uint8_t>(auth::Role::kAdmin)};  // operators' tokens
  int64_t max_in_flight = 10'000;  // all /v1/ requests in progress; 0 = no cap
  // Failed authentications per client address (a token bucket, like
  // rate_limit): past the burst, a request from that address whose token is
  // not already known (verified, or refused before) is answered 429
  // auth_rate_limited without a signature check. 0 = no limit.
  double auth_failures_per_second = 1;
  double auth_failure_burst = 20;
  // Signature checks running at once for addresses with a recent failed
  // authentication (0 = no cap); one more is answered 503 auth_busy.
  // Addresses without failures are not capped, so honest new users never
  // see it. Checks run on the HTTP I/O threads (a check is tens of µs:
  // handing it to another pool would cost about as much), so a cap below
  // the thread count keeps a thread free for requests whose token is cached,
  // however many bad tokens arrive.
  int64_t max_verifying = 0;
  // One JSON line per API request on stderr (`access-log = json`): time,
  // method, path, status, duration and the trace id — the request's
  // traceparent's, or the trace the server started (its `traceresponse`).
  bool access_log = false;
};

// What this process serves: a split deployment leaves some out (all logs
// null: no ingest; store null: no reads; status null: no /v1/status), and
// those endpoints answer 404 not_served_here.
struct ApiDeps {
  std::array<log::Log*, kMaxRegions> logs{};  // nullptr: region not served here
  serve::LiveStore* store = nullptr;
  // The story catalogue, the only source of authorship: creators read the
  // metrics of the stories it says they authored, and nothing else. Also
  // POST /v1/stories. nullptr: no story has an author (creators read none).
  catalog::StoryCatalog* catalog = nullptr;
  std::function<Result<std::vector<PartitionReport>>()> status;
  // Empty: no CDC feed here (/v1/status says "catalog_feed": null).
  std::function<CatalogFeedReport()> catalog_feed;
  std::function<bool()> ready;  // recovery done, accepting traffic
  // POST /v1/query and GET /v1/stories/{id}/history read the lake through
  // it; nullptr: this process reads no lake (those answer 404 not_served_here).
  LakeQueries* lake_queries = nullptr;
  // Governance (docs/governance.md). policy: who reads which tables and columns of the lake, enforced on
  // POST /v1/query (403 forbidden; masked columns as pseudonyms); nullptr: no policy, everything is readable.
  // audit: every POST /v1/query, answered or refused, is appended before its answer — when the append fails the
  // caller gets 503 audit_unavailable, not data; nullptr: no audit.
  const gov::Policy* policy = nullptr;
  gov::AuditLog* audit = nullptr;
  std::string audit_region;  // the region recorded in audit rows (the lake's default region)
  MetricsRegistry* metrics = nullptr;
  Clock* clock = Clock::Real();
  // nullptr: no tracing. Else POST /v1/events makes ingest and append spans
  // for sampled requests, and events without a traceparent of their own
  // carry the request's (trace/tracer.h).
  trace::Tracer* tracer = nullptr;
  // nullptr: auth off — the body's viewer_id and region are trusted and
  // every endpoint is open (only for a trusted network).
  const auth::Verifier* verifier = nullptr;
  // Pages answered at their paths to anyone, without a token (they hold no
  // data: their scripts call the API with the user's token); empty: none.
  std::span<const web::File> pages;
  // Development only (dev-token-mint = on): POST /v1/dev/token, open to
  // anyone, answers a creator token for the creator named; empty: that path
  // is 404 like any unknown one.
  std::function<Result<std::string>(uint64_t creator, Region region)> mint_dev_token;
  // GET /v1/users/{id}/recommendations (docs/api.md, docs/recs.md "Serving"): the answer's JSON body for a user,
  // the caller's region (nullopt: auth off, every region), k (1..kMaxRecommendations) and explain — or an error:
  // kUnavailable → 503 recs_unavailable, anything else → 500 recs_failed. Empty: recommendations are off in this
  // process (404 recs_off).
  std::function<Result<std::string>(uint64_t user, std::optional<Region> region, uint32_t k, bool explain)>
      recommendations;
  // Global queries (docs/query.md "Global queries"), set when this process has peers. global_query runs a
  // statement naming global.<table> for a caller (the catalog carries the caller's access) and says which tables it
  // touched; empty: global.<table> is refused (400). query_fragment answers POST /v1/query/fragment (another
  // region's coordinator, authenticated by the peer credential, not a user token) on a lake query thread; empty:
  // that path is 404.
  // caller_region: the token's region (nullopt with auth off) — the answer reaches it, so residency applies to it
  // as to the coordinator's.
  std::function<Result<query::SqlOutput>(const query::Statement& st, const query::Catalog& catalog,
                                         std::optional<Region> caller_region, const query::ExecLimits& limits,
                                         std::vector<std::string>* touched)>
      global_query;
  std::function<http::HttpResponse(const http::HttpRequest& req)> query_fragment;
  // The peer credential's check, before a query slot is taken (an unauthenticated caller never holds one):
  // the 401/403 answer, or nullopt to go on.
  std::function<std::optional<http::HttpResponse>(const http::HttpRequest& req)> query_fragment_auth;
  // A story's parts per region — this process's regions from their stores, each peer's from its deployment
  // (app/live_peers.h) — for GET /v1/stories/{id}/metrics, which then adds `regions`, `partial` and `missing` to
  // its answer; empty: the store's sum alone.
  std::function<Result<StoryAcrossRegions>(StoryId story)> story_across_regions;
  // GET /v1/peer/stories/{id} (another region's deployment, authenticated by the peer credential, not a user
  // token): the story's parts of this process's regions. Empty: that path is 404.
  std::function<http::HttpResponse(const http::HttpRequest& req, StoryId story)> peer_story;
  // POST /v1/admin/erasures (admin; docs/governance.md "Erasure"): records an erasure request for `viewer` durably
  // and returns its receipt's JSON; `by` names the requester ("user <sub>", "anonymous" with auth off).
  // kInvalidArgument → 400, anything else → 503 erasure_unavailable. Empty: 404 not_served_here.
  std::function<Result<std::string>(uint64_t viewer, const std::string& by)> erase;
  // Tests only: runs inside each signature check that counts against
  // max_verifying, while it holds its slot (so a test can hold the cap full).
  std::function<void()> on_capped_verification;
};

// GET /v1/creators/{id}/top ranks at most this many of the creator's
// stories (their highest ids), so one request costs at most this many
// live-store reads whatever the creator's catalogue holds (docs/api.md).
inline constexpr size_t kCreatorTopMaxStories = 10'000;

// GET /v1/users/{id}/recommendations?k=N: k in 1..this (default 50), so one request ranks a bounded list.
inline constexpr uint32_t kMaxRecommendations = 200;
inline constexpr uint32_t kDefaultRecommendations = 50;

// POST {"creator": N[, "region": "us"]} → {"token": "..."} when
// ApiDeps::mint_dev_token is set (docs/operations.md "Dashboard").
inline constexpr std::string_view kDevTokenPath = "/v1/dev/token";

// GET /v1/peer/stories/{id}: a story's live counts in the answering deployment's regions (service credential only).
inline constexpr std::string_view kPeerStoriesPath = "/v1/peer/stories/";

// POST /v1/query/fragment: a region's part of another region's global query (service credential only).
inline constexpr std::string_view kQueryFragmentPath = "/v1/query/fragment";

// The answer to a failed lake query: 400 invalid_query (with line and column), 403 forbidden (table, column,
// rule) or residency_violation (table, column, region, rule), 404, 413, 503, 500.
http::HttpResponse QueryErrorResponse(const Status& s);

class Api {
 public:
  Api(ApiDeps deps, ApiOptions options);
  void Handle(http::HttpRequest&& req, http::Responder respond);
  // The HttpServer's HeaderCheck: authenticates and rate-limits a request
  // from its header alone, so a refused request costs no body read; the
  // caller is left in head.context, where Handle finds it.
  std::optional<http::HttpResponse> CheckHeader(http::HttpRequest& head);

 private:
  // The caller of a /v1/ request; nullopt when auth is off.
  using Caller = std::optional<auth::Claims>;
  bool IsPublic(std::string_view path) const;
  // The caller of a request needing a token (auth on), or the answer
  // refusing it (401, 429, 503); now_ns is monotonic.
  std::variant<auth::Claims, http::HttpResponse> Authenticate(const http::HttpRequest& req, int64_t now_ns);
  void Route(http::HttpRequest&& req, std::string_view path, const Caller& caller, http::Responder respond);
  void PostEvents(http::HttpRequest&& req, const Caller& caller, http::Responder respond);
  // 403 unless the caller may read `story` (analyst, admin, or its author in
  // the catalogue); 404 for a creator when the catalogue does not know it.
  std::optional<http::HttpResponse> CheckStoryAccess(uint64_t story, const Caller& caller);
  // POST /v1/stories and GET /v1/stories/{id} (api_stories.cc).
  void PostStories(http::HttpRequest&& req, const Caller& caller, http::Responder respond);
  http::HttpResponse GetStoryRecord(uint64_t story, const Caller& caller);
  // The catalogue's author of `story`, if it knows the story and it is not deleted.
  std::optional<AuthorId> AuthorOf(StoryId story) const;
  // Counts accepted events whose author_id hint disagrees with the catalogue.
  void CountAuthorHints(const std::vector<Event>& events);
  http::HttpResponse StoryMetrics(uint64_t story);
  http::HttpResponse StoryAcrossRegionsAnswer(uint64_t story, const StoryAcrossRegions& across);
  http::HttpResponse StorySeries(uint64_t story, std::string_view query);
  http::HttpResponse CreatorTop(uint64_t author, std::string_view query);
  http::HttpResponse OverallTop(std::string_view query);
  std::string StoriesJson(const std::vector<serve::StoryMetrics>& stories) const;
  http::HttpResponse StatusReport();
  // POST /v1/query and GET /v1/stories/{id}/history (api_query.cc): parsed
  // on the I/O thread, run on lake_queries' threads.
  void PostQuery(http::HttpRequest&& req, const Caller& caller, http::Responder respond);
  // `client_gone` (may be null) stops the query when the client hangs up.
  http::HttpResponse RunQuery(const QueryRequest& request, const LakeQueries::Slot& slot,
                              const std::atomic<bool>* client_gone, const Caller& caller);
  // Appends the audit row of a query (deps_.audit); the answer to send instead when that fails (fail closed).
  std::optional<http::HttpResponse> Audit(const Caller& caller, const std::string& sql, int64_t arrived_us,
                                          const std::vector<std::string>& tables, int64_t rows, const Status& outcome);
  // GET /v1/stories/{id}/history: a read of story_minute, audited like a query (`what` names the request; every
  // refusal too). With a policy, an analyst's or admin's read follows its table rules; a creator's own story is
  // theirs to read (CheckStoryAccess).
  void StoryHistory(uint64_t story, std::string_view query, const Caller& caller, std::string what,
                    http::Responder respond);
  // POST /v1/admin/erasures (api_erasure.cc).
  http::HttpResponse PostErasure(const std::string& body, const Caller& caller);
  // The answer, the tables it read and its points.
  http::HttpResponse HistoryAnswer(uint64_t story, const HistoryRequest& request, const Caller& caller,
                                   std::vector<std::string>* touched, int64_t* points);
  // GET /v1/users/{id}/recommendations (api_recs.cc); `user` is nullopt when the path's id is not a number.
  http::HttpResponse Recommendations(const std::string& method, std::optional<uint64_t> user, std::string_view query,
                                     const Caller& caller);
  // api_pages.cc: the page at `path`, if any, with its security headers.
  const web::File* PageAt(std::string_view path) const;
  http::HttpResponse Page(const web::File& page, const std::string& method) const;
  http::HttpResponse PostDevToken(const http::HttpRequest& req) const;

  ApiDeps deps_;
  ApiOptions options_;
  Counter* requests_;
  Counter* events_accepted_;
  std::vector<std::pair<std::string, Counter*>> events_rejected_;  // by code; the last is "other"
  Counter* append_failures_;
  Counter* author_hint_mismatches_;
  Counter* stories_written_;
  std::array<Counter*, auth::kAuthErrorCodeCount> auth_failures_{};  // by auth::AuthErrorCode
  Counter* forbidden_;
  Counter* rate_limited_;
  Counter* over_capacity_;
  Counter* auth_throttled_;
  Counter* auth_busy_;
  Counter* query_busy_;
  UserRateLimiter rate_limiter_;
  UserRateLimiter auth_failure_limiter_;  // keyed by address_key_'s hash of the client address
  // Random per process: clients choose their addresses (an IPv6 host holds
  // many /64s), so an unkeyed hash would let them pick ones that share a
  // limiter entry or a hash bucket with someone else's.
  HashKey address_key_;
  InFlightLimiter verifying_;
  InFlightLimiter in_flight_;
  Histogram* latency_ingest_;
  Histogram* latency_query_;
  Histogram* latency_other_;
  // watershed_http_responses_total by status: a counter per code the API
  // answers with, indexed by code (status 100-599; others to "other").
  std::array<Counter*, 600> responses_{};
  Counter* responses_other_;
  void CountResponse(int status);
  void LogAccess(const std::string& method, const std::string& path, const http::HttpResponse& resp, int64_t elapsed_ns,
                 const std::optional<TraceContext>& request_trace) const;
};

}  // namespace watershed::gateway
