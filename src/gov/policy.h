#pragma once
// The governance policy (docs/governance.md): `governance.toml`, in the TOML subset of core/config_text.h, read
// and validated whole at start — any error is "PATH:LINE:COLUMN: what is wrong" and the process refuses to start.
//
//   version = 1
//   mask-key-file = "mask.key"        # 32 hex digits; relative to the policy's directory
//   [[table]]                          # personal columns of a lake table (default: viewer_id, event_id of the
//   name = "events"                    #   event tables, none of story_minute)
//   personal = ["viewer_id", "event_id"]
//   [[region]]                         # what may leave a region (for the federated planner) and retention
//   name = "eu"
//   export = "aggregates"              # "aggregates" (default) | "none" | "rows"
//   k = 10                             # aggregates only over groups of at least k distinct viewers
//   retention.raw_events = 3           # days, overriding the table's default in this region
//   [[role]]                           # what a role may read; a role without [[role]] reads nothing
//   name = "analyst"
//   tables = ["*"]                     # "*", "events", "eu.events", "eu.*"
//   deny = ["raw_events.personal"]     # columns left out: "personal", "col", "table.col", "region.table.col"
//   mask = []                          # columns seen as pseudonyms (same patterns)
//   mask-outside-region = ["personal"] # masked when the table's region is not the caller's
//   [audit]
//   flush-rows = 1000                  # the local audit log goes to the Iceberg table every N rows ...
//   flush-seconds = 60                 # ... or every S seconds
//
// The regions' part (export, k) is parsed and validated now and used by the federated planner (issue #12).

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/claims.h"
#include "core/event.h"
#include "core/file_system.h"
#include "core/keyed_hash.h"
#include "core/status.h"
#include "lake/tables.h"

namespace watershed::gov {

// What may leave a region: nothing, aggregates over groups of at least k distinct viewers, or rows too.
enum class Export { kNone, kAggregates, kRows };
std::string_view ExportName(Export e);

struct RegionPolicy {
  Export export_rule = Export::kAggregates;
  int64_t k = 10;
  // Days to keep, per lake table (LakeTableId order); nullopt: the table's default (lake::SpecOf).
  std::array<std::optional<int64_t>, lake::kLakeTableCount> retention_days{};
  std::string rule;  // "PATH:LINE: [[region]] eu", or "default" when the file has no [[region]] for it
};

// A set of columns: region (nullopt: any), table (nullopt: any), column ("personal": the table's personal ones,
// "*": all).
struct ColumnPattern {
  std::optional<Region> region;
  std::optional<lake::LakeTableId> table;
  std::string column;
};

struct RolePolicy {
  auth::Role role = auth::Role::kViewer;
  std::vector<ColumnPattern> tables;  // column "*": the tables readable
  std::vector<ColumnPattern> deny, mask, mask_outside_region;
  int line = 0;
  std::string Rule(std::string_view key) const;  // "PATH:LINE: [[role]] analyst KEY"
  std::string path;
};

struct AuditPolicy {
  int64_t flush_rows = 1000;
  int64_t flush_seconds = 60;
};

struct Policy {
  std::string path;
  std::optional<HashKey> mask_key;  // from mask-key-file; required when any role masks
  std::string mask_key_file;        // as resolved (absolute or relative to the working directory)
  // Personal columns per lake table (LakeTableId order).
  std::array<std::vector<std::string>, lake::kLakeTableCount> personal;
  std::array<RegionPolicy, kMaxRegions> regions;
  std::vector<RolePolicy> roles;
  AuditPolicy audit;

  bool IsPersonal(lake::LakeTableId table, std::string_view column) const;
  const RolePolicy* RoleOf(auth::Role r) const;  // nullptr: the role reads nothing
  // Whether `p` covers column `column` of `table` in `region`.
  bool Matches(const ColumnPattern& p, Region region, lake::LakeTableId table, std::string_view column) const;
};

// The policy in `text` (errors name `path`); mask-key-file is checked for form only (LoadPolicy reads it).
Result<Policy> ParsePolicy(std::string_view text, const std::string& path);
// Reads and parses the file at `path` (at most 1 MiB), then reads the mask key (relative paths from the policy's
// directory) as a secret on the real file system: refused unless a regular file of this user's, mode 600 or
// stricter, not a symlink, at most 256 bytes.
Result<Policy> LoadPolicy(FileSystem* fs, const std::string& path);
// The key of a mask key file: 32 hex digits (surrounding whitespace ignored).
Result<HashKey> ParseMaskKey(std::string_view text, const std::string& path);

}  // namespace watershed::gov
