#include "log/embedded_log.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "core/crc32c.h"
#include "core/endian.h"
#include "core/event_codec.h"
#include "log/log_format.h"

namespace watershed::log {

using namespace format;

Result<FsyncPolicy> ParseFsyncPolicy(std::string_view s) {
  if (s == "always") return FsyncPolicy::kAlways;
  if (s == "interval") return FsyncPolicy::kInterval;
  if (s == "never") return FsyncPolicy::kNever;
  return Status::InvalidArgument("fsync policy must be always, interval or never, not '" + std::string(s) + "'");
}

namespace {

std::string SegmentName(uint64_t base) {
  char name[32];
  std::snprintf(name, sizeof name, "%020" PRIu64 "%s", base, kSegmentSuffix);
  return name;
}

// Appends one framed record to *out.
void AppendRecord(int64_t append_ms, const Event& e, std::string* out) {
  size_t header_at = out->size();
  out->resize(header_at + kRecordHeaderSize + kPayloadPrefixSize);
  char* p = out->data() + header_at + kRecordHeaderSize;
  *p++ = static_cast<char>(kKindEventV1);
  PutFixed64(p, static_cast<uint64_t>(append_ms));
  AppendEventBinary(e, out);
  size_t payload_len = out->size() - header_at - kRecordHeaderSize;
  const char* payload = out->data() + header_at + kRecordHeaderSize;
  char* h = out->data() + header_at;
  PutFixed32(h, static_cast<uint32_t>(payload_len));
  PutFixed32(h + 4, crc32c::Extend(0, payload, payload_len));
}

// Result of looking at the bytes at the front of `data`.
enum class Frame { kRecord, kIncomplete, kCorrupt };
Frame CheckFrame(std::string_view data, uint32_t* payload_len) {
  if (data.size() < kRecordHeaderSize) return Frame::kIncomplete;
  uint32_t len = GetFixed32(data.data());
  if (len < kPayloadPrefixSize + kEventBinaryFixedSize || len > kMaxPayloadSize) return Frame::kCorrupt;
  if (data.size() < kRecordHeaderSize + len) return Frame::kIncomplete;
  if (crc32c::Extend(0, data.data() + kRecordHeaderSize, len) != GetFixed32(data.data() + 4)) return Frame::kCorrupt;
  *payload_len = len;
  return Frame::kRecord;
}

Status DecodePayload(std::string_view payload, LogRecord* r) {
  if (static_cast<uint8_t>(payload[0]) != kKindEventV1) return Status::Corruption("unknown log record kind");
  r->append_time = AppendTimeMs(static_cast<int64_t>(GetFixed64(payload.data() + 1)));
  return DecodeEventBinary(payload.substr(kPayloadPrefixSize), &r->event);
}

}  // namespace

struct EmbeddedLog::Partition {
  struct Segment {
    uint64_t base;
    std::string path;
    int64_t first_append_ms;  // 0 when the segment was empty at open
  };
  std::string dir;
  mutable std::mutex mu;  // guards segments
  std::vector<Segment> segments;
  std::atomic<uint64_t> readable_end{0};
  std::atomic<uint64_t> floor{0};
  // Writer thread only:
  std::unique_ptr<WritableFile> active;
  uint64_t next_offset = 0;
  std::string buf;
  uint64_t group_first = 0;       // next_offset before the current group
  uint64_t group_size_before = 0; // active file size before the current group
  bool unsynced = false;

  // The segment holding `offset` and the base of the one after (or UINT64_MAX).
  bool Find(uint64_t offset, Segment* seg, uint64_t* end) const {
    std::lock_guard lock(mu);
    auto it = std::upper_bound(segments.begin(), segments.end(), offset,
                               [](uint64_t o, const Segment& s) { return o < s.base; });
    if (it == segments.begin()) return false;
    *seg = *std::prev(it);
    *end = it == segments.end() ? UINT64_MAX : it->base;
    return true;
  }
};

namespace {

class EmbeddedLogReader final : public LogReader {
 public:
  EmbeddedLogReader(FileSystem* fs, const EmbeddedLog::Partition* part, uint64_t from)
      : fs_(fs), part_(part), target_(from) {}

  Status Read(size_t max_records, std::vector<LogRecord>* out) override {
    uint64_t end = part_->readable_end.load(std::memory_order_acquire);
    size_t got = 0;
    while (got < max_records && target_ < end) {
      if (!file_ || next_ >= segment_end_) RETURN_IF_ERROR(OpenSegment());
      std::string_view payload;
      RETURN_IF_ERROR(NextPayload(&payload));
      if (next_++ < target_) continue;  // positioning inside a segment
      LogRecord r;
      r.offset = LogOffset(target_++);
      RETURN_IF_ERROR(DecodePayload(payload, &r));
      out->push_back(std::move(r));
      ++got;
    }
    return Status::Ok();
  }
  LogOffset position() const override { return LogOffset(target_); }

 private:
  Status OpenSegment() {
    EmbeddedLog::Partition::Segment seg;
    if (!part_->Find(target_, &seg, &segment_end_))
      return Status::NotFound("offset " + std::to_string(target_) + " is no longer retained");
    ASSIGN_OR_RETURN(file_, fs_->NewRandomAccessFile(seg.path));
    path_ = seg.path;
    next_ = seg.base;
    buf_.clear();
    pos_ = 0;
    file_off_ = 0;
    return Status::Ok();
  }

  // Makes at least n unread bytes available in buf_ (fewer at end of file).
  Status Fill(size_t n) {
    if (buf_.size() - pos_ >= n) return Status::Ok();
    buf_.erase(0, pos_);
    file_off_ += pos_;
    pos_ = 0;
    size_t have = buf_.size();
    size_t want = std::max<size_t>(n - have, 256 << 10);
    buf_.resize(have + want);
    ASSIGN_OR_RETURN(size_t got, file_->Read(file_off_ + have, want, buf_.data() + have));
    buf_.resize(have + got);
    return Status::Ok();
  }

  Status NextPayload(std::string_view* payload) {
    RETURN_IF_ERROR(Fill(kRecordHeaderSize + kMaxPayloadSize));
    uint32_t len = 0;
    Frame f = CheckFrame(std::string_view(buf_).substr(pos_), &len);
    if (f != Frame::kRecord)
      return Status::Corruption("bad record at byte " + std::to_string(file_off_ + pos_) + " of " + path_);
    *payload = std::string_view(buf_).substr(pos_ + kRecordHeaderSize, len);
    pos_ += kRecordHeaderSize + len;
    return Status::Ok();
  }

  FileSystem* fs_;
  const EmbeddedLog::Partition* part_;
  uint64_t target_;  // next offset to return
  std::unique_ptr<RandomAccessFile> file_;
  std::string path_;
  uint64_t next_ = 0;  // offset of the next record in the open segment
  uint64_t segment_end_ = 0;
  std::string buf_;
  size_t pos_ = 0;
  uint64_t file_off_ = 0;  // file offset of buf_[0]
};

}  // namespace

EmbeddedLog::EmbeddedLog(const EmbeddedLogOptions& options) : options_(options) {}

Result<std::unique_ptr<EmbeddedLog>> EmbeddedLog::Open(const EmbeddedLogOptions& options) {
  if (options.partitions == 0 || options.partitions > 4096)
    return Status::InvalidArgument("partitions must be in 1..4096");
  std::unique_ptr<EmbeddedLog> log(new EmbeddedLog(options));
  RETURN_IF_ERROR(log->Recover());
  log->last_sync_ms_ = log->last_retention_ms_ = options.clock->NowMs();
  log->writer_ = std::thread([l = log.get()] { l->WriterLoop(); });
  return log;
}

EmbeddedLog::~EmbeddedLog() { Close(); }

Status EmbeddedLog::Recover() {
  FileSystem* fs = options_.fs;
  for (uint32_t p = 0; p < options_.partitions; ++p) {
    auto part = std::make_unique<Partition>();
    char name[16];
    std::snprintf(name, sizeof name, "p%03u", p);
    part->dir = JoinPath(options_.dir, name);
    RETURN_IF_ERROR(fs->CreateDirs(part->dir));
    ASSIGN_OR_RETURN(auto names, fs->ListDir(part->dir));
    for (const auto& n : names) {
      if (n.size() != 20 + std::string_view(kSegmentSuffix).size() || !n.ends_with(kSegmentSuffix)) continue;
      uint64_t base = std::stoull(n.substr(0, 20));
      part->segments.push_back({base, JoinPath(part->dir, n), 0});
    }
    std::sort(part->segments.begin(), part->segments.end(),
              [](const auto& a, const auto& b) { return a.base < b.base; });
    if (part->segments.empty()) {
      part->segments.push_back({0, JoinPath(part->dir, SegmentName(0)), 0});
      ASSIGN_OR_RETURN(auto f, fs->NewWritableFile(part->segments.back().path));
      RETURN_IF_ERROR(f->Close());
      RETURN_IF_ERROR(fs->SyncDir(part->dir));
    }
    // Scan the last segment: count its records, drop a torn or corrupt tail.
    auto& last = part->segments.back();
    ASSIGN_OR_RETURN(std::string data, ReadWholeFile(fs, last.path));
    size_t pos = 0;
    uint64_t count = 0;
    uint32_t len = 0;
    while (CheckFrame(std::string_view(data).substr(pos), &len) == Frame::kRecord) {
      if (count == 0) last.first_append_ms = static_cast<int64_t>(GetFixed64(data.data() + pos + kRecordHeaderSize + 1));
      pos += kRecordHeaderSize + len;
      ++count;
    }
    if (pos < data.size()) {
      recovery_.truncated_bytes += data.size() - pos;
      RETURN_IF_ERROR(fs->Truncate(last.path, pos));
    }
    // Sealed segments: their first record's append time drives retention by age.
    for (size_t i = 0; i + 1 < part->segments.size(); ++i) {
      auto& seg = part->segments[i];
      ASSIGN_OR_RETURN(auto f, fs->NewRandomAccessFile(seg.path));
      char head[kRecordHeaderSize + kPayloadPrefixSize];
      ASSIGN_OR_RETURN(size_t n, f->Read(0, sizeof head, head));
      if (n == sizeof head) seg.first_append_ms = static_cast<int64_t>(GetFixed64(head + kRecordHeaderSize + 1));
    }
    part->next_offset = last.base + count;
    part->readable_end = part->next_offset;
    ASSIGN_OR_RETURN(part->active, fs->NewAppendableFile(last.path));
    if (count > 0) last_append_ms_ = std::max(last_append_ms_, last.first_append_ms);
    partitions_.push_back(std::move(part));
  }
  return Status::Ok();
}

void EmbeddedLog::AppendAsync(std::vector<Event> events, AppendCallback done) {
  {
    std::lock_guard lock(queue_mu_);
    if (!closing_) {
      queue_.push_back({std::move(events), std::move(done)});
      queue_cv_.notify_one();
      return;
    }
  }
  done(Status::Unavailable("log is closed"));
}

LogOffset EmbeddedLog::EndOffset(uint32_t partition) const {
  return LogOffset(partitions_[partition]->readable_end.load(std::memory_order_acquire));
}

LogOffset EmbeddedLog::StartOffset(uint32_t partition) const {
  std::lock_guard lock(partitions_[partition]->mu);
  return LogOffset(partitions_[partition]->segments.front().base);
}

Result<std::unique_ptr<LogReader>> EmbeddedLog::NewReader(uint32_t partition, LogOffset from) {
  if (partition >= partitions_.size()) return Status::InvalidArgument("no such partition");
  if (from.value > EndOffset(partition).value) return Status::InvalidArgument("offset beyond the end of the log");
  if (from < StartOffset(partition))
    return Status::NotFound("offset " + std::to_string(from.value) + " is no longer retained");
  return std::unique_ptr<LogReader>(new EmbeddedLogReader(options_.fs, partitions_[partition].get(), from.value));
}

void EmbeddedLog::WaitForData(uint32_t partition, LogOffset offset, std::chrono::milliseconds timeout) {
  std::unique_lock lock(data_mu_);
  data_cv_.wait_for(lock, timeout, [&] {
    std::lock_guard q(queue_mu_);
    return closing_ || EndOffset(partition) > offset;
  });
}

void EmbeddedLog::SetRetentionFloor(uint32_t partition, LogOffset floor) {
  partitions_[partition]->floor.store(floor.value, std::memory_order_relaxed);
}

void EmbeddedLog::Close() {
  {
    std::lock_guard lock(queue_mu_);
    if (closing_ && !writer_.joinable()) return;
    closing_ = true;
    queue_cv_.notify_all();
  }
  if (writer_.joinable()) writer_.join();
  {
    std::lock_guard lock(data_mu_);
    data_cv_.notify_all();
  }
}

void EmbeddedLog::WriterLoop() {
  std::vector<Pending> group;
  for (;;) {
    {
      std::unique_lock lock(queue_mu_);
      auto wait = std::chrono::milliseconds(options_.fsync == FsyncPolicy::kInterval ? options_.fsync_interval_ms : 1000);
      queue_cv_.wait_for(lock, wait, [&] { return closing_ || !queue_.empty(); });
      group.swap(queue_);
      if (group.empty() && closing_) break;
    }
    if (!group.empty()) {
      Status s = failed_ ? Status::Unavailable("log refuses appends after an fsync failure; restart the server")
                         : WriteGroup(group);
      {
        std::lock_guard lock(data_mu_);
        data_cv_.notify_all();
      }
      for (auto& p : group) p.done(s);
      group.clear();
    }
    int64_t now = options_.clock->NowMs();
    if (options_.fsync == FsyncPolicy::kInterval && now - last_sync_ms_ >= options_.fsync_interval_ms) {
      SyncDirty().IgnoreError();  // an error here is reported by the next kAlways-style check: logged by callers
      last_sync_ms_ = now;
    }
    if (now - last_retention_ms_ >= 10'000) {
      EnforceRetention().IgnoreError();  // retention is retried on the next round
      last_retention_ms_ = now;
    }
  }
  SyncDirty().IgnoreError();  // best effort at shutdown; kAlways data is already synced
}

Status EmbeddedLog::SyncDirty() {
  for (auto& part : partitions_) {
    if (!part->unsynced) continue;
    RETURN_IF_ERROR(part->active->Sync());
    part->unsynced = false;
  }
  return Status::Ok();
}

Status EmbeddedLog::WriteGroup(std::vector<Pending>& group) {
  int64_t append_ms = std::max(options_.clock->NowMs(), last_append_ms_);
  last_append_ms_ = append_ms;
  const uint32_t n = options_.partitions;
  for (auto& part : partitions_) {
    part->buf.clear();
    part->group_first = part->next_offset;
    part->group_size_before = part->active->Size();
  }
  for (const auto& pending : group)
    for (const Event& e : pending.events) {
      Partition& part = *partitions_[PartitionOf(e.story_id, n)];
      AppendRecord(append_ms, e, &part.buf);
      ++part.next_offset;
    }

  auto rollback = [&] {
    for (auto& part : partitions_) {
      if (part->buf.empty()) continue;
      part->next_offset = part->group_first;
      options_.fs->Truncate(part->segments.back().path, part->group_size_before).IgnoreError();
    }
  };

  Status s;
  for (auto& part : partitions_) {
    if (part->buf.empty()) continue;
    if (part->active->Size() >= options_.segment_bytes) {
      // Roll: seal the full segment durably, then start one named by the next offset.
      s = part->active->Sync();
      if (s.ok()) s = part->active->Close();
      Partition::Segment seg{part->group_first, JoinPath(part->dir, SegmentName(part->group_first)), append_ms};
      if (s.ok()) {
        auto f = options_.fs->NewWritableFile(seg.path);
        if (f.ok()) {
          part->active = std::move(f).value();
          s = options_.fs->SyncDir(part->dir);
          part->group_size_before = 0;
          std::lock_guard lock(part->mu);
          part->segments.push_back(seg);
        } else {
          s = f.status();
        }
      }
      if (!s.ok()) {
        failed_ = true;
        rollback();
        return s;
      }
    }
    s = part->active->Append(part->buf);
    if (!s.ok()) {
      rollback();
      return s;
    }
    part->unsynced = true;
  }
  if (options_.fsync == FsyncPolicy::kAlways) {
    s = SyncDirty();
    if (!s.ok()) {
      // After a failed fsync the page cache may have dropped our data: stop.
      failed_ = true;
      rollback();
      return s;
    }
  }
  for (auto& part : partitions_) {
    if (part->buf.empty()) continue;
    std::lock_guard lock(part->mu);
    if (part->segments.back().first_append_ms == 0) part->segments.back().first_append_ms = append_ms;
    part->readable_end.store(part->next_offset, std::memory_order_release);
  }
  return Status::Ok();
}

Status EmbeddedLog::EnforceRetention() {
  int64_t now = options_.clock->NowMs();
  for (auto& part : partitions_) {
    uint64_t floor = part->floor.load(std::memory_order_relaxed);
    std::vector<std::string> doomed;
    {
      std::lock_guard lock(part->mu);
      auto& segs = part->segments;
      uint64_t total = 0;
      for (const auto& seg : segs) {
        auto size = options_.fs->FileSize(seg.path);
        if (size.ok()) total += *size;
      }
      // Only sealed segments wholly below the floor may go. A sealed segment's
      // records are no newer than the first record of the segment after it.
      while (segs.size() > 1 && segs[1].base <= floor) {
        bool too_old = segs[1].first_append_ms != 0 && now - segs[1].first_append_ms > options_.retention_ms;
        bool too_big = options_.retention_bytes != 0 && total > options_.retention_bytes;
        if (!too_old && !too_big) break;
        auto size = options_.fs->FileSize(segs[0].path);
        if (size.ok()) total -= std::min(total, *size);
        doomed.push_back(segs[0].path);
        segs.erase(segs.begin());
      }
    }
    for (const auto& path : doomed) RETURN_IF_ERROR(options_.fs->RemoveFile(path));
  }
  return Status::Ok();
}

}  // namespace watershed::log
