#pragma once
// Membership of a Kafka consumer group on one region's topic: tells its
// owner which of the topic's partitions this process holds. Nothing else.
//
// Why a membership-only consumer: Watershed's read position of a partition
// is the next_offset of that partition's checkpoint (src/stream/checkpoint.h),
// written atomically with the processor's state, and records are read by
// KafkaLog readers (kafka_log.h, manual assign, their own cursors). Offsets
// committed to Kafka would be a second, non-atomic copy of that position,
// so this consumer commits none (enable.auto.commit=false, no commit calls)
// and pauses every partition it is given, so it fetches no records either.
//
// Protocol: partition.assignment.strategy=cooperative-sticky (incremental
// rebalances: a member keeps the partitions it still owns while others move).
// If the group ends up on the EAGER protocol (a member configured with an
// eager assignor), every rebalance revokes everything first; both work.
//
// Callbacks run on the group's poll thread (or on the thread calling Close),
// never concurrently with each other:
//   on_assigned(ps): this member now holds ps (in addition to what it held).
//   on_revoked(ps):  this member must stop working on ps. The partitions are
//                    handed to another member only after on_revoked returns
//                    (the member rejoins afterwards), so an owner that stops
//                    and checkpoints inside on_revoked never overlaps the next
//                    owner. Exception: a member that lost its session (it did
//                    not heartbeat within session_timeout_ms) learns it late;
//                    the partitions may already be someone else's. The live
//                    store's next_offset guard and the checkpoint store's
//                    owner epochs (stream/checkpoint.h) keep such a zombie
//                    harmless.
// A callback must not call Close().

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/status.h"

typedef struct rd_kafka_s rd_kafka_t;

namespace watershed::log {

struct KafkaGroupOptions {
  std::string brokers;   // bootstrap.servers
  std::string group_id;  // e.g. "watershed.processor.eu"
  std::string topic;     // the region's topic
  // A member that does not heartbeat for this long is dropped and its
  // partitions move to the others.
  int session_timeout_ms = 10'000;
  int heartbeat_interval_ms = 1'000;
  int poll_interval_ms = 100;  // poll thread's wait; bounds Close() latency
  // Further librdkafka properties (security, timeouts).
  std::vector<std::pair<std::string, std::string>> extra_config;
};

class KafkaGroup {
 public:
  using PartitionsCallback = std::function<void(const std::vector<uint32_t>& partitions)>;

  // Creates the consumer, subscribes to the topic and starts the poll
  // thread. Joining is asynchronous: on_assigned runs once the group
  // settled. Errors: kInvalidArgument for a refused configuration.
  static Result<std::unique_ptr<KafkaGroup>> Start(const KafkaGroupOptions& options,
                                                   PartitionsCallback on_assigned,
                                                   PartitionsCallback on_revoked);
  // Close() unless already closed.
  ~KafkaGroup();
  KafkaGroup(const KafkaGroup&) = delete;
  KafkaGroup& operator=(const KafkaGroup&) = delete;

  // Leaves the group: stops the poll thread, revokes everything this member
  // holds (on_revoked runs on the calling thread), then tells the group
  // coordinator, which hands the partitions to the others. Idempotent.
  Status Close();

  // Test hook: simulates a crashed process. Stops polling and heartbeats and
  // destroys the consumer without leaving the group or calling on_revoked;
  // the coordinator drops the member after session_timeout_ms.
  void AbandonForTest();

  // The partitions this member holds now, in order. Thread-safe.
  std::vector<uint32_t> Owned() const;
  // The group's protocol as of the last rebalance: "COOPERATIVE", "EAGER",
  // or "" before the first. Thread-safe.
  std::string RebalanceProtocol() const;

 private:
  KafkaGroup(const KafkaGroupOptions& options, PartitionsCallback on_assigned, PartitionsCallback on_revoked);
  void PollLoop();
  friend struct KafkaGroupCallbacks;  // librdkafka's rebalance_cb, in the .cc
  // `partitions` is the rd_kafka_topic_partition_list_t of the event.
  void Rebalance(int err, void* partitions);

  KafkaGroupOptions options_;
  PartitionsCallback on_assigned_;
  PartitionsCallback on_revoked_;
  rd_kafka_t* consumer_ = nullptr;
  std::atomic<bool> stop_{false};
  std::thread poller_;
  std::mutex close_mu_;  // serializes Close / AbandonForTest
  bool closed_ = false;
  mutable std::mutex owned_mu_;
  std::set<uint32_t> owned_;
  std::string protocol_;
};

}  // namespace watershed::log
