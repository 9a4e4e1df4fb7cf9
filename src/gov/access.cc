#include "gov/access.h"

namespace watershed::gov {
namespace {

constexpr auth::Role kRoles[] = {auth::Role::kViewer, auth::Role::kCreator, auth::Role::kAnalyst, auth::Role::kAdmin};

}  // namespace

std::string RoleNames(auth::RoleSet roles) {
  std::string s;
  for (auth::Role r : kRoles)
    if (roles.Has(r)) s += (s.empty() ? "" : ",") + std::string(auth::RoleName(r));
  return s;
}

auth::RoleSet QueryEndpointRoles(auth::RoleSet roles) {
  auth::RoleSet admitted;
  for (auth::Role r : {auth::Role::kAnalyst, auth::Role::kAdmin})
    if (roles.Has(r)) admitted.Add(r);
  return admitted;
}

bool Access::MayReadTable(const RolePolicy& role, Region region, lake::LakeTableId id) const {
  for (const ColumnPattern& p : role.tables)
    if ((!p.region || *p.region == region) && (!p.table || *p.table == id)) return true;
  return false;
}

Status Access::CheckTable(const std::string& table, Region region, lake::LakeTableId id) const {
  std::string rule;
  for (auth::Role r : kRoles) {
    if (!caller_.roles.Has(r)) continue;
    const RolePolicy* role = policy_.RoleOf(r);
    if (!role) continue;
    if (MayReadTable(*role, region, id)) return Status::Ok();
    if (rule.empty()) rule = role->Rule("tables");
  }
  if (rule.empty())
    rule = policy_.path + ": no [[role]] for " +
           (caller_.roles.empty() ? "a caller without roles" : RoleNames(caller_.roles));
  return Status::PermissionDenied(
      query::DenialMessage({table, "", rule}, "roles " + RoleNames(caller_.roles) + " may not read this table"));
}

query::AccessControl::ColumnRule Access::ColumnFor(const RolePolicy& role, Region region, lake::LakeTableId id,
                                                   const std::string& column) const {
  for (const ColumnPattern& p : role.deny)
    if (policy_.Matches(p, region, id, column)) return {Verdict::kDeny, role.Rule("deny")};
  for (const ColumnPattern& p : role.mask)
    if (policy_.Matches(p, region, id, column)) return {Verdict::kMask, role.Rule("mask")};
  if (region != caller_.region)
    for (const ColumnPattern& p : role.mask_outside_region)
      if (policy_.Matches(p, region, id, column)) return {Verdict::kMask, role.Rule("mask-outside-region")};
  return {Verdict::kRead, ""};
}

query::AccessControl::ColumnRule Access::Column(Region region, lake::LakeTableId id, const std::string& column) const {
  std::optional<ColumnRule> best;
  for (auth::Role r : kRoles) {
    const RolePolicy* role = caller_.roles.Has(r) ? policy_.RoleOf(r) : nullptr;
    if (!role || !MayReadTable(*role, region, id)) continue;
    ColumnRule c = ColumnFor(*role, region, id, column);
    if (!best || c.verdict < best->verdict) best = std::move(c);  // kRead < kMask < kDeny
  }
  // CheckTable passed, so some role reads the table; no role at all is a deny.
  if (!best) return {Verdict::kDeny, policy_.path + ": no role of the caller reads this table"};
  // Masking without a loaded key would hash under a key anyone knows (all zeros): the column is refused instead.
  if (best->verdict == Verdict::kMask && !policy_.mask_key)
    return {Verdict::kDeny, best->rule + " (no mask key loaded: masked columns are refused)"};
  return *best;
}

const HashKey& Access::mask_key() const {
  // Column never answers kMask without a key, so this all-zero key never masks anything.
  static const HashKey kNone{};
  return policy_.mask_key ? *policy_.mask_key : kNone;
}

}  // namespace watershed::gov
