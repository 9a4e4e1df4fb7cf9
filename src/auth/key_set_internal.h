#pragma once
// Internal: what a KeySet holds. Only the auth component includes this.

#include <string>
#include <string_view>
#include <vector>

#include "auth/key_set.h"
#include "auth/openssl_util.h"

namespace watershed::auth::internal {

struct PublicKey {
  std::string kid;
  KeyType type = KeyType::kRsa;
  std::string alg;  // the JWK's "alg", empty when absent
  PkeyPtr pkey;
  // EVP_DigestVerifyInit'ed with SHA-256 once at load; copied per
  // verification (EVP_MD_CTX_copy_ex only reads it), which skips
  // OpenSSL 3's per-init algorithm fetch and key setup.
  MdCtxPtr verify_template;
};

struct KeySetData {
  // Keyed HMAC-SHA256 state; EVP_MAC_CTX_dup'ed per verification, never
  // used directly, so concurrent readers do not share mutable state.
  MacCtxPtr hmac;
  std::vector<PublicKey> keys;

  const PublicKey* Find(std::string_view kid) const {
    for (const PublicKey& k : keys)
      if (k.kid == kid) return &k;
    return nullptr;
  }
};

}  // namespace watershed::auth::internal
