#pragma once
// The settings of `watershed serve` and of the split processes (gateway,
// processor, query serve), parsed once from the configuration (config.h)
// into what each component takes. Every range check and its message lives
// here, and every role parses every key, so a bad value stops any process
// before it opens a log or a listener.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "app/auth_setup.h"
#include "app/config.h"
#include "cdc/catalog_feed.h"
#include "core/event.h"
#include "gateway/api.h"
#include "http/http_server.h"
#include "lake/iceberg_maintenance.h"
#include "lake/lake_sink.h"
#include "log/embedded_log.h"
#include "serve/redis_connection.h"
#include "stream/region_processor.h"
#include "trace/tracer.h"

namespace watershed::app {

// What one process runs.
struct ServerRoles {
  enum class Processing {
    kNone,
    kAllPartitions,  // every partition of every served region (all-in-one)
    kGroup,          // the partitions its Kafka consumer group gives it
  };
  const char* command = "serve";  // names the process in errors
  bool ingest = true;             // POST /v1/events into the logs
  bool query = true;              // reads from the live store
  Processing processing = Processing::kAllPartitions;

  static ServerRoles AllInOne() { return {}; }
  static ServerRoles Gateway() { return {"gateway", true, false, Processing::kNone}; }
  static ServerRoles Processor() { return {"processor", false, false, Processing::kGroup}; }
  static ServerRoles Query() { return {"query serve", false, true, Processing::kNone}; }
  bool all_in_one() const { return ingest && query && processing == Processing::kAllPartitions; }
  bool processes() const { return processing != Processing::kNone; }
  bool uses_live_store() const { return query || processes(); }
};

struct LogSettings {
  bool kafka = false;              // log = kafka://BROKERS; else the embedded log
  std::string kafka_brokers;       // BROKER[,BROKER...]
  // log = kafka-mock://BROKERS: librdkafka's mock cluster (`watershed
  // kafka-mock`), whose topics keep CreateTime: the LogAppendTime checks of
  // the Kafka log are skipped (log::KafkaLogOptions::accept_create_time).
  bool kafka_accept_create_time = false;
  std::string kafka_topic_prefix;  // a region's topic is <prefix>.<region>
  // kafka-property.NAME = VALUE: librdkafka properties for every client.
  std::vector<std::pair<std::string, std::string>> kafka_properties;
  std::string embedded_root;       // a region's embedded log lives in <root>/<region>
  // dir and fs are the caller's; `partitions` also sizes the Kafka topics.
  log::EmbeddedLogOptions embedded;
};

struct LiveStoreSettings {
  enum class Kind { kMemory, kRedis, kRedisCluster };
  Kind kind = Kind::kMemory;
  std::string spec;                        // as configured, for messages
  std::string redis_host;                  // kRedis
  uint16_t redis_port = 0;                 // kRedis
  std::vector<std::string> cluster_seeds;  // kRedisCluster: HOST:PORT each
  std::string prefix;
  int wait_replicas = 0;  // 0..16
  serve::RedisSecurity auth;  // redis-auth-file
};

struct ProcessorSettings {
  stream::RunnerOptions runner;               // `lake` is left null: the server opens the lakes
  std::string checkpoint_dir;                 // resolved: <data-dir>/checkpoints unless set
  int64_t kafka_session_timeout_ms = 10'000;  // consumer groups (processing = kGroup)
};

struct LakeSettings {
  bool on = true;
  std::string root;  // resolved: <data-dir>/lake unless set
  lake::LakeSinkOptions sink;
  int64_t maintenance_interval_ms = 0;  // 0: no maintenance in this process
  lake::MaintenanceSchedule maintenance;
  int64_t compact_check_ms = 60'000;  // compaction by need (0: only in the rounds)
  size_t compact_min_files = 32;
};

// The recommendations' feature store and its consumer of the logs
// (recs/feature_updater.h), run by `watershed serve` (the process that reads
// every partition); other roles ignore these keys.
struct RecsFeatureSettings {
  enum class Kind { kOff, kEmbedded, kRedis, kRedisCluster };
  Kind kind = Kind::kOff;
  std::string spec;                        // as configured, for messages
  std::string redis_host;                  // kRedis
  uint16_t redis_port = 0;                 // kRedis
  std::vector<std::string> cluster_seeds;  // kRedisCluster
  std::string prefix = "wsf";
  serve::RedisSecurity auth;  // redis-auth-file
  uint64_t max_viewers = 1'000'000;
  std::string snapshot_path;  // kEmbedded: <data-dir>/recs/features.snap
  int64_t snapshot_interval_ms = 60'000;
};

// GET /v1/users/{id}/recommendations (recs/serving.h, app/recs_runtime.h), served by `watershed serve` from the
// model registry and the feature store (recs-features); other roles ignore these keys.
struct RecsServeSettings {
  std::string model;             // recs-model: the registry name served (its current version); empty: off
  std::string registry_root;     // <data-dir>/models
  std::string rules_path;        // recs-rules: the rules file (rules.h), reloaded on change; empty: none
  int64_t refresh_ms = 10'000;   // recs-refresh: how often the current version, the rules and the pool are checked
  std::string experiments_path;  // recs-experiments: the A/B experiments file, reloaded on change; empty: none
  std::string exposures_dir;     // <data-dir>/recs/exposures (what `recs experiment report` reads)
  std::string coview_lake_root;  // recs-coviews = lake: the lake root whose events give co-viewed items; empty: off
  int64_t coview_refresh_ms = 3'600'000;  // recs-coviews-refresh
};

// The catalogue feed (cdc/catalog_feed.h), run when cdc-conninfo is set.
struct CdcSettings {
  bool on = false;
  cdc::CatalogFeedOptions feed;  // state_dir: <catalog-dir>/cdc
};

// `query-threads`: 1..256, 0 = one per core.
Result<int> QueryThreadsOf(const Config& config);

// What the lake's CLI commands (`watershed sql`, `watershed audit`) read: `root` (their --root) when given, else
// the lake-root setting, else <data-dir>/lake; `region` (their --region) when given, else the first of `regions`.
std::string LakeRootOf(const Config& config, const std::string& root);
std::string RegionNameOf(const Config& config, const std::string& region);

// Encryption at rest (docs/encryption.md): checkpoints, cold stores, log segments and lake files.
struct EncryptionSettings {
  bool on = false;
  std::string keys_dir;     // resolved: <data-dir>/keys unless set
  std::string key_command;  // empty: the local key files
};

struct GatewaySettings {
  gateway::ApiOptions api;
  http::HttpServerOptions server;
  int query_concurrency = 2;  // lake queries admitted at once (query-concurrency)
  int64_t query_memory_bytes = 1ll << 30;  // query-memory
  int64_t query_timeout_ms = 60'000;       // query-timeout
  int query_threads = 1;                   // query-threads (0 in the settings: one per core)
};

// Global queries across regions' deployments (docs/query.md "Global queries"): the peers, one per other region,
// and the shared service credential the deployments present to each other.
struct FederationSettings {
  struct Peer {
    Region region = Region::kUs;
    std::string url;  // as configured: http://HOST:PORT
    std::string host;
    uint16_t port = 0;
  };
  std::vector<Peer> peers;
  std::string token_file;                          // peer-token-file; empty: no fragment endpoint
  int64_t timeout_ms = 10'000;                     // peer-timeout: each peer call
  int64_t live_timeout_ms = 1'000;                 // peer-live-timeout: each call for a story's live totals
  int64_t max_response_bytes = int64_t{16} << 20;  // a fragment's answer at most
};

// `peers = us=http://127.0.0.1:8081,apac=http://...`: known regions, http URLs with a host and a port, no region
// twice and not `own` (the process's region).
Result<std::vector<FederationSettings::Peer>> ParsePeers(const std::string& text, Region own);

struct ServeSettings {
  std::string data_dir;
  std::string catalog_dir;      // resolved: <data-dir>/catalog unless set
  std::vector<Region> regions;  // served here, as listed
  LogSettings log;
  LiveStoreSettings live_store;  // live-store: the default of every region
  // Each region's store: live-store.REGION, else live_store (docs/live_store.md "One store per region").
  std::array<LiveStoreSettings, kMaxRegions> region_live_stores;
  ProcessorSettings processor;
  LakeSettings lake;
  EncryptionSettings encryption;
  CdcSettings cdc;
  RecsFeatureSettings recs_features;
  RecsServeSettings recs_serve;
  AuthSettings auth;
  GatewaySettings gateway;
  trace::TracerOptions trace;  // endpoint empty: no tracing
  // dev-token-mint: POST /v1/dev/token mints creator tokens for anyone
  // (development only); refused unless auth is on with an HS256 secret.
  bool dev_token_mint = false;
  std::string governance_file;  // empty: no policy, no audit (docs/governance.md)
  FederationSettings federation;
};

// kInvalidArgument naming the key for a bad value, and for what `roles`
// cannot run on (a split role on the embedded log or a memory live store).
Result<ServeSettings> ParseServeSettings(const Config& config, ServerRoles roles = ServerRoles::AllInOne());
// The items of a comma-separated setting ("us,eu").
std::vector<std::string> SplitList(const std::string& list);

}  // namespace watershed::app
