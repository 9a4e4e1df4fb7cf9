#include "gov/policy.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "core/config_text.h"

namespace watershed::gov {
namespace {

constexpr uint64_t kMaxPolicyBytes = 1 << 20;
constexpr size_t kMaxMaskKeyBytes = 256;  // 32 hex digits and whitespace

Status At(const std::string& path, int line, int column, const std::string& reason) {
  return Status::InvalidArgument(path + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + reason);
}

// The string items of array `key` of `t`, with their positions (TableReader::Strings checked their kinds).
std::vector<ConfigValue> Items(const ConfigTable& t, std::string_view key) {
  for (const auto& e : t.entries)
    if (e.key == key) return e.value.items;
  return {};
}

bool HasColumn(lake::LakeTableId id, std::string_view column) {
  for (const lake::ColumnSpec& c : lake::SchemaOf(id))
    if (c.name == column) return true;
  return false;
}

std::string TableNames() {
  std::string s;
  for (int i = 0; i < lake::kLakeTableCount; ++i)
    s += std::string(i ? ", " : "") + lake::SpecOf(lake::LakeTableId(i)).name;
  return s;
}

// "region.table.column", "table.column", "column", with "*" for any table and "personal"/"*" as the column.
// `tables_only`: "*", "table", "region.table", "region.*" (the column is "*").
Result<ColumnPattern> ParsePattern(const ConfigValue& v, const std::string& path, const std::string& where,
                                   bool tables_only) {
  std::vector<std::string> parts;
  for (size_t at = 0;;) {
    const size_t dot = v.text.find('.', at);
    parts.push_back(v.text.substr(at, dot == std::string::npos ? std::string::npos : dot - at));
    if (dot == std::string::npos) break;
    at = dot + 1;
  }
  auto bad = [&](const std::string& why) { return At(path, v.line, v.column, where + ": '" + v.text + "': " + why); };
  ColumnPattern p;
  const size_t max_parts = tables_only ? 2 : 3;
  if (parts.size() > max_parts || std::any_of(parts.begin(), parts.end(), [](auto& s) { return s.empty(); }))
    return bad(tables_only ? "expected \"*\", \"table\", \"region.table\" or \"region.*\""
                           : "expected \"column\", \"table.column\" or \"region.table.column\"");
  if (tables_only) parts.push_back("*");
  p.column = parts.back();
  if (parts.size() == 3) {
    p.region = ParseRegion(parts[0]);
    if (!p.region) return bad("unknown region '" + parts[0] + "' (known: " + RegionNamesText() + ")");
  }
  if (parts.size() >= 2 && parts[parts.size() - 2] != "*") {
    p.table = lake::LakeTableByName(parts[parts.size() - 2]);
    if (!p.table) return bad("unknown table '" + parts[parts.size() - 2] + "' (known: " + TableNames() + ")");
  }
  if (p.column == "*" || p.column == "personal") return p;
  bool known = false;
  for (int i = 0; i < lake::kLakeTableCount; ++i)
    if ((!p.table || *p.table == lake::LakeTableId(i)) && HasColumn(lake::LakeTableId(i), p.column)) known = true;
  if (!known) return bad("no such column" + std::string(p.table ? " in that table" : " in any lake table"));
  return p;
}

Status Patterns(TableReader& r, const ConfigTable& t, std::string_view key, const std::string& path,
                const std::string& where, bool tables_only, std::vector<ColumnPattern>* out) {
  std::vector<std::string> ignored;
  RETURN_IF_ERROR(r.Strings(key, &ignored));
  for (const ConfigValue& v : Items(t, key)) {
    ASSIGN_OR_RETURN(ColumnPattern p, ParsePattern(v, path, where + " " + std::string(key), tables_only));
    out->push_back(std::move(p));
  }
  return Status::Ok();
}

Status ReadTable(const ConfigTable& t, const std::string& path, Policy* policy, std::vector<bool>* seen) {
  TableReader r(t, path);
  std::string name;
  RETURN_IF_ERROR(r.String("name", &name, true));
  auto id = lake::LakeTableByName(name);
  if (!id) return r.Error("name", "unknown table '" + name + "' (known: " + TableNames() + ")");
  if ((*seen)[static_cast<int>(*id)]) return r.Error("name", "table '" + name + "' has a [[table]] already");
  (*seen)[static_cast<int>(*id)] = true;
  std::vector<std::string> personal;
  RETURN_IF_ERROR(r.Strings("personal", &personal));
  for (const ConfigValue& v : Items(t, "personal"))
    if (!HasColumn(*id, v.text))
      return At(path, v.line, v.column, "[[table]] personal: " + name + " has no column '" + v.text + "'");
  policy->personal[static_cast<int>(*id)] = std::move(personal);
  return r.Finish();
}

Status ReadRegion(const ConfigTable& t, const std::string& path, Policy* policy, std::vector<bool>* seen) {
  TableReader r(t, path);
  std::string name;
  RETURN_IF_ERROR(r.String("name", &name, true));
  auto region = ParseRegion(name);
  if (!region) return r.Error("name", "unknown region '" + name + "' (known: " + RegionNamesText() + ")");
  if ((*seen)[static_cast<int>(*region)]) return r.Error("name", "region '" + name + "' has a [[region]] already");
  (*seen)[static_cast<int>(*region)] = true;
  RegionPolicy& rp = policy->regions[static_cast<int>(*region)];
  rp.rule = path + ":" + std::to_string(t.line) + ": [[region]] " + name;
  std::string exp = "aggregates";
  RETURN_IF_ERROR(r.String("export", &exp));
  if (exp == "none")
    rp.export_rule = Export::kNone;
  else if (exp == "aggregates")
    rp.export_rule = Export::kAggregates;
  else if (exp == "rows")
    rp.export_rule = Export::kRows;
  else
    return r.Error("export", "must be \"aggregates\", \"none\" or \"rows\", not '" + exp + "'");
  RETURN_IF_ERROR(r.Integer("k", &rp.k, 1, 1'000'000));
  for (const auto& [table, value] : r.WithPrefix("retention.")) {  // the keys without the prefix
    const std::string key = "retention." + table;
    auto id = lake::LakeTableByName(table);
    if (!id) return r.Error(key, "unknown table '" + table + "' (known: " + TableNames() + ")");
    int64_t days = 0;
    const auto* end = value.data() + value.size();
    auto [p, ec] = std::from_chars(value.data(), end, days);
    if (ec != std::errc() || p != end || days < 1 || days > 36'500)
      return r.Error(key, "must be a number of days in [1, 36500], not '" + value + "'");
    rp.retention_days[static_cast<int>(*id)] = days;
  }
  return r.Finish();
}

Status ReadRole(const ConfigTable& t, const std::string& path, Policy* policy) {
  TableReader r(t, path);
  std::string name;
  RETURN_IF_ERROR(r.String("name", &name, true));
  auto role = auth::ParseRole(name);
  if (!role) return r.Error("name", "unknown role '" + name + "' (known: viewer, creator, analyst, admin)");
  if (policy->RoleOf(*role)) return r.Error("name", "role '" + name + "' has a [[role]] already");
  RolePolicy rp;
  rp.role = *role;
  rp.line = t.line;
  rp.path = path;
  const std::string where = "[[role]] " + name;
  if (!r.Has("tables")) return r.Error("tables", "missing (the tables the role may read; [] for none)");
  RETURN_IF_ERROR(Patterns(r, t, "tables", path, where, true, &rp.tables));
  RETURN_IF_ERROR(Patterns(r, t, "deny", path, where, false, &rp.deny));
  RETURN_IF_ERROR(Patterns(r, t, "mask", path, where, false, &rp.mask));
  RETURN_IF_ERROR(Patterns(r, t, "mask-outside-region", path, where, false, &rp.mask_outside_region));
  if ((!rp.mask.empty() || !rp.mask_outside_region.empty()) && policy->mask_key_file.empty())
    return r.Error(rp.mask.empty() ? "mask-outside-region" : "mask", "masking needs mask-key-file (at the top)");
  policy->roles.push_back(std::move(rp));
  return r.Finish();
}

}  // namespace

std::string_view ExportName(Export e) {
  return e == Export::kNone ? "none" : e == Export::kAggregates ? "aggregates" : "rows";
}

std::string RolePolicy::Rule(std::string_view key) const {
  return path + ":" + std::to_string(line) + ": [[role]] " + std::string(auth::RoleName(role)) + " " + std::string(key);
}

bool Policy::IsPersonal(lake::LakeTableId table, std::string_view column) const {
  const auto& p = personal[static_cast<int>(table)];
  return std::find(p.begin(), p.end(), column) != p.end();
}

const RolePolicy* Policy::RoleOf(auth::Role r) const {
  for (const RolePolicy& p : roles)
    if (p.role == r) return &p;
  return nullptr;
}

bool Policy::Matches(const ColumnPattern& p, Region region, lake::LakeTableId table, std::string_view column) const {
  if (p.region && *p.region != region) return false;
  if (p.table && *p.table != table) return false;
  if (p.column == "*") return true;
  if (p.column == "personal") return IsPersonal(table, column);
  return p.column == column;
}

Result<HashKey> ParseMaskKey(std::string_view text, const std::string& path) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  if (text.size() != 32)
    return Status::InvalidArgument(path + ": a mask key is 32 hex digits (e.g. `openssl rand -hex 16`), not " +
                                   std::to_string(text.size()) + " characters");
  HashKey key;
  for (size_t i = 0; i < 32; ++i) {
    const char c = text[i];
    const int d = c >= '0' && c <= '9'   ? c - '0'
                  : c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                         : -1;
    if (d < 0)
      return Status::InvalidArgument(path + ": a mask key is 32 hex digits; character " + std::to_string(i + 1) +
                                     " is not one");
    uint64_t& word = i < 16 ? key.k0 : key.k1;
    word = (word << 4) | static_cast<uint64_t>(d);
  }
  if (key.k0 == 0 && key.k1 == 0) return Status::InvalidArgument(path + ": the mask key is all zeros");
  return key;
}

Result<Policy> ParsePolicy(std::string_view text, const std::string& path) {
  ASSIGN_OR_RETURN(std::vector<ConfigTable> tables, ParseConfigText(text, path));
  Policy policy;
  policy.path = path;
  for (int i = 0; i < lake::kLakeTableCount; ++i) {
    const auto id = lake::LakeTableId(i);
    if (HasColumn(id, "viewer_id")) policy.personal[i] = {"viewer_id", "event_id"};
  }
  for (RegionPolicy& r : policy.regions) r.rule = "default (aggregates, k = 10)";
  {
    TableReader root(tables[0], path);
    int64_t version = 1;
    RETURN_IF_ERROR(root.Integer("version", &version, 1, 1));
    RETURN_IF_ERROR(root.String("mask-key-file", &policy.mask_key_file));
    if (root.Has("mask-key-file") && policy.mask_key_file.empty()) return root.Error("mask-key-file", "is empty");
    RETURN_IF_ERROR(root.Finish());
  }
  std::vector<bool> seen_tables(lake::kLakeTableCount), seen_regions(RegionCount());
  for (size_t i = 1; i < tables.size(); ++i) {
    const ConfigTable& t = tables[i];
    if (t.name == "table" && t.array_element) {
      RETURN_IF_ERROR(ReadTable(t, path, &policy, &seen_tables));
    } else if (t.name == "region" && t.array_element) {
      RETURN_IF_ERROR(ReadRegion(t, path, &policy, &seen_regions));
    } else if (t.name == "role" && t.array_element) {
      RETURN_IF_ERROR(ReadRole(t, path, &policy));
    } else if (t.name == "audit" && !t.array_element) {
      TableReader r(t, path);
      RETURN_IF_ERROR(r.Integer("flush-rows", &policy.audit.flush_rows, 1, 10'000'000));
      RETURN_IF_ERROR(r.Integer("flush-seconds", &policy.audit.flush_seconds, 1, 86'400));
      RETURN_IF_ERROR(r.Finish());
    } else {
      return At(path, t.line, 1,
                "unknown table " + std::string(t.array_element ? "[[" : "[") + t.name + (t.array_element ? "]]" : "]") +
                    " (known: [[table]], [[region]], [[role]], [audit])");
    }
  }
  return policy;
}

Result<Policy> LoadPolicy(FileSystem* fs, const std::string& path) {
  // Bounded: a policy is a few KiB; a huge file (a wrong path, /dev/zero) is refused, not read into memory.
  auto size = fs->FileSize(path);
  if (size.ok() && *size > kMaxPolicyBytes)
    return Status::InvalidArgument("governance-file " + path + ": larger than " + std::to_string(kMaxPolicyBytes) +
                                   " bytes");
  auto text = size.ok() ? ReadWholeFile(fs, path) : Result<std::string>(size.status());
  if (!text.ok()) return Status(text.status().code(), "governance-file " + path + ": " + text.status().message());
  if (text->size() > kMaxPolicyBytes)
    return Status::InvalidArgument("governance-file " + path + ": larger than " + std::to_string(kMaxPolicyBytes) +
                                   " bytes");
  ASSIGN_OR_RETURN(Policy policy, ParsePolicy(*text, path));
  if (!policy.mask_key_file.empty()) {
    if (policy.mask_key_file[0] != '/') {
      const size_t slash = path.rfind('/');
      if (slash != std::string::npos) policy.mask_key_file = path.substr(0, slash + 1) + policy.mask_key_file;
    }
    // A secret: a regular file of this user's, mode 600 or stricter, not a symlink (else refused at start).
    auto key_text = ReadPrivateFile(policy.mask_key_file, kMaxMaskKeyBytes);
    if (!key_text.ok())
      return Status(key_text.status().code(),
                    path + ": mask-key-file " + policy.mask_key_file + ": " + key_text.status().message());
    ASSIGN_OR_RETURN(HashKey key, ParseMaskKey(*key_text, policy.mask_key_file));
    policy.mask_key = key;
  }
  return policy;
}

}  // namespace watershed::gov
