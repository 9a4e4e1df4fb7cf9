#include "app/config.h"

#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string_view>

#include "core/event.h"

namespace watershed::app {

const std::vector<ConfigKey>& ServeConfigKeys() {
  static const std::vector<ConfigKey> keys = {
      {"data-dir", "./watershed-data", "directory for the logs and checkpoints"},
      {"listen", "127.0.0.1", "address of the HTTP listener"},
      {"port", "8080", "port of the HTTP listener (0 = any free port)"},
      {"http-threads", "2", "HTTP I/O threads"},
      {"region-names", "us,eu,apac",
       "the deployment's regions, in order (lowercase a-z, 0-9, '-'; at most 16); every process and command of a "
       "deployment names the same list, and a data dir's regions keep their places (append new ones at the end)"},
      {"regions", "", "regions served by this process (default: every region of region-names)"},
      {"log", "embedded",
       "the log: embedded (files under data-dir) | kafka://BROKER[,BROKER...] | kafka-mock://BROKER[,...] "
       "(`watershed kafka-mock` only: its topics keep CreateTime)"},
      {"kafka-property.*", "",
       "kafka-property.NAME = VALUE passes a librdkafka property to every Kafka client "
       "(security.protocol, sasl.mechanisms, sasl.username, ssl.ca.location, ...; docs/deploy.md)"},
      {"kafka-topic-prefix", "watershed", "Kafka topics are <prefix>.<region>, with `partitions` partitions each"},
      {"kafka-session-timeout", "10s",
       "processor: a member silent this long loses its partitions to the rest of its group"},
      {"live-store", "memory",
       "where metrics live: memory | redis://HOST:PORT | redis-cluster://HOST:PORT[,HOST:PORT...] (rediss://, "
       "rediss-cluster://: over TLS); the store of every served region unless live-store.REGION names its own"},
      {"live-store.*", "",
       "live-store.REGION = memory | redis://... | redis-cluster://...: region REGION's own live store "
       "(docs/live_store.md "
       "\"One store per region\"); regions with the same value share one store"},
      {"redis-auth-file", "",
       "a file (mode 600) holding PASSWORD or USER PASSWORD: every Redis connection (live store, "
       "feature store, cluster nodes) starts with AUTH; empty = no AUTH"},
      {"redis-tls-ca-file", "",
       "CA certificates (PEM) that a rediss:// server's certificate must chain to; empty = the system's"},
      {"redis-tls-cert-file", "", "client certificate (PEM) for rediss:// servers that ask for one"},
      {"redis-tls-key-file", "", "its private key (PEM)"},
      {"live-store-prefix", "ws", "key prefix in Redis (one Redis can hold several deployments)"},
      {"live-store-wait-replicas", "0",
       "Redis: each write waits for this many replicas (WAIT), so a failover loses nothing"},
      {"partitions", "8", "log partitions per region (fixed once data exists)"},
      {"log-partition-scheme", "auto",
       "how stories map to log partitions (fixed once data exists): aligned (murmur3 bucket of the lake's "
       "bucket[16](story_id): a partition's sink writes only its own buckets; partitions must divide 16 or be a "
       "multiple of it) | legacy (the hash of logs made before aligned existed) | auto (an existing embedded log "
       "keeps its own; new logs and Kafka topics: aligned)"},
      {"segment-size", "64MiB", "log segment size before rolling"},
      {"fsync", "always", "log fsync policy: always (before ack, group commit) | interval | never"},
      {"fsync-interval", "100ms", "sync period when fsync=interval"},
      {"log-retention", "7d", "delete checkpointed log segments older than this"},
      {"log-retention-size", "0", "and beyond this size per partition (0 = no limit)"},
      {"log-repair", "off",
       "on: truncate a log segment at a damaged record even when valid (acknowledged) "
       "records follow it, dropping them; off: refuse to start (a crash cannot leave that)"},
      {"checkpoint-interval", "10s", "processor checkpoint period"},
      {"checkpoint-dir", "",
       "processor checkpoints (default <data-dir>/checkpoints); the processors of a group "
       "share it: one directory on shared storage"},
      {"encryption", "off",
       "on: log segments, checkpoints and the cold store are sealed with AES-256-GCM under data "
       "keys wrapped by the region's key, lake data files are encrypted Parquet (docs/encryption.md)"},
      {"keys-dir", "", "the local key provider's keys, <keys-dir>/<region>/ (default <data-dir>/keys)"},
      {"key-command", "",
       "a command that wraps and unwraps data keys (a KMS CLI; protocol in docs/encryption.md); "
       "empty = the key files in keys-dir"},
      {"catalog-dir", "",
       "the story catalogue, the only source of authorship (default <data-dir>/catalog); "
       "every process of a deployment shares it: one directory on shared storage"},
      {"cdc-conninfo", "",
       "PostgreSQL (libpq conninfo) whose story table feeds the catalogue and the lake's "
       "cdc_<table> by logical replication (docs/cdc.md); empty = no feed"},
      {"cdc-slot", "watershed_stories", "the feed's replication slot ([a-z0-9_], one feed per slot)"},
      {"cdc-publication", "watershed_stories", "the feed's publication (created for cdc-table when missing)"},
      {"cdc-table", "public.stories", "the story table the feed reads (schema.table)"},
      {"cdc-columns", "",
       "catalogue field=source column pairs where the names differ, e.g. "
       "story_id=id,author_id=owner_id (empty = the same names)"},
      {"access-log", "off",
       "json: one JSON line per API request on stderr (time, method, path, status, duration, "
       "trace_id); off: none"},
      {"otlp-endpoint", "",
       "http://HOST[:PORT] of an OpenTelemetry collector's OTLP/HTTP receiver: spans of ingest, "
       "append, processing and visibility are posted there as JSON (docs/operations.md); "
       "empty = no tracing"},
      {"otlp-sampling-ratio", "0.01",
       "share of requests without a sampled traceparent that start a trace (0..1); "
       "a client's traceparent is followed as its sampled flag says"},
      {"lake", "on", "processors write the region's data lake (Iceberg tables, docs/lake.md): on | off"},
      {"lake-root", "", "root of the lakes (default <data-dir>/lake); each region's tables under <root>/<region>/"},
      {"lake-buffer-rows", "262144",
       "rows a partition buffers per table at most: then it writes them all out as "
       "data files"},
      {"lake-carry-buffers", "on",
       "on: checkpoints carry the lake's buffered rows (their log offsets, docs/lake.md) "
       "and files are cut by size, age and commits only; off: every checkpoint writes "
       "every buffer out (many small files)"},
      {"lake-file-size", "128MiB",
       "a buffered Iceberg partition is written out as one data file once its rows "
       "reach this size uncompressed"},
      {"lake-file-max-age", "",
       "...or this long after its first row arrived (default: lake-commit-interval; "
       "0 = no age cut)"},
      {"lake-commit-interval", "5m",
       "processors commit their lake files (a snapshot per table and partition) at "
       "the first checkpoint this long after the last commit, across restarts (at most 1d)"},
      {"lake-maintenance-interval", "10m",
       "processors compact, archive (lifecycle), expire snapshots and remove "
       "orphans of their regions' lakes this often (0 = never; in a group, "
       "let one member do it)"},
      {"lake-snapshot-retention", "1h", "lake maintenance expires snapshots older than this (the newest stays)"},
      {"lake-compact-check-interval", "1m",
       "between maintenance rounds, compact an Iceberg partition as soon as "
       "it holds lake-compact-min-files small files; checked this often "
       "(0 = only in the rounds)"},
      {"lake-compact-min-files", "32", "small files an Iceberg partition gathers before compaction by need"},
      {"lake-compact-target-size", "128MiB", "compaction writes files up to this size; smaller ones are compacted"},
      {"processor-threads", "1", "processor worker threads per region (each owns some partitions)"},
      {"dedup-ttl", "1h", "event_id dedup horizon, on log append time"},
      {"out-of-order", "5s", "watermark = max event time minus this"},
      {"allowed-lateness", "60s", "windows accept events until the watermark passes end + this"},
      {"series-retention-5s", "1h", "closed 5 s windows kept for the series API"},
      {"series-retention-1m", "24h", "closed 1 min windows kept for the series API"},
      {"story-idle-evict", "1h",
       "a story with no event this long (append time) leaves processor memory for the "
       "cold store beside the checkpoints; 0 = never"},
      {"recs-features", "off",
       "the recommendations' feature store, kept up to date from the logs by `serve`: "
       "off | embedded (in memory, snapshot in <data-dir>/recs) | redis://HOST:PORT | "
       "redis-cluster://HOST:PORT[,HOST:PORT...]"},
      {"recs-features-prefix", "wsf", "Redis feature store: its keys are {PREFIX}:..."},
      {"recs-features-max-viewers", "1000000",
       "viewers the feature store keeps; past it the least recently active "
       "go (0 = no bound)"},
      {"recs-features-snapshot-interval", "1m", "embedded feature store: snapshot this often (and at stop)"},
      {"recs-model", "",
       "GET /v1/users/{id}/recommendations: the model registry's name served (its current version, swapped "
       "when promoted); needs recs-features; empty = off"},
      {"recs-rules", "", "recommendations: the post-processing rules file, reloaded on change; empty = none"},
      {"recs-experiments", "",
       "recommendations: the A/B experiments file (docs/recs.md), reloaded on change; each answer names its arms and "
       "its exposure goes to <data-dir>/recs/exposures; empty = none"},
      {"recs-coviews", "off",
       "recommendations' co-viewed candidates: off | lake (computed from the lake's events under lake-root)"},
      {"recs-coviews-refresh", "1h", "recommendations: recompute the co-viewed items this often"},
      {"recs-refresh", "10s",
       "recommendations: check the current version, the rules and the candidate pool this often"},
      {"max-body", "1MiB", "largest accepted request body (413 beyond)"},
      {"max-future", "5m", "largest accepted lead of event_time over the server clock"},
      {"idle-timeout", "30s", "close connections idle (or trickling) this long"},
      {"auth", "on", "JWT bearer auth on /v1/ endpoints: on | off (off only on a trusted network)"},
      {"auth-secret-file", "",
       "HS256 shared secret file (>= 32 bytes); default <data-dir>/auth/hs256.secret, "
       "generated on first start unless auth-jwks-file is set"},
      {"auth-jwks-file", "", "JWKS file with the RS256/ES256 public keys (selected by kid)"},
      {"auth-jwks-reload", "30s", "re-read the JWKS file this often (keys rotate without a restart)"},
      {"auth-issuer", "watershed", "required iss claim (empty = not checked)"},
      {"auth-audience", "watershed", "required aud claim (empty = not checked)"},
      {"auth-leeway", "30s", "clock skew tolerated on exp and nbf"},
      {"auth-cache-entries", "16384", "verified tokens remembered, ~450 bytes each (0 = verify every request)"},
      {"auth-public-paths", "/healthz,/readyz,/metrics", "paths served without a token"},
      {"rate-limit", "1000", "requests per second per user (0 = no limit)"},
      {"rate-burst", "2000", "requests a rested user may send at once"},
      {"rate-limit-exempt", "admin", "roles not rate limited (comma-separated; empty = none)"},
      {"max-in-flight", "10000", "requests in progress at once, all users (0 = no limit)"},
      {"query-memory", "1GiB",
       "a lake query's memory (hash tables, sorts, results) at most: past it the query "
       "stops with 413 query_too_large (POST /v1/query, story history)"},
      {"query-threads", "0",
       "threads scanning one lake query's files and row groups (0 = one per core); the "
       "answer does not depend on it (POST /v1/query, story history, watershed sql)"},
      {"query-timeout", "60s", "a lake query's time at most: past it the query stops with 503 query_timeout"},
      {"governance-file", "",
       "the governance policy (docs/governance.md): which roles read which lake tables and columns, masking, "
       "regions' rules; with it every lake query is audited. Validated at start (empty = none: no policy, no audit)"},
      {"peers", "",
       "the other regions' deployments for global queries (docs/query.md): REGION=http://HOST:PORT,... (empty = "
       "none: global.<table> is refused); needs one region in `regions`, peer-token-file and governance-file"},
      {"peer-token-file", "",
       "the shared service credential of the regions' deployments: a file of this user's, mode 600, 32..256 "
       "characters; sent on calls to peers and checked on POST /v1/query/fragment and GET /v1/peer/stories/{id}"},
      {"peer-timeout", "10s", "each call to a peer (connect, send, answer) at most"},
      {"peer-live-timeout", "1s",
       "each call to a peer for a story's live totals (GET /v1/stories/{id}/metrics) at most; past it the answer "
       "is partial and names the region missing"},
      {"query-concurrency", "2",
       "lake queries (POST /v1/query, story history) admitted at once, each on a thread of "
       "its own; one more is answered 503 query_busy"},
      {"max-connections", "10000", "open HTTP connections, all clients (0 = no cap; beyond: 503 and close)"},
      {"max-connections-per-address", "256", "open HTTP connections per client IP (0 = no cap; beyond: 429 and close)"},
      {"trusted-proxies", "",
       "CIDRs of the proxies/load balancers in front (comma-separated, IPv4 and IPv6): a "
       "request from one of them counts against the per-address limits of the client its "
       "X-Forwarded-For names (the right-most address not in this list); empty = trust none"},
      {"auth-failure-rate", "1", "failed authentications per second per client IP, sustained (0 = no limit)"},
      {"auth-failure-burst", "20", "failed authentications a client IP may have at once before 429"},
      {"auth-max-verifying", "0",
       "token signature checks at once for addresses that failed lately (0 = http-threads - 1, at least 1)"},
      {"dev-token-mint", "off",
       "DEVELOPMENT ONLY: on = POST /v1/dev/token mints a creator token for anyone who asks "
       "(the dashboard's sign-in button); needs auth = on with the server's HS256 secret"},
      {"tls-cert", "", "PEM certificate chain: serve HTTPS (with tls-key)"},
      {"tls-key", "", "PEM private key of tls-cert"},
  };
  return keys;
}

namespace {
std::string EnvName(const std::string& key) {
  std::string env = "WATERSHED_";
  for (char c : key) env.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  return env;
}
std::string Trim(std::string s) {
  size_t b = s.find_first_not_of(" \t\r"), e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}
Result<int64_t> NumberWithUnit(const std::string& key, const std::string& v,
                               const std::vector<std::pair<std::string, int64_t>>& units) {
  int64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || n < 0) return Status::InvalidArgument(key + ": '" + v + "' is not a non-negative number");
  std::string unit(p, v.data() + v.size());
  for (const auto& [name, mult] : units)
    if (unit == name) {
      if (n > INT64_MAX / mult) return Status::InvalidArgument(key + ": '" + v + "' is too large");
      return n * mult;
    }
  return Status::InvalidArgument(key + ": unknown unit '" + unit + "' in '" + v + "'");
}
}  // namespace

Result<Config> Config::Load(const std::vector<ConfigKey>& keys, const std::vector<std::string>& args) {
  Config c;
  std::vector<std::string> families;  // "kafka-property."
  for (const auto& k : keys) {
    const std::string name = k.name;
    if (name.ends_with(".*")) {
      families.push_back(name.substr(0, name.size() - 1));
    } else {
      c.values_[name] = k.default_value;
    }
  }
  auto in_family = [&](const std::string& key) {
    for (const std::string& f : families)
      if (key.starts_with(f) && key.size() > f.size()) return true;
    return false;
  };
  auto set = [&](const std::string& key, const std::string& value, const std::string& where) -> Status {
    if (!c.values_.count(key) && !in_family(key))
      return Status::InvalidArgument("unknown setting '" + key + "' in " + where);
    c.values_[key] = value;
    return Status::Ok();
  };
  // Flags first into a list, so the config file they name can be read before them.
  std::vector<std::pair<std::string, std::string>> flags;
  std::string config_file = std::getenv("WATERSHED_CONFIG") ? std::getenv("WATERSHED_CONFIG") : "";
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (!a.starts_with("--")) return Status::InvalidArgument("unexpected argument '" + a + "'");
    std::string key = a.substr(2), value;
    if (auto eq = key.find('='); eq != std::string::npos) {
      value = key.substr(eq + 1);
      key = key.substr(0, eq);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return Status::InvalidArgument("flag --" + key + " needs a value");
    }
    if (key == "config") {
      config_file = value;
    } else {
      flags.emplace_back(key, value);
    }
  }
  if (!config_file.empty()) {
    std::ifstream in(config_file);
    if (!in) return Status::InvalidArgument("cannot read config file " + config_file);
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      line = Trim(line.substr(0, line.find('#')));
      if (line.empty()) continue;
      auto eq = line.find('=');
      if (eq == std::string::npos)
        return Status::InvalidArgument(config_file + ":" + std::to_string(n) + ": expected key = value");
      RETURN_IF_ERROR(set(Trim(line.substr(0, eq)), Trim(line.substr(eq + 1)),
                          config_file + ":" + std::to_string(n)));
    }
  }
  for (const auto& k : keys)
    if (const char* v = std::getenv(EnvName(k.name).c_str()); v != nullptr && c.values_.count(k.name))
      c.values_[k.name] = v;
  for (const auto& [k, v] : flags) RETURN_IF_ERROR(set(k, v, "flags"));
  // The process's region table comes from the configuration (every command
  // of a deployment reads it); `regions` defaults to all of its names.
  if (auto names = c.values_.find("region-names"); names != c.values_.end()) {
    RETURN_IF_ERROR(SetRegionNames(std::string_view(names->second)));
    if (auto served = c.values_.find("regions"); served != c.values_.end() && served->second.empty())
      served->second = RegionNamesText(",");
  }
  return c;
}

const std::string& Config::Get(const std::string& key) const { return values_.at(key); }

std::vector<std::pair<std::string, std::string>> Config::WithPrefix(const std::string& prefix) const {
  std::vector<std::pair<std::string, std::string>> out;
  for (auto it = values_.lower_bound(prefix); it != values_.end() && it->first.starts_with(prefix); ++it)
    out.emplace_back(it->first.substr(prefix.size()), it->second);
  return out;
}

Result<int64_t> Config::GetInt(const std::string& key) const { return NumberWithUnit(key, Get(key), {{"", 1}}); }

Result<bool> Config::GetBool(const std::string& key) const {
  const std::string& v = Get(key);
  if (v == "on" || v == "true" || v == "yes" || v == "1") return true;
  if (v == "off" || v == "false" || v == "no" || v == "0") return false;
  return Status::InvalidArgument(key + ": '" + v + "' is not on/off (true/false, yes/no, 1/0)");
}

Result<int64_t> ParseDurationMs(const std::string& name, const std::string& value, int64_t bare_unit_ms,
                                int64_t max_ms) {
  ASSIGN_OR_RETURN(int64_t ms, NumberWithUnit(name, value, {{"", bare_unit_ms}, {"ms", 1}, {"s", 1000}, {"m", 60'000},
                                                            {"h", 3'600'000}, {"d", 86'400'000}}));
  if (ms > max_ms)
    return Status::InvalidArgument(name + ": '" + value + "' is above the limit of " + std::to_string(max_ms) + " ms");
  return ms;
}

Result<int64_t> Config::GetDurationMs(const std::string& key, int64_t max_ms) const {
  return ParseDurationMs(key, Get(key), 1, max_ms);
}

Result<int64_t> Config::GetBytes(const std::string& key) const {
  return NumberWithUnit(key, Get(key), {{"", 1}, {"B", 1}, {"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1ll << 30}});
}

std::string DescribeKeys(const std::vector<ConfigKey>& keys) {
  std::string out;
  for (const auto& k : keys) {
    std::string flag = std::string("  --") + k.name + " (" + k.default_value + ")";
    if (flag.size() < 34) flag.resize(34, ' ');
    const bool family = std::string_view(k.name).ends_with(".*");
    out += flag + " " + k.help + "  [" + (family ? std::string("file and flags only") : EnvName(k.name)) + "]\n";
  }
  return out;
}

}  // namespace watershed::app
