#pragma once
// Experiment arms on the serving path (docs/recs.md, "Serving", "Experiments"): what an arm's params.KEY = value
// changes in a request, and the exposure logs a RecsService appends to, one per experiment.
//
// Parameters an arm may set (any other key is an error, so a typo never runs an experiment that changes nothing):
//   total, ann, content, coviewed, trending, fresh, popular   candidate quotas (CandidateConfig), integers in 0..the
//                                                             service's total (total >= 1)
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
#include <vector>

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

// kInvalidArgument "experiment E, arm A: params.KEY: reason" for an unknown key or a bad value. A quota is at most
// `max_quota`, the service's candidates per request (CandidateConfig::total), so an arm never makes a request
// costlier than the service's own config allows (an ann quota of q queries the index for about 2q items).
Result<ArmParams> ParseArmParams(const Experiment& e, const Arm& arm, uint32_t max_quota = CandidateConfig{}.total);

// The exposure logs of a serving process: one ExposureWriter per experiment, opened at its first exposure (which
// cuts a torn tail a crash left). Append writes a request's exposures (one per experiment it is in, one write(2)
// each) before the answer leaves, all or nothing: when one fails, the logs already written for the request are
// truncated back to their size before it and the failed log too (a full disk can leave part of a line), and their
// writers are dropped (the next exposure reopens the log), so the report never counts half a request nor reads torn
// bytes mid-log. Sync fdatasyncs every log written since the last Sync, outside the lock (appends go on meanwhile);
// a log whose fdatasync fails is reported and its writer dropped — never synced again on the same descriptor, which
// would report success for pages the kernel already gave up on. Thread-safe.
class ExposureSink {
 public:
  ExposureSink(FileSystem* fs, std::string dir) : fs_(fs), dir_(std::move(dir)) {}
  Status Append(const std::vector<Exposure>& exposures);
  Status Sync();
  uint64_t appended() const;
  // Erasure: EraseUserExposures under the lock, after dropping every writer (the next exposure reopens its log).
  Result<uint64_t> EraseUser(uint64_t user);

 private:
  struct Log {
    std::shared_ptr<ExposureWriter> writer;  // shared: Sync holds it outside the lock
    bool dirty = false;
  };
  // Truncates the log to `size` and drops its writer.
  Status RollBack(const std::string& experiment, Log* log, uint64_t size);

  FileSystem* fs_;
  const std::string dir_;
  mutable std::mutex mu_;
  std::map<std::string, Log> logs_;
  uint64_t appended_ = 0;
};

}  // namespace watershed::recs
