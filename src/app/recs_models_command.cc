// `watershed recs import|train|models` (docs/recs.md, "Import, train and the model registry"): a normalised
// interactions file in the data dir, a trained model as a registry version, and the registry's list, promote,
// rollback and garbage collection.

#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>

#include "app/admin_audit.h"
#include "app/commands.h"
#include "app/config.h"
#include "app/flags.h"
#include "app/recs_support.h"
#include "core/file_system.h"
#include "core/json_text.h"
#include "recs/dataset_file.h"
#include "recs/evaluator.h"
#include "recs/registry.h"
#include "recs/split.h"

namespace watershed::app {
namespace {

constexpr const char* kImportHelp =
    "usage: watershed recs import --interactions FILE|DIR --format movielens-100k|movielens-1m|movielens-csv|csv\n"
    "         [--positive-rating 4] [--name default] [--data-dir DIR] [--out FILE] [--quiet]\n"
    "       watershed recs import --from-lake ROOT [--region R] [--snapshot ID] [the lake flags of eval]\n"
    "         [--name default] [--data-dir DIR] [--out FILE]\n\n"
    "Parses the interactions once (the positives, the items and their features) into a normalised binary\n"
    "file, <data-dir>/recs/interactions/NAME.bin (or --out FILE), written atomically and checked by CRC-32C;\n"
    "train and eval read it with --dataset NAME instead of parsing the source again. The file records where\n"
    "it came from (the source files' SHA-256, or the lake snapshot).\n";

constexpr const char* kTrainHelp =
    "usage: watershed recs train --model popularity|bpr|two-tower|ranker [--name NAME]\n"
    "         (--dataset NAME|FILE | --interactions FILE|DIR --format FORMAT [--positive-rating 4] |\n"
    "          --from-lake ROOT [lake flags])\n"
    "         [--split stratified:0.75] [--k 10] [--seed 42] [--threads 1] [--data-dir DIR]\n"
    "         [--json] [--progress | --quiet] [the model flags of `recs eval --help`]\n\n"
    "Trains the model on the split's training part, evaluates it on the test part, and stores it as the\n"
    "next version of NAME (default: the model's name) in <data-dir>/models/NAME/VERSION: weights.bin\n"
    "(embeddings, biases, the model's weights) and manifest.json (config, data fingerprint, split, seed,\n"
    "metrics, training time). The first version of a name becomes current; later ones wait for\n"
    "`recs models promote`. Progress (epochs, loss, validation NDCG, ETA) on stderr when it is a terminal.\n";

constexpr const char* kModelsHelp =
    "usage: watershed recs models [list [NAME]] [--json] [--data-dir DIR]\n"
    "       watershed recs models promote NAME@VERSION [--data-dir DIR]\n"
    "       watershed recs models rollback NAME [--data-dir DIR]\n"
    "       watershed recs models gc --keep N [NAME] [--dry-run] [--json] [--data-dir DIR]\n"
    "  --governance-file FILE  promote, rollback and gc are audited in the region's audit log before they run\n\n"
    "Lists the registry's models (<data-dir>/models): each version's model, creation time, training time,\n"
    "NDCG@10 and data, '*' marking the current one. promote makes a version current (after loading and\n"
    "checking it whole); rollback makes the previously current version current again. gc deletes the\n"
    "versions of NAME (default: every name) other than the current one, the previous current one (rollback's\n"
    "target) and the newest N; --dry-run lists what it would delete and deletes nothing.\n";

std::string Json(const std::string& s) {
  std::string out;
  AppendJsonString(s, &out);
  return out;
}

std::string Utc(int64_t ms) {
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Parses `args`; prints `help` for --help. Returns the exit code when the
// action is over.
std::optional<int> Parse(const char* command, const std::vector<std::string>& args, std::vector<std::string> known,
                         const char* help, std::optional<Flags>* out) {
  known.push_back("help!");
  auto parsed = Flags::Parse(args, known);
  if (!parsed.ok()) return Fail(command, parsed.status().message() + "\n\n" + help, 2);
  if (parsed->Has("help")) {
    std::printf("%s", help);
    return 0;
  }
  *out = std::move(*parsed);
  return std::nullopt;
}

// `recs models gc`: per name, the versions kept and deleted (or that would be, with --dry-run).
int ModelsGc(const Flags& f, recs::ModelRegistry& registry) {
  const std::vector<std::string>& pos = f.positional();
  if (pos.size() > 2) return Fail("recs models", "gc takes at most one NAME", 2);
  if (!f.Has("keep")) return Fail("recs models", std::string("gc needs --keep N\n\n") + kModelsHelp, 2);
  uint32_t keep = 0;
  const std::string text = f.Get("keep");
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), keep);
  if (ec != std::errc() || end != text.data() + text.size())
    return Fail("recs models", "--keep must be a whole number >= 0, not '" + text + "'", 2);
  std::vector<std::string> names;
  if (pos.size() == 2) {
    if (Status s = recs::ModelRegistry::CheckName(pos[1]); !s.ok()) return Fail("recs models", s.message(), 2);
    names.push_back(pos[1]);
  } else {
    auto all = registry.Names();
    if (!all.ok()) return Fail("recs models", all.status().message());
    names = *all;
  }
  const bool dry = f.Has("dry-run");
  const auto list = [](const std::vector<uint32_t>& v) {
    std::string out;
    for (uint32_t x : v) out += (out.empty() ? "" : ",") + std::to_string(x);
    return out;
  };
  std::string json = "{\"dry_run\": " + std::string(dry ? "true" : "false") + ", \"models\": [";
  for (size_t n = 0; n < names.size(); ++n) {
    auto plan = registry.Gc(names[n], keep, dry);
    if (!plan.ok()) return Fail("recs models", plan.status().message());
    json += std::string(n ? ", " : "") + "{\"name\": " + Json(names[n]) + ", \"kept\": [" + list(plan->kept) +
            "], \"deleted\": [" + list(plan->removed) + "]}";
    if (!f.Has("json"))
      std::printf("%s: %s %s; kept %s\n", names[n].c_str(), dry ? "would delete" : "deleted",
                  plan->removed.empty() ? "nothing" : ("versions " + list(plan->removed)).c_str(),
                  list(plan->kept).c_str());
  }
  if (f.Has("json")) std::printf("%s]}\n", json.c_str());
  return 0;
}

}  // namespace

int RecsImport(const std::vector<std::string>& args) {
  std::vector<std::string> known = DataFlagNames();
  for (const char* k : {"name", "out", "quiet!", "progress!"}) known.push_back(k);
  std::optional<Flags> parsed;
  if (auto exit = Parse("recs import", args, known, kImportHelp, &parsed)) return *exit;
  const Flags& f = *parsed;
  if (!f.positional().empty()) return Fail("recs import", "unexpected argument '" + f.positional()[0] + "'", 2);
  if (f.Has("dataset")) return Fail("recs import", "--dataset is already imported", 2);
  const std::string name = f.Get("name", "default");
  if (Status s = recs::ModelRegistry::CheckName(name); !s.ok()) return Fail("recs import", "--name: " + s.message(), 2);
  auto data_dir = RecsDataDir(f);
  if (!data_dir.ok()) return Fail("recs import", data_dir.status().message(), 2);
  const std::string out = f.Has("out") ? f.Get("out") : ImportedDatasetPath(*data_dir, name);
  RecsProgress progress(ProgressWanted(f), "import");
  std::map<std::string, std::string> source;
  bool bad_flag = false;
  auto data = LoadRecsData(f, progress, &source, &bad_flag);
  if (!data.ok()) return Fail("recs import", data.status().message(), bad_flag ? 2 : 1);
  FileSystem* fs = FileSystem::Default();
  Status s = CreateDirsDurably(fs, DirName(out));
  if (s.ok()) s = WriteFileAtomically(fs, out, recs::EncodeArrayFile(recs::EncodeDataset(*data, source)));
  if (!s.ok()) return Fail("recs import", s.message());
  std::printf("wrote %s: %zu users, %zu items, %zu positives (%zu ratings below the threshold)\n", out.c_str(),
              data->num_users(), data->num_items(), data->interactions.size(), data->below_threshold);
  return 0;
}

int RecsTrain(const std::vector<std::string>& args) {
  std::vector<std::string> known = DataFlagNames();
  for (const std::string& k : ModelFlagNames()) known.push_back(k);
  for (const char* k : {"name", "split", "k", "json!", "quiet!", "progress!"}) known.push_back(k);
  std::optional<Flags> parsed;
  if (auto exit = Parse("recs train", args, known, kTrainHelp, &parsed)) return *exit;
  const Flags& f = *parsed;
  if (!f.positional().empty()) return Fail("recs train", "unexpected argument '" + f.positional()[0] + "'", 2);
  if (!f.Has("model")) return Fail("recs train", std::string("--model is required\n\n") + kTrainHelp, 2);
  auto choice = ReadModelChoice(f, "bpr");
  if (!choice.ok()) return Fail("recs train", choice.status().message(), 2);
  const std::string name = f.Get("name", choice->model);
  if (Status s = recs::ModelRegistry::CheckName(name); !s.ok()) return Fail("recs train", "--name: " + s.message(), 2);
  auto split_spec = recs::ParseSplit(f.Get("split", "stratified:0.75"));
  if (!split_spec.ok()) return Fail("recs train", "--split: " + split_spec.status().message(), 2);
  auto ks = ParseKs(f.Get("k", "10"));
  if (!ks.ok()) return Fail("recs train", ks.status().message(), 2);
  auto data_dir = RecsDataDir(f);
  if (!data_dir.ok()) return Fail("recs train", data_dir.status().message(), 2);

  RecsProgress progress(ProgressWanted(f), choice->model);
  std::map<std::string, std::string> source;
  bool bad_flag = false;
  auto data = LoadRecsData(f, progress, &source, &bad_flag);
  if (!data.ok()) return Fail("recs train", data.status().message(), bad_flag ? 2 : 1);
  const recs::Split split = recs::SplitInteractions(data->interactions, data->num_users(), *split_spec, choice->seed());
  if (split.train.empty() || split.test.empty())
    return Fail("recs train", "the split " + split_spec->text + " leaves " +
                                  (split.train.empty() ? "no training" : "no test") + " interactions");
  TrainedModel model = TrainRecsModel(*choice, *data, split, progress, true);
  progress.StartEval();
  const recs::EvalResult r =
      recs::Evaluate(*model.scorer, data->num_users(), data->num_items(), split.train, split.test, *ks,
                     choice->threads(), [&](size_t d, size_t t) { progress.Eval(d, t); });

  recs::ModelManifest m;
  m.name = name;
  m.model = choice->model;
  m.train_seconds = model.seconds;
  m.users = data->num_users();
  m.items = data->num_items();
  m.dim = choice->model == "popularity" ? 0 : model.dim;
  m.config = choice->config;
  m.data = source;
  m.data["split"] = split_spec->text;
  m.data["seed"] = std::to_string(choice->seed());
  for (const auto& [k, v] : r.metrics) m.metrics[k] = v;
  recs::ModelRegistry registry(FileSystem::Default(), JoinPath(*data_dir, "models"));
  auto version = registry.Save(&m, model.weights);
  if (!version.ok()) return Fail("recs train", version.status().message());
  auto history = registry.CurrentHistory(name);
  const uint32_t current = history.ok() && !history->empty() ? (*history)[0] : 0;
  if (f.Has("json")) {
    std::string out = "{\"name\": " + Json(name) + ", \"version\": " + std::to_string(*version) +
                      ", \"current\": " + std::to_string(current) + ", \"model\": " + Json(m.model) +
                      ", \"path\": " + Json(JoinPath(registry.root(), name + "/" + std::to_string(*version))) +
                      ", \"metrics\": {";
    char buf[128];
    for (size_t i = 0; i < r.metrics.size(); ++i) {
      std::snprintf(buf, sizeof buf, "%s\"%s\": %.17g", i ? ", " : "", r.metrics[i].first.c_str(), r.metrics[i].second);
      out += buf;
    }
    std::printf("%s}}\n", out.c_str());
    return 0;
  }
  std::printf("stored %s@%u (%s%s; trained in %.2f s; ndcg@%d %.4f on the test part)%s\n", name.c_str(), *version,
              m.model.c_str(), model.detail.c_str(), model.seconds, (*ks)[0], r.Get("ndcg@" + std::to_string((*ks)[0])),
              current == *version ? ", current" : (", current is " + std::to_string(current)).c_str());
  return 0;
}

// promote, rollback and gc: what changes the registry.
int ChangeModels(const Flags& f, recs::ModelRegistry& registry, const std::string& action) {
  const std::vector<std::string>& pos = f.positional();
  if (action == "gc") return ModelsGc(f, registry);
  if (pos.size() != 2) return Fail("recs models", action + " takes one argument\n\n" + kModelsHelp, 2);
  if (action == "promote") {
    auto ref = recs::ParseModelRef(pos[1]);
    if (!ref.ok()) return Fail("recs models", ref.status().message(), 2);
    if (!ref->version) return Fail("recs models", "promote takes NAME@VERSION", 2);
    if (Status s = registry.Promote(ref->name, *ref->version); !s.ok()) return Fail("recs models", s.message());
    std::printf("%s: current version %u\n", ref->name.c_str(), *ref->version);
    return 0;
  }
  if (Status s = recs::ModelRegistry::CheckName(pos[1]); !s.ok()) return Fail("recs models", s.message(), 2);
  auto v = registry.Rollback(pos[1]);
  if (!v.ok()) return Fail("recs models", v.status().message());
  std::printf("%s: current version %u\n", pos[1].c_str(), *v);
  return 0;
}

int RecsModels(const std::vector<std::string>& args) {
  std::optional<Flags> parsed;
  if (auto exit = Parse("recs models", args, {"json!", "data-dir", "keep", "dry-run!", "governance-file"}, kModelsHelp,
                        &parsed))
    return *exit;
  const Flags& f = *parsed;
  const std::vector<std::string>& pos = f.positional();
  const std::string action = pos.empty() ? "list" : pos[0];
  auto data_dir = RecsDataDir(f);
  if (!data_dir.ok()) return Fail("recs models", data_dir.status().message(), 2);
  recs::ModelRegistry registry(FileSystem::Default(), JoinPath(*data_dir, "models"));
  if (action == "promote" || action == "rollback" || action == "gc") {
    // Registry changes are audited before they run (with --governance-file; fail closed).
    std::vector<std::string> settings = {"--data-dir=" + *data_dir};
    if (f.Has("governance-file")) settings.push_back("--governance-file=" + f.Get("governance-file"));
    auto config = Config::Load(ServeConfigKeys(), settings);
    if (!config.ok()) return Fail("recs models", config.status().message(), 2);
    auto audit = AdminAudit::Open(*config);
    if (!audit.ok()) return Fail("recs models", audit.status().message(), 2);
    if (!f.Has("dry-run")) {
      std::vector<std::string> words = {"recs", "models"};
      words.insert(words.end(), args.begin(), args.end());
      if (Status s = (*audit)->Begin(words, "models"); !s.ok()) return Fail("recs models " + action, NotAudited(s), 1);
    }
    return (*audit)->End(ChangeModels(f, registry, action));
  }
  if (f.Has("governance-file")) return Fail("recs models", "--governance-file applies to promote, rollback, gc", 2);
  if (f.Has("keep") || f.Has("dry-run")) return Fail("recs models", "--keep and --dry-run are gc's flags", 2);
  if (action != "list")
    return Fail("recs models", "unknown action '" + action + "' (list, promote, rollback or gc)", 2);
  if (pos.size() > 2) return Fail("recs models", "list takes at most one NAME", 2);
  std::vector<std::string> names;
  if (pos.size() == 2) {
    names.push_back(pos[1]);
  } else {
    auto all = registry.Names();
    if (!all.ok()) return Fail("recs models", all.status().message());
    names = *all;
  }
  std::string json = "{\"models\": [";
  if (!f.Has("json"))
    std::printf("%-16s %7s  %-10s %-20s %9s %9s  %s\n", "name", "version", "model", "created", "train s", "ndcg@10",
                "data");
  for (size_t n = 0; n < names.size(); ++n) {
    auto versions = registry.Versions(names[n]);
    if (!versions.ok()) return Fail("recs models", versions.status().message());
    json += std::string(n ? ", " : "") + "{\"name\": " + Json(names[n]) + ", \"versions\": [";
    for (size_t k = 0; k < versions->size(); ++k) {
      const auto& v = (*versions)[k];
      json += std::string(k ? ", " : "") + "{\"version\": " + std::to_string(v.version) +
              ", \"current\": " + (v.current ? "true" : "false");
      if (!v.manifest.ok()) {
        json += ", \"error\": " + Json(v.manifest.status().message()) + "}";
        if (!f.Has("json"))
          std::printf("%-16s %6u%s  damaged: %s\n", names[n].c_str(), v.version, v.current ? "*" : " ",
                      v.manifest.status().message().c_str());
        continue;
      }
      const recs::ModelManifest& m = v.manifest.value();
      auto it = m.metrics.find("ndcg@10");
      const double ndcg = it == m.metrics.end() ? NAN : it->second;
      std::string data;
      if (auto s = m.data.find("snapshot_id"); s != m.data.end()) data = "lake snapshot " + s->second;
      for (const char* key : {"flag.dataset", "flag.interactions"})
        if (auto d = m.data.find(key); d != m.data.end()) data = d->second;
      data += " " + (m.data.count("split") ? m.data.at("split") : std::string());
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.3f", m.train_seconds);
      json += ", \"model\": " + Json(m.model) + ", \"created_at\": " + Json(Utc(m.created_at_ms)) +
              ", \"train_seconds\": " + buf + ", \"data\": " + Json(data) + ", \"metrics\": {";
      bool first = true;
      for (const auto& [key, value] : m.metrics) {
        std::snprintf(buf, sizeof buf, "%.17g", value);
        json += std::string(first ? "" : ", ") + Json(key) + ": " + buf;
        first = false;
      }
      json += "}}";
      if (!f.Has("json"))
        std::printf("%-16s %6u%s  %-10s %-20s %9.2f %9.4f  %s\n", names[n].c_str(), v.version, v.current ? "*" : " ",
                    m.model.c_str(), Utc(m.created_at_ms).c_str(), m.train_seconds, ndcg, data.c_str());
    }
    json += "]}";
  }
  if (f.Has("json")) std::printf("%s]}\n", json.c_str());
  return 0;
}

}  // namespace watershed::app
