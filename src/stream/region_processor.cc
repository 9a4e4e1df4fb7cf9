#include "stream/region_processor.h"

#include <mutex>
#include <optional>

namespace watershed::stream {

struct RegionProcessor::Partition {
  uint32_t index = 0;
  std::unique_ptr<PartitionProcessor> processor;  // used by its worker only once started
  std::unique_ptr<log::LogReader> reader;
  std::optional<serve::PartitionWrite> unapplied;  // refused by the store, to retry
  uint64_t next_checkpoint_id = 1;
  int64_t last_checkpoint_ns = 0;
  // Published for GetStatus().
  std::atomic<uint64_t> processed{0};
  std::atomic<uint64_t> checkpoint_offset{0};
  std::atomic<uint64_t> checkpoint_id{0};
  mutable std::mutex status_mu;  // guards the fields below
  int64_t watermark = INT64_MIN;
  ProcessorCounters counters;
  uint64_t dedup_entries = 0;
  std::string error;
};

RegionProcessor::RegionProcessor(Region region, log::Log* log, serve::LiveStore* store,
                                 CheckpointStore* checkpoints, const RunnerOptions& options)
    : region_(region), log_(log), store_(store), checkpoints_(checkpoints), options_(options) {}

RegionProcessor::~RegionProcessor() { Stop().IgnoreError(); }

Status RegionProcessor::Start() {
  for (uint32_t i = 0; i < log_->partition_count(); ++i) {
    auto p = std::make_unique<Partition>();
    p->index = i;
    p->processor = std::make_unique<PartitionProcessor>(region_, i, options_.processor);
    ASSIGN_OR_RETURN(auto checkpoint, checkpoints_->Load(region_, i));
    if (checkpoint) {
      RETURN_IF_ERROR(p->processor->Restore(checkpoint->state));
      if (p->processor->next_offset() != checkpoint->next_offset)
        return Status::Corruption("checkpoint offset disagrees with its state for partition " + std::to_string(i));
      if (checkpoint->next_offset > log_->EndOffset(i))
        return Status::Corruption("checkpoint of " + std::string(RegionName(region_)) + " partition " +
                                  std::to_string(i) + " is past the end of the log: the log lost records");
      p->next_checkpoint_id = checkpoint->id + 1;
      p->checkpoint_id = checkpoint->id;
      p->checkpoint_offset = checkpoint->next_offset.value;
      log_->SetRetentionFloor(i, checkpoint->next_offset);
      serve::PartitionWrite all;
      p->processor->FullWrite(&all);
      RETURN_IF_ERROR(store_->Apply(all));
    }
    p->processed = p->processor->next_offset().value;
    ASSIGN_OR_RETURN(p->reader, log_->NewReader(i, p->processor->next_offset()));
    partitions_.push_back(std::move(p));
  }
  const int threads = std::max(1, std::min<int>(options_.threads, static_cast<int>(partitions_.size())));
  std::vector<std::vector<Partition*>> owned(threads);
  for (auto& p : partitions_) {
    p->last_checkpoint_ns = options_.clock->MonotonicNs();
    owned[p->index % threads].push_back(p.get());
  }
  for (auto& o : owned) workers_.emplace_back([this, o] { RunWorker(o); });
  return Status::Ok();
}

void RegionProcessor::RunWorker(std::vector<Partition*> owned) {
  std::vector<log::LogRecord> records;
  serve::PartitionWrite write;
  while (!stop_.load(std::memory_order_relaxed)) {
    // Read the version first: data appended after this point wakes the wait below.
    const uint64_t seen = log_->DataVersion();
    bool busy = false;
    for (Partition* p : owned) busy |= Step(*p, records, write);
    if (!busy) log_->WaitForNewData(seen, std::chrono::milliseconds(100));
  }
}

bool RegionProcessor::Step(Partition& p, std::vector<log::LogRecord>& records, serve::PartitionWrite& write) {
  auto report = [&](const Status& s) {
    std::lock_guard lock(p.status_mu);
    p.error = s.ok() ? "" : s.ToString();
  };
  // A write the store refused is retried, unchanged, before anything new:
  // TakeWrite already cleared its dirty marks, so it is the only copy.
  if (p.unapplied) {
    if (Status s = store_->Apply(*p.unapplied); !s.ok()) {
      report(s);
      return false;
    }
    p.unapplied.reset();
    p.processed.store(p.processor->next_offset().value, std::memory_order_release);
    report(Status::Ok());
  }
  records.clear();
  Status s = p.reader->Read(options_.max_batch, &records);
  if (!s.ok()) {
    report(s);  // e.g. a corrupt record: this partition stays here, visible in /v1/status
    return false;
  }
  if (!records.empty()) {
    p.processor->ProcessBatch(records);
    p.processor->TakeWrite(&write);
    s = store_->Apply(write);
    if (!s.ok()) {
      report(s);
      p.unapplied = std::move(write);
      write = {};
    } else {
      p.processed.store(p.processor->next_offset().value, std::memory_order_release);
    }
    std::lock_guard lock(p.status_mu);
    p.watermark = p.processor->watermark();
    p.counters = p.processor->counters();
    p.dedup_entries = p.processor->dedup_entries();
  }
  if (options_.clock->MonotonicNs() - p.last_checkpoint_ns >= options_.checkpoint_interval_ms * 1'000'000)
    report(CheckpointNow(p));
  return !records.empty();
}

Status RegionProcessor::CheckpointNow(Partition& p) {
  p.last_checkpoint_ns = options_.clock->MonotonicNs();
  Checkpoint c;
  c.id = p.next_checkpoint_id;
  c.next_offset = p.processor->next_offset();
  if (c.next_offset.value == p.checkpoint_offset.load() && p.checkpoint_id.load() != 0) return Status::Ok();
  p.processor->Serialize(&c.state);
  RETURN_IF_ERROR(checkpoints_->Save(region_, p.index, c));
  ++p.next_checkpoint_id;
  p.checkpoint_id = c.id;
  p.checkpoint_offset = c.next_offset.value;
  log_->SetRetentionFloor(p.index, c.next_offset);
  return Status::Ok();
}

Status RegionProcessor::Stop() {
  if (stop_.exchange(true)) return Status::Ok();
  Status first;
  for (auto& w : workers_) w.join();
  workers_.clear();
  for (auto& p : partitions_) {
    Status s = CheckpointNow(*p);
    if (first.ok() && !s.ok()) first = s;
  }
  return first;
}

std::vector<PartitionStatus> RegionProcessor::GetStatus() const {
  std::vector<PartitionStatus> out;
  for (const auto& p : partitions_) {
    PartitionStatus s;
    s.partition = p->index;
    s.end_offset = log_->EndOffset(p->index).value;
    s.processed_offset = p->processed.load(std::memory_order_acquire);
    s.checkpoint_offset = p->checkpoint_offset.load();
    s.checkpoint_id = p->checkpoint_id.load();
    std::lock_guard lock(p->status_mu);
    s.watermark = p->watermark;
    s.counters = p->counters;
    s.dedup_entries = p->dedup_entries;
    s.error = p->error;
    out.push_back(std::move(s));
  }
  return out;
}

uint64_t RegionProcessor::Lag() const {
  uint64_t lag = 0;
  for (const auto& p : partitions_) {
    uint64_t end = log_->EndOffset(p->index).value;
    uint64_t done = p->processed.load(std::memory_order_acquire);
    lag += end > done ? end - done : 0;
  }
  return lag;
}

}  // namespace watershed::stream
