#include "auth/signer.h"

#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/pem.h>

#include <cstdio>

#include "auth/base64url.h"
#include "auth/key_set.h"
#include "auth/openssl_util.h"
#include "core/json_text.h"

namespace watershed::auth {
namespace {

using internal::BioPtr;
using internal::BnPtr;
using internal::ClearOpensslErrors;
using internal::PkeyPtr;

int NoPassword(char*, int, int, void*) { return 0; }

Result<PkeyPtr> LoadPrivateKey(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  PkeyPtr pkey(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassword, nullptr) : nullptr);
  if (!pkey) {
    ClearOpensslErrors();
    return Status::InvalidArgument("not an unencrypted PEM private key");
  }
  return pkey;
}

// Ok when `pkey` is a key `alg` may sign with.
Status CheckKeyFor(EVP_PKEY* pkey, Algorithm alg) {
  if (alg == Algorithm::kRs256) {
    if (!EVP_PKEY_is_a(pkey, "RSA")) return Status::InvalidArgument("RS256 needs an RSA key");
    if (EVP_PKEY_get_bits(pkey) < kMinRsaBits) return Status::InvalidArgument("RSA key smaller than 2048 bits");
    return Status::Ok();
  }
  if (alg == Algorithm::kEs256) {
    char group[64] = {};
    size_t len = 0;
    if (!EVP_PKEY_is_a(pkey, "EC") ||
        EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len) != 1 ||
        std::string_view(group, len) != "prime256v1") {
      ClearOpensslErrors();
      return Status::InvalidArgument("ES256 needs an EC P-256 key");
    }
    return Status::Ok();
  }
  return Status::InvalidArgument("HS256 does not use a private key");
}

Result<std::string> SignBytes(std::string_view input, const SigningKey& key) {
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  if (key.alg == Algorithm::kHs256) {
    if (key.key.size() < kMinHs256SecretBytes) return Status::InvalidArgument("HS256 secret shorter than 32 bytes");
    internal::MacCtxPtr ctx = internal::NewHmacSha256(key.key);
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t len = 0;
    if (!ctx || EVP_MAC_update(ctx.get(), data, input.size()) != 1 ||
        EVP_MAC_final(ctx.get(), mac, &len, sizeof mac) != 1) {
      ClearOpensslErrors();
      return Status::Internal("OpenSSL: HMAC failed");
    }
    return std::string(reinterpret_cast<char*>(mac), len);
  }
  ASSIGN_OR_RETURN(PkeyPtr pkey, LoadPrivateKey(key.key));
  RETURN_IF_ERROR(CheckKeyFor(pkey.get(), key.alg));
  internal::MdCtxPtr ctx(EVP_MD_CTX_new());
  size_t len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, internal::Sha256(), nullptr, pkey.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, data, input.size()) != 1) {
    ClearOpensslErrors();
    return Status::Internal("OpenSSL: signing failed");
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, data, input.size()) != 1) {
    ClearOpensslErrors();
    return Status::Internal("OpenSSL: signing failed");
  }
  sig.resize(len);
  if (key.alg == Algorithm::kRs256) return sig;

  // DER ECDSA-Sig-Value -> JWS R || S, each left-padded to 32 bytes.
  const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
  ECDSA_SIG* ecdsa = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
  if (ecdsa == nullptr) {
    ClearOpensslErrors();
    return Status::Internal("OpenSSL: bad ECDSA signature encoding");
  }
  std::string raw(64, '\0');
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(ecdsa, &r, &s);
  bool ok = BN_bn2binpad(r, reinterpret_cast<unsigned char*>(raw.data()), 32) == 32 &&
            BN_bn2binpad(s, reinterpret_cast<unsigned char*>(raw.data()) + 32, 32) == 32;
  ECDSA_SIG_free(ecdsa);
  if (!ok) return Status::Internal("OpenSSL: ECDSA signature too large");
  return raw;
}

Result<std::string> BnParamBase64(EVP_PKEY* pkey, const char* name, int pad_to) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, name, &raw) != 1) {
    ClearOpensslErrors();
    return Status::Internal(std::string("OpenSSL: cannot read key parameter ") + name);
  }
  BnPtr bn(raw);
  int len = std::max(pad_to, BN_num_bytes(bn.get()));
  std::string bytes(static_cast<size_t>(len), '\0');
  BN_bn2binpad(bn.get(), reinterpret_cast<unsigned char*>(bytes.data()), len);
  return Base64UrlEncode(bytes);
}

}  // namespace

std::string EncodeClaimsJson(const TokenClaims& t) {
  const Claims& c = t.claims;
  std::string out = "{\"sub\":\"" + std::to_string(c.user.value) + "\",\"region\":";
  AppendJsonString(RegionName(c.region), &out);
  out.append(",\"roles\":[");
  bool first = true;
  for (Role r : {Role::kViewer, Role::kCreator, Role::kAnalyst, Role::kAdmin}) {
    if (!c.roles.Has(r)) continue;
    if (!first) out.push_back(',');
    first = false;
    AppendJsonString(RoleName(r), &out);
  }
  out.append("],\"exp\":").append(std::to_string(c.exp));
  if (c.nbf) out.append(",\"nbf\":").append(std::to_string(*c.nbf));
  if (c.iat) out.append(",\"iat\":").append(std::to_string(*c.iat));
  if (!t.issuer.empty()) {
    out.append(",\"iss\":");
    AppendJsonString(t.issuer, &out);
  }
  if (t.audience.size() == 1) {
    out.append(",\"aud\":");
    AppendJsonString(t.audience[0], &out);
  } else if (t.audience.size() > 1) {
    out.append(",\"aud\":[");
    for (size_t i = 0; i < t.audience.size(); ++i) {
      if (i) out.push_back(',');
      AppendJsonString(t.audience[i], &out);
    }
    out.push_back(']');
  }
  out.push_back('}');
  return out;
}

Result<std::string> SignCompact(std::string_view header_json, std::string_view payload_json, const SigningKey& key) {
  std::string token;
  AppendBase64Url(header_json, &token);
  token.push_back('.');
  AppendBase64Url(payload_json, &token);
  ASSIGN_OR_RETURN(std::string sig, SignBytes(token, key));
  token.push_back('.');
  AppendBase64Url(sig, &token);
  return token;
}

Result<std::string> SignToken(const TokenClaims& claims, const SigningKey& key) {
  std::string header = "{\"alg\":\"" + std::string(AlgorithmName(key.alg)) + "\",\"typ\":\"JWT\"";
  if (!key.kid.empty()) {
    header.append(",\"kid\":");
    AppendJsonString(key.kid, &header);
  }
  header.push_back('}');
  return SignCompact(header, EncodeClaimsJson(claims), key);
}

Result<std::string> PublicJwksFromPem(std::string_view pem_private_key, std::string_view kid) {
  if (kid.empty()) return Status::InvalidArgument("a JWKS key needs a kid");
  ASSIGN_OR_RETURN(PkeyPtr pkey, LoadPrivateKey(pem_private_key));
  const Algorithm alg = EVP_PKEY_is_a(pkey.get(), "RSA") ? Algorithm::kRs256 : Algorithm::kEs256;
  RETURN_IF_ERROR(CheckKeyFor(pkey.get(), alg));

  std::string out = "{\"keys\":[{";
  if (alg == Algorithm::kRs256) {
    ASSIGN_OR_RETURN(std::string n, BnParamBase64(pkey.get(), OSSL_PKEY_PARAM_RSA_N, 0));
    ASSIGN_OR_RETURN(std::string e, BnParamBase64(pkey.get(), OSSL_PKEY_PARAM_RSA_E, 0));
    out.append("\"kty\":\"RSA\",\"use\":\"sig\",\"alg\":\"RS256\",\"kid\":");
    AppendJsonString(kid, &out);
    out.append(",\"n\":\"").append(n).append("\",\"e\":\"").append(e).append("\"");
  } else {
    ASSIGN_OR_RETURN(std::string x, BnParamBase64(pkey.get(), OSSL_PKEY_PARAM_EC_PUB_X, 32));
    ASSIGN_OR_RETURN(std::string y, BnParamBase64(pkey.get(), OSSL_PKEY_PARAM_EC_PUB_Y, 32));
    out.append("\"kty\":\"EC\",\"crv\":\"P-256\",\"use\":\"sig\",\"alg\":\"ES256\",\"kid\":");
    AppendJsonString(kid, &out);
    out.append(",\"x\":\"").append(x).append("\",\"y\":\"").append(y).append("\"");
  }
  out.append("}]}");
  return out;
}

Result<std::string> GeneratePrivateKeyPem(Algorithm alg) {
  EVP_PKEY* raw = nullptr;
  if (alg == Algorithm::kRs256) {
    raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(kMinRsaBits));
  } else if (alg == Algorithm::kEs256) {
    raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  } else {
    return Status::InvalidArgument("HS256 has no private key");
  }
  PkeyPtr pkey(raw);
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!pkey || !bio || PEM_write_bio_PrivateKey(bio.get(), pkey.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    ClearOpensslErrors();
    return Status::Internal("OpenSSL: key generation failed");
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

}  // namespace watershed::auth
