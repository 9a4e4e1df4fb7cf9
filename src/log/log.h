#pragma once
// The log: the only durable input of the processor. One Log holds one
// region's partitions; an event goes to partition
// PartitionOf(story_id, N, scheme) (core/partitioning.h), with the log's
// fixed partition count and scheme.
// Two implementations: the embedded segmented log
// (embedded_log.h) and Kafka (kafka_log.h).
//
// Offsets are dense per partition: the first record is offset 0, each
// record takes one offset, and an offset never names two records.

#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "core/event.h"
#include "core/partitioning.h"
#include "core/status.h"

namespace watershed::log {

struct LogRecord {
  LogOffset offset;
  AppendTimeMs append_time;  // the log's clock at append; monotonic per log
  Event event;
};

// A cursor over one partition. Not thread-safe; one consumer owns it.
class LogReader {
 public:
  virtual ~LogReader() = default;
  // Appends to *out up to max_records records from the cursor on, stopping at
  // the partition's readable end; advances the cursor. Returns kCorruption
  // when a stored record fails its checksum.
  virtual Status Read(size_t max_records, std::vector<LogRecord>* out) = 0;
  virtual LogOffset position() const = 0;
};

class Log {
 public:
  using AppendCallback = std::function<void(Status)>;
  virtual ~Log() = default;

  virtual uint32_t partition_count() const = 0;
  // How stories map to partitions; fixed for the log's life.
  virtual PartitionScheme partition_scheme() const = 0;
  // The partition of the story's events.
  uint32_t PartitionFor(StoryId story) const { return PartitionOf(story, partition_count(), partition_scheme()); }
  // Appends the events, in order, each to its story's partition, and calls
  // `done` exactly once, from a log thread, after all of them are durable
  // under the fsync policy (or with the error that stopped them; then none
  // of them is readable). Thread-safe.
  virtual void AppendAsync(std::vector<Event> events, AppendCallback done) = 0;
  // One past the last readable record of the partition.
  virtual LogOffset EndOffset(uint32_t partition) const = 0;
  // REQUIRES: from <= EndOffset(partition) and from is retained.
  virtual Result<std::unique_ptr<LogReader>> NewReader(uint32_t partition, LogOffset from) = 0;
  // Returns when EndOffset(partition) > offset, after `timeout`, or at Close().
  virtual void WaitForData(uint32_t partition, LogOffset offset, std::chrono::milliseconds timeout) = 0;
  // A number that changes whenever records become readable in any partition.
  virtual uint64_t DataVersion() const = 0;
  // Returns when DataVersion() != seen, after `timeout`, or at Close(). Lets
  // one consumer thread wait on many partitions.
  virtual void WaitForNewData(uint64_t seen, std::chrono::milliseconds timeout) = 0;
  // Records below `floor` are no longer needed for recovery (the processor's
  // checkpoint covers them); retention never deletes records at or above it.
  virtual void SetRetentionFloor(uint32_t partition, LogOffset floor) = 0;
  // fsyncs of the log's files that failed (the embedded log then refuses
  // appends until a restart); 0 where the log does not fsync itself (Kafka).
  virtual uint64_t sync_failures() const { return 0; }
  // Stops accepting appends, finishes pending ones, wakes waiters.
  virtual void Close() = 0;
};

}  // namespace watershed::log
