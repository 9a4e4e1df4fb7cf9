// The JWS layer: structure, header rules and signatures, including the
// RFC 7515 Appendix A examples as independent ground truth.

#include "auth/jws.h"

#include <gtest/gtest.h>

#include "auth/auth_test_util.h"
#include "auth/base64url.h"

namespace watershed::auth {
namespace {

using testing::CodeOf;
using testing::HsKey;
using testing::Keys;
using testing::SignRaw;

// RFC 7515 Appendix A: the shared payload {"iss":"joe",\r\n "exp":1300819380,\r\n "http://example.com/is_root":true}.
constexpr std::string_view kRfcPayloadB64 =
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";

// A.1: HS256 with the symmetric JWK below.
constexpr std::string_view kA1Key =
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
constexpr std::string_view kA1Token =
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
    "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

// A.2: RS256 with the RSA JWK (public part) below.
constexpr std::string_view kA2N =
    "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-"
    "pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-"
    "UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-"
    "DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";
constexpr std::string_view kA2Token =
    "eyJhbGciOiJSUzI1NiJ9."
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
    "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1d"
    "nZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--"
    "xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_"
    "IoypGlUPQGe77Rw";

// A.3: ES256 with the P-256 JWK (public part) below.
constexpr std::string_view kA3X = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
constexpr std::string_view kA3Y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
constexpr std::string_view kA3Token =
    "eyJhbGciOiJFUzI1NiJ9."
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

std::string RfcJwks() {
  return "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"a2\",\"n\":\"" + std::string(kA2N) +
         "\",\"e\":\"AQAB\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"a3\",\"x\":\"" + std::string(kA3X) +
         "\",\"y\":\"" + std::string(kA3Y) + "\"}]}";
}

std::shared_ptr<const KeySet> RfcKeys() {
  std::string secret;
  EXPECT_TRUE(Base64UrlDecode(kA1Key, &secret));
  auto keys = ParseJwks(RfcJwks(), secret);
  EXPECT_TRUE(keys.ok()) << keys.status().ToString();
  return keys.ok() ? *keys : nullptr;
}

// Parses then verifies; `kid` (when non-empty) replaces the header's kid,
// since the RFC examples carry none.
std::string Check(std::string_view token, const KeySet& keys, std::string_view kid = {}) {
  JwsParts jws;
  auto parsed = ParseCompactJws(token, kDefaultMaxTokenBytes, &jws);
  if (!parsed.ok()) return CodeOf(parsed);
  if (!kid.empty()) jws.kid.assign(kid);
  return CodeOf(VerifyJwsSignature(jws, keys));
}

std::string FlipLastSignatureChar(std::string_view token) {
  std::string t(token);
  // 'A' <-> 'Q' changes a high bit of the last full sextet and keeps it canonical.
  char& c = t[t.size() - 2];
  c = c == 'A' ? 'Q' : 'A';
  return t;
}

TEST(JwsRfc7515Test, A1Hs256Verifies) {
  auto keys = RfcKeys();
  JwsParts jws;
  ASSERT_TRUE(ParseCompactJws(kA1Token, kDefaultMaxTokenBytes, &jws).ok());
  EXPECT_EQ(jws.alg, Algorithm::kHs256);
  EXPECT_EQ(jws.payload, "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}");
  EXPECT_EQ(CodeOf(VerifyJwsSignature(jws, *keys)), "ok");
  EXPECT_EQ(Check(FlipLastSignatureChar(kA1Token), *keys), "token_bad_signature");
}

TEST(JwsRfc7515Test, A2Rs256Verifies) {
  auto keys = RfcKeys();
  EXPECT_EQ(Check(kA2Token, *keys), "token_unknown_kid");  // the example has no kid
  EXPECT_EQ(Check(kA2Token, *keys, "a2"), "ok");
  EXPECT_EQ(Check(kA2Token, *keys, "a3"), "token_key_mismatch");
  EXPECT_EQ(Check(FlipLastSignatureChar(kA2Token), *keys, "a2"), "token_bad_signature");
}

TEST(JwsRfc7515Test, A3Es256Verifies) {
  auto keys = RfcKeys();
  EXPECT_EQ(Check(kA3Token, *keys), "token_unknown_kid");
  EXPECT_EQ(Check(kA3Token, *keys, "a3"), "ok");
  EXPECT_EQ(Check(kA3Token, *keys, "a2"), "token_key_mismatch");
  EXPECT_EQ(Check(FlipLastSignatureChar(kA3Token), *keys, "a3"), "token_bad_signature");
}

TEST(JwsRfc7515Test, TamperedPayloadFailsEveryAlgorithm) {
  auto keys = RfcKeys();
  // Same header and signature, payload with exp changed by one digit.
  const std::string other = Base64UrlEncode("{\"iss\":\"joe\",\r\n \"exp\":1300819381,\r\n \"http://example.com/is_root\":true}");
  for (auto [token, kid] : {std::pair{kA1Token, ""}, std::pair{kA2Token, "a2"}, std::pair{kA3Token, "a3"}}) {
    std::string t(token);
    t.replace(t.find(kRfcPayloadB64), kRfcPayloadB64.size(), other);
    EXPECT_EQ(Check(t, *keys, kid), "token_bad_signature") << kid;
  }
}

TEST(JwsRfc7515Test, Es256SignatureMustBeRaw64Bytes) {
  auto keys = RfcKeys();
  JwsParts jws;
  ASSERT_TRUE(ParseCompactJws(kA3Token, kDefaultMaxTokenBytes, &jws).ok());
  jws.kid = "a3";
  const std::string raw = jws.signature;
  ASSERT_EQ(raw.size(), 64u);
  for (std::string sig : {raw.substr(0, 63), raw + '\0', std::string(1, '\0') + raw, std::string()}) {
    jws.signature = sig;
    EXPECT_EQ(CodeOf(VerifyJwsSignature(jws, *keys)), "token_bad_signature") << sig.size();
  }
  // The same signature in DER form, as OpenSSL would produce it, is refused too.
  auto der_int = [](std::string v) {
    if (static_cast<uint8_t>(v[0]) >= 0x80) v.insert(v.begin(), '\0');
    return std::string("\x02", 1) + static_cast<char>(v.size()) + v;
  };
  std::string body = der_int(raw.substr(0, 32)) + der_int(raw.substr(32));
  jws.signature = std::string("\x30", 1) + static_cast<char>(body.size()) + body;
  EXPECT_EQ(CodeOf(VerifyJwsSignature(jws, *keys)), "token_bad_signature");
  jws.signature = raw;
  EXPECT_EQ(CodeOf(VerifyJwsSignature(jws, *keys)), "ok");
}

std::string Token(std::string_view header, std::string_view payload, std::string_view signature = "c2ln") {
  return Base64UrlEncode(header) + "." + Base64UrlEncode(payload) + "." + std::string(signature);
}

std::string ParseCode(std::string_view token, size_t max = kDefaultMaxTokenBytes) {
  JwsParts jws;
  return CodeOf(ParseCompactJws(token, max, &jws));
}

TEST(JwsParseTest, AcceptsTheThreeAlgorithmsAndTyp) {
  for (std::string_view alg : {"HS256", "RS256", "ES256"})
    EXPECT_EQ(ParseCode(Token("{\"alg\":\"" + std::string(alg) + "\"}", "{}")), "ok") << alg;
  EXPECT_EQ(ParseCode(Token("{\"alg\":\"HS256\",\"typ\":\"jwt\"}", "{}")), "ok");
  EXPECT_EQ(ParseCode(Token("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"k\",\"x5t\":1}", "{}")), "ok");
}

TEST(JwsParseTest, RefusesOtherAlgorithms) {
  for (std::string_view alg : {"none", "None", "HS384", "HS512", "RS384", "PS256", "ES384", "EdDSA", "hs256", ""})
    EXPECT_EQ(ParseCode(Token("{\"alg\":\"" + std::string(alg) + "\"}", "{}")), "token_alg_not_allowed") << alg;
  // alg none with an empty signature part, and with none at all.
  const std::string none = Base64UrlEncode("{\"alg\":\"none\"}") + "." + Base64UrlEncode("{\"sub\":\"1\"}");
  EXPECT_EQ(ParseCode(none + "."), "token_alg_not_allowed");
  EXPECT_EQ(ParseCode(none), "token_malformed");
}

TEST(JwsParseTest, RefusesBadStructure) {
  const std::string good = Token("{\"alg\":\"HS256\"}", "{}");
  EXPECT_EQ(ParseCode(good), "ok");
  EXPECT_EQ(ParseCode(""), "token_missing");
  EXPECT_EQ(ParseCode("abc"), "token_malformed");
  EXPECT_EQ(ParseCode(good.substr(0, good.rfind('.'))), "token_malformed");  // 2 parts
  EXPECT_EQ(ParseCode(good + ".c2ln"), "token_malformed");                   // 4 parts
  EXPECT_EQ(ParseCode(good + "."), "token_malformed");
  EXPECT_EQ(ParseCode("." + good.substr(good.find('.'))), "token_malformed");  // empty header
  EXPECT_EQ(ParseCode(good.substr(0, good.size() - 1)), "token_malformed");     // truncated: "c2l" is not canonical
  EXPECT_EQ(ParseCode(good.substr(0, good.size() - 3)), "token_malformed");     // truncated: "c" is 1 mod 4
  EXPECT_EQ(ParseCode(good + "="), "token_malformed");                          // padding
  EXPECT_EQ(ParseCode(" " + good), "token_malformed");
  EXPECT_EQ(ParseCode(Token("{\"alg\":\"HS256\"}", "{}", "c2ln+w")), "token_malformed");  // '+'
  EXPECT_EQ(ParseCode(good, good.size() - 1), "token_malformed");                         // over the size limit
  EXPECT_EQ(ParseCode(good, good.size()), "ok");
}

TEST(JwsParseTest, HeaderMustBeAStrictJsonObject) {
  EXPECT_EQ(ParseCode(Token("[\"alg\",\"HS256\"]", "{}")), "token_malformed");
  EXPECT_EQ(ParseCode(Token("\"HS256\"", "{}")), "token_malformed");
  EXPECT_EQ(ParseCode(Token("{\"alg\":\"HS256\"", "{}")), "token_malformed");
  EXPECT_EQ(ParseCode(Token("{}", "{}")), "token_malformed");  // no alg
  EXPECT_EQ(ParseCode(Token("{\"alg\":256}", "{}")), "token_malformed");
  EXPECT_EQ(ParseCode(Token("{\"alg\":\"HS256\",\"kid\":7}", "{}")), "token_malformed");
  EXPECT_EQ(ParseCode(Token("{\"alg\":\"HS256\",\"typ\":\"JOSE\"}", "{}")), "token_malformed");
  EXPECT_EQ(ParseCode(Token("{\"alg\":\"HS256\",\"typ\":1}", "{}")), "token_malformed");
  EXPECT_EQ(ParseCode(Token("{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", "{}")), "token_malformed");
  // A repeated name could be read differently by another parser.
  EXPECT_EQ(ParseCode(Token("{\"alg\":\"HS256\",\"alg\":\"none\"}", "{}")), "token_malformed");
  EXPECT_EQ(ParseCode(Token("{\"alg\":\"RS256\",\"kid\":\"a\",\"kid\":\"b\"}", "{}")), "token_malformed");
}

TEST(JwsParseTest, PayloadIsDecodedNotParsed) {
  JwsParts jws;
  ASSERT_TRUE(ParseCompactJws(Token("{\"alg\":\"HS256\",\"kid\":\"k9\"}", "[1,2]"), kDefaultMaxTokenBytes, &jws).ok());
  EXPECT_EQ(jws.payload, "[1,2]");
  EXPECT_EQ(jws.kid, "k9");
  EXPECT_EQ(jws.signature, "sig");
}

TEST(JwsSignatureTest, Hs256IsCheckedOnlyAgainstTheConfiguredSecret) {
  // Algorithm confusion: an attacker HMACs with the RSA public key's
  // published bytes (its JWK, or its PEM) and names the RSA kid.
  auto with_secret = testing::StandardKeySet();
  auto without_secret = ParseJwks(testing::JwksOf({Keys().rsa_jwk, Keys().ec_jwk}));
  ASSERT_TRUE(without_secret.ok());
  const std::string header = "{\"alg\":\"HS256\",\"kid\":\"rsa-1\"}";
  const std::string payload = "{\"sub\":\"1\",\"region\":\"us\",\"roles\":[\"admin\"],\"exp\":9999999999}";
  for (const std::string& public_bytes : {Keys().rsa_jwk, testing::JwksOf({Keys().rsa_jwk})}) {
    std::string forged = SignRaw(header, payload, {Algorithm::kHs256, public_bytes, ""});
    EXPECT_EQ(Check(forged, *with_secret), "token_bad_signature");
    EXPECT_EQ(Check(forged, **without_secret), "token_alg_not_allowed");
  }
  EXPECT_EQ(Check(SignRaw(header, payload, HsKey()), *with_secret), "ok");
}

TEST(JwsSignatureTest, KidMustNameAKeyOfTheRightType) {
  auto keys = testing::StandardKeySet();
  const std::string payload = "{}";
  const std::string rs_token = SignRaw("{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}", payload, testing::RsKey());
  const std::string es_token = SignRaw("{\"alg\":\"ES256\",\"kid\":\"ec-1\"}", payload, testing::EsKey());
  EXPECT_EQ(Check(rs_token, *keys), "ok");
  EXPECT_EQ(Check(es_token, *keys), "ok");
  // The RS256 signature presented under the EC key's kid, and vice versa.
  EXPECT_EQ(Check(SignRaw("{\"alg\":\"RS256\",\"kid\":\"ec-1\"}", payload, testing::RsKey()), *keys),
            "token_key_mismatch");
  EXPECT_EQ(Check(SignRaw("{\"alg\":\"ES256\",\"kid\":\"rsa-1\"}", payload, testing::EsKey()), *keys),
            "token_key_mismatch");
  EXPECT_EQ(Check(SignRaw("{\"alg\":\"RS256\",\"kid\":\"nope\"}", payload, testing::RsKey()), *keys),
            "token_unknown_kid");
  EXPECT_EQ(Check(SignRaw("{\"alg\":\"RS256\"}", payload, testing::RsKey()), *keys), "token_unknown_kid");
}

TEST(JwsSignatureTest, KeyAlgMustMatchTheTokenAlg) {
  // An RSA key published for RS512 only is not used for RS256.
  std::string jwk = Keys().rsa_jwk;
  jwk.replace(jwk.find("\"RS256\""), 7, "\"RS512\"");
  auto keys = ParseJwks(testing::JwksOf({jwk}));
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  EXPECT_EQ(Check(SignRaw("{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}", "{}", testing::RsKey()), **keys),
            "token_key_mismatch");
}

}  // namespace
}  // namespace watershed::auth
