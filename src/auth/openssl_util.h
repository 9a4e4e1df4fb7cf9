#pragma once
// Internal: owning pointers for OpenSSL objects.

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <memory>
#include <string>

namespace watershed::auth::internal {

template <typename T, void (*Free)(T*)>
struct OsslDeleter {
  void operator()(T* p) const { Free(p); }
};

using PkeyPtr = std::unique_ptr<EVP_PKEY, OsslDeleter<EVP_PKEY, EVP_PKEY_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, OsslDeleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, OsslDeleter<EVP_MD_CTX, EVP_MD_CTX_free>>;
using MacCtxPtr = std::unique_ptr<EVP_MAC_CTX, OsslDeleter<EVP_MAC_CTX, EVP_MAC_CTX_free>>;
using MacPtr = std::unique_ptr<EVP_MAC, OsslDeleter<EVP_MAC, EVP_MAC_free>>;
using BnPtr = std::unique_ptr<BIGNUM, OsslDeleter<BIGNUM, BN_free>>;
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, OsslDeleter<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, OsslDeleter<OSSL_PARAM, OSSL_PARAM_free>>;

inline void BioFree(BIO* b) { BIO_free(b); }
using BioPtr = std::unique_ptr<BIO, OsslDeleter<BIO, BioFree>>;

// SHA-256, fetched once per process (explicit fetch skips the per-call
// lookup of implicit EVP_sha256()).
const EVP_MD* Sha256();

// An HMAC-SHA256 context keyed with `key`, ready for EVP_MAC_update; null on failure.
MacCtxPtr NewHmacSha256(std::string_view key);

// Drops OpenSSL's thread-local error queue after a failure we report ourselves.
inline void ClearOpensslErrors() { ERR_clear_error(); }

}  // namespace watershed::auth::internal
