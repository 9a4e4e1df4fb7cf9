// `watershed sql "<query>"`: one SQL statement over the lake (src/query/,
// docs/query.md), answered from the files directly.

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "app/commands.h"
#include "app/config.h"
#include "app/flags.h"
#include "core/event.h"
#include "core/file_system.h"
#include "query/run.h"

namespace watershed::app {
namespace {

constexpr const char* kHelp =
    "usage: watershed sql \"<query>\" [flags]\n\n"
    "Runs one SELECT (or EXPLAIN SELECT) over the lake's tables: events, raw_events,\n"
    "story_minute, archive_events, archive_story_minute; eu.events names a region's table.\n"
    "docs/query.md lists what runs now.\n\n"
    "flags:\n"
    "  --root DIR            lake root (default: the lake-root setting, else <data-dir>/lake)\n"
    "  --region us|eu|apac   the region of bare table names (default: the first of `regions`)\n"
    "  --format table|json   output (default table)\n"
    "Also accepts --config FILE, --data-dir and --lake-root as `serve` does.\n"
    "Exit codes: 0 answered, 2 bad query or usage (message with line:column), 1 run-time failure.\n";

}  // namespace

int SqlCommand(const std::vector<std::string>& args) {
  for (const auto& a : args)
    if (a == "--help" || a == "-h") {
      std::printf("%s", kHelp);
      return 0;
    }
  const std::vector<std::string> own = {"root", "region", "format"};
  std::vector<std::string> known = own;
  known.push_back("config");
  for (const ConfigKey& k : ServeConfigKeys()) known.push_back(k.name);
  auto flags = Flags::Parse(args, known);
  if (!flags.ok()) return Fail("sql", flags.status().message() + "\n\n" + kHelp, 2);
  if (flags->positional().size() != 1) return Fail("sql", std::string("expected one query\n\n") + kHelp, 2);
  const std::string format = flags->Get("format", "table");
  if (format != "table" && format != "json") return Fail("sql", "--format must be table or json", 2);
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
  query::Catalog catalog(fs, root, *region);
  auto out = query::RunSql(flags->positional()[0], catalog);
  if (!out.ok()) {
    const StatusCode code = out.status().code();
    const int exit_code = code == StatusCode::kInvalidArgument || code == StatusCode::kTooLarge ? 2 : 1;
    return Fail("sql", out.status().message(), exit_code);
  }
  if (out->explain) {
    std::fputs(out->plan_text.c_str(), stdout);
  } else {
    const std::string text = format == "json" ? query::FormatJson(out->result) : query::FormatTable(out->result);
    std::fputs(text.c_str(), stdout);
  }
  return 0;
}

}  // namespace watershed::app
