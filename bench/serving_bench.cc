// The latency of a whole recommendation request (recs/serving.h; bench/RESULTS.md, "Recommendations served"):
// the data of candidates_bench — N items (32-d embeddings around 50 cluster centres, a cluster tag and one of
// 200 other tags, one of 5,000 authors, created within 30 days), an embedded feature store fed 50 events for each
// of V viewers (80 % in the viewer's cluster) behind the serving lock — and a BPR-form model version of those
// items and viewers in a temporary registry. RecsService::Recommend (1,000 candidates → factor scores → rules →
// top 50) is timed from C client threads at once, side by side with the candidate step alone
// (CandidateGenerator::Generate on the same snapshot's data, one client): per-request wall latency p50 / p99,
// throughput, and process CPU per request (→ requests per core-second, which does not depend on how many cores
// the shared machine lends the run).
//
//   serving_bench [N=100000] [V=10000] [R=4000] [clients=1,32]

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

#include "recs/locked_feature_store.h"
#include "recs/registry.h"
#include "recs/serving.h"

namespace {

using namespace watershed;
using namespace watershed::recs;
using Clock = std::chrono::steady_clock;

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
  const auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (size_t c = 0; c < clients; ++c)
    threads.emplace_back([&, c] {
      for (size_t r; (r = next++) < requests;) {
        const auto s = Clock::now();
        if (!one(r)) failed = true;
        lat[c].push_back(std::chrono::duration<double>(Clock::now() - s).count());
      }
    });
  for (auto& t : threads) t.join();
  run.wall = std::chrono::duration<double>(Clock::now() - t0).count();
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

int main(int argc, char** argv) {
  auto arg = [&](int i, const char* def) { return std::string(argc > i ? argv[i] : def); };
  const size_t n = std::stoull(arg(1, "100000")), viewers = std::stoull(arg(2, "10000")),
               requests = std::stoull(arg(3, "4000"));
  std::vector<size_t> client_counts;
  std::stringstream list(arg(4, "1,32"));
  for (std::string c; std::getline(list, c, ',');) client_counts.push_back(std::stoull(c));
  const uint32_t dim = 32, clusters = 50;
  const int64_t now = 1'800'000'000'000;
  std::mt19937_64 rng(7);
  std::normal_distribution<float> normal;
  std::vector<float> centre(size_t{clusters} * dim);
  for (float& x : centre) x = normal(rng);

  // The catalogue and the store, as candidates_bench builds them.
  auto store = EmbeddedFeatureStore::Create({}).value();
  std::vector<std::vector<uint64_t>> by_cluster(clusters);
  ArrayFile weights;
  weights.kind = "model";
  std::vector<std::string> item_ids(n), user_ids(viewers);
  std::vector<float> items(n * dim), users(viewers * dim);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t c = static_cast<uint32_t>(rng() % clusters);
    const uint64_t id = 1 + i;
    item_ids[i] = std::to_string(id);
    by_cluster[c].push_back(id);
    (void)store->PutItem(id, {.created_at_ms = now - static_cast<int64_t>(rng() % (30 * kDayMs)),
                              .author = 1 + rng() % 5000,
                              .tags = {c, static_cast<uint32_t>(clusters + rng() % 200)}});
    for (uint32_t f = 0; f < dim; ++f) items[i * dim + f] = centre[c * dim + f] + 0.5f * normal(rng);
  }
  for (size_t v = 0; v < viewers; ++v) {
    user_ids[v] = std::to_string(v);
    for (uint32_t f = 0; f < dim; ++f) users[v * dim + f] = centre[(v % clusters) * dim + f] + 0.3f * normal(rng);
  }
  const size_t events = viewers * 50;
  for (size_t e = 0; e < events; ++e) {
    const uint64_t v = rng() % viewers;
    const auto& pool = by_cluster[rng() % 10 < 8 ? v % clusters : rng() % clusters];
    const int64_t t = now - 7 * kDayMs + static_cast<int64_t>(e * (7 * kDayMs) / events);
    (void)store->Apply({.viewer = v, .item = pool[rng() % pool.size()], .time_ms = t});
  }
  weights.Put("item_ids", std::move(item_ids));
  weights.Put("user_ids", std::move(user_ids));
  weights.Put("item_vectors", std::move(items));
  weights.Put("user_vectors", std::move(users));
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
  LockedFeatureStore locked(store.get(), true);
  RecsServiceOptions options;
  options.registry_root = dir;
  options.model = "bench";
  options.ann.build_threads = 2;
  auto t0 = Clock::now();
  auto service = RecsService::Open(FileSystem::Default(), options, &locked, nullptr, now);
  if (!service.ok()) {
    std::fprintf(stderr, "open: %s\n", service.status().message().c_str());
    return 1;
  }
  std::printf("serving_bench items=%zu viewers=%zu events=%zu requests=%zu k=50 candidates<=1000\n", n, viewers, events,
              requests);
  std::printf("open (index build, 2 threads, + pool) %.1f s\n",
              std::chrono::duration<double>(Clock::now() - t0).count());

  // The reference: the candidate step alone, over the same data (a generator of its own on the same store).
  {
    auto opened = OpenOrBuildAnnIndex(FileSystem::Default(), dir, registry.Load({"bench", 1}).value());
    std::shared_ptr<const AnnIndex> index = std::move(opened.value().index);
    std::vector<CatalogItem> catalog(n);
    for (size_t i = 0; i < n; ++i) {
      auto f = store->Item(1 + i, now).value();
      catalog[i] = {.id = 1 + i, .info = {.created_at_ms = f.created_at_ms, .author = f.author, .tags = f.tags}};
    }
    CandidateGenerator gen(options.candidates, &locked);
    gen.SetPool(CandidatePool::Build(catalog, {{kAllRegions, &locked}}, now, options.candidates).value());
    gen.SetIndex(index);
    const ArrayFile& w = weights;
    const std::vector<float>& uv = *w.F32("user_vectors", viewers * dim).value();
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
  std::printf("items per answer %zu\n", returned);
  std::filesystem::remove_all(dir);
  return 0;
}
