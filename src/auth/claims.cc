#include "auth/claims.h"

namespace watershed::auth {

std::string_view RoleName(Role r) {
  switch (r) {
    case Role::kViewer: return "viewer";
    case Role::kCreator: return "creator";
    case Role::kAnalyst: return "analyst";
    case Role::kAdmin: return "admin";
  }
  return "?";
}

std::optional<Role> ParseRole(std::string_view s) {
  if (s == "viewer") return Role::kViewer;
  if (s == "creator") return Role::kCreator;
  if (s == "analyst") return Role::kAnalyst;
  if (s == "admin") return Role::kAdmin;
  return std::nullopt;
}

}  // namespace watershed::auth
