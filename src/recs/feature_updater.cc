#include "recs/feature_updater.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "core/crc32c.h"
#include "recs/locked_feature_store.h"

namespace watershed::recs {

std::optional<FeatureEvent> ToFeatureEvent(const log::LogRecord& record, const FeatureUpdaterOptions& options) {
  const Event& e = record.event;
  const float weight = EngagementWeight(e.type, e.watch_ms, options.engagement);
  if (weight <= 0) return std::nullopt;
  return FeatureEvent{e.viewer_id.value, e.story_id.value, std::min(e.event_time.value, record.append_time.value),
                      weight, e.author_id.value};
}

uint32_t CatalogTagId(std::string_view tag) { return crc32c::Value(tag); }

void FeatureUpdater::DedupWindow::Clear() {
  order_.clear();
  count_.clear();
}

bool FeatureUpdater::DedupWindow::SeenThenPush(const log::LogRecord& record, size_t capacity) {
  if (capacity == 0) return false;
  const Key key{record.event.viewer_id.value, record.event.event_id.Hi(), record.event.event_id.Lo()};
  uint32_t& n = count_[key];
  const bool seen = n > 0;
  ++n;
  order_.push_back(key);
  if (order_.size() > capacity) {
    auto it = count_.find(order_.front());
    if (--it->second == 0) count_.erase(it);
    order_.pop_front();
  }
  return seen;
}

Status FeatureUpdater::PutCatalogItems(const std::vector<log::LogRecord>& records) {
  if (options_.catalog == nullptr) return Status::Ok();
  for (const log::LogRecord& r : records) {
    const uint64_t story = r.event.story_id.value;
    std::optional<catalog::StoryRecord> record = options_.catalog->Get(r.event.story_id);
    if (!record || record->deleted) continue;
    auto [it, fresh] = item_versions_.try_emplace(story, 0);
    if (!fresh && it->second == record->version) continue;
    ItemInfo info;
    info.created_at_ms = record->created_at_ms;
    info.author = record->author.value;
    for (const std::string& tag : record->tags) info.tags.push_back(CatalogTagId(tag));
    if (Status s = store_->PutItem(story, info); !s.ok()) {
      item_versions_.erase(it);  // put again next time
      return s;
    }
    it->second = record->version;
  }
  return Status::Ok();
}

static size_t CountPartitions(const std::vector<FeatureUpdaterSource>& sources) {
  size_t n = 0;
  for (const auto& s : sources) n += s.log->partition_count();
  return n;
}

FeatureUpdater::FeatureUpdater(FeatureStore* store, std::vector<FeatureUpdaterSource> sources,
                               FeatureUpdaterOptions options)
    : store_(store), sources_(std::move(sources)), options_(std::move(options)), positions_(CountPartitions(sources_)) {
  for (const auto& s : sources_)
    for (uint32_t p = 0; p < s.log->partition_count(); ++p) cursors_.push_back(Cursor{s, p, 0, nullptr, {}});
}

FeatureUpdater::~FeatureUpdater() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Status FeatureUpdater::Init() {
  initialised_ = false;
  ASSIGN_OR_RETURN(std::vector<LogPosition> stored, store_->Positions());
  for (size_t i = 0; i < cursors_.size(); ++i) {
    Cursor& c = cursors_[i];
    c.position = 0;
    c.reader.reset();
    for (const LogPosition& p : stored)
      if (p.region == static_cast<uint8_t>(c.source.region) && p.partition == c.partition) c.position = p.next_offset;
    const uint64_t end = c.source.log->EndOffset(c.partition).value;
    if (c.position > end)
      return Status::FailedPrecondition("feature updater: the store holds " + std::string(RegionName(c.source.region)) +
                                        " partition " + std::to_string(c.partition) + " up to offset " +
                                        std::to_string(c.position) + " but the log ends at " + std::to_string(end) +
                                        " (a store of another log?)");
    // The dedup window as it stood before the stored position: the records just before it, as the log holds them
    // (records the retention removed are missing from it).
    c.dedup.Clear();
    const size_t window = options_.dedup_window_records;
    if (window > 0 && c.position > 0) {
      const uint64_t from = c.position > window ? c.position - window : 0;
      // Read up to the stored position. A Kafka reader returns nothing until
      // its first fetch arrives: an empty read waits for data (bounded), it
      // is not the end. Records the retention removed cannot be re-read.
      if (auto warm = c.source.log->NewReader(c.partition, LogOffset(from)); warm.ok()) {
        std::vector<log::LogRecord> records;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while ((*warm)->position().value < c.position) {
          records.clear();
          RETURN_IF_ERROR((*warm)->Read(std::min<size_t>(options_.batch_records, window), &records));
          if (records.empty()) {
            if (std::chrono::steady_clock::now() > deadline)
              return Status::Unavailable("feature updater: could not re-read the dedup window of " +
                                         std::string(RegionName(c.source.region)) + " partition " +
                                         std::to_string(c.partition) + " within 30 s");
            c.source.log->WaitForData(c.partition, (*warm)->position(), std::chrono::milliseconds(100));
            continue;
          }
          for (const log::LogRecord& r : records) {
            if (r.offset.value >= c.position) break;
            c.dedup.SeenThenPush(r, window);
          }
          if (records.back().offset.value >= c.position) break;
        }
      } else {
        std::fprintf(stderr,
                     "watershed: feature updater: %s partition %u: the dedup window before offset %llu is "
                     "gone with the log's retention; duplicates of those records are counted again\n",
                     std::string(RegionName(c.source.region)).c_str(), c.partition,
                     static_cast<unsigned long long>(c.position));
      }
    }
    ASSIGN_OR_RETURN(c.reader, c.source.log->NewReader(c.partition, LogOffset(c.position)));
    positions_[i] = c.position;
  }
  initialised_ = true;
  return Status::Ok();
}

Result<size_t> FeatureUpdater::Step() {
  if (!initialised_) RETURN_IF_ERROR(Init());
  size_t consumed = 0;
  std::vector<log::LogRecord> records;
  std::vector<FeatureEvent> events;
  for (size_t i = 0; i < cursors_.size(); ++i) {
    Cursor& c = cursors_[i];
    records.clear();
    events.clear();
    if (Status s = c.reader->Read(options_.batch_records, &records); !s.ok()) {
      initialised_ = false;
      return s;
    }
    if (records.empty()) continue;
    for (const auto& r : records) {
      // A client's retry appended twice: consumed, counted once.
      if (c.dedup.SeenThenPush(r, options_.dedup_window_records)) {
        ++duplicate_records_;
        continue;
      }
      // With a catalogue, only its stories get features, authored as it
      // says: events naming other ids (any viewer can send them) would grow
      // the items without bound, and an event's author_id is only a hint.
      if (options_.catalog) {
        std::optional<catalog::StoryRecord> story = options_.catalog->Get(r.event.story_id);
        if (!story || story->deleted) continue;
      }
      if (auto e = ToFeatureEvent(r, options_)) {
        if (options_.catalog) e->author = 0;
        events.push_back(*e);
      }
    }
    if (Status s = PutCatalogItems(records); !s.ok()) {
      initialised_ = false;
      return s;
    }
    const LogRange range{static_cast<uint8_t>(c.source.region), c.partition, c.position,
                         records.back().offset.value + 1};
    if (Status s = store_->ApplyLogBatch(range, events); !s.ok()) {
      initialised_ = false;  // the reader ran ahead of the store: start again from the store's positions
      return s;
    }
    if (options_.on_applied && !events.empty()) options_.on_applied(range.region, events);
    c.position = range.next_offset;
    positions_[i] = c.position;
    consumed += records.size();
    consumed_records_ += records.size();
    applied_events_ += events.size();
  }
  return consumed;
}

Status FeatureUpdater::Snapshot() {
  auto* embedded = EmbeddedOf(store_);
  if (embedded == nullptr || options_.snapshot_path.empty() || options_.fs == nullptr)
    return Status::FailedPrecondition("feature updater: snapshots are for the embedded store with a path");
  RETURN_IF_ERROR(embedded->SaveSnapshot(options_.fs, options_.snapshot_path));
  ++snapshots_;
  last_snapshot_ = std::chrono::steady_clock::now();
  return Status::Ok();
}

void FeatureUpdater::Start() {
  thread_ = std::thread([this] { Run(); });
}

void FeatureUpdater::Run() {
  const bool snapshots = EmbeddedOf(store_) != nullptr && !options_.snapshot_path.empty() && options_.fs;
  std::vector<uint64_t> seen(sources_.size());
  for (;;) {
    for (size_t s = 0; s < sources_.size(); ++s) seen[s] = sources_[s].log->DataVersion();
    std::unique_lock work(work_mu_);
    Result<size_t> step = Step();
    Status error = step.ok() ? Status::Ok() : step.status();
    if (error.ok() && snapshots && options_.snapshot_interval_ms > 0 &&
        std::chrono::steady_clock::now() - last_snapshot_ >= std::chrono::milliseconds(options_.snapshot_interval_ms))
      error = Snapshot();
    work.unlock();
    {
      std::unique_lock lock(mu_);
      if (!error.ok()) {
        if (error.message() != last_error_)
          std::fprintf(stderr, "watershed: feature updater: %s (retrying)\n", error.ToString().c_str());
        last_error_ = error.message();
        if (cv_.wait_for(lock, options_.retry_backoff, [this] { return stop_; })) return;
        continue;
      }
      last_error_.clear();
      if (stop_) return;
    }
    if (*step > 0) continue;
    // Nothing new: wait on the logs in turn (the wait is bounded by idle_wait).
    const auto wait = options_.idle_wait / std::max<size_t>(1, sources_.size());
    for (size_t s = 0; s < sources_.size(); ++s) sources_[s].log->WaitForNewData(seen[s], wait);
  }
}

Status FeatureUpdater::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard work(work_mu_);
  if (EmbeddedOf(store_) != nullptr && !options_.snapshot_path.empty() && options_.fs) return Snapshot();
  return Status::Ok();
}

Result<bool> FeatureUpdater::EraseViewer(uint64_t viewer) {
  if (thread_.joinable()) {
    // Every record appended before the erasure is applied first: none of the viewer's is applied after it.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (size_t i = 0; i < cursors_.size(); ++i) {
      const uint64_t end = cursors_[i].source.log->EndOffset(cursors_[i].partition).value;
      while (positions_[i].load() < end) {
        if (std::chrono::steady_clock::now() >= deadline)
          return Status::Unavailable("feature updater: " + std::string(RegionName(cursors_[i].source.region)) +
                                     " partition " + std::to_string(cursors_[i].partition) +
                                     " has not been consumed up to offset " + std::to_string(end) + " yet");
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
  }
  std::lock_guard work(work_mu_);
  ASSIGN_OR_RETURN(bool held, store_->EraseViewer(viewer));
  if (EmbeddedOf(store_) != nullptr && !options_.snapshot_path.empty() && options_.fs) RETURN_IF_ERROR(Snapshot());
  return held;
}

uint64_t FeatureUpdater::Lag() const {
  uint64_t lag = 0;
  for (size_t i = 0; i < cursors_.size(); ++i) {
    const uint64_t end = cursors_[i].source.log->EndOffset(cursors_[i].partition).value;
    const uint64_t at = positions_[i].load();
    lag += end > at ? end - at : 0;
  }
  return lag;
}

std::string FeatureUpdater::last_error() const {
  std::lock_guard lock(mu_);
  return last_error_;
}

}  // namespace watershed::recs
