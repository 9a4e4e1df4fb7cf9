// JWKS parsing, key refusals, and reloading a JWKS file (key rotation).

#include "auth/key_set.h"

#include <gtest/gtest.h>

#include <fstream>

#include "auth/auth_test_util.h"
#include "auth/base64url.h"
#include "core/testing/temp_dir.h"

namespace watershed::auth {
namespace {

using testing::JwksOf;
using testing::Keys;

// RFC 7515 A.2 / A.3 public keys (a 2048-bit RSA modulus, a P-256 point).
constexpr std::string_view kRsaN =
    "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-"
    "pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-"
    "UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-"
    "DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";
constexpr std::string_view kEcX = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
constexpr std::string_view kEcY = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";

std::string RsaJwk(std::string_view n_b64, std::string_view extra = "") {
  return "{\"kty\":\"RSA\",\"kid\":\"r\",\"e\":\"AQAB\",\"n\":\"" + std::string(n_b64) + "\"" + std::string(extra) + "}";
}
std::string EcJwk(std::string_view x, std::string_view y, std::string_view extra = "") {
  return "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"e\",\"x\":\"" + std::string(x) + "\",\"y\":\"" + std::string(y) +
         "\"" + std::string(extra) + "}";
}
std::string ModulusWith(std::string_view prefix_bytes, size_t drop_leading) {
  std::string n;
  EXPECT_TRUE(Base64UrlDecode(kRsaN, &n));
  return Base64UrlEncode(std::string(prefix_bytes) + n.substr(drop_leading));
}

Status ParseStatus(std::string_view jwks, std::string_view secret = {}) {
  auto keys = ParseJwks(jwks, secret);
  return keys.ok() ? Status::Ok() : keys.status();
}

TEST(JwksTest, LoadsRsaAndEcKeys) {
  auto keys = ParseJwks(JwksOf({RsaJwk(kRsaN), EcJwk(kEcX, kEcY)}));
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  EXPECT_EQ((*keys)->public_key_count(), 2u);
  EXPECT_EQ((*keys)->kids(), (std::vector<std::string>{"r", "e"}));
  EXPECT_FALSE((*keys)->has_hs256_secret());
}

TEST(JwksTest, RefusesRsaBelow2048Bits) {
  // 2040 bits: the RFC modulus without its top byte.
  Status s = ParseStatus(JwksOf({RsaJwk(ModulusWith("", 1))}));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("2040 bits"), std::string::npos) << s.message();
  // Leading zero bytes do not make a modulus bigger.
  EXPECT_FALSE(ParseStatus(JwksOf({RsaJwk(ModulusWith(std::string(2, '\0'), 1))})).ok());
  EXPECT_TRUE(ParseStatus(JwksOf({RsaJwk(ModulusWith(std::string(1, '\0'), 0))})).ok());
  // 1024 bits.
  std::string n;
  ASSERT_TRUE(Base64UrlDecode(kRsaN, &n));
  EXPECT_FALSE(ParseStatus(JwksOf({RsaJwk(Base64UrlEncode(n.substr(128)))})).ok());
}

TEST(JwksTest, RefusesInvalidRsaKeys) {
  EXPECT_FALSE(ParseStatus(JwksOf({RsaJwk(ModulusWith("", 0).substr(0, 340) + "AA")})).ok());  // even modulus
  EXPECT_FALSE(ParseStatus("{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"r\",\"n\":\"" + std::string(kRsaN) + "\"}]}").ok());
  EXPECT_FALSE(ParseStatus(JwksOf({RsaJwk(kRsaN).replace(RsaJwk(kRsaN).find("AQAB"), 4, "AQA=")})).ok());
  EXPECT_FALSE(ParseStatus(JwksOf({RsaJwk(kRsaN).replace(RsaJwk(kRsaN).find("AQAB"), 4, "")})).ok());
  EXPECT_FALSE(ParseStatus(JwksOf({RsaJwk(kRsaN).replace(RsaJwk(kRsaN).find("AQAB"), 4, "Aw")})).ok());  // e = 3
  EXPECT_FALSE(ParseStatus(JwksOf({RsaJwk(kRsaN).replace(RsaJwk(kRsaN).find("AQAB"), 4, "AQAA")})).ok());  // even e
  EXPECT_FALSE(ParseStatus(JwksOf({RsaJwk(kRsaN).replace(RsaJwk(kRsaN).find("AQAB"), 4, "AAAAAQAA")})).ok());  // 0x10000 < 2^16+1
  EXPECT_TRUE(ParseStatus(JwksOf({RsaJwk(kRsaN).replace(RsaJwk(kRsaN).find("AQAB"), 4, "AAEAAQ")})).ok());  // 0x00010001
}

TEST(JwksTest, RefusesEcPointsOffTheCurve) {
  // Flip the last bit of y: (x, y') is not on P-256.
  std::string y;
  ASSERT_TRUE(Base64UrlDecode(kEcY, &y));
  y[31] = static_cast<char>(y[31] ^ 1);
  Status s = ParseStatus(JwksOf({EcJwk(kEcX, Base64UrlEncode(y))}));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("not on the curve"), std::string::npos) << s.message();
  EXPECT_FALSE(ParseStatus(JwksOf({EcJwk(kEcX, Base64UrlEncode(std::string(32, '\0')))})).ok());
  EXPECT_FALSE(ParseStatus(JwksOf({EcJwk(Base64UrlEncode(std::string(32, '\0')), Base64UrlEncode(std::string(32, '\0')))})).ok());
  // Coordinates must be exactly 32 bytes.
  std::string x;
  ASSERT_TRUE(Base64UrlDecode(kEcX, &x));
  EXPECT_FALSE(ParseStatus(JwksOf({EcJwk(Base64UrlEncode(std::string(1, '\0') + x), kEcY)})).ok());
  EXPECT_FALSE(ParseStatus(JwksOf({EcJwk(Base64UrlEncode(x.substr(1)), kEcY)})).ok());
  EXPECT_TRUE(ParseStatus(JwksOf({EcJwk(kEcX, kEcY)})).ok());
}

TEST(JwksTest, RefusesMalformedDocuments) {
  for (std::string_view bad : {"", "{", "[]", "{\"keys\":{}}", "{\"keys\":[1]}", "{\"key\":[]}", "null",
                               "{\"keys\":[{\"kid\":\"x\"}]}", "{\"keys\":[]}"}) {
    EXPECT_FALSE(ParseStatus(bad).ok()) << bad;
  }
  // Keys need a kid, unique, and no private material.
  EXPECT_FALSE(ParseStatus("{\"keys\":[{\"kty\":\"RSA\",\"e\":\"AQAB\",\"n\":\"" + std::string(kRsaN) + "\"}]}").ok());
  EXPECT_FALSE(ParseStatus(JwksOf({RsaJwk(kRsaN), RsaJwk(kRsaN)})).ok());
  EXPECT_FALSE(ParseStatus(JwksOf({EcJwk(kEcX, kEcY, ",\"d\":\"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI\"")})).ok());
  EXPECT_FALSE(ParseStatus(JwksOf({RsaJwk(kRsaN, ",\"alg\":7")})).ok());
}

TEST(JwksTest, SkipsKeysNotForJwsVerification) {
  const std::string enc = RsaJwk(kRsaN, ",\"use\":\"enc\"");
  const std::string oct = "{\"kty\":\"oct\",\"kid\":\"s\",\"k\":\"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ\"}";
  const std::string p384 = "{\"kty\":\"EC\",\"crv\":\"P-384\",\"kid\":\"p\",\"x\":\"AA\",\"y\":\"AA\"}";
  const std::string okp = "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"o\",\"x\":\"AA\"}";
  auto keys = ParseJwks(JwksOf({enc, oct, p384, okp, EcJwk(kEcX, kEcY, ",\"use\":\"sig\"")}));
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  EXPECT_EQ((*keys)->kids(), std::vector<std::string>{"e"});
  // Nothing usable at all is an error (a rotation mistake, not an empty set).
  EXPECT_FALSE(ParseStatus(JwksOf({enc, oct})).ok());
  EXPECT_TRUE(ParseStatus(JwksOf({enc, oct}), testing::kSecret).ok());
}

TEST(JwksTest, SecretMustBeAtLeast32Bytes) {
  EXPECT_FALSE(KeySetFromSecret(std::string(31, 'k')).ok());
  EXPECT_FALSE(KeySetFromSecret("").ok());
  EXPECT_FALSE(ParseStatus(JwksOf({EcJwk(kEcX, kEcY)}), std::string(31, 'k')).ok());
  auto keys = KeySetFromSecret(std::string(32, 'k'));
  ASSERT_TRUE(keys.ok());
  EXPECT_TRUE((*keys)->has_hs256_secret());
  EXPECT_EQ((*keys)->public_key_count(), 0u);
}

TEST(JwksTest, EveryKeySetHasANewGeneration) {
  auto a = KeySetFromSecret(testing::kSecret);
  auto b = KeySetFromSecret(testing::kSecret);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE((*a)->generation(), (*b)->generation());
  KeySetHolder holder(*a);
  EXPECT_EQ(holder.generation(), (*a)->generation());
  holder.Set(*b);
  EXPECT_EQ(holder.generation(), (*b)->generation());
  EXPECT_EQ(holder.Get(), *b);
}

class JwksFileTest : public ::testing::Test {
 protected:
  void Write(std::string_view content) {
    std::ofstream out(path_, std::ios::trunc | std::ios::binary);
    out << content;
  }

  watershed::testing::TempDir dir_{"auth_jwks"};
  std::string path_ = dir_.Path("jwks.json");
};

TEST_F(JwksFileTest, OpenFailsOnMissingOrBadFile) {
  EXPECT_EQ(JwksFile::Open(path_, "").status().code(), StatusCode::kNotFound);
  Write("{\"keys\":[");
  auto f = JwksFile::Open(path_, "");
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find(path_), std::string::npos);
  Write(std::string(kMaxJwksBytes + 1, ' '));
  EXPECT_EQ(JwksFile::Open(path_, "").status().code(), StatusCode::kTooLarge);
}

TEST_F(JwksFileTest, ReloadKeepsOldKeysOnErrorAndRotates) {
  const SigningKey rsa = testing::RsKey();
  const SigningKey ec = testing::EsKey();
  Write(JwksOf({Keys().rsa_jwk}));
  auto file = JwksFile::Open(path_, "");
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  Verifier verifier({}, (*file)->holder(), std::make_unique<TokenCache>());
  const std::string rsa_token = testing::Sign(testing::GoodClaims(), rsa);
  const std::string ec_token = testing::Sign(testing::GoodClaims(), ec);
  EXPECT_EQ(testing::CodeOf(verifier.Verify(rsa_token, testing::kNow)), "ok");
  EXPECT_EQ(testing::CodeOf(verifier.Verify(ec_token, testing::kNow)), "token_unknown_kid");
  const uint64_t first = (*file)->current()->generation();

  // Unchanged file: same key set, cache stays valid.
  EXPECT_TRUE((*file)->Reload().ok());
  EXPECT_EQ((*file)->current()->generation(), first);

  // Missing file: error returned and recorded; old keys still verify.
  std::filesystem::remove(path_);
  Status s = (*file)->Reload();
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ((*file)->last_status().code(), StatusCode::kNotFound);
  EXPECT_EQ((*file)->current()->generation(), first);
  EXPECT_EQ(testing::CodeOf(verifier.Verify(rsa_token, testing::kNow)), "ok");

  // Malformed, then a refused key: still the old keys.
  Write("{\"keys\":[{\"kty\":");
  EXPECT_EQ((*file)->Reload().code(), StatusCode::kInvalidArgument);
  Write(JwksOf({RsaJwk(ModulusWith("", 1))}));
  EXPECT_EQ((*file)->Reload().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*file)->last_status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*file)->current()->generation(), first);
  EXPECT_EQ(testing::CodeOf(verifier.Verify(rsa_token, testing::kNow)), "ok");

  // Rotation: the new file has only the EC key.
  Write(JwksOf({Keys().ec_jwk}));
  EXPECT_TRUE((*file)->Reload().ok());
  EXPECT_TRUE((*file)->last_status().ok());
  EXPECT_NE((*file)->current()->generation(), first);
  EXPECT_EQ(testing::CodeOf(verifier.Verify(ec_token, testing::kNow)), "ok");
  EXPECT_EQ(testing::CodeOf(verifier.Verify(rsa_token, testing::kNow)), "token_unknown_kid");
}

TEST_F(JwksFileTest, SecretSurvivesReload) {
  Write(JwksOf({Keys().ec_jwk}));
  auto file = JwksFile::Open(path_, std::string(testing::kSecret));
  ASSERT_TRUE(file.ok());
  Write(JwksOf({Keys().rsa_jwk}));
  ASSERT_TRUE((*file)->Reload().ok());
  Verifier verifier({}, (*file)->holder());
  EXPECT_EQ(testing::CodeOf(verifier.Verify(testing::Sign(testing::GoodClaims(), testing::HsKey()), testing::kNow)),
            "ok");
}

}  // namespace
}  // namespace watershed::auth
