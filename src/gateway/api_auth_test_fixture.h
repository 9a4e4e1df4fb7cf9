#pragma once
// Test fixture of the HTTP API tests with auth on (api_auth_test.cc,
// api_abuse_test.cc): the ApiTest server with a verifier that knows an HS256
// secret and a JWKS (RS256, ES256), and helpers that sign tokens.

#include <fstream>
#include <latch>

#include "auth/auth_test_util.h"
#include "gateway/api_test_fixture.h"

namespace watershed::gateway::api_testing {

using auth::Role;
namespace at = auth::testing;

class ApiAuthTest : public ApiTest {
 protected:
  void Configure(ApiDeps* deps, ApiOptions* options) override {
    jwks_path_ = dir_.Path("jwks.json");
    WriteJwks(at::JwksOf({at::Keys().rsa_jwk, at::Keys().ec_jwk}));
    auto jwks = auth::JwksFile::Open(jwks_path_, std::string(at::kSecret));
    ASSERT_TRUE(jwks.ok()) << jwks.status().ToString();
    jwks_ = std::move(jwks.value());
    verifier_ = std::make_unique<auth::Verifier>(auth::VerifierOptions{.issuer = "watershed", .audience = "watershed"},
                                                 jwks_->holder(), std::make_unique<auth::TokenCache>());
    deps->verifier = verifier_.get();
    deps->status = [this, status = deps->status] {
      if (block_status_) {
        status_entered_.count_down();
        release_status_.wait();
      }
      return status();
    };
    options->rate_limit = rate_limit_;
    options->max_in_flight = max_in_flight_;
  }

  void WriteJwks(const std::string& text) {
    std::ofstream(jwks_path_, std::ios::trunc) << text;
  }

  static auth::TokenClaims Claims(uint64_t user, Region region, std::initializer_list<Role> roles) {
    auth::TokenClaims t;
    t.claims.user = auth::UserId(user);
    t.claims.region = region;
    for (Role r : roles) t.claims.roles.Add(r);
    const int64_t now = Clock::Real()->NowMs() / 1000;
    t.claims.iat = now;
    t.claims.exp = now + 3600;
    t.issuer = "watershed";
    t.audience = {"watershed"};
    return t;
  }
  static std::string Sign(const auth::TokenClaims& t, const auth::SigningKey& key = at::HsKey()) {
    auto token = auth::SignToken(t, key);
    EXPECT_TRUE(token.ok()) << token.status().ToString();
    return token.ok() ? *token : "";
  }
  static std::string Token(uint64_t user, Region region, std::initializer_list<Role> roles) {
    return Sign(Claims(user, region, roles));
  }
  static std::string Bearer(const std::string& token) { return "Authorization: Bearer " + token + "\r\n"; }

  RawResponse GetAs(const std::string& token, const std::string& target) {
    return Call(Request("GET", target, "", "application/json", Bearer(token)));
  }
  RawResponse PostAs(const std::string& token, const std::string& body,
                     const std::string& content_type = "application/json") {
    return Call(Request("POST", "/v1/events", body, content_type, Bearer(token)));
  }
  RawResponse PostStoriesAs(const std::string& token, const std::string& body) {
    return Call(Request("POST", "/v1/stories", body, "application/json", Bearer(token)));
  }

  // One event of `viewer` in `region` for story 100 + n % 7 by author 7.
  Event EventOf(uint64_t n, uint64_t viewer, Region region) {
    Event e = MakeEvent(n, region, now_ms_);
    e.viewer_id = ViewerId(viewer);
    return e;
  }

  // Story `story` by `author`, with some views, straight into the live store.
  void SeedStory(uint64_t story, uint64_t author) {
    serve::PartitionWrite w;
    w.region = Region::kUs;
    w.as_of_ms = now_ms_;
    w.stories.push_back({StoryId(story), AuthorId(author), serve::Aggregates{.views = 3}});
    Apply(w);
    Register(story, author);
  }

  RateLimitOptions rate_limit_{.requests_per_second = 0};  // off unless a test sets it
  int64_t max_in_flight_ = 0;
  std::atomic<bool> block_status_{false};
  std::latch status_entered_{1};
  std::latch release_status_{1};
  std::string jwks_path_;
  std::unique_ptr<auth::JwksFile> jwks_;
  std::unique_ptr<auth::Verifier> verifier_;
};

// Signs with a secret the server does not have: costs the server a signature check.
inline std::string Forged(uint64_t user) {
  auth::TokenClaims t;
  t.claims.user = auth::UserId(user);
  t.claims.region = Region::kUs;
  t.claims.roles.Add(Role::kViewer);
  t.claims.exp = Clock::Real()->NowMs() / 1000 + 3600;
  t.issuer = "watershed";
  t.audience = {"watershed"};
  auto token = auth::SignToken(t, {auth::Algorithm::kHs256, "not-the-server-secret-0123456789abcdef", ""});
  EXPECT_TRUE(token.ok());
  return token.ok() ? *token : "";
}

}  // namespace watershed::gateway::api_testing
