// What one client address can cost everyone else: the failed-authentication
// limiter (per client address), the address behind trusted proxies
// (X-Forwarded-For), and the cap on signature checks for addresses that
// failed lately (auth_busy) — over real sockets, from several loopback
// addresses.

#include <atomic>
#include <latch>
#include <thread>

#include "core/event_proto.h"
#include "gateway/api_auth_test_fixture.h"

namespace watershed::gateway {
namespace {

using namespace api_testing;

class ApiAuthFailureLimitTest : public ApiAuthTest {
 protected:
  void Configure(ApiDeps* deps, ApiOptions* options) override {
    ApiAuthTest::Configure(deps, options);
    options->auth_failure_burst = 5;
    options->auth_failures_per_second = 0.001;  // no refill while the test runs
  }
};

TEST_F(ApiAuthFailureLimitTest, FailureStormStopsCostingSignatureChecks) {
  const std::string good = Token(1, Region::kUs, {Role::kAnalyst});
  ASSERT_EQ(GetAs(good, "/v1/status").status, 200);  // verified before the storm
  const uint64_t checks = verifier_->signature_checks();
  for (uint64_t i = 0; i < 5; ++i) ExpectError(GetAs(Forged(100 + i), "/v1/status"), 401, "token_bad_signature");
  EXPECT_EQ(verifier_->signature_checks(), checks + 5);
  for (uint64_t i = 5; i < 50; ++i) {
    const std::string batch = EncodeEventBatchJson(std::vector<Event>{EventOf(i, 100 + i, Region::kUs)});
    RawResponse r = i % 2 ? GetAs(Forged(100 + i), "/v1/status") : PostAs(Forged(100 + i), batch);
    ExpectError(r, 429, "auth_rate_limited");
    EXPECT_GE(std::atoll(r.Header("retry-after").c_str()), 1) << r.Header("retry-after");
  }
  EXPECT_EQ(verifier_->signature_checks(), checks + 5);  // the storm stopped costing signature checks
  EXPECT_NE(Get("/metrics").body.find("watershed_auth_throttled_total 45"), std::string::npos);
  // A token already verified still works from that address; another address is not affected.
  EXPECT_EQ(GetAs(good, "/v1/status").status, 200);
  RawConn other(port_, "127.0.0.2");
  ASSERT_TRUE(other.Send(Request("GET", "/v1/status", "", "", Bearer(Token(2, Region::kUs, {Role::kAnalyst})))));
  EXPECT_EQ(other.ReadResponse().status, 200);
  EXPECT_EQ(LogRecordCount(), 0u);
}

// ---- the cap on signature checks for failing addresses ----

// One signature check at a time for addresses that failed lately; the test
// holds that one inside its check (ApiDeps::on_capped_verification).
class ApiAuthBusyTest : public ApiAuthFailureLimitTest {
 protected:
  void Configure(ApiDeps* deps, ApiOptions* options) override {
    ApiAuthFailureLimitTest::Configure(deps, options);
    options->max_verifying = 1;
    deps->on_capped_verification = [this] {
      if (!hold_.exchange(false)) return;
      entered_.count_down();
      release_.wait();
    };
  }
  std::atomic<bool> hold_{false};
  std::latch entered_{1};
  std::latch release_{1};
};

TEST_F(ApiAuthBusyTest, AFailingAddressGets503WhileItsChecksAreAtTheCap) {
  ExpectError(GetAs(Forged(100), "/v1/status"), 401, "token_bad_signature");  // the address has failed lately
  hold_ = true;
  std::thread held([&] { ExpectError(GetAs(Forged(101), "/v1/status"), 401, "token_bad_signature"); });
  entered_.wait();  // its check holds the only slot
  const uint64_t checks = verifier_->signature_checks();
  RawResponse busy = GetAs(Forged(102), "/v1/status");
  ExpectError(busy, 503, "auth_busy");
  EXPECT_EQ(busy.Header("retry-after"), "1");
  EXPECT_EQ(verifier_->signature_checks(), checks);  // refused without a check
  // An address without failures is not capped: a new user's first request is served meanwhile.
  RawConn fresh(port_, "127.0.0.2");
  ASSERT_TRUE(fresh.Send(Request("GET", "/v1/status", "", "", Bearer(Token(2, Region::kUs, {Role::kAnalyst})))));
  EXPECT_EQ(fresh.ReadResponse().status, 200);
  release_.count_down();
  held.join();
  // The slot was given back.
  ExpectError(GetAs(Forged(103), "/v1/status"), 401, "token_bad_signature");
  EXPECT_NE(Get("/metrics").body.find("watershed_auth_busy_total 1"), std::string::npos);
}

// ---- behind a load balancer ----

// 127.0.0.1 plays the load balancer (a trusted proxy), other loopback
// addresses direct clients.
class ApiTrustedProxyTest : public ApiAuthFailureLimitTest {
 protected:
  void ConfigureServer(HttpServerOptions* options) override {
    auto trusted = http::TrustedProxies::Parse("127.0.0.1");
    ASSERT_TRUE(trusted.ok()) << trusted.status().ToString();
    options->trusted_proxies = *trusted;
  }
  // GET /v1/status with `token` from the peer `source`, with X-Forwarded-For: `forwarded` unless empty.
  RawResponse GetVia(const char* source, const std::string& forwarded, const std::string& token) {
    RawConn c(port_, source);
    std::string headers = Bearer(token);
    if (!forwarded.empty()) headers += "X-Forwarded-For: " + forwarded + "\r\n";
    EXPECT_TRUE(c.Send(Request("GET", "/v1/status", "", "", headers)));
    return c.ReadResponse();
  }
};

// The attack: behind the balancer every client shares its address, so one
// client's bad tokens used to get every client of the balancer 429'd.
TEST_F(ApiTrustedProxyTest, OneClientsBadTokensDoNotLockOutTheOthersBehindTheBalancer) {
  const char* kBalancer = "127.0.0.1";
  for (uint64_t i = 0; i < 5; ++i)
    ExpectError(GetVia(kBalancer, "203.0.113.9", Forged(100 + i)), 401, "token_bad_signature");
  ExpectError(GetVia(kBalancer, "203.0.113.9", Forged(200)), 429, "auth_rate_limited");
  // The attacker cannot escape its key by writing addresses of its own on
  // the left: the balancer appended the address it saw, and that one counts.
  ExpectError(GetVia(kBalancer, "198.51.100.1, 203.0.113.9", Forged(201)), 429, "auth_rate_limited");
  ExpectError(GetVia(kBalancer, "unknown, 203.0.113.9", Forged(202)), 429, "auth_rate_limited");
  // Another client of the balancer, with a token never seen before, is served.
  EXPECT_EQ(GetVia(kBalancer, "198.51.100.7", Token(2, Region::kUs, {Role::kAnalyst})).status, 200);
  EXPECT_EQ(GetVia(kBalancer, "2001:db8:1:2::7", Token(3, Region::kUs, {Role::kAnalyst})).status, 200);
}

// A peer that is not a trusted proxy cannot choose its key: its
// X-Forwarded-For is ignored, so a new made-up address per request does not
// buy new failures.
TEST_F(ApiTrustedProxyTest, AnUntrustedPeersForwardedForIsIgnored) {
  const char* kDirect = "127.0.0.2";
  for (uint64_t i = 0; i < 5; ++i)
    ExpectError(GetVia(kDirect, "198.51.100." + std::to_string(i), Forged(100 + i)), 401, "token_bad_signature");
  ExpectError(GetVia(kDirect, "198.51.100.99", Forged(200)), 429, "auth_rate_limited");
  ExpectError(GetVia(kDirect, "", Forged(201)), 429, "auth_rate_limited");
  // The addresses it named are not charged: clients behind the balancer with them are served.
  EXPECT_EQ(GetVia("127.0.0.1", "198.51.100.1", Token(2, Region::kUs, {Role::kAnalyst})).status, 200);
}

// A header the balancer's entry cannot be read from (malformed, or longer
// than an entry may be) keys the request on the balancer: nothing the
// client wrote is believed.
TEST_F(ApiTrustedProxyTest, AMalformedForwardedForKeysOnTheBalancer) {
  const char* kBalancer = "127.0.0.1";
  const std::string kLong = "198.51.100.1," + std::string(100, ' ') + "203.0.113.9";
  for (uint64_t i = 0; i < 5; ++i) {
    const std::string bad[] = {"203.0.113.9:4711", "not-an-address", kLong, " , ", "203.0.113.9,"};
    ExpectError(GetVia(kBalancer, bad[i], Forged(100 + i)), 401, "token_bad_signature");
  }
  // All five were charged to the balancer's own address...
  ExpectError(GetVia(kBalancer, "", Forged(200)), 429, "auth_rate_limited");
  // ...not to the client named inside them.
  EXPECT_EQ(GetVia(kBalancer, "203.0.113.9", Token(2, Region::kUs, {Role::kAnalyst})).status, 200);
}

}  // namespace
}  // namespace watershed::gateway
