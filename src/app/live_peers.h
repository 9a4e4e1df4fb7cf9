#pragma once
// A story's live totals across the regions' deployments (issue #12 part 1, docs/api.md "GET
// /v1/stories/{id}/metrics"): this process's regions from their own stores, each peer's regions from the peer's
// GET /v1/peer/stories/{id}, asked in parallel with the peer credential, each call bounded by peer-live-timeout. A
// peer that does not answer in time, refuses or answers nonsense is reported missing (the answer is then partial),
// never counted as zero. Only counts cross a border: a story's per-region aggregates, never a viewer id.
// A peer that failed is not asked again for kPeerRetryMs (it is reported missing at once meanwhile), then by one
// request at a time until it answers: the calls run on the HTTP thread answering the request, so a frozen peer
// must not hold every HTTP thread for its timeout.
// Thread-safe.

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "app/serve_settings.h"
#include "gateway/api.h"
#include "serve/live_store.h"

namespace watershed::app {

inline constexpr int64_t kPeerRetryMs = 5'000;

class LivePeers {
 public:
  // `local` (this process's regions' stores) outlives this; `token` is the peer credential (Federation's).
  LivePeers(std::vector<FederationSettings::Peer> peers, std::string token, int64_t timeout_ms,
            serve::LiveStore* local);

  // The story's part per region: the local stores', then each peer's for the peer's own region.
  Result<gateway::StoryAcrossRegions> Gather(StoryId story) const;
  // GET /v1/peer/stories/{id}: 401 without a credential, 403 with another; else this process's regions' parts.
  http::HttpResponse Serve(const http::HttpRequest& req, StoryId story) const;

 private:
  // The peer's part of its own region (nullopt: no events there), or why it is missing.
  Result<std::optional<serve::StoryMetrics>> Ask(const FederationSettings::Peer& peer, StoryId story) const;

  std::vector<FederationSettings::Peer> peers_;
  // Per peer: until when (steady clock, ms) it is not asked after a failure; 0: ask; INT64_MAX: a request is
  // asking it again after a failure (the others do not).
  std::unique_ptr<std::atomic<int64_t>[]> down_until_ms_;
  std::string token_;
  int64_t timeout_ms_;
  serve::LiveStore* local_;
};

}  // namespace watershed::app
