// The feature store's backends side by side (docs/recs.md, "Benchmark"):
// ApplyLogBatch throughput, embedded against Redis on a local redis-server
// this binary starts (one batch = one read pipeline + one write script, so
// the batch size is the pipelining: 1 event per batch is the unpipelined
// reference), and point reads of one viewer's and one item's features.
// Read items/s and the ratios, not the absolute figures.

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "recs/feature_store.h"
#include "recs/feature_store_redis.h"
#include "recs/rng.h"
#include "serve/redis_node_client.h"
#include "serve/testing/redis_server.h"

namespace watershed::recs {
namespace {

constexpr uint32_t kViewers = 20'000, kItems = 5'000;

serve::testing::RedisServer* Server() {
  static auto* server = [] {
    auto* s = new serve::testing::RedisServer();
    if (!s->Start()) std::abort();
    return s;
  }();
  return server;
}

// range 0: the embedded store; 1: Redis.
std::unique_ptr<FeatureStore> NewStore(int64_t backend) {
  FeatureStoreConfig config;
  if (backend == 0) return std::move(EmbeddedFeatureStore::Create(config)).value();
  static int n = 0;
  RedisFeatureStoreOptions options;
  options.prefix = "bench" + std::to_string(++n);
  auto client = serve::ConnectRedisNode("127.0.0.1", Server()->port(), 5000);
  if (!client.ok()) std::abort();
  auto store = RedisFeatureStore::Open(std::move(client).value(), config, options);
  if (!store.ok()) std::abort();
  return std::move(store).value();
}

// Items with three tags of 40 and one author of 500.
void PutItems(FeatureStore* store) {
  Rng rng(1);
  for (uint64_t i = 0; i < kItems; ++i)
    if (!store->PutItem(i, {1, 1 + rng.Below(500), {rng.Below(40), rng.Below(40), rng.Below(40)}}).ok()) std::abort();
}

std::vector<FeatureEvent> Events(size_t n, int64_t* t, Rng* rng) {
  std::vector<FeatureEvent> out;
  for (size_t i = 0; i < n; ++i) out.push_back({rng->Below(kViewers), rng->Below(kItems), (*t)++, 1});
  return out;
}

// ApplyLogBatch of range(1) events per batch.
void BM_ApplyLogBatch(benchmark::State& state) {
  auto store = NewStore(state.range(0));
  PutItems(store.get());
  Rng rng(2);
  int64_t t = 1'700'000'000'000;
  uint64_t offset = 0;
  const size_t batch = static_cast<size_t>(state.range(1));
  for (auto _ : state) {
    state.PauseTiming();
    const auto events = Events(batch, &t, &rng);
    state.ResumeTiming();
    if (!store->ApplyLogBatch({0, 0, offset, offset + batch}, events).ok()) std::abort();
    offset += batch;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * batch));
  state.SetLabel(state.range(0) == 0 ? "embedded" : "redis");
}
BENCHMARK(BM_ApplyLogBatch)->Args({0, 1})->Args({0, 1000})->Args({1, 1})->Args({1, 100})->Args({1, 1000});

// Point reads on a store holding 200k events (every viewer ~10, full histories of 10).
void BM_Read(benchmark::State& state) {
  auto store = NewStore(state.range(0));
  PutItems(store.get());
  Rng rng(3);
  int64_t t = 1'700'000'000'000;
  for (uint64_t offset = 0; offset < 200'000; offset += 1000)
    if (!store->ApplyLogBatch({0, 0, offset, offset + 1000}, Events(1000, &t, &rng)).ok()) std::abort();
  const bool viewer = state.range(1) == 0;
  for (auto _ : state) {
    if (viewer) {
      auto f = store->Viewer(rng.Below(kViewers), t + 1);
      if (!f.ok()) std::abort();
      benchmark::DoNotOptimize(f);
    } else {
      auto f = store->Item(rng.Below(kItems), t + 1);
      if (!f.ok()) std::abort();
      benchmark::DoNotOptimize(f);
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetLabel(std::string(state.range(0) == 0 ? "embedded" : "redis") + (viewer ? " viewer" : " item"));
}
BENCHMARK(BM_Read)->Args({0, 0})->Args({0, 1})->Args({1, 0})->Args({1, 1});

}  // namespace
}  // namespace watershed::recs

BENCHMARK_MAIN();
