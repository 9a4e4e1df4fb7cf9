#include "auth/signer.h"

#include <gtest/gtest.h>

#include "auth/auth_test_util.h"
#include "auth/base64url.h"

namespace watershed::auth {
namespace {

using testing::CodeOf;
using testing::EsKey;
using testing::HsKey;
using testing::Keys;
using testing::kNow;
using testing::RsKey;

TokenClaims FullClaims() {
  TokenClaims t;
  t.claims.user = UserId(18'000'000'000'000'000'001ull);
  t.claims.region = Region::kApac;
  t.claims.roles.Add(Role::kAnalyst);
  t.claims.roles.Add(Role::kAdmin);
  t.claims.exp = kNow + 60;
  t.claims.nbf = kNow - 60;
  t.claims.iat = kNow - 61;
  t.issuer = "https://id.example/\"quoted\"";
  t.audience = {"a", "watershed"};
  return t;
}

TEST(SignerTest, EncodesClaimsJson) {
  EXPECT_EQ(EncodeClaimsJson(FullClaims()),
            "{\"sub\":\"18000000000000000001\",\"region\":\"apac\",\"roles\":[\"analyst\",\"admin\"],"
            "\"exp\":1700000060,\"nbf\":1699999940,\"iat\":1699999939,\"iss\":\"https://id.example/\\\"quoted\\\"\","
            "\"aud\":[\"a\",\"watershed\"]}");
  TokenClaims one = testing::GoodClaims();
  one.audience = {"x"};
  EXPECT_NE(EncodeClaimsJson(one).find(",\"aud\":\"x\"}"), std::string::npos);
}

TEST(SignerTest, RoundTripsAllAlgorithms) {
  auto keys = std::make_shared<KeySetHolder>(testing::StandardKeySet());
  VerifierOptions opts;
  opts.issuer = FullClaims().issuer;
  opts.audience = "watershed";
  Verifier verifier(opts, keys);
  for (const SigningKey& key : {HsKey(), RsKey(), EsKey()}) {
    auto token = SignToken(FullClaims(), key);
    ASSERT_TRUE(token.ok()) << token.status().ToString();
    JwsParts jws;
    ASSERT_TRUE(ParseCompactJws(*token, kDefaultMaxTokenBytes, &jws).ok());
    EXPECT_EQ(jws.alg, key.alg);
    EXPECT_EQ(jws.kid, key.kid);
    const size_t expected_size = key.alg == Algorithm::kRs256 ? 256 : key.alg == Algorithm::kEs256 ? 64 : 32;
    EXPECT_EQ(jws.signature.size(), expected_size);
    auto claims = verifier.Verify(*token, kNow);
    ASSERT_TRUE(claims.ok()) << AlgorithmName(key.alg) << ": " << claims.error().message;
    EXPECT_EQ(*claims, FullClaims().claims);
  }
}

TEST(SignerTest, Es256SignaturesAlwaysVerify) {
  // ECDSA R and S vary in length in DER; the raw form must always be 64 bytes.
  Verifier verifier({}, std::make_shared<KeySetHolder>(testing::StandardKeySet()));
  TokenClaims t = testing::GoodClaims();
  for (uint64_t i = 0; i < 200; ++i) {
    t.claims.user = UserId(i);
    auto token = SignToken(t, EsKey());
    ASSERT_TRUE(token.ok());
    ASSERT_EQ(CodeOf(verifier.Verify(*token, kNow)), "ok") << i;
  }
}

TEST(SignerTest, RefusesUnsuitableKeys) {
  const TokenClaims t = testing::GoodClaims();
  EXPECT_FALSE(SignToken(t, {Algorithm::kHs256, std::string(31, 's'), ""}).ok());
  EXPECT_FALSE(SignToken(t, {Algorithm::kRs256, Keys().ec_pem, "x"}).ok());
  EXPECT_FALSE(SignToken(t, {Algorithm::kEs256, Keys().rsa_pem, "x"}).ok());
  EXPECT_FALSE(SignToken(t, {Algorithm::kRs256, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "x"}).ok());
  EXPECT_FALSE(SignToken(t, {Algorithm::kEs256, "", "x"}).ok());
  EXPECT_FALSE(GeneratePrivateKeyPem(Algorithm::kHs256).ok());
  EXPECT_FALSE(PublicJwksFromPem(Keys().rsa_pem, "").ok());
  EXPECT_FALSE(PublicJwksFromPem("not a key", "k").ok());
}

TEST(SignerTest, PublicJwksHasNoPrivatePartsAndLoads) {
  for (const std::string& pem : {Keys().rsa_pem, Keys().ec_pem}) {
    auto jwks = PublicJwksFromPem(pem, "k\"1");
    ASSERT_TRUE(jwks.ok());
    EXPECT_EQ(jwks->find("\"d\""), std::string::npos);
    EXPECT_EQ(jwks->find("\"p\""), std::string::npos);
    auto keys = ParseJwks(*jwks);
    ASSERT_TRUE(keys.ok()) << keys.status().ToString();
    EXPECT_EQ((*keys)->kids(), std::vector<std::string>{"k\"1"});
  }
}

}  // namespace
}  // namespace watershed::auth
