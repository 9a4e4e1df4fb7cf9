// Independent signatures: keys generated and tokens signed by the `openssl`
// command-line tool, verified by our verifier, and ours checked by it.

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "auth/auth_test_util.h"
#include "auth/base64url.h"
#include "core/testing/temp_dir.h"

namespace watershed::auth {
namespace {

using testing::CodeOf;
using testing::GoodClaims;
using testing::kNow;

class OpensslCliTest : public ::testing::Test {
 protected:
  // Runs a shell command in the temp dir; true on exit status 0.
  bool Run(const std::string& command) {
    std::string full = "cd '" + dir_.path() + "' && " + command + " 2>>'" + dir_.Path("stderr.txt") + "'";
    return std::system(full.c_str()) == 0;
  }
  std::string Read(const std::string& name) {
    std::ifstream in(dir_.Path(name), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  void Write(const std::string& name, std::string_view content) {
    std::ofstream out(dir_.Path(name), std::ios::binary | std::ios::trunc);
    out << content;
  }
  std::string Errors() { return Read("stderr.txt"); }

  // "<header>.<payload>" for our standard claims.
  static std::string SigningInput(std::string_view header) {
    return Base64UrlEncode(header) + "." + Base64UrlEncode(EncodeClaimsJson(GoodClaims()));
  }
  std::string Verify(const std::string& token, const std::string& jwks, std::string_view secret = {}) {
    auto keys = ParseJwks(jwks, secret);
    EXPECT_TRUE(keys.ok()) << keys.status().ToString();
    if (!keys.ok()) return "no keys";
    Verifier verifier({}, std::make_shared<KeySetHolder>(*keys));
    auto claims = verifier.Verify(token, kNow);
    if (claims.ok()) {
      EXPECT_EQ(*claims, GoodClaims().claims);
    }
    return CodeOf(claims);
  }

  watershed::testing::TempDir dir_{"auth_cli"};
};

std::string HexToBytes(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  return out;
}

std::string BytesToHex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

// DER ECDSA-Sig-Value -> 64-byte R || S (test-side, independent of ours).
std::string DerToRaw(std::string_view der) {
  EXPECT_EQ(static_cast<uint8_t>(der[0]), 0x30);
  size_t at = 2;
  std::string raw;
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(static_cast<uint8_t>(der[at]), 0x02);
    size_t len = static_cast<uint8_t>(der[at + 1]);
    std::string v(der.substr(at + 2, len));
    at += 2 + len;
    while (v.size() > 32 && v[0] == '\0') v.erase(0, 1);
    raw += std::string(32 - v.size(), '\0') + v;
  }
  return raw;
}

// 64-byte R || S -> DER.
std::string RawToDer(std::string_view raw) {
  std::string body;
  for (int i = 0; i < 2; ++i) {
    std::string v(raw.substr(static_cast<size_t>(i) * 32, 32));
    while (v.size() > 1 && v[0] == '\0' && static_cast<uint8_t>(v[1]) < 0x80) v.erase(0, 1);
    if (static_cast<uint8_t>(v[0]) >= 0x80) v.insert(v.begin(), '\0');
    body += std::string("\x02", 1) + static_cast<char>(v.size()) + v;
  }
  return std::string("\x30", 1) + static_cast<char>(body.size()) + body;
}

TEST_F(OpensslCliTest, Rs256SignedByOpenssl) {
  ASSERT_TRUE(Run("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.pem")) << Errors();
  ASSERT_TRUE(Run("openssl rsa -in rsa.pem -noout -modulus > modulus.txt")) << Errors();
  std::string modulus = Read("modulus.txt");
  ASSERT_EQ(modulus.rfind("Modulus=", 0), 0u) << modulus;
  modulus = modulus.substr(8, modulus.find('\n') - 8);
  const std::string n = Base64UrlEncode(HexToBytes(modulus));
  const std::string jwks = "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"cli-rsa\",\"e\":\"AQAB\",\"n\":\"" + n + "\"}]}";

  const std::string input = SigningInput("{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"cli-rsa\"}");
  Write("input.txt", input);
  ASSERT_TRUE(Run("openssl dgst -sha256 -sign rsa.pem -out sig.bin input.txt")) << Errors();
  const std::string token = input + "." + Base64UrlEncode(Read("sig.bin"));
  EXPECT_EQ(Verify(token, jwks), "ok");
  EXPECT_EQ(Verify(token, testing::JwksOf({testing::Keys().rsa_jwk})), "token_unknown_kid");

  // Our JWKS export of the same key names the same modulus.
  auto ours = PublicJwksFromPem(Read("rsa.pem"), "cli-rsa");
  ASSERT_TRUE(ours.ok());
  EXPECT_NE(ours->find("\"n\":\"" + n + "\""), std::string::npos);
  EXPECT_EQ(Verify(token, *ours), "ok");

  // And openssl verifies our signature.
  auto signed_by_us = SignToken(GoodClaims(), {Algorithm::kRs256, Read("rsa.pem"), "cli-rsa"});
  ASSERT_TRUE(signed_by_us.ok());
  const size_t dot = signed_by_us->rfind('.');
  std::string sig;
  ASSERT_TRUE(Base64UrlDecode(signed_by_us->substr(dot + 1), &sig));
  Write("ours.txt", signed_by_us->substr(0, dot));
  Write("ours.sig", sig);
  ASSERT_TRUE(Run("openssl pkey -in rsa.pem -pubout -out pub.pem")) << Errors();
  EXPECT_TRUE(Run("openssl dgst -sha256 -verify pub.pem -signature ours.sig ours.txt > /dev/null")) << Errors();
}

TEST_F(OpensslCliTest, Es256SignedByOpenssl) {
  ASSERT_TRUE(Run("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.pem")) << Errors();
  ASSERT_TRUE(Run("openssl pkey -in ec.pem -pubout -outform DER -out pub.der")) << Errors();
  const std::string spki = Read("pub.der");
  ASSERT_GE(spki.size(), 65u);
  const std::string point = spki.substr(spki.size() - 65);
  ASSERT_EQ(point[0], '\x04');  // uncompressed point at the end of the SubjectPublicKeyInfo
  const std::string jwks = "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"cli-ec\",\"x\":\"" +
                           Base64UrlEncode(point.substr(1, 32)) + "\",\"y\":\"" + Base64UrlEncode(point.substr(33)) +
                           "\"}]}";

  const std::string input = SigningInput("{\"alg\":\"ES256\",\"kid\":\"cli-ec\"}");
  Write("input.txt", input);
  for (int i = 0; i < 5; ++i) {  // several signatures: R and S lengths vary
    ASSERT_TRUE(Run("openssl dgst -sha256 -sign ec.pem -out sig.der input.txt")) << Errors();
    const std::string der = Read("sig.der");
    const std::string token = input + "." + Base64UrlEncode(DerToRaw(der));
    EXPECT_EQ(Verify(token, jwks), "ok");
    // The DER form itself is not a JWS ES256 signature.
    EXPECT_EQ(Verify(input + "." + Base64UrlEncode(der), jwks), "token_bad_signature");
  }

  auto ours = PublicJwksFromPem(Read("ec.pem"), "cli-ec");
  ASSERT_TRUE(ours.ok());
  EXPECT_NE(ours->find(Base64UrlEncode(point.substr(1, 32))), std::string::npos);

  auto signed_by_us = SignToken(GoodClaims(), {Algorithm::kEs256, Read("ec.pem"), "cli-ec"});
  ASSERT_TRUE(signed_by_us.ok());
  const size_t dot = signed_by_us->rfind('.');
  std::string raw;
  ASSERT_TRUE(Base64UrlDecode(signed_by_us->substr(dot + 1), &raw));
  ASSERT_EQ(raw.size(), 64u);
  Write("ours.txt", signed_by_us->substr(0, dot));
  Write("ours.sig", RawToDer(raw));
  ASSERT_TRUE(Run("openssl pkey -in ec.pem -pubout -out pub.pem")) << Errors();
  EXPECT_TRUE(Run("openssl dgst -sha256 -verify pub.pem -signature ours.sig ours.txt > /dev/null")) << Errors();
}

TEST_F(OpensslCliTest, Hs256MacByOpenssl) {
  const std::string input = SigningInput("{\"alg\":\"HS256\",\"typ\":\"JWT\"}");
  Write("input.txt", input);
  ASSERT_TRUE(Run("openssl dgst -sha256 -mac HMAC -macopt hexkey:" + BytesToHex(testing::kSecret) +
                  " -binary -out mac.bin input.txt"))
      << Errors();
  const std::string mac = Read("mac.bin");
  ASSERT_EQ(mac.size(), 32u);
  const std::string token = input + "." + Base64UrlEncode(mac);
  EXPECT_EQ(Verify(token, "{\"keys\":[]}", testing::kSecret), "ok");
  EXPECT_EQ(Verify(token, "{\"keys\":[]}", std::string(testing::kSecret) + "x"), "token_bad_signature");
  // Our signer produces the same MAC.
  auto ours = SignCompact("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", EncodeClaimsJson(GoodClaims()), testing::HsKey());
  ASSERT_TRUE(ours.ok());
  EXPECT_EQ(*ours, token);
}

}  // namespace
}  // namespace watershed::auth
