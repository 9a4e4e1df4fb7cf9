#pragma once
// Tests only: keys generated once per test binary, and small helpers.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>

#include "auth/signer.h"
#include "auth/verifier.h"

namespace watershed::auth::testing {

// A fixed time for tests: 2023-11-14T22:13:20Z.
inline constexpr int64_t kNow = 1'700'000'000;
inline constexpr std::string_view kSecret = "0123456789abcdef0123456789abcdef-test-secret";

struct TestKeys {
  std::string rsa_pem;
  std::string ec_pem;
  std::string rsa_jwk;  // one JWK object (no JWKS wrapper), kid "rsa-1"
  std::string ec_jwk;   // kid "ec-1"
};

// The single JWK object of a one-key JWKS document from PublicJwksFromPem.
inline std::string JwkOf(const std::string& jwks) {
  const std::string_view prefix = "{\"keys\":[";
  EXPECT_EQ(jwks.substr(0, prefix.size()), prefix);
  return jwks.substr(prefix.size(), jwks.size() - prefix.size() - 2);
}

inline std::string JwksOf(std::initializer_list<std::string_view> jwks) {
  std::string out = "{\"keys\":[";
  bool first = true;
  for (std::string_view k : jwks) {
    if (!first) out.push_back(',');
    first = false;
    out.append(k);
  }
  out.append("]}");
  return out;
}

inline const TestKeys& Keys() {
  static const TestKeys keys = [] {
    TestKeys k;
    auto rsa = GeneratePrivateKeyPem(Algorithm::kRs256);
    auto ec = GeneratePrivateKeyPem(Algorithm::kEs256);
    if (!rsa.ok() || !ec.ok()) std::abort();
    k.rsa_pem = *rsa;
    k.ec_pem = *ec;
    auto rsa_jwks = PublicJwksFromPem(k.rsa_pem, "rsa-1");
    auto ec_jwks = PublicJwksFromPem(k.ec_pem, "ec-1");
    if (!rsa_jwks.ok() || !ec_jwks.ok()) std::abort();
    k.rsa_jwk = JwkOf(*rsa_jwks);
    k.ec_jwk = JwkOf(*ec_jwks);
    return k;
  }();
  return keys;
}

// The key set used by most tests: the secret, "rsa-1" and "ec-1".
inline std::shared_ptr<const KeySet> StandardKeySet() {
  auto keys = ParseJwks(JwksOf({Keys().rsa_jwk, Keys().ec_jwk}), kSecret);
  if (!keys.ok()) std::abort();
  return *keys;
}

inline SigningKey HsKey() { return {Algorithm::kHs256, std::string(kSecret), ""}; }
inline SigningKey RsKey() { return {Algorithm::kRs256, Keys().rsa_pem, "rsa-1"}; }
inline SigningKey EsKey() { return {Algorithm::kEs256, Keys().ec_pem, "ec-1"}; }

// Valid claims for user 42 in eu with roles viewer+creator, valid for an hour around kNow.
inline TokenClaims GoodClaims() {
  TokenClaims t;
  t.claims.user = UserId(42);
  t.claims.region = Region::kEu;
  t.claims.roles.Add(Role::kViewer);
  t.claims.roles.Add(Role::kCreator);
  t.claims.exp = kNow + 3600;
  t.claims.iat = kNow - 10;
  return t;
}

inline std::string Sign(const TokenClaims& claims, const SigningKey& key) {
  auto token = SignToken(claims, key);
  EXPECT_TRUE(token.ok()) << token.status().ToString();
  return token.ok() ? *token : std::string();
}

inline std::string SignRaw(std::string_view header, std::string_view payload, const SigningKey& key) {
  auto token = SignCompact(header, payload, key);
  EXPECT_TRUE(token.ok()) << token.status().ToString();
  return token.ok() ? *token : std::string();
}

// The code name of a refusal, or "ok".
template <typename T>
std::string CodeOf(const AuthResult<T>& r) {
  return r.ok() ? "ok" : std::string(r.error().code_name());
}

}  // namespace watershed::auth::testing
