#include "app/load_generator.h"

#include <simdjson.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "app/client_flags.h"
#include "app/load_connection.h"
#include "workload/truth.h"

namespace watershed::app {
namespace {

using Clock = std::chrono::steady_clock;

void PrintTop(HttpClient& client) {
  auto r = client.Get("/v1/top?by=views&limit=5");
  if (!r.ok() || r->status != 200) return;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(r->body).get(doc) != simdjson::SUCCESS) return;
  std::printf("  top stories  %8s %8s %14s %7s %7s\n", "views", "uniques", "watch_time_ms", "shares", "replies");
  for (auto s : doc["stories"].get_array()) {
    std::printf("  story %-6lu %8lu %8lu %14lu %7lu %7lu\n",
                static_cast<unsigned long>(s["story_id"].get_uint64().value_unsafe()),
                static_cast<unsigned long>(s["views"].get_uint64().value_unsafe()),
                static_cast<unsigned long>(s["unique_viewers"].get_uint64().value_unsafe()),
                static_cast<unsigned long>(s["watch_time_ms"].get_uint64().value_unsafe()),
                static_cast<unsigned long>(s["shares"].get_uint64().value_unsafe()),
                static_cast<unsigned long>(s["replies"].get_uint64().value_unsafe()));
  }
}

// "p50 4.8 ms  p99 21.3 ms" of the requests acknowledged in `s`; "-" when none were.
std::string Percentiles(const LogLinearHistogram::Snapshot& s) {
  if (s.total == 0) return "p50 - ms  p99 - ms";
  char line[64];
  std::snprintf(line, sizeof line, "p50 %.1f ms  p99 %.1f ms", static_cast<double>(s.ValueAt(0.5)) * 1e-6,
                static_cast<double>(s.ValueAt(0.99)) * 1e-6);
  return line;
}

}  // namespace

int RunLoad(const LoadPlan& plan, const ClientOptions& options, const TokenMinter* minter, const std::string& token) {
  const workload::WorkloadOptions& w = plan.workload;
  const uint64_t connections = plan.connections;
  std::unique_ptr<workload::TruthBuilder> truth;
  if (!plan.truth_path.empty()) {
    workload::TruthOptions truth_options;
    truth_options.partitions = plan.partitions;
    truth_options.partition_scheme = plan.partition_scheme;
    truth = std::make_unique<workload::TruthBuilder>(truth_options);
    for (const auto& [key, watermark] : plan.start_watermarks) truth->StartWatermark(key.first, key.second, watermark);
  }
  auto reporter_client = NewClient(options, token);
  if (!reporter_client.ok()) return Fail("load", reporter_client.status().message(), 2);

  LoadCounters counters;
  std::vector<std::unique_ptr<LoadConnection>> conns;
  for (uint64_t c = 0; c < connections; ++c)
    conns.push_back(std::make_unique<LoadConnection>(options, minter, token, plan.protobuf, &counters));
  std::vector<std::vector<Event>> pending(connections);
  uint64_t batch_index = 0;
  auto flush = [&](uint64_t c) {
    if (pending[c].empty()) return;
    const bool twice = workload::IsRetriedBatch(w, batch_index++);
    counters.sent += pending[c].size() * (twice ? 2 : 1);  // re-sent copies count as sent
    conns[c]->Push(std::move(pending[c]), twice);
    pending[c].clear();
  };

  std::atomic<bool> generating{true};
  const auto start = Clock::now();
  std::thread reporter([&] {
    HttpClient& client = **reporter_client;
    uint64_t last_acked = 0;
    LogLinearHistogram::Snapshot last_latency = counters.latency_ns.Take();
    int64_t next_top = plan.show_top_ms;
    for (int64_t tick = 1; generating.load(); ++tick) {
      for (int i = 0; i < 10 && generating.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      const uint64_t acked = counters.acked.load();
      // Measured over the requests acknowledged since the last line.
      LogLinearHistogram::Snapshot latency = counters.latency_ns.Take();
      std::printf("[%3lds] sent %lu  acked %lu (%lu/s)  retries %lu  request %s\n", static_cast<long>(tick),
                  static_cast<unsigned long>(counters.sent.load()), static_cast<unsigned long>(acked),
                  static_cast<unsigned long>(acked - last_acked), static_cast<unsigned long>(counters.retries.load()),
                  Percentiles(latency.Since(last_latency)).c_str());
      last_acked = acked;
      last_latency = std::move(latency);
      if (plan.show_top_ms > 0 && tick * 1000 >= next_top) {
        PrintTop(client);
        next_top += plan.show_top_ms;
      }
      std::fflush(stdout);
    }
  });

  workload::Generator gen(w);
  const uint32_t parts = plan.partitions;
  for (uint64_t i = 0; i < plan.max_events && !counters.fatal.load(); ++i) {
    if ((i & 1023) == 0) {
      auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
      if (elapsed >= plan.duration_ms) break;
      if (plan.rate > 0) {
        auto due = start + std::chrono::microseconds(static_cast<int64_t>(static_cast<double>(i) * 1e6 / plan.rate));
        std::this_thread::sleep_until(due);
      }
    }
    Event e = gen.Next();
    if (truth) truth->Add(e);
    uint64_t lane = static_cast<uint64_t>(e.region) * parts + PartitionOf(e.story_id, parts, plan.partition_scheme);
    uint64_t c = lane % connections;
    // One viewer per request when each request carries that viewer's token.
    if (plan.per_viewer && !pending[c].empty() && pending[c].back().viewer_id != e.viewer_id) flush(c);
    pending[c].push_back(std::move(e));
    if (pending[c].size() >= plan.batch) flush(c);
  }
  for (uint64_t c = 0; c < connections; ++c) flush(c);
  for (auto& c : conns) c->Finish();
  generating = false;
  reporter.join();

  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf(
      "load: %lu events generated, %lu acknowledged (re-sent copies included) in %.1f s (%.0f events/s), "
      "%lu retries, %lu refused\n",
      static_cast<unsigned long>(gen.produced()), static_cast<unsigned long>(counters.acked.load()), secs,
      static_cast<double>(counters.acked.load()) / secs, static_cast<unsigned long>(counters.retries.load()),
      static_cast<unsigned long>(counters.refused.load()));
  const LogLinearHistogram::Snapshot latency = counters.latency_ns.Take();
  if (latency.total > 0)
    std::printf("load: request latency over %lu requests: %s  p99.9 %.1f ms  max %.1f ms\n",
                static_cast<unsigned long>(latency.total), Percentiles(latency).c_str(),
                static_cast<double>(latency.ValueAt(0.999)) * 1e-6, static_cast<double>(latency.Max()) * 1e-6);
  if (truth) {
    auto t = truth->Finish();
    if (Status s = workload::WriteTruthFile(t, plan.truth_path); !s.ok()) return Fail("load", s.message());
    std::printf("truth: %zu stories, %zu windows, %lu distinct events -> %s\n", t.stories.size(), t.windows.size(),
                static_cast<unsigned long>(t.distinct_events), plan.truth_path.c_str());
  }
  if (counters.fatal.load()) return Fail("load", "the server stayed unavailable");
  return counters.refused.load() == 0 ? 0 : 1;
}

}  // namespace watershed::app
