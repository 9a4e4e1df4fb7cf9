#pragma once
// The embedded log: per partition, a directory of append-only segment files
// of CRC-framed records (docs/log_format.md). One writer thread per log
// group-commits everything queued since its last round: it writes each
// partition's records with one write(), fdatasyncs the partitions it wrote
// concurrently (FsyncPolicy::kAlways), then publishes the new end offsets and calls the
// append callbacks. Torn tails are truncated at Open().

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "core/clock.h"
#include "core/file_system.h"
#include "core/worker_pool.h"
#include "keys/key_provider.h"
#include "log/log.h"
#include "log/log_meta.h"

namespace watershed::log {

enum class FsyncPolicy {
  kAlways,    // fdatasync before acknowledging; readers see only synced records
  kInterval,  // acknowledge after write(); fdatasync every fsync_interval_ms
  kNever,     // leave syncing to the OS (tests and benchmarks only)
};
Result<FsyncPolicy> ParseFsyncPolicy(std::string_view s);  // "always" | "interval" | "never"

struct EmbeddedLogOptions {
  std::string dir;  // this log's root; partitions live in dir/pNNN/
  uint32_t partitions = 8;
  // The scheme of a log this Open creates (LOG_META v2 records it). A log
  // that exists keeps the scheme of its LOG_META (v1: legacy); Open refuses
  // a set value that differs from it. Unset: aligned for a new log.
  std::optional<PartitionScheme> partition_scheme;
  uint64_t segment_bytes = 64ull << 20;
  FsyncPolicy fsync = FsyncPolicy::kAlways;
  int64_t fsync_interval_ms = 100;
  int64_t retention_ms = 7ll * 24 * 3600 * 1000;  // sealed segments older than this go...
  uint64_t retention_bytes = 0;                    // ...and the oldest beyond this size per partition (0 = no limit)
  FileSystem* fs = FileSystem::Default();
  Clock* clock = Clock::Real();
  // A damaged record followed by valid ones in the last segment is not what
  // a crash leaves (a crash tears only the end): Open refuses it
  // (kCorruption naming the file, the byte and the records after it) unless
  // this is set; then it truncates there too, dropping those records.
  bool repair = false;
  // encryption = on (segment_crypto.h): each new segment gets a data key
  // wrapped by this region's provider, and its records are sealed (the
  // provider's region goes into each record's additional data). Segments
  // written before stay readable. Null: plaintext segments; Open refuses a
  // log that holds encrypted ones.
  keys::KeyProvider* keys = nullptr;
};

struct LogRecoveryReport {
  uint64_t truncated_bytes = 0;  // bytes dropped at open (torn tails, and repairs), over all partitions
  uint64_t repaired_records = 0;  // valid records after damage that `repair` dropped
};

class EmbeddedLog final : public Log {
 public:
  static Result<std::unique_ptr<EmbeddedLog>> Open(const EmbeddedLogOptions& options);
  ~EmbeddedLog() override;

  uint32_t partition_count() const override { return options_.partitions; }
  PartitionScheme partition_scheme() const override { return scheme_; }
  void AppendAsync(std::vector<Event> events, AppendCallback done) override;
  LogOffset EndOffset(uint32_t partition) const override;
  Result<std::unique_ptr<LogReader>> NewReader(uint32_t partition, LogOffset from) override;
  void WaitForData(uint32_t partition, LogOffset offset, std::chrono::milliseconds timeout) override;
  uint64_t DataVersion() const override { return data_version_.load(std::memory_order_acquire); }
  void WaitForNewData(uint64_t seen, std::chrono::milliseconds timeout) override;
  void SetRetentionFloor(uint32_t partition, LogOffset floor) override;
  uint64_t sync_failures() const override { return sync_failures_.load(std::memory_order_relaxed); }
  // Rolls put off because the key provider could not wrap the next
  // segment's data key (the full segment takes the records meanwhile).
  uint64_t roll_key_failures() const { return roll_key_failures_.load(std::memory_order_relaxed); }
  void Close() override;

  // The LOG_META of the log in `dir`, if it has one; kCorruption when it is
  // unreadable or names an unknown version or scheme.
  static Result<std::optional<LogMeta>> ReadMeta(FileSystem* fs, const std::string& dir);

  // First retained offset of the partition.
  LogOffset StartOffset(uint32_t partition) const;
  // Deletes sealed segments past retention. The writer thread runs it every
  // 10 s; public for tests.
  Status EnforceRetention();
  const LogRecoveryReport& recovery_report() const { return recovery_; }

  struct Partition;  // defined in the .cc

 private:
  explicit EmbeddedLog(const EmbeddedLogOptions& options);
  Status Recover();
  void WriterLoop();
  struct Pending {
    std::vector<Event> events;
    AppendCallback done;
  };
  Status WriteGroup(std::vector<Pending>& group);
  // `key`: the next segment's data key (with encryption on), obtained before
  // the full segment is closed.
  Status Roll(Partition& part, int64_t append_ms, const keys::DataKey* key);
  // Creates the segment starting at `base` and makes it the active one; with
  // encryption on, its key file first (`key`, or a new one when null).
  Status StartSegment(Partition& part, uint64_t base, int64_t first_append_ms, const keys::DataKey* key = nullptr);
  // Unwraps the data keys of the segments that have key files.
  Status LoadSegmentKeys(Partition& part, const std::vector<std::string>& names);
  Status SyncDirty();

  EmbeddedLogOptions options_;
  PartitionScheme scheme_ = PartitionScheme::kAligned;  // set by Recover(), then fixed
  std::vector<std::unique_ptr<Partition>> partitions_;
  LogRecoveryReport recovery_;
  int64_t last_append_ms_ = 0;  // writer thread only
  int64_t last_sync_ms_ = 0;    // writer thread only
  int64_t last_retention_ms_ = 0;
  bool failed_ = false;  // writer thread only: an fsync failed, the log refuses appends
  std::atomic<uint64_t> sync_failures_{0};
  std::atomic<uint64_t> roll_key_failures_{0};
  WorkerPool sync_pool_;  // fdatasyncs the partitions of a group concurrently

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::vector<Pending> queue_;
  bool closing_ = false;

  std::atomic<uint64_t> data_version_{0};
  std::mutex data_mu_;  // pairs with data_cv_ for WaitForData and WaitForNewData
  std::condition_variable data_cv_;
  std::thread writer_;
};

}  // namespace watershed::log
