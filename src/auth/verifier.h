#pragma once
// Bearer-token verification: the entry point for request handling.
//
//   auto jwks = JwksFile::Open(path, secret);           // at startup
//   Verifier verifier(options, (*jwks)->holder(), std::make_unique<TokenCache>());
//   ...
//   auto token = ExtractBearerToken(authorization_header_value);
//   if (!token.ok()) -> 401 with token.error()
//   auto claims = verifier.Verify(*token, now_seconds);
//   if (!claims.ok()) -> 401 with claims.error()
//
// Verification never reads a clock: the caller passes `now`.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "auth/auth_error.h"
#include "auth/claims.h"
#include "auth/jws.h"
#include "auth/key_set.h"
#include "auth/token_cache.h"

namespace watershed::auth {

struct VerifierOptions {
  std::string issuer;    // empty: "iss" not checked; else must equal it
  std::string audience;  // empty: "aud" not checked; else "aud" must contain it
  int64_t leeway_seconds = 30;  // clock skew allowed on exp and nbf; clamped to 0..86400
  size_t max_token_bytes = kDefaultMaxTokenBytes;
};

// The token of an Authorization header value "Bearer <token>": scheme
// matched case-insensitively, then one space; everything after it is the
// token (whitespace in it is refused later by Verify, as token_malformed).
// An empty value, another scheme or an empty token is token_missing.
// The view points into `authorization`.
AuthResult<std::string_view> ExtractBearerToken(std::string_view authorization);

// Reads the claims of a payload (README.md lists the rules): sub (decimal
// string or JSON integer, uint64), region, roles (unknown names ignored)
// and exp are required, nbf/iat/iss/aud optional; any of them ill-typed, or
// a claim name repeated, is token_invalid_claims; a payload that is not a
// JSON object token_malformed. Then checks iss and aud against `options`.
// No time checks.
AuthResult<Claims> ParseClaims(std::string_view payload_json, const VerifierOptions& options);

// token_expired when now >= exp + leeway; token_not_yet_valid when
// now < nbf - leeway. Saturating: extreme values do not overflow.
AuthResult<Verified> CheckTokenTimes(const Claims& claims, int64_t now_seconds, int64_t leeway_seconds);

// Verifies bearer tokens against the key set currently in `keys`.
// Thread-safe: Verify may be called from any number of threads at once.
class Verifier {
 public:
  // REQUIRES: keys != nullptr. `cache` may be null (no caching); the
  // Verifier owns it, so cached results always match these options.
  Verifier(VerifierOptions options, std::shared_ptr<const KeySetHolder> keys,
           std::unique_ptr<TokenCache> cache = nullptr);
  ~Verifier();

  // Structure and header (ParseCompactJws), signature (VerifyJwsSignature),
  // claims (ParseClaims), then times (CheckTokenTimes) — or, on a cache hit
  // for the current key-set generation, only the time checks; or, for a
  // token refused recently under this generation (not for its times), that
  // refusal again without a signature check.
  AuthResult<Claims> Verify(std::string_view token, int64_t now_seconds) const;
  // Verify's answer when it costs no signature check (a verified-token or
  // refused-token cache hit, a token over max_token_bytes); else nullopt.
  std::optional<AuthResult<Claims>> VerifyCheaply(std::string_view token, int64_t now_seconds) const;
  // The rest of Verify, for a token VerifyCheaply had no answer for: the
  // signature check and what follows.
  AuthResult<Claims> VerifyUncached(std::string_view token, int64_t now_seconds) const;

  // Signature checks run so far (each costs tens of µs for RS256/ES256).
  uint64_t signature_checks() const { return signature_checks_.load(std::memory_order_relaxed); }

  const VerifierOptions& options() const { return options_; }
  // Null when constructed without a cache.
  TokenCache* cache() const { return cache_.get(); }

 private:
  VerifierOptions options_;
  std::shared_ptr<const KeySetHolder> keys_;
  std::unique_ptr<TokenCache> cache_;
  // Refused tokens: slot = keyed hash of the token; the slot holds the rest
  // of that hash mixed with the key-set generation, and the refusal's code
  // in the low byte. Direct-mapped and fixed in size, so a flood of distinct
  // bad tokens only evicts other bad tokens; the random key keeps anyone
  // from aiming at a slot. A false hit needs a 56-bit match.
  static constexpr size_t kRefusedSlots = 4096;
  uint64_t RefusedTag(std::string_view token, uint64_t generation) const;
  const uint64_t refused_seed_;
  mutable std::unique_ptr<std::array<std::atomic<uint64_t>, kRefusedSlots>> refused_;
  mutable std::atomic<uint64_t> signature_checks_{0};
};

}  // namespace watershed::auth
