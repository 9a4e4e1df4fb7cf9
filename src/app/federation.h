#pragma once
// Global queries in a region's deployment (docs/query.md "Global queries", issue #12 part 3): the coordinator
// side — plan a statement over global.<table> (query/federation.h), check residency and the caller's column rules
// before anything is sent, run the local fragment here and the others at the peers (POST /v1/query/fragment, in
// parallel, each call bounded by peer-timeout and its answer's size), merge — and the peer side: answer a
// fragment for another region's coordinator after checking the peer credential and this region's own policy,
// auditing every fragment served or refused.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "app/serve_settings.h"
#include "core/file_system.h"
#include "gov/audit_log.h"
#include "gov/policy.h"
#include "http/http_server.h"
#include "query/federation.h"
#include "query/fragment_codec.h"
#include "query/run.h"

namespace watershed::app {

// The regions' export rules and personal columns of a policy.
query::Residency ResidencyOf(const gov::Policy& policy);

// The peers' service credential check of the peer endpoint `endpoint` ("POST /v1/query/fragment"): 401 without an
// Authorization header, 403 with any other than `token` (compared in constant time), nullopt when it is the token.
std::optional<http::HttpResponse> CheckPeerCredential(const http::HttpRequest& req, std::string_view token,
                                                      std::string_view endpoint);

class Federation {
 public:
  // Reads peer-token-file as a secret (a regular file of this user's, mode 600 or stricter, 32..256 characters
  // after trimming whitespace). `policy` and `audit` outlive this. `viewers_pinned`: auth is on, so an event's
  // viewer and region come from the token and a viewer's events are all in its home region (distinct viewers are
  // summed over regions; else merged as HyperLogLog sketches). Every region's deployment is configured alike.
  static Result<std::unique_ptr<Federation>> Start(const FederationSettings& settings, Region own,
                                                   const gov::Policy& policy, gov::AuditLog* audit, FileSystem* fs,
                                                   std::string lake_root, bool viewers_pinned);

  // POST /v1/query/fragment's credential check (cheap, before a query slot is taken): 401 without an
  // Authorization header, 403 with any other than the peer credential, nullopt when it is the credential.
  std::optional<http::HttpResponse> CheckCredential(const http::HttpRequest& req) const;
  // POST /v1/query/fragment (checks the credential again).
  http::HttpResponse ServeFragment(const http::HttpRequest& req, const query::ExecLimits& limits) const;

  // A statement naming global.<table> for the caller whose access `catalog` carries; `caller_region` (the token's;
  // nullopt with auth off) is a second destination: every fragment of another region is checked for it too.
  Result<query::SqlOutput> RunGlobal(const query::Statement& st, const query::Catalog& catalog,
                                     std::optional<Region> caller_region, const query::ExecLimits& limits,
                                     std::vector<std::string>* touched) const;

  // The peer credential (also what the live API's peer calls send: app/live_peers.h).
  const std::string& peer_token() const { return token_; }

 private:
  Federation() = default;
  // One peer's answer to a fragment (or, with explain, its estimate in rows[0][0]).
  Result<query::QueryResult> CallPeer(const FederationSettings::Peer& peer, const std::string& sql,
                                      std::optional<Region> caller_region, bool explain) const;

  FederationSettings settings_;
  Region own_ = Region::kUs;
  std::string token_;
  query::Residency residency_;
  gov::AuditLog* audit_ = nullptr;
  FileSystem* fs_ = nullptr;
  std::string lake_root_;
  query::FragmentLimits limits_;
  bool viewers_pinned_ = false;
};

}  // namespace watershed::app
