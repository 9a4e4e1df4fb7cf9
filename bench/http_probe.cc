// Latency probes over one keep-alive connection.
//   http_probe freshness --server H:P [--probes 200]
//       POSTs one view of a fresh story, then polls its metrics until the view
//       is visible: acknowledgement → visible in GET /v1/stories/{id}/metrics.
//   http_probe query --server H:P [--story 1] [--requests 50000] [--rate 0]
//       GET /v1/stories/{id}/metrics, closed loop (rate 0) or paced at RATE/s.
// Prints p50/p95/p99/p999/max in microseconds (exact, from all samples).

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "http/http_client.h"
#include "core/clock.h"
#include "core/event_codec.h"

using namespace watershed;
using Steady = std::chrono::steady_clock;

namespace {

std::string Arg(int argc, char** argv, const std::string& key, const std::string& fallback) {
  for (int i = 2; i + 1 < argc; ++i)
    if (argv[i] == "--" + key) return argv[i + 1];
  return fallback;
}

void Print(const char* what, std::vector<double>& us) {
  if (us.empty()) return;
  std::sort(us.begin(), us.end());
  auto q = [&](double p) { return us[std::min(us.size() - 1, static_cast<size_t>(p * static_cast<double>(us.size())))]; };
  std::printf("%s n=%zu p50=%.0fus p95=%.0fus p99=%.0fus p999=%.0fus max=%.0fus\n", what, us.size(), q(0.5), q(0.95),
              q(0.99), q(0.999), us.back());
}

double Micros(Steady::time_point a, Steady::time_point b) {
  return std::chrono::duration<double, std::micro>(b - a).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: http_probe freshness|query --server HOST:PORT [...]\n");
    return 2;
  }
  const std::string mode = argv[1];
  std::string host;
  uint16_t port;
  if (!http::ParseHostPort(Arg(argc, argv, "server", "127.0.0.1:8080"), &host, &port).ok()) return 2;
  http::HttpClient client(host, port);
  std::vector<double> samples;

  if (mode == "freshness") {
    const int probes = std::stoi(Arg(argc, argv, "probes", "200"));
    http::HttpClient poller(host, port);
    const uint64_t base_story = 900'000'000'000ull + static_cast<uint64_t>(Clock::Real()->NowMs() % 1'000'000) * 1000;
    for (int k = 0; k < probes; ++k) {
      Event e;
      e.event_id = EventId::FromHiLo(base_story, static_cast<uint64_t>(k) + 1);
      e.type = EventType::kView;
      e.story_id = StoryId(base_story + static_cast<uint64_t>(k));
      e.author_id = AuthorId(1);
      e.viewer_id = ViewerId(7);
      e.event_time = EventTimeMs(Clock::Real()->NowMs());
      e.watch_ms = 1000;
      auto r = client.Request("POST", "/v1/events", EncodeEventBatchJson({&e, 1}));
      auto acked = Steady::now();
      if (!r.ok() || r->status != 200) {
        std::fprintf(stderr, "http_probe: POST failed\n");
        return 1;
      }
      const std::string target = "/v1/stories/" + std::to_string(e.story_id.value) + "/metrics";
      for (;;) {
        auto m = poller.Get(target);
        if (m.ok() && m->status == 200) break;
        if (Micros(acked, Steady::now()) > 30e6) {
          std::fprintf(stderr, "http_probe: event not visible after 30 s\n");
          return 1;
        }
      }
      samples.push_back(Micros(acked, Steady::now()));
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    Print("freshness(ack->visible)", samples);
    return 0;
  }
  if (mode == "query") {
    const std::string target = "/v1/stories/" + Arg(argc, argv, "story", "1") + "/metrics";
    const int requests = std::stoi(Arg(argc, argv, "requests", "50000"));
    const double rate = std::stod(Arg(argc, argv, "rate", "0"));
    auto start = Steady::now();
    for (int i = 0; i < requests; ++i) {
      if (rate > 0) std::this_thread::sleep_until(start + std::chrono::microseconds(static_cast<int64_t>(i * 1e6 / rate)));
      auto t0 = Steady::now();
      auto r = client.Get(target);
      auto t1 = Steady::now();
      if (!r.ok() || r->status != 200) {
        std::fprintf(stderr, "http_probe: GET %s failed\n", target.c_str());
        return 1;
      }
      samples.push_back(Micros(t0, t1));
    }
    double secs = std::chrono::duration<double>(Steady::now() - start).count();
    std::printf("query rate=%.0f/s ", static_cast<double>(requests) / secs);
    Print("GET metrics latency", samples);
    return 0;
  }
  std::fprintf(stderr, "http_probe: unknown mode %s\n", mode.c_str());
  return 2;
}
