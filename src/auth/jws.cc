#include "auth/jws.h"

#include <openssl/crypto.h>
#include <simdjson.h>

#include <cstring>

#include "auth/base64url.h"
#include "auth/key_set_internal.h"

namespace watershed::auth {
namespace {

using internal::ClearOpensslErrors;

constexpr AuthError Malformed(std::string_view message) { return {AuthErrorCode::kTokenMalformed, message}; }
constexpr AuthError BadSignature() { return {AuthErrorCode::kBadSignature, "signature does not verify"}; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Decodes base64url `text` into *out leaving room for simdjson's padding,
// so parsing it does not copy.
bool DecodeForJson(std::string_view text, std::string* out) {
  out->reserve(text.size() / 4 * 3 + 3 + simdjson::SIMDJSON_PADDING);
  return Base64UrlDecode(text, out);
}

AuthResult<Verified> ParseHeader(const std::string& header, JwsParts* out) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  simdjson::dom::object obj;
  if (parser.parse(header).get(root) != simdjson::SUCCESS) return Malformed("token header is not JSON");
  if (root.get(obj) != simdjson::SUCCESS) return Malformed("token header is not a JSON object");

  bool has_alg = false, has_kid = false, has_typ = false;
  std::string_view alg;
  out->kid.clear();
  for (simdjson::dom::key_value_pair field : obj) {
    std::string_view name = field.key;
    if (name == "alg") {
      if (has_alg) return Malformed("token header repeats \"alg\"");
      has_alg = true;
      if (field.value.get(alg) != simdjson::SUCCESS) return Malformed("token header \"alg\" is not a string");
    } else if (name == "kid") {
      if (has_kid) return Malformed("token header repeats \"kid\"");
      has_kid = true;
      std::string_view kid;
      if (field.value.get(kid) != simdjson::SUCCESS) return Malformed("token header \"kid\" is not a string");
      out->kid.assign(kid);
    } else if (name == "typ") {
      if (has_typ) return Malformed("token header repeats \"typ\"");
      has_typ = true;
      std::string_view typ;
      if (field.value.get(typ) != simdjson::SUCCESS || !EqualsIgnoreCase(typ, "JWT"))
        return Malformed("token header \"typ\" is not \"JWT\"");
    } else if (name == "crit") {
      return Malformed("token header has \"crit\"; no extension is supported");
    }
  }
  if (!has_alg) return Malformed("token header has no \"alg\"");
  std::optional<Algorithm> parsed = ParseAlgorithm(alg);
  if (!parsed) return AuthError{AuthErrorCode::kAlgNotAllowed, "token alg is not one of HS256, RS256, ES256"};
  out->alg = *parsed;
  return Verified{};
}

bool VerifyHs256(const internal::KeySetData& keys, const JwsParts& jws) {
  if (jws.signature.size() != 32) return false;
  internal::MacCtxPtr ctx(EVP_MAC_CTX_dup(keys.hmac.get()));
  unsigned char mac[EVP_MAX_MD_SIZE];
  size_t mac_len = 0;
  if (!ctx ||
      EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(jws.signing_input.data()),
                     jws.signing_input.size()) != 1 ||
      EVP_MAC_final(ctx.get(), mac, &mac_len, sizeof mac) != 1 || mac_len != 32) {
    ClearOpensslErrors();
    return false;
  }
  return CRYPTO_memcmp(mac, jws.signature.data(), 32) == 0;
}

// Appends one DER INTEGER holding the unsigned big-endian 32-byte value.
size_t AppendDerInteger(const unsigned char* value, unsigned char* out) {
  size_t skip = 0;
  while (skip < 31 && value[skip] == 0) ++skip;
  const bool pad = (value[skip] & 0x80) != 0;  // keep the INTEGER positive
  const size_t len = 32 - skip + (pad ? 1 : 0);
  size_t at = 0;
  out[at++] = 0x02;
  out[at++] = static_cast<unsigned char>(len);
  if (pad) out[at++] = 0x00;
  std::memcpy(out + at, value + skip, 32 - skip);
  return at + 32 - skip;
}

// JWS ES256 carries R || S (RFC 7518 §3.4); OpenSSL verifies the DER
// ECDSA-Sig-Value SEQUENCE { r INTEGER, s INTEGER }.
size_t RawEcdsaToDer(const unsigned char* raw64, unsigned char out[72]) {
  unsigned char body[70];
  size_t len = AppendDerInteger(raw64, body);
  len += AppendDerInteger(raw64 + 32, body + len);
  out[0] = 0x30;
  out[1] = static_cast<unsigned char>(len);  // at most 70: short form
  std::memcpy(out + 2, body, len);
  return len + 2;
}

bool VerifyDigestSignature(const internal::PublicKey& key, std::string_view input, const unsigned char* sig,
                           size_t sig_len) {
  internal::MdCtxPtr ctx(EVP_MD_CTX_new());
  bool ok = ctx && EVP_MD_CTX_copy_ex(ctx.get(), key.verify_template.get()) == 1 &&
            EVP_DigestVerify(ctx.get(), sig, sig_len, reinterpret_cast<const unsigned char*>(input.data()),
                             input.size()) == 1;
  if (!ok) ClearOpensslErrors();
  return ok;
}

}  // namespace

std::string_view AlgorithmName(Algorithm alg) {
  switch (alg) {
    case Algorithm::kHs256: return "HS256";
    case Algorithm::kRs256: return "RS256";
    case Algorithm::kEs256: return "ES256";
  }
  return "?";
}

std::optional<Algorithm> ParseAlgorithm(std::string_view name) {
  if (name == "HS256") return Algorithm::kHs256;
  if (name == "RS256") return Algorithm::kRs256;
  if (name == "ES256") return Algorithm::kEs256;
  return std::nullopt;
}

AuthResult<Verified> ParseCompactJws(std::string_view token, size_t max_token_bytes, JwsParts* out) {
  if (token.empty()) return AuthError{AuthErrorCode::kTokenMissing, "empty token"};
  if (token.size() > max_token_bytes) return Malformed("token is larger than the limit");
  const size_t dot1 = token.find('.');
  if (dot1 == std::string_view::npos) return Malformed("token does not have three parts");
  const size_t dot2 = token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos) return Malformed("token does not have three parts");
  if (token.find('.', dot2 + 1) != std::string_view::npos) return Malformed("token has more than three parts");
  std::string_view header_b64 = token.substr(0, dot1);
  std::string_view payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
  std::string_view signature_b64 = token.substr(dot2 + 1);
  if (header_b64.empty() || payload_b64.empty()) return Malformed("token has an empty header or payload");

  thread_local std::string header;
  if (!DecodeForJson(header_b64, &header)) return Malformed("token header is not base64url");
  if (!DecodeForJson(payload_b64, &out->payload)) return Malformed("token payload is not base64url");
  if (!Base64UrlDecode(signature_b64, &out->signature)) return Malformed("token signature is not base64url");
  out->signing_input = token.substr(0, dot2);
  return ParseHeader(header, out);
}

AuthResult<Verified> VerifyJwsSignature(const JwsParts& jws, const KeySet& key_set) {
  const internal::KeySetData& keys = key_set.data();
  if (jws.alg == Algorithm::kHs256) {
    // Only the configured secret: a JWKS public key is never an HMAC key.
    if (!keys.hmac) return AuthError{AuthErrorCode::kAlgNotAllowed, "HS256 tokens are not accepted here"};
    if (!VerifyHs256(keys, jws)) return BadSignature();
    return Verified{};
  }
  if (jws.kid.empty()) return AuthError{AuthErrorCode::kUnknownKid, "token header has no \"kid\""};
  const internal::PublicKey* key = keys.Find(jws.kid);
  if (key == nullptr) return AuthError{AuthErrorCode::kUnknownKid, "token \"kid\" names no known key"};
  const KeyType wanted = jws.alg == Algorithm::kRs256 ? KeyType::kRsa : KeyType::kEcP256;
  if (key->type != wanted || (!key->alg.empty() && key->alg != AlgorithmName(jws.alg)))
    return AuthError{AuthErrorCode::kKeyMismatch, "token \"kid\" names a key for another algorithm"};

  const auto* sig = reinterpret_cast<const unsigned char*>(jws.signature.data());
  if (jws.alg == Algorithm::kRs256) {
    if (!VerifyDigestSignature(*key, jws.signing_input, sig, jws.signature.size())) return BadSignature();
    return Verified{};
  }
  if (jws.signature.size() != 64) return BadSignature();
  unsigned char der[72];
  const size_t der_len = RawEcdsaToDer(sig, der);
  if (!VerifyDigestSignature(*key, jws.signing_input, der, der_len)) return BadSignature();
  return Verified{};
}

}  // namespace watershed::auth
