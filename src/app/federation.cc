#include "app/federation.h"

#include <openssl/crypto.h>

#include <chrono>
#include <system_error>
#include <thread>

#include "gateway/api.h"
#include "http/http_client.h"
#include "query/parser.h"

namespace watershed::app {
namespace {

using http::HttpResponse;
using http::JsonError;

constexpr size_t kMinTokenBytes = 32;
constexpr size_t kMaxTokenBytes = 256;

std::string Trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

// Equal in time independent of where they differ (the lengths are not secret).
bool SameSecret(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

query::Residency ResidencyOf(const gov::Policy& policy) {
  query::Residency r;
  r.personal = policy.personal;
  for (int i = 0; i < RegionCount(); ++i) {
    const gov::RegionPolicy& p = policy.regions[i];
    query::ExportRule& e = r.regions[i];
    e.kind = p.export_rule == gov::Export::kNone   ? query::ExportRule::Kind::kNone
             : p.export_rule == gov::Export::kRows ? query::ExportRule::Kind::kRows
                                                   : query::ExportRule::Kind::kAggregates;
    e.k = p.k;
    e.rule = p.rule;
  }
  return r;
}

Result<std::unique_ptr<Federation>> Federation::Start(const FederationSettings& settings, Region own,
                                                      const gov::Policy& policy, gov::AuditLog* audit, FileSystem* fs,
                                                      std::string lake_root, bool viewers_pinned) {
  std::unique_ptr<Federation> f(new Federation());
  f->settings_ = settings;
  f->own_ = own;
  f->residency_ = ResidencyOf(policy);
  f->audit_ = audit;
  f->fs_ = fs;
  f->lake_root_ = std::move(lake_root);
  f->viewers_pinned_ = viewers_pinned;
  f->limits_.max_body_bytes = static_cast<size_t>(settings.max_response_bytes);
  auto text = ReadPrivateFile(settings.token_file, 4096);
  if (!text.ok())
    return Status::InvalidArgument("peer-token-file " + settings.token_file + ": " + text.status().message());
  f->token_ = Trim(*text);
  if (f->token_.size() < kMinTokenBytes || f->token_.size() > kMaxTokenBytes)
    return Status::InvalidArgument("peer-token-file " + settings.token_file + ": the credential must be " +
                                   std::to_string(kMinTokenBytes) + ".." + std::to_string(kMaxTokenBytes) +
                                   " characters (e.g. openssl rand -hex 32)");
  for (char c : f->token_)
    if (c <= ' ' || c > '~')
      return Status::InvalidArgument("peer-token-file " + settings.token_file +
                                     ": the credential must be printable ASCII without spaces");
  return f;
}

std::optional<HttpResponse> CheckPeerCredential(const http::HttpRequest& req, std::string_view token,
                                                std::string_view endpoint) {
  const std::string_view auth = req.Header("authorization");
  constexpr std::string_view kBearer = "Bearer ";
  if (auth.empty())
    return JsonError(401, "unauthenticated", std::string(endpoint) + " needs the peers' service credential");
  if (!auth.starts_with(kBearer) || !SameSecret(auth.substr(kBearer.size()), token))
    return JsonError(403, "peer_credential_required",
                     std::string(endpoint) + " answers only the regions' peers (peer-token-file)");
  return std::nullopt;
}

std::optional<HttpResponse> Federation::CheckCredential(const http::HttpRequest& req) const {
  return CheckPeerCredential(req, token_, "POST /v1/query/fragment");
}

HttpResponse Federation::ServeFragment(const http::HttpRequest& req, const query::ExecLimits& limits) const {
  if (auto refused = CheckCredential(req)) return std::move(*refused);
  auto request = query::DecodeFragmentRequest(req.body, limits_);
  if (!request.ok()) {
    return request.status().code() == StatusCode::kTooLarge
               ? JsonError(413, "fragment_too_large", request.status().message())
               : JsonError(400, "malformed_body", request.status().message());
  }
  // The coordinator's region decides what may leave: never this region itself (a coordinator runs its own
  // region's fragment in process), only a configured peer's.
  bool known = false;
  for (const auto& p : settings_.peers) known = known || p.region == request->coordinator;
  if (request->coordinator == own_ || !known) {
    const std::string why = "fragments are answered to the coordinators of this region's peers only, not to region " +
                            std::string(RegionName(request->coordinator));
    // A refusal like any other: audited before the answer (fail closed).
    if (audit_) {
      gov::AuditRecord r;
      r.time_us = gov::NowUs();
      r.roles = "peer";
      r.region = RegionName(own_);
      r.interface = "peer:" + std::string(RegionName(request->coordinator));
      r.sql = (request->explain ? "EXPLAIN " : "") + request->sql;
      r.verdict = "refused";
      r.reason = "unknown_coordinator: " + why;
      Status s = audit_->Append(r);
      if (!s.ok())
        return JsonError(503, "audit_unavailable", "the fragment's audit record could not be written: " + s.message());
    }
    return JsonError(403, "unknown_coordinator", why);
  }
  // The asking user's region, when the coordinator names one, is a destination too.
  Status caller_check;
  if (request->caller && *request->caller != own_) {
    auto st = query::Parse(request->sql);
    if (st.ok() && st->kind == query::StatementKind::kSelect)
      caller_check = query::CheckFragment(*st->select, own_, *request->caller, residency_);
  }
  const int64_t arrived_us = gov::NowUs();
  const auto start = std::chrono::steady_clock::now();
  query::Catalog catalog(fs_, lake_root_, own_);
  std::string body;
  int64_t rows = 0;
  Status outcome;
  if (!caller_check.ok()) {
    outcome = caller_check;
  } else if (request->explain) {
    // The same checks as the fragment itself, then the estimate only.
    auto st = query::Parse(request->sql);
    outcome = st.ok() ? (st->kind == query::StatementKind::kSelect
                             ? query::CheckFragment(*st->select, own_, request->coordinator, residency_)
                             : Status::InvalidArgument("a fragment is one SELECT"))
                      : st.status();
    if (outcome.ok()) {
      auto n = query::EstimateFragment(request->sql, catalog);
      if (n.ok())
        body = query::EncodeFragmentEstimate(*n);
      else
        outcome = n.status();
    }
  } else {
    auto result =
        query::RunFragment(request->sql, request->coordinator, own_, catalog, residency_, limits, limits_.max_rows);
    if (result.ok()) {
      rows = static_cast<int64_t>(result->rows.size());
      body = query::EncodeFragmentResult(*result);
      if (body.size() > limits_.max_body_bytes)
        outcome =
            Status::TooLarge("the fragment's answer is more than " + std::to_string(limits_.max_body_bytes) + " bytes");
    } else {
      outcome = result.status();
    }
  }
  // Every fragment, served or refused, is audited before its answer (fail closed).
  if (audit_) {
    gov::AuditRecord r;
    r.time_us = arrived_us;
    r.roles = "peer";
    r.region = RegionName(own_);
    r.interface = "peer:" + std::string(RegionName(request->coordinator));
    r.sql = (request->explain ? "EXPLAIN " : "") + request->sql;
    if (auto st = query::Parse(request->sql);
        st.ok() && st->select && st->select->from && st->select->from->name.size() == 2)
      r.tables = st->select->from->name[0] + "." + st->select->from->name[1];
    r.rows = rows;
    r.verdict = outcome.ok() ? "allowed" : outcome.code() == StatusCode::kPermissionDenied ? "refused" : "failed";
    r.reason = outcome.message();
    r.duration_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
    Status s = audit_->Append(r);
    if (!s.ok())
      return JsonError(503, "audit_unavailable", "the fragment's audit record could not be written: " + s.message());
  }
  if (!outcome.ok()) return gateway::QueryErrorResponse(outcome);
  HttpResponse r;
  r.body = std::move(body);
  return r;
}

Result<query::QueryResult> Federation::CallPeer(const FederationSettings::Peer& peer, const std::string& sql,
                                                std::optional<Region> caller_region, bool explain) const {
  http::ClientOptions options;
  options.host = peer.host;
  options.port = peer.port;
  options.timeout_ms = static_cast<int>(settings_.timeout_ms);
  options.max_response_bytes = limits_.max_body_bytes;  // refused while reading, never held whole
  http::HttpClient client(options);
  RETURN_IF_ERROR(client.SetHeader("Authorization", "Bearer " + token_));
  const std::string where = "peer " + std::string(RegionName(peer.region)) + " (" + peer.url + ")";
  auto response = client.Request("POST", std::string(gateway::kQueryFragmentPath),
                                 query::EncodeFragmentRequest({sql, own_, caller_region, explain}));
  if (!response.ok()) return Status::Unavailable(where + ": " + response.status().message());
  if (response->body.size() > limits_.max_body_bytes)
    return Status::TooLarge(where + ": the answer is more than " + std::to_string(limits_.max_body_bytes) + " bytes");
  if (response->status == 403) {
    // The peer's own refusal (its policy): passed on as the same residency_violation.
    auto message = query::DecodeFragmentErrorMessage(response->body);
    if (message && query::ParseViolation(*message)) return Status::PermissionDenied(*message);
    // Any other 403 (the credential, an unknown coordinator) is the deployments' configuration, not the caller's
    // rights: 503 peer_unavailable.
    return Status::Unavailable(where + " refused the fragment: " + response->body.substr(0, 512));
  }
  if (response->status != 200) {
    auto message = query::DecodeFragmentErrorMessage(response->body);
    const std::string why = where + ": HTTP " + std::to_string(response->status) + ": " +
                            (message ? *message : response->body.substr(0, 512));
    if (response->status == 400) return Status::InvalidArgument(why);
    if (response->status == 404) return Status::NotFound(why);
    if (response->status == 413) return Status::TooLarge(why);
    return Status::Unavailable(why);
  }
  if (explain) {
    ASSIGN_OR_RETURN(int64_t n, query::DecodeFragmentEstimate(response->body));
    query::QueryResult r;
    query::Value v;
    v.i = n;
    r.rows.push_back({v});
    return r;
  }
  auto result = query::DecodeFragmentResult(response->body, limits_);
  if (!result.ok()) return Status(result.status().code(), where + ": " + result.status().message());
  return result;
}

Result<query::SqlOutput> Federation::RunGlobal(const query::Statement& st, const query::Catalog& catalog,
                                               std::optional<Region> caller_region, const query::ExecLimits& limits,
                                               std::vector<std::string>* touched) const {
  std::vector<Region> regions;
  for (int i = 0; i < RegionCount(); ++i) {
    const Region r = static_cast<Region>(i);
    bool peer = false;
    for (const auto& p : settings_.peers) peer = peer || p.region == r;
    if (r == own_ || peer) regions.push_back(r);
  }
  ASSIGN_OR_RETURN(query::GlobalPlan plan,
                   query::PlanGlobal(st, own_, regions, residency_,
                                     viewers_pinned_ ? query::DistinctViewers::kSum : query::DistinctViewers::kSketch));
  // The user asking is a destination too (their token's region): every fragment of another region than theirs —
  // this region's own included — is checked for it, before anything runs or is sent.
  if (caller_region) {
    for (const query::Fragment& f : plan.fragments) {
      if (f.region == *caller_region) continue;
      ASSIGN_OR_RETURN(query::Statement fst, query::Parse(f.sql));
      RETURN_IF_ERROR(query::CheckFragment(*fst.select, f.region, *caller_region, residency_));
    }
  }
  touched->push_back("global." + plan.table);
  for (Region r : regions) touched->push_back(std::string(RegionName(r)) + "." + plan.table);
  // The caller's table and column rules in every region, before anything is sent (the local fragment's catalog
  // checks its own region again).
  if (const query::AccessControl* access = catalog.access()) {
    const auto id = *lake::LakeTableByName(plan.table);
    for (Region r : regions) {
      const std::string table = std::string(RegionName(r)) + "." + plan.table;
      RETURN_IF_ERROR(access->CheckTable(table, r, id));
      for (int pass = 0; pass < 2; ++pass) {
        for (const std::string& column : pass == 0 ? plan.plain_columns : plan.counted_columns) {
          const auto rule = access->Column(r, id, column);
          const bool refused = rule.verdict == query::AccessControl::Verdict::kDeny ||
                               (pass == 0 && r != own_ && rule.verdict == query::AccessControl::Verdict::kMask);
          if (refused)
            return Status::PermissionDenied(query::DenialMessage(
                {table, column, rule.rule},
                rule.verdict == query::AccessControl::Verdict::kDeny
                    ? "the caller may not read it"
                    : "the caller reads it masked, which another region's fragment cannot apply (only counts of "
                      "it run across regions)"));
        }
      }
    }
  }
  const size_t n = plan.fragments.size();
  std::vector<Result<query::QueryResult>> results(n, Status::Internal("not run"));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < n; ++i) {
    const query::Fragment& f = plan.fragments[i];
    if (f.region == own_) continue;
    const FederationSettings::Peer* peer = nullptr;
    for (const auto& p : settings_.peers)
      if (p.region == f.region) peer = &p;
    try {  // out of threads (std::system_error): this region's part fails, the started threads are still joined
      threads.emplace_back([this, peer, &f, &results, i, caller_region, explain = plan.explain] {
        results[i] = CallPeer(*peer, f.sql, caller_region, explain);
      });
    } catch (const std::system_error& e) {
      results[i] =
          Status::Unavailable("peer " + std::string(RegionName(f.region)) + ": no thread to ask it: " + e.what());
    }
  }
  for (size_t i = 0; i < n; ++i) {
    const query::Fragment& f = plan.fragments[i];
    if (f.region != own_) continue;
    if (plan.explain) {
      auto est = query::EstimateFragment(f.sql, catalog);
      if (est.ok()) {
        query::QueryResult r;
        query::Value v;
        v.i = *est;
        r.rows.push_back({v});
        results[i] = std::move(r);
      } else {
        results[i] = est.status();
      }
    } else {
      // Answered to this region, or to a caller of another region (then its k check applies too).
      const Region to = caller_region.value_or(own_);
      results[i] = query::RunFragment(f.sql, to, own_, catalog, residency_, limits, limits_.max_rows);
    }
  }
  for (std::thread& t : threads) t.join();
  std::vector<query::QueryResult> parts;
  for (auto& r : results) {
    if (!r.ok()) return r.status();
    parts.push_back(std::move(*r));
  }
  query::SqlOutput out;
  if (plan.explain) {
    std::vector<int64_t> estimates;
    for (const auto& p : parts) estimates.push_back(p.rows.empty() ? -1 : p.rows[0][0].i);
    out.explain = true;
    out.plan_text = query::ExplainGlobal(plan, own_, estimates);
    return out;
  }
  ASSIGN_OR_RETURN(out.result, query::MergeGlobal(plan, std::move(parts), limits));
  return out;
}

}  // namespace watershed::app
