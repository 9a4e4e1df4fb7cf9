// `watershed lake ...`: maintenance of the region lakes' Iceberg tables
// (src/lake/iceberg_maintenance.h, docs/lake.md "Maintenance"). Runs
// against the files directly; the platform may keep appending meanwhile.

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "app/admin_audit.h"
#include "app/commands.h"
#include "app/config.h"
#include "app/flags.h"
#include "app/lake_keys.h"
#include "core/clock.h"
#include "core/event.h"
#include "core/file_system.h"
#include "gov/policy.h"
#include "lake/iceberg_maintenance.h"
#include "lake/tables.h"

namespace watershed::app {
namespace {

constexpr const char* kHelp =
    "usage: watershed lake compact|expire-snapshots|remove-orphans|lifecycle [flags]\n\n"
    "  compact           rewrite each partition's small data files into fewer sorted ones\n"
    "  expire-snapshots  drop old snapshots; delete the files only they reached\n"
    "  remove-orphans    delete files under data/ and metadata/ that no snapshot references\n"
    "  lifecycle         move data past its zone's age into the archive tables (or delete it);\n"
    "                    with governance-file, at the ages of its regions' retention.TABLE\n\n"
    "flags:\n"
    "  --root DIR          lake root (default: the lake-root setting, else <data-dir>/lake)\n"
    "  --region us|eu|...  one region (default: every region found under the root)\n"
    "  --table NAME        one table: raw_events, events, story_minute, archive_events,\n"
    "                      archive_story_minute (default: all)\n"
    "  --dry-run           print what would change, change nothing\n"
    "  --verbose           a line per group, snapshot and file, not only each table's summary\n"
    "  --target-size SIZE  compact: target file size (default: the table's\n"
    "                      write.target-file-size-bytes, 128MiB)\n"
    "  --older-than DUR    expire-snapshots: snapshots older than this (default 5d);\n"
    "                      remove-orphans: files older than this (default 3d, at least 1h)\n"
    "  --retain-last N     expire-snapshots: always keep the newest N snapshots (default 1)\n"
    "Also accepts --config FILE, --data-dir and --lake-root as `serve` does. With a governance-file a run\n"
    "(not --dry-run) is audited in the region's audit log before it starts.\n";

// Progress on stderr: a bar redrawn in place on a terminal, a line every
// 10% otherwise (logs stay readable).
class Progress {
 public:
  explicit Progress(std::string label) : label_(std::move(label)), tty_(::isatty(2)) {}
  ~Progress() {
    if (drawn_ && tty_) std::fputc('\n', stderr);
  }
  void operator()(int64_t done, int64_t total) {
    const int pct = total > 0 ? static_cast<int>(done * 100 / total) : 100;
    if (tty_) {
      const int width = 30, filled = pct * width / 100;
      std::fprintf(stderr, "\r%s [%s%s] %3d%%", label_.c_str(), std::string(filled, '#').c_str(),
                   std::string(width - filled, '.').c_str(), pct);
      std::fflush(stderr);
      drawn_ = true;
    } else if (pct / 10 > last_decile_) {
      last_decile_ = pct / 10;
      std::fprintf(stderr, "%s: %d%%\n", label_.c_str(), pct);
    }
  }

 private:
  std::string label_;
  bool tty_;
  bool drawn_ = false;
  int last_decile_ = -1;
};

struct Options {
  std::string action, root;
  std::string region;  // --region: read once the configuration set the region names
  std::vector<Region> regions;
  std::optional<lake::LakeTableId> table;
  lake::KeepDays keep_days{};  // lifecycle: the region's retention overrides (governance-file)
  bool dry_run = false;
  std::optional<int64_t> target_size;
  std::optional<int64_t> older_than_ms;
  int retain_last = 1;
  bool verbose = false;  // a line per group and file, not just the summary
};

std::string PartitionText(const std::vector<std::optional<int32_t>>& p) {
  std::string s = "(";
  for (size_t i = 0; i < p.size(); ++i) s += (i ? "," : "") + (p[i] ? std::to_string(*p[i]) : std::string("null"));
  return s + ")";
}

// Runs `action` on one table; returns false after printing an error.
bool RunOnTable(const Options& o, Region region, lake::LakeTableId id) {
  FileSystem* fs = FileSystem::Default();
  const std::string location = lake::TableLocation(o.root, region, id);
  const std::string name = std::string(RegionName(region)) + "/" + lake::SpecOf(id).name;
  const char* verb = o.dry_run ? "would " : "";
  auto error = [&](const Status& s) {
    Fail("lake " + o.action, name + ": " + s.ToString());
    return false;
  };
  if (o.action == "remove-orphans") {
    const int64_t cutoff = Clock::Real()->NowMs() - o.older_than_ms.value_or(3 * 86'400'000ll);
    auto removed = lake::RemoveOrphanFiles(fs, location, {cutoff, o.dry_run});
    if (!removed.ok()) return error(removed.status());
    if (o.verbose)
      for (const std::string& p : *removed) std::printf("%s: %sremove orphan %s\n", name.c_str(), verb, p.c_str());
    std::printf("%s: %s%zu orphan files\n", name.c_str(), o.dry_run ? "would remove " : "removed ", removed->size());
    return true;
  }
  auto table = lake::IcebergTable::Load(fs, location);
  if (!table.ok()) return error(table.status());
  if (o.action == "compact") {
    lake::CompactionOptions c;
    c.target_file_size_bytes = o.target_size;
    c.dry_run = o.dry_run;
    Progress progress("compact " + name);
    if (!o.dry_run) c.progress = [&progress](int64_t done, int64_t total) { progress(done, total); };
    auto result = lake::CompactTable(fs, &*table, c);
    if (!result.ok()) return error(result.status());
    int64_t files = 0, bytes_in = 0, bytes_out = 0;
    size_t outputs = 0;
    Status unreadable;
    for (size_t i = 0; i < result->groups.size(); ++i) {
      const lake::CompactionGroup& g = result->groups[i];
      if (!g.error.empty()) {  // left as it is; the others were compacted
        Fail("lake compact", name + ": group " + std::to_string(i) + " skipped: " + g.error);
        if (unreadable.ok()) unreadable = Status::Corruption(g.error);
        continue;
      }
      files += static_cast<int64_t>(g.inputs.size());
      ++outputs;
      bytes_in += g.input_bytes;
      bytes_out += g.output ? g.output->file_size_in_bytes : 0;
      if (!o.verbose) continue;
      std::printf("%s: %scompact group %zu partition %s: %zu files, %lld bytes, %lld rows%s%s\n", name.c_str(), verb, i,
                  PartitionText(g.partition).c_str(), g.inputs.size(), static_cast<long long>(g.input_bytes),
                  static_cast<long long>(g.input_rows), g.output ? " -> " : "", g.output ? g.output->path.c_str() : "");
      for (const lake::DataFileInfo& f : g.inputs)
        std::printf("%s:   %s (%lld bytes)\n", name.c_str(), f.path.c_str(),
                    static_cast<long long>(f.file_size_in_bytes));
    }
    if (o.dry_run) {
      // Not written, so not measured: the rows are the same, re-sorted and re-encoded.
      std::printf("%s: would compact %lld files into %zu: %lld bytes in, about as many out (estimate)\n", name.c_str(),
                  static_cast<long long>(files), outputs, static_cast<long long>(bytes_in));
    } else {
      std::printf("%s: compacted %lld files into %zu: %lld bytes in, %lld bytes out\n", name.c_str(),
                  static_cast<long long>(files), outputs, static_cast<long long>(bytes_in),
                  static_cast<long long>(bytes_out));
    }
    return unreadable.ok();
  }
  if (o.action == "expire-snapshots") {
    const int64_t cutoff = Clock::Real()->NowMs() - o.older_than_ms.value_or(5 * 86'400'000ll);
    auto result = lake::ExpireSnapshots(fs, &*table, {cutoff, o.retain_last, o.dry_run, std::nullopt});
    if (!result.ok()) return error(result.status());
    if (o.verbose) {
      for (int64_t id : result->expired_snapshot_ids)
        std::printf("%s: %sexpire snapshot %lld\n", name.c_str(), verb, static_cast<long long>(id));
      for (const std::string& p : result->deleted_files)
        std::printf("%s: %sdelete %s\n", name.c_str(), verb, p.c_str());
    }
    std::printf("%s: %s%zu snapshots, %zu files\n", name.c_str(), o.dry_run ? "would expire " : "expired ",
                result->expired_snapshot_ids.size(), result->deleted_files.size());
    for (const std::string& p : result->refused_files)
      std::fprintf(stderr, "%s: not deleting %s: outside the table or a symbolic link\n", name.c_str(), p.c_str());
    return true;
  }
  return error(Status::Internal("unknown action"));
}

bool RunLifecycle(const Options& o, Region region) {
  lake::LifecycleOptions l;
  l.dry_run = o.dry_run;
  l.only = o.table;
  l.keep_days = o.keep_days;
  const std::string name(RegionName(region));
  Progress progress("lifecycle " + name);
  if (!o.dry_run) l.progress = [&progress](int64_t done, int64_t total) { progress(done, total); };
  auto batches = lake::ApplyLifecycle(FileSystem::Default(), o.root, region, Clock::Real()->NowMs(), l);
  if (!batches.ok()) {
    Fail("lake lifecycle", name + ": " + batches.status().ToString());
    return false;
  }
  const char* verb = o.dry_run ? "would " : "";
  size_t files = 0;
  int64_t rows = 0;
  for (const lake::LifecycleBatch& b : *batches) {
    const std::string table = name + "/" + lake::SpecOf(b.table).name;
    for (const lake::DataFileInfo& f : b.files) {
      ++files;
      rows += f.record_count;
      if (!o.verbose) continue;
      if (b.archive) {
        std::printf("%s: %sarchive %s (%lld rows) into %s\n", table.c_str(), verb, f.path.c_str(),
                    static_cast<long long>(f.record_count), lake::SpecOf(*b.archive).name);
      } else {
        std::printf("%s: %sdelete %s (%lld rows)\n", table.c_str(), verb, f.path.c_str(),
                    static_cast<long long>(f.record_count));
      }
    }
  }
  std::printf("%s: %s%zu batches: %zu files, %lld rows\n", name.c_str(), o.dry_run ? "would apply " : "applied ",
              batches->size(), files, static_cast<long long>(rows));
  return true;
}

// This command's own flags; the `serve` settings among them (--config,
// --data-dir, --lake-root, ...) go to *settings as --key=value for Config.
Result<Options> ParseOptions(const std::vector<std::string>& args, std::vector<std::string>* settings) {
  const std::vector<std::string> own = {"root",        "region",     "table",       "dry-run!", "verbose!",
                                        "target-size", "older-than", "retain-last", "help!"};
  std::vector<std::string> known = own;
  known.push_back("config");
  for (const ConfigKey& k : ServeConfigKeys()) known.push_back(k.name);
  ASSIGN_OR_RETURN(Flags f, Flags::Parse(args, known));
  Options o;
  if (f.positional().empty()) return Status::InvalidArgument("missing action");
  if (f.positional().size() > 1) return Status::InvalidArgument("unexpected argument '" + f.positional()[1] + "'");
  o.action = f.positional()[0];
  if (o.action != "compact" && o.action != "expire-snapshots" && o.action != "remove-orphans" &&
      o.action != "lifecycle")
    return Status::InvalidArgument("unknown action '" + o.action + "'");
  for (const auto& [key, value] : f.values())
    if (std::find(own.begin(), own.end(), key) == own.end() &&
        std::find(own.begin(), own.end(), key + "!") == own.end())
      settings->push_back("--" + key + "=" + value);
  o.root = f.Get("root");
  o.dry_run = f.Has("dry-run");
  o.verbose = f.Has("verbose");
  if (f.Has("older-than")) {
    ASSIGN_OR_RETURN(o.older_than_ms, ParseDurationMs("--older-than", f.Get("older-than")));
  }
  ASSIGN_OR_RETURN(o.retain_last, f.GetNumber<int>("retain-last", 1, 1, 1'000'000));
  if (f.Has("target-size")) {
    const std::string value = f.Get("target-size");
    std::string digits = value;
    int64_t mult = 1;
    for (const auto& [unit, m] : {std::pair{"KiB", 1ll << 10}, {"MiB", 1ll << 20}, {"GiB", 1ll << 30}})
      if (value.ends_with(unit)) {
        digits = value.substr(0, value.size() - 3);
        mult = m;
      }
    auto n = ParseNumber<int64_t>("--target-size", digits, 1, (1ll << 40) / mult);
    if (!n.ok())
      return Status::InvalidArgument(
          "--target-size must be a size such as 134217728, 512MiB or 1GiB (at most 1TiB), got '" + value + "'");
    o.target_size = *n * mult;
  }
  if (f.Has("table")) {
    o.table = lake::LakeTableByName(f.Get("table"));
    if (!o.table) return Status::InvalidArgument("unknown table '" + f.Get("table") + "'");
  }
  o.region = f.Get("region");
  if (o.action == "remove-orphans" && o.older_than_ms && *o.older_than_ms < 3'600'000)
    return Status::InvalidArgument(
        "remove-orphans --older-than must be at least 1h: younger files may belong to "
        "commits in flight");
  if (o.older_than_ms && o.action != "expire-snapshots" && o.action != "remove-orphans")
    return Status::InvalidArgument("--older-than applies to expire-snapshots and remove-orphans");
  if (o.target_size && o.action != "compact") return Status::InvalidArgument("--target-size applies to compact");
  return o;
}

}  // namespace

int LakeCommand(const std::vector<std::string>& args) {
  for (const auto& a : args)
    if (a == "--help" || a == "-h") {
      std::printf("%s", kHelp);
      return 0;
    }
  std::vector<std::string> settings;
  auto parsed = ParseOptions(args, &settings);
  if (!parsed.ok()) return Fail("lake", parsed.status().message() + "\n\n" + kHelp, 2);
  Options o = std::move(parsed).value();
  auto config = Config::Load(ServeConfigKeys(), settings);
  if (!config.ok()) return Fail("lake", config.status().message() + "\n\n" + kHelp, 2);
  if (o.root.empty() && config->Has("lake-root")) o.root = config->Get("lake-root");
  if (o.root.empty()) o.root = JoinPath(config->Get("data-dir"), "lake");
  FileSystem* fs = FileSystem::Default();
  if (!fs->FileExists(o.root)) return Fail("lake", "no lake at " + o.root + " (--root DIR)", 1);
  auto lake_keys = UseLakeKeysOf(*config, o.root);  // encryption = on: compaction reads and writes encrypted files
  if (!lake_keys.ok()) return Fail("lake", lake_keys.status().message(), 1);
  if (!o.region.empty()) {
    auto r = ParseRegion(o.region);
    if (!r) return Fail("lake", "unknown region '" + o.region + "' (" + RegionNamesText() + ")", 2);
    o.regions.push_back(*r);
  }
  if (o.regions.empty()) {
    auto names = fs->ListDir(o.root);
    if (!names.ok()) return Fail("lake", names.status().message(), 1);
    for (int r = 0; r < RegionCount(); ++r)
      for (const std::string& n : *names)
        if (ParseRegion(n) == static_cast<Region>(r)) o.regions.push_back(static_cast<Region>(r));
  }
  std::optional<gov::Policy> policy;
  if (o.action == "lifecycle" && !config->Get("governance-file").empty()) {
    auto loaded = gov::LoadPolicy(fs, config->Get("governance-file"));
    if (!loaded.ok()) return Fail("lake", loaded.status().message(), 2);
    policy = std::move(loaded).value();
  }
  // A changing run is audited before it starts (with a governance-file; fail closed).
  auto audit = AdminAudit::Open(*config, o.region);
  if (!audit.ok()) return Fail("lake", audit.status().message(), 2);
  if (!o.dry_run) {
    std::string what = "lake";
    for (Region region : o.regions) what += (what == "lake" ? " " : ",") + std::string(RegionName(region));
    if (o.table) what += " " + std::string(lake::SpecOf(*o.table).name);
    std::vector<std::string> words = {"lake"};
    words.insert(words.end(), args.begin(), args.end());
    if (Status s = (*audit)->Begin(words, what); !s.ok()) return Fail("lake " + o.action, NotAudited(s), 1);
  }
  bool ok = true;
  for (Region region : o.regions) {
    if (o.action == "lifecycle") {
      if (policy) o.keep_days = policy->regions[static_cast<int>(region)].retention_days;
      ok = RunLifecycle(o, region) && ok;
      continue;
    }
    for (int t = 0; t < lake::kLakeTableCount; ++t) {
      const auto id = static_cast<lake::LakeTableId>(t);
      if (o.table && *o.table != id) continue;
      if (!fs->FileExists(JoinPath(lake::TableLocation(o.root, region, id), "metadata"))) continue;
      ok = RunOnTable(o, region, id) && ok;
    }
  }
  return (*audit)->End(ok ? 0 : 1);
}

}  // namespace watershed::app
