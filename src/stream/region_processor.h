#pragma once
// Runs one region's partition processors on a small pool of worker threads;
// each partition belongs to one worker (partition % threads), which reads
// the log, feeds the partition's PartitionProcessor, writes the changes to
// the live store, and checkpoints every checkpoint_interval_ms and at Stop().
//
// Start() restores each partition's last checkpoint, writes the restored
// state to the live store (absolute values), and resumes reading the log at
// the checkpoint's offset, so everything after it is replayed.

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "log/log.h"
#include "serve/live_store.h"
#include "stream/checkpoint.h"
#include "stream/partition_processor.h"

namespace watershed::stream {

struct RunnerOptions {
  ProcessorOptions processor;
  int64_t checkpoint_interval_ms = 10'000;
  size_t max_batch = 8192;  // records per read → one live-store write
  int threads = 1;          // workers for this region's partitions
  Clock* clock = Clock::Real();
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
  std::string error;  // last error of this partition's thread, empty when healthy
};

class RegionProcessor {
 public:
  RegionProcessor(Region region, log::Log* log, serve::LiveStore* store, CheckpointStore* checkpoints,
                  const RunnerOptions& options);
  ~RegionProcessor();

  Status Start();
  // Stops the threads and writes a final checkpoint per partition.
  Status Stop();
  std::vector<PartitionStatus> GetStatus() const;
  // Acknowledged records not yet reflected in the live store.
  uint64_t Lag() const;
  Region region() const { return region_; }

 private:
  struct Partition;
  void RunWorker(std::vector<Partition*> owned);
  // Reads and processes one batch; returns whether there were records.
  bool Step(Partition& p, std::vector<log::LogRecord>& records, serve::PartitionWrite& write);
  Status CheckpointNow(Partition& p);

  Region region_;
  log::Log* log_;
  serve::LiveStore* store_;
  CheckpointStore* checkpoints_;
  RunnerOptions options_;
  std::vector<std::unique_ptr<Partition>> partitions_;
  std::vector<std::thread> workers_;
  std::atomic<bool> stop_{false};
};

}  // namespace watershed::stream
