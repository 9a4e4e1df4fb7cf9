// The cost of one candidate request (recs/candidates.h; bench/RESULTS.md, "ANN candidates"): a catalogue of N
// items (32-d embeddings around 50 cluster centres, a cluster tag and one of 200 other tags, one of 5,000 authors,
// created within the last 30 days), an embedded feature store fed 50 events for each of V viewers over the last
// week (80 % in the viewer's cluster), the HNSW index of the items; then R requests of random viewers with the
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
  const uint32_t dim = 32, clusters = 50;
  const int64_t now = 1'800'000'000'000;
  std::mt19937_64 rng(7);
  std::normal_distribution<float> normal;
  std::vector<float> centre(size_t{clusters} * dim);
  for (float& x : centre) x = normal(rng);

  std::vector<CatalogItem> catalog(n);
  std::vector<uint64_t> ids(n);
  std::vector<float> vectors(n * dim);
  std::vector<std::vector<uint64_t>> by_cluster(clusters);
  auto store = EmbeddedFeatureStore::Create({}).value();
  for (size_t i = 0; i < n; ++i) {
    const uint32_t c = static_cast<uint32_t>(rng() % clusters);
    ids[i] = 1 + i;
    by_cluster[c].push_back(ids[i]);
    catalog[i].id = ids[i];
    catalog[i].info = {.created_at_ms = now - static_cast<int64_t>(rng() % (30 * kDayMs)),
                       .author = 1 + rng() % 5000,
                       .tags = {c, static_cast<uint32_t>(clusters + rng() % 200)}};
    for (uint32_t f = 0; f < dim; ++f) vectors[i * dim + f] = centre[c * dim + f] + 0.5f * normal(rng);
    (void)store->PutItem(ids[i], catalog[i].info);
  }
  const size_t events = viewers * 50;
  for (size_t e = 0; e < events; ++e) {
    const uint64_t v = rng() % viewers;
    const bool in = rng() % 10 < 8;
    const auto& pool = by_cluster[in ? v % clusters : rng() % clusters];
    const int64_t t = now - 7 * kDayMs + static_cast<int64_t>(e * (7 * kDayMs) / events);
    (void)store->Apply({.viewer = v, .item = pool[rng() % pool.size()], .time_ms = t});
  }
  auto t0 = Clock::now();
  std::shared_ptr<AnnIndex> index = AnnIndex::Build(dim, ids, vectors, {}, 0, {.build_threads = 2}).value();
  const double index_s = std::chrono::duration<double>(Clock::now() - t0).count();
  const CandidateConfig config;
  t0 = Clock::now();
  double c0 = ThreadCpu();
  auto pool = CandidatePool::Build(catalog, {{0, store.get()}}, now, config).value();
  std::printf("candidates_bench items=%zu viewers=%zu events=%zu requests=%zu\n", n, viewers, events, requests);
  std::printf("index build %.1f s wall (2 threads); pool build %.3f s wall, %.3f s CPU\n", index_s,
              std::chrono::duration<double>(Clock::now() - t0).count(), ThreadCpu() - c0);

  CandidateGenerator gen(config, store.get());
  gen.SetPool(pool);
  gen.SetIndex(index);
  std::vector<double> wall, cpu;
  double candidates = 0, from[kNumSources] = {};
  std::vector<float> user(dim);
  for (size_t r = 0; r < requests; ++r) {
    const uint64_t v = rng() % viewers;
    for (uint32_t f = 0; f < dim; ++f) user[f] = centre[(v % clusters) * dim + f] + 0.3f * normal(rng);
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
