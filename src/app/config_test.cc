#include "app/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "core/event.h"
#include "core/testing/temp_dir.h"

namespace watershed::app {
namespace {

using ::watershed::testing::TempDir;

// Every environment variable Config reads, so a developer's shell cannot
// leak into the tests.
std::vector<std::string> AllEnvNames() {
  std::vector<std::string> names = {"WATERSHED_CONFIG"};
  for (const auto& k : ServeConfigKeys()) {
    std::string env = "WATERSHED_";
    for (const char* c = k.name; *c; ++c) env.push_back(*c == '-' ? '_' : static_cast<char>(std::toupper(*c)));
    names.push_back(env);
  }
  return names;
}

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const auto& n : AllEnvNames()) ::unsetenv(n.c_str());
  }
  void TearDown() override {
    for (const auto& n : AllEnvNames()) ::unsetenv(n.c_str());
  }

  std::string WriteFile(const std::string& name, const std::string& text) {
    std::string path = dir_.Path(name);
    std::ofstream(path) << text;
    return path;
  }
  Config Load(const std::vector<std::string>& args) {
    auto c = Config::Load(ServeConfigKeys(), args);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? c.value() : Config();
  }
  Status LoadError(const std::vector<std::string>& args) {
    auto c = Config::Load(ServeConfigKeys(), args);
    EXPECT_FALSE(c.ok());
    return c.ok() ? Status::Ok() : c.status();
  }
  // The value of `key` parsed by `get` when `key` is set to `value` by flag.
  template <typename Getter>
  Result<int64_t> Parse(const std::string& key, const std::string& value, Getter get) {
    auto c = Config::Load(ServeConfigKeys(), {"--" + key + "=" + value});
    if (!c.ok()) return c.status();
    return get(c.value(), key);
  }
  Result<int64_t> Duration(const std::string& value) {
    return Parse("checkpoint-interval", value, [](const Config& c, const std::string& k) { return c.GetDurationMs(k); });
  }
  Result<int64_t> Bytes(const std::string& value) {
    return Parse("max-body", value, [](const Config& c, const std::string& k) { return c.GetBytes(k); });
  }

  TempDir dir_{"config_test"};
};

TEST_F(ConfigTest, DefaultsCoverEveryKey) {
  Config c = Load({});
  for (const auto& k : ServeConfigKeys()) {
    if (std::string_view(k.name).ends_with(".*")) continue;  // a family: its keys have no default
    ASSERT_TRUE(c.Has(k.name)) << k.name;
    if (std::string_view(k.name) == "regions") continue;  // filled from region-names, below
    EXPECT_EQ(c.Get(k.name), k.default_value) << k.name;
  }
  EXPECT_FALSE(c.Has("config"));
  EXPECT_FALSE(c.Has("bogus"));
  EXPECT_EQ(c.GetInt("port").value(), 8080);
  EXPECT_EQ(c.Get("fsync"), "always");
  EXPECT_EQ(c.Get("regions"), "us,eu,apac");  // every region of region-names
  EXPECT_EQ(c.GetInt("partitions").value(), 8);
  EXPECT_EQ(c.GetDurationMs("checkpoint-interval").value(), 10'000);
  EXPECT_EQ(c.GetDurationMs("dedup-ttl").value(), 3'600'000);
  EXPECT_EQ(c.GetDurationMs("log-retention").value(), 7 * 86'400'000ll);
  EXPECT_EQ(c.GetBytes("segment-size").value(), 64ll << 20);
  EXPECT_EQ(c.GetBytes("max-body").value(), 1ll << 20);
  EXPECT_EQ(c.GetBytes("log-retention-size").value(), 0);
  // Every default parses as what its key holds.
  for (const char* d : {"fsync-interval", "log-retention", "checkpoint-interval", "dedup-ttl", "out-of-order",
                        "allowed-lateness", "series-retention-5s", "series-retention-1m", "story-idle-evict", "max-future",
                        "idle-timeout", "auth-jwks-reload", "auth-leeway"})
    EXPECT_TRUE(c.GetDurationMs(d).ok()) << d;
  for (const char* b : {"segment-size", "log-retention-size", "max-body"}) EXPECT_TRUE(c.GetBytes(b).ok()) << b;
  for (const char* i : {"port", "http-threads", "partitions", "auth-cache-entries", "rate-limit", "rate-burst",
                        "max-in-flight"})
    EXPECT_TRUE(c.GetInt(i).ok()) << i;
  EXPECT_TRUE(c.GetBool("auth").value());  // secure by default
}

TEST_F(ConfigTest, Booleans) {
  for (const char* on : {"on", "true", "yes", "1"}) EXPECT_TRUE(Load({"--auth", on}).GetBool("auth").value()) << on;
  for (const char* off : {"off", "false", "no", "0"}) EXPECT_FALSE(Load({"--auth", off}).GetBool("auth").value()) << off;
  Status s = Load({"--auth", "maybe"}).GetBool("auth").status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("auth"), std::string::npos);
}

TEST_F(ConfigTest, FileThenEnvironmentThenFlags) {
  std::string file = WriteFile("w.conf",
                               "# a comment\n"
                               "\n"
                               "port = 1111\n"
                               "  http-threads=3   # trailing comment\n"
                               "partitions = 4\n"
                               "data-dir = /var/lib/watershed\n");
  ::setenv("WATERSHED_PORT", "2222", 1);
  ::setenv("WATERSHED_HTTP_THREADS", "5", 1);
  ::setenv("WATERSHED_FSYNC", "never", 1);
  Config c = Load({"--config", file, "--port=3333", "--fsync", "interval"});
  EXPECT_EQ(c.Get("port"), "3333");                  // flag over env over file
  EXPECT_EQ(c.Get("http-threads"), "5");             // env over file
  EXPECT_EQ(c.Get("partitions"), "4");               // file over default
  EXPECT_EQ(c.Get("data-dir"), "/var/lib/watershed");  // trimmed
  EXPECT_EQ(c.Get("fsync"), "interval");             // flag over env
  EXPECT_EQ(c.Get("regions"), "us,eu,apac");         // default

  // The order of flags does not matter: --config after the flags still loses to them.
  c = Load({"--port=3333", "--config=" + file});
  EXPECT_EQ(c.Get("port"), "3333");
  EXPECT_EQ(c.Get("partitions"), "4");

  // Without flags, the environment wins over the file.
  c = Load({"--config", file});
  EXPECT_EQ(c.Get("port"), "2222");

  // A later flag overrides an earlier one.
  c = Load({"--port=1", "--port=2"});
  EXPECT_EQ(c.Get("port"), "2");
}

TEST_F(ConfigTest, ConfigFileFromEnvironment) {
  std::string file = WriteFile("env.conf", "partitions = 16\n");
  ::setenv("WATERSHED_CONFIG", file.c_str(), 1);
  EXPECT_EQ(Load({}).Get("partitions"), "16");
  // --config names another file and wins over WATERSHED_CONFIG.
  std::string other = WriteFile("other.conf", "partitions = 2\n");
  EXPECT_EQ(Load({"--config", other}).Get("partitions"), "2");
}

TEST_F(ConfigTest, UnknownKeysAreErrorsNamingThem) {
  Status s = LoadError({"--port=1", "--bogus-key=3"});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("bogus-key"), std::string::npos) << s.message();

  std::string file = WriteFile("bad.conf", "port = 1\n\nfrobnicate = yes\n");
  s = LoadError({"--config", file});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("frobnicate"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("bad.conf:3"), std::string::npos) << s.message();

  // A line that is not key = value.
  file = WriteFile("noeq.conf", "port 1\n");
  s = LoadError({"--config", file});
  EXPECT_NE(s.message().find("noeq.conf:1"), std::string::npos) << s.message();

  // Unknown WATERSHED_* variables are not settings and are ignored.
  ::setenv("WATERSHED_NOT_A_KEY", "1", 1);
  EXPECT_TRUE(Config::Load(ServeConfigKeys(), {}).ok());
  ::unsetenv("WATERSHED_NOT_A_KEY");
}

TEST_F(ConfigTest, RegionNamesSetTheProcesssRegionTableAndTheDefaultRegions) {
  const std::string file = WriteFile("regions.conf", "region-names = eu-west-1,us-east-1\n");
  Config c = Load({"--config", file});
  EXPECT_EQ(RegionCount(), 2);
  EXPECT_EQ(ParseRegion("us-east-1"), Region{1});
  EXPECT_EQ(c.Get("regions"), "eu-west-1,us-east-1");
  c = Load({"--config", file, "--regions", "us-east-1"});
  EXPECT_EQ(c.Get("regions"), "us-east-1");  // a set region list stays
  auto bad = Config::Load(ServeConfigKeys(), {"--region-names", "eu,Eu"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("region-names: 'Eu'"), std::string::npos) << bad.status().message();
  ASSERT_TRUE(SetRegionNames("us,eu,apac").ok());
}

TEST_F(ConfigTest, KafkaPropertiesAreAFamilyOfKeys) {
  const std::string file = WriteFile("kafka.conf", "kafka-property.sasl.username = watershed\n");
  Config c = Load({"--config", file, "--kafka-property.security.protocol=SASL_SSL", "--kafka-property.sasl.mechanisms",
                   "SCRAM-SHA-512"});
  EXPECT_EQ(
      c.WithPrefix("kafka-property."),
      (std::vector<std::pair<std::string, std::string>>{
          {"sasl.mechanisms", "SCRAM-SHA-512"}, {"sasl.username", "watershed"}, {"security.protocol", "SASL_SSL"}}));
  EXPECT_TRUE(Load({}).WithPrefix("kafka-property.").empty());
  // The prefix alone, or a near miss, is not a key of the family.
  EXPECT_NE(LoadError({"--kafka-property.=1"}).message().find("unknown setting"), std::string::npos);
  EXPECT_NE(LoadError({"--kafka-propertyx=1"}).message().find("unknown setting"), std::string::npos);
}

TEST_F(ConfigTest, MalformedArguments) {
  Status s = LoadError({"serve"});
  EXPECT_NE(s.message().find("serve"), std::string::npos) << s.message();
  s = LoadError({"--port"});
  EXPECT_NE(s.message().find("port"), std::string::npos) << s.message();
  LoadError({"-port=1"}).IgnoreError();
}

TEST_F(ConfigTest, MissingConfigFileIsAnError) {
  std::string missing = dir_.Path("does-not-exist.conf");
  Status s = LoadError({"--config", missing});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find(missing), std::string::npos) << s.message();
  ::setenv("WATERSHED_CONFIG", missing.c_str(), 1);
  EXPECT_FALSE(Config::Load(ServeConfigKeys(), {}).ok());
}

TEST_F(ConfigTest, Durations) {
  EXPECT_EQ(Duration("250ms").value(), 250);
  EXPECT_EQ(Duration("250").value(), 250);
  EXPECT_EQ(Duration("0").value(), 0);
  EXPECT_EQ(Duration("10s").value(), 10'000);
  EXPECT_EQ(Duration("5m").value(), 300'000);
  EXPECT_EQ(Duration("1h").value(), 3'600'000);
  EXPECT_EQ(Duration("7d").value(), 604'800'000);
  for (std::string bad : {"10x", "ms", "", "-5s", "1.5s", "10 s", "10S", "s10", "5mm", "99999999999999999999"}) {
    SCOPED_TRACE(bad);
    Result<int64_t> r = Duration(bad);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("checkpoint-interval"), std::string::npos) << r.status().message();
  }
}

TEST_F(ConfigTest, Bytes) {
  EXPECT_EQ(Bytes("1048576").value(), 1'048'576);
  EXPECT_EQ(Bytes("100B").value(), 100);
  EXPECT_EQ(Bytes("64KiB").value(), 65'536);
  EXPECT_EQ(Bytes("64MiB").value(), 64ll << 20);
  EXPECT_EQ(Bytes("10GiB").value(), 10ll << 30);
  for (std::string bad : {"64KB", "64kib", "1TiB", "MiB", "-1MiB", "1.5MiB", "64 KiB"}) {
    SCOPED_TRACE(bad);
    Result<int64_t> r = Bytes(bad);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("max-body"), std::string::npos) << r.status().message();
  }
}

TEST_F(ConfigTest, ValuesThatOverflowAreErrors) {
  // Each number fits in int64 but overflows once multiplied by its unit.
  EXPECT_FALSE(Bytes("9999999999GiB").ok());
  EXPECT_FALSE(Bytes("9223372036854775807KiB").ok());
  EXPECT_FALSE(Duration("200000000000000d").ok());
  EXPECT_FALSE(Duration("9223372036854775807s").ok());
  // The largest values that fit are still fine.
  EXPECT_EQ(Bytes("8589934591GiB").value(), 8'589'934'591ll << 30);
  // Durations are capped (ten years) so time arithmetic cannot overflow.
  EXPECT_EQ(Duration(std::to_string(Config::kMaxDurationMs)).value(), Config::kMaxDurationMs);
  EXPECT_FALSE(Duration(std::to_string(Config::kMaxDurationMs + 1)).ok());
  EXPECT_FALSE(Duration("9223372036854775807").ok());
}

TEST_F(ConfigTest, IntegersRejectUnits) {
  auto c = Config::Load(ServeConfigKeys(), {"--port=80x"});
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->GetInt("port").ok());
  c = Config::Load(ServeConfigKeys(), {"--port="});
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->GetInt("port").ok());
}

TEST(DescribeKeysTest, ListsEveryKeyWithDefaultAndEnvName) {
  std::string help = DescribeKeys(ServeConfigKeys());
  for (const auto& k : ServeConfigKeys()) {
    EXPECT_NE(help.find(std::string("--") + k.name + " (" + k.default_value + ")"), std::string::npos) << k.name;
  }
  EXPECT_NE(help.find("[WATERSHED_HTTP_THREADS]"), std::string::npos);
  EXPECT_NE(help.find("--kafka-property.* ()"), std::string::npos);
  EXPECT_NE(help.find("[file and flags only]"), std::string::npos);
  EXPECT_NE(help.find("[WATERSHED_SERIES_RETENTION_5S]"), std::string::npos);
}

}  // namespace
}  // namespace watershed::app
