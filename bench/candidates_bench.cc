// The cost of one candidate request (recs/candidates.h; bench/RESULTS.md, "ANN candidates"): the planted catalogue
// of planted_catalogue.h (N items, V viewers with 50 events each in an embedded feature store), the HNSW index of
// the items; then R requests of random viewers with the
// default config (1,000 candidates). Prints the pool's build time and the per-request latency (p50, p99, max;
// wall and CPU of one thread), the candidates per request and the share from each source.
//
//   candidates_bench [N=100000] [V=10000] [R=2000]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "planted_catalogue.h"
#include "recs/candidates.h"

namespace {

using namespace watershed::recs;
using Clock = std::chrono::steady_clock;

double ThreadCpu() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double Pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  auto arg = [&](int i, const char* def) { return std::stoull(std::string(argc > i ? argv[i] : def)); };
  const size_t n = arg(1, "100000"), viewers = arg(2, "10000"), requests = arg(3, "2000");
  using watershed::bench::PlantedCatalogue;
  constexpr uint32_t dim = PlantedCatalogue::kDim;
  constexpr int64_t now = PlantedCatalogue::kNow;
  const PlantedCatalogue planted = watershed::bench::MakePlantedCatalogue(n, viewers);
  std::mt19937_64 rng(11);
  auto t0 = Clock::now();
  std::shared_ptr<AnnIndex> index =
      AnnIndex::Build(dim, planted.ids, planted.item_vectors, {}, 0, {.build_threads = 2}).value();
  const double index_s = std::chrono::duration<double>(Clock::now() - t0).count();
  const CandidateConfig config;
  t0 = Clock::now();
  double c0 = ThreadCpu();
  auto pool = CandidatePool::Build(planted.catalog, {{0, planted.store.get()}}, now, config).value();
  std::printf("candidates_bench items=%zu viewers=%zu events=%zu requests=%zu\n", n, viewers, planted.events, requests);
  std::printf("index build %.1f s wall (2 threads); pool build %.3f s wall, %.3f s CPU\n", index_s,
              std::chrono::duration<double>(Clock::now() - t0).count(), ThreadCpu() - c0);

  CandidateGenerator gen(config, planted.store.get());
  gen.SetPool(pool);
  gen.SetIndex(index);
  std::vector<double> wall, cpu;
  double candidates = 0, from[kNumSources] = {};
  for (size_t r = 0; r < requests; ++r) {
    const uint64_t v = rng() % viewers;
    const auto user = std::span(planted.user_vectors).subspan(v * dim, dim);
    t0 = Clock::now();
    c0 = ThreadCpu();
    auto set = gen.Generate({.user = v, .region = 0, .now_ms = now, .user_vector = user});
    cpu.push_back(ThreadCpu() - c0);
    wall.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    if (!set.ok()) {
      std::fprintf(stderr, "generate: %s\n", set.status().message().c_str());
      return 1;
    }
    candidates += static_cast<double>(set->candidates.size());
    for (const Candidate& c : set->candidates)
      for (int b = 0; b < kNumSources; ++b) from[b] += (c.sources >> b) & 1;
  }
  std::printf("per request, ms: wall p50 %.2f p99 %.2f max %.2f; CPU p50 %.2f p99 %.2f\n", 1e3 * Pct(wall, 0.5),
              1e3 * Pct(wall, 0.99), 1e3 * Pct(wall, 1.0), 1e3 * Pct(cpu, 0.5), 1e3 * Pct(cpu, 0.99));
  std::printf("candidates per request %.1f; tagged ann %.1f content %.1f trending %.1f fresh %.1f popular %.1f\n",
              candidates / static_cast<double>(requests), from[0] / static_cast<double>(requests),
              from[1] / static_cast<double>(requests), from[2] / static_cast<double>(requests),
              from[3] / static_cast<double>(requests), from[4] / static_cast<double>(requests));
  return 0;
}
