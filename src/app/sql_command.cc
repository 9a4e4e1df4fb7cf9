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
#include "app/lake_keys.h"
#include "app/serve_settings.h"
#include "app/sql_session.h"
#include "core/event.h"
#include "core/file_system.h"

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
    "  --region us|eu|apac      the region of bare table names (default: the first of `regions`)\n"
    "  --format table|csv|json  output (default table; csv per RFC 4180)\n"
    "Also accepts --config FILE, --data-dir and --lake-root as `serve` does.\n"
    "Exit codes: 0 answered, 2 bad query or usage (message with line:column), 1 run-time failure.\n"
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
  const std::vector<std::string> own = {"root", "region", "format", "command", "file"};
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
  std::string root = flags->Get("root");
  if (root.empty() && config->Has("lake-root")) root = config->Get("lake-root");
  if (root.empty()) root = JoinPath(config->Get("data-dir"), "lake");
  std::string region_name = flags->Get("region");
  if (region_name.empty()) {
    const std::string regions = config->Get("regions");
    region_name = regions.substr(0, regions.find(','));
  }
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
