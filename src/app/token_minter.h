#pragma once
// Signs the per-viewer (and admin) tokens `watershed load --secret-file`
// sends, with the server's HS256 secret. Thread-safe: Mint is const.

#include <cstdint>
#include <string>

#include "auth/claims.h"
#include "core/event.h"
#include "core/status.h"

namespace watershed::app {

class TokenMinter {
 public:
  TokenMinter(std::string secret, std::string issuer, std::string audience);
  // A token for `user` of `region` with `roles`, valid for an hour.
  Result<std::string> Mint(uint64_t user, Region region, auth::RoleSet roles) const;

 private:
  std::string secret_, issuer_, audience_;
};

}  // namespace watershed::app
