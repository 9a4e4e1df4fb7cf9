#pragma once
// Erasure of a viewer (GDPR art. 17; docs/governance.md "Erasure"): the
// durable request, its receipt, the steps that remove the viewer's rows
// from the lake, and the scan behind `watershed erase --verify`.
//
// A request is one file, <data-dir>/erasures/<id>.json, replaced atomically
// (temp + fdatasync + rename + directory fsync) when it is created and after
// every step, so a run killed at any point resumes where it was: each step
// (lake/erasure.h) is idempotent, and a step recorded done is not run again.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "core/file_system.h"
#include "core/status.h"

namespace watershed::app {

// Viewer ids are written to the lake as INT64: 1..2^63-1.
inline constexpr uint64_t kMaxErasableViewer = static_cast<uint64_t>(INT64_MAX);

struct ErasureRequest {
  std::string id;  // "<requested ms>-<16 hex>": sorts by time
  uint64_t viewer = 0;
  int64_t requested_ms = 0;
  std::string requested_by;       // "cli" or "user <sub>" (the admin's token)
  std::vector<std::string> done;  // steps done, in order ("lake eu/events rewrite", ...)
  bool complete = false;          // every step done
  bool operator==(const ErasureRequest&) const = default;
};

std::string EncodeErasureRequest(const ErasureRequest& r);
// The file's JSON; kCorruption for anything EncodeErasureRequest does not
// write (bounded: at most 4096 steps of 200 bytes, ids and names checked).
Result<ErasureRequest> ParseErasureRequest(std::string_view text);

// Where everything lives: what `serve` and the CLI take from their settings.
struct ErasurePaths {
  std::string data_dir;
  std::string lake_root;
  std::string checkpoint_dir;
  std::string log_root;  // the embedded log's root (<data-dir>/log); empty: Kafka (its topics' retention)
  std::vector<Region> regions;
  int64_t log_retention_ms = 7ll * 86'400'000;
  std::string feature_snapshot;  // the embedded feature store's snapshot; empty: none
  std::string exposures_dir;     // recs exposure logs; empty: none
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

// Runs the steps of `*r` not done yet, saving the request after each.
// `log` gets one line per step.
Status RunErasure(FileSystem* fs, const ErasurePaths& paths, ErasureStore* store, ErasureRequest* r,
                  const std::function<void(const std::string&)>& log);

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
