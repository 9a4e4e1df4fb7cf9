#pragma once
// Why a bearer token was refused: a stable machine code plus a short human
// message. The gateway answers every refusal with
//   401 {"error":{"code":"<AuthErrorCodeName>","message":"<message>"}}
// Messages are static text: they never echo token content back.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <variant>

namespace watershed::auth {

enum class AuthErrorCode : uint8_t {
  kTokenMissing,         // no Authorization header, another scheme, or an empty token
  kTokenMalformed,       // not three strict base64url parts of JSON objects, too large, bad header
  kAlgNotAllowed,        // alg other than HS256 / RS256 / ES256, or HS256 without a configured secret
  kUnknownKid,           // RS256/ES256 without a kid, or a kid not in the key set
  kKeyMismatch,          // the kid names a key of another type (or "alg") than the token's alg
  kBadSignature,         // the signature does not verify
  kExpired,              // now >= exp + leeway
  kNotYetValid,          // now < nbf - leeway
  kWrongIssuer,          // iss differs from the configured issuer
  kWrongAudience,        // aud does not contain the configured audience
  kInvalidClaims,        // sub, region, roles or exp missing or ill-typed (or nbf/iat/iss/aud ill-typed)
};
inline constexpr size_t kAuthErrorCodeCount = static_cast<size_t>(AuthErrorCode::kInvalidClaims) + 1;

// "token_missing", "token_malformed", "token_alg_not_allowed", ...
std::string_view AuthErrorCodeName(AuthErrorCode code);

struct AuthError {
  AuthErrorCode code;
  std::string_view message;  // points to static storage

  std::string_view code_name() const { return AuthErrorCodeName(code); }
};

// A value or an AuthError; never allocates by itself.
template <typename T>
class [[nodiscard]] AuthResult {
 public:
  AuthResult(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  AuthResult(AuthError error) : v_(error) {}     // NOLINT
  bool ok() const { return v_.index() == 0; }
  // REQUIRES: !ok()
  const AuthError& error() const { return std::get<AuthError>(v_); }
  // REQUIRES: ok()
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, AuthError> v_;
};

// Success without a value.
struct Verified {};

}  // namespace watershed::auth
