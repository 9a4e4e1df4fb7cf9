#pragma once
// The Watershed server. `watershed serve` runs every part in one process:
// per region a log and a RegionProcessor, the live store, auth, the HTTP
// API. A split deployment (docs/deploy.md) runs the parts as processes of
// their own over Kafka and Redis: `watershed gateway` (ingest),
// `watershed processor` (a consumer-group member per region) and
// `watershed query` (reads and /v1/status from Redis). Tests start it
// in-process; main() runs it until SIGINT/SIGTERM.

#include <memory>
#include <vector>

#include "app/auth_setup.h"
#include "app/config.h"
#include "app/erasure.h"
#include "app/federation.h"
#include "app/governance_runtime.h"
#include "app/live_peers.h"
#include "app/processor_group.h"
#include "app/recs_runtime.h"
#include "app/serve_settings.h"
#include "catalog/story_catalog.h"
#include "core/file_system.h"
#include "gateway/api.h"
#include "http/http_server.h"
#include "lake/maintenance_scheduler.h"
#include "log/embedded_log.h"
#include "log/kafka_log.h"
#include "stream/region_processor.h"

namespace watershed::recs {
class FeatureStore;
class FeatureUpdater;
class LockedFeatureStore;
}  // namespace watershed::recs

namespace watershed::app {

// The live store the settings name (the Redis writes wait for
// settings.wait_replicas replicas).
Result<std::unique_ptr<serve::LiveStore>> OpenLiveStore(const LiveStoreSettings& settings);

class CdcFeedThread;  // server.cc

class Server {
 public:
  // Opens the logs (truncating torn tails), restores checkpoints, starts the
  // processors and the listener, as far as `roles` asks. A split role needs
  // log = kafka://... (the embedded log lives inside one process); processor
  // and query need a Redis live store. `fs` is for durability tests.
  static Result<std::unique_ptr<Server>> Start(const Config& config, FileSystem* fs = FileSystem::Default(),
                                               ServerRoles roles = ServerRoles::AllInOne());
  // The same with the settings parsed (ParseServeSettings for these roles).
  static Result<std::unique_ptr<Server>> Start(const ServeSettings& settings, FileSystem* fs, ServerRoles roles);
  ~Server();
  uint16_t port() const { return http_->port(); }
  // Region r's live store (nullptr: not served or no store here); regions configured alike share one.
  serve::LiveStore* live_store(Region region) const { return region_stores_[static_cast<int>(region)]; }
  // Stops the listener, leaves the consumer groups and drains the logs,
  // writes final checkpoints.
  Status Stop();
  // Of the partitions this process processes.
  uint64_t Lag() const;
  // SIGHUP: rereads the TLS certificate and key and the JWKS file. What fails
  // keeps its previous credentials; the first error is returned.
  Status ReloadCredentials();

 private:
  Server() = default;
  Status OpenLogs(const ServeSettings& settings, FileSystem* fs);
  Status StartProcessing(const ServeSettings& settings, ServerRoles roles, FileSystem* fs);
  void AddProcessorMetrics();
  void AddHealthMetrics();
  void AddCdcMetrics();
  // recs-features: opens the feature store (restoring the embedded one's
  // snapshot) and starts its consumer of this process's logs.
  Status StartFeatureUpdater(const RecsFeatureSettings& settings, FileSystem* fs);
  // /v1/status where the processors run here: every field.
  std::vector<gateway::PartitionReport> Report() const;
  // /v1/status of `watershed query`: the logs' end offsets now, and the live
  // store's progress.
  Result<std::vector<gateway::PartitionReport>> RemoteReport() const;

  MetricsRegistry metrics_;
  std::unique_ptr<trace::Tracer> tracer_;  // null without otlp-endpoint; outlives what exports to it
  int64_t checkpoint_interval_ms_ = 0, lake_commit_interval_ms_ = 0;  // settings the health metrics report
  std::string data_dir_;
  std::vector<std::unique_ptr<serve::LiveStore>> stores_;        // one per distinct live-store[.REGION] setting
  std::array<serve::LiveStore*, kMaxRegions> region_stores_{};   // into stores_; what region r's processors write
  std::unique_ptr<serve::LiveStore> store_;                      // a RegionalLiveStore over them: what the API reads
  std::unique_ptr<LivePeers> live_peers_;                        // a story's totals across the regions' deployments
  std::unique_ptr<catalog::StoryCatalog> catalog_;
  std::unique_ptr<CdcFeedThread> cdc_;   // over catalog_
  std::unique_ptr<keys::KeyRing> keys_;  // encryption = on; outlives checkpoints_ and logs_
  std::vector<std::unique_ptr<ProcessorsLock>> processors_locks_;  // shared, a region each (erasure.h)
  std::unique_ptr<ProcessorsLock> recs_lock_;  // shared, <data-dir>/recs while recs-features runs (erasure.h)
  std::unique_ptr<stream::CheckpointStore> checkpoints_;
  std::array<std::unique_ptr<log::Log>, kMaxRegions> logs_;
  std::array<log::KafkaLog*, kMaxRegions> kafka_logs_{};               // the same logs when they are Kafka
  std::array<std::unique_ptr<lake::RegionLake>, kMaxRegions> lakes_;   // outlive processors_
  std::unique_ptr<lake::MaintenanceScheduler> lake_maintenance_;       // over lakes_
  std::vector<std::unique_ptr<stream::RegionProcessor>> processors_;
  std::vector<std::unique_ptr<ProcessorGroupMember>> members_;  // drive processors_; destroyed first
  std::unique_ptr<recs::FeatureStore> features_;
  std::unique_ptr<recs::LockedFeatureStore> locked_features_;  // features_ shared with recs_
  std::unique_ptr<recs::RegionalTrending> regional_trending_;  // per-region live views, fed by feature_updater_
  std::unique_ptr<recs::FeatureUpdater> feature_updater_;      // over locked_features_ and logs_
  std::unique_ptr<RecsRuntime> recs_;                          // recs-model; over locked_features_
  std::unique_ptr<AuthRuntime> auth_;
  // POST /v1/query and story history; destroyed (its admitted queries
  // answered, threads joined) in Stop, once http_ no longer calls api_.
  std::unique_ptr<gateway::LakeQueries> lake_queries_;
  std::unique_ptr<GovernanceRuntime> governance_;  // governance-file: the policy and the audit log
  std::unique_ptr<Federation> federation_;         // peers: global queries; over governance_
  std::unique_ptr<ErasureRunner> erasure_;         // POST /v1/admin/erasures; runs requests after the answer
  std::unique_ptr<gateway::Api> api_;
  std::unique_ptr<http::HttpServer> http_;
  bool stopped_ = false;
};

}  // namespace watershed::app
