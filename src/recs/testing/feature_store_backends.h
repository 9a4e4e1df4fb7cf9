#pragma once
// Tests and benchmarks only: one FeatureStore of each backend over real
// servers — the embedded store, Redis on one real redis-server, and Redis
// Cluster (three real masters) — so one suite runs against all of them. The
// servers are started once per process and shared; every store takes a
// prefix of its own, so stores never see each other's keys.

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "recs/feature_store.h"
#include "recs/feature_store_redis.h"
#include "serve/redis_cluster_client.h"
#include "serve/redis_node_client.h"
#include "serve/testing/redis_cluster.h"
#include "serve/testing/redis_server.h"

namespace watershed::recs::testing {

enum class Backend { kEmbedded, kRedis, kRedisCluster };

inline std::string BackendName(Backend b) {
  return b == Backend::kEmbedded ? "Embedded" : b == Backend::kRedis ? "Redis" : "RedisCluster";
}

// The shared servers; started on first use, killed at exit.
inline serve::testing::RedisServer* SharedRedisServer() {
  static auto* server = [] {
    auto* s = new serve::testing::RedisServer();
    if (!s->Start()) return static_cast<serve::testing::RedisServer*>(nullptr);
    std::atexit([] { delete SharedRedisServer(); });
    return s;
  }();
  return server;
}

inline watershed::testing::LocalRedisCluster* SharedRedisCluster() {
  static auto* cluster = [] {
    watershed::testing::LocalRedisCluster::Options options;
    options.replicas_per_master = 0;
    auto started = watershed::testing::LocalRedisCluster::Start(options);
    if (!started.ok()) return static_cast<watershed::testing::LocalRedisCluster*>(nullptr);
    auto* c = started->release();
    std::atexit([] { delete SharedRedisCluster(); });
    return c;
  }();
  return cluster;
}

inline Result<std::unique_ptr<serve::RedisClient>> ConnectClient(Backend backend) {
  if (backend == Backend::kRedis) {
    auto* server = SharedRedisServer();
    if (server == nullptr) return Status::Unavailable("redis-server did not start");
    return serve::ConnectRedisNode("127.0.0.1", server->port(), 5000);
  }
  auto* cluster = SharedRedisCluster();
  if (cluster == nullptr) return Status::Unavailable("the Redis Cluster did not start");
  serve::RedisClusterOptions options;
  options.seeds = cluster->Seeds();
  ASSIGN_OR_RETURN(auto client, serve::RedisClusterClient::Connect(options));
  return std::unique_ptr<serve::RedisClient>(std::move(client));
}

// A fresh prefix per call, so each test starts from an empty store.
inline std::string FreshPrefix() {
  static int n = 0;
  return "fst" + std::to_string(getpid()) + "-" + std::to_string(++n);
}

// A Redis store over `prefix` (the same prefix reopens the same store).
inline Result<std::unique_ptr<FeatureStore>> OpenRedisStore(Backend backend, const FeatureStoreConfig& config,
                                                            const std::string& prefix) {
  ASSIGN_OR_RETURN(auto client, ConnectClient(backend));
  RedisFeatureStoreOptions options;
  options.prefix = prefix;
  ASSIGN_OR_RETURN(auto store, RedisFeatureStore::Open(std::move(client), config, options));
  return std::unique_ptr<FeatureStore>(std::move(store));
}

inline Result<std::unique_ptr<FeatureStore>> NewStore(Backend backend, const FeatureStoreConfig& config) {
  if (backend == Backend::kEmbedded) {
    ASSIGN_OR_RETURN(auto store, EmbeddedFeatureStore::Create(config));
    return std::unique_ptr<FeatureStore>(std::move(store));
  }
  return OpenRedisStore(backend, config, FreshPrefix());
}

// Exact equality of two answers (doubles compared with ==: the backends run
// the same code on the same bytes).
inline void ExpectSameViewer(const ViewerFeaturesAt& a, const ViewerFeaturesAt& b, const std::string& what) {
  EXPECT_EQ(a.history, b.history) << what;
  ASSERT_EQ(a.tag_affinity.size(), b.tag_affinity.size()) << what;
  for (size_t i = 0; i < a.tag_affinity.size(); ++i) {
    EXPECT_EQ(a.tag_affinity[i].key, b.tag_affinity[i].key) << what;
    EXPECT_EQ(a.tag_affinity[i].value, b.tag_affinity[i].value) << what;
  }
  ASSERT_EQ(a.author_affinity.size(), b.author_affinity.size()) << what;
  for (size_t i = 0; i < a.author_affinity.size(); ++i) {
    EXPECT_EQ(a.author_affinity[i].key, b.author_affinity[i].key) << what;
    EXPECT_EQ(a.author_affinity[i].value, b.author_affinity[i].value) << what;
  }
  EXPECT_EQ(a.activity_day, b.activity_day) << what;
  EXPECT_EQ(a.activity_week, b.activity_week) << what;
  EXPECT_EQ(a.events, b.events) << what;
}

inline void ExpectSameItem(const ItemFeaturesAt& a, const ItemFeaturesAt& b, const std::string& what) {
  EXPECT_EQ(a.popularity, b.popularity) << what;
  EXPECT_EQ(a.trending, b.trending) << what;
  EXPECT_EQ(a.created_at_ms, b.created_at_ms) << what;
  EXPECT_EQ(a.age_ms, b.age_ms) << what;
  EXPECT_EQ(a.author, b.author) << what;
  EXPECT_EQ(a.tags, b.tags) << what;
}

// Every viewer in [0, viewers) and item in [0, items) of `got` against `want`,
// as of one ms after the later watermark.
inline void ExpectSameFeatures(const FeatureStore& want, const FeatureStore& got, uint64_t viewers, uint64_t items) {
  const int64_t at = std::max(want.watermark(), got.watermark()) + 1;
  for (uint64_t v = 0; v < viewers; ++v) {
    auto a = want.Viewer(v, at);
    auto b = got.Viewer(v, at);
    ASSERT_TRUE(a.ok() && b.ok()) << a.status().ToString() << " " << b.status().ToString();
    ExpectSameViewer(*a, *b, "viewer " + std::to_string(v));
  }
  for (uint64_t i = 0; i < items; ++i) {
    auto a = want.Item(i, at);
    auto b = got.Item(i, at);
    ASSERT_TRUE(a.ok() && b.ok()) << a.status().ToString() << " " << b.status().ToString();
    ExpectSameItem(*a, *b, "item " + std::to_string(i));
  }
}

}  // namespace watershed::recs::testing
