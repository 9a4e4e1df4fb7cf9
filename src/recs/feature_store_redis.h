#pragma once
// RedisFeatureStore: the FeatureStore kept in Redis (one node or a Redis
// Cluster, behind serve::RedisClient), so several processes can read the
// features the online consumer writes. Answers equal EmbeddedFeatureStore's
// for the same calls, bit for bit: the state of a viewer or an item is
// stored as the very bytes the embedded snapshot holds for it
// (feature_store_codec.h), and every change is computed by the embedded
// store's code on the states it touches (docs/recs.md, "Redis backend").
//
// Keys (T = "{" + prefix + "}", default "{wsf}"; one hash tag, so a cluster
// keeps them on one master and a script may touch any of them):
//   T:m          hash: version (a counter every write raises), wm (the
//                watermark), config (the FeatureStoreConfig, checked at
//                Open), p:<region>:<partition> (the log position)
//   T:v:<id>     string: one viewer's state (id as 20 zero-padded digits)
//   T:i:<id>     string: one item's state (likewise)
//   T:a          sorted set: member = viewer id (20 digits), score = its last
//                event's time (ms); the eviction order, least recent first
//
// A write (PutItem, Apply, ApplyLogBatch) is an optimistic transaction of two
// round trips whatever the batch's size: one pipeline reads the version, the
// watermark, the position and the states of the viewers and items the batch
// touches; the batch is applied to them in memory; one script then writes
// every changed state, the watermark, the position and the eviction index —
// only if the version is still the one read (else it is retried from the
// read; at most Options::max_conflicts times, then kUnavailable). The script
// is atomic, so the events of a log range and the range's position land
// together or not at all: a range applied twice (a retry whose reply was
// lost, a restarted consumer) is refused by the position check (kFenced) and
// counts once. Past max_viewers, the script evicts the least recently
// active viewers (ZPOPMIN on T:a, then DEL), the embedded store's order.
//
// Not thread-safe (one RedisClient): one store object per thread.

#include <memory>
#include <string>
#include <vector>

#include "recs/feature_store.h"
#include "serve/redis_client.h"

namespace watershed::recs {

struct RedisFeatureStoreOptions {
  std::string prefix = "wsf";
  int max_conflicts = 50;  // version conflicts retried per write
};

struct RedisFeatureStoreStats {
  uint64_t round_trips = 0;  // pipelines sent
  uint64_t conflicts = 0;    // writes retried because another writer came first
  uint64_t evicted_viewers = 0;
};

class RedisFeatureStore final : public FeatureStore {
 public:
  // Loads the write script and records `config` in T:m, or checks it against
  // the one recorded (kFailedPrecondition naming both when they differ: the
  // stored states were computed under it). kUnavailable when Redis cannot be
  // reached.
  static Result<std::unique_ptr<RedisFeatureStore>> Open(std::unique_ptr<serve::RedisClient> client,
                                                         const FeatureStoreConfig& config,
                                                         RedisFeatureStoreOptions options = {});

  Status PutItem(uint64_t item, const ItemInfo& info) override;
  Status Apply(const FeatureEvent& event) override;
  Status ApplyLogBatch(const LogRange& range, const std::vector<FeatureEvent>& events) override;
  Result<std::vector<LogPosition>> Positions() const override;
  Result<ViewerFeaturesAt> Viewer(uint64_t viewer, int64_t as_of_ms) const override;
  Result<ItemFeaturesAt> Item(uint64_t item, int64_t as_of_ms) const override;
  int64_t watermark() const override { return watermark_; }
  // One script: DEL T:v:<id>, ZREM from T:a, and a version raise, so a write
  // that read the viewer's state before the erasure is retried from a read
  // after it (never writes the state back).
  Result<bool> EraseViewer(uint64_t viewer) override;
  Result<bool> HoldsViewer(uint64_t viewer) const override;

  // Viewers kept (ZCARD of T:a).
  Result<uint64_t> NumViewers() const;
  const RedisFeatureStoreStats& stats() const { return stats_; }
  std::string ViewerKey(uint64_t viewer) const;
  std::string ItemKey(uint64_t item) const;
  std::string MetaKey() const { return tag_ + ":m"; }
  std::string ActiveKey() const { return tag_ + ":a"; }

 private:
  RedisFeatureStore(std::unique_ptr<serve::RedisClient> client, const FeatureStoreConfig& config,
                    RedisFeatureStoreOptions options);
  Result<std::vector<serve::RedisReply>> Run(std::vector<serve::RedisCommand> commands) const;
  // The transaction described above; `change` runs on a transient embedded
  // store holding what was read.
  Status Write(std::vector<uint64_t> viewers, std::vector<uint64_t> items, const LogRange* range,
               const std::function<Status(EmbeddedFeatureStore*)>& change);
  // One viewer's or item's state and the watermark, in a transient store.
  Result<std::unique_ptr<EmbeddedFeatureStore>> Load(const uint64_t* viewer, const uint64_t* item) const;

  std::unique_ptr<serve::RedisClient> client_;
  FeatureStoreConfig config_;
  RedisFeatureStoreOptions options_;
  std::string tag_;
  std::string sha_;
  mutable int64_t watermark_ = INT64_MIN;
  mutable RedisFeatureStoreStats stats_;
};

}  // namespace watershed::recs
