// The latency of a whole recommendation request (recs/serving.h; bench/RESULTS.md, "Recommendations served"):
// the planted catalogue of planted_catalogue.h (N items, V viewers with 50 events each in an embedded feature
// store, behind the serving lock) and a BPR-form model version of those items and viewers in a temporary
// registry. RecsService::Recommend (1,000 candidates → factor scores → rules → top 50) is timed from C client
// threads at once, side by side with the candidate step alone (CandidateGenerator::Generate on the same
// snapshot's data, one client): per-request wall latency p50 / p99, throughput, and process CPU per request
// (→ requests per core-second, which does not depend on how many cores the shared machine lends the run).
// With HTTP clients listed, the same through the real endpoint: GET /v1/users/{id}/recommendations?k=50 of the
// gateway's Api (auth off) behind an HttpServer on loopback (2 server threads), each client thread on its own
// keep-alive connection — the cost of the HTTP layer and the JSON answer on top.
//
// With `exposures` last, every request is also in an A/B experiment (two arms of the same version) and its
// exposure is appended to a log before the answer — the cost of attribution.
//
//   serving_bench [N=100000] [V=10000] [R=4000] [clients=1,32] [http clients=1,32 | none] [exposures]

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/metrics.h"
#include "gateway/api.h"
#include "http/http_client.h"
#include "http/http_server.h"
#include "planted_catalogue.h"
#include "recs/locked_feature_store.h"
#include "recs/registry.h"
#include "recs/serving.h"

namespace {

using namespace watershed;
using namespace watershed::recs;
using Steady = std::chrono::steady_clock;

double ProcessCpu() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

double Pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

struct Run {
  std::vector<double> latency;  // seconds per request
  double wall = 0, cpu = 0;
};

// `requests` calls of `one(request index)` spread over `clients` threads.
template <typename F>
Run Drive(size_t clients, size_t requests, F one) {
  Run run;
  std::vector<std::vector<double>> lat(clients);
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  const double c0 = ProcessCpu();
  const auto t0 = Steady::now();
  std::vector<std::thread> threads;
  for (size_t c = 0; c < clients; ++c)
    threads.emplace_back([&, c] {
      for (size_t r; (r = next++) < requests;) {
        const auto s = Steady::now();
        if (!one(r)) failed = true;
        lat[c].push_back(std::chrono::duration<double>(Steady::now() - s).count());
      }
    });
  for (auto& t : threads) t.join();
  run.wall = std::chrono::duration<double>(Steady::now() - t0).count();
  run.cpu = ProcessCpu() - c0;
  for (auto& l : lat) run.latency.insert(run.latency.end(), l.begin(), l.end());
  if (failed) {
    std::fprintf(stderr, "a request failed\n");
    std::exit(1);
  }
  return run;
}

void Report(const char* what, size_t clients, const Run& run) {
  const double n = static_cast<double>(run.latency.size());
  std::printf(
      "%-10s clients %2zu: p50 %.2f ms p99 %.2f ms max %.2f ms; %.0f req/s; CPU %.3f ms/req = %.0f req per core-s\n",
      what, clients, 1e3 * Pct(run.latency, 0.5), 1e3 * Pct(run.latency, 0.99), 1e3 * Pct(run.latency, 1.0),
      n / run.wall, 1e3 * run.cpu / n, n / run.cpu);
}

}  // namespace

std::vector<size_t> Counts(const std::string& text) {
  std::vector<size_t> out;
  std::stringstream list(text);
  for (std::string c; std::getline(list, c, ',');)
    if (c != "none") out.push_back(std::stoull(c));
  return out;
}

int main(int argc, char** argv) {
  auto arg = [&](int i, const char* def) { return std::string(argc > i ? argv[i] : def); };
  const size_t n = std::stoull(arg(1, "100000")), viewers = std::stoull(arg(2, "10000")),
               requests = std::stoull(arg(3, "4000"));
  const std::vector<size_t> client_counts = Counts(arg(4, "1,32")), http_counts = Counts(arg(5, "1,32"));
  using bench::PlantedCatalogue;
  constexpr uint32_t dim = PlantedCatalogue::kDim;
  constexpr int64_t now = PlantedCatalogue::kNow;
  PlantedCatalogue planted = bench::MakePlantedCatalogue(n, viewers);
  EmbeddedFeatureStore* store = planted.store.get();

  ArrayFile weights;
  weights.kind = "model";
  std::vector<std::string> item_ids(n), user_ids(viewers);
  for (size_t i = 0; i < n; ++i) item_ids[i] = std::to_string(planted.ids[i]);
  for (size_t v = 0; v < viewers; ++v) user_ids[v] = std::to_string(v);
  weights.Put("item_ids", std::move(item_ids));
  weights.Put("user_ids", std::move(user_ids));
  weights.Put("item_vectors", planted.item_vectors);
  weights.Put("user_vectors", planted.user_vectors);
  weights.Put("item_bias", std::vector<float>(n, 0.f));

  const std::string dir =
      (std::filesystem::temp_directory_path() / ("serving_bench_" + std::to_string(::getpid()))).string();
  ModelRegistry registry(FileSystem::Default(), dir);
  ModelManifest m;
  m.name = "bench";
  m.model = "bpr";
  m.users = viewers;
  m.items = n;
  m.dim = dim;
  if (auto saved = registry.Save(&m, weights); !saved.ok()) {
    std::fprintf(stderr, "save: %s\n", saved.status().message().c_str());
    return 1;
  }
  LockedFeatureStore locked(store, true);
  RecsServiceOptions options;
  options.registry_root = dir;
  options.model = "bench";
  options.ann.build_threads = 2;
  if (arg(6, "") == "exposures") {
    options.experiments_path = dir + "/experiments.toml";
    options.exposures_dir = dir + "/exposures";
    const std::string text =
        "[[layer]]\nname = \"l\"\n\n[[experiment]]\nname = \"bench\"\nlayer = \"l\"\ncontrol = \"a\"\n\n"
        "[[arm]]\nexperiment = \"bench\"\nname = \"a\"\nmodel = \"bench@1\"\n\n"
        "[[arm]]\nexperiment = \"bench\"\nname = \"b\"\nmodel = \"bench@1\"\n";
    if (Status s = WriteFileAtomically(FileSystem::Default(), options.experiments_path, text); !s.ok()) {
      std::fprintf(stderr, "experiments: %s\n", s.message().c_str());
      return 1;
    }
  }
  auto t0 = Steady::now();
  auto service = RecsService::Open(FileSystem::Default(), options, &locked, nullptr, now);
  if (!service.ok()) {
    std::fprintf(stderr, "open: %s\n", service.status().message().c_str());
    return 1;
  }
  std::printf("serving_bench items=%zu viewers=%zu events=%zu requests=%zu k=50 candidates<=1000\n", n, viewers,
              planted.events, requests);
  std::printf("open (index build, 2 threads, + pool) %.1f s\n",
              std::chrono::duration<double>(Steady::now() - t0).count());

  // The reference: the candidate step alone, over the same data (a generator of its own on the same store).
  {
    auto opened = OpenOrBuildAnnIndex(FileSystem::Default(), dir, registry.Load({"bench", 1}).value());
    std::shared_ptr<const AnnIndex> index = std::move(opened.value().index);
    CandidateGenerator gen(options.candidates, &locked);
    gen.SetPool(CandidatePool::Build(planted.catalog, {{kAllRegions, &locked}}, now, options.candidates).value());
    gen.SetIndex(index);
    const std::vector<float>& uv = planted.user_vectors;
    Run run = Drive(1, requests, [&](size_t r) {
      const uint64_t v = (r * 7919) % viewers;
      return gen.Generate({.user = v, .now_ms = now, .user_vector = std::span(uv).subspan(v * dim, dim)}).ok();
    });
    Report("candidates", 1, run);
  }
  size_t returned = 0;
  for (size_t clients : client_counts) {
    std::atomic<size_t> items_out{0};
    Run run = Drive(clients, requests, [&](size_t r) {
      auto answer = (*service)->Recommend((r * 7919) % viewers, kAllRegions, 50, now);
      if (answer.ok()) items_out += answer->items.size();
      return answer.ok();
    });
    returned = items_out / requests;
    Report("recommend", clients, run);
  }
  std::printf("items per answer %zu; exposures logged %llu\n", returned,
              static_cast<unsigned long long>((*service)->exposures_logged()));

  if (!http_counts.empty()) {
    MetricsRegistry metrics;
    gateway::ApiDeps deps;
    deps.metrics = &metrics;
    RecsService* s = service->get();
    deps.recommendations = [s](uint64_t user, std::optional<Region> region, uint32_t k,
                               bool explain) -> Result<std::string> {
      const uint8_t r = region ? static_cast<uint8_t>(*region) : kAllRegions;
      ASSIGN_OR_RETURN(Recommendations answer, s->Recommend(user, r, k, now));
      return RecommendationsJson(answer, explain);
    };
    gateway::Api api(std::move(deps), gateway::ApiOptions{});
    http::HttpServerOptions server_options;
    server_options.port = 0;
    server_options.header_check = [&api](http::HttpRequest& head) { return api.CheckHeader(head); };
    auto server = http::HttpServer::Start(server_options, [&api](http::HttpRequest&& req, http::Responder respond) {
      api.Handle(std::move(req), std::move(respond));
    });
    if (!server.ok()) {
      std::fprintf(stderr, "http server: %s\n", server.status().message().c_str());
      return 1;
    }
    const uint16_t port = (*server)->port();
    for (size_t clients : http_counts) {
      std::vector<std::unique_ptr<http::HttpClient>> conns;
      for (size_t c = 0; c < clients; ++c) conns.push_back(std::make_unique<http::HttpClient>("127.0.0.1", port));
      std::atomic<size_t> next_conn{0};
      thread_local http::HttpClient* mine = nullptr;
      Run run = Drive(clients, requests, [&](size_t r) {
        if (mine == nullptr) mine = conns[next_conn++].get();  // one connection per client thread
        auto answer =
            mine->Get("/v1/users/" + std::to_string(1 + (r * 7919) % (viewers - 1)) + "/recommendations?k=50");
        return answer.ok() && answer->status == 200;
      });
      Report("http", clients, run);
    }
    (*server)->Stop();
  }
  std::filesystem::remove_all(dir);
  return 0;
}
