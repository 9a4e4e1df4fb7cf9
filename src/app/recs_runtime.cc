#include "app/recs_runtime.h"

#include <chrono>
#include <cstdio>

#include "lake/tables.h"
#include "recs/feature_updater.h"
#include "recs/lake_interactions.h"
#include "serve/redis_cluster_client.h"
#include "serve/redis_node_client.h"

namespace watershed::app {

Result<std::unique_ptr<recs::RedisFeatureStore>> OpenRedisFeatureStore(const RecsFeatureSettings& settings,
                                                                       const recs::FeatureStoreConfig& config) {
  auto named = [&](const Status& s) { return Status(s.code(), "recs-features " + settings.spec + ": " + s.message()); };
  constexpr int kTimeoutMs = 2000;
  Result<std::unique_ptr<serve::RedisClient>> client = Status::Internal("no client");
  if (settings.kind == RecsFeatureSettings::Kind::kRedis) {
    client = serve::ConnectRedisNode(settings.redis_host, settings.redis_port, kTimeoutMs, settings.auth);
  } else {
    serve::RedisClusterOptions cluster;
    cluster.seeds = settings.cluster_seeds;
    cluster.io_timeout = std::chrono::milliseconds(kTimeoutMs);
    cluster.auth = settings.auth;
    auto connected = serve::RedisClusterClient::Connect(cluster);
    if (!connected.ok()) return named(connected.status());
    client = std::unique_ptr<serve::RedisClient>(std::move(connected).value());
  }
  if (!client.ok()) return named(client.status());
  recs::RedisFeatureStoreOptions redis;
  redis.prefix = settings.prefix;
  auto store = recs::RedisFeatureStore::Open(std::move(client).value(), config, redis);
  if (!store.ok()) return named(store.status());
  return std::move(store).value();
}

Result<std::unique_ptr<RecsRuntime>> RecsRuntime::Start(const RecsServeSettings& settings, FileSystem* fs,
                                                        const recs::FeatureStore* store, MetricsRegistry* metrics,
                                                        Clock* clock, const recs::RegionalTrending* regional,
                                                        const catalog::StoryCatalog* catalog) {
  std::unique_ptr<RecsRuntime> r(new RecsRuntime());
  r->settings_ = settings;
  r->clock_ = clock;
  auto named = [&](const Status& s) { return Status(s.code(), "recs-model " + settings.model + ": " + s.message()); };
  if (!settings.rules_path.empty()) {
    auto rules = recs::RulesHolder::Open(fs, settings.rules_path);
    if (!rules.ok()) return Status(rules.status().code(), "recs-rules: " + rules.status().message());
    r->rules_ = std::move(rules).value();
  }
  recs::RecsServiceOptions options;
  options.registry_root = settings.registry_root;
  options.model = settings.model;
  options.experiments_path = settings.experiments_path;
  options.exposures_dir = settings.exposures_dir;
  options.regional = regional;
  options.coview_refresh_ms = settings.coview_refresh_ms;
  if (catalog != nullptr)
    options.published_items = [catalog]() -> Result<std::vector<recs::PublishedItem>> {
      // The catalogue's stories (a copy, once per pool build), in the feature store's terms for the pool and the
      // item tower's for the embedding.
      std::vector<recs::PublishedItem> out;
      for (const catalog::StoryRecord& r : catalog->All()) {
        if (r.deleted) continue;
        recs::PublishedItem p;
        p.id = r.story.value;
        p.info.created_at_ms = r.created_at_ms;
        p.info.author = r.author.value;
        for (const std::string& tag : r.tags) p.info.tags.push_back(recs::CatalogTagId(tag));
        p.description = {
            .tags = r.tags, .author = r.author.value ? std::to_string(r.author.value) : "", .language = r.language};
        out.push_back(std::move(p));
      }
      return out;
    };
  if (!settings.coview_lake_root.empty())
    options.coview_events = [fs, root = settings.coview_lake_root]() -> Result<std::vector<recs::CoViewEngagement>> {
      // Every region's events table (a region without one yet is skipped); the positives as the models see them.
      std::vector<recs::CoViewEngagement> out;
      const recs::EngagementOptions positives;
      for (int r = 0; r < RegionCount(); ++r) {
        auto events = recs::ReadEngagementEvents(
            fs, lake::TableLocation(root, static_cast<Region>(r), lake::LakeTableId::kEvents), std::nullopt);
        if (!events.ok() && events.status().code() == StatusCode::kNotFound) continue;
        if (!events.ok()) return events.status();
        for (const recs::EngagementEvent& e : events->events)
          if (recs::EngagementWeight(e.type, e.watch_ms, positives) > 0)
            out.push_back({.viewer = e.viewer, .item = e.story, .time_ms = e.event_time_ms});
      }
      return out;
    };
  auto service = recs::RecsService::Open(fs, options, store, r->rules_.get(), clock->NowMs());
  if (!service.ok()) return named(service.status());
  r->service_ = std::move(service).value();
  std::fprintf(stderr, "watershed: recommendations: serving %s\n", r->service_->Served().c_str());
  recs::RecsService* s = r->service_.get();
  metrics->AddCounterFunc("watershed_recs_exposures_total",
                          "Exposures of recommendation answers appended to the experiments' logs",
                          [s] { return static_cast<double>(s->exposures_logged()); });
  metrics->AddGauge("watershed_recs_model_version", "The model version GET /v1/users/{id}/recommendations serves", [s] {
    const std::string served = s->Served();
    return std::stod(served.substr(served.rfind('@') + 1));
  });
  r->thread_ = std::thread([raw = r.get()] { raw->Run(); });
  return r;
}

RecsRuntime::~RecsRuntime() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void RecsRuntime::Run() {
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, std::chrono::milliseconds(settings_.refresh_ms), [this] { return stop_; })) {
    lock.unlock();
    std::string error;
    if (rules_) {
      if (auto changed = rules_->Refresh(); !changed.ok())
        error += (error.empty() ? "" : "; ") + std::string("recs-rules: ") + changed.status().message();
    }
    if (Status s = service_->SyncExposures(); !s.ok())
      error += (error.empty() ? "" : "; ") + std::string("recs exposures: ") + s.message();
    const std::string before = service_->Served();
    if (auto swapped = service_->Refresh(clock_->NowMs()); !swapped.ok()) {
      error += (error.empty() ? "" : "; ") + std::string("recs-model: ") + swapped.status().message() +
               " (still serving " + before + ")";
    } else if (service_->Served() != before) {
      std::fprintf(stderr, "watershed: recommendations: serving %s (was %s)\n", service_->Served().c_str(),
                   before.c_str());
    }
    lock.lock();
    if (error != last_error_ && !error.empty()) std::fprintf(stderr, "watershed: %s\n", error.c_str());
    last_error_ = error;
  }
}

Result<std::string> RecsRuntime::Answer(uint64_t user, std::optional<Region> region, uint32_t k, bool explain) const {
  const uint8_t r = region ? static_cast<uint8_t>(*region) : recs::kAllRegions;
  ASSIGN_OR_RETURN(recs::Recommendations answer, service_->Recommend(user, r, k, clock_->NowMs()));
  return recs::RecommendationsJson(answer, explain);
}

}  // namespace watershed::app
