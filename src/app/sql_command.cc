// `watershed sql`: SQL over the lake (src/query/, docs/query.md), answered
// from the files directly: one query, -c, -f FILE, statements on stdin, or
// an interactive shell (sql_shell.cc).

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "app/commands.h"
#include "app/config.h"
#include "app/flags.h"
#include "app/governance_runtime.h"
#include "app/lake_keys.h"
#include "app/serve_settings.h"
#include "app/sql_session.h"
#include "core/event.h"
#include "core/file_system.h"
#include "gov/access.h"

namespace watershed::app {
namespace {

constexpr const char* kHelp =
    "usage: watershed sql [\"<query>\" | -c \"SQL\" | -f FILE] [flags]\n\n"
    "Runs SQL over the lake's tables: events, raw_events, story_minute, archive_events,\n"
    "archive_story_minute; eu.events names a region's table. docs/query.md lists what runs now.\n"
    "  \"<query>\", -c SQL     the statements given (several separated by ';')\n"
    "  -f FILE               the statements of FILE, in order\n"
    "  (none)                on a terminal an interactive shell (\\? for help); else the\n"
    "                        statements read from stdin\n\n"
    "flags:\n"
    "  --root DIR               lake root (default: the lake-root setting, else <data-dir>/lake)\n"
    "  --region NAME            the region of bare table names (default: the first of `regions`)\n"
    "  --format table|csv|json  output (default table; csv per RFC 4180)\n"
    "  --role R[,R...]          with governance-file: the roles the statements run as (default admin);\n"
    "                           each statement is checked against the policy and audited\n"
    "  --user ID                with governance-file: the user recorded in the audit (default 0)\n"
    "Also accepts --config FILE, --data-dir and --lake-root as `serve` does.\n"
    "Exit codes: 0 answered, 2 bad query, forbidden by the policy, or usage (message with line:column),\n"
    "1 run-time failure (also: the audit record could not be written).\n"
    "Statements run in order; the first that fails stops the rest.\n";

// Everything of a file (or stdin), bounded: statements are text, not data.
constexpr size_t kMaxInputBytes = 16 << 20;
Result<std::string> ReadAll(std::FILE* f, std::string_view name) {
  std::string text;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    text.append(buf, n);
    if (text.size() > kMaxInputBytes)
      return Status::TooLarge(std::string(name) + " is over " + std::to_string(kMaxInputBytes >> 20) + " MiB");
  }
  if (std::ferror(f)) return Status::IoError("cannot read " + std::string(name));
  return text;
}

}  // namespace

int SqlCommand(const std::vector<std::string>& raw_args) {
  std::vector<std::string> args;
  for (const auto& a : raw_args) {
    if (a == "--help" || a == "-h") {
      std::printf("%s", kHelp);
      return 0;
    }
    args.push_back(a == "-c" ? "--command" : a == "-f" ? "--file" : a);
  }
  const std::vector<std::string> own = {"root", "region", "format", "command", "file", "role", "user"};
  std::vector<std::string> known = own;
  known.push_back("config");
  for (const ConfigKey& k : ServeConfigKeys()) known.push_back(k.name);
  auto flags = Flags::Parse(args, known);
  if (!flags.ok()) return Fail("sql", flags.status().message() + "\n\n" + kHelp, 2);
  const size_t sources = flags->positional().size() + flags->Has("command") + flags->Has("file");
  if (sources > 1 || flags->positional().size() > 1)
    return Fail("sql", std::string("give one of \"<query>\", -c SQL, -f FILE\n\n") + kHelp, 2);
  const std::string format_name = flags->Get("format", "table");
  SqlFormat format = SqlFormat::kTable;
  if (format_name == "csv")
    format = SqlFormat::kCsv;
  else if (format_name == "json")
    format = SqlFormat::kJson;
  else if (format_name != "table")
    return Fail("sql", "--format must be table, csv or json", 2);
  std::vector<std::string> settings;
  for (const auto& [key, value] : flags->values())
    if (std::find(own.begin(), own.end(), key) == own.end()) settings.push_back("--" + key + "=" + value);
  auto config = Config::Load(ServeConfigKeys(), settings);
  if (!config.ok()) return Fail("sql", config.status().message(), 2);
  const std::string root = LakeRootOf(*config, flags->Get("root"));
  const std::string region_name = RegionNameOf(*config, flags->Get("region"));
  auto region = ParseRegion(region_name);
  if (!region) return Fail("sql", "unknown region '" + region_name + "'", 2);
  FileSystem* fs = FileSystem::Default();
  if (!fs->FileExists(root)) return Fail("sql", "no lake at " + root + " (--root DIR)", 1);
  auto lake_keys = UseLakeKeysOf(*config, root);  // encryption = on: encrypted files read with their keys
  if (!lake_keys.ok()) return Fail("sql", lake_keys.status().message(), 1);
  auto threads = QueryThreadsOf(*config);
  if (!threads.ok()) return Fail("sql", threads.status().message(), 2);
  SqlSession session(fs, root, *region, format, stdout);
  session.threads = *threads;
  // Governance: the policy (refused with its error) and the region's audit log; the access lives as long as the
  // session.
  std::unique_ptr<GovernanceRuntime> governance;
  std::unique_ptr<gov::Access> access;
  if (const std::string policy = config->Get("governance-file"); !policy.empty()) {
    auto g = GovernanceRuntime::Start(fs, policy, config->Get("data-dir"), root, std::string(RegionName(*region)),
                                      /*flusher=*/false);
    if (!g.ok()) return Fail("sql", g.status().message(), 2);
    governance = std::move(*g);
    gov::Caller caller;
    caller.region = *region;
    const std::string roles = flags->Get("role", "admin");
    for (size_t at = 0; at <= roles.size();) {
      const size_t comma = std::min(roles.find(',', at), roles.size());
      const std::string name = roles.substr(at, comma - at);
      at = comma + 1;
      auto role = auth::ParseRole(name);
      if (!role) return Fail("sql", "--role: unknown role '" + name + "' (viewer, creator, analyst, admin)", 2);
      caller.roles.Add(*role);
    }
    auto user = flags->GetNumber<uint64_t>("user", 0);
    if (!user.ok()) return Fail("sql", user.status().message(), 2);
    caller.user = *user;
    access = std::make_unique<gov::Access>(governance->policy(), caller);
    gov::AuditRecord who;
    who.user = caller.user;
    who.roles = gov::RoleNames(caller.roles);
    who.region = std::string(RegionName(*region));
    who.interface = "cli";
    session.Govern(access.get(), governance->audit(), who);
  } else if (flags->Has("role") || flags->Has("user")) {
    return Fail("sql", "--role and --user apply with a governance-file only", 2);
  }

  if (!flags->positional().empty()) return session.RunAll(flags->positional()[0], "");
  if (flags->Has("command")) return session.RunAll(flags->Get("command"), "");
  if (flags->Has("file")) {
    const std::string path = flags->Get("file");
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return Fail("sql", "cannot open " + path, 2);
    auto text = ReadAll(f, path);
    std::fclose(f);
    if (!text.ok()) return Fail("sql", text.status().message(), 2);
    return session.RunAll(*text, path);
  }
  if (::isatty(STDIN_FILENO)) return RunSqlShell(&session);
  auto text = ReadAll(stdin, "stdin");
  if (!text.ok()) return Fail("sql", text.status().message(), 2);
  return session.RunAll(*text, "<stdin>");
}

}  // namespace watershed::app
