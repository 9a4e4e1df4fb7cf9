#include "app/server.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "app/http_client.h"
#include "lake/maintenance_scheduler.h"
#include "serve/redis_cluster_client.h"
#include "serve/redis_live_store.h"

namespace watershed::app {

Result<std::unique_ptr<serve::LiveStore>> OpenLiveStore(const std::string& spec, const std::string& prefix,
                                                        int wait_replicas) {
  if (spec == "memory") return serve::NewMemoryLiveStore();
  serve::RedisLiveStoreOptions options;
  options.prefix = prefix;
  options.wait_replicas = wait_replicas;
  constexpr int kTimeoutMs = 2000;
  if (spec.starts_with("redis://")) {
    std::string host;
    uint16_t port = 0;
    if (!ParseHostPort(spec.substr(8), &host, &port).ok() || port == 0)
      return Status::InvalidArgument("live-store: '" + spec + "' is not redis://HOST:PORT");
    return std::unique_ptr<serve::LiveStore>(serve::NewRedisNodeLiveStore(host, port, kTimeoutMs, options));
  }
  if (spec.starts_with("redis-cluster://")) {
    serve::RedisClusterOptions cluster;
    std::stringstream seeds(spec.substr(16));
    for (std::string seed; std::getline(seeds, seed, ',');)
      if (!seed.empty()) cluster.seeds.push_back(seed);
    if (cluster.seeds.empty()) return Status::InvalidArgument("live-store: '" + spec + "' names no cluster node");
    cluster.io_timeout = std::chrono::milliseconds(kTimeoutMs);
    auto factory = [cluster]() -> Result<std::unique_ptr<serve::RedisClient>> {
      ASSIGN_OR_RETURN(auto client, serve::RedisClusterClient::Connect(cluster));
      return std::unique_ptr<serve::RedisClient>(std::move(client));
    };
    return std::unique_ptr<serve::LiveStore>(std::make_unique<serve::RedisLiveStore>(factory, options));
  }
  return Status::InvalidArgument("live-store: '" + spec + "' is not memory, redis://HOST:PORT or redis-cluster://...");
}

Result<std::unique_ptr<Server>> Server::Start(const Config& config, FileSystem* fs, ServerRoles roles) {
  std::unique_ptr<Server> s(new Server());
  const std::string data_dir = config.Get("data-dir");
  const std::string& log_spec = config.Get("log");
  const std::string command = std::string("watershed ") + roles.command;
  const bool kafka = log_spec.starts_with("kafka://") && log_spec.size() > 8;
  if (!kafka && log_spec != "embedded")
    return Status::InvalidArgument("log: '" + log_spec + "' is not embedded or kafka://BROKER[,BROKER...]");
  if (!roles.all_in_one() && !kafka)
    return Status::InvalidArgument(command + " needs log = kafka://BROKER[,BROKER...]: the embedded log lives "
                                             "inside one process (run `watershed serve` instead)");
  if ((roles.query || roles.processing != ServerRoles::Processing::kNone) && !roles.all_in_one() &&
      config.Get("live-store") == "memory")
    return Status::InvalidArgument(command + " needs live-store = redis://... or redis-cluster://...: "
                                             "a memory store is not shared with other processes");

  log::EmbeddedLogOptions log_options;
  ASSIGN_OR_RETURN(int64_t partitions, config.GetInt("partitions"));
  if (partitions < 1 || partitions > 1024) return Status::InvalidArgument("partitions must be in 1..1024");
  log_options.partitions = static_cast<uint32_t>(partitions);
  ASSIGN_OR_RETURN(int64_t segment, config.GetBytes("segment-size"));
  log_options.segment_bytes = static_cast<uint64_t>(segment);
  ASSIGN_OR_RETURN(log_options.fsync, log::ParseFsyncPolicy(config.Get("fsync")));
  ASSIGN_OR_RETURN(log_options.fsync_interval_ms, config.GetDurationMs("fsync-interval"));
  ASSIGN_OR_RETURN(log_options.retention_ms, config.GetDurationMs("log-retention"));
  ASSIGN_OR_RETURN(int64_t retention_bytes, config.GetBytes("log-retention-size"));
  log_options.retention_bytes = static_cast<uint64_t>(retention_bytes);
  log_options.fs = fs;

  if (roles.query || roles.processing != ServerRoles::Processing::kNone) {
    ASSIGN_OR_RETURN(int64_t wait_replicas, config.GetInt("live-store-wait-replicas"));
    if (wait_replicas > 16) return Status::InvalidArgument("live-store-wait-replicas must be in 0..16");
    ASSIGN_OR_RETURN(s->store_, OpenLiveStore(config.Get("live-store"), config.Get("live-store-prefix"),
                                              static_cast<int>(wait_replicas)));
  }

  std::stringstream regions(config.Get("regions"));
  for (std::string name; std::getline(regions, name, ',');) {
    auto region = ParseRegion(name);
    if (!region) return Status::InvalidArgument("unknown region '" + name + "' in --regions");
    const int r = static_cast<int>(*region);
    if (!kafka) {
      log_options.dir = JoinPath(JoinPath(data_dir, "log"), name);
      ASSIGN_OR_RETURN(s->logs_[r], log::EmbeddedLog::Open(log_options));
      continue;
    }
    // One topic per region, <kafka-topic-prefix>.<region>, with `partitions` partitions.
    log::KafkaLogOptions options;
    options.brokers = log_spec.substr(8);
    options.topic = config.Get("kafka-topic-prefix") + "." + name;
    options.partitions = log_options.partitions;
    ASSIGN_OR_RETURN(auto log, log::KafkaLog::Open(options));
    s->kafka_logs_[r] = log.get();
    s->logs_[r] = std::move(log);
  }
  if (roles.processing != ServerRoles::Processing::kNone) RETURN_IF_ERROR(s->StartProcessing(config, roles, fs));

  gateway::ApiDeps deps;
  if (roles.ingest)
    for (int r = 0; r < kRegionCount; ++r) deps.logs[r] = s->logs_[r].get();
  if (roles.query) deps.store = s->store_.get();
  deps.metrics = &s->metrics_;
  Server* self = s.get();
  if (roles.processing != ServerRoles::Processing::kNone) {
    deps.status = [self]() -> Result<std::vector<gateway::PartitionReport>> { return self->Report(); };
  } else if (roles.query) {
    deps.status = [self] { return self->RemoteReport(); };
  }
  ASSIGN_OR_RETURN(s->auth_, AuthRuntime::Start(config, fs));
  if (s->auth_) deps.verifier = s->auth_->verifier();
  gateway::ApiOptions api_options;
  ASSIGN_OR_RETURN(api_options.max_future_ms, config.GetDurationMs("max-future"));
  api_options.public_paths.clear();
  std::stringstream public_paths(config.Get("auth-public-paths"));
  for (std::string path; std::getline(public_paths, path, ',');)
    if (!path.empty()) api_options.public_paths.push_back(path);
  ASSIGN_OR_RETURN(int64_t rate, config.GetInt("rate-limit"));
  ASSIGN_OR_RETURN(int64_t burst, config.GetInt("rate-burst"));
  if (rate > 0 && burst < 1) return Status::InvalidArgument("rate-burst must be at least 1");
  api_options.rate_limit.requests_per_second = static_cast<double>(rate);
  api_options.rate_limit.burst = static_cast<double>(burst);
  ASSIGN_OR_RETURN(api_options.max_in_flight, config.GetInt("max-in-flight"));
  api_options.rate_limit_exempt = auth::RoleSet();
  std::stringstream exempt(config.Get("rate-limit-exempt"));
  for (std::string name; std::getline(exempt, name, ',');) {
    auto role = auth::ParseRole(name);
    if (!role) return Status::InvalidArgument("rate-limit-exempt: unknown role '" + name + "'");
    api_options.rate_limit_exempt.Add(*role);
  }
  s->api_ = std::make_unique<gateway::Api>(std::move(deps), api_options);

  if (roles.processing != ServerRoles::Processing::kNone) s->AddProcessorMetrics();

  gateway::HttpServerOptions http;
  http.address = config.Get("listen");
  ASSIGN_OR_RETURN(int64_t port, config.GetInt("port"));
  if (port > 65535) return Status::InvalidArgument("port must be in 0..65535");
  http.port = static_cast<uint16_t>(port);
  ASSIGN_OR_RETURN(int64_t threads, config.GetInt("http-threads"));
  http.threads = static_cast<int>(std::max<int64_t>(1, threads));
  ASSIGN_OR_RETURN(int64_t body, config.GetBytes("max-body"));
  http.body_limit = static_cast<uint64_t>(body);
  ASSIGN_OR_RETURN(int64_t idle, config.GetDurationMs("idle-timeout", 86'400'000));
  http.idle_timeout_ms = static_cast<int>(idle);
  http.tls_cert_file = config.Get("tls-cert");
  http.tls_key_file = config.Get("tls-key");
  gateway::Api* api = s->api_.get();
  ASSIGN_OR_RETURN(s->http_, gateway::HttpServer::Start(
                                 http, [api](gateway::HttpRequest&& req, gateway::Responder respond) {
                                   api->Handle(std::move(req), std::move(respond));
                                 }));
  return s;
}

Status Server::StartProcessing(const Config& config, ServerRoles roles, FileSystem* fs) {
  stream::RunnerOptions run;
  ASSIGN_OR_RETURN(run.checkpoint_interval_ms, config.GetDurationMs("checkpoint-interval", 86'400'000));
  ASSIGN_OR_RETURN(int64_t processor_threads, config.GetInt("processor-threads"));
  run.threads = static_cast<int>(std::clamp<int64_t>(processor_threads, 1, 64));
  ASSIGN_OR_RETURN(run.processor.dedup_ttl_ms, config.GetDurationMs("dedup-ttl"));
  ASSIGN_OR_RETURN(run.processor.out_of_order_ms, config.GetDurationMs("out-of-order"));
  ASSIGN_OR_RETURN(run.processor.allowed_lateness_ms, config.GetDurationMs("allowed-lateness"));
  ASSIGN_OR_RETURN(run.processor.retention_5s_ms, config.GetDurationMs("series-retention-5s"));
  ASSIGN_OR_RETURN(run.processor.retention_1m_ms, config.GetDurationMs("series-retention-1m"));
  ASSIGN_OR_RETURN(int64_t session_ms, config.GetDurationMs("kafka-session-timeout", 3'600'000));
  if (session_ms < 1000) return Status::InvalidArgument("kafka-session-timeout must be at least 1s");
  const std::string dir = config.Get("checkpoint-dir");
  checkpoints_ = std::make_unique<stream::CheckpointStore>(
      fs, dir.empty() ? JoinPath(config.Get("data-dir"), "checkpoints") : dir);

  ASSIGN_OR_RETURN(const bool lake_on, config.GetBool("lake"));
  const std::string lake_root =
      config.Get("lake-root").empty() ? JoinPath(config.Get("data-dir"), "lake") : config.Get("lake-root");
  lake::LakeSinkOptions lake_options;
  ASSIGN_OR_RETURN(int64_t buffer_rows, config.GetInt("lake-buffer-rows"));
  if (buffer_rows < 1) return Status::InvalidArgument("lake-buffer-rows must be at least 1");
  lake_options.buffer_rows = static_cast<size_t>(buffer_rows);
  ASSIGN_OR_RETURN(run.lake_commit_interval_ms, config.GetDurationMs("lake-commit-interval", 86'400'000));

  for (int r = 0; r < kRegionCount; ++r) {
    if (!logs_[r]) continue;
    const auto region = static_cast<Region>(r);
    if (lake_on) {
      ASSIGN_OR_RETURN(lakes_[r], lake::RegionLake::Open(fs, lake_root, region, lake_options));
      run.lake = lakes_[r].get();
    }
    auto proc =
        std::make_unique<stream::RegionProcessor>(region, logs_[r].get(), store_.get(), checkpoints_.get(), run);
    if (roles.processing == ServerRoles::Processing::kAllPartitions) {
      RETURN_IF_ERROR(proc->Start());
    } else {
      // One group per region topic; its members share the partitions.
      log::KafkaGroupOptions group;
      group.brokers = config.Get("log").substr(8);
      group.topic = config.Get("kafka-topic-prefix") + "." + std::string(RegionName(static_cast<Region>(r)));
      group.group_id = group.topic + ".processors";
      group.session_timeout_ms = static_cast<int>(session_ms);
      group.heartbeat_interval_ms = static_cast<int>(std::max<int64_t>(100, session_ms / 10));
      ASSIGN_OR_RETURN(auto member, ProcessorGroupMember::Start(group, proc.get()));
      members_.push_back(std::move(member));
    }
    processors_.push_back(std::move(proc));
  }
  ASSIGN_OR_RETURN(int64_t maintenance_ms, config.GetDurationMs("lake-maintenance-interval"));
  ASSIGN_OR_RETURN(int64_t snapshot_retention_ms, config.GetDurationMs("lake-snapshot-retention"));
  if (lake_on && maintenance_ms > 0) {
    lake::MaintenanceSchedulerOptions maintenance;
    maintenance.fs = fs;
    maintenance.root = lake_root;
    for (const auto& lake : lakes_)
      if (lake) maintenance.regions.push_back(lake->region());
    maintenance.interval_ms = maintenance_ms;
    maintenance.schedule.snapshot_retention_ms = snapshot_retention_ms;
    lake_maintenance_ = std::make_unique<lake::MaintenanceScheduler>(std::move(maintenance));
    lake_maintenance_->Start();
  }
  return Status::Ok();
}

void Server::AddProcessorMetrics() {
  auto& m = metrics_;
  auto sum = [this](auto field) {
    return [this, field] {
      double total = 0;
      for (const auto& p : Report()) total += static_cast<double>(field(p));
      return total;
    };
  };
  m.AddGauge("watershed_processed_records_total", "Log records processed (duplicates included)",
             sum([](const gateway::PartitionReport& p) { return p.records; }));
  m.AddGauge("watershed_duplicate_events_total", "Records dropped as duplicates of an earlier event_id",
             sum([](const gateway::PartitionReport& p) { return p.duplicates; }));
  m.AddGauge("watershed_late_events_total", "Events too late for their window (counted in totals only)",
             sum([](const gateway::PartitionReport& p) { return p.late_5s; }), "window=\"5s\"");
  m.AddGauge("watershed_late_events_total", "Events too late for their window (counted in totals only)",
             sum([](const gateway::PartitionReport& p) { return p.late_1m; }), "window=\"1m\"");
  m.AddGauge("watershed_lag_records", "Acknowledged records not yet in the live store",
             [this] { return static_cast<double>(Lag()); });
  m.AddGauge("watershed_dedup_entries", "Event ids retained for deduplication",
             sum([](const gateway::PartitionReport& p) { return p.dedup_entries; }));
  auto lake_sum = [this](uint64_t stream::PartitionStatus::*field) {
    return [this, field] {
      double total = 0;
      for (const auto& proc : processors_)
        for (const auto& s : proc->GetStatus()) total += static_cast<double>(s.*field);
      return total;
    };
  };
  m.AddGauge("watershed_lake_rows_committed_total", "Rows this process committed to the lake's tables",
             lake_sum(&stream::PartitionStatus::lake_rows));
  m.AddGauge("watershed_lake_refused_rows_total", "Rows the lake refused: their region is not the lake's",
             lake_sum(&stream::PartitionStatus::lake_refused_rows));
}

Server::~Server() { Stop().IgnoreError(); }

Status Server::Stop() {
  if (stopped_) return Status::Ok();
  stopped_ = true;
  if (http_) http_->Stop();
  if (lake_maintenance_) lake_maintenance_->Stop();  // after the round in progress, if any
  Status first;
  for (auto& member : members_) {
    Status s = member->Leave();  // revokes its partitions: final checkpoints, then the group moves them
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
  for (int r = 0; r < kRegionCount; ++r) {
    if (!kafka_logs_[r]) continue;
    RETURN_IF_ERROR(kafka_logs_[r]->RefreshEndOffsets(2000));
    for (uint32_t p = 0; p < kafka_logs_[r]->partition_count(); ++p) {
      gateway::PartitionReport rep;
      rep.region = static_cast<Region>(r);
      rep.partition = p;
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
