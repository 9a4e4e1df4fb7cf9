#include "app/load_verifier.h"

#include <simdjson.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <thread>
#include <utility>

#include "app/client_flags.h"
#include "workload/truth.h"

namespace watershed::app {
namespace {

using Clock = std::chrono::steady_clock;

bool ReadAggregates(simdjson::dom::element e, workload::Aggregates* a) {
  return e["views"].get(a->views) == simdjson::SUCCESS &&
         e["unique_viewers"].get(a->unique_viewers) == simdjson::SUCCESS &&
         e["watch_time_ms"].get(a->watch_time_ms) == simdjson::SUCCESS &&
         e["shares"].get(a->shares) == simdjson::SUCCESS && e["replies"].get(a->replies) == simdjson::SUCCESS;
}

std::string Describe(const workload::Aggregates& a) {
  return "views=" + std::to_string(a.views) + " uniques=" + std::to_string(a.unique_viewers) +
         " watch=" + std::to_string(a.watch_time_ms) + " shares=" + std::to_string(a.shares) +
         " replies=" + std::to_string(a.replies);
}

// GET that waits out 429s (rate limits) as their Retry-After says.
Result<ClientResponse> GetPolitely(HttpClient& client, const std::string& target) {
  for (int attempt = 0;; ++attempt) {
    auto r = client.Get(target);
    if (!r.ok() || r->status != 429 || attempt == 100) return r;
    std::this_thread::sleep_for(std::chrono::milliseconds(RetryAfterMs(*r, 100)));
  }
}

}  // namespace

int VerifyAgainstTruth(const std::string& truth_path, HttpClient& client, bool sent_token, int64_t timeout_ms,
                       int64_t windows_within_ms) {
  auto truth = workload::ReadTruthFile(truth_path);
  if (!truth.ok()) return Fail("load", truth.status().message(), 2);
  const size_t expired = windows_within_ms >= 0 ? workload::KeepRecentWindows(&*truth, windows_within_ms) : 0;
  // Wait until every acknowledged event is visible.
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  simdjson::dom::parser parser;
  for (;;) {
    auto r = client.Get("/v1/status");
    uint64_t lag = UINT64_MAX;
    simdjson::dom::element doc;
    if (r.ok() && r->status == 200 && parser.parse(r->body).get(doc) == simdjson::SUCCESS)
      lag = doc["lag"].get_uint64().value_unsafe();
    if (lag == 0) break;
    if (r.ok() && r->status != 200 && r->status != 429 && r->status != 503)
      return Fail("load", "--verify: /v1/status answered " + DescribeAnswer(*r, sent_token));
    if (Clock::now() > deadline) return Fail("load", "lag did not reach 0 within the timeout");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  uint64_t mismatches = 0, windows_checked = 0, finals = 0;
  auto mismatch = [&](const std::string& what) {
    if (++mismatches <= 20) std::printf("MISMATCH %s\n", what.c_str());
  };
  for (const auto& [id, story] : truth->stories) {
    auto r = GetPolitely(client, "/v1/stories/" + std::to_string(id) + "/metrics");
    if (!r.ok()) return Fail("load", r.status().message());
    simdjson::dom::element doc;
    workload::Aggregates got;
    uint64_t author = 0;
    if (r->status != 200 || parser.parse(r->body).get(doc) != simdjson::SUCCESS || !ReadAggregates(doc, &got) ||
        doc["author_id"].get(author) != simdjson::SUCCESS) {
      mismatch("story " + std::to_string(id) + ": HTTP " + std::to_string(r->status) + " " + r->body);
      continue;
    }
    if (got != story.totals || author != story.author_id)
      mismatch("story " + std::to_string(id) + ": expected " + Describe(story.totals) + " author=" +
               std::to_string(story.author_id) + ", got " + Describe(got) + " author=" + std::to_string(author));
  }
  // Windows: one series request per (story, size).
  for (auto it = truth->windows.begin(); it != truth->windows.end();) {
    const auto [story, size, first_start] = it->first;
    auto end = it;
    int64_t last_start = first_start;
    while (end != truth->windows.end() && std::get<0>(end->first) == story && std::get<1>(end->first) == size)
      last_start = std::get<2>((end++)->first);
    const std::string window = size == 5'000 ? "5s" : "1m";
    auto r = GetPolitely(client, "/v1/stories/" + std::to_string(story) + "/series?window=" + window +
                                     "&from=" + std::to_string(first_start) + "&to=" + std::to_string(last_start + 1));
    if (!r.ok()) return Fail("load", r.status().message());
    std::map<int64_t, std::pair<workload::Aggregates, bool>> got;
    simdjson::dom::element doc;
    if (r->status == 200 && parser.parse(r->body).get(doc) == simdjson::SUCCESS) {
      for (auto p : doc["points"].get_array()) {
        workload::Aggregates a;
        ReadAggregates(p, &a);
        got[p["start"].get_int64().value_unsafe()] = {a, p["final"].get_bool().value_unsafe()};
      }
    } else {
      mismatch("series of story " + std::to_string(story) + ": HTTP " + std::to_string(r->status));
    }
    for (; it != end; ++it) {
      ++windows_checked;
      finals += it->second.final;
      const std::string name =
          "window story=" + std::to_string(story) + " " + window + " start=" + std::to_string(std::get<2>(it->first));
      auto g = got.find(std::get<2>(it->first));
      if (g == got.end()) {
        mismatch(name + ": missing");
        continue;
      }
      if (g->second.first != it->second.agg || g->second.second != it->second.final)
        mismatch(name + ": expected " + Describe(it->second.agg) + (it->second.final ? " final" : " open") + ", got " +
                 Describe(g->second.first) + (g->second.second ? " final" : " open"));
      got.erase(g);
    }
    for (const auto& [start, value] : got)
      mismatch("window story=" + std::to_string(story) + " " + window + " start=" + std::to_string(start) +
               ": not in the truth");
  }
  std::printf("verify: %zu stories, %lu windows (%lu final) checked against %s: %lu mismatches\n",
              truth->stories.size(), static_cast<unsigned long>(windows_checked), static_cast<unsigned long>(finals),
              truth_path.c_str(), static_cast<unsigned long>(mismatches));
  if (expired > 0) std::printf("verify: %zu older windows not compared (--windows-within)\n", expired);
  return mismatches == 0 ? 0 : 1;
}

}  // namespace watershed::app
