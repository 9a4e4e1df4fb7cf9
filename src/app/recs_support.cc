#include "app/recs_support.h"

#include <unistd.h>

#include <filesystem>

#include "app/config.h"
#include "core/event.h"
#include "core/file_system.h"
#include "lake/tables.h"
#include "recs/dataset_file.h"
#include "recs/importers.h"
#include "recs/lake_interactions.h"
#include "recs/popularity.h"
#include "recs/registry.h"
#include "recs/stored_model.h"
#include "recs/story_items.h"

namespace watershed::app {

RecsProgress::RecsProgress(bool on, std::string model) : on_(on), tty_(::isatty(2)), model_(std::move(model)) {}

void RecsProgress::Epoch(const recs::EpochReport& r) {
  if (!on_) return;
  const double eta = r.seconds / r.epoch * (r.max_epochs - r.epoch);
  std::fprintf(stderr, "%s epoch %u/%u  loss %.4f  validation ndcg@10 %.4f%s  %.1f s  (ETA <= %.0f s)\n",
               model_.c_str(), r.epoch, r.max_epochs, r.loss, r.validation, r.best ? " *" : "  ", r.seconds, eta);
}

void RecsProgress::Eval(size_t done, size_t total) {
  if (!on_) return;
  const double s = SecondsSince(eval_start_);
  const double eta = done ? s / static_cast<double>(done) * static_cast<double>(total - done) : 0;
  if (tty_) {  // redrawn in place
    std::fprintf(stderr, "\reval %zu/%zu users  %.1f s  ETA %.1f s   ", done, total, s, eta);
    if (done == total) std::fputc('\n', stderr);
  } else if (const size_t quarter = total ? done * 4 / total : 4; quarter > last_quarter_) {  // a log: 4 lines
    last_quarter_ = quarter;
    std::fprintf(stderr, "eval %zu/%zu users  %.1f s  ETA %.1f s\n", done, total, s, eta);
  }
}

bool ProgressWanted(const Flags& f) {
  if (f.Has("progress")) return true;
  if (f.Has("quiet")) return false;
  return ::isatty(2);
}

double SecondsSince(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
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

namespace {

constexpr const char* kLoadFlags[] = {"interactions", "format",      "positive-rating", "dataset",      "from-lake",
                                      "region",       "snapshot",    "min-watch-ms",    "share-weight", "reply-weight",
                                      "items",        "catalog-dir", "data-dir"};

// Paths are recorded absolute, so the registry finds the data again from any
// directory.
std::string Absolute(const std::string& path) {
  std::error_code ec;
  const std::filesystem::path p = std::filesystem::absolute(path, ec);
  return ec ? path : p.lexically_normal().string();
}

void FingerprintBytes(const std::string& path, const std::string& bytes, std::map<std::string, std::string>* source) {
  (*source)["file." + Absolute(path) + ".bytes"] = std::to_string(bytes.size());
  (*source)["file." + Absolute(path) + ".sha256"] = recs::Sha256Hex(bytes);
}

// Records a file's size and SHA-256 under "file.<absolute path>".
Status Fingerprint(const std::string& path, std::map<std::string, std::string>* source) {
  ASSIGN_OR_RETURN(std::string bytes, ReadWholeFile(FileSystem::Default(), path));
  FingerprintBytes(path, bytes, source);
  return Status::Ok();
}

}  // namespace

// The region of --region, else the only one under `root` with an events table.
Result<Region> LakeRegion(const Flags& f, const std::string& root) {
  if (f.Has("region")) {
    auto r = ParseRegion(f.Get("region"));
    if (!r)
      return Status::InvalidArgument("--region: unknown region '" + f.Get("region") + "' (" + RegionNamesText() + ")");
    return *r;
  }
  std::vector<Region> found;
  for (int r = 0; r < RegionCount(); ++r)
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

namespace {

Result<Config> DataConfig(const Flags& f) {
  std::vector<std::string> settings;
  for (const char* key : {"catalog-dir", "data-dir"})
    if (f.Has(key)) settings.push_back(std::string("--") + key + "=" + f.Get(key));
  return Config::Load(ServeConfigKeys(), settings);
}

// The interactions of the lake's events table and the items of --items, else of
// the catalogue.
Result<recs::Dataset> LoadFromLake(const Flags& f, RecsProgress& progress, std::map<std::string, std::string>* source,
                                   bool* bad_flag) {
  FileSystem* fs = FileSystem::Default();
  recs::EngagementOptions engagement;
  for (const Status& s : {ReadNumber(f, "min-watch-ms", &engagement.min_watch_ms, 0u, 86'400'000u),
                          ReadNumber(f, "share-weight", &engagement.share_weight, 0.0f, 1e6f),
                          ReadNumber(f, "reply-weight", &engagement.reply_weight, 0.0f, 1e6f)})
    if (!s.ok()) {
      *bad_flag = true;
      return s;
    }
  std::optional<int64_t> snapshot;
  if (f.Has("snapshot")) {
    auto id = ParseNumber<int64_t>("--snapshot", f.Get("snapshot"));
    if (!id.ok()) {
      *bad_flag = true;
      return id.status();
    }
    snapshot = *id;
  }
  const std::string root = f.Get("from-lake");
  auto region = LakeRegion(f, root);
  if (!region.ok()) {
    *bad_flag = region.status().code() == StatusCode::kInvalidArgument;
    return region.status();
  }
  (*source)["region"] = std::string(RegionName(*region));
  std::vector<catalog::StoryRecord> stories;
  if (f.Has("items")) {
    if (f.Has("catalog-dir") || f.Has("data-dir")) {
      *bad_flag = true;
      return Status::InvalidArgument("--items replaces the catalogue: give it without --catalog-dir and --data-dir");
    }
    ASSIGN_OR_RETURN(stories, recs::ReadItemsFile(fs, f.Get("items")));
    RETURN_IF_ERROR(Fingerprint(f.Get("items"), source));
  } else {
    ASSIGN_OR_RETURN(Config config, DataConfig(f));
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
  (*source)["snapshot_id"] = std::to_string(events.snapshot_id);
  (*source)["events"] = std::to_string(events.events.size());
  (*source)["event_files"] = std::to_string(events.files);
  const size_t read_events = events.events.size();
  recs::Dataset data;
  recs::AddStories(stories, &data);
  recs::AddEngagements(std::move(events.events), engagement, &data);
  if (data.interactions.empty())
    return Status::NotFound("no positive interaction in the events of snapshot " + (*source)["snapshot_id"] + " (" +
                            std::to_string(read_events) + " events, " + std::to_string(data.below_threshold) +
                            " below the threshold)");
  return data;
}

}  // namespace

std::vector<std::string> DataFlagNames() { return {std::begin(kLoadFlags), std::end(kLoadFlags)}; }

Result<std::string> RecsDataDir(const Flags& f) {
  ASSIGN_OR_RETURN(Config config, DataConfig(f));
  return config.Get("data-dir");
}

std::string ImportedDatasetPath(const std::string& data_dir, const std::string& name) {
  return JoinPath(JoinPath(JoinPath(data_dir, "recs"), "interactions"), name + ".bin");
}

Result<recs::Dataset> LoadRecsData(const Flags& f, RecsProgress& progress, std::map<std::string, std::string>* source,
                                   bool* bad_flag) {
  *bad_flag = true;
  const int sources = f.Has("interactions") + f.Has("dataset") + f.Has("from-lake");
  if (sources != 1)
    return Status::InvalidArgument(std::string(sources ? "only one of" : "one of") +
                                   " --interactions FILE --format F, --dataset NAME or --from-lake ROOT is needed");
  if (!f.Has("from-lake"))
    for (const char* only : {"region", "snapshot", "min-watch-ms", "share-weight", "reply-weight", "items"})
      if (f.Has(only)) return Status::InvalidArgument(std::string("--") + only + " applies to --from-lake");
  if (!f.Has("interactions") && (f.Has("format") || f.Has("positive-rating")))
    return Status::InvalidArgument("--format and --positive-rating apply to --interactions");
  if (f.Has("interactions") && !f.Has("format")) return Status::InvalidArgument("--interactions needs --format");
  for (const auto& [key, value] : f.values())
    for (const char* k : kLoadFlags)
      if (key == k) {
        const bool is_path = key == "interactions" || key == "from-lake" || key == "items" || key == "catalog-dir" ||
                             key == "data-dir" || (key == "dataset" && value.find('/') != std::string::npos);
        (*source)["flag." + key] = is_path ? Absolute(value) : value;
      }
  if (f.Has("from-lake")) {
    *bad_flag = false;
    return LoadFromLake(f, progress, source, bad_flag);
  }
  if (f.Has("dataset")) {
    std::string path = f.Get("dataset");
    if (path.find('/') == std::string::npos) {  // a name: the imported file in the data dir
      RETURN_IF_ERROR(recs::ModelRegistry::CheckName(path));
      ASSIGN_OR_RETURN(Config config, DataConfig(f));
      path = ImportedDatasetPath(config.Get("data-dir"), path);
    }
    *bad_flag = false;
    ASSIGN_OR_RETURN(std::string bytes, ReadWholeFile(FileSystem::Default(), path));
    FingerprintBytes(path, bytes, source);
    ASSIGN_OR_RETURN(recs::ArrayFile file, recs::DecodeArrayFile(bytes, path));
    return recs::DecodeDataset(file);
  }
  auto format = recs::ParseFormat(f.Get("format"));
  if (!format.ok()) return Status::InvalidArgument("--format: " + format.status().message());
  double positive = 4;
  RETURN_IF_ERROR(ReadNumber(f, "positive-rating", &positive, -1e9, 1e9));
  *bad_flag = false;
  const std::string path = f.Get("interactions");
  ASSIGN_OR_RETURN(recs::Dataset data, recs::LoadDataset(path, *format, {.positive_rating = positive}));
  // The files the importer read (as LoadDataset finds them).
  namespace stdfs = std::filesystem;
  const recs::FormatFiles names = recs::FilesOf(*format);
  std::error_code ec;
  const stdfs::path ratings = stdfs::is_directory(path, ec) ? stdfs::path(path) / names.ratings : stdfs::path(path);
  RETURN_IF_ERROR(Fingerprint(ratings.string(), source));
  if (!names.items.empty() && stdfs::exists(ratings.parent_path() / names.items, ec))
    RETURN_IF_ERROR(Fingerprint((ratings.parent_path() / names.items).string(), source));
  return data;
}

Result<recs::Dataset> ReloadRecsData(const std::map<std::string, std::string>& source, RecsProgress& progress) {
  std::vector<std::string> args;
  for (const auto& [key, value] : source)
    if (key.rfind("flag.", 0) == 0 && key != "flag.snapshot") args.insert(args.end(), {"--" + key.substr(5), value});
  if (auto it = source.find("snapshot_id"); it != source.end()) args.insert(args.end(), {"--snapshot", it->second});
  if (auto it = source.find("region"); it != source.end() && !source.count("flag.region"))
    args.insert(args.end(), {"--region", it->second});
  ASSIGN_OR_RETURN(Flags f, Flags::Parse(args, DataFlagNames()));
  std::map<std::string, std::string> now;
  bool bad_flag = false;
  ASSIGN_OR_RETURN(recs::Dataset data, LoadRecsData(f, progress, &now, &bad_flag));
  for (const auto& [key, value] : source) {
    if (key.rfind("file.", 0) != 0) continue;
    auto it = now.find(key);
    if (it == now.end() || it->second != value) {
      const std::string file = key.substr(5, key.rfind('.') - 5);
      return Status::FailedPrecondition(file + " changed since the model was trained (" +
                                        key.substr(key.rfind('.') + 1) + " " + value + ", now " +
                                        (it == now.end() ? "missing" : it->second) + ")");
    }
  }
  return data;
}

std::vector<std::string> ModelFlagNames() {
  return {"model",         "seed",      "threads",     "factors",    "epochs",
          "learning-rate", "l2",        "patience",    "dim",        "history",
          "batch",         "negatives", "temperature", "candidates", "ranker-negatives",
          "holdout",       "ranker-l2", "no-refit!"};
}

uint64_t ModelChoice::seed() const {
  return model == "two-tower" ? two_tower.training.seed
         : model == "ranker"  ? ranker.two_tower.training.seed
                              : bpr.training.seed;
}
unsigned ModelChoice::threads() const {
  return model == "two-tower" ? two_tower.training.threads
         : model == "ranker"  ? ranker.two_tower.training.threads
                              : bpr.training.threads;
}

Result<ModelChoice> ReadModelChoice(const Flags& f, const std::string& fallback_model) {
  ModelChoice c;
  c.model = f.Get("model", fallback_model);
  if (c.model != "popularity" && c.model != "bpr" && c.model != "two-tower" && c.model != "ranker")
    return Status::InvalidArgument("--model must be popularity, bpr, two-tower or ranker, got '" + c.model + "'");
  // The flags both trainers share are read once, into the chosen model's config
  // (the defaults differ per model; popularity trains nothing and takes BPR's,
  // which it ignores). The ranker's two-tower takes the two-tower's.
  const bool tower = c.model == "two-tower" || c.model == "ranker";
  recs::TwoTowerConfig& tt = c.model == "ranker" ? c.ranker.two_tower : c.two_tower;
  recs::TrainingConfig& training = tower ? tt.training : c.bpr.training;
  float& learning_rate = tower ? tt.learning_rate : c.bpr.learning_rate;
  float& l2 = tower ? tt.l2 : c.bpr.l2;
  for (const Status& s :
       {ReadNumber(f, "seed", &training.seed, uint64_t{0}, ~uint64_t{0}),
        ReadNumber(f, "threads", &training.threads, 1u, 256u),
        ReadNumber(f, "epochs", &training.max_epochs, 1u, 100000u),
        ReadNumber(f, "patience", &training.patience, 1u, 100000u),
        ReadNumber(f, "learning-rate", &learning_rate, 1e-6f, 10.0f), ReadNumber(f, "l2", &l2, 0.0f, 10.0f),
        ReadNumber(f, "factors", &c.bpr.factors, 1u, 1024u), ReadNumber(f, "dim", &tt.dim, 1u, 1024u),
        ReadNumber(f, "history", &tt.history, 0u, 100000u), ReadNumber(f, "batch", &tt.batch, 1u, 1000000u),
        ReadNumber(f, "negatives", &tt.negatives, 0u, 1000000u),
        ReadNumber(f, "temperature", &tt.temperature, 1e-3f, 100.0f),
        ReadNumber(f, "candidates", &c.ranker.candidates, 1u, 1000000u),
        ReadNumber(f, "ranker-negatives", &c.ranker.negatives, 1u, 10000u),
        ReadNumber(f, "holdout", &c.ranker.holdout, 0.01, 0.9), ReadNumber(f, "ranker-l2", &c.ranker.l2, 0.0, 100.0)})
    if (!s.ok()) return s;
  c.ranker.refit = !f.Has("no-refit");
  training.validation_k = 10;  // the progress line prints ndcg@10
  auto num = [](double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    return std::string(buf);
  };
  c.config = {{"seed", std::to_string(training.seed)},
              {"threads", std::to_string(training.threads)},
              {"epochs", std::to_string(training.max_epochs)},
              {"patience", std::to_string(training.patience)}};
  if (c.model == "popularity") c.config = {};
  if (c.model == "bpr")
    c.config.insert({{"factors", std::to_string(c.bpr.factors)},
                     {"learning-rate", num(c.bpr.learning_rate)},
                     {"l2", num(c.bpr.l2)}});
  if (tower)
    c.config.insert({{"dim", std::to_string(tt.dim)},
                     {"history", std::to_string(tt.history)},
                     {"batch", std::to_string(tt.batch)},
                     {"negatives", std::to_string(tt.negatives)},
                     {"temperature", num(tt.temperature)},
                     {"learning-rate", num(tt.learning_rate)},
                     {"l2", num(tt.l2)}});
  if (c.model == "ranker")
    c.config.insert({{"candidates", std::to_string(c.ranker.candidates)},
                     {"ranker-negatives", std::to_string(c.ranker.negatives)},
                     {"holdout", num(c.ranker.holdout)},
                     {"ranker-l2", num(c.ranker.l2)},
                     {"refit", c.ranker.refit ? "true" : "false"}});
  return c;
}

TrainedModel TrainRecsModel(const ModelChoice& c, const recs::Dataset& data, const recs::Split& split,
                            RecsProgress& progress, bool export_weights) {
  const auto start = std::chrono::steady_clock::now();
  TrainedModel t;
  auto epoch = [&](const recs::EpochReport& r) { progress.Epoch(r); };
  auto best = [](uint32_t best, uint32_t run) {
    return ", best epoch " + std::to_string(best) + " of " + std::to_string(run);
  };
  if (c.model == "popularity") {
    auto m = std::make_unique<recs::PopularityModel>(data.num_items(), split.train);
    if (export_weights) t.weights = recs::ExportPopularity(data, *m);
    t.scorer = std::move(m);
  } else if (c.model == "two-tower") {
    auto m = std::make_unique<recs::TwoTowerModel>(recs::TwoTowerModel::Train(
        data.num_users(), data.num_items(), split.train, recs::TwoTowerFeatures(data), c.two_tower, epoch));
    t.detail = best(m->best_epoch(), m->epochs_run());
    t.dim = m->dim();
    if (export_weights) t.weights = recs::ExportTwoTower(data, *m);
    t.scorer = std::move(m);
  } else if (c.model == "ranker") {
    auto m = std::make_unique<recs::RankerModel>(recs::RankerModel::Train(
        data, split.train, c.ranker, epoch, [&](const std::string& line) { progress.Note(line); }));
    t.detail = ", " + std::to_string(m->examples()) + " ranker examples, log loss " + std::to_string(m->train_loss());
    t.dim = m->two_tower()->dim();
    if (export_weights) t.weights = recs::ExportRanker(data, *m);
    t.scorer = std::move(m);
  } else {
    auto m = std::make_unique<recs::BprModel>(
        recs::BprModel::Train(data.num_users(), data.num_items(), split.train, c.bpr, epoch));
    t.detail = best(m->best_epoch(), m->epochs_run());
    t.dim = m->factors();
    if (export_weights) t.weights = recs::ExportBpr(data, *m);
    t.scorer = std::move(m);
  }
  t.seconds = SecondsSince(start);
  return t;
}

}  // namespace watershed::app
