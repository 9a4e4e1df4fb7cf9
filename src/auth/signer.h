#pragma once
// Token signing, for the `watershed token` dev tool and for tests. Not on
// the request path.

#include <string>
#include <string_view>
#include <vector>

#include "auth/claims.h"
#include "auth/jws.h"
#include "core/status.h"

namespace watershed::auth {

struct SigningKey {
  Algorithm alg = Algorithm::kHs256;
  // HS256: the shared secret bytes (at least kMinHs256SecretBytes).
  // RS256: PEM text of an RSA private key (>= 2048 bits).
  // ES256: PEM text of an EC P-256 private key. PKCS#8 or traditional PEM;
  // encrypted PEM is refused.
  std::string key;
  std::string kid;  // written to the header when non-empty
};

// Claims to put in a token. The user id is written as a decimal string
// "sub" (RFC 7519: sub is a string).
struct TokenClaims {
  Claims claims;
  std::string issuer;                 // "iss", omitted when empty
  std::vector<std::string> audience;  // "aud": omitted when empty, a string when one, else an array
};

// The JSON payload for `claims`, with roles in the order viewer, creator,
// analyst, admin.
std::string EncodeClaimsJson(const TokenClaims& claims);

// A compact JWS: header {"alg":...,"typ":"JWT"[,"kid":...]}, the claims
// payload, and the signature with `key`.
Result<std::string> SignToken(const TokenClaims& claims, const SigningKey& key);

// Signs exactly the given header and payload bytes (base64url-encoded
// here) with key.key under key.alg; key.kid is not used. For tests that need
// unusual headers or payloads; `header_json` should name the same alg.
Result<std::string> SignCompact(std::string_view header_json, std::string_view payload_json, const SigningKey& key);

// A JWKS document {"keys":[{...}]} holding the public half of
// `pem_private_key` (RSA >= 2048 bits or EC P-256) with "kid", "use":"sig"
// and "alg" RS256 / ES256.
Result<std::string> PublicJwksFromPem(std::string_view pem_private_key, std::string_view kid);

// A fresh private key as PKCS#8 PEM: RSA 2048 for RS256, P-256 for ES256.
// REQUIRES: alg != kHs256
Result<std::string> GeneratePrivateKeyPem(Algorithm alg);

}  // namespace watershed::auth
