#pragma once
// The Kafka log: the Log interface over one Kafka topic per region (e.g.
// "watershed.eu"), through librdkafka. Partition p of the Log is partition p
// of the topic; an event goes to PartitionOf(story_id, N, scheme), set
// explicitly, so a story's order in the topic is the order of the embedded
// log.
//
// Partition scheme: Kafka keeps no LOG_META, so the scheme is the operator's
// setting (partition_scheme; `log-partition-scheme`, default aligned). A
// topic first written by a Watershed without schemes holds the legacy
// scheme and must be opened with it. Mixing would split a story's state
// over two partitions, so both ends check: Open() reads the newest record
// of every non-empty partition, and every reader checks every record; a
// record in a partition its story does not map to is kFailedPrecondition
// naming topic, partition, offset and the scheme that does map it there
// (Open fails before producing anything; a reader stops before returning
// the record, sticky).
//
// Appends: one idempotent producer (acks=all), whose delivery reports are
// served by a poll thread. A batch's callback runs once, on that thread,
// after the reports of all its events arrived: Ok only if every event was
// acknowledged by all in-sync replicas. On failure some events of the batch
// may still be in the topic; a client retries the whole batch and the
// processor's dedup on event_id makes that safe.
//
// Append time: the Kafka message timestamp, which must be the broker's:
// topics need message.timestamp.type=LogAppendTime (the partition leader
// overwrites the producer's stamp with its own clock: monotonic per
// partition whatever the number of gateways; the processors' dedup horizon
// and watermark rely on it). A topic created by Open() has it. Open() asks
// the cluster (DescribeConfigs) and refuses another value with
// kFailedPrecondition; a cluster that cannot answer (librdkafka's mock
// cluster) is noted on stderr, and readers refuse (sticky,
// kFailedPrecondition, naming topic, partition and offset) the first record
// whose timestamp is not a log append time (kafka_topic_check.h). The
// producer still stamps each message with its clock, never going back
// within this producer: that stamp is what a CreateTime topic would keep,
// which only accept_create_time allows.
//
// Offsets: Kafka offsets are the LogOffsets. They are dense for a topic
// written only by non-transactional (idempotent or not) producers with
// cleanup.policy=delete. Transaction markers and compaction leave gaps: a
// reader that meets one fails with kCorruption naming the gap rather than
// renumbering records (a renumbering would not survive a restart).
//
// EndOffset: a cache of each partition's high watermark, raised by the
// delivery reports of this producer (before the batch's callback runs), by
// readers' fetch responses, and by a refresh thread that lists the end
// offsets every watermark_refresh_ms. Appends by other processes are thus
// seen after at most about watermark_refresh_ms (or when a reader fetches
// them).
//
// Readers: each is a group-less consumer of its own (librdkafka's simple
// consumer API on a private queue) started at the requested offset, with
// auto.offset.reset=error: reading a deleted offset is kNotFound, never a
// silent jump. Read() never blocks: it returns the records already fetched.
// A value that DecodeEventBinary refuses is kCorruption naming topic,
// partition and offset; the cursor stays before it.
//
// Waiting: DataVersion() changes when a cached end offset rises or when a
// reader's fetch queue receives data (a librdkafka queue event); waiters
// sleep on a condition variable. A record acknowledged to a producer
// reaches a reader after the consumer's next fetch: usually a few ms,
// bounded by fetch_wait_max_ms while the partition is idle.

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "log/log.h"

typedef struct rd_kafka_s rd_kafka_t;
typedef struct rd_kafka_topic_s rd_kafka_topic_t;

namespace watershed::log {

struct KafkaLogOptions {
  std::string brokers;      // bootstrap.servers, e.g. "k1:9092,k2:9092"
  std::string topic;        // this region's topic, e.g. "watershed.eu"
  uint32_t partitions = 8;  // must equal the topic's partition count
  // Must be the scheme the topic was written with (see above). kAligned
  // needs a partition count dividing 16 or a multiple of 16.
  PartitionScheme partition_scheme = PartitionScheme::kAligned;
  // When the topic does not exist: create it (admin API) with `partitions`
  // and `replication_factor`, or fail Open() with kFailedPrecondition.
  bool create_topic = false;
  int replication_factor = 3;
  // Bound on one message's delivery (delivery.timeout.ms): past it the
  // batch fails with kUnavailable.
  int delivery_timeout_ms = 30'000;
  int linger_ms = 2;                 // group-commit window of the producer
  std::string compression = "none";  // none | gzip | snappy | lz4 | zstd
  int open_timeout_ms = 10'000;      // metadata, topic creation, first end offsets
  int close_timeout_ms = 10'000;     // Close() waits this long for outstanding messages
  int watermark_refresh_ms = 200;
  int fetch_wait_max_ms = 100;  // readers' long-poll bound
  // Further librdkafka properties for every client (security, timeouts).
  std::vector<std::pair<std::string, std::string>> extra_config;
  Clock* clock = Clock::Real();  // producer timestamps
  // Skip both timestamp checks and read CreateTime records as append times.
  // Only for librdkafka's mock cluster (`watershed kafka-mock`), which
  // stores CreateTime and cannot be configured otherwise: append times are
  // then the producers' clocks (monotonic per partition only with one
  // producer).
  bool accept_create_time = false;
  // The region whose events the topic holds (the server's topic of that region), or none. A record of another
  // region id is kFailedPrecondition naming both: region ids are places in region-names, so a producer that lists
  // the names in another order than this consumer writes ids that mean other regions here.
  std::optional<Region> region;
};

class KafkaLog final : public Log {
 public:
  // Connects, checks (or creates) the topic and its partition count, and
  // loads the end offsets. Errors name the librdkafka error.
  static Result<std::unique_ptr<KafkaLog>> Open(const KafkaLogOptions& options);
  ~KafkaLog() override;

  uint32_t partition_count() const override { return options_.partitions; }
  PartitionScheme partition_scheme() const override { return options_.partition_scheme; }
  // Produces each event (value: AppendEventBinary; key: the story id, 8 bytes
  // big-endian) to its partition. `done` runs once: on the poll thread after
  // every delivery report, or at once on the calling thread when nothing
  // could be handed to librdkafka (closed log, full local queue: kUnavailable;
  // the events after a refused one are not produced). Errors: kUnavailable for
  // broker trouble and timeouts, kInternal once the producer is fatally
  // failed (restart), kTooLarge, kFailedPrecondition for authorization.
  void AppendAsync(std::vector<Event> events, AppendCallback done) override;
  LogOffset EndOffset(uint32_t partition) const override;
  // Blocks for one ListOffsets round trip (the low and high watermarks):
  // kNotFound below the first retained offset, kInvalidArgument past the end.
  Result<std::unique_ptr<LogReader>> NewReader(uint32_t partition, LogOffset from) override;
  void WaitForData(uint32_t partition, LogOffset offset, std::chrono::milliseconds timeout) override;
  uint64_t DataVersion() const override;
  void WaitForNewData(uint64_t seen, std::chrono::milliseconds timeout) override;
  // No-op: Kafka deletes records by the topic's retention.ms / retention.bytes
  // (docs/deploy.md: retention must exceed the checkpoint interval by far).
  void SetRetentionFloor(uint32_t partition, LogOffset floor) override {}
  // Refuses new appends, waits up to close_timeout_ms for outstanding
  // messages, fails the rest (kUnavailable), wakes waiters. Idempotent.
  void Close() override;

  // Lists the partitions' end offsets now and raises the cache.
  Status RefreshEndOffsets(int timeout_ms);

  struct Shared;  // state readers share with the log; defined in the .cc
  struct Batch;

 private:
  explicit KafkaLog(const KafkaLogOptions& options);
  Status Start();
  Status EnsureTopic();
  // Reads the newest record of each non-empty partition through a reader,
  // whose check refuses one written with another partition scheme.
  Status CheckNewestRecords();
  void PollLoop();
  void RefreshLoop();
  static void OnDelivery(rd_kafka_t* rk, const void* message, void* opaque);
  void Finish(Batch* batch, const Status& s);

  KafkaLogOptions options_;
  std::shared_ptr<Shared> shared_;
  rd_kafka_t* producer_ = nullptr;
  rd_kafka_topic_t* topic_ = nullptr;

  std::mutex append_mu_;  // orders timestamps and produce calls; guards the two below
  bool closing_ = false;
  int64_t last_stamp_ms_ = 0;

  std::atomic<int64_t> in_flight_{0};  // messages produced, report not yet served
  std::mutex batches_mu_;
  std::unordered_set<Batch*> batches_;  // not yet finished

  std::atomic<bool> stop_{false};
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  std::thread poller_;
  std::thread refresher_;
};

}  // namespace watershed::log
