#pragma once
// Runs one region's RegionProcessor as a member of that region's Kafka
// consumer group (`watershed processor`): the group decides which of the
// topic's partitions this process owns, this class turns its decisions
// into RegionProcessor::Assign and Revoke.
//
// Why a thread of its own for Assign: restoring a partition (read the
// checkpoint, write it to the live store, open a reader) can fail while
// Redis or the checkpoint storage is unreachable, and must then be retried
// until it succeeds. Retrying inside the group's rebalance callback would
// stall the group's poll thread, so on_assigned only records the wish and
// the assigner retries (1 s apart). Revoke runs inside on_revoked, so the
// partition's final checkpoint is written before the group hands it to the
// next owner (the handover rule of region_processor.h).

#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "log/kafka_group.h"
#include "stream/region_processor.h"

namespace watershed::app {

class ProcessorGroupMember {
 public:
  // Joins the group; `processor` must outlive this object.
  static Result<std::unique_ptr<ProcessorGroupMember>> Start(const log::KafkaGroupOptions& options,
                                                             stream::RegionProcessor* processor);
  // Leave() unless done.
  ~ProcessorGroupMember();
  // Stops assigning, leaves the group (every owned partition is revoked:
  // final checkpoints), so the others take the partitions over at once.
  // Idempotent.
  Status Leave();
  // Partitions the group gave this member that are not running yet (their
  // restore failed and is being retried), with the last error; empty when
  // all are running.
  std::string PendingError() const;

 private:
  explicit ProcessorGroupMember(stream::RegionProcessor* processor) : processor_(processor) {}
  void OnAssigned(const std::vector<uint32_t>& partitions);
  void OnRevoked(const std::vector<uint32_t>& partitions);
  void AssignLoop();

  stream::RegionProcessor* processor_;
  std::unique_ptr<log::KafkaGroup> group_;
  mutable std::mutex mu_;  // held across Assign and Revoke: they never interleave for one partition
  std::condition_variable cv_;
  std::set<uint32_t> wanted_;   // given by the group
  std::set<uint32_t> running_;  // assigned to the processor
  std::string pending_error_;
  bool stop_ = false;
  std::thread assigner_;
};

}  // namespace watershed::app
