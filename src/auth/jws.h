#pragma once
// The JWS layer (RFC 7515 compact serialization) under the verifier: takes
// a token apart and checks its signature, without looking at claims.
// Verifier (verifier.h) is the entry point for request handling; these
// calls are public so the layers can be tested and fuzzed on their own.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "auth/auth_error.h"
#include "auth/key_set.h"

namespace watershed::auth {

// The only algorithms ever accepted.
enum class Algorithm : uint8_t { kHs256, kRs256, kEs256 };
std::string_view AlgorithmName(Algorithm alg);  // "HS256", "RS256", "ES256"
std::optional<Algorithm> ParseAlgorithm(std::string_view name);

inline constexpr size_t kDefaultMaxTokenBytes = 8 * 1024;

// A compact JWS taken apart. The header has been checked; the signature
// and the payload have not.
struct JwsParts {
  Algorithm alg = Algorithm::kHs256;
  std::string kid;                 // empty when the header has none
  std::string_view signing_input;  // "<header>.<payload>"; points into the token
  std::string payload;             // decoded payload bytes
  std::string signature;           // decoded signature bytes
};

// Splits `token` into *out (whose buffers are reused). An empty token is
// token_missing. Refuses with token_malformed: more than max_token_bytes, not exactly three
// '.'-separated parts, a part that is not strict base64url, a header that
// is not a JSON object, lacks a string "alg", has a non-string "kid", a
// "typ" other than "JWT" (any case), a "crit" member, or a member name
// twice. Refuses with token_alg_not_allowed any alg but HS256/RS256/ES256.
// The payload is decoded but not parsed. *out->signing_input stays valid
// while the token's bytes do.
AuthResult<Verified> ParseCompactJws(std::string_view token, size_t max_token_bytes, JwsParts* out);

// Checks jws.signature over jws.signing_input with `keys`:
//  * HS256: against the key set's HS256 secret only, never a JWKS key
//    (token_alg_not_allowed when no secret is configured); any kid ignored.
//  * RS256 / ES256: the key named by jws.kid (token_unknown_kid when the kid
//    is empty or absent from the set), which must be RSA / EC P-256 and
//    carry no other "alg" (token_key_mismatch).
// ES256 signatures must be exactly 64 bytes (R || S). A signature that does
// not verify is token_bad_signature. HMACs are compared in constant time.
AuthResult<Verified> VerifyJwsSignature(const JwsParts& jws, const KeySet& keys);

}  // namespace watershed::auth
