#pragma once
// The processor of one log partition: a deterministic state machine. Feed
// it the partition's records in log order; its state and every write it
// produces depend only on those records, never on a clock or on where
// checkpoints fell (docs/architecture.md, "Determinism").
//
// Per record: exact dedup on (viewer_id, event_id) (TTL on append time): an
// event id is its viewer's idempotency key, so a viewer who learns another's
// id cannot make that event a duplicate. Then the event
// updates its story's running totals and, unless too late, its 5 s and 1 min
// event-time windows. Watermark W = min(max event time, max append time) -
// out_of_order, over the distinct events so far (never decreasing). Event
// time is the client's clock, which the gateway lets lead its own by up to
// max-future (5 min): bounded by the log's append time, one event from a
// clock running ahead cannot close the partition's current windows early and
// make honest events late. Append times are in the log records, so W stays a
// function of the log. A window [s, s+S) takes an event while W < s + S + allowed_lateness and is
// final once W reaches that bound. Closed windows stay (without their viewer
// sets) until W passes s + S + retention, then are dropped. Not thread-safe.
//
// Idle stories (with a cold store and story_idle_evict_ms > 0): a story with
// no distinct event for story_idle_evict_ms of append time and no open
// window is evicted at TakeWrite into the cold store (cold_store.h) — its
// author, totals, exact viewer set, retained closed windows and last event
// time — and brought back by its next record, before anything else of it
// is read: answers are exactly those of a processor that never evicts. The
// evicted set after a TakeWrite is a function of the records (every story
// idle and closed by then, whatever the cadence of earlier TakeWrites), so
// Serialize, which holds only resident stories, is too — when called right
// after a TakeWrite, as checkpoints are.

#include <deque>
#include <map>
#include <optional>
#include <queue>
#include <string>
#include <vector>

#include "log/log.h"
#include "serve/live_store.h"
#include "stream/cold_store.h"
#include "stream/dedup_table.h"
#include "stream/story_index.h"
#include "stream/viewer_set.h"

namespace watershed::stream {

struct ProcessorOptions {
  int64_t dedup_ttl_ms = 3'600'000;
  int64_t out_of_order_ms = 5'000;
  int64_t allowed_lateness_ms = 60'000;
  int64_t retention_5s_ms = 3'600'000;   // closed 5 s windows kept for the series API
  int64_t retention_1m_ms = 86'400'000;  // closed 1 min windows
  // The secret of the dedup, story and viewer-set hashes (keyed_hash.h). Unset: a
  // fresh random key. It decides memory layout only: no answer and no byte
  // of Serialize depends on it.
  std::optional<HashKey> hash_key;
  // A story idle this long (append time) with no open window moves to the
  // cold store (SetColdStore); 0 = never.
  int64_t story_idle_evict_ms = 0;
};

struct ProcessorCounters {
  uint64_t records = 0;     // every record read, duplicates included
  uint64_t duplicates = 0;
  uint64_t late[serve::kWindowSizeCount] = {0, 0};  // events too late for the 5 s / 1 min window
};

class PartitionProcessor {
 public:
  PartitionProcessor(Region region, uint32_t partition, const ProcessorOptions& options);

  // Returns whether the record is a distinct event (not a duplicate).
  // REQUIRES: r.offset == next_offset().
  bool Process(const log::LogRecord& r);
  // Process() for consecutive records, prefetching each record's dedup slot,
  // story and viewer-set slot a few records ahead (memory latency, not
  // arithmetic, bounds this loop). With `distinct`, it gets one flag per record.
  void ProcessBatch(const std::vector<log::LogRecord>& records, std::vector<uint8_t>* distinct = nullptr);
  // Closes windows the watermark passed, drops expired state, and moves what
  // changed since the last call into *out (cleared first). Then evicts idle stories.
  void TakeWrite(serve::PartitionWrite* out);
  // Everything the live store should hold for this partition (after a
  // restore), cold stories included.
  void FullWrite(serve::PartitionWrite* out);
  // Where idle stories go (not owned; outlives the processor's use of it).
  // Set before Restore: Restore takes the restored resident stories out of it
  // and rebuilds the drop queue of cold stories' windows from it.
  void SetColdStore(ColdStore* cold) { cold_ = cold; }
  // The first cold-store error (reading a story back, evicting, FullWrite);
  // after one, Process consumes nothing more and the partition must stop.
  const Status& status() const { return status_; }

  LogOffset next_offset() const { return next_offset_; }
  // INT64_MIN before the first event.
  int64_t watermark() const { return watermark_; }
  const ProcessorCounters& counters() const { return counters_; }
  size_t dedup_entries() const { return dedup_.size() + legacy_dedup_.size(); }
  size_t dedup_memory_bytes() const { return dedup_.MemoryBytes() + legacy_dedup_.MemoryBytes(); }
  size_t open_windows() const { return open_windows_; }
  size_t resident_stories() const { return stories_.size(); }
  // Not part of the state: they depend on TakeWrite's cadence.
  uint64_t evicted_total() const { return evicted_total_; }
  uint64_t reloaded_total() const { return reloaded_total_; }

  // The whole state (offset, dedup, resident stories, windows, counters),
  // versioned; cold stories are in the cold store.
  void Serialize(std::string* out) const;
  // Reads every version Serialize ever wrote. A version 1 state (dedup on
  // event_id alone) keeps its ids matching any viewer until they expire;
  // before version 3, max event time is the stored watermark + out_of_order;
  // before 4, a story's last event time is the state's last append time.
  Status Restore(std::string_view data);

  // Erasure of a viewer (docs/governance.md "Erasure"; offline: run on a
  // restored state, then Serialize and the cold store's Commit). In every
  // viewer set — resident stories' totals and open windows, and the cold
  // stories (rewritten in the cold store) — the id is replaced by a fresh
  // random stand-in, one per set, so no published unique count changes and
  // no stand-in links two sets; the dedup entries of the viewer are dropped.
  // Totals and window aggregates hold no ids and stay.
  struct ErasedViewer {
    uint64_t sets = 0;  // viewer sets that held the id
    uint64_t dedup_entries = 0;
    uint64_t cold_stories = 0;  // cold records rewritten
  };
  Result<ErasedViewer> EraseViewer(ViewerId viewer);
  // `erase --verify`: whether the restored state (viewer sets, dedup) holds
  // the id; whether a cold record's payload (ColdStore, plaintext) does.
  bool HoldsViewer(ViewerId viewer) const;
  Result<bool> ColdRecordHolds(std::string_view payload, ViewerId viewer) const;

 private:
  struct Window {
    serve::Aggregates agg;
    ViewerSet viewers;  // emptied when final
    bool final = false;
    bool dirty = false;
  };
  struct Story {
    AuthorId author;
    serve::Aggregates totals;
    ViewerSet viewers;
    std::map<int64_t, Window> windows[serve::kWindowSizeCount];
    // The window each size last touched: most events hit the current window,
    // so this skips the map walk. Reset when that window is dropped.
    Window* recent[serve::kWindowSizeCount] = {nullptr, nullptr};
    int64_t recent_start[serve::kWindowSizeCount] = {0, 0};
    int64_t last_touch = 0;            // append time of its last distinct event
    int64_t queued_at = INT64_MIN / 2;  // of its live idle_queue_ entry
    bool dirty = false;
  };
  using Due = std::pair<int64_t, uint64_t>;  // {time, story}
  using DueQueue = std::priority_queue<Due, std::vector<Due>, std::greater<Due>>;
  struct Drop {
    int64_t at;
    uint64_t story;
    int64_t start;
  };

  // Process(r) given ViewerSet::Hash(key_, r's viewer id).
  bool Process(const log::LogRecord& r, uint64_t viewer_hash);
  // Whether Process would count r as a duplicate (without recording it).
  bool Duplicate(const log::LogRecord& r) const;
  int64_t Retention(int size) const;
  // The watermark at which a closed window leaves retention.
  int64_t DropAt(int size, int64_t start) const;
  void MarkDirty(uint64_t story_id, Story& s);
  void MarkDirty(const serve::WindowKey& key, Window& w);
  // Marks final the windows the watermark closed.
  void FinalizeWindows();
  // Forgets closed windows past retention (after their last write was taken).
  void DropExpiredWindows();
  // Rebuilds the close, drop and idle queues (after Restore).
  Status RebuildQueues();
  // The watermark at which the story has no open window left.
  int64_t ClosedBy(const Story& s) const;
  void Touch(uint64_t id, Story& s);
  // Evicts every idle, closed story (TakeWrite, after the write is taken).
  void EvictIdle();
  void Evict(uint64_t id, Story& s);
  // Brings a cold story back. Its windows already dropped stay dropped.
  Status Reload(uint64_t id);
  // Checkpoints: fixed 64-bit words; cold records: `compact` (varints).
  void EncodeStory(const Story& s, bool compact, std::string* out) const;
  Status DecodeStory(std::string_view* in, uint64_t version, bool compact, Story* s) const;

  Region region_;
  uint32_t partition_;
  ProcessorOptions options_;
  LogOffset next_offset_;
  int64_t watermark_ = INT64_MIN;
  int64_t last_append_ms_ = 0;
  int64_t max_event_time_ = INT64_MIN;
  ProcessorCounters counters_;
  HashKey key_;
  DedupTable dedup_;
  // Ids from a version 1 state (viewer 0 stands for any viewer); empty one TTL after such a restore.
  DedupTable legacy_dedup_;
  StoryIndex<Story> stories_;
  // Open windows by the watermark that closes them.
  // (Bucketed: windows close at few distinct times, so this is one map node
  // per close time rather than one per window.)
  std::map<int64_t, std::vector<serve::WindowKey>> pending_close_;
  size_t open_windows_ = 0;
  // Closed windows in the order they leave retention, per window size.
  std::deque<Drop> pending_drop_[serve::kWindowSizeCount];
  // Changed since the last TakeWrite. Pointers into stories_ stay valid:
  // StoryIndex objects and map nodes do not move, and nothing dirty is erased.
  std::vector<std::pair<uint64_t, Story*>> dirty_stories_;
  std::vector<std::pair<serve::WindowKey, Window*>> dirty_windows_;
  std::vector<serve::WindowKey> dropped_;
  // Eviction candidates: {a time after which the story may be idle, id}
  // (entries a later touch made stale are skipped), and idle stories waiting
  // for their windows to close: {ClosedBy, id}. Every resident story is in
  // one of them, so each TakeWrite finds every story it must evict.
  DueQueue idle_queue_, close_queue_;
  ColdStore* cold_ = nullptr;
  Status status_;
  uint64_t evicted_total_ = 0, reloaded_total_ = 0;
  std::string scratch_;
};

}  // namespace watershed::stream
