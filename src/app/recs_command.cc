// `watershed recs eval|generate`: offline evaluation of the recommenders of
// src/recs on MovieLens-format or CSV interactions or on the lake's events,
// and the planted benchmark generator (docs/recs.md).

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <thread>

#include "app/commands.h"
#include "app/config.h"
#include "app/flags.h"
#include "core/event.h"
#include "core/file_system.h"
#include "lake/tables.h"
#include "recs/bpr.h"
#include "recs/evaluator.h"
#include "recs/generator.h"
#include "recs/importers.h"
#include "recs/lake_interactions.h"
#include "recs/popularity.h"
#include "recs/split.h"
#include "recs/story_items.h"
#include "recs/two_tower.h"

namespace watershed::app {
namespace {

constexpr const char* kHelp =
    "usage: watershed recs eval --interactions FILE|DIR --format FORMAT [flags]\n"
    "       watershed recs eval --from-lake ROOT [--region eu] [--snapshot ID] [flags]\n"
    "       watershed recs generate --out DIR --format FORMAT [--users N] [--items M] [--seed S] [flags]\n"
    "       watershed recs eval --help | watershed recs generate --help\n\n"
    "Offline evaluation of recommenders (docs/recs.md). FORMAT is movielens-100k (u.data, u.item),\n"
    "movielens-1m (ratings.dat, movies.dat), movielens-csv (ratings.csv, movies.csv) or csv\n"
    "(user,item,rating_or_weight,unix-time). generate writes the planted benchmark in that format.\n";

constexpr const char* kEvalHelp =
    "usage: watershed recs eval --interactions FILE|DIR --format movielens-100k|movielens-1m|movielens-csv|csv\n"
    "         [--split stratified:0.75] [--model popularity|bpr|two-tower] [--k 10[,20,...]] [--seed 42]\n"
    "         [--positive-rating 4] [--threads 1] [--json] [--progress]\n"
    "         [--epochs N] [--learning-rate R] [--l2 L] [--patience P]\n"
    "         [--factors 32]  (bpr)\n"
    "         [--dim 32] [--history 32] [--batch 256] [--negatives 64] [--temperature 0.2]  (two-tower)\n"
    "       watershed recs eval --from-lake ROOT [--region REGION] [--snapshot ID] [--min-watch-ms 3000]\n"
    "         [--share-weight 2] [--reply-weight 3] [--items FILE.csv|FILE.json | --catalog-dir DIR | --data-dir DIR]\n"
    "         [the same --split, --model, ... flags, but not --positive-rating]\n\n"
    "Loads the interactions (a directory with the format's files, or its ratings file), keeps ratings\n"
    ">= --positive-rating as positives, splits them, trains the model on the training part and ranks,\n"
    "for every user with test interactions, all items not in their training part. Prints AUC and\n"
    "Precision, Recall, NDCG, MAP, HR and catalogue coverage at each K: a table, or with --json\n"
    "{\"model\": ..., \"split\": ..., \"metrics\": {\"ndcg@10\": ..., ...}}.\n"
    "  --from-lake      the interactions are the rows of <ROOT>/<region>/events at a snapshot (--snapshot,\n"
    "                   default the current one; --region may be left out when one region has a table):\n"
    "                   a view with watch_ms >= --min-watch-ms (3000) is a positive of weight 1, a share\n"
    "                   of --share-weight (2), a reply of --reply-weight (3); one interaction per viewer\n"
    "                   and story, of the strongest weight. Items: the stories of --items FILE (the\n"
    "                   format of `watershed catalog import`), else of the story catalogue (catalog-dir,\n"
    "                   default <data-dir>/catalog, data-dir default ./watershed-data; none there: the\n"
    "                   stories engaged with, without features)\n"
    "  --split          stratified[:R] (per user, random R train; default 0.75), leave-last-out,\n"
    "                   temporal:F (global cut at fraction F of the time range) or temporal:@UNIXTIME\n"
    "  --model          popularity (count of training interactions), bpr (matrix factorisation) or\n"
    "                   two-tower (user tower: id + recent history; item tower: id + tags/author;\n"
    "                   in-batch sampled softmax with log-Q correction + uniform negatives)\n"
    "  --seed           the split and the models are deterministic for a seed (with --threads 1)\n"
    "  --threads        Hogwild training and the evaluation; >1 makes bpr/two-tower vary slightly per run\n"
    "  --progress       epoch, loss, validation NDCG and ETA on stderr (default: when stderr is a terminal)\n"
    "  Training (bpr / two-tower): --epochs (at most; early stopping on a validation NDCG@10; default\n"
    "       40 / 30), --learning-rate (SGD 0.05 / Adagrad 0.1), --l2 (0.002 / 0.00001), --patience\n"
    "       (epochs without a better validation NDCG before stopping; 3 / 2)\n"
    "  bpr: --factors (latent factors)\n"
    "  two-tower: --dim (embedding and output size), --history (last N training items pooled into the\n"
    "       user tower), --batch (interactions per batch: the in-batch negatives), --negatives (uniform\n"
    "       negatives per batch), --temperature (of the softmax over cosine scores)\n";

constexpr const char* kGenerateHelp =
    "usage: watershed recs generate --out DIR --format movielens-100k|movielens-1m|movielens-csv|csv\n"
    "         [--users 1000] [--items 500] [--seed 42] [--clusters 8] [--interactions-per-user 40]\n"
    "         [--in-cluster 0.8]\n\n"
    "Writes the planted benchmark (docs/recs.md): users and items in latent clusters; a user's\n"
    "interaction is an item of its own cluster (rated 4-5) with probability --in-cluster, else any\n"
    "item (rated 1-5); Zipf popularity; growing timestamps. Same flags, same bytes.\n";

// Epoch lines and an evaluation bar with ETA on stderr.
class Progress {
 public:
  Progress(bool on, std::string model) : on_(on), tty_(::isatty(2)), model_(std::move(model)) {}
  void Epoch(const recs::EpochReport& r) {
    if (!on_) return;
    const double eta = r.seconds / r.epoch * (r.max_epochs - r.epoch);
    std::fprintf(stderr, "%s epoch %u/%u  loss %.4f  validation ndcg@10 %.4f%s  %.1f s  (ETA <= %.0f s)\n",
                 model_.c_str(), r.epoch, r.max_epochs, r.loss, r.validation, r.best ? " *" : "  ", r.seconds, eta);
  }
  void Eval(size_t done, size_t total) {
    if (!on_) return;
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - eval_start_).count();
    const double eta = done ? s / static_cast<double>(done) * static_cast<double>(total - done) : 0;
    if (tty_) {  // redrawn in place
      std::fprintf(stderr, "\reval %zu/%zu users  %.1f s  ETA %.1f s   ", done, total, s, eta);
      if (done == total) std::fputc('\n', stderr);
    } else if (const size_t quarter = total ? done * 4 / total : 4; quarter > last_quarter_) {  // a log: 4 lines
      last_quarter_ = quarter;
      std::fprintf(stderr, "eval %zu/%zu users  %.1f s  ETA %.1f s\n", done, total, s, eta);
    }
  }
  void StartEval() { eval_start_ = std::chrono::steady_clock::now(); }
  void Note(const std::string& line) {
    if (on_) std::fprintf(stderr, "%s\n", line.c_str());
  }

 private:
  bool on_;
  bool tty_;
  std::string model_;
  size_t last_quarter_ = 0;
  std::chrono::steady_clock::time_point eval_start_;
};

// Sets *into from flag `key` when given (a number in [min, max]).
template <typename T>
Status ReadNumber(const Flags& f, const std::string& key, T* into, T min, T max) {
  auto v = f.GetNumber<T>(key, *into, min, max);
  if (!v.ok()) return v.status();
  *into = *v;
  return Status::Ok();
}

Result<std::vector<int>> ParseKs(const std::string& text) {
  std::vector<int> ks;
  size_t start = 0;
  while (true) {
    size_t comma = text.find(',', start);
    const std::string part = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    ASSIGN_OR_RETURN(int k, ParseNumber<int>("--k", part, 1, 100000));
    ks.push_back(k);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return ks;
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  return out + "\"";
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

// The common start of an action: parse `args` against `known` (plus --help),
// print `help` for --help, refuse positional arguments, require `first` and
// --format, and parse the format. Returns the exit code when the action is over.
struct Start {
  std::optional<Flags> flags;
  recs::Format format = recs::Format::kCsv;
  std::optional<int> exit;
};
Start Begin(const std::string& command, const std::vector<std::string>& args, std::vector<std::string> known,
            const std::string& first, const char* help, const std::string& instead = "") {
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
  if (!instead.empty() && f.Has(instead)) {  // e.g. --from-lake: no file, no format
    if (f.Has(first) || f.Has("format") || f.Has("positive-rating"))
      return {{}, {}, Fail(command, "--" + instead + " takes no --" + first + ", --format or --positive-rating", 2)};
    s.flags = std::move(*parsed);
    return s;
  }
  if (!instead.empty()) {
    for (const char* only :
         {"region", "snapshot", "min-watch-ms", "share-weight", "reply-weight", "items", "catalog-dir", "data-dir"})
      if (f.Has(only)) return {{}, {}, Fail(command, std::string("--") + only + " applies to --" + instead, 2)};
  }
  if (!f.Has(first) || !f.Has("format")) {
    const std::string or_instead = instead.empty() ? "" : " (or --" + instead + ")";
    return {{}, {}, Fail(command, "--" + first + " and --format are required" + or_instead + "\n\n" + help, 2)};
  }
  auto format = recs::ParseFormat(f.Get("format"));
  if (!format.ok()) return {{}, {}, Fail(command, "--format: " + format.status().message(), 2)};
  s.format = *format;
  s.flags = std::move(*parsed);
  return s;
}

// What --from-lake read, for the report.
struct LakeSource {
  std::string region;
  int64_t snapshot_id = 0;
  size_t events = 0, files = 0;
  bool bad_flag = false;  // the error is the flags' (exit 2), not the data's
};

// The region of --region, else the only one under `root` with an events table.
Result<Region> LakeRegion(const Flags& f, const std::string& root) {
  if (f.Has("region")) {
    auto r = ParseRegion(f.Get("region"));
    if (!r) return Status::InvalidArgument("--region: unknown region '" + f.Get("region") + "' (us, eu, apac)");
    return *r;
  }
  std::vector<Region> found;
  for (int r = 0; r < kRegionCount; ++r)
    if (lake::LakeTableExists(FileSystem::Default(),
                              lake::TableLocation(root, static_cast<Region>(r), lake::LakeTableId::kEvents)))
      found.push_back(static_cast<Region>(r));
  if (found.size() == 1) return found[0];
  std::string names;
  for (Region r : found) names += (names.empty() ? "" : ", ") + std::string(RegionName(r));
  if (found.empty()) return Status::NotFound("no events table under " + root + " (<root>/<region>/events)");
  return Status::InvalidArgument("several regions have an events table under " + root + " (" + names +
                                 "): give --region");
}

// The interactions of the lake's events table and the items of --items, else of the catalogue.
Result<recs::Dataset> LoadFromLake(const Flags& f, std::optional<int64_t> snapshot,
                                   const recs::EngagementOptions& engagement, LakeSource* source, Progress& progress) {
  FileSystem* fs = FileSystem::Default();
  const std::string root = f.Get("from-lake");
  auto region = LakeRegion(f, root);
  if (!region.ok()) {
    source->bad_flag = region.status().code() == StatusCode::kInvalidArgument;
    return region.status();
  }
  source->region = std::string(RegionName(*region));
  std::vector<catalog::StoryRecord> stories;
  if (f.Has("items")) {
    if (f.Has("catalog-dir") || f.Has("data-dir")) {
      source->bad_flag = true;
      return Status::InvalidArgument("--items replaces the catalogue: give it without --catalog-dir and --data-dir");
    }
    ASSIGN_OR_RETURN(stories, recs::ReadItemsFile(fs, f.Get("items")));
  } else {
    std::vector<std::string> settings;
    for (const char* key : {"catalog-dir", "data-dir"})
      if (f.Has(key)) settings.push_back(std::string("--") + key + "=" + f.Get(key));
    ASSIGN_OR_RETURN(Config config, Config::Load(ServeConfigKeys(), settings));
    std::string dir = config.Get("catalog-dir");
    if (dir.empty()) dir = JoinPath(config.Get("data-dir"), "catalog");
    auto read = recs::ReadCatalogStories(fs, dir);
    if (read.ok()) {
      stories = std::move(read).value();
    } else if (read.status().code() == StatusCode::kNotFound && !f.Has("catalog-dir")) {
      progress.Note("no story catalogue at " + dir + ": the items are the stories engaged with, without features");
    } else {
      return read.status();
    }
  }
  ASSIGN_OR_RETURN(
      recs::LakeEvents events,
      recs::ReadEngagementEvents(fs, lake::TableLocation(root, *region, lake::LakeTableId::kEvents), snapshot));
  source->snapshot_id = events.snapshot_id;
  source->events = events.events.size();
  source->files = events.files;
  recs::Dataset data;
  recs::AddStories(stories, &data);
  recs::AddEngagements(std::move(events.events), engagement, &data);
  if (data.interactions.empty())
    return Status::NotFound("no positive interaction in the events of snapshot " + std::to_string(source->snapshot_id) +
                            " (" + std::to_string(source->events) + " events, " + std::to_string(data.below_threshold) +
                            " below the threshold)");
  return data;
}

int Eval(const std::vector<std::string>& args) {
  Start start = Begin("recs eval", args,
                      {"interactions",    "format",       "split",     "model",       "k",        "seed",
                       "positive-rating", "threads",      "json!",     "progress!",   "factors",  "epochs",
                       "learning-rate",   "l2",           "patience",  "dim",         "history",  "batch",
                       "negatives",       "temperature",  "from-lake", "region",      "snapshot", "min-watch-ms",
                       "share-weight",    "reply-weight", "items",     "catalog-dir", "data-dir"},
                      "interactions", kEvalHelp, "from-lake");
  if (start.exit) return *start.exit;
  const Flags& f = *start.flags;
  const recs::Format format = start.format;
  auto split_spec = recs::ParseSplit(f.Get("split", "stratified:0.75"));
  if (!split_spec.ok()) return Fail("recs eval", "--split: " + split_spec.status().message(), 2);
  const std::string model_name = f.Get("model", "bpr");
  if (model_name != "popularity" && model_name != "bpr" && model_name != "two-tower")
    return Fail("recs eval", "--model must be popularity, bpr or two-tower, got '" + model_name + "'", 2);
  auto ks = ParseKs(f.Get("k", "10"));
  if (!ks.ok()) return Fail("recs eval", ks.status().message(), 2);
  double positive = 4;
  recs::BprConfig bpr;
  recs::TwoTowerConfig tt;
  // The flags both trainers share are read once, into the chosen model's config (the defaults differ per model;
  // popularity trains nothing and takes BPR's, which it ignores).
  const bool two_tower = model_name == "two-tower";
  recs::TrainingConfig& training = two_tower ? tt.training : bpr.training;
  float& learning_rate = two_tower ? tt.learning_rate : bpr.learning_rate;
  float& l2 = two_tower ? tt.l2 : bpr.l2;
  for (const Status& s :
       {ReadNumber(f, "seed", &training.seed, uint64_t{0}, ~uint64_t{0}),
        ReadNumber(f, "positive-rating", &positive, -1e9, 1e9), ReadNumber(f, "threads", &training.threads, 1u, 256u),
        ReadNumber(f, "epochs", &training.max_epochs, 1u, 100000u),
        ReadNumber(f, "patience", &training.patience, 1u, 100000u),
        ReadNumber(f, "learning-rate", &learning_rate, 1e-6f, 10.0f), ReadNumber(f, "l2", &l2, 0.0f, 10.0f),
        ReadNumber(f, "factors", &bpr.factors, 1u, 1024u), ReadNumber(f, "dim", &tt.dim, 1u, 1024u),
        ReadNumber(f, "history", &tt.history, 0u, 100000u), ReadNumber(f, "batch", &tt.batch, 1u, 1000000u),
        ReadNumber(f, "negatives", &tt.negatives, 0u, 1000000u),
        ReadNumber(f, "temperature", &tt.temperature, 1e-3f, 100.0f)})
    if (!s.ok()) return Fail("recs eval", s.message(), 2);
  training.validation_k = 10;  // the progress line prints ndcg@10
  const uint64_t seed = training.seed;
  const unsigned threads = training.threads;
  const bool json = f.Has("json");
  Progress progress(f.Has("progress") || ::isatty(2), model_name);

  recs::EngagementOptions engagement;
  for (const Status& s : {ReadNumber(f, "min-watch-ms", &engagement.min_watch_ms, 0u, 86'400'000u),
                          ReadNumber(f, "share-weight", &engagement.share_weight, 0.0f, 1e6f),
                          ReadNumber(f, "reply-weight", &engagement.reply_weight, 0.0f, 1e6f)})
    if (!s.ok()) return Fail("recs eval", s.message(), 2);
  std::optional<int64_t> snapshot;
  if (f.Has("snapshot")) {
    auto id = ParseNumber<int64_t>("--snapshot", f.Get("snapshot"));
    if (!id.ok()) return Fail("recs eval", id.status().message(), 2);
    snapshot = *id;
  }
  const auto t0 = std::chrono::steady_clock::now();
  LakeSource from_lake;
  auto data = f.Has("from-lake") ? LoadFromLake(f, snapshot, engagement, &from_lake, progress)
                                 : recs::LoadDataset(f.Get("interactions"), format, {.positive_rating = positive});
  if (!data.ok()) return Fail("recs eval", data.status().message(), from_lake.bad_flag ? 2 : 1);
  progress.Note("loaded " + std::to_string(data->interactions.size()) + " positives (" +
                std::to_string(data->below_threshold) +
                (f.Has("from-lake") ? " events below the threshold), " : " ratings below the threshold), ") +
                std::to_string(data->num_users()) + " users, " + std::to_string(data->num_items()) + " items in " +
                std::to_string(Seconds(t0)) + " s");
  const recs::Split split = recs::SplitInteractions(data->interactions, data->num_users(), *split_spec, seed);
  if (split.train.empty() || split.test.empty())
    return Fail("recs eval", "the split " + split_spec->text + " leaves " +
                                 (split.train.empty() ? "no training" : "no test") + " interactions");

  const auto t1 = std::chrono::steady_clock::now();
  std::unique_ptr<recs::Scorer> model;
  std::string detail;
  if (model_name == "popularity") {
    model = std::make_unique<recs::PopularityModel>(data->num_items(), split.train);
  } else if (model_name == "two-tower") {
    auto m =
        recs::TwoTowerModel::Train(data->num_users(), data->num_items(), split.train, recs::TwoTowerFeatures(*data), tt,
                                   [&](const recs::EpochReport& r) { progress.Epoch(r); });
    detail = ", best epoch " + std::to_string(m.best_epoch()) + " of " + std::to_string(m.epochs_run());
    model = std::make_unique<recs::TwoTowerModel>(std::move(m));
  } else {
    auto m = recs::BprModel::Train(data->num_users(), data->num_items(), split.train, bpr,
                                   [&](const recs::EpochReport& r) { progress.Epoch(r); });
    detail = ", best epoch " + std::to_string(m.best_epoch()) + " of " + std::to_string(m.epochs_run());
    model = std::make_unique<recs::BprModel>(std::move(m));
  }
  const double train_s = Seconds(t1);
  progress.StartEval();
  const auto t2 = std::chrono::steady_clock::now();
  const recs::EvalResult r = recs::Evaluate(*model, data->num_users(), data->num_items(), split.train, split.test, *ks,
                                            threads, [&](size_t d, size_t t) { progress.Eval(d, t); });
  const double eval_s = Seconds(t2);

  if (json) {
    std::string out =
        "{\"model\": " + JsonString(model_name) + ", \"split\": " + JsonString(split_spec->text) + ", \"format\": " +
        JsonString(f.Has("from-lake") ? std::string("lake") : std::string(recs::FormatName(format))) +
        (f.Has("from-lake") ? ", \"region\": " + JsonString(from_lake.region) +
                                  ", \"snapshot_id\": " + std::to_string(from_lake.snapshot_id)
                            : std::string()) +
        ", \"seed\": " + std::to_string(seed) + ", \"users\": " + std::to_string(data->num_users()) +
        ", \"items\": " + std::to_string(data->num_items()) + ", \"train\": " + std::to_string(split.train.size()) +
        ", \"test\": " + std::to_string(split.test.size()) +
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
    return 0;
  }
  if (f.Has("from-lake"))
    std::printf("lake %s, region %s, events snapshot %lld (%zu events in %zu files)\n", f.Get("from-lake").c_str(),
                from_lake.region.c_str(), static_cast<long long>(from_lake.snapshot_id), from_lake.events,
                from_lake.files);
  std::printf("model %s%s, split %s, seed %llu: %zu users, %zu items; %zu train, %zu test interactions\n",
              model_name.c_str(), detail.c_str(), split_spec->text.c_str(), static_cast<unsigned long long>(seed),
              data->num_users(), data->num_items(), split.train.size(), split.test.size());
  std::printf("%zu users evaluated (%zu without test interactions skipped); train %.2f s, eval %.2f s\n\n",
              r.users_evaluated, r.users_without_test, train_s, eval_s);
  PrintTable(r, *ks);
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
  return Fail("recs", "unknown action '" + args[0] + "' (eval or generate)\n\n" + kHelp, 2);
}

}  // namespace watershed::app
