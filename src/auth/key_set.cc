#include "auth/key_set.h"

#include <simdjson.h>

#include <algorithm>
#include <unordered_set>

#include "auth/base64url.h"
#include "auth/key_set_internal.h"

namespace watershed::auth {
namespace {

using internal::BnPtr;
using internal::ClearOpensslErrors;
using internal::KeySetData;
using internal::PkeyCtxPtr;
using internal::PkeyPtr;
using internal::PublicKey;

std::atomic<uint64_t> g_next_generation{1};

Status Refuse(size_t index, std::string_view what) {
  return Status::InvalidArgument("JWKS key " + std::to_string(index) + ": " + std::string(what));
}

// Reads a required base64url string member into *out.
Status DecodeMember(simdjson::dom::object key, const char* name, size_t index, std::string* out) {
  std::string_view text;
  if (key[name].get(text) != simdjson::SUCCESS)
    return Refuse(index, std::string("missing or non-string \"") + name + "\"");
  if (!Base64UrlDecode(text, out)) return Refuse(index, std::string("\"") + name + "\" is not base64url");
  return Status::Ok();
}

// True when the public key passes OpenSSL's full public-key check
// (for EC: on the curve and in the prime-order subgroup).
bool PublicCheck(EVP_PKEY* pkey) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
  bool ok = ctx && EVP_PKEY_public_check(ctx.get()) == 1;
  if (!ok) ClearOpensslErrors();
  return ok;
}

Result<PkeyPtr> BuildRsaKey(simdjson::dom::object key, size_t index) {
  std::string n, e;
  RETURN_IF_ERROR(DecodeMember(key, "n", index, &n));
  RETURN_IF_ERROR(DecodeMember(key, "e", index, &e));
  if (n.empty() || e.empty()) return Refuse(index, "empty RSA modulus or exponent");
  // Leading zero bytes do not count towards the size: measure the number.
  size_t skip = n.find_first_not_of('\0');
  if (skip == std::string::npos) return Refuse(index, "RSA modulus is zero");
  size_t bits = (n.size() - skip) * 8;
  for (uint8_t top = static_cast<uint8_t>(n[skip]); (top & 0x80) == 0; top <<= 1) --bits;
  if (bits < static_cast<size_t>(kMinRsaBits))
    return Refuse(index, "RSA modulus has " + std::to_string(bits) + " bits; at least 2048 are required");
  if (bits > static_cast<size_t>(kMaxRsaBits)) return Refuse(index, "RSA modulus larger than 8192 bits");
  std::string_view exponent(e);
  exponent.remove_prefix(std::min(exponent.size(), exponent.find_first_not_of('\0')));
  // FIPS 186-5 bounds: 3 to 32 significant bytes and odd, i.e. 2^16 < e < 2^256.
  const bool exponent_ok =
      exponent.size() >= 3 && exponent.size() <= 32 && (static_cast<uint8_t>(exponent.back()) & 1) != 0;
  if (!exponent_ok) return Refuse(index, "RSA exponent must be odd and between 2^16 and 2^256");

  BnPtr bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()), static_cast<int>(n.size()), nullptr));
  BnPtr bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()), static_cast<int>(e.size()), nullptr));
  internal::ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    ClearOpensslErrors();
    return Status::Internal("OpenSSL: cannot build RSA parameters");
  }
  internal::ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    ClearOpensslErrors();
    return Refuse(index, "invalid RSA public key");
  }
  PkeyPtr pkey(raw);
  if (!PublicCheck(pkey.get())) return Refuse(index, "invalid RSA public key");
  return pkey;
}

Result<PkeyPtr> BuildEcP256Key(simdjson::dom::object key, size_t index) {
  std::string x, y;
  RETURN_IF_ERROR(DecodeMember(key, "x", index, &x));
  RETURN_IF_ERROR(DecodeMember(key, "y", index, &y));
  if (x.size() != 32 || y.size() != 32) return Refuse(index, "P-256 \"x\" and \"y\" must be 32 bytes each");
  unsigned char point[65];
  point[0] = 0x04;  // uncompressed SEC1 point
  std::memcpy(point + 1, x.data(), 32);
  std::memcpy(point + 33, y.data(), 32);
  char group[] = "prime256v1";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
                         OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point),
                         OSSL_PARAM_construct_end()};
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params) != 1) {
    ClearOpensslErrors();
    return Refuse(index, "P-256 point is not on the curve");
  }
  PkeyPtr pkey(raw);
  if (!PublicCheck(pkey.get())) return Refuse(index, "P-256 point is not on the curve");
  return pkey;
}

// Parses one JWK. Returns Ok with key->pkey null when the key is skipped.
Status ParseKey(simdjson::dom::element el, size_t index, PublicKey* key) {
  simdjson::dom::object obj;
  if (el.get(obj) != simdjson::SUCCESS) return Refuse(index, "not a JSON object");
  std::string_view kty, use, kid, alg, crv;
  if (obj["kty"].get(kty) != simdjson::SUCCESS) return Refuse(index, "missing or non-string \"kty\"");
  auto use_field = obj["use"];
  if (use_field.error() == simdjson::SUCCESS) {
    if (use_field.get(use) != simdjson::SUCCESS) return Refuse(index, "non-string \"use\"");
    if (use == "enc") return Status::Ok();
  }
  const bool rsa = kty == "RSA";
  const bool ec = kty == "EC";
  if (!rsa && !ec) return Status::Ok();  // "oct" and others: never used for verification
  if (ec) {
    if (obj["crv"].get(crv) != simdjson::SUCCESS) return Refuse(index, "missing or non-string \"crv\"");
    if (crv != "P-256") return Status::Ok();
  }
  if (obj["d"].error() == simdjson::SUCCESS) return Refuse(index, "contains private key material (\"d\")");
  auto alg_field = obj["alg"];
  if (alg_field.error() == simdjson::SUCCESS && alg_field.get(alg) != simdjson::SUCCESS)
    return Refuse(index, "non-string \"alg\"");
  if (obj["kid"].get(kid) != simdjson::SUCCESS || kid.empty()) return Refuse(index, "missing or empty \"kid\"");

  if (rsa) {
    ASSIGN_OR_RETURN(key->pkey, BuildRsaKey(obj, index));
    key->type = KeyType::kRsa;
  } else {
    ASSIGN_OR_RETURN(key->pkey, BuildEcP256Key(obj, index));
    key->type = KeyType::kEcP256;
  }
  key->verify_template.reset(EVP_MD_CTX_new());
  if (!key->verify_template ||
      EVP_DigestVerifyInit(key->verify_template.get(), nullptr, internal::Sha256(), nullptr, key->pkey.get()) != 1) {
    ClearOpensslErrors();
    return Status::Internal("OpenSSL: cannot set up signature verification");
  }
  key->kid.assign(kid);
  key->alg.assign(alg);
  return Status::Ok();
}

Status AddSecret(std::string_view secret, KeySetData* data) {
  if (secret.empty()) return Status::Ok();
  if (secret.size() < kMinHs256SecretBytes)
    return Status::InvalidArgument("HS256 secret has " + std::to_string(secret.size()) +
                                   " bytes; at least 32 are required");
  data->hmac = internal::NewHmacSha256(secret);
  if (!data->hmac) return Status::Internal("OpenSSL: cannot set up HMAC-SHA256");
  return Status::Ok();
}

}  // namespace

KeySet::KeySet(std::unique_ptr<internal::KeySetData> data)
    : data_(std::move(data)), generation_(g_next_generation.fetch_add(1, std::memory_order_relaxed)) {}
KeySet::~KeySet() = default;

bool KeySet::has_hs256_secret() const { return data_->hmac != nullptr; }
size_t KeySet::public_key_count() const { return data_->keys.size(); }
std::vector<std::string> KeySet::kids() const {
  std::vector<std::string> out;
  for (const PublicKey& k : data_->keys) out.push_back(k.kid);
  return out;
}

Result<std::shared_ptr<const KeySet>> ParseJwks(std::string_view jwks_json, std::string_view hs256_secret) {
  if (jwks_json.size() > kMaxJwksBytes) return Status::TooLarge("JWKS document larger than 1 MiB");
  auto data = std::make_unique<KeySetData>();
  RETURN_IF_ERROR(AddSecret(hs256_secret, data.get()));

  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto err = parser.parse(jwks_json.data(), jwks_json.size()).get(root); err != simdjson::SUCCESS)
    return Status::InvalidArgument(std::string("JWKS: malformed JSON: ") + simdjson::error_message(err));
  simdjson::dom::object obj;
  simdjson::dom::array keys;
  if (root.get(obj) != simdjson::SUCCESS) return Status::InvalidArgument("JWKS: not a JSON object");
  if (obj["keys"].get(keys) != simdjson::SUCCESS) return Status::InvalidArgument("JWKS: no \"keys\" array");
  if (keys.size() > kMaxJwksKeys) return Status::InvalidArgument("JWKS: more than 100 keys");

  std::unordered_set<std::string> seen;
  size_t index = 0;
  for (simdjson::dom::element el : keys) {
    PublicKey key;
    RETURN_IF_ERROR(ParseKey(el, index, &key));
    if (key.pkey) {
      if (!seen.insert(key.kid).second) return Refuse(index, "duplicate kid \"" + key.kid + "\"");
      data->keys.push_back(std::move(key));
    }
    ++index;
  }
  if (!data->hmac && data->keys.empty()) return Status::InvalidArgument("JWKS: no usable key");
  return std::shared_ptr<const KeySet>(std::make_shared<KeySet>(std::move(data)));
}

Result<std::shared_ptr<const KeySet>> KeySetFromSecret(std::string_view hs256_secret) {
  if (hs256_secret.empty()) return Status::InvalidArgument("empty HS256 secret");
  auto data = std::make_unique<KeySetData>();
  RETURN_IF_ERROR(AddSecret(hs256_secret, data.get()));
  return std::shared_ptr<const KeySet>(std::make_shared<KeySet>(std::move(data)));
}

KeySetHolder::KeySetHolder(std::shared_ptr<const KeySet> keys)
    : keys_(keys), generation_(keys->generation()) {}

void KeySetHolder::Set(std::shared_ptr<const KeySet> keys) {
  uint64_t generation = keys->generation();
  keys_.store(std::move(keys), std::memory_order_release);
  generation_.store(generation, std::memory_order_release);
}

namespace {

Result<std::string> ReadJwksFile(FileSystem* fs, const std::string& path) {
  if (!fs->FileExists(path)) return Status::NotFound("JWKS file " + path + " does not exist");
  ASSIGN_OR_RETURN(uint64_t size, fs->FileSize(path));
  if (size > kMaxJwksBytes) return Status::TooLarge("JWKS file " + path + " is larger than 1 MiB");
  return ReadWholeFile(fs, path);
}

}  // namespace

JwksFile::JwksFile(std::string path, std::string secret, FileSystem* fs, std::string content,
                   std::shared_ptr<const KeySet> keys)
    : path_(std::move(path)),
      secret_(std::move(secret)),
      fs_(fs),
      holder_(std::make_shared<KeySetHolder>(std::move(keys))),
      content_(std::move(content)) {}

JwksFile::~JwksFile() = default;

Result<std::unique_ptr<JwksFile>> JwksFile::Open(std::string path, std::string hs256_secret, FileSystem* fs) {
  ASSIGN_OR_RETURN(std::string content, ReadJwksFile(fs, path));
  auto keys = ParseJwks(content, hs256_secret);
  if (!keys.ok()) return Status(keys.status().code(), path + ": " + keys.status().message());
  return std::unique_ptr<JwksFile>(
      new JwksFile(std::move(path), std::move(hs256_secret), fs, std::move(content), std::move(keys).value()));
}

Status JwksFile::Reload() {
  std::lock_guard<std::mutex> lock(mu_);
  auto content = ReadJwksFile(fs_, path_);
  if (!content.ok()) {
    last_status_ = content.status();
    return last_status_;
  }
  if (content.value() == content_) {
    last_status_ = Status::Ok();
    return last_status_;
  }
  auto keys = ParseJwks(content.value(), secret_);
  if (!keys.ok()) {
    last_status_ = Status(keys.status().code(), path_ + ": " + keys.status().message());
    return last_status_;
  }
  holder_->Set(std::move(keys).value());
  content_ = std::move(content).value();
  last_status_ = Status::Ok();
  return last_status_;
}

Status JwksFile::last_status() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_status_;
}

}  // namespace watershed::auth
