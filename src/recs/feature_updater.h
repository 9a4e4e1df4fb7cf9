#pragma once
// FeatureUpdater: the online consumer of the log that keeps a FeatureStore up
// to date (docs/recs.md, "Online updates"). It reads every partition of the
// given region logs from the position the store holds for it, turns each
// record into a FeatureEvent, and applies each partition's batch with
// FeatureStore::ApplyLogBatch — the events and the new position together, so
// the store's features always match exactly the records below its positions:
// a restart (or a second updater over the same store) resumes where the
// store is, and a batch is never counted twice.
//
// Records → events: as the lake's interactions (EngagementWeight): a view
// counts when watch_ms >= min_watch_ms (weight 1), a share (2) and a reply
// (3) always; a shorter view is consumed without an event. The time is
// min(event_time, append_time): a client clock ahead of the log's cannot push
// the watermark into the future (the store answers only as of times after it).
// Duplicates in the log (the same event_id appended twice by a client's retry)
// count once: a record whose (viewer, event_id) is among the
// dedup_window_records records before it in its partition is consumed without
// an event. The window is a function of the log alone — at start it is filled
// again from the records before the store's position — so replays and restarts
// skip exactly the same records (the exactly-once effect holds).
//
// The embedded store lives in this process: with snapshot_path set, the
// updater writes a snapshot (state and positions together) every
// snapshot_interval_ms and at Stop(); a restart restores it and replays the
// log from its positions. Records the log no longer retains are lost to the
// features (the updater then reports the error and stays stopped on that
// partition).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "catalog/story_catalog.h"
#include "core/file_system.h"
#include "log/log.h"
#include "recs/feature_store.h"
#include "recs/lake_interactions.h"

namespace watershed::recs {

struct FeatureUpdaterOptions {
  size_t batch_records = 2000;  // per partition per ApplyLogBatch
  // Which records count and how much: as `recs eval --from-lake`.
  EngagementOptions engagement;
  // Per partition: a record is a duplicate when its (viewer, event_id) is among the window's records before it
  // (0: no deduplication). Memory: ~80 bytes per record of window, per partition.
  // Counted in records, not time, on purpose: (1) memory stays bounded whatever the traffic (a time window grows
  // with a burst); (2) at start the window is refilled by reading back `window` offsets from the store's position,
  // which the log's offset-addressed readers do directly, while a time window would need the offset of an append
  // time the log cannot look up; (3) it is a function of the log alone, so replays skip exactly the same records.
  // The cost: the time covered shrinks as traffic grows (10,000 records are 10 s of a partition at 1,000 events/s;
  // a client's retries come within seconds). A retry later than the window counts twice in the features only —
  // the lake deduplicates by event_id on its own.
  size_t dedup_window_records = 10'000;
  // Item features from the story catalogue (none when null; it must outlive
  // the updater): before a batch is applied, every story it names whose
  // catalogue record this updater has not put yet, or has put in an older
  // version, is written with PutItem — author, created_at and tags (ids:
  // CatalogTagId). A deleted story keeps what it had. Events of stories the
  // catalogue does not hold (or has deleted) are skipped, and authors come
  // from the catalogue only, never from an event's author_id.
  const catalog::CatalogReader* catalog = nullptr;
  // Embedded store only (ignored otherwise): where and how often to snapshot
  // (0: only at Stop()).
  FileSystem* fs = nullptr;
  std::string snapshot_path;
  int64_t snapshot_interval_ms = 60'000;
  std::chrono::milliseconds retry_backoff{500};
  std::chrono::milliseconds idle_wait{200};  // longest wait for new records
  // Called on the updater's thread after each batch the store applied, with its log's region (e.g. the per-region
  // trending of recs/candidate_signals.h); never for a batch the store refused.
  std::function<void(uint8_t region, const std::vector<FeatureEvent>& events)> on_applied;
};

struct FeatureUpdaterSource {
  Region region = Region::kUs;
  log::Log* log = nullptr;
};

// The feature store's id of a catalogue tag: CRC-32C of its text, the same in
// every process (training from a Dataset uses the Dataset's own tag ids).
uint32_t CatalogTagId(std::string_view tag);

// The event a record becomes, or nothing (a view below min_watch_ms).
std::optional<FeatureEvent> ToFeatureEvent(const log::LogRecord& record, const FeatureUpdaterOptions& options);

class FeatureUpdater {
 public:
  // `store` and the logs must outlive the updater.
  FeatureUpdater(FeatureStore* store, std::vector<FeatureUpdaterSource> sources, FeatureUpdaterOptions options);
  ~FeatureUpdater();

  // One pass over every partition: reads up to batch_records records from the
  // store's position and applies them. Returns the records consumed. On an
  // error the next Step starts again from the store's positions.
  Result<size_t> Step();
  // Runs Step on a thread of its own until Stop (errors are retried after
  // retry_backoff and kept in last_error()).
  void Start();
  // Stops the thread and, for the embedded store, writes the final snapshot.
  Status Stop();
  // Writes the embedded store's snapshot now (kFailedPrecondition for
  // another backend or without a snapshot path). Only between Steps: the
  // thread calls it itself.
  Status Snapshot();
  // Erasure: once the thread (when started) has applied every record the
  // logs held at the call (kUnavailable after 10 s), FeatureStore::EraseViewer
  // between two Steps (from any thread), then, for the embedded store with a
  // snapshot path, a snapshot at once, so the file no longer holds the viewer
  // when this returns.
  Result<bool> EraseViewer(uint64_t viewer);

  uint64_t applied_events() const { return applied_events_.load(); }
  uint64_t consumed_records() const { return consumed_records_.load(); }
  uint64_t snapshots() const { return snapshots_.load(); }
  // Records consumed without an event as duplicates of one in the window.
  uint64_t duplicate_records() const { return duplicate_records_.load(); }
  // Records readable in the logs and not yet in the store.
  uint64_t Lag() const;
  std::string last_error() const;

 private:
  // The (viewer, event_id) of the last `capacity` records of a partition.
  class DedupWindow {
   public:
    void Clear();
    // Whether `record` repeats one in the window; then it enters the window (the oldest leaves past capacity).
    bool SeenThenPush(const log::LogRecord& record, size_t capacity);

   private:
    struct Key {
      uint64_t viewer, hi, lo;
      bool operator==(const Key&) const = default;
    };
    struct KeyHash {
      size_t operator()(const Key& k) const { return k.hi * 0x9E3779B97F4A7C15ull ^ k.lo ^ (k.viewer << 1); }
    };
    std::deque<Key> order_;
    std::unordered_map<Key, uint32_t, KeyHash> count_;
  };
  struct Cursor {
    FeatureUpdaterSource source;
    uint32_t partition = 0;
    uint64_t position = 0;  // next offset, as the store holds it
    std::unique_ptr<log::LogReader> reader;
    DedupWindow dedup;
  };
  Status Init();
  void Run();
  // PutItem for the stories of `records` the catalogue has news of.
  Status PutCatalogItems(const std::vector<log::LogRecord>& records);

  FeatureStore* const store_;
  const std::vector<FeatureUpdaterSource> sources_;
  const FeatureUpdaterOptions options_;
  std::vector<Cursor> cursors_;
  std::unordered_map<uint64_t, uint64_t> item_versions_;  // story → catalogue version put
  bool initialised_ = false;
  std::chrono::steady_clock::time_point last_snapshot_ = std::chrono::steady_clock::now();
  std::atomic<uint64_t> applied_events_{0}, consumed_records_{0}, snapshots_{0}, duplicate_records_{0};
  std::vector<std::atomic<uint64_t>> positions_;  // per cursor, for Lag() from other threads
  std::mutex work_mu_;                            // held by a Step and its snapshot, and by EraseViewer
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::string last_error_;
  std::thread thread_;
};

}  // namespace watershed::recs
