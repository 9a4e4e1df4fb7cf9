#include "query/catalog.h"

#include <algorithm>

#include "query/literals.h"
#include "query/value_compare.h"

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

namespace {

Status ApplyTimeTravel(const TableRef& ref, const std::string& where, CatalogTable* t) {
  lake::TableMetadata& m = t->metadata;
  auto known = [&](int64_t id) {
    for (const lake::IcebergSnapshot& s : m.snapshots)
      if (s.snapshot_id == id) return true;
    return false;
  };
  if (ref.time_travel == TimeTravel::kVersion) {
    if (!known(ref.version))
      return Status::InvalidArgument(where + t->name + " has no snapshot " + std::to_string(ref.version));
    m.current_snapshot_id = ref.version;
  } else if (ref.time_travel == TimeTravel::kTimestamp) {
    auto micros = TimestampMicros(ref.timestamp, false);
    if (!micros.ok()) micros = TimestampMicros(ref.timestamp, true);
    if (!micros.ok()) return Status::InvalidArgument(where + "not a timestamp: '" + ref.timestamp + "'");
    const int64_t ms = *micros / 1000 - (*micros % 1000 < 0 ? 1 : 0);
    // The snapshot log says which snapshot was current from when.
    std::vector<std::pair<int64_t, int64_t>> log = m.snapshot_log;
    if (log.empty())
      for (const lake::IcebergSnapshot& s : m.snapshots) log.emplace_back(s.timestamp_ms, s.snapshot_id);
    std::stable_sort(log.begin(), log.end(), [](auto& a, auto& b) { return a.first < b.first; });
    std::optional<int64_t> id;
    for (const auto& [at, snapshot] : log)
      if (at <= ms) id = snapshot;
    if (!id) {
      std::string first = " (it has none)";
      if (!log.empty()) {
        Value v;
        v.i = log.front().first * 1000;
        first = " (the first is from " + FormatValue(v, ColumnType::kTimestamp) + ")";
      }
      return Status::InvalidArgument(where + t->name + " has no snapshot at or before '" + ref.timestamp + "'" + first);
    }
    if (!known(*id)) return Status::InvalidArgument(where + "snapshot " + std::to_string(*id) + " has expired");
    m.current_snapshot_id = *id;
  }
  return Status::Ok();
}

}  // namespace

std::string MaskedText(const HashKey& key, std::string_view raw) {
  const HashKey second{key.k0 ^ 0x9e3779b97f4a7c15ull, key.k1 ^ 0xc2b2ae3d27d4eb4full};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(32, '0');
  const uint64_t h[2] = {KeyedHash(key, raw), KeyedHash(second, raw)};
  for (int w = 0; w < 2; ++w)
    for (int i = 0; i < 16; ++i) out[w * 16 + i] = kHex[(h[w] >> (60 - 4 * i)) & 0xf];
  return out;
}

std::string DenialMessage(const Denial& d, const std::string& reason) {
  std::string m = "forbidden: table '" + d.table + "'";
  if (!d.column.empty()) m += " column '" + d.column + "'";
  return m + " rule '" + d.rule + "': " + reason;
}

std::optional<Denial> ParseDenial(const std::string& message) {
  // The parts are quoted; table and column names hold no quote, a rule none either (the policy's rules are
  // "PATH:LINE: ..." texts made by us, with no quote in them).
  auto part = [&](std::string_view key, std::string* out) {
    const std::string marker = std::string(key) + " '";
    const size_t at = message.find(marker);
    if (at == std::string::npos) return false;
    const size_t begin = at + marker.size(), end = message.find('\'', begin);
    if (end == std::string::npos) return false;
    *out = message.substr(begin, end - begin);
    return true;
  };
  Denial d;
  if (message.rfind("forbidden: ", 0) != 0 && message.find(": forbidden: ") == std::string::npos) return std::nullopt;
  if (!part("table", &d.table) || !part("rule", &d.rule)) return std::nullopt;
  part(" column", &d.column);
  return d;
}

const DeniedColumn* CatalogTable::Denied(std::string_view n) const {
  for (const DeniedColumn& d : denied)
    if (d.name == n) return &d;
  return nullptr;
}

std::vector<std::string> Catalog::touched() const {
  std::lock_guard<std::mutex> lock(mu_);
  return touched_;
}

void Catalog::ResetTouched() {
  std::lock_guard<std::mutex> lock(mu_);
  touched_.clear();
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
  if (ref.name.empty()) return Status::InvalidArgument(where + "a lake table is needed here, not a subquery");
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
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (std::find(touched_.begin(), touched_.end(), t.name) == touched_.end()) touched_.push_back(t.name);
  }
  if (access_) {
    Status s = access_->CheckTable(t.name, t.region, t.id);
    if (!s.ok()) return Status(s.code(), where + s.message());
  }
  t.location = lake::TableLocation(root_, t.region, t.id);
  if (!lake::LakeTableExists(fs_, t.location))
    return Status::NotFound(where + "table " + t.name + " does not exist yet (no " + t.location + ")");
  ASSIGN_OR_RETURN(lake::IcebergTable table, lake::IcebergTable::Load(fs_, t.location));
  t.metadata = table.metadata();
  RETURN_IF_ERROR(ApplyTimeTravel(ref, where, &t));
  for (const lake::IcebergField& f : t.metadata.schema) {
    CatalogColumn c{f.name, f.id, ColumnType::kBigint, !f.required, nullptr};
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
    if (access_) {
      AccessControl::ColumnRule rule = access_->Column(t.region, t.id, c.name);
      if (rule.verdict == AccessControl::Verdict::kDeny) {
        t.denied.push_back({c.name, std::move(rule.rule)});
        continue;
      }
      if (rule.verdict == AccessControl::Verdict::kMask) {
        c.type = ColumnType::kString;
        c.mask = std::make_shared<ColumnMask>(ColumnMask{access_->mask_key(), std::move(rule.rule)});
      }
    }
    t.columns.push_back(std::move(c));
  }
  return t;
}

}  // namespace watershed::query
