#pragma once
// `watershed serve`'s recommendations (recs-model, docs/recs.md "Serving"): the RecsService over the model
// registry and the process's feature store, a thread that every recs-refresh swaps in a promoted (or rolled back)
// version, reloads a changed rules file and rebuilds the candidate pool, and the answer of
// GET /v1/users/{id}/recommendations for the API (ApiDeps::recommendations).

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "app/serve_settings.h"
#include "catalog/story_catalog.h"
#include "core/clock.h"
#include "core/metrics.h"
#include "core/status.h"
#include "recs/feature_store.h"
#include "recs/feature_store_redis.h"
#include "recs/rules.h"
#include "recs/serving.h"

namespace watershed::app {

// The Redis (or Redis Cluster) feature store recs-features names (kRedis, kRedisCluster): `serve`'s consumer writes
// it, `watershed erase` erases from it. Errors name the setting.
Result<std::unique_ptr<recs::RedisFeatureStore>> OpenRedisFeatureStore(const RecsFeatureSettings& settings,
                                                                       const recs::FeatureStoreConfig& config);

class RecsRuntime {
 public:
  // `store` allows concurrent const calls (a LockedFeatureStore) and outlives this, as do `regional` (the
  // log consumer's per-region views; null: the store's lists of all regions) and `catalog` (its stories that a
  // served version does not hold are embedded by the version's item tower and added to its index; null: none).
  // Errors: the model's (none promoted, a damaged version), the rules file's, the experiments file's.
  static Result<std::unique_ptr<RecsRuntime>> Start(const RecsServeSettings& settings, FileSystem* fs,
                                                    const recs::FeatureStore* store, MetricsRegistry* metrics,
                                                    Clock* clock, const recs::RegionalTrending* regional = nullptr,
                                                    const catalog::StoryCatalog* catalog = nullptr);
  ~RecsRuntime();  // stops the refresher

  // The JSON answer (recs::RecommendationsJson); region nullopt: every region.
  Result<std::string> Answer(uint64_t user, std::optional<Region> region, uint32_t k, bool explain) const;
  // Erasure: the user's exposures out of the logs this server appends to; the records removed.
  Result<uint64_t> EraseUserExposures(uint64_t user) { return service_->EraseUserExposures(user); }

 private:
  RecsRuntime() = default;
  void Run();

  RecsServeSettings settings_;
  Clock* clock_ = nullptr;
  std::unique_ptr<recs::RulesHolder> rules_;
  std::unique_ptr<recs::RecsService> service_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::string last_error_;  // the refresher's, printed once per change
  std::thread thread_;
};

}  // namespace watershed::app
