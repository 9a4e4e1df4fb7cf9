#include "app/live_peers.h"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <system_error>
#include <thread>

#include "app/federation.h"
#include "http/http_client.h"
#include "serve/peer_story_codec.h"

namespace watershed::app {
namespace {

using http::HttpResponse;
using http::JsonError;

}  // namespace

LivePeers::LivePeers(std::vector<FederationSettings::Peer> peers, std::string token, int64_t timeout_ms,
                     serve::LiveStore* local)
    : peers_(std::move(peers)),
      down_until_ms_(new std::atomic<int64_t>[peers_.size()]),
      token_(std::move(token)),
      timeout_ms_(timeout_ms),
      local_(local) {
  for (size_t i = 0; i < peers_.size(); ++i) down_until_ms_[i] = 0;
}

namespace {
// down_until_ms_ while one request asks a peer that failed (the others skip it meanwhile).
constexpr int64_t kProbing = INT64_MAX;

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

Result<std::optional<serve::StoryMetrics>> LivePeers::Ask(const FederationSettings::Peer& peer, StoryId story) const {
  http::ClientOptions options;
  options.host = peer.host;
  options.port = peer.port;
  options.timeout_ms = static_cast<int>(timeout_ms_);
  options.max_response_bytes = serve::kMaxPeerStoryBytes;  // refused while reading, never held whole
  http::HttpClient client(options);
  RETURN_IF_ERROR(client.SetHeader("Authorization", "Bearer " + token_));
  auto response = client.Get(std::string(gateway::kPeerStoriesPath) + std::to_string(story.value));
  if (!response.ok()) return Status::Unavailable(response.status().message());
  if (response->status != 200) return Status::Unavailable("HTTP " + std::to_string(response->status));
  return serve::DecodePeerStory(response->body, story, peer.region);
}

Result<gateway::StoryAcrossRegions> LivePeers::Gather(StoryId story) const {
  // The peers in parallel, while the local stores are read.
  std::vector<Result<std::optional<serve::StoryMetrics>>> answers(peers_.size(), Status::Internal("not asked"));
  std::vector<std::thread> threads;
  threads.reserve(peers_.size());
  const int64_t now = SteadyMs();
  for (size_t i = 0; i < peers_.size(); ++i) {
    // After a failure, once the skip ends, one request claims the probe (kProbing) and the others keep
    // reporting the peer missing until it is done: a frozen peer holds one HTTP thread, not every one.
    int64_t down = down_until_ms_[i].load();
    const bool probe = down != 0;
    if (probe && (now < down || !down_until_ms_[i].compare_exchange_strong(down, kProbing))) {
      answers[i] = Status::Unavailable("failed lately; asked again after " + std::to_string(kPeerRetryMs) + " ms");
      continue;
    }
    // Out of threads (std::system_error): this peer is missing from this answer, and a claimed probe is released.
    try {
      threads.emplace_back([this, i, story, &answers] {
        answers[i] = Ask(peers_[i], story);
        if (answers[i].ok()) {
          down_until_ms_[i] = 0;  // it answers: whoever marked it down meanwhile was wrong for now
        } else {
          down_until_ms_[i] = SteadyMs() + kPeerRetryMs;
          std::fprintf(stderr, "watershed: live totals: peer %s (%s) missing for %lld ms: %s\n",
                       std::string(RegionName(peers_[i].region)).c_str(), peers_[i].url.c_str(),
                       static_cast<long long>(kPeerRetryMs), answers[i].status().message().c_str());
        }
      });
    } catch (const std::system_error& e) {
      answers[i] = Status::Unavailable(std::string("no thread to ask it: ") + e.what());
      if (probe) down_until_ms_[i] = SteadyMs() + kPeerRetryMs;
    }
  }
  auto local = local_->GetStoryRegions(story);
  for (std::thread& t : threads) t.join();
  if (!local.ok()) return local.status();
  gateway::StoryAcrossRegions out;
  out.parts = std::move(local).value();
  for (size_t i = 0; i < peers_.size(); ++i) {
    const Region r = peers_[i].region;
    if (!answers[i].ok()) {  // logged once per failure above, not per request while down
      out.missing.push_back(r);
      continue;
    }
    out.parts[static_cast<int>(r)] = std::move(answers[i]).value();
  }
  return out;
}

HttpResponse LivePeers::Serve(const http::HttpRequest& req, StoryId story) const {
  if (auto refused = CheckPeerCredential(req, token_, "GET /v1/peer/stories")) return std::move(*refused);
  auto parts = local_->GetStoryRegions(story);
  if (!parts.ok()) return JsonError(503, "unavailable", "the live store: " + parts.status().message());
  HttpResponse r;
  r.body = serve::EncodePeerStory(story, *parts);
  return r;
}

}  // namespace watershed::app
