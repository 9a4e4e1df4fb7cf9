#pragma once
// The model registry (docs/recs.md, "Model registry"): trained models under
// <data-dir>/models/<name>/<version>/, each version a directory holding
//   weights.bin    the arrays (model_file.h): ids, user and item embeddings, item biases, the model's own weights
//   manifest.json  the model kind, its config, the data it was trained from (file SHA-256 and size, or the lake
//                  snapshot), the split and seed, the test metrics, the training time, and weights.bin's size
//                  and CRC-32C (so a weights file from elsewhere is refused)
// Versions are numbered 1, 2, ... in order of writing; a version is written under a temporary directory and
// renamed into place, so a reader never sees half of one. <name>/current holds the current version (the one
// part 2 serves) followed by the ones it replaced, most recent first; it is rewritten whole (WriteFileAtomically).
// The first version of a name becomes current; Promote pushes a version, Rollback pops back to the one before.
// Writers of one name are serialised by a lock file (<name>/.lock).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/file_system.h"
#include "core/status.h"
#include "recs/model_file.h"

namespace watershed::recs {

// The model format: 1 — the arrays below; 2 — two-tower and ranker versions
// also hold the item tower's feature vocabulary and temperature
// (tower.features, tower.temperature), so a stored model embeds new items.
// Version 1 files still load and score; embedding a new item with one is
// refused (stored_tower.h).
inline constexpr uint32_t kModelFormatVersion = 2;

struct ModelManifest {
  uint32_t format_version = kModelFormatVersion;
  std::string name;
  uint32_t version = 0;
  std::string model;  // popularity | bpr | two-tower | ranker
  int64_t created_at_ms = 0;
  double train_seconds = 0;
  uint64_t users = 0, items = 0;
  uint32_t dim = 0;                           // of the user and item vectors (0 for popularity)
  std::map<std::string, std::string> config;  // hyperparameters (flag name -> value)
  std::map<std::string, std::string> data;    // what it was trained on: path, format, sha256, bytes, split, seed
  std::map<std::string, double> metrics;      // on the split's test part (NaN ones are left out)
  uint64_t weights_bytes = 0;
  uint32_t weights_crc32c = 0;
};

std::string EncodeManifest(const ModelManifest& m);
// Errors: kCorruption "PATH: reason" (malformed JSON, a missing or mistyped
// field).
Result<ModelManifest> DecodeManifest(std::string_view json, const std::string& path);

// "NAME" or "NAME@VERSION".
struct ModelRef {
  std::string name;
  std::optional<uint32_t> version;  // none: the current one
};
Result<ModelRef> ParseModelRef(std::string_view text);

class ModelRegistry {
 public:
  ModelRegistry(FileSystem* fs, std::string root) : fs_(fs), root_(std::move(root)) {}
  const std::string& root() const { return root_; }

  // Letters, digits, '_', '-', '.'; 1..64 bytes; not starting with '.'.
  static Status CheckName(std::string_view name);

  // Writes the next version of m->name; fills m->version, weights_bytes and
  // weights_crc32c. The first version of a name becomes current.
  Result<uint32_t> Save(ModelManifest* m, const ArrayFile& weights);

  struct VersionInfo {
    uint32_t version = 0;
    Result<ModelManifest> manifest = Status::NotFound("");  // an error when the manifest does not read
    bool current = false;
  };
  Result<std::vector<std::string>> Names() const;
  Result<std::vector<VersionInfo>> Versions(const std::string& name) const;
  // The current version first, then the earlier current ones; empty when none
  // was ever promoted.
  Result<std::vector<uint32_t>> CurrentHistory(const std::string& name) const;
  Status Promote(const std::string& name, uint32_t version);
  // Makes the previously current version current again; returns it.
  // kFailedPrecondition when there is none.
  Result<uint32_t> Rollback(const std::string& name);

  // Garbage collection of one name's versions: every version is removed except
  // the current one, the previous current one (what Rollback returns to) and
  // the newest `keep_newest` (by number). The current version is never removed.
  // `current`'s older entries naming removed versions are dropped from it first
  // (written atomically), so a pointer never names a missing version; each
  // removed version is renamed to .deleting-<v> (readers never see half of one)
  // and then deleted; a crashed collection's .deleting-* leftovers go on the
  // next run; a deleted number is never given to a later version (<name>/next-version). dry_run: the plan
  // only, nothing changed. Holds the name's lock.
  // kCorruption (nothing removed) when `current` does not read.
  struct GcPlan {
    std::string name;
    std::vector<uint32_t> kept, removed;  // ascending
  };
  Result<GcPlan> Gc(const std::string& name, uint32_t keep_newest, bool dry_run);

  struct Loaded {
    ModelManifest manifest;
    ArrayFile weights;
  };
  // The version of `ref` (the current one when it names none), every file
  // checked: the manifest, the weights' size and CRC against it, the arrays'
  // names, types and shapes for the model kind, every float finite. Errors name
  // the file.
  Result<Loaded> Load(const ModelRef& ref) const;

 private:
  std::string Dir(const std::string& name) const { return JoinPath(root_, name); }
  std::string VersionDir(const std::string& name, uint32_t v) const { return JoinPath(Dir(name), std::to_string(v)); }
  Result<std::vector<uint32_t>> ListVersions(const std::string& name) const;
  Status WriteCurrent(const std::string& name, const std::vector<uint32_t>& history);

  FileSystem* fs_;
  std::string root_;
};

// Checks the arrays a model kind needs (model_file.h names; stored_model.h
// writes them) against the manifest.
Status CheckModelArrays(const ModelManifest& m, const ArrayFile& w);

}  // namespace watershed::recs
