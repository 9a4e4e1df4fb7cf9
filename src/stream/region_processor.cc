#include "stream/region_processor.h"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <optional>
#include <thread>

#include "core/crash_point.h"

namespace watershed::stream {

struct RegionProcessor::Partition {
  uint32_t index = 0;
  // Held by the worker while it steps the partition, and by Revoke / Stop
  // while they checkpoint it; guards everything below except the published
  // status.
  std::mutex run_mu;
  bool revoked = false;
  uint64_t owner = 0;   // epoch from CheckpointStore::Claim
  bool fenced = false;  // another owner took over: nothing more is written
  // The processor failed (its cold store): nothing more is processed nor
  // checkpointed; the next Assign restarts from the last checkpoint.
  bool failed = false;
  std::unique_ptr<ColdStore> cold;  // null while no story was ever evicted and eviction is off
  std::unique_ptr<PartitionProcessor> processor;
  std::unique_ptr<log::LogReader> reader;
  std::optional<serve::PartitionWrite> unapplied;  // refused by the store, to retry
  std::vector<std::pair<int64_t, uint64_t>> unapplied_appends;  // its records' (append ms, count) runs
  std::unique_ptr<lake::PartitionSink> sink;       // null without a lake
  std::vector<uint8_t> distinct;                   // per record of the batch: not a duplicate
  uint64_t next_checkpoint_id = 1;
  int64_t last_checkpoint_ns = 0;
  int64_t last_lake_commit_ns = 0;
  // Published for GetStatus().
  std::atomic<uint64_t> processed{0};
  std::atomic<uint64_t> checkpoint_offset{0};
  std::atomic<uint64_t> checkpoint_id{0};
  mutable std::mutex status_mu;  // guards the fields below
  int64_t watermark = INT64_MIN;
  ProcessorCounters counters;
  uint64_t dedup_entries = 0;
  uint64_t resident_stories = 0, cold_stories = 0, cold_bytes = 0, evicted = 0, reloaded = 0;
  uint64_t lake_rows = 0, lake_refused_rows = 0;
  int64_t checkpoint_ok_ms = 0, lake_commit_ok_ms = 0;
  uint64_t checkpoint_failures = 0, lake_commit_failures = 0;
  std::string error;
};

void FeedLakeSink(lake::PartitionSink& sink, Region region, catalog::CatalogReader* catalog,
                  const std::vector<log::LogRecord>& records, const std::vector<uint8_t>& distinct,
                  const serve::PartitionWrite& write) {
  for (size_t i = 0; i < records.size(); ++i) {
    const log::LogRecord& r = records[i];
    sink.AddRecord(r.event, r.append_time, r.offset, distinct[i] != 0);
  }
  for (const serve::WindowUpdate& w : write.windows) {
    if (w.key.size != serve::WindowSize::k1m || !w.final) continue;
    lake::StoryMinuteRow row;
    row.story_id = w.key.story.value;
    std::optional<AuthorId> author = catalog ? catalog->AuthorOf(w.key.story) : std::nullopt;
    // Another process (the gateway, a CDC feed) may have registered the
    // story since this one last looked: look again before writing 0.
    if (catalog && !author && catalog->Refresh().ok()) author = catalog->AuthorOf(w.key.story);
    row.author_id = author ? author->value : 0;
    row.region = region;
    row.minute_ms = w.key.start;
    row.views = w.agg.views;
    row.unique_viewers = w.agg.unique_viewers;
    row.watch_time_ms = w.agg.watch_time_ms;
    row.shares = w.agg.shares;
    row.replies = w.agg.replies;
    sink.AddMinute(row, records.back().offset);
  }
}

RegionProcessor::RegionProcessor(Region region, log::Log* log, serve::LiveStore* store,
                                 CheckpointStore* checkpoints, const RunnerOptions& options)
    : region_(region),
      log_(log),
      store_(store),
      checkpoints_(checkpoints),
      options_(options),
      threads_(std::max(1, std::min<int>(options.threads, static_cast<int>(log->partition_count())))),
      partitions_(log->partition_count()) {}

RegionProcessor::~RegionProcessor() { Stop().IgnoreError(); }

Status RegionProcessor::Start() {
  for (uint32_t i = 0; i < log_->partition_count(); ++i) RETURN_IF_ERROR(Assign(i));
  return Status::Ok();
}

Status RegionProcessor::Assign(uint32_t i) {
  std::lock_guard ownership(ownership_mu_);
  if (stopped_) return Status::FailedPrecondition("region processor is stopped");
  if (i >= partitions_.size())
    return Status::InvalidArgument("no partition " + std::to_string(i) + " in " + std::string(RegionName(region_)));
  {
    std::lock_guard lock(mu_);
    if (partitions_[i]) return Status::Ok();
  }
  auto p = std::make_shared<Partition>();
  p->index = i;
  if (!options_.processor.hash_key) {
    ASSIGN_OR_RETURN(HashKey key, checkpoints_->LoadOrCreateHashKey(region_));
    options_.processor.hash_key = key;
  }
  p->processor = std::make_unique<PartitionProcessor>(region_, i, options_.processor);
  // Claimed before the checkpoint is read: a former owner still running (a
  // zombie) can save no checkpoint after this one's view of them.
  ASSIGN_OR_RETURN(p->owner, checkpoints_->Claim(region_, i));
  ASSIGN_OR_RETURN(auto checkpoint, checkpoints_->Load(region_, i));
  // Also with eviction off now: the stories evicted while it was on are only there.
  const std::string cold_ref = checkpoint ? checkpoint->cold : "";
  if (options_.processor.story_idle_evict_ms > 0 || !cold_ref.empty()) {
    ASSIGN_OR_RETURN(p->cold, ColdStore::Open(checkpoints_->fs(), checkpoints_->RegionDir(region_), i, p->owner,
                                              cold_ref, *options_.processor.hash_key, checkpoints_->KeysOf(region_)));
    p->processor->SetColdStore(p->cold.get());
  }
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
    serve::PartitionWrite all;
    p->processor->FullWrite(&all);
    RETURN_IF_ERROR(p->processor->status());
    // A store that is briefly unreachable (e.g. a Redis failover) must not
    // keep the partition unowned: the worker retries this write, unchanged,
    // before anything new (as for any write the store refused).
    if (Status s = store_->Apply(all); !s.ok()) {
      if (s.code() != StatusCode::kUnavailable) return s;
      p->unapplied = std::move(all);
    }
  }
  if (options_.lake) {
    p->sink = std::make_unique<lake::PartitionSink>(options_.lake, i, options_.clock);
    RETURN_IF_ERROR(p->sink->Recover(checkpoint ? checkpoint->sink : "", p->processor->next_offset().value));
    RETURN_IF_ERROR(RefillLake(*p));
  }
  // The log keeps what the processor's state and the lake's buffers do not reflect yet.
  if (checkpoint)
    log_->SetRetentionFloor(i, LogOffset(p->sink ? p->sink->refill_from() : checkpoint->next_offset.value));
  // Lag counts from 0 while the restored state is not in the store yet.
  p->processed = p->unapplied ? 0 : p->processor->next_offset().value;
  ASSIGN_OR_RETURN(p->reader, log_->NewReader(i, p->processor->next_offset()));
  p->last_checkpoint_ns = options_.clock->MonotonicNs();
  // The lake's open range may be older than this owner (restarts, handovers).
  p->last_lake_commit_ns = p->last_checkpoint_ns - (p->sink ? p->sink->range_age_ms() * 1'000'000 : 0);
  p->checkpoint_ok_ms = options_.clock->NowMs();
  p->lake_commit_ok_ms = p->checkpoint_ok_ms - (p->sink ? p->sink->range_age_ms() : 0);
  {
    std::lock_guard lock(mu_);
    partitions_[i] = std::move(p);
  }
  if (workers_.empty())
    for (int w = 0; w < threads_; ++w) workers_.emplace_back([this, w] { RunWorker(w); });
  return Status::Ok();
}

Status RegionProcessor::RefillLake(Partition& p) {
  const uint64_t end = p.processor->next_offset().value;
  if (p.sink->refill_from() >= end) return Status::Ok();
  Result<std::unique_ptr<log::LogReader>> reader = log_->NewReader(p.index, LogOffset(p.sink->refill_from()));
  if (!reader.ok())
    return Status::Corruption("lake buffers of " + std::string(RegionName(region_)) + " partition " +
                              std::to_string(p.index) + " need the log from offset " +
                              std::to_string(p.sink->refill_from()) + ": " + reader.status().ToString());
  std::vector<log::LogRecord> records;
  int idle = 0;
  while ((*reader)->position().value < end) {
    records.clear();
    const uint64_t left = end - (*reader)->position().value;
    RETURN_IF_ERROR((*reader)->Read(std::min<uint64_t>(options_.max_batch, left), &records));
    if (records.empty()) {
      // A remote log may deliver what it holds with a delay; these records exist (the checkpoint is past them).
      if (++idle > 6000) return Status::Unavailable("the log did not deliver the lake's buffered records in 60 s");
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    idle = 0;
    for (const log::LogRecord& r : records)
      if (r.offset.value < end) p.sink->Refill(r.event, r.append_time, r.offset);
  }
  return Status::Ok();
}

Status RegionProcessor::Revoke(uint32_t i, bool commit_lake) {
  std::lock_guard ownership(ownership_mu_);
  std::shared_ptr<Partition> p;
  {
    std::lock_guard lock(mu_);
    if (i >= partitions_.size() || !partitions_[i]) return Status::Ok();
    p = std::move(partitions_[i]);
  }
  // Workers that took a snapshot before the table changed skip it from now on.
  std::lock_guard run(p->run_mu);
  p->revoked = true;
  Status s = p->fenced || p->failed ? Status::Ok() : CheckpointNow(*p, commit_lake);
  const PartitionStatus last = StatusOf(*p, *log_);
  std::lock_guard lock(mu_);
  released_.counters.records += last.counters.records;
  released_.counters.duplicates += last.counters.duplicates;
  for (size_t w = 0; w < std::size(last.counters.late); ++w) released_.counters.late[w] += last.counters.late[w];
  released_.evicted_stories += last.evicted_stories;
  released_.reloaded_stories += last.reloaded_stories;
  released_.lake_rows += last.lake_rows;
  released_.lake_refused_rows += last.lake_refused_rows;
  released_.checkpoint_failures += last.checkpoint_failures;
  released_.lake_commit_failures += last.lake_commit_failures;
  return s;
}

PartitionStatus RegionProcessor::Released() const {
  std::lock_guard lock(mu_);
  return released_;
}

std::vector<std::shared_ptr<RegionProcessor::Partition>> RegionProcessor::Snapshot(int worker) const {
  std::vector<std::shared_ptr<Partition>> out;
  const size_t first = worker < 0 ? 0 : static_cast<size_t>(worker);
  const size_t step = worker < 0 ? 1 : static_cast<size_t>(threads_);
  std::lock_guard lock(mu_);
  for (size_t i = first; i < partitions_.size(); i += step)
    if (partitions_[i]) out.push_back(partitions_[i]);
  return out;
}

void RegionProcessor::RunWorker(int worker) {
  std::vector<log::LogRecord> records;
  serve::PartitionWrite write;
  while (!stop_.load(std::memory_order_relaxed)) {
    // Read the version first: data appended after this point wakes the wait below.
    const uint64_t seen = log_->DataVersion();
    bool busy = false;
    for (const auto& p : Snapshot(worker)) {
      std::lock_guard run(p->run_mu);
      if (!p->revoked && !p->fenced && !p->failed) busy |= Step(*p, records, write);
    }
    // A partition assigned meanwhile waits for at most this timeout.
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
    ObserveVisible(p.unapplied_appends);  // visible now, later than they would have been
    p.unapplied_appends.clear();
    p.processed.store(p.processor->next_offset().value, std::memory_order_release);
    report(Status::Ok());
  }
  records.clear();
  size_t batch = options_.max_batch;
  // A batch ends where the lake's earlier commits end (lake_sink.h, replay_until).
  if (const uint64_t next = p.processor->next_offset().value; p.sink && p.sink->replay_until() > next)
    batch = std::min<uint64_t>(batch, p.sink->replay_until() - next);
  Status s = p.reader->Read(batch, &records);
  if (!s.ok()) {
    report(s);  // e.g. a corrupt record: this partition stays here, visible in /v1/status
    return false;
  }
  if (!records.empty()) {
    const int64_t batch_start_ns = options_.tracer ? trace::UnixNowNs() : 0;
    p.processor->ProcessBatch(records, p.sink ? &p.distinct : nullptr);
    p.processor->TakeWrite(&write);
    if (!p.processor->status().ok()) {  // records of this batch may be left unprocessed: stop here
      p.failed = true;
      report(p.processor->status());
      return false;
    }
    if (p.sink) {
      FeedLakeSink(*p.sink, region_, options_.catalog, records, p.distinct, write);
      // A failed write keeps the rows buffered; the checkpoint retries it.
      if (Status f = p.sink->MaybeFlush(p.processor->next_offset().value); !f.ok()) report(f);
    }
    s = store_->Apply(write);
    if (!s.ok()) {
      report(s);
      p.unapplied = std::move(write);
      write = {};
      if (options_.visible_seconds) p.unapplied_appends = AppendRuns(records);
    } else {
      // Observed before the progress is published: whoever sees the lag reach 0 sees them too.
      if (options_.visible_seconds) ObserveVisible(AppendRuns(records));
      if (options_.tracer) TraceBatch(p, records, batch_start_ns);
      p.processed.store(p.processor->next_offset().value, std::memory_order_release);
    }
    std::lock_guard lock(p.status_mu);
    p.watermark = p.processor->watermark();
    p.counters = p.processor->counters();
    p.dedup_entries = p.processor->dedup_entries();
    p.resident_stories = p.processor->resident_stories();
    p.evicted = p.processor->evicted_total();
    p.reloaded = p.processor->reloaded_total();
    if (p.cold) p.cold_stories = p.cold->size(), p.cold_bytes = p.cold->file_bytes();
    if (p.sink) p.lake_refused_rows = p.sink->refused_rows();
  }
  if (options_.clock->MonotonicNs() - p.last_checkpoint_ns >= options_.checkpoint_interval_ms * 1'000'000)
    report(CheckpointNow(p, /*commit_lake=*/false));
  return !records.empty();
}

std::vector<std::pair<int64_t, uint64_t>> RegionProcessor::AppendRuns(const std::vector<log::LogRecord>& records) {
  std::vector<std::pair<int64_t, uint64_t>> runs;
  for (const log::LogRecord& r : records) {
    if (runs.empty() || runs.back().first != r.append_time.value) runs.emplace_back(r.append_time.value, 0);
    ++runs.back().second;
  }
  return runs;
}

void RegionProcessor::ObserveVisible(const std::vector<std::pair<int64_t, uint64_t>>& appends) const {
  if (!options_.visible_seconds) return;
  const int64_t now = options_.clock->NowMs();
  // One observation per run of records of one append time (a group commit).
  for (const auto& [append_ms, records] : appends)
    options_.visible_seconds->ObserveSeconds(static_cast<double>(std::max<int64_t>(0, now - append_ms)) * 1e-3,
                                             records);
}

void RegionProcessor::TraceBatch(const Partition& p, const std::vector<log::LogRecord>& records,
                                 int64_t start_unix_ns) const {
  const int64_t now = trace::UnixNowNs();
  for (const log::LogRecord& r : records) {
    if (r.event.traceparent.empty()) continue;
    const std::optional<TraceContext> context = ParseTraceparent(r.event.traceparent);
    if (!context || !context->sampled()) continue;
    trace::Span process;
    process.name = "watershed.process";
    process.trace_id = context->trace_id;
    process.parent_id = context->span_id;
    process.span_id = options_.tracer->NewSpanId();
    process.start_unix_ns = start_unix_ns;
    process.end_unix_ns = now;
    process.attributes = {{"watershed.region", std::string(RegionName(region_))},
                          {"watershed.partition", std::to_string(p.index)},
                          {"watershed.offset", std::to_string(r.offset.value)},
                          {"watershed.event_id", r.event.event_id.ToString()},
                          {"watershed.batch_records", std::to_string(records.size())}};
    trace::Span visible = process;
    visible.name = "watershed.visible";
    visible.span_id = options_.tracer->NewSpanId();
    visible.start_unix_ns = r.append_time.value * 1'000'000;  // the append (ms): when the client was answered
    visible.attributes.resize(4);
    options_.tracer->Export(std::move(process));
    options_.tracer->Export(std::move(visible));
  }
}

Status RegionProcessor::CheckpointNow(Partition& p, bool commit_lake_now, bool after_erasure) {
  const int64_t start = options_.clock->MonotonicNs();
  Status s = SaveCheckpoint(p, commit_lake_now || after_erasure, after_erasure);
  if (options_.checkpoint_seconds) options_.checkpoint_seconds->ObserveNanos(options_.clock->MonotonicNs() - start);
  std::lock_guard lock(p.status_mu);
  if (s.ok()) {
    p.checkpoint_ok_ms = options_.clock->NowMs();
    // Nothing waits for the lake (an idle partition): its commit is not late.
    if (p.sink && !p.sink->commit_pending() && !p.sink->has_uncommitted()) p.lake_commit_ok_ms = p.checkpoint_ok_ms;
  } else {
    ++p.checkpoint_failures;
  }
  return s;
}

Status RegionProcessor::SaveCheckpoint(Partition& p, bool commit_lake_now, bool after_erasure) {
  const int64_t now = options_.clock->MonotonicNs();
  p.last_checkpoint_ns = now;
  // A lake commit whose checkpoint is durable but which failed: finish it
  // before preparing the next one (commits land in range order).
  if (p.sink && p.sink->commit_pending()) RETURN_IF_ERROR(CommitLake(p));
  // The lake commits every lake_commit_interval_ms (each commit is a
  // snapshot per table) and when asked to (Stop, leaving the group); the
  // checkpoints in between carry its uncommitted files.
  const bool commit_lake =
      p.sink && (commit_lake_now || now - p.last_lake_commit_ns >= options_.lake_commit_interval_ms * 1'000'000);
  Checkpoint c;
  c.id = p.next_checkpoint_id;
  c.next_offset = p.processor->next_offset();
  if (!after_erasure && c.next_offset.value == p.checkpoint_offset.load() && p.checkpoint_id.load() != 0 &&
      !(commit_lake && p.sink->has_uncommitted()))
    return Status::Ok();
  p.processor->Serialize(&c.state);
  // Durable before the checkpoint that names its length.
  if (p.cold) {
    Result<std::string> ref = p.cold->Commit(/*compact=*/after_erasure);  // no replaced record stays in a file
    if (!ref.ok()) {  // the cold store is broken for good: reopen from the last checkpoint
      p.failed = true;
      return ref.status();
    }
    c.cold = std::move(ref).value();
  }
  if (p.sink) {
    ASSIGN_OR_RETURN(c.sink, p.sink->Prepare(c.next_offset.value, commit_lake));
  }
  if (Status s = checkpoints_->Save(region_, p.index, c, p.owner); !s.ok()) {
    if (s.code() == StatusCode::kFenced) {
      Fence(p);
    } else if (p.sink) {
      p.sink->Abandon();
    }
    return s;
  }
  if (p.sink) p.sink->Saved();
  if (p.cold) p.cold->Saved();
  ++p.next_checkpoint_id;
  p.checkpoint_id = c.id;
  p.checkpoint_offset = c.next_offset.value;
  // Not past the lake's oldest buffered row: a restore refills the buffers from there.
  const uint64_t floor = p.sink ? p.sink->oldest_buffered_offset(c.next_offset.value) : c.next_offset.value;
  log_->SetRetentionFloor(p.index, LogOffset(floor));
  if (!commit_lake) return Status::Ok();
  CrashPoint("lake.after_checkpoint");
  p.last_lake_commit_ns = now;
  return CommitLake(p);
}

Status RegionProcessor::CommitLake(Partition& p) {
  // The saved checkpoint holds the prepared commit: if another owner took
  // over since, it finishes the commit from there (and may be past it).
  ASSIGN_OR_RETURN(bool owns, checkpoints_->Owns(region_, p.index, p.owner));
  if (!owns) {
    Fence(p);
    return Status::Fenced("lake commit of partition " + std::to_string(p.index) +
                          ": another owner took the partition over");
  }
  Status s = p.sink->Commit();
  std::lock_guard lock(p.status_mu);
  p.lake_rows = p.sink->committed_rows();
  if (s.ok()) {
    p.lake_commit_ok_ms = options_.clock->NowMs();
  } else {
    ++p.lake_commit_failures;
  }
  return s;
}

void RegionProcessor::Fence(Partition& p) {
  p.fenced = true;
  if (p.sink) p.sink->DiscardUnsaved();
}

Status RegionProcessor::Stop() {
  std::lock_guard ownership(ownership_mu_);
  if (stopped_) return Status::Ok();
  stopped_ = true;
  stop_ = true;
  for (auto& w : workers_) w.join();
  workers_.clear();
  Status first;
  for (const auto& p : Snapshot(-1)) {
    std::lock_guard run(p->run_mu);
    if (p->fenced || p->failed) continue;
    Status s = CheckpointNow(*p, /*commit_lake=*/true);
    if (first.ok() && !s.ok()) first = s;
  }
  return first;
}

Result<PartitionProcessor::ErasedViewer> RegionProcessor::EraseViewer(ViewerId viewer,
                                                                      std::chrono::steady_clock::time_point deadline) {
  const std::vector<std::shared_ptr<Partition>> owned = Snapshot(-1);
  if (owned.size() != log_->partition_count())
    return Status::FailedPrecondition(std::string(RegionName(region_)) + ": this process owns " +
                                      std::to_string(owned.size()) + " of the log's " +
                                      std::to_string(log_->partition_count()) +
                                      " partitions; the others' state is another member's (erase with every member "
                                      "stopped: `watershed erase --resume`)");
  PartitionProcessor::ErasedViewer total;
  for (const auto& p : owned) {
    const std::string name = std::string(RegionName(region_)) + " partition " + std::to_string(p->index);
    // Every event appended before the erasure is in the state before it is erased (not replayed into it after).
    const uint64_t end = log_->EndOffset(p->index).value;
    while (p->processed.load(std::memory_order_acquire) < end) {
      if (std::chrono::steady_clock::now() >= deadline)
        return Status::Unavailable(name + " has not processed the log up to offset " + std::to_string(end) +
                                   " yet (at " + std::to_string(p->processed.load()) + ")");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::lock_guard run(p->run_mu);
    if (p->revoked || p->fenced || p->failed)
      return Status::Unavailable(name + " is no longer processed here (revoked, fenced or failed)");
    ASSIGN_OR_RETURN(PartitionProcessor::ErasedViewer e, p->processor->EraseViewer(viewer));
    RETURN_IF_ERROR(CheckpointNow(*p, /*commit_lake=*/true, /*after_erasure=*/true));
    total.sets += e.sets;
    total.dedup_entries += e.dedup_entries;
    total.cold_stories += e.cold_stories;
  }
  return total;
}

std::vector<uint32_t> RegionProcessor::Owned() const {
  std::vector<uint32_t> out;
  for (const auto& p : Snapshot(-1)) out.push_back(p->index);
  return out;
}

PartitionStatus RegionProcessor::StatusOf(const Partition& p, const log::Log& log) {
  PartitionStatus s;
  s.partition = p.index;
  s.end_offset = log.EndOffset(p.index).value;
  s.processed_offset = p.processed.load(std::memory_order_acquire);
  s.checkpoint_offset = p.checkpoint_offset.load();
  s.checkpoint_id = p.checkpoint_id.load();
  std::lock_guard lock(p.status_mu);
  s.watermark = p.watermark;
  s.counters = p.counters;
  s.dedup_entries = p.dedup_entries;
  s.resident_stories = p.resident_stories;
  s.cold_stories = p.cold_stories;
  s.cold_bytes = p.cold_bytes;
  s.evicted_stories = p.evicted;
  s.reloaded_stories = p.reloaded;
  s.lake_rows = p.lake_rows;
  s.lake_refused_rows = p.lake_refused_rows;
  s.checkpoint_ok_ms = p.checkpoint_ok_ms;
  s.lake_commit_ok_ms = p.lake_commit_ok_ms;
  s.checkpoint_failures = p.checkpoint_failures;
  s.lake_commit_failures = p.lake_commit_failures;
  s.error = p.error;
  return s;
}

std::vector<PartitionStatus> RegionProcessor::GetStatus() const {
  std::vector<PartitionStatus> out;
  for (const auto& p : Snapshot(-1)) out.push_back(StatusOf(*p, *log_));
  return out;
}

uint64_t RegionProcessor::Lag() const {
  uint64_t lag = 0;
  for (const auto& p : Snapshot(-1)) {
    uint64_t end = log_->EndOffset(p->index).value;
    uint64_t done = p->processed.load(std::memory_order_acquire);
    lag += end > done ? end - done : 0;
  }
  return lag;
}

}  // namespace watershed::stream
