#pragma once
// One caller's access to the lake under the policy (docs/governance.md), as the query engine asks it
// (query::AccessControl): which tables and columns it may read, and which it sees masked.
//
// A caller with several roles gets the most permissive answer of the roles that may read the table (read beats
// mask beats deny). A role without [[role]] in the policy reads nothing.

#include <cstdint>
#include <string>

#include "auth/claims.h"
#include "gov/policy.h"
#include "query/catalog.h"

namespace watershed::gov {

struct Caller {
  uint64_t user = 0;
  auth::RoleSet roles;
  Region region = Region::kUs;  // the caller's home region (the token's)
};
std::string RoleNames(auth::RoleSet roles);  // "analyst,admin"
// The caller's roles that count for POST /v1/query: analyst and admin, the roles the endpoint admits. A [[role]]
// creator or viewer entry (written for other uses) never widens what a token holding analyst too may read.
auth::RoleSet QueryEndpointRoles(auth::RoleSet roles);

class Access : public query::AccessControl {
 public:
  // `policy` outlives this.
  Access(const Policy& policy, Caller caller) : policy_(policy), caller_(caller) {}
  Status CheckTable(const std::string& table, Region region, lake::LakeTableId id) const override;
  ColumnRule Column(Region region, lake::LakeTableId id, const std::string& column) const override;
  const HashKey& mask_key() const override;

 private:
  ColumnRule ColumnFor(const RolePolicy& role, Region region, lake::LakeTableId id, const std::string& column) const;
  bool MayReadTable(const RolePolicy& role, Region region, lake::LakeTableId id) const;

  const Policy& policy_;
  Caller caller_;
};

}  // namespace watershed::gov
