#include "auth/auth_error.h"

namespace watershed::auth {

std::string_view AuthErrorCodeName(AuthErrorCode code) {
  switch (code) {
    case AuthErrorCode::kTokenMissing: return "token_missing";
    case AuthErrorCode::kTokenMalformed: return "token_malformed";
    case AuthErrorCode::kAlgNotAllowed: return "token_alg_not_allowed";
    case AuthErrorCode::kUnknownKid: return "token_unknown_kid";
    case AuthErrorCode::kKeyMismatch: return "token_key_mismatch";
    case AuthErrorCode::kBadSignature: return "token_bad_signature";
    case AuthErrorCode::kExpired: return "token_expired";
    case AuthErrorCode::kNotYetValid: return "token_not_yet_valid";
    case AuthErrorCode::kWrongIssuer: return "token_wrong_issuer";
    case AuthErrorCode::kWrongAudience: return "token_wrong_audience";
    case AuthErrorCode::kInvalidClaims: return "token_invalid_claims";
  }
  return "token_malformed";
}

}  // namespace watershed::auth
