#include "app/processor_group.h"

#include <cstdio>

namespace watershed::app {

Result<std::unique_ptr<ProcessorGroupMember>> ProcessorGroupMember::Start(const log::KafkaGroupOptions& options,
                                                                          stream::RegionProcessor* processor) {
  std::unique_ptr<ProcessorGroupMember> m(new ProcessorGroupMember(processor));
  ProcessorGroupMember* self = m.get();
  m->assigner_ = std::thread([self] { self->AssignLoop(); });
  auto group = log::KafkaGroup::Start(
      options, [self](const std::vector<uint32_t>& ps) { self->OnAssigned(ps); },
      [self](const std::vector<uint32_t>& ps) { self->OnRevoked(ps); });
  if (!group.ok()) {
    m->Leave().IgnoreError();
    return group.status();
  }
  m->group_ = std::move(group).value();
  return m;
}

ProcessorGroupMember::~ProcessorGroupMember() { Leave().IgnoreError(); }

Status ProcessorGroupMember::Leave() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (assigner_.joinable()) assigner_.join();
  // Close revokes what this member holds (OnRevoked: final checkpoints).
  return group_ ? group_->Close() : Status::Ok();
}

std::string ProcessorGroupMember::PendingError() const {
  std::lock_guard lock(mu_);
  return pending_error_;
}

void ProcessorGroupMember::OnAssigned(const std::vector<uint32_t>& partitions) {
  {
    std::lock_guard lock(mu_);
    wanted_.insert(partitions.begin(), partitions.end());
  }
  cv_.notify_all();
}

void ProcessorGroupMember::OnRevoked(const std::vector<uint32_t>& partitions) {
  std::lock_guard lock(mu_);  // waits for an Assign in progress
  for (uint32_t p : partitions) {
    wanted_.erase(p);
    if (!running_.erase(p)) continue;
    // The partition is dropped even when its final checkpoint fails; the
    // next owner then replays from the previous one. A rebalance leaves the
    // lake files to the next owner (in the checkpoint): revoking must be
    // quick; leaving the group (stop_) commits them.
    if (Status s = processor_->Revoke(p, /*commit_lake=*/stop_); !s.ok())
      std::fprintf(stderr, "watershed processor: %s partition %u: final checkpoint failed: %s\n",
                   std::string(RegionName(processor_->region())).c_str(), p, s.ToString().c_str());
  }
  if (wanted_.size() == running_.size()) pending_error_.clear();
}

void ProcessorGroupMember::AssignLoop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    std::string error;
    for (uint32_t p : wanted_) {
      if (running_.count(p)) continue;
      if (Status s = processor_->Assign(p); s.ok()) {
        running_.insert(p);
      } else {
        error = "partition " + std::to_string(p) + ": " + s.ToString();
        std::fprintf(stderr, "watershed processor: %s %s (retrying)\n",
                     std::string(RegionName(processor_->region())).c_str(), error.c_str());
      }
    }
    pending_error_ = error;
    if (error.empty()) {
      cv_.wait(lock, [&] { return stop_ || wanted_.size() != running_.size(); });
    } else {
      cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stop_; });
    }
  }
}

}  // namespace watershed::app
