#include "app/token_minter.h"

#include <utility>

#include "app/auth_setup.h"
#include "auth/signer.h"

namespace watershed::app {

TokenMinter::TokenMinter(std::string secret, std::string issuer, std::string audience)
    : secret_(std::move(secret)), issuer_(std::move(issuer)), audience_(std::move(audience)) {}

Result<std::string> TokenMinter::Mint(uint64_t user, Region region, auth::RoleSet roles) const {
  const auth::TokenClaims t = NewTokenClaims(user, region, roles, 3600, issuer_, audience_);
  return auth::SignToken(t, auth::SigningKey{.alg = auth::Algorithm::kHs256, .key = secret_, .kid = ""});
}

}  // namespace watershed::app
