#include "catalog/story_catalog.h"

#include <simdjson.h>

#include <algorithm>

#include "core/crc32c.h"
#include "core/endian.h"

namespace watershed::catalog {
namespace {

constexpr uint8_t kChangeV1 = 1;
constexpr size_t kFrameHeader = 8;
constexpr uint32_t kMaxPayload = 64 * 1024;  // far above the largest valid record
constexpr const char* kLogName = "catalog.log";

// Payload kChangeV1: u8 kind, u64 position, str source, u64 + u64 source_position,
// u64 story, u64 author, i64 created_at_ms, i64 updated_at_ms, u8 flags
// (1 is_original, 2 deleted), str title, str language, u32 tag count, str
// tags...; str = u32 length + bytes.
void PutString(std::string* out, std::string_view s) {
  char len[4];
  PutFixed32(len, static_cast<uint32_t>(s.size()));
  out->append(len, 4);
  out->append(s);
}
void PutU64(std::string* out, uint64_t v) {
  char b[8];
  PutFixed64(b, v);
  out->append(b, 8);
}

std::string EncodeFrameImpl(const CatalogChange& c) {
  const StoryRecord& r = c.record;
  std::string p;
  p.push_back(static_cast<char>(kChangeV1));
  PutU64(&p, r.version);
  PutString(&p, c.source);
  PutU64(&p, c.source_position.major);
  PutU64(&p, c.source_position.minor);
  PutU64(&p, r.story.value);
  PutU64(&p, r.author.value);
  PutU64(&p, static_cast<uint64_t>(r.created_at_ms));
  PutU64(&p, static_cast<uint64_t>(r.updated_at_ms));
  p.push_back(static_cast<char>((r.is_original ? 1 : 0) | (r.deleted ? 2 : 0)));
  PutString(&p, r.title);
  PutString(&p, r.language);
  char n[4];
  PutFixed32(n, static_cast<uint32_t>(r.tags.size()));
  p.append(n, 4);
  for (const std::string& t : r.tags) PutString(&p, t);
  std::string frame(kFrameHeader, '\0');
  PutFixed32(frame.data(), static_cast<uint32_t>(p.size()));
  PutFixed32(frame.data() + 4, crc32c::Value(p));
  return frame + p;
}

class Reader {
 public:
  explicit Reader(std::string_view s) : s_(s) {}
  bool U8(uint8_t* v) {
    if (s_.empty()) return false;
    *v = static_cast<uint8_t>(s_[0]);
    s_.remove_prefix(1);
    return true;
  }
  bool U32(uint32_t* v) {
    if (s_.size() < 4) return false;
    *v = GetFixed32(s_.data());
    s_.remove_prefix(4);
    return true;
  }
  bool U64(uint64_t* v) {
    if (s_.size() < 8) return false;
    *v = GetFixed64(s_.data());
    s_.remove_prefix(8);
    return true;
  }
  bool Str(std::string* v, size_t max) {
    uint32_t n;
    if (!U32(&n) || n > max || n > s_.size()) return false;
    v->assign(s_.substr(0, n));
    s_.remove_prefix(n);
    return true;
  }
  bool done() const { return s_.empty(); }

 private:
  std::string_view s_;
};

Result<CatalogChange> DecodePayload(std::string_view payload) {
  Reader in(payload);
  CatalogChange c;
  StoryRecord& r = c.record;
  uint8_t kind = 0, flags = 0;
  uint64_t created = 0, updated = 0;
  uint32_t tags = 0;
  bool ok = in.U8(&kind) && kind == kChangeV1 && in.U64(&r.version) && in.Str(&c.source, kMaxSourceBytes) &&
            in.U64(&c.source_position.major) && in.U64(&c.source_position.minor) && in.U64(&r.story.value) && in.U64(&r.author.value) && in.U64(&created) &&
            in.U64(&updated) && in.U8(&flags) && in.Str(&r.title, kMaxTitleBytes) &&
            in.Str(&r.language, kMaxLanguageBytes) && in.U32(&tags) && tags <= kMaxTags;
  for (uint32_t i = 0; ok && i < tags; ++i) ok = in.Str(&r.tags.emplace_back(), kMaxTagBytes);
  if (!ok || !in.done() || flags > 3) return Status::Corruption("undecodable catalogue change");
  r.created_at_ms = static_cast<int64_t>(created);
  r.updated_at_ms = static_cast<int64_t>(updated);
  r.is_original = flags & 1;
  r.deleted = flags & 2;
  RETURN_IF_ERROR(ValidateStory(r));
  return c;
}

// The change in the frame at the front of `data`, or why there is none.
Result<CatalogChange> FrameAt(std::string_view data, size_t* size) {
  if (data.size() < kFrameHeader) return Status::Corruption("torn frame");
  const uint32_t len = GetFixed32(data.data());
  if (len > kMaxPayload || data.size() - kFrameHeader < len) return Status::Corruption("torn frame");
  std::string_view payload = data.substr(kFrameHeader, len);
  if (crc32c::Value(payload) != GetFixed32(data.data() + 4)) return Status::Corruption("bad checksum");
  *size = kFrameHeader + len;
  return DecodePayload(payload);
}

}  // namespace

std::string EncodeCatalogFrame(const CatalogChange& change) { return EncodeFrameImpl(change); }

CatalogFrames ScanCatalogFrames(std::string_view data) {
  CatalogFrames out;
  size_t pos = 0, size = 0;
  while (pos < data.size()) {
    Result<CatalogChange> change = FrameAt(data.substr(pos), &size);
    if (!change.ok()) {
      for (size_t next = pos + 1; next < data.size() && !out.damaged; ++next)
        out.damaged = FrameAt(data.substr(next), &size).ok();
      break;
    }
    out.changes.push_back(std::move(*change));
    pos += size;
  }
  out.valid_bytes = pos;
  return out;
}

Status ValidateStory(const StoryRecord& r) {
  auto bad = [](const std::string& what) { return Status::InvalidArgument(what); };
  if (r.story.value == 0) return bad("story_id must be a positive integer");
  if (r.author.value == 0) return bad("author_id must be a positive integer");
  if (r.created_at_ms < 0) return bad("created_at must not be before 1970");
  if (r.updated_at_ms < 0) return bad("updated_at must not be before 1970");
  if (r.title.size() > kMaxTitleBytes) return bad("title is longer than " + std::to_string(kMaxTitleBytes) + " bytes");
  if (r.language.size() > kMaxLanguageBytes)
    return bad("language is longer than " + std::to_string(kMaxLanguageBytes) + " bytes");
  if (r.tags.size() > kMaxTags) return bad("more than " + std::to_string(kMaxTags) + " tags");
  auto utf8 = [](const std::string& s) { return simdjson::validate_utf8(s.data(), s.size()); };
  for (const std::string& t : r.tags) {
    if (t.empty() || t.size() > kMaxTagBytes)
      return bad("a tag must be 1 to " + std::to_string(kMaxTagBytes) + " bytes");
    if (!utf8(t)) return bad("a tag is not UTF-8 text");
  }
  if (!utf8(r.title)) return bad("title is not UTF-8 text");
  if (!utf8(r.language)) return bad("language is not UTF-8 text");
  return Status::Ok();
}

StoryCatalog::StoryCatalog(FileSystem* fs, std::string dir)
    : fs_(fs), dir_(std::move(dir)), path_(JoinPath(dir_, kLogName)), lock_path_(JoinPath(dir_, "catalog.lock")) {}

StoryCatalog::~StoryCatalog() {
  {
    std::lock_guard lock(follow_mu_);
    stop_ = true;
  }
  follow_cv_.notify_all();
  if (follower_.joinable()) follower_.join();
}

Result<std::unique_ptr<StoryCatalog>> StoryCatalog::Open(FileSystem* fs, std::string dir) {
  RETURN_IF_ERROR(CreateDirsDurably(fs, dir));
  std::unique_ptr<StoryCatalog> c(new StoryCatalog(fs, std::move(dir)));
  std::lock_guard io(c->io_mu_);
  ASSIGN_OR_RETURN(auto flock, fs->LockFile(c->lock_path_));
  RETURN_IF_ERROR(c->CatchUp(/*repair=*/true));
  ASSIGN_OR_RETURN(c->log_, fs->NewAppendableFile(c->path_));
  RETURN_IF_ERROR(fs->SyncDir(c->dir_));
  return c;
}

Status StoryCatalog::Refresh() {
  std::lock_guard io(io_mu_);
  return CatchUp(/*repair=*/false);
}

void StoryCatalog::Follow(int64_t interval_ms) {
  follower_ = std::thread([this, interval_ms] {
    std::unique_lock lock(follow_mu_);
    while (!follow_cv_.wait_for(lock, std::chrono::milliseconds(interval_ms), [&] { return stop_; })) {
      lock.unlock();
      Refresh().IgnoreError();  // a reader never repairs; the next append reports damage
      lock.lock();
    }
  });
}

Status StoryCatalog::CatchUp(bool repair) {
  if (!fs_->FileExists(path_)) return Status::Ok();
  ASSIGN_OR_RETURN(uint64_t size, fs_->FileSize(path_));
  if (size < consumed_) return Status::Corruption(path_ + " shrank below what was read");
  if (size == consumed_) return Status::Ok();
  ASSIGN_OR_RETURN(auto file, fs_->NewRandomAccessFile(path_));
  std::string data(size - consumed_, '\0');
  ASSIGN_OR_RETURN(size_t got, file->Read(consumed_, data.size(), data.data()));
  data.resize(got);
  CatalogFrames frames = ScanCatalogFrames(data);
  if (frames.valid_bytes < data.size() && repair) {
    // A crash can only tear the last append: a valid change after the bad
    // one means the file was damaged, and dropping it would lose changes
    // that were acknowledged.
    if (frames.damaged)
      return Status::Corruption(path_ + ": damaged change at byte " + std::to_string(consumed_ + frames.valid_bytes) +
                                " followed by valid ones; refusing to drop them");
    RETURN_IF_ERROR(fs_->Truncate(path_, consumed_ + frames.valid_bytes));
  }
  uint64_t last = position_;
  for (const CatalogChange& change : frames.changes) {
    if (change.record.version <= last)
      return Status::Corruption(path_ + ": change positions go backwards after position " + std::to_string(last));
    last = change.record.version;
  }
  consumed_ += frames.valid_bytes;
  std::unique_lock lock(mu_);
  for (const CatalogChange& c : frames.changes) ApplyInMemory(c);
  position_ = last;
  return Status::Ok();
}

void StoryCatalog::ApplyInMemory(const CatalogChange& change) {
  const StoryRecord& r = change.record;
  if (auto it = stories_.find(r.story.value); it != stories_.end()) {
    auto& old = by_author_[it->second.author.value];
    old.erase(r.story.value);
    if (old.empty()) by_author_.erase(it->second.author.value);
  }
  if (!r.deleted) by_author_[r.author.value].insert(r.story.value);
  stories_[r.story.value] = r;
  if (!change.source_position.none()) {
    SourcePosition& p = source_positions_[change.source];
    p = std::max(p, change.source_position);
  }
}

Result<size_t> StoryCatalog::Apply(std::vector<CatalogChange> changes) {
  for (const CatalogChange& c : changes) {
    RETURN_IF_ERROR(ValidateStory(c.record));
    if (c.source.size() > kMaxSourceBytes) return Status::InvalidArgument("source name too long");
  }
  std::lock_guard io(io_mu_);
  if (!log_) return Status::FailedPrecondition("the catalogue log failed earlier; reopen it");
  ASSIGN_OR_RETURN(auto flock, fs_->LockFile(lock_path_));
  RETURN_IF_ERROR(CatchUp(/*repair=*/true));
  std::vector<CatalogChange> fresh;
  std::string frames;
  {
    std::shared_lock read(mu_);
    uint64_t next = position_;
    const std::map<std::string, SourcePosition>& applied = source_positions_;
    for (const CatalogChange& c : changes) {
      if (!c.if_version) continue;
      auto it = stories_.find(c.record.story.value);
      const uint64_t current = it == stories_.end() ? 0 : it->second.version;
      if (current != *c.if_version)
        return Status::FailedPrecondition("story " + std::to_string(c.record.story.value) +
                                          " changed meanwhile (version " + std::to_string(current) + ", expected " +
                                          std::to_string(*c.if_version) + ")");
    }
    for (CatalogChange& c : changes) {
      if (!c.source_position.none()) {
        auto high = applied.find(c.source);
        if (high != applied.end() && c.source_position <= high->second) continue;
      }
      c.record.version = ++next;
      frames += EncodeCatalogFrame(c);
      fresh.push_back(std::move(c));
    }
  }
  if (fresh.empty()) return size_t{0};
  Status s = log_->Append(frames);
  if (s.ok()) s = log_->Sync();
  if (!s.ok()) {
    // The file's tail is unknown now: stop appending until a reopen, whose
    // repair truncates a torn tail.
    log_.reset();
    return s;
  }
  consumed_ += frames.size();
  std::unique_lock lock(mu_);
  for (const CatalogChange& c : fresh) ApplyInMemory(c);
  position_ = fresh.back().record.version;
  return fresh.size();
}

std::optional<StoryRecord> StoryCatalog::Get(StoryId story) const {
  std::shared_lock lock(mu_);
  auto it = stories_.find(story.value);
  if (it == stories_.end()) return std::nullopt;
  return it->second;
}

std::vector<StoryId> StoryCatalog::StoriesOf(AuthorId author) const {
  std::shared_lock lock(mu_);
  std::vector<StoryId> out;
  if (auto it = by_author_.find(author.value); it != by_author_.end())
    for (uint64_t s : it->second) out.push_back(StoryId(s));
  return out;
}

std::optional<AuthorId> StoryCatalog::AuthorOf(StoryId story) const {
  std::shared_lock lock(mu_);
  auto it = stories_.find(story.value);
  if (it == stories_.end() || it->second.deleted) return std::nullopt;
  return it->second.author;
}

uint64_t StoryCatalog::position() const {
  std::shared_lock lock(mu_);
  return position_;
}

SourcePosition StoryCatalog::SourcePositionOf(const std::string& source) const {
  std::shared_lock lock(mu_);
  auto it = source_positions_.find(source);
  return it == source_positions_.end() ? SourcePosition{} : it->second;
}

std::vector<StoryRecord> StoryCatalog::All() const {
  std::vector<StoryRecord> out;
  {
    std::shared_lock lock(mu_);
    out.reserve(stories_.size());
    for (const auto& [id, record] : stories_) out.push_back(record);
  }
  std::sort(out.begin(), out.end(),
            [](const StoryRecord& a, const StoryRecord& b) { return a.story.value < b.story.value; });
  return out;
}

size_t StoryCatalog::size() const {
  std::shared_lock lock(mu_);
  return stories_.size();
}

}  // namespace watershed::catalog
