// `watershed audit`: the audit trail of lake queries (docs/governance.md "Audit") — the region's `audit` Iceberg
// table and the records of its local log not flushed into it yet — filtered, as a table, CSV or JSON lines.

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "app/commands.h"
#include "app/config.h"
#include "app/flags.h"
#include "app/governance_runtime.h"
#include "app/serve_settings.h"
#include "core/file_system.h"
#include "core/json_text.h"
#include "gov/audit_log.h"
#include "query/literals.h"
#include "query/result_format.h"
#include "query/value_compare.h"

namespace watershed::app {
namespace {

constexpr const char* kHelp =
    "usage: watershed audit [--since TIME] [--user ID] [--verdict allowed|refused|failed] [flags]\n\n"
    "Prints the audit trail of lake queries (POST /v1/query, watershed sql) of a region: who, roles, when,\n"
    "the SQL, tables touched, rows returned, verdict, reason and duration — from the region's `audit` Iceberg\n"
    "table and the local audit log's records not flushed into it yet. docs/governance.md.\n"
    "  --since TIME             records from this time on (UTC: '2026-12-05', '2026-12-05 10:00:00')\n"
    "  --user ID                one user's records (the token's sub)\n"
    "  --verdict V              allowed, refused (a governance rule) or failed (a bad query, an error)\n"
    "  --region R               the region (default: the first of `regions`)\n"
    "  --root DIR               lake root (default: the lake-root setting, else <data-dir>/lake)\n"
    "  --format table|csv|json  output (default table; json: one object per line)\n"
    "Also accepts --config FILE and --data-dir as `serve` does.\n"
    "Exit codes: 0 printed (maybe nothing), 2 usage, 1 the trail could not be read.\n";

}  // namespace

int AuditCommand(const std::vector<std::string>& args) {
  for (const auto& a : args)
    if (a == "--help" || a == "-h") {
      std::printf("%s", kHelp);
      return 0;
    }
  const std::vector<std::string> own = {"since", "user", "verdict", "region", "root", "format"};
  std::vector<std::string> known = own;
  known.push_back("config");
  for (const ConfigKey& k : ServeConfigKeys()) known.push_back(k.name);
  auto flags = Flags::Parse(args, known);
  if (!flags.ok()) return Fail("audit", flags.status().message() + "\n\n" + kHelp, 2);
  if (!flags->positional().empty()) return Fail("audit", std::string("no arguments expected\n\n") + kHelp, 2);
  std::vector<std::string> settings;
  for (const auto& [key, value] : flags->values())
    if (std::find(own.begin(), own.end(), key) == own.end()) settings.push_back("--" + key + "=" + value);
  auto config = Config::Load(ServeConfigKeys(), settings);
  if (!config.ok()) return Fail("audit", config.status().message(), 2);

  gov::AuditFilter filter;
  if (flags->Has("since")) {
    auto t = query::TimestampMicros(flags->Get("since"), false);
    if (!t.ok()) t = query::TimestampMicros(flags->Get("since"), true);
    if (!t.ok()) return Fail("audit", "--since: not a time: '" + flags->Get("since") + "'", 2);
    filter.since_us = *t;
  }
  if (flags->Has("user")) {
    auto user = flags->GetNumber<uint64_t>("user", 0);
    if (!user.ok()) return Fail("audit", user.status().message(), 2);
    filter.user = *user;
  }
  if (flags->Has("verdict")) {
    const std::string v = flags->Get("verdict");
    if (v != "allowed" && v != "refused" && v != "failed")
      return Fail("audit", "--verdict must be allowed, refused or failed, not '" + v + "'", 2);
    filter.verdict = v;
  }
  const std::string format = flags->Get("format", "table");
  if (format != "table" && format != "csv" && format != "json")
    return Fail("audit", "--format must be table, csv or json", 2);
  const std::string root = LakeRootOf(*config, flags->Get("root"));
  const std::string region = RegionNameOf(*config, flags->Get("region"));
  if (!ParseRegion(region)) return Fail("audit", "unknown region '" + region + "'", 2);
  const gov::AuditLogOptions where = AuditLocation(config->Get("data-dir"), root, region);
  auto records = gov::ReadAudit(FileSystem::Default(), where.dir, where.table_location, filter);
  if (!records.ok()) return Fail("audit", records.status().message(), 1);

  // The columns and rows from the audit table's schema and gov::AuditRow (the one record-to-fields mapping).
  const std::vector<lake::ColumnSpec>& spec = gov::AuditSchema();
  query::QueryResult r;
  using T = query::ColumnType;
  for (const lake::ColumnSpec& c : spec) {
    r.names.push_back(c.name);
    r.types.push_back(c.logical == lake::LogicalType::kTimestampMicrosUtc ? T::kTimestamp
                      : c.type == lake::PhysicalType::kInt64              ? T::kBigint
                                                                          : T::kString);
  }
  for (const gov::AuditRecord& a : *records) r.rows.push_back(gov::AuditRow(a));
  std::string text;
  if (format == "table") {
    text = query::FormatTable(r);
  } else if (format == "csv") {
    query::AppendCsvHeader(r, &text);
    for (size_t i = 0; i < r.rows.size(); ++i) query::AppendCsvRow(r, i, &text);
  } else {
    for (const std::vector<query::Value>& row : r.rows) {
      for (size_t c = 0; c < spec.size(); ++c) {
        text += c == 0 ? "{" : ",";
        AppendJsonString(spec[c].name, &text);
        text += ":";
        if (r.types[c] == T::kTimestamp)
          AppendJsonString(query::FormatValue(row[c], T::kTimestamp), &text);
        else if (r.types[c] == T::kString)
          AppendJsonString(row[c].s, &text);
        else if (spec[c].name == "user")  // a token's sub: unsigned
          text += std::to_string(static_cast<uint64_t>(row[c].i));
        else
          text += std::to_string(row[c].i);
      }
      text += "}\n";
    }
  }
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

}  // namespace watershed::app
