// Fuzzes governance's readers (docs/governance.md): the first byte picks
//  * 0 (mod 3): a governance.toml (gov/policy.h); when it parses, every role's access to every column of every
//    lake table in every region is asked (gov/access.h) for a caller with the roles of the second byte;
//  * 1: a local audit log's bytes (gov/audit_log.h);
//  * 2: a mask key file.
// Properties checked (a violation traps): nothing crashes, hangs or trips a sanitizer; every policy error names
// the file ("fuzz.toml:"); a policy's roles are unique; a column's verdict is never looser than some role's
// (a kRead only for a role that reads the table); a denied or refused answer names a rule; the audit decoder stops
// at a record boundary within the input and the records before it re-encode to exactly those bytes.

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "gov/access.h"
#include "gov/audit_log.h"
#include "gov/policy.h"
#include "lake/tables.h"

namespace {

using namespace watershed;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

void FuzzPolicy(std::string_view text, uint8_t roles) {
  auto policy = gov::ParsePolicy(text, "fuzz.toml");
  if (!policy.ok()) {
    Check(policy.status().message().rfind("fuzz.toml:", 0) == 0);
    return;
  }
  std::set<auth::Role> seen;
  for (const gov::RolePolicy& r : policy->roles) Check(seen.insert(r.role).second);
  policy->mask_key = HashKey{1, 2};
  gov::Access access(*policy, gov::Caller{1, auth::RoleSet(roles & 0xf), Region::kEu});
  for (int region = 0; region < RegionCount(); ++region) {
    for (int t = 0; t < lake::kLakeTableCount; ++t) {
      const auto id = static_cast<lake::LakeTableId>(t);
      Status table = access.CheckTable("t", static_cast<Region>(region), id);
      if (!table.ok()) {
        Check(table.code() == StatusCode::kPermissionDenied && query::ParseDenial(table.message()).has_value());
        continue;
      }
      for (const lake::ColumnSpec& c : lake::SchemaOf(id)) {
        auto rule = access.Column(static_cast<Region>(region), id, c.name);
        Check(rule.verdict == query::AccessControl::Verdict::kRead || !rule.rule.empty());
      }
    }
  }
}

void FuzzAuditLog(std::string_view bytes) {
  uint64_t end = 0;
  const std::vector<gov::AuditRecord> records = gov::DecodeAuditLog(bytes, &end);
  Check(end <= bytes.size());
  std::string again;
  for (const gov::AuditRecord& r : records) again += gov::EncodeAuditRecord(r);
  Check(again == bytes.substr(0, end));
  // A tail is torn or corrupt, never both, and nothing is left after a whole decode.
  Check(!gov::IsTornTail(bytes, bytes.size()));
  if (end < bytes.size() && bytes.size() - end < 8) Check(gov::IsTornTail(bytes, end));
  for (const gov::AuditRecord& r : records) {
    const gov::AuditRecord b = gov::BoundedAuditRecord(r);
    Check(b.sql.size() <= r.sql.size() || r.sql.size() > (64u << 10));
    Check(gov::EncodeAuditRecord(b).size() < (16u << 20));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 2, size - 2);
  switch (data[0] % 3) {
    case 0:
      FuzzPolicy(rest, data[1]);
      break;
    case 1:
      FuzzAuditLog(rest);
      break;
    default: {
      auto key = gov::ParseMaskKey(rest, "fuzz.key");
      Check(key.ok() || key.status().message().rfind("fuzz.key:", 0) == 0);
    }
  }
  return 0;
}
