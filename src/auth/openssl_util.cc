#include "auth/openssl_util.h"

#include <openssl/crypto.h>

namespace watershed::auth::internal {

const EVP_MD* Sha256() {
  // Never freed: lives for the process, like OpenSSL's own method tables.
  static const EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

MacCtxPtr NewHmacSha256(std::string_view key) {
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (mac == nullptr) return nullptr;
  MacCtxPtr ctx(EVP_MAC_CTX_new(mac));
  if (!ctx) return nullptr;
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  if (EVP_MAC_init(ctx.get(), reinterpret_cast<const unsigned char*>(key.data()), key.size(), params) != 1) {
    ClearOpensslErrors();
    return nullptr;
  }
  return ctx;
}

}  // namespace watershed::auth::internal
