#pragma once
// Erasure of a viewer (GDPR art. 17; docs/governance.md "Erasure"): the
// durable request, its receipt, the steps that remove the viewer's rows
// from the lake, and the scan behind `watershed erase --verify`.
//
// A request is one file, <data-dir>/erasures/<id>.json, replaced atomically
// (temp + fdatasync + rename + directory fsync) when it is created and after
// every step, so a run killed at any point resumes where it was: each step
// (lake/erasure.h) is idempotent, and a step recorded done is not run again.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/event.h"
#include "core/file_system.h"
#include "core/status.h"
#include "gov/erasure_request.h"
#include "keys/key_ring.h"
#include "stream/partition_processor.h"

namespace watershed::app {

using gov::ErasureRequest;
using gov::kMaxErasableViewer;

// A feature store reached through code rather than its snapshot file: `serve`'s own (through its updater) or a
// Redis one.
struct FeatureStoreHandle {
  std::string name;  // for receipts and --verify
  std::function<Result<bool>(uint64_t viewer)> erase;
  std::function<Result<bool>(uint64_t viewer)> holds;
};

// Where everything lives: what `serve` and the CLI take from their settings.
struct ErasurePaths {
  std::string data_dir;
  std::string lake_root;
  std::string checkpoint_dir;
  std::string log_root;  // the embedded log's root (<data-dir>/log); empty: Kafka (its topics' retention)
  std::vector<Region> regions;
  int64_t log_retention_ms = 7ll * 86'400'000;
  std::string feature_snapshot;                    // the embedded feature store's snapshot; empty: none
  std::string exposures_dir;                       // recs exposure logs; empty: none
  const keys::KeyRing* checkpoint_keys = nullptr;  // encryption = on: sealed checkpoints and cold stores
  // <data-dir>/recs: `serve` holds a ProcessorsLock there (shared) while it owns the feature store's snapshot and
  // appends exposures; without the in-process ways below, the erasure rewrites those files itself, only while it
  // can take that lock exclusively.
  std::string recs_dir;
  std::optional<FeatureStoreHandle> feature_store;  // set: erased through it, not through feature_snapshot
  // Set by `serve`: its exposure logs' erasure (under its writers' lock); the records removed.
  std::function<Result<uint64_t>(uint64_t viewer)> erase_exposures;
  // Set by `serve` when it runs the processors: a region's running state and checkpoints lose the viewer
  // (stream::RegionProcessor::EraseViewer). Run before the lake's steps, since it commits the lake's buffered rows.
  // Unset: the checkpoint files themselves, only while no server holds them.
  std::function<Result<stream::PartitionProcessor::ErasedViewer>(Region region, uint64_t viewer)> erase_processor_state;
};

// <checkpoint-dir>/<region>/processors.lock (flock): `serve` holds each
// region's shared while its processors of that region may run; the
// erasure's checkpoint step takes it exclusively without waiting, so it
// never rewrites state a running processor owns. `region_dir`: the
// region's checkpoint directory (CheckpointStore::RegionDir).
class ProcessorsLock {
 public:
  // Waits for a shared hold (serve).
  static Result<std::unique_ptr<ProcessorsLock>> Shared(const std::string& region_dir);
  // An exclusive hold, or nullptr when a process holds the lock (a server runs).
  static Result<std::unique_ptr<ProcessorsLock>> TryExclusive(const std::string& region_dir);
  ~ProcessorsLock();
  ProcessorsLock(const ProcessorsLock&) = delete;
  ProcessorsLock& operator=(const ProcessorsLock&) = delete;

 private:
  explicit ProcessorsLock(int fd) : fd_(fd) {}
  int fd_;
};

struct ServeSettings;
// The paths of `serve`'s settings (the feature store's only when embedded).
ErasurePaths ErasurePathsOf(const ServeSettings& s);

// The requests under <data-dir>/erasures.
class ErasureStore {
 public:
  ErasureStore(FileSystem* fs, std::string data_dir);
  // A new request for `viewer`, recorded durably before it returns; an
  // unfinished one for the same viewer is returned instead (a retry).
  Result<ErasureRequest> Create(uint64_t viewer, const std::string& by, int64_t now_ms);
  Status Save(const ErasureRequest& r);
  // Every request, oldest first; kCorruption names a damaged file.
  Result<std::vector<ErasureRequest>> List() const;
  std::string dir() const { return dir_; }

 private:
  FileSystem* fs_;
  std::string dir_;
};

// What a request removes and what stays until when.
struct ErasureReceipt {
  std::string request_id;
  uint64_t viewer = 0;
  int64_t requested_ms = 0;
  std::vector<std::string> removes;  // "eu/events: rows of the viewer, in every snapshot", ...
  struct Remaining {
    std::string store, what;
    std::optional<int64_t> expires_ms;  // nullopt: nothing makes it expire
  };
  std::vector<Remaining> remains;
  std::optional<int64_t> last_copy_expires_ms;  // the latest expiry of `remains`; nullopt when one has none
  bool complete = false;
};
ErasureReceipt MakeReceipt(FileSystem* fs, const ErasurePaths& paths, const ErasureRequest& r, int64_t now_ms);
std::string ReceiptJson(const ErasureReceipt& receipt);
std::string ReceiptText(const ErasureReceipt& receipt);

// Runs the steps of `*r` not done yet, saving the request after each: the running processors' state (serve), the
// lake's tables, the recommendations' feature store and exposure logs, then the checkpoint files (the CLI).
// `log` gets one line per step; `stop` (optional), asked between steps,
// ends the run early with kUnavailable (the request resumes later).
Status RunErasure(FileSystem* fs, const ErasurePaths& paths, ErasureStore* store, ErasureRequest* r,
                  const std::function<void(const std::string&)>& log, const std::function<bool()>& stop = {});

// `serve`'s erasures: POST /v1/admin/erasures records a request (Request)
// and a thread runs it after the answer; at start the thread runs every
// unfinished request first, so a server killed mid-erasure finishes it
// when it comes back. The lake steps race the running lake sink through
// the optimistic commit (lake/erasure.h).
class ErasureRunner {
 public:
  ErasureRunner(FileSystem* fs, ErasurePaths paths, Clock* clock);
  ~ErasureRunner();  // Stop()
  // Records the request durably and returns its receipt's JSON.
  Result<std::string> Request(uint64_t viewer, const std::string& by);
  // Waits for the step in progress; the rest stays for the next start.
  void Stop();

 private:
  void Loop();

  FileSystem* fs_;
  ErasurePaths paths_;
  Clock* clock_;
  ErasureStore store_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool pending_ = true;  // run the unfinished requests at start
  std::thread thread_;
};

// One place the viewer may still be (`watershed erase --verify`).
struct Occurrence {
  std::string store;  // "lake", "log", "checkpoint", "feature-store", "exposures"
  std::string path;
  int64_t rows = 0;  // rows or records holding the viewer; -1: not scanned (may hold them)
  std::optional<int64_t> expires_ms;
  std::string note;
};
Result<std::vector<Occurrence>> FindViewer(FileSystem* fs, const ErasurePaths& paths, uint64_t viewer, int64_t now_ms);

// "2026-12-05T21:13:00Z"
std::string UtcTime(int64_t ms);

}  // namespace watershed::app
