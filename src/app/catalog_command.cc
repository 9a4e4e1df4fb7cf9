// `watershed catalog import FILE`: fills the story catalogue from a CSV or
// JSON file, for applications without a PostgreSQL to stream from. It
// writes the catalogue directory directly (the catalogue is safe to share
// between processes), so a running server sees the stories within a second.

#include <cstdio>

#include "app/admin_audit.h"
#include "app/commands.h"
#include "app/config.h"
#include "app/flags.h"
#include "catalog/story_codec.h"
#include "core/clock.h"

namespace watershed::app {
namespace {

constexpr const char* kHelp =
    "usage: watershed catalog import FILE [--format csv|json] [--dry-run] [--catalog-dir DIR | --data-dir DIR]\n"
    "       watershed catalog show STORY [--catalog-dir DIR | --data-dir DIR]\n\n"
    "import adds or updates the stories of FILE in the story catalogue, the only source of\n"
    "authorship: CSV with a header (story_id required; author_id, created_at, title, tags\n"
    "separated by '|', language, is_original, deleted) or JSON ({\"stories\": [...]} or an array\n"
    "of the objects POST /v1/stories takes). A field left out keeps the story's current\n"
    "value (in CSV, an empty number or boolean cell too); a new story needs author_id.\n"
    "Every story is checked before any is written;\n"
    "errors name the line (CSV) or index (JSON). --format defaults to the file's extension.\n"
    "show prints a story's catalogue record as JSON.\n\n"
    "The catalogue is catalog-dir (default <data-dir>/catalog); also accepts --config FILE.\n";

constexpr size_t kChangesPerWrite = 10'000;  // one fdatasync each

int Import(const Flags& f, catalog::StoryCatalog& cat) {
  const std::string path = f.positional()[1];
  std::string format = f.Get("format");
  if (format.empty()) format = path.ends_with(".csv") ? "csv" : path.ends_with(".json") ? "json" : "";
  if (format != "csv" && format != "json")
    return Fail("catalog", "cannot tell the format of " + path + ": give --format csv or --format json", 2);
  auto content = ReadWholeFile(FileSystem::Default(), path);
  if (!content.ok()) return Fail("catalog", content.status().message());
  auto patches = catalog::ParseStoryFile(*content, format == "csv");
  if (!patches.ok()) return Fail("catalog", path + ": " + patches.status().message());

  const int64_t now = Clock::Real()->NowMs();
  std::vector<catalog::CatalogChange> changes;
  std::map<uint64_t, size_t> latest;  // a story named twice: the later line wins, on top of the earlier
  for (const catalog::StoryPatch& p : *patches) {
    std::optional<catalog::StoryRecord> current;
    if (auto it = latest.find(p.story.value); it != latest.end()) current = changes[it->second].record;
    else current = cat.Get(p.story);
    if (!current && !p.author)
      return Fail("catalog", path + ": " + p.where + ": story " + std::to_string(p.story.value) +
                                 " is new and has no author_id");
    catalog::StoryRecord r = catalog::ApplyPatch(current, p, now);
    if (Status s = catalog::ValidateStory(r); !s.ok()) return Fail("catalog", path + ": " + p.where + ": " + s.message());
    if (auto it = latest.find(p.story.value); it != latest.end()) {
      changes[it->second].record = std::move(r);
    } else {
      latest[p.story.value] = changes.size();
      changes.push_back({std::move(r), "import", {}, std::nullopt});
    }
  }
  if (f.Has("dry-run")) {
    std::printf("%s: would write %zu stories (%zu lines or entries)\n", path.c_str(), changes.size(), patches->size());
    return 0;
  }
  size_t written = 0;
  for (size_t i = 0; i < changes.size(); i += kChangesPerWrite) {
    std::vector<catalog::CatalogChange> part(changes.begin() + static_cast<std::ptrdiff_t>(i),
                                             changes.begin() + static_cast<std::ptrdiff_t>(std::min(changes.size(), i + kChangesPerWrite)));
    auto applied = cat.Apply(std::move(part));
    if (!applied.ok())
      return Fail("catalog", "after " + std::to_string(written) + " stories: " + applied.status().message());
    written += *applied;
  }
  std::printf("%s: wrote %zu stories; the catalogue is at position %llu\n", path.c_str(), written,
              static_cast<unsigned long long>(cat.position()));
  return 0;
}

}  // namespace

int CatalogCommand(const std::vector<std::string>& args) {
  std::vector<std::string> known = {"format", "dry-run!", "help!", "config"};
  for (const ConfigKey& k : ServeConfigKeys()) known.push_back(k.name);
  auto parsed = Flags::Parse(args, known);
  if (!parsed.ok()) return Fail("catalog", parsed.status().message() + "\n\n" + kHelp, 2);
  const Flags& f = *parsed;
  if (f.Has("help")) {
    std::printf("%s", kHelp);
    return 0;
  }
  const std::vector<std::string>& pos = f.positional();
  if (pos.size() != 2 || (pos[0] != "import" && pos[0] != "show"))
    return Fail("catalog", std::string(pos.empty() ? "missing action" : "expected import FILE or show STORY") +
                               "\n\n" + kHelp, 2);
  std::vector<std::string> settings;
  for (const auto& [key, value] : f.values())
    if (key != "format" && key != "dry-run" && key != "help") settings.push_back("--" + key + "=" + value);
  auto config = Config::Load(ServeConfigKeys(), settings);
  if (!config.ok()) return Fail("catalog", config.status().message(), 2);
  std::string dir = config->Get("catalog-dir");
  if (dir.empty()) dir = JoinPath(config->Get("data-dir"), "catalog");
  auto cat = catalog::StoryCatalog::Open(FileSystem::Default(), dir);
  if (!cat.ok()) return Fail("catalog", cat.status().message());
  if (pos[0] == "import") {
    // Catalogue writes are audited before they run (with a governance-file; fail closed).
    auto audit = AdminAudit::Open(*config);
    if (!audit.ok()) return Fail("catalog", audit.status().message(), 2);
    if (!f.Has("dry-run")) {
      std::vector<std::string> words = {"catalog"};
      words.insert(words.end(), args.begin(), args.end());
      if (Status s = (*audit)->Begin(words, "catalog"); !s.ok()) return Fail("catalog import", NotAudited(s), 1);
    }
    return (*audit)->End(Import(f, **cat));
  }
  auto story = ParseNumber<uint64_t>("STORY", pos[1], 1);
  if (!story.ok()) return Fail("catalog", story.status().message(), 2);
  auto record = (*cat)->Get(StoryId(*story));
  if (!record) return Fail("catalog", "story " + pos[1] + " is not in the catalogue at " + dir);
  std::string json;
  catalog::AppendStoryJson(*record, &json);
  std::printf("%s\n", json.c_str());
  return 0;
}

}  // namespace watershed::app
