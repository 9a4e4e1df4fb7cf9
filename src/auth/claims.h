#pragma once
// The claims Watershed reads from a verified token (README.md in this
// folder lists the JSON rules).

#include <cstdint>
#include <optional>
#include <string_view>

#include "core/event.h"

namespace watershed::auth {

// The authenticated user ("sub").
using UserId = StrongInt<struct UserIdTag, uint64_t>;

enum class Role : uint8_t {
  kViewer = 1u << 0,
  kCreator = 1u << 1,
  kAnalyst = 1u << 2,
  kAdmin = 1u << 3,
};
std::string_view RoleName(Role r);  // "viewer", "creator", "analyst", "admin"
std::optional<Role> ParseRole(std::string_view s);

// A set of roles as a bitmask.
class RoleSet {
 public:
  constexpr RoleSet() = default;
  constexpr explicit RoleSet(uint8_t bits) : bits_(bits) {}
  constexpr bool Has(Role r) const { return (bits_ & static_cast<uint8_t>(r)) != 0; }
  constexpr void Add(Role r) { bits_ |= static_cast<uint8_t>(r); }
  constexpr uint8_t bits() const { return bits_; }
  constexpr bool empty() const { return bits_ == 0; }
  constexpr bool operator==(const RoleSet&) const = default;

 private:
  uint8_t bits_ = 0;
};

// What a verified token says. Trivially copyable. iss and aud are checked
// against VerifierOptions during verification and not kept.
struct Claims {
  UserId user;
  Region region = Region::kUs;
  RoleSet roles;
  int64_t exp = 0;             // NumericDate (seconds); callers may cache until exp
  std::optional<int64_t> nbf;  // absent when the token has none
  std::optional<int64_t> iat;

  bool operator==(const Claims&) const = default;
};

}  // namespace watershed::auth
