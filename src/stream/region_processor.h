#pragma once
// Runs the partition processors of the partitions of one region's log that
// this process owns, on a small pool of worker threads. Each owned partition
// is served by one worker (partition % threads), which reads the log, feeds
// the partition's PartitionProcessor, writes the changes to the live store,
// and checkpoints every checkpoint_interval_ms, at Revoke() and at Stop().
//
// Ownership is dynamic: Assign(p) restores p's last checkpoint, writes the
// restored state to the live store (absolute values), finishes the lake
// commit the checkpoint prepared, refills the lake's buffers it carried
// (re-reading the log from the oldest buffered row into the sink only), and resumes reading
// the log at the checkpoint's offset, so everything after it is replayed;
// Revoke(p) stops p, checkpoints it and drops its state. A consumer group
// (log/kafka_group.h) drives them when several processes share a region;
// Start() owns every partition (the all-in-one server).
//
// Handover: the next owner of p must Assign it only after the previous
// owner's Revoke(p) returned (the group's cooperative protocol guarantees
// this for members that did not lose their session), so it starts from the
// final checkpoint. A late owner (zombie) is harmless to a live store that
// refuses writes older than ones applied (PartitionWrite::next_offset); its
// checkpoints carry correct state for their offsets, at worst older ones,
// which only means more replay.
//
// Threads: workers own nothing but a position in the rotation. Each loop they
// take a snapshot of the owned partitions of their rotation (under mu_) and
// step each under the partition's run_mu; Revoke removes the partition from
// the table first, then takes run_mu (waiting for the worker's current step)
// and marks it revoked, so a worker holding an old snapshot skips it.

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "catalog/story_catalog.h"
#include "core/clock.h"
#include "core/metrics.h"
#include "lake/lake_sink.h"
#include "log/log.h"
#include "serve/live_store.h"
#include "stream/checkpoint.h"
#include "stream/partition_processor.h"
#include "trace/tracer.h"

namespace watershed::stream {

struct RunnerOptions {
  ProcessorOptions processor;
  int64_t checkpoint_interval_ms = 10'000;
  size_t max_batch = 8192;  // records per read → one live-store write
  int threads = 1;          // workers for this region's partitions
  Clock* clock = Clock::Real();
  // The region's lake, or null for none: each partition then feeds a
  // lake::PartitionSink whose commits ride on the checkpoints (prepared in
  // the checkpoint, committed once it is durable, finished at Assign).
  lake::RegionLake* lake = nullptr;
  // The lake commits at the first checkpoint this long after its last
  // commit (and at Revoke / Stop); other checkpoints carry its files and the
  // time their range opened, so the interval counts across restarts.
  int64_t lake_commit_interval_ms = 300'000;
  // The story catalogue: story_minute rows carry its author at the time the
  // minute is written (0 when it does not know the story), never the
  // author_id of events. Null: 0 for every story.
  catalog::CatalogReader* catalog = nullptr;
  // Observed when set: per record, its append time to the live store write
  // that made it visible (freshness); per checkpoint, how long it took.
  Histogram* visible_seconds = nullptr;
  Histogram* checkpoint_seconds = nullptr;
  // Set: a record whose traceparent is sampled gets a process span (its
  // batch, to the store write) and a visible span (its append to that write).
  trace::Tracer* tracer = nullptr;
};

struct PartitionStatus {
  uint32_t partition = 0;
  uint64_t end_offset = 0;        // readable end of the log
  uint64_t processed_offset = 0;  // reflected in the live store
  uint64_t checkpoint_offset = 0;
  uint64_t checkpoint_id = 0;
  int64_t watermark = INT64_MIN;
  ProcessorCounters counters;
  uint64_t dedup_entries = 0;
  uint64_t resident_stories = 0;  // in memory
  uint64_t cold_stories = 0;      // evicted for idleness, in the cold store
  uint64_t cold_bytes = 0;        // the cold store's file
  uint64_t evicted_stories = 0;   // evictions since this owner took the partition
  uint64_t reloaded_stories = 0;  // cold stories brought back by an event, likewise
  uint64_t lake_rows = 0;          // rows this owner committed to the lake
  uint64_t lake_refused_rows = 0;  // rows of another region, refused by the lake
  // Wall-clock ms of the last checkpoint and lake commit that succeeded (or
  // were not needed), counted from when this owner took the partition (the
  // lake's from when its open range began); failures since then.
  int64_t checkpoint_ok_ms = 0, lake_commit_ok_ms = 0;
  uint64_t checkpoint_failures = 0, lake_commit_failures = 0;
  std::string error;  // last error of this partition's thread, empty when healthy
};

// The lake's copy of a processed batch: every record into raw_events, the
// distinct ones (`distinct` from ProcessBatch) into events, the 1-minute
// windows `write` (its TakeWrite) closed into story_minute, with the
// catalogue's author of each story (0 without a catalogue or when it does not
// know the story).
void FeedLakeSink(lake::PartitionSink& sink, Region region, catalog::CatalogReader* catalog,
                  const std::vector<log::LogRecord>& records, const std::vector<uint8_t>& distinct,
                  const serve::PartitionWrite& write);

class RegionProcessor {
 public:
  RegionProcessor(Region region, log::Log* log, serve::LiveStore* store, CheckpointStore* checkpoints,
                  const RunnerOptions& options);
  // Stop(). REQUIRES: no Assign or Revoke running or to come (close the
  // consumer group that drives them first).
  ~RegionProcessor();

  // Assigns every partition of the log. Fails at the first partition that
  // cannot be assigned (the ones before it stay assigned).
  Status Start();
  // Takes ownership of `partition`: claims it in the checkpoint store (a
  // former owner still running is fenced from then on), restores its
  // checkpoint, writes the restored state to the live store, opens a reader
  // at the checkpoint's offset and starts processing (starting the workers
  // on first use).
  // No-op when already owned. Thread-safe; blocks while another Assign,
  // Revoke or Stop runs. Errors: kInvalidArgument (no such partition),
  // kFailedPrecondition (after Stop), kCorruption (checkpoint disagrees with
  // the log), store and log errors; the partition is then not owned.
  Status Assign(uint32_t partition);
  // Gives up `partition`: waits for its worker's current step, writes a final
  // checkpoint, drops its state and reader. With `commit_lake`, the lake
  // commits its files too; without (a rebalance, which must be quick: a
  // member slow to revoke loses its session and becomes a zombie), the
  // checkpoint carries them to the next owner. No-op when not owned. The
  // partition is dropped even when the checkpoint fails (the error is
  // returned; the next owner replays from the previous checkpoint).
  // Thread-safe (e.g. from a rebalance callback).
  Status Revoke(uint32_t partition, bool commit_lake = true);
  // Stops the threads and writes a final checkpoint per owned partition;
  // the partitions stay listed in GetStatus(). Idempotent.
  Status Stop();
  // The owned partitions, in order.
  std::vector<uint32_t> Owned() const;
  // One entry per owned partition, in partition order.
  std::vector<PartitionStatus> GetStatus() const;
  // The totals (counters, stories evicted and reloaded, lake rows,
  // failures) of the partitions this processor released (Revoke), as they
  // were then: added to GetStatus()'s, a total of this process never goes
  // down when a partition moves to another member (a Prometheus counter).
  PartitionStatus Released() const;
  // Acknowledged records of the owned partitions not yet reflected in the live store.
  uint64_t Lag() const;
  // Erasure while processing runs (docs/governance.md "Erasure"): for every
  // partition of the log — all must be owned here, else kFailedPrecondition
  // (another member owns some: erase with every member stopped) — once it
  // has processed the log up to its end as of this call (kUnavailable past
  // `deadline`), under its run lock: PartitionProcessor::EraseViewer (a
  // random stand-in in every viewer set, dedup entries dropped, cold stories
  // rewritten), then a checkpoint that rewrites the cold store whole and
  // commits the lake's buffered rows, so no checkpoint, cold store or
  // uncommitted lake file of this owner keeps the id. Events of the viewer
  // appended later count again (a new viewer). Returns the totals.
  Result<PartitionProcessor::ErasedViewer> EraseViewer(ViewerId viewer, std::chrono::steady_clock::time_point deadline);
  Region region() const { return region_; }

 private:
  struct Partition;
  // The owned partitions served by `worker`, or all of them for -1.
  std::vector<std::shared_ptr<Partition>> Snapshot(int worker) const;
  void RunWorker(int worker);
  // Reads and processes one batch; returns whether there were records.
  bool Step(Partition& p, std::vector<log::LogRecord>& records, serve::PartitionWrite& write);
  // `commit_lake`: the lake commits now, whatever lake_commit_interval_ms
  // says. Counts and times SaveCheckpoint for the metrics.
  // `after_erasure`: saved even when the offset has not moved, the cold
  // store rewritten whole, the lake committed.
  Status CheckpointNow(Partition& p, bool commit_lake, bool after_erasure = false);
  Status SaveCheckpoint(Partition& p, bool commit_lake, bool after_erasure);
  static PartitionStatus StatusOf(const Partition& p, const log::Log& log);
  // (append ms, records) runs of a batch, and their freshness once the live
  // store took them (options_.visible_seconds).
  static std::vector<std::pair<int64_t, uint64_t>> AppendRuns(const std::vector<log::LogRecord>& records);
  void ObserveVisible(const std::vector<std::pair<int64_t, uint64_t>>& appends) const;
  void TraceBatch(const Partition& p, const std::vector<log::LogRecord>& records, int64_t start_unix_ns) const;
  // Re-reads the log from the sink's refill_from() to the restored offset
  // into the lake's buffers (the checkpoint carried them, lake_sink.h).
  Status RefillLake(Partition& p);
  // The sink's prepared commit, if this process still owns the partition.
  Status CommitLake(Partition& p);
  // Another owner took `p` over (a zombie learns it here): it stops, and its
  // data files no checkpoint lists are deleted. Revoke drops it later.
  void Fence(Partition& p);

  Region region_;
  log::Log* log_;
  serve::LiveStore* store_;
  CheckpointStore* checkpoints_;
  RunnerOptions options_;
  int threads_;

  // Serializes Assign, Revoke, Stop; guards the two below and, once Assign
  // has read the region's key into it, options_.processor.hash_key.
  std::mutex ownership_mu_;
  bool stopped_ = false;
  std::vector<std::thread> workers_;

  mutable std::mutex mu_;  // guards partitions_ (the table, not the partitions) and released_
  // Indexed by partition; null when not owned.
  std::vector<std::shared_ptr<Partition>> partitions_;
  PartitionStatus released_;
  std::atomic<bool> stop_{false};
};

}  // namespace watershed::stream
