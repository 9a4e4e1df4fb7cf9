#pragma once
// Experiment arms on the serving path (docs/recs.md, "Serving", "Experiments"): what an arm's params.KEY = value
// changes in a request, and the exposure logs a RecsService appends to, one per experiment.
//
// Parameters an arm may set (any other key is an error, so a typo never runs an experiment that changes nothing):
//   total, ann, content, coviewed, trending, fresh, popular   candidate quotas (CandidateConfig), integers >= 0
//                                                             (total >= 1)
//   mmr_lambda, fresh_share                                   the rules' (rules.h), numbers in [0, 1]
//   max_per_author, max_per_tag                               the rules' caps, integers >= 0
// A request in several layers' experiments takes each parameter from the first layer (file order) whose arm sets
// it, and the model version of the first arm naming one.

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "core/file_system.h"
#include "core/status.h"
#include "recs/candidates.h"
#include "recs/experiments.h"
#include "recs/rules.h"

namespace watershed::recs {

struct ArmParams {
  std::map<std::string, uint32_t> quotas;  // candidate quota name → value
  std::optional<double> mmr_lambda, fresh_share;
  std::optional<size_t> max_per_author, max_per_tag;
  bool TouchesRules() const { return mmr_lambda || fresh_share || max_per_author || max_per_tag; }
  // Sets on `rules` / `config` what this arm sets and `taken` does not name yet (the names set are added).
  void ApplyTo(Rules* rules, CandidateConfig* config, std::map<std::string, bool>* taken) const;
};

// kInvalidArgument "experiment E, arm A: params.KEY: reason" for an unknown key or a bad value.
Result<ArmParams> ParseArmParams(const Experiment& e, const Arm& arm);

// The exposure logs of a serving process: one ExposureWriter per experiment, opened at its first exposure (which
// cuts a torn tail a crash left). Append is one write(2) of the whole record, done before the answer leaves, so a
// served answer's exposure survives the process; Sync (fdatasync of every log written since the last Sync) makes
// them survive the machine. Thread-safe.
class ExposureSink {
 public:
  ExposureSink(FileSystem* fs, std::string dir) : fs_(fs), dir_(std::move(dir)) {}
  Status Append(const Exposure& e);
  Status Sync();
  uint64_t appended() const;

 private:
  FileSystem* fs_;
  const std::string dir_;
  mutable std::mutex mu_;
  struct Log {
    std::unique_ptr<ExposureWriter> writer;
    bool dirty = false;
  };
  std::map<std::string, Log> logs_;
  uint64_t appended_ = 0;
};

}  // namespace watershed::recs
