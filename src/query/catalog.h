#pragma once
// Binds the table names of a query to a region's lake (docs/query.md):
// `events`, `raw_events`, `story_minute`, `archive_events`,
// `archive_story_minute`; `eu.events` names region eu's table, a bare name
// the catalog's default region. Columns and types come from the table's
// Iceberg schema (the current metadata file), not from a copy in code.

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/event.h"
#include "core/file_system.h"
#include "core/keyed_hash.h"
#include "core/status.h"
#include "lake/iceberg_metadata.h"
#include "lake/tables.h"
#include "query/ast.h"

namespace watershed::query {

// SQL types of the lake's columns. Timestamps are microseconds since the
// epoch, UTC; uuids are shown as their 32 hex digits.
// BOOLEAN and INTERVAL are the types of expressions only (no lake column
// has them; an INTERVAL cannot be a result column).
enum class ColumnType { kBigint, kDouble, kString, kTimestamp, kUuid, kBoolean, kInterval };
const char* TypeName(ColumnType t);

// A column the caller sees masked (governance, docs/governance.md): every value is replaced at the scan, before
// any filter or expression sees it, by MaskedText — a VARCHAR pseudonym, equal for equal values under one key.
struct ColumnMask {
  HashKey key;
  std::string rule;  // the policy rule that masks it ("governance.toml:12: [[role]] analyst mask")
};
// 32 lower-case hex digits: two keyed SipHash-1-3 values of the raw value's bytes (8 little-endian bytes of an
// integer, the 16 bytes of a uuid, a string's bytes). Without the key, no value can be tested against it.
std::string MaskedText(const HashKey& key, std::string_view raw);

struct CatalogColumn {
  std::string name;
  int32_t field_id = 0;
  ColumnType type = ColumnType::kBigint;  // VARCHAR when masked
  bool nullable = false;
  std::shared_ptr<const ColumnMask> mask;  // set: the caller reads pseudonyms only
};

// A column left out of a table for this caller, and the rule that did it.
struct DeniedColumn {
  std::string name, rule;
};

// "forbidden: table 'eu.events' column 'viewer_id' rule 'R': reason" (column may be empty) — the message of a
// kPermissionDenied status; ParseDenial gives the parts back for the API's 403 body.
struct Denial {
  std::string table, column, rule;
};
std::string DenialMessage(const Denial& d, const std::string& reason);
std::optional<Denial> ParseDenial(const std::string& message);

struct CatalogTable {
  std::string name;  // "eu.events"
  Region region = Region::kUs;
  lake::LakeTableId id = lake::LakeTableId::kEvents;
  std::string location;
  lake::TableMetadata metadata;  // the version the query reads
  std::vector<CatalogColumn> columns;
  std::vector<DeniedColumn> denied;                         // not in `columns`: the caller may not read them
  int ColumnIndex(std::string_view name) const;             // -1 when absent
  const DeniedColumn* Denied(std::string_view name) const;  // nullptr when not denied
};

// What one caller may read (governance: gov::Access implements it from the policy and the caller's roles).
class AccessControl {
 public:
  virtual ~AccessControl() = default;
  // PermissionDenied (DenialMessage, no column) when the caller may not read `table` ("eu.events") at all.
  virtual Status CheckTable(const std::string& table, Region region, lake::LakeTableId id) const = 0;
  enum class Verdict { kRead, kMask, kDeny };
  struct ColumnRule {
    Verdict verdict = Verdict::kRead;
    std::string rule;  // what decided a kMask or kDeny
  };
  virtual ColumnRule Column(Region region, lake::LakeTableId id, const std::string& column) const = 0;
  virtual const HashKey& mask_key() const = 0;
};

class Catalog {
 public:
  Catalog(FileSystem* fs, std::string lake_root, Region default_region)
      : fs_(fs), root_(std::move(lake_root)), default_region_(default_region) {}
  // kInvalidArgument "line:col: unknown table 'x'" (or region) for a name
  // that is not a lake table; kNotFound when the table was never created.
  // With time travel (FOR VERSION AS OF id, FOR TIMESTAMP AS OF 'ts': the
  // snapshot current then, by the table's snapshot log) the metadata's
  // current snapshot is that one; an unknown id or a time before the first
  // snapshot is kInvalidArgument with the position.
  //
  // With an AccessControl, a table the caller may not read is kPermissionDenied, its denied columns are left out
  // (listed in `denied`), its masked columns are VARCHAR with their mask.
  Result<CatalogTable> Resolve(const TableRef& ref) const;
  FileSystem* fs() const { return fs_; }
  const std::string& root() const { return root_; }

  // Not owned; outlives the catalog. nullptr (the default): everything is readable as stored.
  void set_access(const AccessControl* access) { access_ = access; }
  const AccessControl* access() const { return access_; }
  // The tables Resolve was asked for so far ("eu.events"; once each, in order) — what the audit records.
  std::vector<std::string> touched() const;
  void ResetTouched();  // before the next statement

 private:
  FileSystem* fs_;
  std::string root_;
  Region default_region_;
  const AccessControl* access_ = nullptr;
  mutable std::mutex mu_;
  mutable std::vector<std::string> touched_;
};

}  // namespace watershed::query
