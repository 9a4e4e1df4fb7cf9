#include "app/client_flags.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>
#include <vector>

namespace watershed::app {
namespace {

// Each test starts without the client environment variables and restores them.
class ClientFlagsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : kVars) {
      const char* v = ::getenv(name);
      saved_.push_back(v ? std::optional<std::string>(v) : std::nullopt);
      ::unsetenv(name);
    }
  }
  void TearDown() override {
    for (size_t i = 0; i < kVars.size(); ++i) {
      if (saved_[i]) {
        ::setenv(kVars[i], saved_[i]->c_str(), 1);
      } else {
        ::unsetenv(kVars[i]);
      }
    }
  }
  static Result<ClientOptions> From(const std::vector<std::string>& args) {
    ASSIGN_OR_RETURN(Flags f, Flags::Parse(args, WithClientFlags({})));
    return ClientOptionsFrom(f);
  }
  static std::string Address(const std::vector<std::string>& args) {
    auto o = From(args);
    if (!o.ok()) return o.status().message();
    return std::string(o->tls ? "https://" : "http://") + o->host + ":" + std::to_string(o->port);
  }

  const std::vector<const char*> kVars = {"WATERSHED_SERVER", "WATERSHED_PORT", "WATERSHED_TOKEN"};
  std::vector<std::optional<std::string>> saved_;
};

TEST_F(ClientFlagsTest, ServerComesFromTheFlagThenWatershedServerThenWatershedPort) {
  EXPECT_EQ(Address({}), "http://127.0.0.1:8080");
  ::setenv("WATERSHED_PORT", "9001", 1);
  EXPECT_EQ(Address({}), "http://127.0.0.1:9001");
  ::setenv("WATERSHED_SERVER", "http://10.0.0.5:9000/", 1);
  EXPECT_EQ(Address({}), "http://10.0.0.5:9000");
  EXPECT_EQ(Address({"--server", "example.com:7000"}), "http://example.com:7000");
  ::setenv("WATERSHED_SERVER", "https://api.example.com", 1);
  EXPECT_EQ(Address({}), "https://api.example.com:8080");
  EXPECT_EQ(Address({"--server", "127.0.0.1:1234", "--tls"}), "https://127.0.0.1:1234");
}

TEST_F(ClientFlagsTest, BadAddressesNameWhereTheyCameFrom) {
  ::setenv("WATERSHED_PORT", "http", 1);
  EXPECT_EQ(Address({}), "WATERSHED_PORT must be a whole number >= 0, got 'http'");
  ::setenv("WATERSHED_SERVER", "localhost:99999", 1);
  EXPECT_EQ(Address({}), "WATERSHED_SERVER: bad port in 'localhost:99999'");
  EXPECT_EQ(Address({"--server", "http://a/b"}), "--server must be HOST:PORT or http(s)://HOST:PORT, got 'http://a/b'");
}

TEST_F(ClientFlagsTest, TokenComesFromTheFlagThenWatershedToken) {
  auto token = [](const std::vector<std::string>& args) {
    return BearerTokenFrom(Flags::Parse(args, WithClientFlags({})).value());
  };
  EXPECT_EQ(token({}), "");
  ::setenv("WATERSHED_TOKEN", "from-env", 1);
  EXPECT_EQ(token({}), "from-env");
  EXPECT_EQ(token({"--token", "from-flag"}), "from-flag");
}

TEST_F(ClientFlagsTest, AnswersAreDescribedWithTheirErrorCodeAndAMissingTokenSaysHowToGiveOne) {
  ClientResponse r;
  r.status = 404;
  r.body = R"({"error":{"code":"not_served_here","message":"/v1/status is not served by this process"}})";
  EXPECT_EQ(DescribeAnswer(r, true), "HTTP 404 not_served_here: /v1/status is not served by this process");
  r.status = 502;
  r.body = "bad gateway";
  EXPECT_EQ(DescribeAnswer(r, true), "HTTP 502: bad gateway");
  r.status = 401;
  r.body = R"({"error":{"code":"unauthenticated","message":"missing bearer token"}})";
  const std::string without = DescribeAnswer(r, false);
  EXPECT_NE(without.find("HTTP 401 unauthenticated: missing bearer token"), std::string::npos) << without;
  for (const char* hint : {"--token", "WATERSHED_TOKEN", "watershed token"})
    EXPECT_NE(without.find(hint), std::string::npos) << without;
  EXPECT_EQ(DescribeAnswer(r, true), "HTTP 401 unauthenticated: missing bearer token");
}

TEST_F(ClientFlagsTest, RetryAfterIsHonouredAndGarbageIgnored) {
  ClientResponse r;
  r.status = 429;
  EXPECT_EQ(RetryAfterMs(r, 50), 50);
  r.retry_after = "2";
  EXPECT_EQ(RetryAfterMs(r, 50), 2000);
  EXPECT_EQ(RetryAfterMs(r, 5000), 5000);
  r.retry_after = "soon";
  EXPECT_EQ(RetryAfterMs(r, 50), 50);
}

}  // namespace
}  // namespace watershed::app
