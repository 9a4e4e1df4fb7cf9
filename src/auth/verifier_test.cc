// Verifier: claims rules, time checks, every refusal through the full
// path, bearer extraction, and the verified-token cache behind it.

#include "auth/verifier.h"

#include <gtest/gtest.h>

#include <thread>

#include "auth/auth_test_util.h"
#include "auth/base64url.h"

namespace watershed::auth {
namespace {

using testing::CodeOf;
using testing::EsKey;
using testing::GoodClaims;
using testing::HsKey;
using testing::kNow;
using testing::RsKey;
using testing::Sign;
using testing::SignRaw;

class VerifierTest : public ::testing::Test {
 protected:
  VerifierTest() : holder_(std::make_shared<KeySetHolder>(testing::StandardKeySet())) {}

  Verifier Make(VerifierOptions options = {}, std::unique_ptr<TokenCache> cache = nullptr) {
    return Verifier(std::move(options), holder_, std::move(cache));
  }
  std::string Code(std::string_view token, int64_t now = kNow, VerifierOptions options = {}) {
    return CodeOf(Make(std::move(options)).Verify(token, now));
  }
  // A token over `payload` with the HS256 secret.
  static std::string Hs(std::string_view payload) {
    return SignRaw("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, HsKey());
  }

  std::shared_ptr<KeySetHolder> holder_;
};

TEST_F(VerifierTest, AcceptsGoodTokensOfEachAlgorithm) {
  for (const SigningKey& key : {HsKey(), RsKey(), EsKey()}) {
    auto claims = Make().Verify(Sign(GoodClaims(), key), kNow);
    ASSERT_TRUE(claims.ok()) << claims.error().message;
    EXPECT_EQ(*claims, GoodClaims().claims);
  }
}

TEST_F(VerifierTest, ExpiryWithLeeway) {
  TokenClaims t = GoodClaims();
  t.claims.exp = kNow - 10;  // expired 10 s ago: inside the default 30 s leeway
  EXPECT_EQ(Code(Sign(t, RsKey())), "ok");
  t.claims.exp = kNow - 30;  // now >= exp + leeway
  EXPECT_EQ(Code(Sign(t, RsKey())), "token_expired");
  t.claims.exp = kNow - 29;
  EXPECT_EQ(Code(Sign(t, RsKey())), "ok");
  t.claims.exp = kNow;
  VerifierOptions strict;
  strict.leeway_seconds = 0;
  EXPECT_EQ(Code(Sign(t, RsKey()), kNow, strict), "token_expired");
  EXPECT_EQ(Code(Sign(t, RsKey()), kNow - 1, strict), "ok");
}

TEST_F(VerifierTest, NotBeforeWithLeeway) {
  TokenClaims t = GoodClaims();
  t.claims.nbf = kNow + 30;  // allowed: now >= nbf - leeway
  EXPECT_EQ(Code(Sign(t, EsKey())), "ok");
  t.claims.nbf = kNow + 31;
  EXPECT_EQ(Code(Sign(t, EsKey())), "token_not_yet_valid");
  EXPECT_EQ(Code(Sign(t, EsKey()), kNow + 1), "ok");
}

TEST_F(VerifierTest, ExtremeTimesDoNotOverflow) {
  EXPECT_EQ(Code(Hs("{\"sub\":\"1\",\"region\":\"us\",\"roles\":[],\"exp\":9223372036854775807}")), "ok");
  EXPECT_EQ(Code(Hs("{\"sub\":\"1\",\"region\":\"us\",\"roles\":[],\"exp\":4000000000000000000}")), "ok");
  EXPECT_EQ(Code(Hs("{\"sub\":\"1\",\"region\":\"us\",\"roles\":[],\"exp\":-4000000000000000000}")), "token_expired");
  EXPECT_EQ(Code(Hs("{\"sub\":\"1\",\"region\":\"us\",\"roles\":[],\"exp\":1e300}")), "token_invalid_claims");
  EXPECT_EQ(Code(Hs("{\"sub\":\"1\",\"region\":\"us\",\"roles\":[],\"exp\":1800000000.9,\"nbf\":-1e18}")), "ok");
  VerifierOptions huge;
  huge.leeway_seconds = INT64_MAX;  // clamped to one day
  EXPECT_EQ(Code(Hs("{\"sub\":\"1\",\"region\":\"us\",\"roles\":[],\"exp\":1}"), kNow, huge), "token_expired");
}

TEST_F(VerifierTest, IssuerAndAudience) {
  VerifierOptions opts;
  opts.issuer = "https://id.watershed.example";
  opts.audience = "watershed-api";
  TokenClaims t = GoodClaims();
  EXPECT_EQ(Code(Sign(t, HsKey()), kNow, opts), "token_wrong_issuer");  // no iss
  t.issuer = "https://evil.example";
  EXPECT_EQ(Code(Sign(t, HsKey()), kNow, opts), "token_wrong_issuer");
  t.issuer = opts.issuer;
  EXPECT_EQ(Code(Sign(t, HsKey()), kNow, opts), "token_wrong_audience");  // no aud
  t.audience = {"other-api"};
  EXPECT_EQ(Code(Sign(t, HsKey()), kNow, opts), "token_wrong_audience");
  t.audience = {"other-api", "watershed-api-2"};
  EXPECT_EQ(Code(Sign(t, HsKey()), kNow, opts), "token_wrong_audience");
  t.audience = {"watershed-api"};
  EXPECT_EQ(Code(Sign(t, HsKey()), kNow, opts), "ok");
  t.audience = {"other-api", "watershed-api"};
  EXPECT_EQ(Code(Sign(t, HsKey()), kNow, opts), "ok");
  // Unconfigured: anything (well-typed) goes.
  t.issuer = "whoever";
  EXPECT_EQ(Code(Sign(t, HsKey())), "ok");
}

TEST_F(VerifierTest, TamperingIsDetected) {
  const std::string token = Sign(GoodClaims(), RsKey());
  TokenClaims admin = GoodClaims();
  admin.claims.roles.Add(Role::kAdmin);
  const std::string other = Sign(admin, RsKey());
  // Payload of one token with the signature of another.
  const size_t p1 = token.find('.'), s1 = token.rfind('.');
  const size_t p2 = other.find('.'), s2 = other.rfind('.');
  std::string spliced = token.substr(0, p1) + other.substr(p2, s2 - p2) + token.substr(s1);
  EXPECT_EQ(Code(spliced), "token_bad_signature");
  std::string bad_sig = token;
  bad_sig[s1 + 5] = bad_sig[s1 + 5] == 'A' ? 'B' : 'A';
  EXPECT_EQ(Code(bad_sig), "token_bad_signature");
  EXPECT_EQ(Code(token.substr(0, s1 + 1)), "token_bad_signature");  // empty signature
  // Four characters dropped from the front of the signature: still canonical base64url.
  EXPECT_EQ(Code(token.substr(0, s1 + 1) + token.substr(s1 + 5)), "token_bad_signature");
  EXPECT_EQ(Code(token.substr(0, s1)), "token_malformed");  // two parts
  EXPECT_EQ(Code(token + ".AAAA"), "token_malformed");       // four parts
  EXPECT_EQ(Code(token), "ok");
}

TEST_F(VerifierTest, RefusesAlgNoneAndHugeTokens) {
  const std::string payload = Base64UrlEncode(EncodeClaimsJson(GoodClaims()));
  const std::string none = Base64UrlEncode("{\"alg\":\"none\",\"typ\":\"JWT\"}") + "." + payload;
  EXPECT_EQ(Code(none + "."), "token_alg_not_allowed");
  EXPECT_EQ(Code(none), "token_malformed");
  const std::string sig = Sign(GoodClaims(), HsKey()).substr(Sign(GoodClaims(), HsKey()).rfind('.'));
  EXPECT_EQ(Code(none + sig), "token_alg_not_allowed");

  TokenClaims big = GoodClaims();
  big.issuer = std::string(9000, 'x');
  EXPECT_EQ(Code(Sign(big, HsKey())), "token_malformed");
  VerifierOptions roomy;
  roomy.max_token_bytes = 64 * 1024;
  EXPECT_EQ(Code(Sign(big, HsKey()), kNow, roomy), "ok");
  EXPECT_EQ(Code(""), "token_missing");
}

TEST_F(VerifierTest, PayloadMustBeAJsonObject) {
  EXPECT_EQ(Code(Hs("[1,2,3]")), "token_malformed");
  EXPECT_EQ(Code(Hs("\"sub\"")), "token_malformed");
  EXPECT_EQ(Code(Hs("{\"sub\":")), "token_malformed");
  EXPECT_EQ(Code(Hs("")), "token_malformed");
}

TEST_F(VerifierTest, MissingOrIllTypedClaims) {
  const std::string base = "\"region\":\"eu\",\"roles\":[\"viewer\"],\"exp\":1800000000";
  EXPECT_EQ(Code(Hs("{\"sub\":\"7\"," + base + "}")), "ok");
  EXPECT_EQ(Code(Hs("{" + base + "}")), "token_invalid_claims");  // no sub
  for (std::string_view sub : {"-1", "1.5", "\"\"", "\"-1\"", "\"+1\"", "\"1a\"", "\" 1\"", "\"0x10\"",
                               "\"18446744073709551616\"", "null", "true", "[1]", "{}"})
    EXPECT_EQ(Code(Hs("{\"sub\":" + std::string(sub) + "," + base + "}")), "token_invalid_claims") << sub;
  // simdjson refuses integers beyond 64 bits as JSON.
  EXPECT_EQ(Code(Hs("{\"sub\":18446744073709551616," + base + "}")), "token_malformed");
  EXPECT_EQ(Code(Hs("{\"sub\":\"1\",\"roles\":[],\"exp\":1800000000}")), "token_invalid_claims");  // no region
  EXPECT_EQ(Code(Hs("{\"sub\":\"1\",\"region\":\"mars\",\"roles\":[],\"exp\":1800000000}")), "token_invalid_claims");
  EXPECT_EQ(Code(Hs("{\"sub\":\"1\",\"region\":\"EU\",\"roles\":[],\"exp\":1800000000}")), "token_invalid_claims");
  EXPECT_EQ(Code(Hs("{\"sub\":\"1\",\"region\":1,\"roles\":[],\"exp\":1800000000}")), "token_invalid_claims");
  EXPECT_EQ(Code(Hs("{\"sub\":\"1\",\"region\":\"us\",\"exp\":1800000000}")), "token_invalid_claims");  // no roles
  EXPECT_EQ(Code(Hs("{\"sub\":\"1\",\"region\":\"us\",\"roles\":\"admin\",\"exp\":1800000000}")),
            "token_invalid_claims");
  EXPECT_EQ(Code(Hs("{\"sub\":\"1\",\"region\":\"us\",\"roles\":[\"admin\",1],\"exp\":1800000000}")),
            "token_invalid_claims");
  EXPECT_EQ(Code(Hs("{\"sub\":\"1\",\"region\":\"us\",\"roles\":[]}")), "token_invalid_claims");  // no exp
  for (std::string_view exp : {"\"1800000000\"", "null", "true", "[1800000000]", "18446744073709551615"})
    EXPECT_EQ(Code(Hs("{\"sub\":\"1\",\"region\":\"us\",\"roles\":[],\"exp\":" + std::string(exp) + "}")),
              "token_invalid_claims")
        << exp;
  const std::string ok = "{\"sub\":\"1\",\"region\":\"us\",\"roles\":[],\"exp\":1800000000";
  EXPECT_EQ(Code(Hs(ok + ",\"nbf\":\"0\"}")), "token_invalid_claims");
  EXPECT_EQ(Code(Hs(ok + ",\"iat\":{}}")), "token_invalid_claims");
  EXPECT_EQ(Code(Hs(ok + ",\"iss\":5}")), "token_invalid_claims");
  EXPECT_EQ(Code(Hs(ok + ",\"aud\":5}")), "token_invalid_claims");
  EXPECT_EQ(Code(Hs(ok + ",\"aud\":[\"a\",5]}")), "token_invalid_claims");
  EXPECT_EQ(Code(Hs(ok + ",\"sub\":\"2\"}")), "token_invalid_claims");  // repeated claim
  EXPECT_EQ(Code(Hs(ok + ",\"extra\":{\"deep\":[1,2]},\"aud\":[]}")), "ok");
}

TEST_F(VerifierTest, SubAsIntegerOrStringAndRoles) {
  auto v = Make();
  auto c = v.Verify(Hs("{\"sub\":18446744073709551615,\"region\":\"apac\",\"roles\":[\"admin\",\"superuser\","
                       "\"viewer\",\"ADMIN\",\"analyst\"],\"exp\":1800000000,\"nbf\":1600000000}"),
                    kNow);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->user, UserId(UINT64_MAX));
  EXPECT_EQ(c->region, Region::kApac);
  EXPECT_TRUE(c->roles.Has(Role::kAdmin));
  EXPECT_TRUE(c->roles.Has(Role::kViewer));
  EXPECT_TRUE(c->roles.Has(Role::kAnalyst));
  EXPECT_FALSE(c->roles.Has(Role::kCreator));  // unknown names ("superuser", "ADMIN") ignored
  EXPECT_EQ(c->nbf, 1600000000);
  EXPECT_FALSE(c->iat.has_value());

  c = v.Verify(Hs("{\"sub\":\"0012\",\"region\":\"us\",\"roles\":[\"root\"],\"exp\":1800000000}"), kNow);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->user, UserId(12));
  EXPECT_TRUE(c->roles.empty());
}

TEST(BearerTest, ExtractsTheToken) {
  auto t = ExtractBearerToken("Bearer abc.def.ghi");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, "abc.def.ghi");
  EXPECT_EQ(*ExtractBearerToken("bearer x"), "x");
  EXPECT_EQ(*ExtractBearerToken("BEARER x"), "x");
  EXPECT_EQ(CodeOf(ExtractBearerToken("")), "token_missing");
  EXPECT_EQ(CodeOf(ExtractBearerToken("Bearer")), "token_missing");
  EXPECT_EQ(CodeOf(ExtractBearerToken("Bearer ")), "token_missing");
  EXPECT_EQ(CodeOf(ExtractBearerToken("Basic dXNlcjpwYXNz")), "token_missing");
  EXPECT_EQ(CodeOf(ExtractBearerToken("Bearerx")), "token_missing");
  EXPECT_EQ(CodeOf(ExtractBearerToken("Bear x")), "token_missing");
  // Whitespace inside the token is left to the JWS parser, which refuses it.
  for (const char* h : {"Bearer  a.b.c", "Bearer a.b c", "Bearer a.b.c\t"}) {
    auto t = ExtractBearerToken(h);
    ASSERT_TRUE(t.ok()) << h;
    JwsParts parts;
    EXPECT_EQ(CodeOf(ParseCompactJws(*t, kDefaultMaxTokenBytes, &parts)), "token_malformed") << h;
  }
  EXPECT_EQ(CodeOf(ExtractBearerToken("Bearer\tx")), "token_missing");
}

TEST(AuthErrorTest, CodeNamesAreStable) {
  EXPECT_EQ(AuthErrorCodeName(AuthErrorCode::kTokenMissing), "token_missing");
  EXPECT_EQ(AuthErrorCodeName(AuthErrorCode::kTokenMalformed), "token_malformed");
  EXPECT_EQ(AuthErrorCodeName(AuthErrorCode::kAlgNotAllowed), "token_alg_not_allowed");
  EXPECT_EQ(AuthErrorCodeName(AuthErrorCode::kUnknownKid), "token_unknown_kid");
  EXPECT_EQ(AuthErrorCodeName(AuthErrorCode::kKeyMismatch), "token_key_mismatch");
  EXPECT_EQ(AuthErrorCodeName(AuthErrorCode::kBadSignature), "token_bad_signature");
  EXPECT_EQ(AuthErrorCodeName(AuthErrorCode::kExpired), "token_expired");
  EXPECT_EQ(AuthErrorCodeName(AuthErrorCode::kNotYetValid), "token_not_yet_valid");
  EXPECT_EQ(AuthErrorCodeName(AuthErrorCode::kWrongIssuer), "token_wrong_issuer");
  EXPECT_EQ(AuthErrorCodeName(AuthErrorCode::kWrongAudience), "token_wrong_audience");
  EXPECT_EQ(AuthErrorCodeName(AuthErrorCode::kInvalidClaims), "token_invalid_claims");
}

TEST_F(VerifierTest, ConcurrentSignatureChecksShareKeysSafely) {
  // Every thread verifies with the same OpenSSL key objects.
  const Verifier v = Make();
  std::vector<std::pair<std::string, std::string>> cases;  // token, expected code
  for (const SigningKey& key : {HsKey(), RsKey(), EsKey()}) {
    std::string good = Sign(GoodClaims(), key);
    std::string bad = good;
    char& c = bad[bad.rfind('.') + 3];
    c = c == 'A' ? 'B' : 'A';
    cases.emplace_back(good, "ok");
    cases.emplace_back(bad, "token_bad_signature");
  }
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (size_t i = 0; i < 60; ++i) {
        const auto& [token, expected] = cases[(i + static_cast<size_t>(t)) % cases.size()];
        if (CodeOf(v.Verify(token, kNow)) != expected) ++wrong;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

// --- the cache behind the verifier ---

TEST_F(VerifierTest, CacheHitReturnsTheClaims) {
  Verifier v = Make({}, std::make_unique<TokenCache>());
  const std::string token = Sign(GoodClaims(), RsKey());
  for (int i = 0; i < 3; ++i) {
    auto c = v.Verify(token, kNow + i);
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(*c, GoodClaims().claims);
  }
  TokenCache::Stats s = v.cache()->GetStats();
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.hits, 2u);
  EXPECT_EQ(s.size, 1u);
}

TEST_F(VerifierTest, CacheHitStillChecksTimes) {
  Verifier v = Make({}, std::make_unique<TokenCache>());
  TokenClaims t = GoodClaims();
  t.claims.nbf = kNow;
  const std::string token = Sign(t, EsKey());
  ASSERT_TRUE(v.Verify(token, kNow).ok());
  EXPECT_EQ(CodeOf(v.Verify(token, t.claims.exp + 30)), "token_expired");
  EXPECT_EQ(CodeOf(v.Verify(token, kNow - 31)), "token_not_yet_valid");
  EXPECT_EQ(v.cache()->GetStats().hits, 2u);  // both refusals came from the cache
  EXPECT_EQ(CodeOf(v.Verify(token, kNow + 1)), "ok");
}

TEST_F(VerifierTest, NegativeResultsAreNotCached) {
  Verifier v = Make({}, std::make_unique<TokenCache>());
  TokenClaims t = GoodClaims();
  t.claims.exp = kNow - 100;
  const std::string expired = Sign(t, HsKey());
  std::string forged = Sign(GoodClaims(), HsKey());
  forged[forged.size() - 3] = forged[forged.size() - 3] == 'A' ? 'B' : 'A';
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(CodeOf(v.Verify(expired, kNow)), "token_expired");
    EXPECT_EQ(CodeOf(v.Verify(forged, kNow)), "token_bad_signature");
  }
  EXPECT_EQ(v.cache()->GetStats().size, 0u);
  EXPECT_EQ(v.cache()->GetStats().hits, 0u);
}

// Replaying a refused token costs a lookup, not another signature check.
TEST_F(VerifierTest, RefusedTokensAreCheckedOnce) {
  Verifier v = Make();
  std::string forged = Sign(GoodClaims(), RsKey());
  forged[forged.size() - 3] = forged[forged.size() - 3] == 'A' ? 'B' : 'A';
  EXPECT_EQ(CodeOf(v.Verify(forged, kNow)), "token_bad_signature");
  EXPECT_EQ(v.signature_checks(), 1u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(CodeOf(v.Verify(forged, kNow)), "token_bad_signature");
  EXPECT_EQ(v.signature_checks(), 1u);
  ASSERT_TRUE(v.VerifyCheaply(forged, kNow).has_value());
  EXPECT_EQ(v.VerifyCheaply(forged, kNow)->error().message, "token was refused before");
  // Other tokens are not affected; time refusals are not remembered (time moves).
  const std::string good = Sign(GoodClaims(), RsKey());
  EXPECT_FALSE(v.VerifyCheaply(good, kNow).has_value());
  EXPECT_EQ(CodeOf(v.Verify(good, kNow)), "ok");
  TokenClaims t = GoodClaims();
  t.claims.nbf = kNow + 1000;
  const std::string early = Sign(t, RsKey());
  EXPECT_EQ(CodeOf(v.Verify(early, kNow)), "token_not_yet_valid");
  EXPECT_EQ(CodeOf(v.Verify(early, kNow + 1000)), "ok");
  // Oversized tokens are refused cheaply, with no signature check.
  const uint64_t checks = v.signature_checks();
  EXPECT_EQ(CodeOf(*v.VerifyCheaply(std::string(kDefaultMaxTokenBytes + 1, 'a'), kNow)), "token_malformed");
  EXPECT_EQ(v.signature_checks(), checks);
}

TEST_F(VerifierTest, RefusalsEndWithTheKeySet) {
  Verifier v = Make();
  const std::string token = Sign(GoodClaims(), RsKey());
  auto only_ec = ParseJwks(testing::JwksOf({testing::Keys().ec_jwk}));
  ASSERT_TRUE(only_ec.ok());
  holder_->Set(*only_ec);
  EXPECT_EQ(CodeOf(v.Verify(token, kNow)), "token_unknown_kid");
  EXPECT_EQ(CodeOf(v.Verify(token, kNow)), "token_unknown_kid");
  holder_->Set(testing::StandardKeySet());  // the key arrives: the refusal is forgotten
  EXPECT_EQ(CodeOf(v.Verify(token, kNow)), "ok");
}

TEST_F(VerifierTest, KeyReloadInvalidatesTheCache) {
  Verifier v = Make({}, std::make_unique<TokenCache>());
  const std::string token = Sign(GoodClaims(), RsKey());
  ASSERT_TRUE(v.Verify(token, kNow).ok());
  ASSERT_TRUE(v.Verify(token, kNow).ok());
  EXPECT_EQ(v.cache()->GetStats().hits, 1u);
  // Rotate to a key set without "rsa-1": the cached entry must not be used.
  auto only_ec = ParseJwks(testing::JwksOf({testing::Keys().ec_jwk}));
  ASSERT_TRUE(only_ec.ok());
  holder_->Set(*only_ec);
  EXPECT_EQ(CodeOf(v.Verify(token, kNow)), "token_unknown_kid");
  EXPECT_EQ(v.cache()->GetStats().hits, 1u);
  // Back to a set with the key (a new generation): verified again, then cached.
  holder_->Set(testing::StandardKeySet());
  EXPECT_EQ(CodeOf(v.Verify(token, kNow)), "ok");
  EXPECT_EQ(CodeOf(v.Verify(token, kNow)), "ok");
  EXPECT_EQ(v.cache()->GetStats().hits, 2u);
}

TEST_F(VerifierTest, ConcurrentVerifyWithCache) {
  Verifier v = Make({}, std::make_unique<TokenCache>(TokenCacheOptions{.capacity = 8, .shards = 2}));
  std::vector<std::string> tokens;
  for (int i = 0; i < 16; ++i) {
    TokenClaims t = GoodClaims();
    t.claims.user = UserId(i);
    tokens.push_back(Sign(t, HsKey()));
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int th = 0; th < 4; ++th)
    threads.emplace_back([&, th] {
      for (int i = 0; i < 400; ++i) {
        size_t k = static_cast<size_t>(i * 7 + th) % tokens.size();
        auto c = v.Verify(tokens[k], kNow);
        if (!c.ok() || c->user != UserId(k)) ++failures;
        if (th == 0 && i % 50 == 0) holder_->Set(testing::StandardKeySet());
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_LE(v.cache()->GetStats().size, 8u);
}

}  // namespace
}  // namespace watershed::auth
