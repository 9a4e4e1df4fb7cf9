#include "app/serve_settings.h"

#include <algorithm>
#include <charconv>
#include <sstream>
#include <thread>

#include "http/http_client.h"
#include "recs/registry.h"

namespace watershed::app {

std::string LakeRootOf(const Config& config, const std::string& root) {
  if (!root.empty()) return root;
  if (config.Has("lake-root") && !config.Get("lake-root").empty()) return config.Get("lake-root");
  return JoinPath(config.Get("data-dir"), "lake");
}

std::string RegionNameOf(const Config& config, const std::string& region) {
  if (!region.empty()) return region;
  const std::string regions = config.Get("regions");
  return regions.substr(0, regions.find(','));
}

Result<int> QueryThreadsOf(const Config& config) {
  ASSIGN_OR_RETURN(int64_t threads, config.GetInt("query-threads"));
  if (threads < 0 || threads > 256) return Status::InvalidArgument("query-threads must be between 0 and 256");
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  return static_cast<int>(threads);
}

std::vector<std::string> SplitList(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}

namespace {

Status CheckRoles(const Config& config, ServerRoles roles, bool kafka) {
  const std::string command = std::string("watershed ") + roles.command;
  if (!roles.all_in_one() && !kafka)
    return Status::InvalidArgument(command + " needs log = kafka://BROKER[,BROKER...]: the embedded log lives "
                                             "inside one process (run `watershed serve` instead)");
  if (roles.uses_live_store() && !roles.all_in_one() && config.Get("live-store") == "memory")
    return Status::InvalidArgument(command + " needs live-store = redis://... or redis-cluster://...: "
                                             "a memory store is not shared with other processes");
  return Status::Ok();
}

Result<LogSettings> ParseLogSettings(const Config& config) {
  LogSettings l;
  const std::string& spec = config.Get("log");
  // kafka-mock://: librdkafka's mock cluster, whose topics keep CreateTime.
  l.kafka_accept_create_time = spec.starts_with("kafka-mock://");
  const size_t scheme = l.kafka_accept_create_time ? 13 : 8;
  l.kafka = (spec.starts_with("kafka://") || l.kafka_accept_create_time) && spec.size() > scheme;
  if (!l.kafka && spec != "embedded")
    return Status::InvalidArgument("log: '" + spec +
                                   "' is not embedded, kafka://BROKER[,BROKER...] or kafka-mock://BROKER[,BROKER...]");
  if (l.kafka) l.kafka_brokers = spec.substr(scheme);
  l.kafka_topic_prefix = config.Get("kafka-topic-prefix");
  l.kafka_properties = config.WithPrefix("kafka-property.");
  l.embedded_root = JoinPath(config.Get("data-dir"), "log");
  log::EmbeddedLogOptions& o = l.embedded;
  ASSIGN_OR_RETURN(int64_t partitions, config.GetInt("partitions"));
  if (partitions < 1 || partitions > 1024) return Status::InvalidArgument("partitions must be in 1..1024");
  o.partitions = static_cast<uint32_t>(partitions);
  if (const std::string& scheme = config.Get("log-partition-scheme"); scheme != "auto") {
    o.partition_scheme = ParsePartitionScheme(scheme);
    if (!o.partition_scheme)
      return Status::InvalidArgument("log-partition-scheme: '" + scheme + "' is not auto, aligned or legacy");
  }
  ASSIGN_OR_RETURN(int64_t segment, config.GetBytes("segment-size"));
  o.segment_bytes = static_cast<uint64_t>(segment);
  ASSIGN_OR_RETURN(o.fsync, log::ParseFsyncPolicy(config.Get("fsync")));
  ASSIGN_OR_RETURN(o.fsync_interval_ms, config.GetDurationMs("fsync-interval"));
  ASSIGN_OR_RETURN(o.retention_ms, config.GetDurationMs("log-retention"));
  ASSIGN_OR_RETURN(int64_t retention_bytes, config.GetBytes("log-retention-size"));
  o.retention_bytes = static_cast<uint64_t>(retention_bytes);
  ASSIGN_OR_RETURN(o.repair, config.GetBool("log-repair"));
  return l;
}

// redis://HOST:PORT or redis-cluster://HOST:PORT[,...] into host and port or
// seeds; false for anything else. Shared by live-store and recs-features.
// redis://HOST:PORT or redis-cluster://HOST:PORT[,...]; rediss:// and
// rediss-cluster:// are the same over TLS (*tls).
bool ParseRedisSpec(const std::string& spec, bool* cluster, std::string* host, uint16_t* port,
                    std::vector<std::string>* seeds, bool* tls) {
  *tls = spec.starts_with("rediss://") || spec.starts_with("rediss-cluster://");
  const std::string plain = *tls ? "redis" + spec.substr(6) : spec;
  if (plain.starts_with("redis://")) {
    *cluster = false;
    return http::ParseHostPort(plain.substr(8), host, port).ok() && *port != 0;
  }
  if (!plain.starts_with("redis-cluster://")) return false;
  *cluster = true;
  for (std::string& seed : SplitList(plain.substr(16)))
    if (!seed.empty()) seeds->push_back(std::move(seed));
  return !seeds->empty();
}

bool IsRedisSpec(const std::string& spec) {
  for (const char* scheme : {"redis://", "redis-cluster://", "rediss://", "rediss-cluster://"})
    if (spec.starts_with(scheme)) return true;
  return false;
}

// `key` names the setting in messages (live-store or live-store.REGION).
Result<LiveStoreSettings> ParseLiveStoreSettings(const Config& config, const std::string& key = "live-store",
                                                 const std::string& value = "") {
  LiveStoreSettings l;
  ASSIGN_OR_RETURN(int64_t wait_replicas, config.GetInt("live-store-wait-replicas"));
  if (wait_replicas > 16) return Status::InvalidArgument("live-store-wait-replicas must be in 0..16");
  l.wait_replicas = static_cast<int>(wait_replicas);
  l.prefix = config.Get("live-store-prefix");
  l.spec = value.empty() ? config.Get("live-store") : value;
  const std::string& spec = l.spec;
  if (spec == "memory") {
    l.kind = LiveStoreSettings::Kind::kMemory;
  } else if (bool cluster = false; IsRedisSpec(spec)) {
    if (!ParseRedisSpec(spec, &cluster, &l.redis_host, &l.redis_port, &l.cluster_seeds, &l.auth.tls.on))
      return Status::InvalidArgument(
          key + ": '" + spec +
          (spec.find("-cluster://") == std::string::npos ? "' is not redis://HOST:PORT" : "' names no cluster node"));
    l.kind = cluster ? LiveStoreSettings::Kind::kRedisCluster : LiveStoreSettings::Kind::kRedis;
  } else {
    return Status::InvalidArgument(key + ": '" + spec +
                                   "' is not memory, redis[s]://HOST:PORT or redis[s]-cluster://...");
  }
  return l;
}

Result<RecsFeatureSettings> ParseRecsFeatureSettings(const Config& config) {
  RecsFeatureSettings f;
  f.spec = config.Get("recs-features");
  bool cluster = false;
  if (f.spec == "off") {
    f.kind = RecsFeatureSettings::Kind::kOff;
  } else if (f.spec == "embedded") {
    f.kind = RecsFeatureSettings::Kind::kEmbedded;
  } else if (ParseRedisSpec(f.spec, &cluster, &f.redis_host, &f.redis_port, &f.cluster_seeds, &f.auth.tls.on)) {
    f.kind = cluster ? RecsFeatureSettings::Kind::kRedisCluster : RecsFeatureSettings::Kind::kRedis;
  } else {
    return Status::InvalidArgument("recs-features: '" + f.spec +
                                   "' is not off, embedded, redis://HOST:PORT or redis-cluster://HOST:PORT[,...]");
  }
  f.prefix = config.Get("recs-features-prefix");
  if (f.prefix.empty() || f.prefix.find_first_of("{}") != std::string::npos)
    return Status::InvalidArgument("recs-features-prefix must be non-empty, without braces");
  ASSIGN_OR_RETURN(int64_t max_viewers, config.GetInt("recs-features-max-viewers"));
  if (max_viewers < 0) return Status::InvalidArgument("recs-features-max-viewers must be >= 0");
  f.max_viewers = static_cast<uint64_t>(max_viewers);
  ASSIGN_OR_RETURN(f.snapshot_interval_ms, config.GetDurationMs("recs-features-snapshot-interval", 86'400'000));
  f.snapshot_path = JoinPath(JoinPath(config.Get("data-dir"), "recs"), "features.snap");
  return f;
}

Result<RecsServeSettings> ParseRecsServeSettings(const Config& config, const RecsFeatureSettings& features) {
  RecsServeSettings r;
  r.model = config.Get("recs-model");
  r.rules_path = config.Get("recs-rules");
  r.experiments_path = config.Get("recs-experiments");
  r.registry_root = JoinPath(config.Get("data-dir"), "models");
  r.exposures_dir = JoinPath(JoinPath(config.Get("data-dir"), "recs"), "exposures");
  ASSIGN_OR_RETURN(r.refresh_ms, config.GetDurationMs("recs-refresh", 86'400'000));
  if (r.refresh_ms <= 0) return Status::InvalidArgument("recs-refresh must be positive");
  const std::string& coviews = config.Get("recs-coviews");
  if (coviews == "lake") {
    const std::string& root = config.Get("lake-root");
    r.coview_lake_root = root.empty() ? JoinPath(config.Get("data-dir"), "lake") : root;
  } else if (coviews != "off") {
    return Status::InvalidArgument("recs-coviews must be off or lake, not '" + coviews + "'");
  }
  ASSIGN_OR_RETURN(r.coview_refresh_ms, config.GetDurationMs("recs-coviews-refresh", 7 * 86'400'000LL));
  if (r.coview_refresh_ms <= 0) return Status::InvalidArgument("recs-coviews-refresh must be positive");
  if (r.model.empty()) {
    if (!r.rules_path.empty()) return Status::InvalidArgument("recs-rules needs recs-model");
    if (!r.experiments_path.empty()) return Status::InvalidArgument("recs-experiments needs recs-model");
    return r;
  }
  if (Status s = recs::ModelRegistry::CheckName(r.model); !s.ok())
    return Status::InvalidArgument("recs-model: " + s.message());
  if (features.kind == RecsFeatureSettings::Kind::kOff)
    return Status::InvalidArgument(
        "recs-model needs recs-features (the viewers' history and the trending lists come from the feature store)");
  return r;
}

Result<ProcessorSettings> ParseProcessorSettings(const Config& config) {
  ProcessorSettings p;
  stream::RunnerOptions& run = p.runner;
  ASSIGN_OR_RETURN(run.checkpoint_interval_ms, config.GetDurationMs("checkpoint-interval", 86'400'000));
  ASSIGN_OR_RETURN(int64_t processor_threads, config.GetInt("processor-threads"));
  run.threads = static_cast<int>(std::clamp<int64_t>(processor_threads, 1, 64));
  ASSIGN_OR_RETURN(run.processor.dedup_ttl_ms, config.GetDurationMs("dedup-ttl"));
  ASSIGN_OR_RETURN(run.processor.out_of_order_ms, config.GetDurationMs("out-of-order"));
  ASSIGN_OR_RETURN(run.processor.allowed_lateness_ms, config.GetDurationMs("allowed-lateness"));
  ASSIGN_OR_RETURN(run.processor.retention_5s_ms, config.GetDurationMs("series-retention-5s"));
  ASSIGN_OR_RETURN(run.processor.retention_1m_ms, config.GetDurationMs("series-retention-1m"));
  ASSIGN_OR_RETURN(run.processor.story_idle_evict_ms, config.GetDurationMs("story-idle-evict", 365 * 86'400'000ll));
  if (run.processor.story_idle_evict_ms != 0 && run.processor.story_idle_evict_ms < 1000)
    return Status::InvalidArgument("story-idle-evict must be 0 (never) or at least 1s");
  ASSIGN_OR_RETURN(p.kafka_session_timeout_ms, config.GetDurationMs("kafka-session-timeout", 3'600'000));
  if (p.kafka_session_timeout_ms < 1000) return Status::InvalidArgument("kafka-session-timeout must be at least 1s");
  const std::string& dir = config.Get("checkpoint-dir");
  p.checkpoint_dir = dir.empty() ? JoinPath(config.Get("data-dir"), "checkpoints") : dir;
  ASSIGN_OR_RETURN(run.lake_commit_interval_ms, config.GetDurationMs("lake-commit-interval", 86'400'000));
  return p;
}

Result<LakeSettings> ParseLakeSettings(const Config& config) {
  LakeSettings l;
  ASSIGN_OR_RETURN(l.on, config.GetBool("lake"));
  const std::string& root = config.Get("lake-root");
  l.root = root.empty() ? JoinPath(config.Get("data-dir"), "lake") : root;
  ASSIGN_OR_RETURN(int64_t buffer_rows, config.GetInt("lake-buffer-rows"));
  if (buffer_rows < 1) return Status::InvalidArgument("lake-buffer-rows must be at least 1");
  l.sink.buffer_rows = static_cast<size_t>(buffer_rows);
  ASSIGN_OR_RETURN(l.sink.carry_buffers, config.GetBool("lake-carry-buffers"));
  ASSIGN_OR_RETURN(int64_t file_size, config.GetBytes("lake-file-size"));
  if (file_size < 1) return Status::InvalidArgument("lake-file-size must be at least 1 byte");
  l.sink.file_bytes = static_cast<uint64_t>(file_size);
  ASSIGN_OR_RETURN(l.sink.commit_interval_ms, config.GetDurationMs("lake-commit-interval", 86'400'000));
  l.sink.file_max_age_ms = l.sink.commit_interval_ms;
  if (!config.Get("lake-file-max-age").empty()) {
    ASSIGN_OR_RETURN(l.sink.file_max_age_ms, config.GetDurationMs("lake-file-max-age", 86'400'000));
  }
  ASSIGN_OR_RETURN(l.maintenance_interval_ms, config.GetDurationMs("lake-maintenance-interval"));
  ASSIGN_OR_RETURN(l.maintenance.snapshot_retention_ms, config.GetDurationMs("lake-snapshot-retention"));
  ASSIGN_OR_RETURN(l.compact_check_ms, config.GetDurationMs("lake-compact-check-interval"));
  ASSIGN_OR_RETURN(int64_t min_files, config.GetInt("lake-compact-min-files"));
  if (min_files < 2 || min_files > 1'000'000)
    return Status::InvalidArgument("lake-compact-min-files must be between 2 and 1000000");
  l.compact_min_files = static_cast<size_t>(min_files);
  ASSIGN_OR_RETURN(int64_t target, config.GetBytes("lake-compact-target-size"));
  if (target < (1 << 20)) return Status::InvalidArgument("lake-compact-target-size must be at least 1MiB");
  l.maintenance.target_file_size_bytes = target;
  return l;
}

Result<GatewaySettings> ParseGatewaySettings(const Config& config) {
  GatewaySettings g;
  gateway::ApiOptions& api = g.api;
  ASSIGN_OR_RETURN(api.max_future_ms, config.GetDurationMs("max-future"));
  api.public_paths.clear();
  for (std::string& path : SplitList(config.Get("auth-public-paths")))
    if (!path.empty()) api.public_paths.push_back(std::move(path));
  ASSIGN_OR_RETURN(int64_t rate, config.GetInt("rate-limit"));
  ASSIGN_OR_RETURN(int64_t burst, config.GetInt("rate-burst"));
  if (rate > 0 && burst < 1) return Status::InvalidArgument("rate-burst must be at least 1");
  api.rate_limit.requests_per_second = static_cast<double>(rate);
  api.rate_limit.burst = static_cast<double>(burst);
  ASSIGN_OR_RETURN(api.max_in_flight, config.GetInt("max-in-flight"));
  const std::string& access_log = config.Get("access-log");
  if (access_log != "off" && access_log != "json")
    return Status::InvalidArgument("access-log must be off or json, not '" + access_log + "'");
  api.access_log = access_log == "json";
  ASSIGN_OR_RETURN(int64_t queries, config.GetInt("query-concurrency"));
  if (queries < 1 || queries > 64) return Status::InvalidArgument("query-concurrency must be between 1 and 64");
  g.query_concurrency = static_cast<int>(queries);
  ASSIGN_OR_RETURN(g.query_threads, QueryThreadsOf(config));
  ASSIGN_OR_RETURN(g.query_memory_bytes, config.GetBytes("query-memory"));
  if (g.query_memory_bytes < (1 << 20)) return Status::InvalidArgument("query-memory must be at least 1MiB");
  ASSIGN_OR_RETURN(g.query_timeout_ms, config.GetDurationMs("query-timeout", 86'400'000));
  if (g.query_timeout_ms < 1) return Status::InvalidArgument("query-timeout must be at least 1ms");
  api.rate_limit_exempt = auth::RoleSet();
  for (const std::string& name : SplitList(config.Get("rate-limit-exempt"))) {
    auto role = auth::ParseRole(name);
    if (!role) return Status::InvalidArgument("rate-limit-exempt: unknown role '" + name + "'");
    api.rate_limit_exempt.Add(*role);
  }

  ASSIGN_OR_RETURN(int64_t failure_rate, config.GetInt("auth-failure-rate"));
  ASSIGN_OR_RETURN(int64_t failure_burst, config.GetInt("auth-failure-burst"));
  if (failure_rate > 0 && failure_burst < 1) return Status::InvalidArgument("auth-failure-burst must be at least 1");
  api.auth_failures_per_second = static_cast<double>(failure_rate);
  api.auth_failure_burst = static_cast<double>(failure_burst);

  http::HttpServerOptions& server = g.server;
  server.address = config.Get("listen");
  ASSIGN_OR_RETURN(int64_t port, config.GetInt("port"));
  if (port > 65535) return Status::InvalidArgument("port must be in 0..65535");
  server.port = static_cast<uint16_t>(port);
  ASSIGN_OR_RETURN(int64_t threads, config.GetInt("http-threads"));
  server.threads = static_cast<int>(std::max<int64_t>(1, threads));
  ASSIGN_OR_RETURN(int64_t verifying, config.GetInt("auth-max-verifying"));
  if (verifying > 1024) return Status::InvalidArgument("auth-max-verifying must be in 0..1024");
  api.max_verifying = verifying > 0 ? verifying : std::max(1, server.threads - 1);
  ASSIGN_OR_RETURN(int64_t body, config.GetBytes("max-body"));
  server.body_limit = static_cast<uint64_t>(body);
  // What a client still sending a refused body may send before the close (413 and other early answers).
  server.drain_limit = std::max<uint64_t>(4 * server.body_limit, 64 << 10);
  ASSIGN_OR_RETURN(server.max_connections, config.GetInt("max-connections"));
  ASSIGN_OR_RETURN(server.max_connections_per_address, config.GetInt("max-connections-per-address"));
  for (auto [key, value] : {std::pair{"max-connections", server.max_connections},
                            std::pair{"max-connections-per-address", server.max_connections_per_address}})
    if (value > 1'000'000) return Status::InvalidArgument(std::string(key) + " must be in 0..1000000");
  Result<http::TrustedProxies> trusted = http::TrustedProxies::Parse(config.Get("trusted-proxies"));
  if (!trusted.ok()) return Status::InvalidArgument("trusted-proxies: " + trusted.status().message());
  server.trusted_proxies = std::move(*trusted);
  ASSIGN_OR_RETURN(int64_t idle, config.GetDurationMs("idle-timeout", 86'400'000));
  server.idle_timeout_ms = static_cast<int>(idle);
  server.tls_cert_file = config.Get("tls-cert");
  server.tls_key_file = config.Get("tls-key");
  return g;
}

Result<CdcSettings> ParseCdcSettings(const Config& config, const std::string& catalog_dir) {
  CdcSettings c;
  c.feed.conninfo = config.Get("cdc-conninfo");
  c.on = !c.feed.conninfo.empty();
  c.feed.slot = config.Get("cdc-slot");
  c.feed.publication = config.Get("cdc-publication");
  c.feed.table = config.Get("cdc-table");
  for (const char* key : {"cdc-slot", "cdc-publication"}) {
    const std::string v = config.Get(key);
    if (v.empty() || v.size() > 63 || !std::all_of(v.begin(), v.end(), [](char ch) {
          return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_';
        })) {
      return Status::InvalidArgument(std::string("--") + key + " must be 1-63 of [a-z0-9_], got '" + v + "'");
    }
  }
  if (c.feed.table.empty() || c.feed.table.find('"') != std::string::npos) {
    return Status::InvalidArgument("--cdc-table must be table or schema.table, got '" + c.feed.table + "'");
  }
  if (!config.Get("cdc-columns").empty()) {
    Result<cdc::CatalogColumnMapping> m = cdc::ParseColumnMapping(config.Get("cdc-columns"));
    if (!m.ok()) return Status::InvalidArgument("--cdc-columns: " + m.status().message());
    c.feed.columns = *m;
  }
  c.feed.state_dir = JoinPath(catalog_dir, "cdc");
  return c;
}

}  // namespace

Result<ServeSettings> ParseServeSettings(const Config& config, ServerRoles roles) {
  ServeSettings s;
  s.data_dir = config.Get("data-dir");
  s.catalog_dir = config.Get("catalog-dir").empty() ? JoinPath(s.data_dir, "catalog") : config.Get("catalog-dir");
  ASSIGN_OR_RETURN(s.log, ParseLogSettings(config));
  RETURN_IF_ERROR(CheckRoles(config, roles, s.log.kafka));
  ASSIGN_OR_RETURN(s.live_store, ParseLiveStoreSettings(config));
  s.region_live_stores.fill(s.live_store);
  for (const auto& [name, value] : config.WithPrefix("live-store.")) {
    auto region = ParseRegion(name);
    if (!region) return Status::InvalidArgument("live-store." + name + ": unknown region '" + name + "'");
    ASSIGN_OR_RETURN(s.region_live_stores[static_cast<int>(*region)],
                     ParseLiveStoreSettings(config, "live-store." + name, value));
    if (roles.uses_live_store() && !roles.all_in_one() && value == "memory")
      return Status::InvalidArgument("watershed " + std::string(roles.command) + " needs live-store." + name +
                                     " = redis://... or redis-cluster://...: a memory store is not shared with "
                                     "other processes");
  }
  ASSIGN_OR_RETURN(s.recs_features, ParseRecsFeatureSettings(config));
  ASSIGN_OR_RETURN(s.recs_serve, ParseRecsServeSettings(config, s.recs_features));
  // Both stores' connections are secured alike: AUTH, and TLS files when
  // their spec is rediss://.
  serve::RedisSecurity security;
  if (const std::string& auth_file = config.Get("redis-auth-file"); !auth_file.empty()) {
    ASSIGN_OR_RETURN(security, serve::ReadRedisAuthFile(auth_file));
  }
  security.tls.ca_file = config.Get("redis-tls-ca-file");
  security.tls.cert_file = config.Get("redis-tls-cert-file");
  security.tls.key_file = config.Get("redis-tls-key-file");
  if (security.tls.cert_file.empty() != security.tls.key_file.empty())
    return Status::InvalidArgument("redis-tls-cert-file and redis-tls-key-file go together");
  std::vector<serve::RedisSecurity*> secured = {&s.live_store.auth, &s.recs_features.auth};
  for (LiveStoreSettings& region : s.region_live_stores) secured.push_back(&region.auth);
  for (serve::RedisSecurity* store : secured) {
    const bool tls = store->tls.on;
    *store = security;
    store->tls.on = tls;
  }
  for (const std::string& name : SplitList(config.Get("regions"))) {
    auto region = ParseRegion(name);
    if (!region) return Status::InvalidArgument("unknown region '" + name + "' in --regions");
    s.regions.push_back(*region);
  }
  ASSIGN_OR_RETURN(s.processor, ParseProcessorSettings(config));
  ASSIGN_OR_RETURN(s.lake, ParseLakeSettings(config));
  ASSIGN_OR_RETURN(s.encryption.on, config.GetBool("encryption"));
  s.encryption.keys_dir = config.Get("keys-dir").empty() ? JoinPath(s.data_dir, "keys") : config.Get("keys-dir");
  s.encryption.key_command = config.Get("key-command");
  ASSIGN_OR_RETURN(s.cdc, ParseCdcSettings(config, s.catalog_dir));

  ASSIGN_OR_RETURN(s.auth, ParseAuthSettings(config));
  ASSIGN_OR_RETURN(s.gateway, ParseGatewaySettings(config));
  ASSIGN_OR_RETURN(s.dev_token_mint, config.GetBool("dev-token-mint"));
  if (s.dev_token_mint && !s.auth.on)
    return Status::InvalidArgument("dev-token-mint = on needs auth = on (with auth off no token is needed)");
  if (s.dev_token_mint && s.auth.keys.secret_file.empty() && !s.auth.keys.jwks_file.empty())
    return Status::InvalidArgument(
        "dev-token-mint = on needs the server's own HS256 secret (auth-secret-file); "
        "with only auth-jwks-file, tokens come from your identity provider");
  s.governance_file = config.Get("governance-file");
  const std::string peers = config.Get("peers");
  s.federation.token_file = config.Get("peer-token-file");
  ASSIGN_OR_RETURN(s.federation.timeout_ms, config.GetDurationMs("peer-timeout", 600'000));
  if (s.federation.timeout_ms < 1) return Status::InvalidArgument("peer-timeout must be at least 1ms");
  ASSIGN_OR_RETURN(s.federation.live_timeout_ms, config.GetDurationMs("peer-live-timeout", 60'000));
  if (s.federation.live_timeout_ms < 1) return Status::InvalidArgument("peer-live-timeout must be at least 1ms");
  if (!peers.empty() || !s.federation.token_file.empty()) {
    if (s.regions.size() != 1)
      return Status::InvalidArgument(
          "peers and peer-token-file need exactly one region in --regions (a region's deployment serves one)");
    if (s.federation.token_file.empty()) return Status::InvalidArgument("peers needs peer-token-file");
    if (s.governance_file.empty())
      return Status::InvalidArgument(
          "peers and peer-token-file need governance-file (the regions' export rules and the audit of fragments)");
    ASSIGN_OR_RETURN(s.federation.peers, ParsePeers(peers, s.regions.front()));
  }
  s.trace.endpoint = config.Get("otlp-endpoint");
  const std::string& ratio = config.Get("otlp-sampling-ratio");
  auto [end, ec] = std::from_chars(ratio.data(), ratio.data() + ratio.size(), s.trace.sampling_ratio);
  if (ec != std::errc() || end != ratio.data() + ratio.size() || !(s.trace.sampling_ratio >= 0) ||
      !(s.trace.sampling_ratio <= 1))
    return Status::InvalidArgument("otlp-sampling-ratio must be a number from 0 to 1, not '" + ratio + "'");
  return s;
}

Result<std::vector<FederationSettings::Peer>> ParsePeers(const std::string& text, Region own) {
  std::vector<FederationSettings::Peer> out;
  for (const std::string& item : SplitList(text)) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos) return Status::InvalidArgument("peers: '" + item + "' is not REGION=http://HOST:PORT");
    FederationSettings::Peer p;
    auto region = ParseRegion(item.substr(0, eq));
    if (!region) return Status::InvalidArgument("peers: unknown region '" + item.substr(0, eq) + "'");
    if (*region == own)
      return Status::InvalidArgument("peers: " + item.substr(0, eq) + " is this process's own region");
    for (const auto& q : out)
      if (q.region == *region) return Status::InvalidArgument("peers: region " + item.substr(0, eq) + " twice");
    p.region = *region;
    p.url = item.substr(eq + 1);
    constexpr std::string_view kScheme = "http://";
    if (!p.url.starts_with(kScheme)) return Status::InvalidArgument("peers: '" + p.url + "' is not an http:// URL");
    std::string hostport = p.url.substr(kScheme.size());
    if (!hostport.empty() && hostport.back() == '/') hostport.pop_back();
    const size_t colon = hostport.rfind(':');
    if (hostport.empty() || colon == std::string::npos || colon == 0 || hostport.find('/') != std::string::npos)
      return Status::InvalidArgument("peers: '" + p.url + "' needs a host and a port (http://HOST:PORT)");
    Status st = http::ParseHostPort(hostport, &p.host, &p.port);
    if (!st.ok() || p.port == 0) return Status::InvalidArgument("peers: '" + p.url + "' has a bad port");
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace watershed::app
