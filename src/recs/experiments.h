#pragma once
// A/B experiments (docs/recs.md, "Experiments"): the experiments file, the assignment of a user to an arm, and
// the exposure log. Statistics: experiment_stats.h.
//
// The experiments file (the TOML subset of core/config_text.h):
//   [[layer]]        name, salt
//   [[experiment]]   name, layer, traffic (share of the layer's users, (0, 1]), control (an arm's name),
//                    window_hours (how long after an exposure a view counts, default 24), salt (default: name)
//   [[arm]]          experiment, name, weight (> 0), model ("NAME@VERSION", optional), params.KEY = value
// Assignment: a user's bucket in a layer is murmur3(layer salt ":" user) mod 10000; the layer's experiments take
// consecutive bucket ranges of traffic * 10000 in file order, so the experiments of one layer never share a user
// and those of different layers overlap independently. Within its experiment, a user's arm is chosen by
// murmur3(experiment salt ":" user) / 2^32 against the arms' cumulative weights. Deterministic: the same file and
// user give the same arm, on every machine.
//
// The exposure log, <data-dir>/recs/exposures/<experiment>.log, one record a line, appended:
//   CRC TAB request_id TAB user TAB experiment TAB arm TAB time_ms TAB item,item,...\n
// CRC is the CRC-32C of the rest of the line (after its tab, without the newline) in 8 lower-case hex digits. A
// last line without its newline (a torn write) is ignored by readers and cut off by the next writer; any other bad
// line (or one of another experiment) is corruption, reported with its line number.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/file_system.h"
#include "core/status.h"

namespace watershed::recs {

constexpr uint32_t kLayerBuckets = 10000;

struct Arm {
  std::string name;
  double weight = 1;
  std::string model;                          // "NAME@VERSION", or empty (parameters only)
  std::map<std::string, std::string> params;  // params.KEY = value, as written
};

struct Experiment {
  std::string name, layer, salt, control;
  double traffic = 1;
  int64_t window_s = 24 * 3600;
  std::vector<Arm> arms;
  uint32_t first_bucket = 0, end_bucket = 0;  // its range of the layer's buckets
  const Arm* FindArm(std::string_view arm) const;
  double TotalWeight() const;
};

struct Layer {
  std::string name, salt;
};

struct ExperimentConfig {
  std::vector<Layer> layers;
  std::vector<Experiment> experiments;
  const Experiment* Find(std::string_view name) const;
};

// Errors: kInvalidArgument "PATH:LINE:COLUMN: reason" (unknown keys, ranges, names, an arm of no experiment, an
// experiment of no layer, a layer's traffic above 1, a control that is no arm).
Result<ExperimentConfig> ParseExperimentConfig(std::string_view text, const std::string& path);
Result<ExperimentConfig> LoadExperimentConfig(FileSystem* fs, const std::string& path);

// murmur3 x86-32 of "SALT:USER" (USER in decimal).
uint32_t SaltedHash(std::string_view salt, uint64_t user);
// The arm of `user` in `e`, ignoring the layer (always an arm).
const Arm& ChooseArm(const Experiment& e, uint64_t user);
struct Assignment {
  const Experiment* experiment = nullptr;
  const Arm* arm = nullptr;
};
// At most one experiment per layer, in the order of the layers.
std::vector<Assignment> Assign(const ExperimentConfig& config, uint64_t user);

struct Exposure {
  std::string request_id;  // 1..128 bytes of letters, digits, '-', '_', '.', ':'
  uint64_t user = 0;
  std::string experiment, arm;
  int64_t time_ms = 0;
  std::vector<uint64_t> items;
};

// One line, with its newline.
std::string EncodeExposure(const Exposure& e);
// One line without its newline; errors are the reason only.
Result<Exposure> DecodeExposure(std::string_view line);

std::string ExposureLogPath(const std::string& exposures_dir, std::string_view experiment);

// Appends exposures to one experiment's log. Open cuts a torn tail left by a crash (reading only the log's end,
// back to its last newline). One writer per log at a time; not thread-safe.
class ExposureWriter {
 public:
  static Result<std::unique_ptr<ExposureWriter>> Open(FileSystem* fs, const std::string& exposures_dir,
                                                      const std::string& experiment);
  Status Append(const Exposure& e);  // one write of the whole line
  Status Sync();
  uint64_t size() const { return file_->Size(); }  // bytes in the log (a failed Append may have added some)

 private:
  explicit ExposureWriter(std::unique_ptr<WritableFile> file) : file_(std::move(file)) {}
  std::unique_ptr<WritableFile> file_;
};

struct ExposureLog {
  std::vector<Exposure> exposures;
  uint64_t torn_bytes = 0;  // of an unterminated last line, ignored
};
// Every record of the experiment's log; an empty log when there is no file. Errors: kCorruption "PATH:LINE: reason".
Result<ExposureLog> ReadExposures(FileSystem* fs, const std::string& exposures_dir, std::string_view experiment);
// The same, of a log's bytes.
Result<ExposureLog> DecodeExposureLog(std::string_view data, const std::string& path);

// Erasure (docs/governance.md "Erasure"): rewrites each exposure log under `exposures_dir` that holds records of
// `user` without them (WriteFileAtomically: the old log or the new one survives a crash; a torn last line goes too)
// and returns the records removed. No ExposureWriter may be open on the logs meanwhile (ExposureSink::EraseUser
// drops its own). A damaged log is kCorruption naming it and stays as it is.
Result<uint64_t> EraseUserExposures(FileSystem* fs, const std::string& exposures_dir, uint64_t user);
// The records of `user` in every log under `exposures_dir` (`watershed erase --verify`).
Result<uint64_t> CountUserExposures(FileSystem* fs, const std::string& exposures_dir, uint64_t user);

}  // namespace watershed::recs
