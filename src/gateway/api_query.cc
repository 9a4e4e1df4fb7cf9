// The lake's endpoints: POST /v1/query (SQL over the lake, analysts and
// admins) and GET /v1/stories/{id}/history (a story's story_minute rows by
// minute, hour or day). Both run on LakeQueries' threads, never on an HTTP
// I/O thread, and answer through the Responder when done.

#include <chrono>
#include <cstdio>
#include <map>
#include <optional>

#include "gateway/api.h"
#include "gov/access.h"
#include "query/federation.h"
#include "query/parser.h"
#include "query/planner.h"
#include "query/result_format.h"
#include "query/run.h"
#include "query/value_compare.h"

namespace watershed::gateway {
namespace {

using http::AppendJsonString;
using http::HttpResponse;
using http::JsonError;

HttpResponse Busy() {
  HttpResponse r = JsonError(503, "query_busy", "the server runs as many lake queries as it admits; retry shortly");
  r.headers.emplace_back("Retry-After", "1");
  return r;
}

// "L:C: message" -> 400 with line and column beside the message.
HttpResponse QueryError(const Status& s) {
  switch (s.code()) {
    case StatusCode::kInvalidArgument: {
      HttpResponse r = JsonError(400, "invalid_query", s.message());
      const std::string& m = s.message();
      int line = 0, column = 0, used = 0;
      if (std::sscanf(m.c_str(), "%d:%d: %n", &line, &column, &used) == 2 && used > 0 && line > 0 && column > 0) {
        r.body.resize(r.body.size() - 2);  // before "}}"
        r.body += ",\"line\":" + std::to_string(line) + ",\"column\":" + std::to_string(column) + "}}";
      }
      return r;
    }
    case StatusCode::kPermissionDenied: {
      if (auto v = query::ParseViolation(s.message())) {
        // 403 residency_violation: what would have left which region, and the rule (docs/governance.md).
        HttpResponse r = JsonError(403, "residency_violation", s.message());
        r.body.resize(r.body.size() - 2);  // before "}}"
        r.body += ",\"table\":";
        AppendJsonString(v->table, &r.body);
        r.body += ",\"column\":";
        if (v->column.empty())
          r.body += "null";
        else
          AppendJsonString(v->column, &r.body);
        r.body += ",\"region\":";
        AppendJsonString(v->region, &r.body);
        r.body += ",\"rule\":";
        AppendJsonString(v->rule, &r.body);
        r.body += "}}";
        return r;
      }
      // 403 naming the table, column (null for a whole table) and the policy's rule (docs/governance.md), beside
      // the message: {"error": {"code": "forbidden", "message": ..., "table": ..., "column": ..., "rule": ...}}.
      HttpResponse r = JsonError(403, "forbidden", s.message());
      if (auto d = query::ParseDenial(s.message())) {
        r.body.resize(r.body.size() - 2);  // before "}}"
        r.body += ",\"table\":";
        AppendJsonString(d->table, &r.body);
        r.body += ",\"column\":";
        if (d->column.empty())
          r.body += "null";
        else
          AppendJsonString(d->column, &r.body);
        r.body += ",\"rule\":";
        AppendJsonString(d->rule, &r.body);
        r.body += "}}";
      }
      return r;
    }
    case StatusCode::kTooLarge:
      return JsonError(413, "query_too_large", s.message());
    case StatusCode::kNotFound:
      return JsonError(404, "table_not_found", s.message());
    case StatusCode::kUnavailable:  // past query-timeout, or a global query's peer unreachable or failing
      if (s.message().starts_with("peer ")) return JsonError(503, "peer_unavailable", s.message());
      return JsonError(503, "query_timeout", s.message());
    default:
      return JsonError(500, "lake_unreadable", s.message());
  }
}

// ISO-8601 UTC: 2026-12-05T10:00:00Z.
std::string IsoTime(int64_t micros) {
  query::Value v;
  v.i = micros;
  std::string s = query::FormatValue(v, query::ColumnType::kTimestamp);
  if (s.size() > 10) s[10] = 'T';
  return s + "Z";
}

// The chunk of minutes one history query reads: 7 days (10,080 rows of one
// story per region at most), a multiple of every granularity.
constexpr int64_t kHistoryChunkMicros = 7 * 86'400'000'000;

struct Bucket {
  int64_t views = 0, unique_viewers = 0, watch_time_ms = 0, shares = 0, replies = 0;
};

}  // namespace

HttpResponse QueryErrorResponse(const Status& s) { return QueryError(s); }

void Api::PostQuery(http::HttpRequest&& req, const Caller& caller, http::Responder respond) {
  const int64_t arrived_us = deps_.clock->NowMs() * 1000;
  auto request = ParseQueryRequest(req.body, deps_.lake_queries->options().limits);
  if (!request.ok()) {
    // Refused before any SQL is known: audited with an empty statement and the reason.
    if (auto failed = Audit(caller, "", arrived_us, {}, 0, request.status())) return respond(std::move(*failed));
    if (request.status().code() == StatusCode::kTooLarge)
      return respond(JsonError(413, "sql_too_large", request.status().message()));
    return respond(JsonError(400, "malformed_body", request.status().message()));
  }
  const std::string sql = request->sql;
  // A client that hangs up stops its query (the executor checks the flag between batches).
  const bool admitted = deps_.lake_queries->TrySubmit(
      [this, request = std::move(*request), respond, gone = req.client_gone, caller](LakeQueries::Slot slot) {
        respond(RunQuery(request, slot, gone.get(), caller));
      });
  if (!admitted) {
    query_busy_->Add();
    if (auto failed = Audit(caller, sql, arrived_us, {}, 0, Status::Unavailable("query_busy: not admitted")))
      return respond(std::move(*failed));
    respond(Busy());
  }
}

namespace {
// The bounds of one query from the options (`query-memory`, `query-timeout`, `query-threads`).
query::ExecLimits LimitsOf(const LakeQueryOptions& o, const std::atomic<bool>* cancel = nullptr) {
  query::ExecLimits limits;
  limits.cancel = cancel;
  limits.max_memory_bytes = o.max_memory_bytes;
  limits.threads = o.threads;
  if (o.timeout_ms > 0) limits.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(o.timeout_ms);
  return limits;
}
}  // namespace

std::optional<HttpResponse> Api::Audit(const Caller& caller, const std::string& sql, int64_t arrived_us,
                                       const std::vector<std::string>& tables, int64_t rows, const Status& outcome) {
  if (!deps_.audit) return std::nullopt;
  gov::AuditRecord r;
  r.time_us = arrived_us;
  r.user = caller ? caller->user.value : 0;
  r.roles = caller ? gov::RoleNames(caller->roles) : "";
  r.region = deps_.audit_region;
  r.interface = "http";
  r.sql = sql;
  for (const std::string& t : tables) r.tables += (r.tables.empty() ? "" : ",") + t;
  r.rows = rows;
  r.verdict = outcome.ok() ? "allowed" : outcome.code() == StatusCode::kPermissionDenied ? "refused" : "failed";
  r.reason = outcome.message();
  r.duration_ms = std::max<int64_t>(0, deps_.clock->NowMs() - arrived_us / 1000);
  Status s = deps_.audit->Append(r);
  if (s.ok()) return std::nullopt;
  return JsonError(503, "audit_unavailable",
                   "the query's audit record could not be written, so it is not answered: " + s.message());
}

HttpResponse Api::RunQuery(const QueryRequest& request, const LakeQueries::Slot& slot,
                           const std::atomic<bool>* client_gone, const Caller& caller) {
  const LakeQueryOptions& o = deps_.lake_queries->options();
  query::Catalog catalog(o.fs, o.root, o.region);
  // With a policy and a caller (auth on), the catalog enforces what the caller may read; auth off trusts everyone.
  std::optional<gov::Access> access;
  if (deps_.policy && caller) {
    // Only the roles the endpoint admits count: a creator entry must not unmask data for a creator+analyst token.
    access.emplace(*deps_.policy,
                   gov::Caller{caller->user.value, gov::QueryEndpointRoles(caller->roles), caller->region});
    catalog.set_access(&*access);
  }
  const int64_t arrived_us = deps_.clock->NowMs() * 1000;
  const int64_t start = deps_.clock->MonotonicNs();
  const query::ExecLimits limits = LimitsOf(o, client_gone);
  // A statement over global.<table> runs across the regions' deployments (the federated planner).
  std::vector<std::string> global_touched;
  bool global = false;
  Result<query::SqlOutput> out = Status::Internal("unset");
  if (auto st = query::Parse(request.sql); st.ok() && query::NamesGlobal(*st)) {
    global = true;
    if (deps_.global_query) {
      const std::optional<Region> caller_region = caller ? std::optional<Region>(caller->region) : std::nullopt;
      out = deps_.global_query(*st, catalog, caller_region, limits, &global_touched);
    } else {
      out = Status::InvalidArgument("1:1: global tables need this region's peers (the `peers` setting)");
    }
  } else {
    out = query::RunSql(request.sql, catalog, limits);
  }
  std::vector<std::string> touched = catalog.touched();
  if (global) touched = global_touched;
  // The audit row goes first: no answer (not even an error) without it.
  const int64_t rows = out.ok() && !out->explain
                           ? std::min<int64_t>(static_cast<int64_t>(out->result.rows.size()), request.max_rows)
                           : 0;
  if (auto failed = Audit(caller, request.sql, arrived_us, touched, rows, out.ok() ? Status::Ok() : out.status()))
    return std::move(*failed);
  if (!out.ok()) return QueryError(out.status());
  if (out->explain) {
    HttpResponse r;
    r.body = "{\"plan\":";
    AppendJsonString(out->plan_text, &r.body);
    r.body += "}";
    return r;
  }
  const double elapsed_ms = static_cast<double>(deps_.clock->MonotonicNs() - start) / 1e6;
  auto writer = std::make_shared<query::JsonResultWriter>(
      std::make_shared<const query::QueryResult>(std::move(out->result)), request.max_rows, elapsed_ms);
  // The slot stays taken until the answer is sent (the rows are in memory
  // till then), but not past the query's deadline: a client too slow to
  // read gets the rows sent so far, marked truncated by the timeout.
  if (limits.deadline) writer->SetDeadline(*limits.deadline);
  HttpResponse r;
  r.stream = [writer, slot](std::string* piece) { return writer->Next(piece); };
  return r;
}

void Api::StoryHistory(uint64_t story, std::string_view query, const Caller& caller, std::string what,
                       http::Responder respond) {
  const int64_t arrived_us = deps_.clock->NowMs() * 1000;
  auto request = ParseHistoryRequest(query, arrived_us / 1000);
  if (!request.ok()) {
    if (auto failed = Audit(caller, what, arrived_us, {}, 0, request.status())) return respond(std::move(*failed));
    return respond(JsonError(400, "invalid_history_range", request.status().message()));
  }
  const bool admitted = deps_.lake_queries->TrySubmit(
      [this, story, request = *request, respond, caller, what, arrived_us](LakeQueries::Slot) {
        std::vector<std::string> touched;
        int64_t points = 0;
        HttpResponse r = HistoryAnswer(story, request, caller, &touched, &points);
        // The audit row first: no answer without it.
        const Status outcome = r.status == 200   ? Status::Ok()
                               : r.status == 403 ? Status::PermissionDenied(r.body)
                                                 : Status::Internal(r.body);
        if (auto failed = Audit(caller, what, arrived_us, touched, points, outcome)) return respond(std::move(*failed));
        respond(std::move(r));
      });
  if (!admitted) {
    query_busy_->Add();
    if (auto failed = Audit(caller, what, arrived_us, {}, 0, Status::Unavailable("query_busy: not admitted")))
      return respond(std::move(*failed));
    respond(Busy());
  }
}

// Sums story_minute's rows of `story` into buckets, over every region of the
// server's lake (a region whose table does not exist yet has no rows), one
// planned query per region and 7-day chunk: WHERE story_id = S AND minute
// in [a, b) prunes to the story's bucket and the days asked.
HttpResponse Api::HistoryAnswer(uint64_t story, const HistoryRequest& h, const Caller& caller,
                                std::vector<std::string>* touched, int64_t* points) {
  const LakeQueryOptions& o = deps_.lake_queries->options();
  const query::ExecLimits limits = LimitsOf(o);
  const int64_t unit = GranularityMicros(h.granularity);
  std::map<int64_t, Bucket> buckets;
  query::PruneStats pruned;
  query::ExecStats read;
  // An analyst's or admin's read follows the policy's table rules, as POST /v1/query does (a creator's own story
  // is checked by CheckStoryAccess, and story_minute holds counts only).
  std::optional<gov::Access> access;
  if (deps_.policy && caller && !gov::QueryEndpointRoles(caller->roles).empty())
    access.emplace(*deps_.policy,
                   gov::Caller{caller->user.value, gov::QueryEndpointRoles(caller->roles), caller->region});
  for (Region region : o.regions) {
    query::Catalog catalog(o.fs, o.root, region);
    if (access) catalog.set_access(&*access);
    touched->push_back(std::string(RegionName(region)) + ".story_minute");
    for (int64_t a = h.from_us; a < h.to_us; a += kHistoryChunkMicros) {
      const int64_t b = std::min(h.to_us, a + kHistoryChunkMicros);
      query::Value va, vb;
      va.i = a;
      vb.i = b;
      const std::string sql = "SELECT minute, views, unique_viewers, watch_time_ms, shares, replies FROM " +
                              std::string(RegionName(region)) +
                              ".story_minute WHERE story_id = " + std::to_string(story) + " AND minute >= TIMESTAMP '" +
                              query::FormatValue(va, query::ColumnType::kTimestamp) + "' AND minute < TIMESTAMP '" +
                              query::FormatValue(vb, query::ColumnType::kTimestamp) + "'";
      auto statement = query::Parse(sql);
      if (!statement.ok()) return JsonError(500, "internal", statement.status().message());
      auto plan = query::PlanSelect(*statement->select, catalog);
      if (!plan.ok() && plan.status().code() == StatusCode::kNotFound) break;  // no story_minute in this region yet
      if (!plan.ok()) return QueryError(plan.status());
      auto result = query::Execute(*plan, o.fs, limits);
      if (!result.ok()) return QueryError(result.status());
      pruned.files_considered += plan->stats.files_considered;
      pruned.files_read += plan->stats.files_read;
      read.row_groups_read += result->stats.row_groups_read;
      read.rows_scanned += result->stats.rows_scanned;
      for (const auto& row : result->rows) {
        const int64_t t = row[0].i - ((row[0].i % unit) + unit) % unit;
        Bucket& x = buckets[t];
        x.views += row[1].i;
        x.unique_viewers += row[2].i;
        x.watch_time_ms += row[3].i;
        x.shares += row[4].i;
        x.replies += row[5].i;
      }
    }
  }
  const bool minutes = h.granularity == Granularity::kMinute;
  *points = static_cast<int64_t>(buckets.size());
  HttpResponse r;
  std::string& body = r.body;
  body = "{\"story_id\":" + std::to_string(story) + ",\"granularity\":\"" + GranularityName(h.granularity) +
         "\",\"from\":\"" + IsoTime(h.from_us) + "\",\"to\":\"" + IsoTime(h.to_us) + "\",\"points\":[";
  bool first = true;
  for (const auto& [t, x] : buckets) {
    body += first ? "{\"t\":\"" : ",{\"t\":\"";
    first = false;
    body += IsoTime(t) + "\",\"views\":" + std::to_string(x.views);
    // Distinct viewers of a minute do not add up to an hour's or a day's.
    if (minutes) body += ",\"unique_viewers\":" + std::to_string(x.unique_viewers);
    body += ",\"watch_time_ms\":" + std::to_string(x.watch_time_ms) + ",\"shares\":" + std::to_string(x.shares) +
            ",\"replies\":" + std::to_string(x.replies) + "}";
  }
  body += "],\"stats\":{\"files_considered\":" + std::to_string(pruned.files_considered) +
          ",\"files_read\":" + std::to_string(pruned.files_read) +
          ",\"row_groups_read\":" + std::to_string(read.row_groups_read) +
          ",\"rows_scanned\":" + std::to_string(read.rows_scanned) + "}}";
  return r;
}

}  // namespace watershed::gateway
