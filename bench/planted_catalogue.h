#pragma once
// The planted catalogue candidates_bench and serving_bench share: N items with 32-d
// embeddings around 50 cluster centres, a cluster tag and one of 200 other tags, one of 5,000 authors, created
// within the last 30 days; V viewers whose embedding is their cluster's centre (viewer % 50) plus noise; an
// embedded feature store holding the items and 50 events per viewer over the last week (80 % in the viewer's
// cluster). Deterministic for a seed.

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "recs/candidates.h"
#include "recs/feature_store.h"

namespace watershed::bench {

struct PlantedCatalogue {
  static constexpr uint32_t kDim = 32, kClusters = 50;
  static constexpr int64_t kNow = 1'800'000'000'000;
  std::vector<recs::CatalogItem> catalog;  // ids 1..N
  std::vector<uint64_t> ids;
  std::vector<float> item_vectors;  // N × kDim
  std::vector<float> user_vectors;  // V × kDim, viewer v's at v × kDim
  std::unique_ptr<recs::EmbeddedFeatureStore> store;
  size_t events = 0;
};

inline PlantedCatalogue MakePlantedCatalogue(size_t n, size_t viewers, uint64_t seed = 7) {
  using recs::kDayMs;
  constexpr uint32_t dim = PlantedCatalogue::kDim, clusters = PlantedCatalogue::kClusters;
  constexpr int64_t now = PlantedCatalogue::kNow;
  PlantedCatalogue p;
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> centre(size_t{clusters} * dim);
  for (float& x : centre) x = normal(rng);
  p.catalog.resize(n);
  p.ids.resize(n);
  p.item_vectors.resize(n * dim);
  std::vector<std::vector<uint64_t>> by_cluster(clusters);
  p.store = recs::EmbeddedFeatureStore::Create({}).value();
  for (size_t i = 0; i < n; ++i) {
    const uint32_t c = static_cast<uint32_t>(rng() % clusters);
    p.ids[i] = 1 + i;
    by_cluster[c].push_back(p.ids[i]);
    p.catalog[i].id = p.ids[i];
    p.catalog[i].info = {.created_at_ms = now - static_cast<int64_t>(rng() % (30 * kDayMs)),
                         .author = 1 + rng() % 5000,
                         .tags = {c, static_cast<uint32_t>(clusters + rng() % 200)}};
    for (uint32_t f = 0; f < dim; ++f) p.item_vectors[i * dim + f] = centre[c * dim + f] + 0.5f * normal(rng);
    (void)p.store->PutItem(p.ids[i], p.catalog[i].info);
  }
  p.user_vectors.resize(viewers * dim);
  for (size_t v = 0; v < viewers; ++v)
    for (uint32_t f = 0; f < dim; ++f)
      p.user_vectors[v * dim + f] = centre[(v % clusters) * dim + f] + 0.3f * normal(rng);
  p.events = viewers * 50;
  for (size_t e = 0; e < p.events; ++e) {
    const uint64_t v = rng() % viewers;
    const auto& pool = by_cluster[rng() % 10 < 8 ? v % clusters : rng() % clusters];
    const int64_t t = now - 7 * kDayMs + static_cast<int64_t>(e * (7 * kDayMs) / p.events);
    (void)p.store->Apply({.viewer = v, .item = pool[rng() % pool.size()], .time_ms = t});
  }
  return p;
}

}  // namespace watershed::bench
