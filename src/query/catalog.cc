#include "query/catalog.h"

namespace watershed::query {

const char* TypeName(ColumnType t) {
  switch (t) {
    case ColumnType::kBigint:
      return "BIGINT";
    case ColumnType::kDouble:
      return "DOUBLE";
    case ColumnType::kString:
      return "VARCHAR";
    case ColumnType::kTimestamp:
      return "TIMESTAMP";
    case ColumnType::kUuid:
      return "UUID";
    case ColumnType::kBoolean:
      return "BOOLEAN";
    case ColumnType::kInterval:
      return "INTERVAL";
  }
  return "?";
}

int CatalogTable::ColumnIndex(std::string_view n) const {
  for (size_t i = 0; i < columns.size(); ++i)
    if (columns[i].name == n) return static_cast<int>(i);
  return -1;
}

Result<CatalogTable> Catalog::Resolve(const TableRef& ref) const {
  const std::string where = ToString(ref.pos) + ": ";
  CatalogTable t;
  t.region = default_region_;
  const std::string& table_name = ref.name.back();
  if (ref.name.size() == 2) {
    auto r = ParseRegion(ref.name[0]);
    if (!r) return Status::InvalidArgument(where + "unknown region '" + ref.name[0] + "'");
    t.region = *r;
  }
  auto id = lake::LakeTableByName(table_name);
  if (!id) return Status::InvalidArgument(where + "unknown table '" + table_name + "'");
  t.id = *id;
  t.name = std::string(RegionName(t.region)) + "." + table_name;
  t.location = lake::TableLocation(root_, t.region, t.id);
  if (!lake::LakeTableExists(fs_, t.location))
    return Status::NotFound(where + "table " + t.name + " does not exist yet (no " + t.location + ")");
  ASSIGN_OR_RETURN(lake::IcebergTable table, lake::IcebergTable::Load(fs_, t.location));
  t.metadata = table.metadata();
  for (const lake::IcebergField& f : t.metadata.schema) {
    CatalogColumn c{f.name, f.id, ColumnType::kBigint, !f.required};
    if (f.type == "long" || f.type == "int")
      c.type = ColumnType::kBigint;
    else if (f.type == "double")
      c.type = ColumnType::kDouble;
    else if (f.type == "string")
      c.type = ColumnType::kString;
    else if (f.type == "timestamptz" || f.type == "timestamp")
      c.type = ColumnType::kTimestamp;
    else if (f.type == "uuid")
      c.type = ColumnType::kUuid;
    else
      return Status::Corruption(t.name + ": column " + f.name + " has unsupported type " + f.type);
    t.columns.push_back(std::move(c));
  }
  return t;
}

}  // namespace watershed::query
