#include "app/server.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "app/lake_keys.h"
#include "app/token_minter.h"
#include "lake/maintenance_scheduler.h"
#include "recs/experiments.h"
#include "recs/feature_store_redis.h"
#include "recs/feature_updater.h"
#include "recs/locked_feature_store.h"
#include "serve/redis_cluster_client.h"
#include "serve/redis_live_store.h"
#include "serve/redis_node_client.h"
#include "serve/regional_live_store.h"
#include "web/web_files.h"

namespace {
// How soon a process sees catalogue changes another process made (a split
// deployment shares the directory).
constexpr int64_t kCatalogRefreshMs = 1000;
}  // namespace

namespace watershed::app {

namespace {

// A wrong redis-auth-file stops the start with Redis's refusal; an
// unreachable Redis does not (the store retries until it is back).
Status CheckRedisAuth(const LiveStoreSettings& settings, int timeout_ms) {
  if (!settings.auth.any()) return Status::Ok();
  Status s;
  if (settings.kind == LiveStoreSettings::Kind::kRedis) {
    auto client = serve::ConnectRedisNode(settings.redis_host, settings.redis_port, timeout_ms, settings.auth);
    if (!client.ok()) s = client.status();
  } else if (settings.kind == LiveStoreSettings::Kind::kRedisCluster) {
    serve::RedisClusterOptions cluster;
    cluster.seeds = settings.cluster_seeds;
    cluster.auth = settings.auth;
    auto client = serve::RedisClusterClient::Connect(cluster);
    if (!client.ok()) s = client.status();
  }
  if (s.code() == StatusCode::kFailedPrecondition) return Status::FailedPrecondition("live-store: " + s.message());
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<serve::LiveStore>> OpenLiveStore(const LiveStoreSettings& settings) {
  serve::RedisLiveStoreOptions options;
  options.prefix = settings.prefix;
  options.wait_replicas = settings.wait_replicas;
  constexpr int kTimeoutMs = 2000;
  RETURN_IF_ERROR(CheckRedisAuth(settings, kTimeoutMs));
  switch (settings.kind) {
    case LiveStoreSettings::Kind::kMemory:
      return serve::NewMemoryLiveStore();
    case LiveStoreSettings::Kind::kRedis:
      return std::unique_ptr<serve::LiveStore>(
          serve::NewRedisNodeLiveStore(settings.redis_host, settings.redis_port, kTimeoutMs, options, settings.auth));
    case LiveStoreSettings::Kind::kRedisCluster: {
      serve::RedisClusterOptions cluster;
      cluster.seeds = settings.cluster_seeds;
      cluster.io_timeout = std::chrono::milliseconds(kTimeoutMs);
      cluster.auth = settings.auth;
      auto factory = [cluster]() -> Result<std::unique_ptr<serve::RedisClient>> {
        ASSIGN_OR_RETURN(auto client, serve::RedisClusterClient::Connect(cluster));
        return std::unique_ptr<serve::RedisClient>(std::move(client));
      };
      return std::unique_ptr<serve::LiveStore>(std::make_unique<serve::RedisLiveStore>(factory, options));
    }
  }
  return Status::Internal("live-store: unknown kind");
}

namespace {

// With fewer replicas connected than live-store-wait-replicas, every write
// waits out its WAIT and is retried until enough connect: processing stalls
// without failing, so say why at start.
void WarnOnMissingReplicas(serve::LiveStore* store, const LiveStoreSettings& settings) {
  auto* redis = dynamic_cast<serve::RedisLiveStore*>(store);
  if (redis == nullptr || settings.wait_replicas == 0) return;
  auto found = redis->ConnectedReplicas();
  if (!found.ok()) {
    std::fprintf(stderr, "watershed: warning: live-store-wait-replicas is %d; cannot count the replicas of %s: %s\n",
                 settings.wait_replicas, settings.spec.c_str(), found.status().ToString().c_str());
  } else if (*found < settings.wait_replicas) {
    std::fprintf(stderr,
                 "watershed: warning: live-store-wait-replicas is %d but %s has %d connected replica(s) (INFO "
                 "replication); writes wait and are retried until enough replicas connect\n",
                 settings.wait_replicas, settings.spec.c_str(), *found);
  }
}

// A Redis store shared by processes carries region ids in its fields: all of them must order region-names alike
// (RedisLiveStore::PinRegionNames). A store down at start is not checked (the processors republish when it is back).
Status PinRegionNamesIn(serve::LiveStore* store, const LiveStoreSettings& settings) {
  auto* redis = dynamic_cast<serve::RedisLiveStore*>(store);
  if (redis == nullptr) return Status::Ok();
  Status s = redis->PinRegionNames(RegionNamesText(","));
  if (s.ok() || s.code() == StatusCode::kFailedPrecondition) return s;
  std::fprintf(stderr, "watershed: warning: cannot check region-names against %s: %s\n", settings.spec.c_str(),
               s.ToString().c_str());
  return Status::Ok();
}

}  // namespace

// Runs the catalogue feed on a thread of its own: starts it, steps it, and
// after any error (the slot busy because another process of the deployment
// holds it, a lost connection) starts a new one after a pause. The slot,
// the lake's guards and the catalogue's source positions make a restart
// lose and double nothing (docs/cdc.md). Counters add up across restarts.
class CdcFeedThread {
 public:
  CdcFeedThread(cdc::CatalogFeedOptions options, catalog::StoryCatalog* catalog, FileSystem* fs, std::string lake_root)
      : options_(std::move(options)), catalog_(catalog), fs_(fs), lake_root_(std::move(lake_root)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~CdcFeedThread() { Stop(); }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  std::atomic<uint64_t> lag_bytes{0}, transactions{0}, rows_landed{0}, rows_applied{0}, rows_dead_lettered{0};
  std::atomic<bool> running{false};  // a feed holds the slot

 private:
  static constexpr auto kRetry = std::chrono::seconds(5);
  static constexpr auto kStep = std::chrono::milliseconds(500);

  // Waits `d` unless stopped first; returns whether to go on.
  bool Pause(std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> lock(mu_);
    return !cv_.wait_for(lock, d, [this] { return stop_; });
  }
  bool stopping() {
    std::lock_guard<std::mutex> lock(mu_);
    return stop_;
  }
  // Each distinct error once, so a busy slot does not flood the log.
  void Report(const Status& s) {
    if (s.message() == last_error_) return;
    last_error_ = s.message();
    std::fprintf(stderr, "watershed: cdc feed (%s): %s; retrying every %llds\n", options_.table.c_str(),
                 s.ToString().c_str(), static_cast<long long>(kRetry.count()));
  }
  void Publish(const cdc::CatalogFeed& feed) {
    const cdc::CatalogFeedCounters& c = feed.counters();
    lag_bytes = c.lag_bytes.load();
    transactions = base_[0] + c.transactions.load();
    rows_landed = base_[1] + c.rows_landed.load();
    rows_applied = base_[2] + c.rows_applied.load();
    rows_dead_lettered = base_[3] + c.rows_dead_lettered.load();
  }

  void Run() {
    std::unique_ptr<cdc::CatalogFeed> feed;
    while (!stopping()) {
      if (!feed) {
        Result<std::unique_ptr<cdc::CatalogFeed>> started =
            cdc::CatalogFeed::Start(options_, catalog_, fs_, lake_root_);
        if (!started.ok()) {
          Report(started.status());
          if (!Pause(kRetry)) break;
          continue;
        }
        feed = std::move(started).value();
        base_ = {transactions.load(), rows_landed.load(), rows_applied.load(), rows_dead_lettered.load()};
        running = true;
        last_error_.clear();
      }
      Status s = feed->Step(kStep);
      Publish(*feed);
      if (!s.ok()) {
        Report(s);
        feed.reset();  // unconfirmed work comes again to the next feed
        running = false;
        if (!Pause(kRetry)) break;
      }
    }
    if (feed) feed->Stop().IgnoreError();
    running = false;
  }

  const cdc::CatalogFeedOptions options_;
  catalog::StoryCatalog* const catalog_;
  FileSystem* const fs_;
  const std::string lake_root_;
  std::array<uint64_t, 4> base_{};
  std::string last_error_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;  // last: starts once the rest is initialised
};

Result<std::unique_ptr<Server>> Server::Start(const Config& config, FileSystem* fs, ServerRoles roles) {
  ASSIGN_OR_RETURN(ServeSettings settings, ParseServeSettings(config, roles));
  return Start(settings, fs, roles);
}

namespace {

// Region ids are stored in a data dir (log record headers, checkpoints, the
// lake sink's minute rows), so its `region-names` file pins them: a later
// start must list the same names first, in the same order.
Status PinRegionNames(FileSystem* fs, const std::string& data_dir, const std::string& checkpoint_dir) {
  const std::string path = JoinPath(data_dir, "region-names");
  const std::string current = RegionNamesText(",");
  std::string stored;
  if (fs->FileExists(path)) {
    ASSIGN_OR_RETURN(stored, ReadWholeFile(fs, path));
    while (!stored.empty() && stored.back() == '\n') stored.pop_back();
  } else if (fs->FileExists(JoinPath(data_dir, "log")) || fs->FileExists(checkpoint_dir)) {
    stored = "us,eu,apac";  // written before region names were configuration
  }
  if (!stored.empty()) {
    if (stored == current) return Status::Ok();
    if (!current.starts_with(stored + ","))
      return Status::FailedPrecondition(
          "region-names = " + current + " does not keep the regions of data dir " + data_dir + " (" + stored +
          ") in their places: region ids are stored in its log records, checkpoints and lake sink state, so list "
          "them first, in that order, and append new regions after them");
  }
  RETURN_IF_ERROR(CreateDirsDurably(fs, data_dir));
  return WriteFileAtomically(fs, path, current + "\n");
}

}  // namespace

Result<std::unique_ptr<Server>> Server::Start(const ServeSettings& settings, FileSystem* fs, ServerRoles roles) {
  std::unique_ptr<Server> s(new Server());
  if (!settings.log.kafka || roles.processes())
    RETURN_IF_ERROR(PinRegionNames(fs, settings.data_dir, settings.processor.checkpoint_dir));
  if (roles.uses_live_store()) {
    // One store per served region (docs/live_store.md "One store per region"); regions whose settings name the
    // same store share one (one Redis key space keeps each region's parts apart).
    std::vector<const LiveStoreSettings*> opened;
    for (Region region : settings.regions) {
      const LiveStoreSettings& want = settings.region_live_stores[static_cast<int>(region)];
      // Memory stores are never shared: each region keeps its own.
      size_t i = 0;
      while (i < opened.size() && !(want.kind != LiveStoreSettings::Kind::kMemory && opened[i]->spec == want.spec)) ++i;
      if (i == opened.size()) {
        ASSIGN_OR_RETURN(auto store, OpenLiveStore(want));
        if (roles.processes()) WarnOnMissingReplicas(store.get(), want);
        RETURN_IF_ERROR(PinRegionNamesIn(store.get(), want));
        s->stores_.push_back(std::move(store));
        opened.push_back(&want);
      }
      s->region_stores_[static_cast<int>(region)] = s->stores_[i].get();
    }
    s->store_ = std::make_unique<serve::RegionalLiveStore>(s->region_stores_);
  }
  if (!settings.trace.endpoint.empty()) {
    ASSIGN_OR_RETURN(s->tracer_, trace::Tracer::Start(settings.trace));
    trace::Tracer* t = s->tracer_.get();
    s->metrics_.AddCounterFunc("watershed_trace_spans_exported_total", "Spans the OTLP collector accepted",
                               [t] { return static_cast<double>(t->exported()); });
    s->metrics_.AddCounterFunc("watershed_trace_spans_dropped_total",
                               "Spans dropped: the export queue was full or the collector failed",
                               [t] { return static_cast<double>(t->dropped()); });
  }
  if (settings.encryption.on) {  // before the logs: their segments are sealed too
    std::vector<std::string> regions;
    for (Region r : settings.regions) regions.emplace_back(RegionName(r));
    ASSIGN_OR_RETURN(s->keys_,
                     keys::KeyRing::Open(settings.encryption.keys_dir, settings.encryption.key_command, regions));
    UseLakeKeys(settings.lake.root, s->keys_.get());  // lake files: the sink, maintenance and queries
  }
  RETURN_IF_ERROR(s->OpenLogs(settings, fs));
  ASSIGN_OR_RETURN(s->catalog_, catalog::StoryCatalog::Open(fs, settings.catalog_dir));
  s->catalog_->Follow(kCatalogRefreshMs);
  if (settings.cdc.on) {
    s->cdc_ = std::make_unique<CdcFeedThread>(settings.cdc.feed, s->catalog_.get(), fs, settings.lake.root);
  }
  if (roles.processes()) RETURN_IF_ERROR(s->StartProcessing(settings, roles, fs));
  if (roles.processing == ServerRoles::Processing::kAllPartitions) {
    if (settings.recs_features.kind != RecsFeatureSettings::Kind::kOff) {
      // Held while this process owns the feature snapshot and the exposure logs (`watershed erase` waits for it).
      ASSIGN_OR_RETURN(s->recs_lock_, ProcessorsLock::Shared(JoinPath(settings.data_dir, "recs")));
    }
    RETURN_IF_ERROR(s->StartFeatureUpdater(settings.recs_features, fs));
    if (!settings.recs_serve.model.empty() && s->locked_features_) {
      ASSIGN_OR_RETURN(s->recs_, RecsRuntime::Start(settings.recs_serve, fs, s->locked_features_.get(), &s->metrics_,
                                                    Clock::Real(), s->regional_trending_.get(), s->catalog_.get()));
    }
  }

  gateway::ApiDeps deps;
  deps.catalog = s->catalog_.get();
  if (roles.ingest)
    for (int r = 0; r < RegionCount(); ++r) deps.logs[r] = s->logs_[r].get();
  if (roles.query) deps.store = s->store_.get();
  deps.metrics = &s->metrics_;
  deps.tracer = s->tracer_.get();
  Server* self = s.get();
  if (roles.processes()) {
    deps.status = [self]() -> Result<std::vector<gateway::PartitionReport>> { return self->Report(); };
  } else if (roles.query) {
    deps.status = [self] { return self->RemoteReport(); };
  }
  if (s->cdc_) {
    deps.catalog_feed = [feed = s->cdc_.get()] {
      return gateway::CatalogFeedReport{feed->running.load(), feed->lag_bytes.load(), feed->transactions.load(),
                                        feed->rows_dead_lettered.load()};
    };
  }
  if (roles.query) {
    gateway::LakeQueryOptions q;
    q.fs = fs;
    q.root = settings.lake.root;
    q.region = settings.regions.empty() ? Region::kUs : settings.regions.front();
    q.regions = settings.regions;
    q.max_running = settings.gateway.query_concurrency;
    q.max_memory_bytes = settings.gateway.query_memory_bytes;
    q.timeout_ms = settings.gateway.query_timeout_ms;
    q.threads = settings.gateway.query_threads;
    s->lake_queries_ = std::make_unique<gateway::LakeQueries>(std::move(q));
    deps.lake_queries = s->lake_queries_.get();
    if (!settings.governance_file.empty()) {
      // A policy with an error refuses the start (the message is "PATH:LINE:COLUMN: ...").
      const std::string region(RegionName(settings.regions.empty() ? Region::kUs : settings.regions.front()));
      ASSIGN_OR_RETURN(s->governance_, GovernanceRuntime::Start(fs, settings.governance_file, settings.data_dir,
                                                                settings.lake.root, region, /*flusher=*/true));
      deps.policy = &s->governance_->policy();
      deps.audit = s->governance_->audit();
      deps.audit_region = region;
      if (!settings.federation.token_file.empty()) {
        // Global queries: this region's deployment and its peers (docs/query.md "Global queries").
        ASSIGN_OR_RETURN(s->federation_,
                         Federation::Start(settings.federation, settings.regions.front(), s->governance_->policy(),
                                           s->governance_->audit(), fs, settings.lake.root, settings.auth.on));
        deps.global_query = [f = s->federation_.get()](const query::Statement& st, const query::Catalog& catalog,
                                                       std::optional<Region> caller_region,
                                                       const query::ExecLimits& limits,
                                                       std::vector<std::string>* touched) {
          return f->RunGlobal(st, catalog, caller_region, limits, touched);
        };
        const gateway::LakeQueryOptions& o = s->lake_queries_->options();
        deps.query_fragment = [f = s->federation_.get(), memory = o.max_memory_bytes, timeout = o.timeout_ms,
                               threads = o.threads](const http::HttpRequest& req) {
          query::ExecLimits limits;
          limits.max_memory_bytes = memory;
          limits.threads = threads;
          if (timeout > 0) limits.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout);
          return f->ServeFragment(req, limits);
        };
        deps.query_fragment_auth = [f = s->federation_.get()](const http::HttpRequest& req) {
          return f->CheckCredential(req);
        };
        if (s->store_) {
          // A story's live totals: this region's store and the peers' (docs/api.md).
          s->live_peers_ = std::make_unique<LivePeers>(settings.federation.peers, s->federation_->peer_token(),
                                                       settings.federation.live_timeout_ms, s->store_.get());
          deps.peer_story = [p = s->live_peers_.get()](const http::HttpRequest& req, StoryId story) {
            return p->Serve(req, story);
          };
        }
      }
    }
    ErasurePaths erasure_paths = ErasurePathsOf(settings);
    erasure_paths.checkpoint_keys = s->keys_.get();
    if (s->feature_updater_) {  // this process owns the feature store: erased through its updater
      recs::FeatureUpdater* updater = s->feature_updater_.get();
      recs::FeatureStore* features = s->locked_features_.get();
      erasure_paths.feature_store =
          FeatureStoreHandle{"recs-features " + settings.recs_features.spec,
                             [updater](uint64_t viewer) { return updater->EraseViewer(viewer); },
                             [features](uint64_t viewer) { return features->HoldsViewer(viewer); }};
    }
    if (roles.processing == ServerRoles::Processing::kAllPartitions) {  // its processors' state, while they run
      erasure_paths.erase_processor_state =
          [self = s.get()](Region region, uint64_t viewer) -> Result<stream::PartitionProcessor::ErasedViewer> {
        for (const auto& proc : self->processors_)
          if (proc->region() == region)
            return proc->EraseViewer(ViewerId(viewer), std::chrono::steady_clock::now() + std::chrono::seconds(10));
        return Status::FailedPrecondition("this server runs no processors of " + std::string(RegionName(region)));
      };
    }
    if (s->recs_lock_) {  // and its exposure logs: through its writers when it serves, else the files directly
      erasure_paths.erase_exposures = [rt = s->recs_.get(), fs,
                                       dir = settings.recs_serve.exposures_dir](uint64_t viewer) {
        return rt ? rt->EraseUserExposures(viewer) : recs::EraseUserExposures(fs, dir, viewer);
      };
    }
    s->erasure_ = std::make_unique<ErasureRunner>(fs, std::move(erasure_paths), Clock::Real());
    deps.erase = [e = s->erasure_.get()](uint64_t viewer, const std::string& by) { return e->Request(viewer, by); };
  }
  if (s->store_ && roles.query) {
    // Every region's part of a story: the local stores', and the peers' when there are peers.
    deps.story_across_regions = [store = s->store_.get(),
                                 peers = s->live_peers_.get()](StoryId story) -> Result<gateway::StoryAcrossRegions> {
      if (peers) return peers->Gather(story);
      gateway::StoryAcrossRegions out;
      ASSIGN_OR_RETURN(out.parts, store->GetStoryRegions(story));
      return out;
    };
  }
  ASSIGN_OR_RETURN(s->auth_, AuthRuntime::Start(settings.auth, fs));
  if (s->recs_) {
    deps.recommendations = [rt = s->recs_.get()](uint64_t user, std::optional<Region> region, uint32_t k,
                                                 bool explain) { return rt->Answer(user, region, k, explain); };
  }
  if (s->auth_) deps.verifier = s->auth_->verifier();
  if (roles.query) deps.pages = web::Files();  // the pages read the live store and /v1/status
  if (settings.dev_token_mint) {
    ASSIGN_OR_RETURN(std::string secret, ResolveHs256Secret(settings.auth.keys, fs, SecretMissing::kCreate));
    if (secret.empty()) return Status::InvalidArgument("dev-token-mint = on needs the server's own HS256 secret");
    auto minter = std::make_shared<TokenMinter>(std::move(secret), settings.auth.verifier.issuer,
                                                settings.auth.verifier.audience);
    deps.mint_dev_token = [minter](uint64_t creator, Region region) {
      return minter->Mint(creator, region, auth::RoleSet(static_cast<uint8_t>(auth::Role::kCreator)));
    };
    std::fprintf(stderr,
                 "watershed: dev-token-mint is on: anyone reaching this server can mint a creator token "
                 "(POST /v1/dev/token); development only\n");
  }
  s->api_ = std::make_unique<gateway::Api>(std::move(deps), settings.gateway.api);
  if (roles.processes()) s->AddProcessorMetrics();
  if (s->cdc_) s->AddCdcMetrics();

  gateway::Api* api = s->api_.get();
  http::HttpServerOptions server_options = settings.gateway.server;
  server_options.metrics = &s->metrics_;
  server_options.header_check = [api](http::HttpRequest& head) { return api->CheckHeader(head); };
  ASSIGN_OR_RETURN(s->http_, http::HttpServer::Start(server_options,
                                                     [api](http::HttpRequest&& req, http::Responder respond) {
                                                       api->Handle(std::move(req), std::move(respond));
                                                     }));
  return s;
}

Status Server::OpenLogs(const ServeSettings& settings, FileSystem* fs) {
  const LogSettings& l = settings.log;
  // log-partition-scheme=auto: a region log created in a data dir whose other
  // region logs exist takes their scheme, so one data dir holds one scheme
  // (`watershed load --verify` and the lake assume it).
  std::optional<PartitionScheme> data_dir_scheme = l.embedded.partition_scheme;
  for (int r = 0; r < RegionCount() && !l.kafka && !data_dir_scheme; ++r) {
    ASSIGN_OR_RETURN(auto meta, log::EmbeddedLog::ReadMeta(
                                    fs, JoinPath(l.embedded_root, std::string(RegionName(static_cast<Region>(r))))));
    if (meta) data_dir_scheme = meta->scheme;
  }
  for (Region region : settings.regions) {
    const int r = static_cast<int>(region);
    const std::string name(RegionName(region));
    if (!l.kafka) {
      log::EmbeddedLogOptions options = l.embedded;
      options.dir = JoinPath(l.embedded_root, name);
      options.fs = fs;
      options.keys = keys_ ? keys_->For(name) : nullptr;
      // A region log that exists keeps its own LOG_META's scheme.
      if (auto own = log::EmbeddedLog::ReadMeta(fs, options.dir); own.ok() && !*own && !options.partition_scheme)
        options.partition_scheme = data_dir_scheme;
      ASSIGN_OR_RETURN(logs_[r], log::EmbeddedLog::Open(options));
      continue;
    }
    // One topic per region, <kafka-topic-prefix>.<region>, with `partitions` partitions.
    log::KafkaLogOptions options;
    options.brokers = l.kafka_brokers;
    options.topic = l.kafka_topic_prefix + "." + name;
    options.region = region;  // a record of another region id: processes list region-names in other orders
    options.partitions = l.embedded.partitions;
    options.partition_scheme = l.embedded.partition_scheme.value_or(PartitionScheme::kAligned);
    options.accept_create_time = l.kafka_accept_create_time;
    options.extra_config = l.kafka_properties;
    ASSIGN_OR_RETURN(auto log, log::KafkaLog::Open(options));
    kafka_logs_[r] = log.get();
    logs_[r] = std::move(log);
  }
  return Status::Ok();
}

Status Server::StartProcessing(const ServeSettings& settings, ServerRoles roles, FileSystem* fs) {
  const ProcessorSettings& p = settings.processor;
  const LakeSettings& lake = settings.lake;
  stream::RunnerOptions run = p.runner;
  run.tracer = tracer_.get();
  checkpoint_interval_ms_ = run.checkpoint_interval_ms;
  lake_commit_interval_ms_ = run.lake_commit_interval_ms;
  data_dir_ = settings.data_dir;
  run.catalog = catalog_.get();
  run.visible_seconds = metrics_.AddHistogram(
      "watershed_append_to_visible_seconds",
      "Per record: from its append to the log (its acknowledgement) to the live-store write that made it visible");
  run.checkpoint_seconds = metrics_.AddHistogram("watershed_checkpoint_duration_seconds",
                                                 "Checkpoint duration (state, cold store, lake files, save)");
  checkpoints_ = std::make_unique<stream::CheckpointStore>(fs, p.checkpoint_dir, keys_.get());
  for (int r = 0; r < RegionCount(); ++r) {
    if (!logs_[r]) continue;
    const auto region = static_cast<Region>(r);
    // Held while this process may run the region's processors: `watershed erase` leaves their state alone.
    ASSIGN_OR_RETURN(auto held, ProcessorsLock::Shared(checkpoints_->RegionDir(region)));
    processors_locks_.push_back(std::move(held));
    if (lake.on) {
      ASSIGN_OR_RETURN(lakes_[r], lake::RegionLake::Open(fs, lake.root, region, lake.sink));
      run.lake = lakes_[r].get();
    }
    auto proc =
        std::make_unique<stream::RegionProcessor>(region, logs_[r].get(), region_stores_[r], checkpoints_.get(), run);
    if (roles.processing == ServerRoles::Processing::kAllPartitions) {
      RETURN_IF_ERROR(proc->Start());
    } else {
      // One group per region topic; its members share the partitions.
      log::KafkaGroupOptions group;
      group.brokers = settings.log.kafka_brokers;
      group.topic = settings.log.kafka_topic_prefix + "." + std::string(RegionName(region));
      group.group_id = group.topic + ".processors";
      group.extra_config = settings.log.kafka_properties;
      group.session_timeout_ms = static_cast<int>(p.kafka_session_timeout_ms);
      group.heartbeat_interval_ms = static_cast<int>(std::max<int64_t>(100, p.kafka_session_timeout_ms / 10));
      ASSIGN_OR_RETURN(auto member, ProcessorGroupMember::Start(group, proc.get()));
      members_.push_back(std::move(member));
    }
    processors_.push_back(std::move(proc));
  }
  if (lake.on && lake.maintenance_interval_ms > 0) {
    lake::MaintenanceSchedulerOptions maintenance;
    maintenance.fs = fs;
    maintenance.root = lake.root;
    for (const auto& open : lakes_)
      if (open) maintenance.regions.push_back(open->region());
    maintenance.interval_ms = lake.maintenance_interval_ms;
    maintenance.schedule = lake.maintenance;
    if (!settings.governance_file.empty()) {  // the regions' retention overrides
      ASSIGN_OR_RETURN(gov::Policy policy, gov::LoadPolicy(fs, settings.governance_file));
      for (int r = 0; r < RegionCount(); ++r) maintenance.schedule.keep_days[r] = policy.regions[r].retention_days;
    }
    maintenance.compact_check_ms = lake.compact_check_ms;
    maintenance.compact_min_files = lake.compact_min_files;
    lake_maintenance_ = std::make_unique<lake::MaintenanceScheduler>(std::move(maintenance));
    lake_maintenance_->Start();
  }
  return Status::Ok();
}

void Server::AddProcessorMetrics() {
  auto& m = metrics_;
  // Over the owned partitions (gauges), or also over the partitions this
  // process released (totals: they never go down when a partition moves).
  auto sum = [this](auto field, bool total) {
    return [this, field, total] {
      double n = 0;
      for (const auto& proc : processors_) {
        for (const auto& s : proc->GetStatus()) n += static_cast<double>(field(s));
        if (total) n += static_cast<double>(field(proc->Released()));
      }
      return n;
    };
  };
  using S = stream::PartitionStatus;
  m.AddCounterFunc("watershed_processed_records_total", "Log records processed (duplicates included)",
                   sum([](const S& s) { return s.counters.records; }, true));
  m.AddCounterFunc("watershed_duplicate_events_total", "Records dropped as duplicates of an earlier event_id",
                   sum([](const S& s) { return s.counters.duplicates; }, true));
  m.AddCounterFunc("watershed_late_events_total", "Events too late for their window (counted in totals only)",
                   sum([](const S& s) { return s.counters.late[0]; }, true), "window=\"5s\"");
  m.AddCounterFunc("watershed_late_events_total", "Events too late for their window (counted in totals only)",
                   sum([](const S& s) { return s.counters.late[1]; }, true), "window=\"1m\"");
  m.AddGauge("watershed_lag_records", "Acknowledged records not yet in the live store",
             [this] { return static_cast<double>(Lag()); });
  m.AddGauge("watershed_dedup_entries", "Event ids retained for deduplication",
             sum([](const S& s) { return s.dedup_entries; }, false));
  auto partition_sum = [&sum](uint64_t S::*field, bool total) {
    return sum([field](const S& s) { return s.*field; }, total);
  };
  m.AddCounterFunc("watershed_lake_rows_committed_total", "Rows this process committed to the lake's tables",
                   partition_sum(&S::lake_rows, true));
  m.AddCounterFunc("watershed_lake_refused_rows_total", "Rows the lake refused: their region is not the lake's",
                   partition_sum(&S::lake_refused_rows, true));
  m.AddGauge("watershed_resident_stories", "Stories in processor memory", partition_sum(&S::resident_stories, false));
  m.AddGauge("watershed_cold_stories", "Stories evicted for idleness to the cold stores",
             partition_sum(&S::cold_stories, false));
  m.AddGauge("watershed_cold_store_bytes", "Bytes of the cold store files", partition_sum(&S::cold_bytes, false));
  m.AddCounterFunc("watershed_evicted_stories_total", "Stories evicted for idleness by this process",
                   partition_sum(&S::evicted_stories, true));
  m.AddCounterFunc("watershed_reloaded_stories_total", "Cold stories brought back by an event",
                   partition_sum(&S::reloaded_stories, true));
  AddHealthMetrics();
}

// What the alert rules watch (deploy/prometheus/alerts.yml), per region.
void Server::AddHealthMetrics() {
  auto& m = metrics_;
  for (const auto& proc_ptr : processors_) {
    const stream::RegionProcessor* proc = proc_ptr.get();
    const std::string region = "region=\"" + std::string(RegionName(proc->region())) + "\"";
    // Over the partitions this process owns: the oldest success (age); or
    // the sum with the partitions it released (a total never goes down).
    auto age = [proc](int64_t stream::PartitionStatus::*ok_ms) {
      return [proc, ok_ms] {
        const int64_t now = Clock::Real()->NowMs();
        int64_t oldest = now;
        for (const auto& s : proc->GetStatus()) oldest = std::min(oldest, s.*ok_ms);
        return static_cast<double>(now - oldest) * 1e-3;
      };
    };
    auto total = [proc](uint64_t stream::PartitionStatus::*field) {
      return [proc, field] {
        double n = 0;
        for (const auto& s : proc->GetStatus()) n += static_cast<double>(s.*field);
        return n + static_cast<double>(proc->Released().*field);
      };
    };
    m.AddGauge(
        "watershed_region_lag_records", "Acknowledged records of the region not yet in the live store",
        [proc] { return static_cast<double>(proc->Lag()); }, region);
    m.AddGauge("watershed_checkpoint_age_seconds",
               "Since the oldest last successful checkpoint of the region's partitions this process owns",
               age(&stream::PartitionStatus::checkpoint_ok_ms), region);
    m.AddCounterFunc("watershed_checkpoint_failures_total", "Checkpoints that failed (since the partition was taken)",
                     total(&stream::PartitionStatus::checkpoint_failures), region);
    if (lakes_[static_cast<int>(proc->region())]) {
      m.AddGauge("watershed_lake_commit_age_seconds",
                 "Since the oldest last lake commit of the region's partitions this process owns (or its range began)",
                 age(&stream::PartitionStatus::lake_commit_ok_ms), region);
      m.AddCounterFunc("watershed_lake_commit_failures_total",
                       "Lake commits that failed (since the partition was taken)",
                       total(&stream::PartitionStatus::lake_commit_failures), region);
    }
  }
  for (int r = 0; r < RegionCount(); ++r)
    if (const log::Log* log = logs_[r].get())
      m.AddCounterFunc(
          "watershed_log_fsync_failures_total",
          "fsyncs of the embedded log that failed (it then refuses appends until a restart)",
          [log] { return static_cast<double>(log->sync_failures()); },
          "region=\"" + std::string(RegionName(static_cast<Region>(r))) + "\"");
  m.AddGauge("watershed_checkpoint_interval_seconds", "The checkpoint-interval setting",
             [ms = checkpoint_interval_ms_] { return static_cast<double>(ms) * 1e-3; });
  m.AddGauge("watershed_lake_commit_interval_seconds", "The lake-commit-interval setting",
             [ms = lake_commit_interval_ms_] { return static_cast<double>(ms) * 1e-3; });
  // The data dir's file system, for the disk-filling alert.
  auto disk = [dir = data_dir_](bool free) {
    return [dir, free] {
      struct statvfs st;
      if (::statvfs(dir.c_str(), &st) != 0) return std::nan("");
      return static_cast<double>(free ? st.f_bavail : st.f_blocks) * static_cast<double>(st.f_frsize);
    };
  };
  m.AddGauge("watershed_data_dir_free_bytes", "Bytes available to the server on the data dir's file system",
             disk(true));
  m.AddGauge("watershed_data_dir_size_bytes", "Size of the data dir's file system", disk(false));
}

Status Server::StartFeatureUpdater(const RecsFeatureSettings& settings, FileSystem* fs) {
  using Kind = RecsFeatureSettings::Kind;
  if (settings.kind == Kind::kOff) return Status::Ok();
  auto named = [&](const Status& s) { return Status(s.code(), "recs-features " + settings.spec + ": " + s.message()); };
  recs::FeatureStoreConfig config;  // the features' default definitions (docs/recs.md)
  config.max_viewers = settings.max_viewers;
  recs::FeatureUpdaterOptions options;
  options.catalog = catalog_.get();
  // The store has one state for every region: the consumer also counts each region's events for the
  // recommendations' per-region trending lists (recs/candidate_signals.h).
  regional_trending_ = std::make_unique<recs::RegionalTrending>(config.trending_half_life_ms);
  options.on_applied = [regional = regional_trending_.get()](uint8_t region,
                                                             const std::vector<recs::FeatureEvent>& events) {
    regional->Add(region, events);
  };
  if (settings.kind == Kind::kEmbedded) {
    auto store = recs::EmbeddedFeatureStore::Restore(fs, settings.snapshot_path);
    if (!store.ok() && store.status().code() == StatusCode::kNotFound) store = recs::EmbeddedFeatureStore::Create(config);
    if (!store.ok()) return named(store.status());
    (*store)->set_max_viewers(settings.max_viewers);
    features_ = std::move(store).value();
    RETURN_IF_ERROR(CreateDirsDurably(fs, DirName(settings.snapshot_path)));
    options.fs = fs;
    options.snapshot_path = settings.snapshot_path;
    options.snapshot_interval_ms = settings.snapshot_interval_ms;
  } else {
    auto store = OpenRedisFeatureStore(settings, config);
    if (!store.ok()) return store.status();
    features_ = std::move(store).value();
  }
  std::vector<recs::FeatureUpdaterSource> sources;
  for (int r = 0; r < RegionCount(); ++r)
    if (logs_[r]) sources.push_back({static_cast<Region>(r), logs_[r].get()});
  // The consumer writes and GET /v1/users/{id}/recommendations reads the store at once: through a lock (reads
  // share it on the embedded store; the Redis store's one client takes one caller at a time).
  locked_features_ = std::make_unique<recs::LockedFeatureStore>(features_.get(), settings.kind == Kind::kEmbedded);
  feature_updater_ = std::make_unique<recs::FeatureUpdater>(locked_features_.get(), std::move(sources), options);
  feature_updater_->Start();
  recs::FeatureUpdater* updater = feature_updater_.get();
  metrics_.AddCounterFunc("watershed_recs_feature_events_total",
                          "Events the feature store's consumer applied (this process)",
                          [updater] { return static_cast<double>(updater->applied_events()); });
  metrics_.AddCounterFunc("watershed_recs_feature_records_total", "Log records the feature store's consumer read",
                          [updater] { return static_cast<double>(updater->consumed_records()); });
  metrics_.AddCounterFunc("watershed_recs_feature_duplicates_total",
                          "Log records the feature store's consumer skipped as a duplicated event id",
                          [updater] { return static_cast<double>(updater->duplicate_records()); });
  metrics_.AddGauge("watershed_recs_feature_lag_records", "Log records not yet in the feature store",
                    [updater] { return static_cast<double>(updater->Lag()); });
  return Status::Ok();
}

void Server::AddCdcMetrics() {
  auto& m = metrics_;
  CdcFeedThread* cdc = cdc_.get();
  auto gauge = [cdc](std::atomic<uint64_t> CdcFeedThread::*field) {
    return [cdc, field] { return static_cast<double>((cdc->*field).load()); };
  };
  m.AddGauge("watershed_cdc_lag_bytes", "WAL the catalogue feed's replication slot holds beyond what it stored",
             gauge(&CdcFeedThread::lag_bytes));
  m.AddCounterFunc("watershed_cdc_transactions_total",
                   "PostgreSQL transactions the catalogue feed stored and confirmed",
                   gauge(&CdcFeedThread::transactions));
  m.AddCounterFunc("watershed_cdc_rows_landed_total", "Changes this process committed to the lake's cdc table",
                   gauge(&CdcFeedThread::rows_landed));
  m.AddCounterFunc("watershed_cdc_rows_applied_total", "Catalogue changes the feed applied",
                   gauge(&CdcFeedThread::rows_applied));
  m.AddCounterFunc("watershed_cdc_rows_dead_lettered_total", "Changes the feed could not map (the dead-letter table)",
                   gauge(&CdcFeedThread::rows_dead_lettered));
  m.AddGauge("watershed_cdc_running", "1 while this process's catalogue feed holds the replication slot",
             [cdc] { return cdc->running.load() ? 1.0 : 0.0; });
}

Server::~Server() {
  Stop().IgnoreError();
  if (keys_) ForgetLakeKeys();  // they point into keys_
}

Status Server::Stop() {
  if (stopped_) return Status::Ok();
  stopped_ = true;
  if (http_) http_->Stop();
  lake_queries_.reset();  // answers what it admitted (into the stopped listener)
  if (erasure_) erasure_->Stop();  // after the step in progress; the rest resumes at the next start
  governance_.reset();    // after the queries it audits: flushes the audit log's last rows
  if (lake_maintenance_) lake_maintenance_->Stop();  // after the round in progress, if any
  if (cdc_) cdc_->Stop();                            // closes the slot cleanly
  Status first;
  for (auto& member : members_) {
    Status s = member->Leave();  // revokes its partitions: final checkpoints, then the group moves them
    if (first.ok() && !s.ok()) first = s;
  }
  if (feature_updater_) {  // before the logs close; the embedded store's final snapshot
    Status s = feature_updater_->Stop();
    if (first.ok() && !s.ok()) first = s;
  }
  for (auto& log : logs_)
    if (log) log->Close();  // answers queued appends; responders post into the stopped listener
  for (auto& p : processors_) {
    Status s = p->Stop();  // final checkpoint
    if (first.ok() && !s.ok()) first = s;
  }
  return first;
}

Status Server::ReloadCredentials() {
  Status keys = auth_ ? auth_->ReloadKeys() : Status::Ok();
  Status tls = http_->tls() ? http_->ReloadTls() : Status::Ok();
  return keys.ok() ? tls : keys;
}

uint64_t Server::Lag() const {
  uint64_t lag = 0;
  for (const auto& p : processors_) lag += p->Lag();
  return lag;
}

Result<std::vector<gateway::PartitionReport>> Server::RemoteReport() const {
  // End offsets first, progress second: an event acknowledged before this
  // call is below the end read here, so lag 0 means it is visible.
  std::vector<gateway::PartitionReport> out;
  for (int r = 0; r < RegionCount(); ++r) {
    if (!kafka_logs_[r]) continue;
    RETURN_IF_ERROR(kafka_logs_[r]->RefreshEndOffsets(2000));
    for (uint32_t p = 0; p < kafka_logs_[r]->partition_count(); ++p) {
      gateway::PartitionReport rep;
      rep.region = static_cast<Region>(r);
      rep.partition = p;
      rep.scheme = kafka_logs_[r]->partition_scheme();
      rep.end_offset = kafka_logs_[r]->EndOffset(p).value;
      rep.detailed = false;
      out.push_back(rep);
    }
  }
  ASSIGN_OR_RETURN(auto progress, store_->GetProgress());
  for (const auto& done : progress)
    for (auto& rep : out)
      if (rep.region == done.region && rep.partition == done.partition) rep.processed_offset = done.next_offset;
  return out;
}

std::vector<gateway::PartitionReport> Server::Report() const {
  std::vector<gateway::PartitionReport> out;
  for (const auto& proc : processors_) {
    for (const auto& s : proc->GetStatus()) {
      gateway::PartitionReport r;
      r.region = proc->region();
      r.partition = s.partition;
      r.scheme = logs_[static_cast<int>(proc->region())]->partition_scheme();
      r.end_offset = s.end_offset;
      r.processed_offset = s.processed_offset;
      r.checkpoint_offset = s.checkpoint_offset;
      r.checkpoint_id = s.checkpoint_id;
      r.watermark = s.watermark;
      r.records = s.counters.records;
      r.duplicates = s.counters.duplicates;
      r.late_5s = s.counters.late[0];
      r.late_1m = s.counters.late[1];
      r.dedup_entries = s.dedup_entries;
      r.error = s.error;
      out.push_back(std::move(r));
    }
  }
  return out;
}

}  // namespace watershed::app
