#pragma once
// What the `watershed recs` actions share (recs_command.cc: eval, generate; recs_models_command.cc: import,
// train, models): progress on stderr, loading the interactions (a source file, an imported dataset, or the
// lake), fingerprints of what was loaded for the model registry, the model flags, and training a model.

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "app/flags.h"
#include "core/event.h"
#include "core/status.h"
#include "recs/bpr.h"
#include "recs/dataset.h"
#include "recs/model.h"
#include "recs/model_file.h"
#include "recs/ranker.h"
#include "recs/split.h"
#include "recs/training.h"
#include "recs/two_tower.h"

namespace watershed::app {

// Epoch lines and an evaluation bar with ETA on stderr; silent when off.
class RecsProgress {
 public:
  RecsProgress(bool on, std::string model);
  void Epoch(const recs::EpochReport& r);
  void Eval(size_t done, size_t total);
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
// On with --progress; off with --quiet; else when stderr is a terminal.
bool ProgressWanted(const Flags& f);

// Sets *into from flag `key` when given (a number in [min, max]).
template <typename T>
Status ReadNumber(const Flags& f, const std::string& key, T* into, T min, T max) {
  auto v = f.GetNumber<T>(key, *into, min, max);
  if (!v.ok()) return v.status();
  *into = *v;
  return Status::Ok();
}

// --data-dir (default ./watershed-data, or as configured; app/config.h).
Result<std::string> RecsDataDir(const Flags& f);
// Where `recs import --name NAME` writes:
// <data-dir>/recs/interactions/NAME.bin.
std::string ImportedDatasetPath(const std::string& data_dir, const std::string& name);

// The region of --region, else the only one under `root` (a lake root) with an events table. kInvalidArgument
// for a bad or missing --region (a usage error).
Result<Region> LakeRegion(const Flags& f, const std::string& root);

// The flags that choose where interactions come from, for an action's list of
// known flags.
std::vector<std::string> DataFlagNames();
// Loads the interactions of --interactions FILE --format F [--positive-rating
// N], --dataset NAME (an imported file, <data-dir>/recs/interactions/NAME.bin)
// or --from-lake ROOT [...]. `source` receives what the model registry records
// to find and check the same data again: the flags as given ("flag.NAME"), the
// lake snapshot read, and each file's size and SHA-256. *bad_flag tells a usage
// error (exit 2) from a data error (exit 1).
Result<recs::Dataset> LoadRecsData(const Flags& f, RecsProgress& progress, std::map<std::string, std::string>* source,
                                   bool* bad_flag);
// Rebuilds the loading flags from a manifest's `source` and loads the data
// again; an error when a file's size or SHA-256 differs from the recorded one
// (the data changed since training).
Result<recs::Dataset> ReloadRecsData(const std::map<std::string, std::string>& source, RecsProgress& progress);

// The model flags (--model and its hyperparameters).
std::vector<std::string> ModelFlagNames();
struct ModelChoice {
  std::string model = "bpr";  // popularity | bpr | two-tower | ranker
  recs::BprConfig bpr;
  recs::TwoTowerConfig two_tower;
  recs::RankerConfig ranker;
  std::map<std::string, std::string> config;  // what the registry records: the hyperparameters in effect
  uint64_t seed() const;
  unsigned threads() const;
};
// Errors are the flags' (exit 2).
Result<ModelChoice> ReadModelChoice(const Flags& f, const std::string& fallback_model);

struct TrainedModel {
  std::unique_ptr<recs::Scorer> scorer;
  std::string detail;  // ", best epoch 3 of 5"
  uint32_t dim = 0;
  double seconds = 0;
  recs::ArrayFile weights;  // for the registry (filled when asked)
};
TrainedModel TrainRecsModel(const ModelChoice& c, const recs::Dataset& data, const recs::Split& split,
                            RecsProgress& progress, bool export_weights);

// The actions of recs_models_command.cc.
int RecsImport(const std::vector<std::string>& args);
int RecsTrain(const std::vector<std::string>& args);
int RecsModels(const std::vector<std::string>& args);
// recs_experiment_command.cc.
int RecsExperiment(const std::vector<std::string>& args);
int RecsRules(const std::vector<std::string>& args);

double SecondsSince(std::chrono::steady_clock::time_point since);
Result<std::vector<int>> ParseKs(const std::string& text);

}  // namespace watershed::app
