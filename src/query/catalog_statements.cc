#include "query/catalog_statements.h"

#include <charconv>

namespace watershed::query {
namespace {

Value Text(std::string s) {
  Value v;
  v.s = std::move(s);
  return v;
}
Value Null() {
  Value v;
  v.null = true;
  return v;
}

Result<QueryResult> ShowTables(const Catalog& catalog) {
  QueryResult r;
  r.names = {"table", "snapshot_id", "records"};
  r.types = {ColumnType::kString, ColumnType::kBigint, ColumnType::kBigint};
  for (int region_id = 0; region_id < RegionCount(); ++region_id) {
    const auto region = static_cast<Region>(region_id);
    for (int i = 0; i < lake::kLakeTableCount; ++i) {
      const auto id = static_cast<lake::LakeTableId>(i);
      const std::string location = lake::TableLocation(catalog.root(), region, id);
      if (!lake::LakeTableExists(catalog.fs(), location)) continue;
      const std::string name = std::string(RegionName(region)) + "." + lake::SpecOf(id).name;
      if (catalog.access() && !catalog.access()->CheckTable(name, region, id).ok()) continue;  // not the caller's
      ASSIGN_OR_RETURN(lake::IcebergTable table, lake::IcebergTable::Load(catalog.fs(), location));
      const lake::TableMetadata& m = table.metadata();
      std::vector<Value> row = {Text(std::string(RegionName(region)) + "." + lake::SpecOf(id).name), Null(), Null()};
      if (m.current_snapshot_id) {
        row[1].null = false;
        row[1].i = *m.current_snapshot_id;
        for (const lake::IcebergSnapshot& s : m.snapshots) {
          auto total = s.summary.find("total-records");
          if (s.snapshot_id != *m.current_snapshot_id || total == s.summary.end()) continue;
          const std::string& t = total->second;
          int64_t n = 0;
          auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
          if (ec == std::errc() && p == t.data() + t.size()) row[2].null = false, row[2].i = n;
        }
      }
      r.rows.push_back(std::move(row));
    }
  }
  return r;
}

Result<QueryResult> Describe(const Statement& st, const Catalog& catalog) {
  TableRef ref;
  ref.name = st.table;
  ASSIGN_OR_RETURN(CatalogTable t, catalog.Resolve(ref));
  QueryResult r;
  r.names = {"column", "type", "partition"};
  r.types = {ColumnType::kString, ColumnType::kString, ColumnType::kString};
  for (const CatalogColumn& c : t.columns) {
    Value partition = Null();
    for (const lake::IcebergPartitionField& pf : t.metadata.partition_spec)
      if (pf.source_id == c.field_id) partition = Text(pf.transform);
    r.rows.push_back({Text(c.name), Text(TypeName(c.type)), partition});
  }
  return r;
}

}  // namespace

Result<QueryResult> RunCatalogStatement(const Statement& st, const Catalog& catalog) {
  if (st.kind == StatementKind::kShowTables) return ShowTables(catalog);
  return Describe(st, catalog);
}

}  // namespace watershed::query
