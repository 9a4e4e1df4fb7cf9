#pragma once
// Binds the table names of a query to a region's lake (docs/query.md):
// `events`, `raw_events`, `story_minute`, `archive_events`,
// `archive_story_minute`; `eu.events` names region eu's table, a bare name
// the catalog's default region. Columns and types come from the table's
// Iceberg schema (the current metadata file), not from a copy in code.

#include <cstdint>
#include <string>
#include <vector>

#include "core/event.h"
#include "core/file_system.h"
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

struct CatalogColumn {
  std::string name;
  int32_t field_id = 0;
  ColumnType type = ColumnType::kBigint;
  bool nullable = false;
};

struct CatalogTable {
  std::string name;  // "eu.events"
  Region region = Region::kUs;
  lake::LakeTableId id = lake::LakeTableId::kEvents;
  std::string location;
  lake::TableMetadata metadata;  // the version the query reads
  std::vector<CatalogColumn> columns;
  int ColumnIndex(std::string_view name) const;  // -1 when absent
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
  Result<CatalogTable> Resolve(const TableRef& ref) const;
  FileSystem* fs() const { return fs_; }
  const std::string& root() const { return root_; }

 private:
  FileSystem* fs_;
  std::string root_;
  Region default_region_;
};

}  // namespace watershed::query
