#include "app/serve_settings.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "app/testing/serve_environment.h"

namespace watershed::app {
namespace {

class ServeSettingsTest : public ::testing::Test {
 protected:
  void SetUp() override { testing::ClearServeEnvironment(); }

  static std::vector<std::string> Words(const std::string& line) {
    std::vector<std::string> out;
    std::stringstream in(line);
    for (std::string word; in >> word;) out.push_back(word);
    return out;
  }

  static Result<ServeSettings> Parse(std::vector<std::string> args, ServerRoles roles = ServerRoles::AllInOne()) {
    auto config = Config::Load(ServeConfigKeys(), args);
    if (!config.ok()) return config.status();
    return ParseServeSettings(*config, roles);
  }

  // The message of the error `args` make, or "<ok>".
  static std::string Error(std::vector<std::string> args, ServerRoles roles = ServerRoles::AllInOne()) {
    auto s = Parse(std::move(args), roles);
    if (s.ok()) return "<ok>";
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument) << s.status().ToString();
    return s.status().message();
  }
};

TEST_F(ServeSettingsTest, TheFeatureStoreIsOffUnlessNamed) {
  auto s = Parse({"--data-dir", "/d"});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->recs_features.kind, RecsFeatureSettings::Kind::kOff);
  EXPECT_EQ(s->recs_features.max_viewers, 1'000'000u);
  s = Parse(Words("--data-dir /d --recs-features embedded --recs-features-snapshot-interval 10s "
                  "--recs-features-max-viewers 0"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->recs_features.kind, RecsFeatureSettings::Kind::kEmbedded);
  EXPECT_EQ(s->recs_features.snapshot_path, "/d/recs/features.snap");
  EXPECT_EQ(s->recs_features.snapshot_interval_ms, 10'000);
  EXPECT_EQ(s->recs_features.max_viewers, 0u);
  s = Parse(Words("--recs-features redis-cluster://a:1,b:2 --recs-features-prefix f"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->recs_features.kind, RecsFeatureSettings::Kind::kRedisCluster);
  EXPECT_EQ(s->recs_features.cluster_seeds, (std::vector<std::string>{"a:1", "b:2"}));
  EXPECT_EQ(s->recs_features.prefix, "f");
  s = Parse(Words("--recs-features redis://h:7"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->recs_features.kind, RecsFeatureSettings::Kind::kRedis);
  EXPECT_EQ(s->recs_features.redis_host, "h");
  EXPECT_EQ(s->recs_features.redis_port, 7);
}

TEST_F(ServeSettingsTest, RecommendationsExperimentsAndCoViewsAreReadAndCheckedAgainstTheModel) {
  auto s =
      Parse(Words("--data-dir /d --recs-features embedded --recs-model stories --recs-experiments /e.toml "
                  "--recs-coviews lake --recs-coviews-refresh 10m"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->recs_serve.experiments_path, "/e.toml");
  EXPECT_EQ(s->recs_serve.exposures_dir, "/d/recs/exposures");  // where `recs experiment report` reads them
  EXPECT_EQ(s->recs_serve.coview_lake_root, "/d/lake");
  EXPECT_EQ(s->recs_serve.coview_refresh_ms, 600'000);
  s = Parse(Words("--data-dir /d --recs-features embedded --recs-model stories --recs-coviews lake --lake-root /l"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->recs_serve.coview_lake_root, "/l");
  s = Parse(Words("--data-dir /d --recs-features embedded --recs-model stories"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->recs_serve.experiments_path, "");
  EXPECT_EQ(s->recs_serve.coview_lake_root, "");  // off by default
  EXPECT_EQ(Error(Words("--recs-features embedded --recs-experiments /e.toml")), "recs-experiments needs recs-model");
  EXPECT_EQ(Error(Words("--recs-features embedded --recs-model stories --recs-coviews yes")),
            "recs-coviews must be off or lake, not 'yes'");
  EXPECT_NE(Error(Words("--recs-features embedded --recs-model stories --recs-coviews-refresh 0"))
                .find("recs-coviews-refresh"),
            std::string::npos);
}

TEST_F(ServeSettingsTest, RedissMeansTlsAndTheSecurityKeysReachBothStores) {
  auto s =
      Parse(Words("--live-store rediss://r:6380 --recs-features redis://h:7 --redis-tls-ca-file /ca.pem "
                  "--redis-tls-cert-file /c.pem --redis-tls-key-file /k.pem"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->live_store.kind, LiveStoreSettings::Kind::kRedis);
  EXPECT_EQ(s->live_store.redis_host, "r");
  EXPECT_EQ(s->live_store.redis_port, 6380);
  EXPECT_TRUE(s->live_store.auth.tls.on);
  EXPECT_EQ(s->live_store.auth.tls.ca_file, "/ca.pem");
  EXPECT_EQ(s->live_store.auth.tls.cert_file, "/c.pem");
  EXPECT_EQ(s->live_store.auth.tls.key_file, "/k.pem");
  EXPECT_FALSE(s->recs_features.auth.tls.on);  // redis:// stays plaintext
  s = Parse(Words("--live-store rediss-cluster://a:1,b:2 --recs-features rediss://h:7"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->live_store.kind, LiveStoreSettings::Kind::kRedisCluster);
  EXPECT_EQ(s->live_store.cluster_seeds, (std::vector<std::string>{"a:1", "b:2"}));
  EXPECT_TRUE(s->live_store.auth.tls.on);
  EXPECT_TRUE(s->recs_features.auth.tls.on);
  EXPECT_EQ(Error(Words("--live-store rediss://r:1 --redis-tls-cert-file /c.pem")),
            "redis-tls-cert-file and redis-tls-key-file go together");
  EXPECT_EQ(Error({"--live-store", "rediss://r:0"}), "live-store: 'rediss://r:0' is not redis://HOST:PORT");
}

TEST_F(ServeSettingsTest, AGoodConfigurationBecomesEachComponentsOptions) {
  auto s = Parse(
      Words("--data-dir /d --regions eu,apac --partitions 4 --segment-size 1MiB --fsync interval "
            "--log kafka://k1:9092,k2:9092 --kafka-topic-prefix t --kafka-session-timeout 20s "
            "--live-store redis-cluster://r1:6379,,r2:6379 --live-store-wait-replicas 1 --processor-threads 100 "
            "--checkpoint-interval 2s --lake-root /lake --lake-buffer-rows 10 --lake-maintenance-interval 1m "
            "--lake-carry-buffers off --lake-file-size 2MiB --lake-file-max-age 90s "
            "--lake-snapshot-retention 2h --lake-compact-check-interval 30s --lake-compact-min-files 8 "
            "--lake-compact-target-size 16MiB --auth off --auth-leeway 5s --auth-public-paths /healthz,,/metrics "
            "--rate-limit 5 --rate-burst 7 --rate-limit-exempt admin,analyst --port 0 --http-threads 0 --max-body 2KiB "
            "--idle-timeout 1m --tls-cert c.pem --tls-key k.pem --max-connections 50 --max-connections-per-address 5 "
            "--auth-failure-rate 2 --auth-failure-burst 3 --auth-max-verifying 4 "
            "--trusted-proxies 10.0.0.0/8,2001:db8::/32"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->data_dir, "/d");
  EXPECT_EQ(s->regions, (std::vector<Region>{Region::kEu, Region::kApac}));
  EXPECT_TRUE(s->log.kafka);
  EXPECT_EQ(s->log.kafka_brokers, "k1:9092,k2:9092");
  EXPECT_FALSE(s->log.kafka_accept_create_time);  // the LogAppendTime checks run
  EXPECT_EQ(s->log.kafka_topic_prefix, "t");
  EXPECT_EQ(s->log.embedded_root, "/d/log");
  EXPECT_EQ(s->log.embedded.partitions, 4u);
  EXPECT_EQ(s->log.embedded.segment_bytes, 1u << 20);
  EXPECT_EQ(s->log.embedded.fsync, log::FsyncPolicy::kInterval);
  EXPECT_EQ(s->live_store.kind, LiveStoreSettings::Kind::kRedisCluster);
  EXPECT_EQ(s->live_store.cluster_seeds, (std::vector<std::string>{"r1:6379", "r2:6379"}));
  EXPECT_EQ(s->live_store.wait_replicas, 1);
  EXPECT_EQ(s->live_store.prefix, "ws");
  EXPECT_EQ(s->processor.runner.threads, 64);  // clamped
  EXPECT_EQ(s->processor.runner.checkpoint_interval_ms, 2000);
  EXPECT_EQ(s->processor.runner.lake, nullptr);
  EXPECT_EQ(s->processor.checkpoint_dir, "/d/checkpoints");
  EXPECT_EQ(s->processor.kafka_session_timeout_ms, 20'000);
  EXPECT_TRUE(s->lake.on);
  EXPECT_EQ(s->lake.root, "/lake");
  EXPECT_EQ(s->lake.sink.buffer_rows, 10u);
  EXPECT_FALSE(s->lake.sink.carry_buffers);
  EXPECT_EQ(s->lake.sink.file_bytes, 2u << 20);
  EXPECT_EQ(s->lake.sink.file_max_age_ms, 90'000);
  EXPECT_EQ(s->lake.maintenance_interval_ms, 60'000);
  EXPECT_EQ(s->lake.maintenance.snapshot_retention_ms, 7'200'000);
  EXPECT_EQ(s->lake.compact_check_ms, 30'000);
  EXPECT_EQ(s->lake.compact_min_files, 8u);
  EXPECT_EQ(s->lake.maintenance.target_file_size_bytes, 16 << 20);
  EXPECT_FALSE(s->auth.on);
  EXPECT_EQ(s->auth.verifier.leeway_seconds, 5);
  EXPECT_EQ(s->auth.keys.default_secret_file, "/d/auth/hs256.secret");
  EXPECT_EQ(s->gateway.api.public_paths, (std::vector<std::string>{"/healthz", "/metrics"}));
  EXPECT_EQ(s->gateway.api.rate_limit.requests_per_second, 5);
  EXPECT_EQ(s->gateway.api.rate_limit.burst, 7);
  EXPECT_TRUE(s->gateway.api.rate_limit_exempt.Has(auth::Role::kAnalyst));
  EXPECT_EQ(s->gateway.server.port, 0);
  EXPECT_EQ(s->gateway.server.threads, 1);  // at least one
  EXPECT_EQ(s->gateway.server.body_limit, 2048u);
  EXPECT_EQ(s->gateway.server.idle_timeout_ms, 60'000);
  EXPECT_EQ(s->gateway.server.tls_cert_file, "c.pem");
  EXPECT_EQ(s->gateway.server.tls_key_file, "k.pem");
  EXPECT_EQ(s->gateway.server.max_connections, 50);
  EXPECT_EQ(s->gateway.server.max_connections_per_address, 5);
  EXPECT_EQ(s->gateway.server.drain_limit, 64u << 10);  // 4 x max-body, at least 64 KiB
  EXPECT_EQ(s->gateway.api.auth_failures_per_second, 2);
  EXPECT_EQ(s->gateway.api.auth_failure_burst, 3);
  EXPECT_EQ(s->gateway.api.max_verifying, 4);
  EXPECT_TRUE(s->gateway.server.trusted_proxies.Contains(*http::ParseIpAddress("10.1.2.3")));
  EXPECT_TRUE(s->gateway.server.trusted_proxies.Contains(*http::ParseIpAddress("2001:db8::1")));
  EXPECT_FALSE(s->gateway.server.trusted_proxies.Contains(*http::ParseIpAddress("192.0.2.1")));

  auto defaults = Parse({"--data-dir", "/d"});
  ASSERT_TRUE(defaults.ok()) << defaults.status().ToString();
  EXPECT_FALSE(defaults->log.kafka);

  // librdkafka's mock cluster: the same log, CreateTime accepted.
  auto mock = Parse({"--data-dir", "/d", "--log", "kafka-mock://127.0.0.1:9092"});
  ASSERT_TRUE(mock.ok()) << mock.status().ToString();
  EXPECT_TRUE(mock->log.kafka);
  EXPECT_TRUE(mock->log.kafka_accept_create_time);
  EXPECT_EQ(mock->log.kafka_brokers, "127.0.0.1:9092");
  EXPECT_EQ(defaults->live_store.kind, LiveStoreSettings::Kind::kMemory);
  EXPECT_EQ(defaults->lake.root, "/d/lake");
  EXPECT_EQ(defaults->regions.size(), 3u);
  EXPECT_TRUE(defaults->auth.on);
  EXPECT_EQ(defaults->gateway.server.max_connections, 10'000);
  EXPECT_EQ(defaults->gateway.server.max_connections_per_address, 256);
  EXPECT_EQ(defaults->gateway.server.drain_limit, 4u << 20);
  EXPECT_EQ(defaults->gateway.api.auth_failures_per_second, 1);
  EXPECT_EQ(defaults->gateway.api.max_verifying, 1);  // http-threads 2, minus one
  EXPECT_TRUE(defaults->gateway.server.trusted_proxies.empty());  // no X-Forwarded-For believed
  EXPECT_EQ(defaults->processor.runner.processor.story_idle_evict_ms, 3'600'000);
  EXPECT_TRUE(defaults->lake.sink.carry_buffers);
  EXPECT_EQ(defaults->lake.sink.file_bytes, 128u << 20);
  EXPECT_EQ(defaults->lake.sink.file_max_age_ms, 300'000);  // lake-commit-interval's
}

TEST_F(ServeSettingsTest, TheLakesFileAgeFollowsTheCommitIntervalUnlessSet) {
  auto s = Parse(Words("--lake-commit-interval 1m"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->lake.sink.file_max_age_ms, 60'000);
  EXPECT_EQ(s->lake.sink.commit_interval_ms, 60'000);
  s = Parse(Words("--lake-commit-interval 1m --lake-file-max-age 0"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->lake.sink.file_max_age_ms, 0);
}

TEST_F(ServeSettingsTest, EachRangeErrorNamesItsKey) {
  EXPECT_EQ(Error({"--partitions", "0"}), "partitions must be in 1..1024");
  EXPECT_EQ(Error({"--partitions", "1025"}), "partitions must be in 1..1024");
  EXPECT_EQ(Error({"--live-store-wait-replicas", "17"}), "live-store-wait-replicas must be in 0..16");
  EXPECT_EQ(Error({"--kafka-session-timeout", "999ms"}), "kafka-session-timeout must be at least 1s");
  EXPECT_EQ(Error({"--lake-buffer-rows", "0"}), "lake-buffer-rows must be at least 1");
  EXPECT_EQ(Error({"--lake-compact-min-files", "1"}), "lake-compact-min-files must be between 2 and 1000000");
  EXPECT_EQ(Error({"--lake-compact-target-size", "1KiB"}), "lake-compact-target-size must be at least 1MiB");
  EXPECT_EQ(Error({"--lake-file-size", "0"}), "lake-file-size must be at least 1 byte");
  EXPECT_EQ(Error({"--story-idle-evict", "999ms"}), "story-idle-evict must be 0 (never) or at least 1s");
  EXPECT_EQ(Error({"--story-idle-evict", "0"}), "<ok>");
  EXPECT_EQ(Error({"--rate-limit", "1", "--rate-burst", "0"}), "rate-burst must be at least 1");
  EXPECT_EQ(Error({"--rate-limit", "0", "--rate-burst", "0"}), "<ok>");
  EXPECT_EQ(Error({"--port", "65536"}), "port must be in 0..65535");
  EXPECT_EQ(Error({"--max-connections", "1000001"}), "max-connections must be in 0..1000000");
  EXPECT_EQ(Error({"--max-connections-per-address", "2000000"}), "max-connections-per-address must be in 0..1000000");
  EXPECT_EQ(Error({"--auth-failure-burst", "0"}), "auth-failure-burst must be at least 1");
  EXPECT_EQ(Error({"--auth-failure-rate", "0", "--auth-failure-burst", "0"}), "<ok>");
  EXPECT_EQ(Error({"--auth-max-verifying", "1025"}), "auth-max-verifying must be in 0..1024");
  EXPECT_EQ(Error({"--trusted-proxies", "10.0.0.0/8,10.0.0.1/33"}),
            "trusted-proxies: '10.0.0.1/33': the prefix length must be 0..32");
  EXPECT_EQ(Error({"--trusted-proxies", "lb.internal"}),
            "trusted-proxies: 'lb.internal' is not an IPv4 or IPv6 address or CIDR block (e.g. 10.0.0.0/8, "
            "2001:db8::/32)");
  EXPECT_EQ(Error({"--rate-limit-exempt", "admin,wizard"}), "rate-limit-exempt: unknown role 'wizard'");
  EXPECT_EQ(Error({"--regions", "us,mars"}), "unknown region 'mars' in --regions");
  EXPECT_EQ(Error({"--log", "kafka://"}),
            "log: 'kafka://' is not embedded, kafka://BROKER[,BROKER...] or kafka-mock://BROKER[,BROKER...]");
  EXPECT_EQ(Error({"--log", "kafka-mock://"}),
            "log: 'kafka-mock://' is not embedded, kafka://BROKER[,BROKER...] or kafka-mock://BROKER[,BROKER...]");
  EXPECT_EQ(Error({"--live-store", "redis://r:0"}), "live-store: 'redis://r:0' is not redis://HOST:PORT");
  EXPECT_EQ(Error({"--live-store", "redis-cluster://,"}), "live-store: 'redis-cluster://,' names no cluster node");
  EXPECT_EQ(Error({"--live-store", "etcd://x"}),
            "live-store: 'etcd://x' is not memory, redis[s]://HOST:PORT or redis[s]-cluster://...");
  EXPECT_EQ(Error({"--recs-features", "on"}),
            "recs-features: 'on' is not off, embedded, redis://HOST:PORT or redis-cluster://HOST:PORT[,...]");
  EXPECT_EQ(Error({"--recs-features", "redis://r:0"}),
            "recs-features: 'redis://r:0' is not off, embedded, redis://HOST:PORT or redis-cluster://HOST:PORT[,...]");
  EXPECT_EQ(Error({"--recs-features-prefix", "a{b}"}), "recs-features-prefix must be non-empty, without braces");
  EXPECT_EQ(Error({"--recs-features-max-viewers", "-1"}), "recs-features-max-viewers: '-1' is not a non-negative number");
  // Values Config itself refuses, named by their key.
  for (const char* key : {"checkpoint-interval", "lake-commit-interval", "idle-timeout", "auth-leeway"})
    EXPECT_NE(Error({std::string("--") + key, "2d"}).find(key), std::string::npos) << key;
  for (const char* key : {"fsync", "auth", "lake", "max-body", "dedup-ttl", "auth-cache-entries", "lake-carry-buffers",
                          "lake-file-size", "lake-file-max-age"})
    EXPECT_NE(Error({std::string("--") + key, "bogus"}).find(key), std::string::npos) << key;
}

TEST_F(ServeSettingsTest, SplitRolesNeedKafkaAndASharedLiveStore) {
  for (ServerRoles roles : {ServerRoles::Gateway(), ServerRoles::Processor(), ServerRoles::Query()}) {
    const std::string e = Error({"--live-store", "redis://127.0.0.1:1"}, roles);
    EXPECT_NE(e.find(std::string("watershed ") + roles.command + " needs log = kafka://"), std::string::npos) << e;
  }
  for (ServerRoles roles : {ServerRoles::Processor(), ServerRoles::Query()})
    EXPECT_NE(Error({"--log", "kafka://k:9092"}, roles).find("needs live-store = redis://"), std::string::npos);
  EXPECT_EQ(Error({"--log", "kafka://k:9092"}, ServerRoles::Gateway()), "<ok>");
  EXPECT_EQ(Error({"--log", "kafka://k:9092", "--live-store", "redis://r:6379"}, ServerRoles::Processor()), "<ok>");
}

TEST_F(ServeSettingsTest, EachRegionHasALiveStoreLiveStoreByDefault) {
  auto s = Parse(Words("--live-store redis://a:1 --live-store.eu redis-cluster://b:2,c:3 --live-store.apac memory"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  using Kind = LiveStoreSettings::Kind;
  EXPECT_EQ(s->region_live_stores[static_cast<int>(Region::kUs)].spec, "redis://a:1");
  EXPECT_EQ(s->region_live_stores[static_cast<int>(Region::kUs)].kind, Kind::kRedis);
  EXPECT_EQ(s->region_live_stores[static_cast<int>(Region::kEu)].kind, Kind::kRedisCluster);
  EXPECT_EQ(s->region_live_stores[static_cast<int>(Region::kEu)].cluster_seeds,
            (std::vector<std::string>{"b:2", "c:3"}));
  EXPECT_EQ(s->region_live_stores[static_cast<int>(Region::kApac)].kind, Kind::kMemory);
  auto plain = Parse({});
  ASSERT_TRUE(plain.ok());
  for (const auto& l : plain->region_live_stores) EXPECT_EQ(l.kind, Kind::kMemory);
  EXPECT_EQ(Error(Words("--live-store.mars redis://a:1")), "live-store.mars: unknown region 'mars'");
  EXPECT_NE(Error(Words("--live-store.eu redis://a:x")).find("live-store.eu: 'redis://a:x'"), std::string::npos);
  EXPECT_NE(
      Error(Words("--log kafka://k:9092 --live-store redis://a:1 --live-store.eu memory"), ServerRoles::Processor())
          .find("needs live-store.eu = redis://"),
      std::string::npos);
}

TEST_F(ServeSettingsTest, TheCatalogueFeedRunsWhenCdcConninfoIsSet) {
  auto off = Parse({});
  ASSERT_TRUE(off.ok()) << off.status().ToString();
  EXPECT_FALSE(off->cdc.on);

  auto s =
      Parse(Words("--data-dir /d --cdc-conninfo host=db --cdc-slot s1 --cdc-publication p1 --cdc-table app.posts "
                  "--cdc-columns story_id=id,author_id=owner"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_TRUE(s->cdc.on);
  EXPECT_EQ(s->cdc.feed.conninfo, "host=db");
  EXPECT_EQ(s->cdc.feed.slot, "s1");
  EXPECT_EQ(s->cdc.feed.publication, "p1");
  EXPECT_EQ(s->cdc.feed.table, "app.posts");
  EXPECT_EQ(s->cdc.feed.columns.story_id, "id");
  EXPECT_EQ(s->cdc.feed.columns.author_id, "owner");
  EXPECT_EQ(s->cdc.feed.columns.title, "title");
  EXPECT_EQ(s->cdc.feed.state_dir, "/d/catalog/cdc");

  EXPECT_NE(Error({"--cdc-slot", "Bad-Slot"}).find("--cdc-slot"), std::string::npos);
  EXPECT_NE(Error({"--cdc-publication", ""}).find("--cdc-publication"), std::string::npos);
  EXPECT_NE(Error({"--cdc-columns", "story=id"}).find("--cdc-columns"), std::string::npos);
  EXPECT_NE(Error({"--cdc-table", ""}).find("--cdc-table"), std::string::npos);
}

// The development token endpoint (docs/operations.md "Dashboard") is off by
// default and only for a server that verifies tokens with its own secret.
TEST_F(ServeSettingsTest, DevTokenMintIsOffByDefaultAndNeedsAuthWithAnHs256Secret) {
  auto s = Parse({});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_FALSE(s->dev_token_mint);
  EXPECT_EQ(Error({"--dev-token-mint", "on"}), "<ok>");
  EXPECT_NE(Error({"--dev-token-mint", "on", "--auth", "off"}).find("needs auth = on"), std::string::npos);
  EXPECT_NE(Error({"--dev-token-mint", "on", "--auth-jwks-file", "/x/jwks.json"}).find("own HS256 secret"),
            std::string::npos);
  EXPECT_EQ(Error({"--dev-token-mint", "on", "--auth-jwks-file", "/x/jwks.json", "--auth-secret-file", "/x/s"}),
            "<ok>");
  EXPECT_NE(Error({"--dev-token-mint", "maybe"}).find("dev-token-mint"), std::string::npos);
}

TEST_F(ServeSettingsTest, PeersAreKnownOtherRegionsWithHttpUrlsAndNeedTheCredentialAndThePolicy) {
  auto s =
      Parse(Words("--data-dir /d --regions eu --governance-file g.toml --peer-token-file t "
                  "--peers us=http://127.0.0.1:8081,apac=http://apac.example:9000/ --peer-timeout 3s"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_EQ(s->federation.peers.size(), 2u);
  EXPECT_EQ(s->federation.peers[0].region, Region::kUs);
  EXPECT_EQ(s->federation.peers[0].host, "127.0.0.1");
  EXPECT_EQ(s->federation.peers[0].port, 8081);
  EXPECT_EQ(s->federation.peers[1].region, Region::kApac);
  EXPECT_EQ(s->federation.peers[1].host, "apac.example");
  EXPECT_EQ(s->federation.peers[1].port, 9000);
  EXPECT_EQ(s->federation.timeout_ms, 3000);
  EXPECT_EQ(s->federation.token_file, "t");
  EXPECT_TRUE(Parse({"--data-dir", "/d"})->federation.peers.empty());

  const std::string ok = "--data-dir /d --regions eu --governance-file g.toml --peer-token-file t --peers ";
  EXPECT_NE(Error(Words(ok + "mars=http://h:1")).find("unknown region 'mars'"), std::string::npos);
  EXPECT_NE(Error(Words(ok + "eu=http://h:1")).find("own region"), std::string::npos);
  EXPECT_NE(Error(Words(ok + "us=http://h:1,us=http://h:2")).find("twice"), std::string::npos);
  EXPECT_NE(Error(Words(ok + "us=https://h:1")).find("not an http:// URL"), std::string::npos);
  EXPECT_NE(Error(Words(ok + "us=http://h")).find("host and a port"), std::string::npos);
  EXPECT_NE(Error(Words(ok + "us=http://h:1/path")).find("host and a port"), std::string::npos);
  EXPECT_NE(Error(Words(ok + "us=http://h:99999")).find("bad port"), std::string::npos);
  EXPECT_NE(Error(Words(ok + "us")).find("REGION=http://HOST:PORT"), std::string::npos);
  EXPECT_NE(
      Error(Words("--data-dir /d --regions eu,us --governance-file g --peer-token-file t --peers apac=http://h:1"))
          .find("exactly one region"),
      std::string::npos);
  EXPECT_NE(
      Error(Words("--data-dir /d --regions eu --governance-file g --peers us=http://h:1")).find("peer-token-file"),
      std::string::npos);
  EXPECT_NE(
      Error(Words("--data-dir /d --regions eu --peer-token-file t --peers us=http://h:1")).find("governance-file"),
      std::string::npos);
  EXPECT_NE(Error(Words(ok + "us=http://h:1 --peer-timeout 0s")).find("peer-timeout"), std::string::npos);
}

}  // namespace
}  // namespace watershed::app
