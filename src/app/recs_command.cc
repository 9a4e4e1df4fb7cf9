// `watershed recs eval|generate` and the dispatch of `watershed recs`: offline evaluation of the recommenders
// of src/recs on MovieLens-format or CSV interactions, an imported dataset, the lake's events or a stored
// model, and the planted benchmark generator (docs/recs.md). import, train and models: recs_models_command.cc.

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <thread>

#include "app/commands.h"
#include "app/flags.h"
#include "app/recs_support.h"
#include "core/file_system.h"
#include "core/json_text.h"
#include "recs/evaluator.h"
#include "recs/generator.h"
#include "recs/importers.h"
#include "recs/registry.h"
#include "recs/split.h"
#include "recs/stored_model.h"

namespace watershed::app {
namespace {

constexpr const char* kHelp =
    "usage: watershed recs import (--interactions FILE|DIR --format FORMAT | --from-lake ROOT) [--name NAME]\n"
    "       watershed recs train --model MODEL [--name NAME] (--dataset NAME | --interactions ... | --from-lake ...)\n"
    "       watershed recs eval --interactions FILE|DIR --format FORMAT [flags]    (or --dataset, --from-lake)\n"
    "       watershed recs eval --registry NAME[@VERSION]\n"
    "       watershed recs models [list [NAME]] | models promote NAME@VERSION | models rollback NAME\n"
    "       watershed recs generate --out DIR --format FORMAT [--users N] [--items M] [--seed S] [flags]\n"
    "       watershed recs experiment report|promote NAME (--events FILE | --from-lake ROOT) [--json]\n"
    "       watershed recs experiment assign USER | experiment simulate NAME --events-out FILE\n"
    "       watershed recs rules check FILE\n"
    "       watershed recs ACTION --help\n\n"
    "Recommenders (docs/recs.md). FORMAT is movielens-100k (u.data, u.item), movielens-1m (ratings.dat,\n"
    "movies.dat), movielens-csv (ratings.csv, movies.csv) or csv (user,item,rating_or_weight,unix-time).\n"
    "MODEL is popularity, bpr, two-tower or ranker. import writes a normalised interactions file in the\n"
    "data dir; train writes a model version to the registry (<data-dir>/models/NAME/VERSION); eval trains\n"
    "and evaluates, or evaluates a stored model; models lists, promotes and rolls back; generate writes\n"
    "the planted benchmark; experiment reports an A/B experiment and promotes its winner; rules checks a\n"
    "post-processing rules file.\n";

constexpr const char* kEvalHelp =
    "usage: watershed recs eval --interactions FILE|DIR --format movielens-100k|movielens-1m|movielens-csv|csv\n"
    "         [--split stratified:0.75] [--model popularity|bpr|two-tower|ranker] [--k 10[,20,...]] [--seed 42]\n"
    "         [--positive-rating 4] [--threads 1] [--json] [--progress | --quiet]\n"
    "         [--epochs N] [--learning-rate R] [--l2 L] [--patience P]\n"
    "         [--factors 32]  (bpr)\n"
    "         [--dim 32] [--history 32] [--batch 256] [--negatives 64] [--temperature 0.2]  (two-tower, ranker)\n"
    "         [--candidates 200] [--ranker-negatives 8] [--holdout 0.2] [--ranker-l2 0.001] [--no-refit]  (ranker)\n"
    "       watershed recs eval --dataset NAME|FILE [--data-dir DIR] [the same --split, --model, ... flags]\n"
    "       watershed recs eval --from-lake ROOT [--region REGION] [--snapshot ID] [--min-watch-ms 3000]\n"
    "         [--share-weight 2] [--reply-weight 3] [--items FILE.csv|FILE.json | --catalog-dir DIR | --data-dir DIR]\n"
    "         [the same --split, --model, ... flags, but not --positive-rating]\n"
    "       watershed recs eval --registry NAME[@VERSION] [--data-dir DIR] [--k 10] [--threads 1] [--json]\n\n"
    "Loads the interactions (a directory with the format's files, or its ratings file), keeps ratings\n"
    ">= --positive-rating as positives, splits them, trains the model on the training part and ranks,\n"
    "for every user with test interactions, all items not in their training part. Prints AUC and\n"
    "Precision, Recall, NDCG, MAP, HR and catalogue coverage at each K: a table, or with --json\n"
    "{\"model\": ..., \"split\": ..., \"metrics\": {\"ndcg@10\": ..., ...}}.\n"
    "  --dataset        a file written by `recs import` (a NAME: <data-dir>/recs/interactions/NAME.bin)\n"
    "  --from-lake      the interactions are the rows of <ROOT>/<region>/events at a snapshot (--snapshot,\n"
    "                   default the current one; --region may be left out when one region has a table):\n"
    "                   a view with watch_ms >= --min-watch-ms (3000) is a positive of weight 1, a share\n"
    "                   of --share-weight (2), a reply of --reply-weight (3); one interaction per viewer\n"
    "                   and story, of the strongest weight. Items: the stories of --items FILE (the\n"
    "                   format of `watershed catalog import`), else of the story catalogue (catalog-dir,\n"
    "                   default <data-dir>/catalog, data-dir default ./watershed-data; none there: the\n"
    "                   stories engaged with, without features)\n"
    "  --registry       evaluates a stored model (the current version, or @VERSION) on the test part of\n"
    "                   the data and split its manifest names (the data's SHA-256 is checked)\n"
    "  --split          stratified[:R] (per user, random R train; default 0.75), leave-last-out,\n"
    "                   temporal:F (global cut at fraction F of the time range) or temporal:@UNIXTIME\n"
    "  --model          popularity (count of training interactions), bpr (matrix factorisation),\n"
    "                   two-tower (user tower: id + recent history; item tower: id + tags/author;\n"
    "                   in-batch sampled softmax with log-Q correction + uniform negatives) or ranker\n"
    "                   (logistic regression re-ranking the two-tower's top --candidates with popularity,\n"
    "                   age and user-tag/author affinity features)\n"
    "  --seed           the split and the models are deterministic for a seed (with --threads 1)\n"
    "  --threads        Hogwild training and the evaluation; >1 makes bpr/two-tower vary slightly per run\n"
    "  --progress       epoch, loss, validation NDCG and ETA on stderr (default: when stderr is a\n"
    "                   terminal and not --quiet)\n"
    "  Training (bpr / two-tower): --epochs (at most; early stopping on a validation NDCG@10; default\n"
    "       40 / 30), --learning-rate (SGD 0.05 / Adagrad 0.1), --l2 (0.002 / 0.00001), --patience\n"
    "       (epochs without a better validation NDCG before stopping; 3 / 2)\n"
    "  bpr: --factors (latent factors)\n"
    "  two-tower: --dim (embedding and output size), --history (last N training items pooled into the\n"
    "       user tower), --batch (interactions per batch: the in-batch negatives), --negatives (uniform\n"
    "       negatives per batch), --temperature (of the softmax over cosine scores)\n"
    "  ranker: its two-tower takes the two-tower flags; --candidates (re-ranked per user), --ranker-negatives\n"
    "       (per held-out positive, from the candidates), --holdout (share of each user's latest training\n"
    "       interactions the ranker learns from), --ranker-l2, --no-refit (rank with the two-tower trained\n"
    "       without the held-out interactions instead of one retrained on all)\n";

constexpr const char* kGenerateHelp =
    "usage: watershed recs generate --out DIR --format movielens-100k|movielens-1m|movielens-csv|csv\n"
    "         [--users 1000] [--items 500] [--seed 42] [--clusters 8] [--interactions-per-user 40]\n"
    "         [--in-cluster 0.8]\n\n"
    "Writes the planted benchmark (docs/recs.md): users and items in latent clusters; a user's\n"
    "interaction is an item of its own cluster (rated 4-5) with probability --in-cluster, else any\n"
    "item (rated 1-5); Zipf popularity; growing timestamps. Same flags, same bytes.\n";

std::string JsonString(const std::string& s) {
  std::string out;
  AppendJsonString(s, &out);
  return out;
}

void PrintTable(const recs::EvalResult& r, const std::vector<int>& ks) {
  std::printf("%-10s", "metric");
  for (int k : ks) std::printf(" %9s", ("@" + std::to_string(k)).c_str());
  std::printf("\n");
  for (const char* name : {"precision", "recall", "ndcg", "map", "hr", "coverage"}) {
    std::printf("%-10s", name);
    for (int k : ks) std::printf(" %9.4f", r.Get(std::string(name) + "@" + std::to_string(k)));
    std::printf("\n");
  }
  std::printf("%-10s %9.4f\n", "auc", r.Get("auc"));
}

// The start of `recs generate`: parse `args` against `known` (plus --help), print `help` for --help, refuse
// positional arguments, require `first` and --format, and parse the format. Returns the exit code when the
// action is over.
struct Start {
  std::optional<Flags> flags;
  recs::Format format = recs::Format::kCsv;
  std::optional<int> exit;
};
Start Begin(const std::string& command, const std::vector<std::string>& args, std::vector<std::string> known,
            const std::string& first, const char* help) {
  Start s;
  known.push_back("help!");
  auto parsed = Flags::Parse(args, known);
  if (!parsed.ok()) return {{}, {}, Fail(command, parsed.status().message() + "\n\n" + help, 2)};
  const Flags& f = *parsed;
  if (f.Has("help")) {
    std::printf("%s", help);
    return {{}, {}, 0};
  }
  if (!f.positional().empty()) return {{}, {}, Fail(command, "unexpected argument '" + f.positional()[0] + "'", 2)};
  if (!f.Has(first) || !f.Has("format"))
    return {{}, {}, Fail(command, "--" + first + " and --format are required\n\n" + help, 2)};
  auto format = recs::ParseFormat(f.Get("format"));
  if (!format.ok()) return {{}, {}, Fail(command, "--format: " + format.status().message(), 2)};
  s.format = *format;
  s.flags = std::move(*parsed);
  return s;
}

// Prints the result as JSON (one object) or as the header lines and the table.
void PrintResult(const Flags& f, const std::string& model, const std::string& detail, const std::string& split,
                 uint64_t seed, const recs::Dataset& data, const recs::Split& parts,
                 const std::map<std::string, std::string>& source, const recs::EvalResult& r,
                 const std::vector<int>& ks, double train_s, double eval_s, const std::string& extra_json) {
  const bool lake = source.count("snapshot_id") > 0;
  if (f.Has("json")) {
    std::string format = lake ? "lake" : f.Has("dataset") ? "dataset" : f.Get("format");
    if (auto it = source.find("flag.format"); !f.Has("format") && it != source.end()) format = it->second;
    std::string out =
        "{\"model\": " + JsonString(model) + extra_json + ", \"split\": " + JsonString(split) +
        ", \"format\": " + JsonString(format) +
        (lake ? ", \"region\": " + JsonString(source.at("region")) + ", \"snapshot_id\": " + source.at("snapshot_id")
              : std::string()) +
        ", \"seed\": " + std::to_string(seed) + ", \"users\": " + std::to_string(data.num_users()) +
        ", \"items\": " + std::to_string(data.num_items()) + ", \"train\": " + std::to_string(parts.train.size()) +
        ", \"test\": " + std::to_string(parts.test.size()) +
        ", \"users_evaluated\": " + std::to_string(r.users_evaluated) +
        ", \"users_without_test\": " + std::to_string(r.users_without_test);
    char buf[256];
    struct rusage usage {};
    ::getrusage(RUSAGE_SELF, &usage);  // ru_maxrss: KiB on Linux
    std::snprintf(buf, sizeof buf, ", \"train_seconds\": %.3f, \"eval_seconds\": %.3f, \"peak_rss_mib\": %.1f", train_s,
                  eval_s, static_cast<double>(usage.ru_maxrss) / 1024);
    out += buf;
    out += ", \"metrics\": {";
    for (size_t i = 0; i < r.metrics.size(); ++i) {
      std::snprintf(buf, sizeof buf, "%s\"%s\": %.17g", i ? ", " : "", r.metrics[i].first.c_str(), r.metrics[i].second);
      out += buf;
    }
    std::printf("%s}}\n", out.c_str());
    return;
  }
  if (lake)
    std::printf("lake %s, region %s, events snapshot %s (%s events in %s files)\n", source.at("flag.from-lake").c_str(),
                source.at("region").c_str(), source.at("snapshot_id").c_str(), source.at("events").c_str(),
                source.at("event_files").c_str());
  std::printf("model %s%s, split %s, seed %llu: %zu users, %zu items; %zu train, %zu test interactions\n",
              model.c_str(), detail.c_str(), split.c_str(), static_cast<unsigned long long>(seed), data.num_users(),
              data.num_items(), parts.train.size(), parts.test.size());
  std::printf("%zu users evaluated (%zu without test interactions skipped); train %.2f s, eval %.2f s\n\n",
              r.users_evaluated, r.users_without_test, train_s, eval_s);
  PrintTable(r, ks);
}

// `recs eval --registry NAME[@VERSION]`: the stored model on the test part of the data and split it was trained on.
int EvalStored(const Flags& f, const std::vector<int>& ks) {
  for (const std::string& key : DataFlagNames())
    if (key != "data-dir" && f.Has(key))
      return Fail("recs eval", "--registry takes no --" + key + ": the model's manifest names its data", 2);
  for (const std::string& key : ModelFlagNames())
    if (key != "threads" && f.Has(key))
      return Fail("recs eval", "--registry takes no --" + key + ": the model is trained", 2);
  if (f.Has("split")) return Fail("recs eval", "--registry takes no --split: the manifest names it", 2);
  auto ref = recs::ParseModelRef(f.Get("registry"));
  if (!ref.ok()) return Fail("recs eval", "--registry: " + ref.status().message(), 2);
  unsigned threads = 1;
  if (Status s = ReadNumber(f, "threads", &threads, 1u, 256u); !s.ok()) return Fail("recs eval", s.message(), 2);
  auto data_dir = RecsDataDir(f);
  if (!data_dir.ok()) return Fail("recs eval", data_dir.status().message(), 2);
  const recs::ModelRegistry registry(FileSystem::Default(), JoinPath(*data_dir, "models"));
  auto loaded = registry.Load(*ref);
  if (!loaded.ok()) return Fail("recs eval", loaded.status().message());
  const recs::ModelManifest& m = loaded->manifest;
  RecsProgress progress(ProgressWanted(f), m.model);
  auto data = ReloadRecsData(m.data, progress);
  if (!data.ok()) return Fail("recs eval", m.name + "@" + std::to_string(m.version) + ": " + data.status().message());
  auto split_spec = recs::ParseSplit(m.data.count("split") ? m.data.at("split") : "");
  auto seed = ParseNumber<uint64_t>("seed", m.data.count("seed") ? m.data.at("seed") : "");
  if (!split_spec.ok() || !seed.ok())
    return Fail("recs eval",
                m.name + "@" + std::to_string(m.version) + ": the manifest's data has no valid split and seed");
  const recs::Split split = recs::SplitInteractions(data->interactions, data->num_users(), *split_spec, *seed);
  auto scorer = recs::ScorerFromStored(*loaded, *data, split.train);
  if (!scorer.ok()) return Fail("recs eval", scorer.status().message());
  progress.StartEval();
  const auto t = std::chrono::steady_clock::now();
  const recs::EvalResult r = recs::Evaluate(**scorer, data->num_users(), data->num_items(), split.train, split.test, ks,
                                            threads, [&](size_t d, size_t n) { progress.Eval(d, n); });
  const std::string extra = ", \"name\": " + JsonString(m.name) + ", \"version\": " + std::to_string(m.version);
  PrintResult(f, m.model, " (" + m.name + "@" + std::to_string(m.version) + ")", split_spec->text, *seed, *data, split,
              m.data, r, ks, m.train_seconds, SecondsSince(t), extra);
  return 0;
}

int Eval(const std::vector<std::string>& args) {
  std::vector<std::string> known = DataFlagNames();
  for (const std::string& k : ModelFlagNames()) known.push_back(k);
  for (const char* k : {"split", "k", "json!", "progress!", "quiet!", "registry", "help!"}) known.push_back(k);
  auto parsed = Flags::Parse(args, known);
  if (!parsed.ok()) return Fail("recs eval", parsed.status().message() + "\n\n" + kEvalHelp, 2);
  const Flags& f = *parsed;
  if (f.Has("help")) {
    std::printf("%s", kEvalHelp);
    return 0;
  }
  if (!f.positional().empty()) return Fail("recs eval", "unexpected argument '" + f.positional()[0] + "'", 2);
  auto ks = ParseKs(f.Get("k", "10"));
  if (!ks.ok()) return Fail("recs eval", ks.status().message(), 2);
  if (f.Has("registry")) return EvalStored(f, *ks);
  auto split_spec = recs::ParseSplit(f.Get("split", "stratified:0.75"));
  if (!split_spec.ok()) return Fail("recs eval", "--split: " + split_spec.status().message(), 2);
  auto choice = ReadModelChoice(f, "bpr");
  if (!choice.ok()) return Fail("recs eval", choice.status().message(), 2);
  RecsProgress progress(ProgressWanted(f), choice->model);

  const auto t0 = std::chrono::steady_clock::now();
  std::map<std::string, std::string> source;
  bool bad_flag = false;
  auto data = LoadRecsData(f, progress, &source, &bad_flag);
  if (!data.ok()) {
    const std::string help =
        bad_flag && data.status().message().find("one of") == 0 ? "\n\n" + std::string(kEvalHelp) : "";
    return Fail("recs eval", data.status().message() + help, bad_flag ? 2 : 1);
  }
  progress.Note("loaded " + std::to_string(data->interactions.size()) + " positives (" +
                std::to_string(data->below_threshold) +
                (f.Has("from-lake") ? " events below the threshold), " : " ratings below the threshold), ") +
                std::to_string(data->num_users()) + " users, " + std::to_string(data->num_items()) + " items in " +
                std::to_string(SecondsSince(t0)) + " s");
  const recs::Split split = recs::SplitInteractions(data->interactions, data->num_users(), *split_spec, choice->seed());
  if (split.train.empty() || split.test.empty())
    return Fail("recs eval", "the split " + split_spec->text + " leaves " +
                                 (split.train.empty() ? "no training" : "no test") + " interactions");
  const TrainedModel model = TrainRecsModel(*choice, *data, split, progress, false);
  progress.StartEval();
  const auto t2 = std::chrono::steady_clock::now();
  const recs::EvalResult r =
      recs::Evaluate(*model.scorer, data->num_users(), data->num_items(), split.train, split.test, *ks,
                     choice->threads(), [&](size_t d, size_t t) { progress.Eval(d, t); });
  PrintResult(f, choice->model, model.detail, split_spec->text, choice->seed(), *data, split, source, r, *ks,
              model.seconds, SecondsSince(t2), "");
  return 0;
}

int Generate(const std::vector<std::string>& args) {
  Start start = Begin("recs generate", args,
                      {"out", "format", "users", "items", "seed", "clusters", "interactions-per-user", "in-cluster"},
                      "out", kGenerateHelp);
  if (start.exit) return *start.exit;
  const Flags& f = *start.flags;
  const recs::Format format = start.format;
  recs::PlantedConfig c;
  for (const Status& s :
       {ReadNumber(f, "users", &c.users, 1u, 100'000'000u), ReadNumber(f, "items", &c.items, 1u, 100'000'000u),
        ReadNumber(f, "seed", &c.seed, uint64_t{0}, ~uint64_t{0}), ReadNumber(f, "clusters", &c.clusters, 1u, 100000u),
        ReadNumber(f, "interactions-per-user", &c.interactions_per_user, 1.0, 1e6),
        ReadNumber(f, "in-cluster", &c.in_cluster, 0.0, 1.0)})
    if (!s.ok()) return Fail("recs generate", s.message(), 2);
  if (Status s = recs::WritePlanted(c, format, f.Get("out")); !s.ok()) return Fail("recs generate", s.message());
  const recs::FormatFiles files = recs::FilesOf(format);
  std::printf("wrote %s%s%s in %s (%u users, %u items, seed %llu)\n", files.ratings.c_str(),
              files.items.empty() ? "" : " and ", files.items.c_str(), f.Get("out").c_str(), c.users, c.items,
              static_cast<unsigned long long>(c.seed));
  return 0;
}

}  // namespace

int RecsCommand(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::fputs(kHelp, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "eval") return Eval(rest);
  if (args[0] == "generate") return Generate(rest);
  if (args[0] == "import") return RecsImport(rest);
  if (args[0] == "train") return RecsTrain(rest);
  if (args[0] == "models") return RecsModels(rest);
  if (args[0] == "experiment") return RecsExperiment(rest);
  if (args[0] == "rules") return RecsRules(rest);
  return Fail(
      "recs",
      "unknown action '" + args[0] + "' (import, train, eval, models, generate, experiment or rules)\n\n" + kHelp, 2);
}

}  // namespace watershed::app
