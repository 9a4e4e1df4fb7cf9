#include "log/embedded_log.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <map>

#include "core/crash_point.h"
#include "core/crc32c.h"
#include "core/endian.h"
#include "core/event_codec.h"
#include "log/log_format.h"
#include "log/log_meta.h"
#include "log/record_codec.h"
#include "log/segment_crypto.h"

namespace watershed::log {

using namespace format;

Result<FsyncPolicy> ParseFsyncPolicy(std::string_view s) {
  if (s == "always") return FsyncPolicy::kAlways;
  if (s == "interval") return FsyncPolicy::kInterval;
  if (s == "never") return FsyncPolicy::kNever;
  return Status::InvalidArgument("fsync policy must be always, interval or never, not '" + std::string(s) + "'");
}

namespace {

// The valid records from the first offset in `data` where one decodes, to
// the end (0 when none does): what stands after a damaged record. A crash
// only tears the end of a file, so any is a sign of damage, not of a crash.
uint64_t ValidRecordsAfter(std::string_view data) {
  uint32_t len = 0;
  LogRecord record;
  for (size_t start = 0; start + kRecordHeaderSize <= data.size(); ++start) {
    if (CheckFrame(data.substr(start), &len) != Frame::kRecord) continue;
    // A sealed record's offset is unknown here, so it cannot be opened: its
    // CRC and shape must do.
    const std::string_view payload = data.substr(start + kRecordHeaderSize, len);
    if (!SealedPayloadShape(payload) && !DecodePayload(payload, &record).ok()) continue;
    uint64_t n = 0;
    for (size_t p = start; CheckFrame(data.substr(p), &len) == Frame::kRecord; p += kRecordHeaderSize + len) ++n;
    return n;
  }
  return 0;
}

std::string SegmentName(uint64_t base) {
  char name[32];
  std::snprintf(name, sizeof name, "%020" PRIu64 "%s", base, kSegmentSuffix);
  return name;
}

}  // namespace

struct EmbeddedLog::Partition {
  struct Segment {
    uint64_t base;
    std::string path;
    int64_t first_append_ms;                     // 0 when the segment was empty at open
    std::shared_ptr<const keys::SecretKey> key;  // its data key; null: a plaintext segment
  };
  uint32_t index = 0;
  std::string dir;
  mutable std::mutex mu;  // guards segments
  std::vector<Segment> segments;
  std::atomic<uint64_t> readable_end{0};
  std::atomic<uint64_t> floor{0};
  std::atomic<uint64_t> rollbacks{0};  // bumped when a group's bytes are cut (readers drop read-ahead)
  // Writer thread only:
  std::unique_ptr<WritableFile> active;
  std::unique_ptr<RecordCipher> cipher;  // seals into `active` (null: plaintext)
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
  // The base of the first segment after `base` (or UINT64_MAX).
  uint64_t NextBase(uint64_t base) const {
    std::lock_guard lock(mu);
    auto it = std::upper_bound(segments.begin(), segments.end(), base,
                               [](uint64_t o, const Segment& s) { return o < s.base; });
    return it == segments.end() ? UINT64_MAX : it->base;
  }
};

namespace {

class EmbeddedLogReader final : public LogReader {
 public:
  EmbeddedLogReader(FileSystem* fs, const EmbeddedLog::Partition* part, uint64_t from, std::string region)
      : fs_(fs), part_(part), target_(from), region_(std::move(region)) {}

  Status Read(size_t max_records, std::vector<LogRecord>* out) override {
    uint64_t end = part_->readable_end.load(std::memory_order_acquire);
    // Read-ahead may hold bytes of a group that was written, then rolled back
    // and overwritten by the next group: drop it after any rollback. Loaded
    // after `end`, so a rollback that preceded the publication of `end` is seen.
    if (uint64_t r = part_->rollbacks.load(std::memory_order_acquire); r != seen_rollbacks_) {
      seen_rollbacks_ = r;
      len_ = pos_;
    }
    // The open segment was the last one when opened; if the log rolled since,
    // its records end where the next segment begins. (A segment is listed
    // before any of its records become readable, so this sees it.)
    if (file_ && segment_end_ == UINT64_MAX) segment_end_ = part_->NextBase(base_);
    size_t got = 0;
    while (got < max_records && target_ < end) {
      if (!file_ || next_ >= segment_end_) RETURN_IF_ERROR(OpenSegment());
      std::string_view payload;
      RETURN_IF_ERROR(NextPayload(&payload));
      if (next_++ < target_) continue;  // positioning inside a segment
      LogRecord r;
      r.offset = LogOffset(target_++);
      RETURN_IF_ERROR(Decode(payload, &r));
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
    cipher_ = seg.key ? std::make_unique<RecordCipher>(*seg.key, region_, part_->index) : nullptr;
    base_ = seg.base;
    next_ = seg.base;
    len_ = 0;
    pos_ = 0;
    file_off_ = 0;
    return Status::Ok();
  }

  Status Decode(std::string_view payload, LogRecord* r) {
    const bool sealed = static_cast<uint8_t>(payload[0]) == kKindSealedV1;
    if (!sealed && !cipher_) return DecodePayload(payload, r);
    // A segment with a key holds sealed records only: a plaintext one there
    // (a sealed record swapped for it, CRC recomputed) is forged.
    if (!sealed)
      return Status::Corruption("plaintext record (kind " + std::to_string(static_cast<uint8_t>(payload[0])) +
                                ") at offset " + std::to_string(r->offset.value) + " of " + path_ +
                                ", an encrypted segment: forged or damaged");
    const std::string where = "encrypted record at offset " + std::to_string(r->offset.value) + " of " + path_;
    if (!cipher_) return Status::Corruption(where + ", but the segment has no key file " + SegmentKeyPath(path_));
    Status s = cipher_->Open(r->offset.value, payload, r);
    if (!s.ok() && s.code() == StatusCode::kCorruption)
      return Status::Corruption(where + " does not authenticate (damaged, or not written there): " + s.message());
    return s;
  }

  // Makes at least n unread bytes available in buf_ (fewer at end of file).
  Status Fill(size_t n) {
    if (len_ - pos_ >= n) return Status::Ok();
    if (!buf_) buf_ = std::make_unique_for_overwrite<char[]>(kBufferSize);
    std::memmove(buf_.get(), buf_.get() + pos_, len_ - pos_);
    file_off_ += pos_;
    len_ -= pos_;
    pos_ = 0;
    ASSIGN_OR_RETURN(size_t got, file_->Read(file_off_ + len_, kBufferSize - len_, buf_.get() + len_));
    len_ += got;
    return Status::Ok();
  }

  Status NextPayload(std::string_view* payload) {
    // Read exactly what the record needs: a reader at the tail must not issue a
    // read per record for bytes that are not there yet.
    RETURN_IF_ERROR(Fill(kRecordHeaderSize));
    if (len_ - pos_ >= kRecordHeaderSize)
      RETURN_IF_ERROR(Fill(kRecordHeaderSize + std::min<size_t>(GetFixed32(buf_.get() + pos_), kMaxPayloadSize)));
    uint32_t len = 0;
    const std::string_view unread(buf_.get() + pos_, len_ - pos_);
    Frame f = CheckFrame(unread, &len);
    if (f != Frame::kRecord)
      return Status::Corruption("bad record at byte " + std::to_string(file_off_ + pos_) + " of " + path_);
    *payload = unread.substr(kRecordHeaderSize, len);
    pos_ += kRecordHeaderSize + len;
    return Status::Ok();
  }

  FileSystem* fs_;
  const EmbeddedLog::Partition* part_;
  uint64_t target_;  // next offset to return
  std::unique_ptr<RandomAccessFile> file_;
  std::string path_;
  std::string region_;
  std::unique_ptr<RecordCipher> cipher_;  // the open segment's, if it is sealed
  uint64_t base_ = 0;                     // first offset of the open segment
  uint64_t next_ = 0;                     // offset of the next record in the open segment
  uint64_t segment_end_ = 0;
  static constexpr size_t kBufferSize = 256 << 10;  // > kRecordHeaderSize + kMaxPayloadSize
  std::unique_ptr<char[]> buf_;
  size_t len_ = 0;  // bytes of buf_ holding file data
  size_t pos_ = 0;  // first unread byte
  uint64_t file_off_ = 0;  // file offset of buf_[0]
  uint64_t seen_rollbacks_ = 0;
};

}  // namespace

EmbeddedLog::EmbeddedLog(const EmbeddedLogOptions& options)
    : options_(options), sync_pool_(static_cast<int>(std::min<uint32_t>(options.partitions, 8)) - 1) {}

Result<std::unique_ptr<EmbeddedLog>> EmbeddedLog::Open(const EmbeddedLogOptions& options) {
  if (options.partitions == 0 || options.partitions > 4096)
    return Status::InvalidArgument("partitions must be in 1..4096");
  if (options.segment_bytes < kMinSegmentBytes)
    return Status::InvalidArgument("segment size must be at least " + std::to_string(kMinSegmentBytes) + " bytes");
  std::unique_ptr<EmbeddedLog> log(new EmbeddedLog(options));
  RETURN_IF_ERROR(log->Recover());
  log->last_sync_ms_ = log->last_retention_ms_ = options.clock->NowMs();
  log->writer_ = std::thread([l = log.get()] { l->WriterLoop(); });
  return log;
}

EmbeddedLog::~EmbeddedLog() { Close(); }

Result<std::optional<LogMeta>> EmbeddedLog::ReadMeta(FileSystem* fs, const std::string& dir) {
  const std::string path = JoinPath(dir, kMetaFileName);
  if (!fs->FileExists(path)) return std::optional<LogMeta>();
  ASSIGN_OR_RETURN(std::string text, ReadWholeFile(fs, path));
  auto meta = ParseLogMeta(text);
  if (!meta.ok()) return Status::Corruption(path + ": " + meta.status().message());
  return std::optional<LogMeta>(*meta);
}

Status EmbeddedLog::Recover() {
  FileSystem* fs = options_.fs;
  // The partition count and scheme are fixed once data exists:
  // PartitionOf(story, N, scheme) decides where a story's state lives.
  RETURN_IF_ERROR(CreateDirsDurably(fs, options_.dir));
  const std::string meta_path = JoinPath(options_.dir, kMetaFileName);
  ASSIGN_OR_RETURN(std::optional<LogMeta> meta, ReadMeta(fs, options_.dir));
  if (meta) {
    const std::string found =
        "partitions=" + std::to_string(meta->partitions) + " scheme=" + std::string(PartitionSchemeName(meta->scheme));
    if (meta->partitions != options_.partitions)
      return Status::FailedPrecondition("log " + options_.dir + " was created with other settings (" + found +
                                        "); this server has partitions=" + std::to_string(options_.partitions));
    if (options_.partition_scheme && *options_.partition_scheme != meta->scheme)
      return Status::FailedPrecondition("log " + options_.dir + " was created with partition scheme " +
                                        std::string(PartitionSchemeName(meta->scheme)) +
                                        "; this server asks for log-partition-scheme=" +
                                        std::string(PartitionSchemeName(*options_.partition_scheme)) +
                                        ". A log never changes scheme: leave log-partition-scheme unset (or "
                                        "set it to " +
                                        std::string(PartitionSchemeName(meta->scheme)) + "), or start a new data dir");
    scheme_ = meta->scheme;
  } else {
    scheme_ = options_.partition_scheme.value_or(PartitionScheme::kAligned);
    RETURN_IF_ERROR(CheckPartitionScheme(scheme_, options_.partitions));
    RETURN_IF_ERROR(WriteFileAtomically(fs, meta_path, EncodeLogMeta({options_.partitions, scheme_})));
  }
  for (uint32_t p = 0; p < options_.partitions; ++p) {
    auto part = std::make_unique<Partition>();
    part->index = p;
    char name[16];
    std::snprintf(name, sizeof name, "p%03u", p);
    part->dir = JoinPath(options_.dir, name);
    RETURN_IF_ERROR(CreateDirsDurably(fs, part->dir));
    ASSIGN_OR_RETURN(auto names, fs->ListDir(part->dir));
    for (const auto& n : names) {
      if (n.size() != 20 + std::string_view(kSegmentSuffix).size() || !n.ends_with(kSegmentSuffix)) continue;
      if (n.find_first_not_of("0123456789") != 20) continue;  // not one of ours
      uint64_t base = std::stoull(n.substr(0, 20));
      part->segments.push_back({base, JoinPath(part->dir, n), 0, nullptr});
    }
    std::sort(part->segments.begin(), part->segments.end(),
              [](const auto& a, const auto& b) { return a.base < b.base; });
    if (part->segments.empty()) {
      part->segments.push_back({0, JoinPath(part->dir, SegmentName(0)), 0, nullptr});
      ASSIGN_OR_RETURN(auto f, fs->NewWritableFile(part->segments.back().path));
      RETURN_IF_ERROR(f->Close());
      RETURN_IF_ERROR(fs->SyncDir(part->dir));
    }
    RETURN_IF_ERROR(LoadSegmentKeys(*part, names));
    // Scan the last segment: count its records, drop a torn or corrupt tail.
    auto& last = part->segments.back();
    ASSIGN_OR_RETURN(std::string data, ReadWholeFile(fs, last.path));
    size_t pos = 0;
    uint64_t count = 0;
    uint32_t len = 0;
    int64_t last_record_ms = 0;
    while (CheckFrame(std::string_view(data).substr(pos), &len) == Frame::kRecord) {
      last_record_ms = static_cast<int64_t>(GetFixed64(data.data() + pos + kRecordHeaderSize + 1));
      if (count == 0) last.first_append_ms = last_record_ms;
      pos += kRecordHeaderSize + len;
      ++count;
    }
    if (pos < data.size()) {
      const uint64_t after = ValidRecordsAfter(std::string_view(data).substr(pos + 1));
      if (after > 0 && !options_.repair)
        return Status::Corruption(last.path + ": damaged record at byte " + std::to_string(pos) + " followed by " +
                                  std::to_string(after) +
                                  " valid records, which a crash cannot leave; truncating would drop acknowledged "
                                  "events. Restore the file, or start with log-repair on to truncate there");
      if (after > 0)
        std::fprintf(stderr, "watershed: log-repair: %s: dropping %llu valid records after a damaged one at byte %zu\n",
                     last.path.c_str(), static_cast<unsigned long long>(after), pos);
      recovery_.repaired_records += after;
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
    if (!options_.keys || last.key) {
      if (last.key) part->cipher = std::make_unique<RecordCipher>(*last.key, options_.keys->region(), p);
      ASSIGN_OR_RETURN(part->active, fs->NewAppendableFile(last.path));
    } else {
      // Encryption was turned on: new records go to a sealed segment (an
      // empty plaintext one is replaced). The plaintext ones stay readable.
      RETURN_IF_ERROR(StartSegment(*part, part->next_offset, 0));
    }
    // New append times continue from the newest record, even if the clock is behind it.
    last_append_ms_ = std::max(last_append_ms_, last_record_ms);
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
  return std::unique_ptr<LogReader>(new EmbeddedLogReader(options_.fs, partitions_[partition].get(), from.value,
                                                          options_.keys ? options_.keys->region() : std::string()));
}

void EmbeddedLog::WaitForData(uint32_t partition, LogOffset offset, std::chrono::milliseconds timeout) {
  std::unique_lock lock(data_mu_);
  data_cv_.wait_for(lock, timeout, [&] {
    std::lock_guard q(queue_mu_);
    return closing_ || EndOffset(partition) > offset;
  });
}

void EmbeddedLog::WaitForNewData(uint64_t seen, std::chrono::milliseconds timeout) {
  std::unique_lock lock(data_mu_);
  data_cv_.wait_for(lock, timeout, [&] {
    std::lock_guard q(queue_mu_);
    return closing_ || DataVersion() != seen;
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
        data_version_.fetch_add(1, std::memory_order_release);
        data_cv_.notify_all();
      }
      for (auto& p : group) p.done(s);
      group.clear();
    }
    int64_t now = options_.clock->NowMs();
    if (options_.fsync == FsyncPolicy::kInterval && now - last_sync_ms_ >= options_.fsync_interval_ms) {
      // As under kAlways, a failed fsync may have lost written pages: stop.
      if (!SyncDirty().ok()) failed_ = true, sync_failures_.fetch_add(1, std::memory_order_relaxed);
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
  std::vector<Partition*> dirty;
  for (auto& part : partitions_)
    if (part->unsynced) dirty.push_back(part.get());
  std::vector<Status> results(dirty.size());
  sync_pool_.Run(dirty.size(), [&](size_t i) { results[i] = dirty[i]->active->Sync(); });
  for (size_t i = 0; i < dirty.size(); ++i) {
    RETURN_IF_ERROR(results[i]);
    dirty[i]->unsynced = false;
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
  Status s;
  for (const auto& pending : group) {
    for (const Event& e : pending.events) {
      Partition& part = *partitions_[PartitionOf(e.story_id, n, scheme_)];
      // Roll before the group's first record for a full segment: a sealed
      // record is bound to its segment's key.
      if (part.buf.empty() && part.active->Size() > 0 && part.active->Size() >= options_.segment_bytes) {
        // The next segment's data key first: if the key provider fails (a
        // KMS hiccup), the full segment keeps taking records and the roll
        // is tried again at the partition's next group.
        std::optional<keys::DataKey> key;
        if (options_.keys) {
          auto k = keys::NewDataKey(*options_.keys);
          if (k.ok()) {
            key = std::move(k).value();
          } else if (roll_key_failures_.fetch_add(1, std::memory_order_relaxed) % 100 == 0) {
            std::fprintf(stderr, "watershed: log: %s: no data key for the next segment, still appending to %s: %s\n",
                         part.dir.c_str(), part.segments.back().path.c_str(), k.status().ToString().c_str());
          }
        }
        if (!options_.keys || key) {
          s = Roll(part, append_ms, key ? &*key : nullptr);
          if (!s.ok()) {
            failed_ = true;  // the old segment is closed: stop appending
            break;
          }
        }
      }
      if (part.cipher) {
        s = part.cipher->Append(part.next_offset, append_ms, e, &part.buf);
        if (!s.ok()) break;
      } else {
        AppendRecord(append_ms, e, &part.buf);
      }
      ++part.next_offset;
    }
    if (!s.ok()) break;
  }
  if (!s.ok()) {  // nothing written yet
    for (auto& part : partitions_) part->next_offset = part->group_first;
    return s;
  }

  auto rollback = [&] {
    for (auto& part : partitions_) {
      if (part->buf.empty()) continue;
      part->next_offset = part->group_first;
      // Cut what this group wrote, then reopen the file: the open handle's
      // size and write position are still past the cut, and the next write
      // would leave a hole of zeros that recovery takes for a torn tail.
      const std::string& path = part->segments.back().path;
      Status t = options_.fs->Truncate(path, part->group_size_before);
      if (t.ok()) {
        auto f = options_.fs->NewAppendableFile(path);
        if (f.ok()) part->active = std::move(f).value();
        else t = f.status();
      }
      if (!t.ok()) failed_ = true;  // the file's end is unknown: stop appending
      part->rollbacks.fetch_add(1, std::memory_order_release);
    }
  };

  for (auto& part : partitions_) {
    if (part->buf.empty()) continue;
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
      sync_failures_.fetch_add(1, std::memory_order_relaxed);
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

Status EmbeddedLog::Roll(Partition& part, int64_t append_ms, const keys::DataKey* key) {
  // Seal the full segment durably, then start one named by the next offset.
  RETURN_IF_ERROR(part.active->Sync());
  RETURN_IF_ERROR(part.active->Close());
  RETURN_IF_ERROR(StartSegment(part, part.next_offset, append_ms, key));
  part.group_size_before = 0;
  return Status::Ok();
}

Status EmbeddedLog::StartSegment(Partition& part, uint64_t base, int64_t first_append_ms,
                                 const keys::DataKey* data_key) {
  Partition::Segment seg{base, JoinPath(part.dir, SegmentName(base)), first_append_ms, nullptr};
  std::unique_ptr<RecordCipher> cipher;
  if (options_.keys) {
    std::optional<keys::DataKey> fresh;
    if (!data_key) {
      ASSIGN_OR_RETURN(fresh, keys::NewDataKey(*options_.keys));
      data_key = &*fresh;
    }
    // The key file first, durably: a sealed record never exists without it.
    RETURN_IF_ERROR(WriteSegmentKey(options_.fs, seg.path, data_key->wrapped));
    if (first_append_ms != 0) CrashPoint("log.roll.after_segment_key");  // a roll, not an open
    seg.key = std::make_shared<const keys::SecretKey>(data_key->key);
    cipher = std::make_unique<RecordCipher>(data_key->key, options_.keys->region(), part.index);
  }
  ASSIGN_OR_RETURN(auto f, options_.fs->NewWritableFile(seg.path));
  RETURN_IF_ERROR(options_.fs->SyncDir(part.dir));
  part.active = std::move(f);
  part.cipher = std::move(cipher);
  std::lock_guard lock(part.mu);
  if (!part.segments.empty() && part.segments.back().base == base)
    part.segments.back() = seg;  // an empty segment found at open
  else
    part.segments.push_back(seg);
  return Status::Ok();
}

Status EmbeddedLog::LoadSegmentKeys(Partition& part, const std::vector<std::string>& names) {
  std::map<std::string, uint64_t> sidecars;  // path -> base
  for (const auto& n : names) {
    uint64_t base = 0;
    if (IsSegmentKeyFileName(n, &base)) sidecars.emplace(JoinPath(part.dir, n), base);
    // A crash's leftover temporaries (a key file being written or re-wrapped).
    if (IsStaleSegmentKeyTemp(n)) RETURN_IF_ERROR(options_.fs->RemoveFile(JoinPath(part.dir, n)));
  }
  for (auto& seg : part.segments) {
    if (!sidecars.erase(SegmentKeyPath(seg.path))) continue;
    if (!options_.keys)
      return Status::FailedPrecondition("log segment " + seg.path + " is encrypted (its key is in " +
                                        SegmentKeyPath(seg.path) + "): start with encryption = on and the keys of " +
                                        "this log's region");
    ASSIGN_OR_RETURN(keys::SecretKey key, LoadSegmentKey(options_.fs, *options_.keys, seg.path));
    seg.key = std::make_shared<const keys::SecretKey>(key);
  }
  // Segments are sealed from the first one with a key file on (a key file
  // is durable before its segment exists, and encryption cannot be turned
  // off again), so a keyless segment after a sealed one is one whose key
  // file was deleted and whose records were rewritten in clear.
  auto sealed = std::find_if(part.segments.begin(), part.segments.end(), [](const auto& s) { return s.key; });
  for (auto it = sealed; it != part.segments.end(); ++it)
    if (!it->key)
      return Status::Corruption("log segment " + it->path + " has no key file " + SegmentKeyPath(it->path) +
                                " but comes after the encrypted segment " + sealed->path +
                                ": its key file was deleted (restore it with the segment)");
  // Key files without a segment. Below the first segment: left by
  // retention's delete (segment first, then key file). Past the last: written
  // by a roll just before a crash that came before the segment file. Nothing
  // needs those. Between two segments, a segment is missing (say a partial
  // restore): its key file is kept, so restoring the segment restores it whole.
  for (const auto& [orphan, base] : sidecars) {
    if (base < part.segments.front().base || base > part.segments.back().base) {
      RETURN_IF_ERROR(options_.fs->RemoveFile(orphan));
    } else {
      std::fprintf(stderr, "watershed: log: key file %s has no segment %s: kept (is the segment missing?)\n",
                   orphan.c_str(), SegmentPathOfKeyFile(orphan).c_str());
    }
  }
  return Status::Ok();
}

Status EmbeddedLog::EnforceRetention() {
  int64_t now = options_.clock->NowMs();
  Status first_error;
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
        if (segs[0].key) doomed.push_back(SegmentKeyPath(segs[0].path));  // after its segment
        segs.erase(segs.begin());
      }
    }
    for (const auto& path : doomed) {
      Status s = options_.fs->RemoveFile(path);  // keep going: the other files are due too
      if (first_error.ok() && !s.ok()) first_error = s;
    }
  }
  return first_error;
}

}  // namespace watershed::log
