#include "stream/cold_store.h"

#include <charconv>
#include <cstdio>
#include <utility>
#include <vector>

#include "core/crc32c.h"
#include "core/endian.h"
#include "keys/aead.h"

namespace watershed::stream {
namespace {

constexpr size_t kHeader = 4 + 4 + 8;
constexpr size_t kRefSize = 8 + 8 + 8;  // owner, seq, length
constexpr size_t kFlushBytes = size_t{1} << 20;
constexpr size_t kScanChunk = size_t{4} << 20;
constexpr uint64_t kMinCompactBytes = uint64_t{1} << 20;  // smaller files are not worth rewriting

uint32_t RecordCrc(uint64_t id, std::string_view payload) {
  char b[8];
  PutFixed64(b, id);
  return crc32c::Extend(crc32c::Value(std::string_view(b, 8)), payload.data(), payload.size());
}

// Decodes whole records from the front of `data`; stops at one cut short
// (*consumed tells where), fails at one that fails its checksum.
Status DecodeSome(std::string_view data, uint64_t base, const std::string& name,
                  const std::function<Status(uint64_t, uint64_t, std::string_view)>& fn, size_t* consumed) {
  size_t pos = 0;
  while (data.size() - pos >= kHeader) {
    const uint64_t len = GetFixed32(data.data() + pos);
    if (data.size() - pos - kHeader < len) break;
    const uint32_t crc = GetFixed32(data.data() + pos + 4);
    const uint64_t id = GetFixed64(data.data() + pos + 8);
    const std::string_view payload(data.data() + pos + kHeader, len);
    if (RecordCrc(id, payload) != crc)
      return Status::Corruption("cold store " + name + " is damaged at byte " + std::to_string(base + pos) +
                                " (record checksum)");
    RETURN_IF_ERROR(fn(id, base + pos, payload));
    pos += kHeader + len;
  }
  *consumed = pos;
  return Status::Ok();
}

// Every record of the first `length` bytes of `path`, read in chunks.
Status ScanFile(FileSystem* fs, const std::string& path, uint64_t length,
                const std::function<Status(uint64_t, uint64_t, std::string_view)>& fn) {
  ASSIGN_OR_RETURN(auto file, fs->NewRandomAccessFile(path));
  std::string buf;
  uint64_t buf_at = 0;  // file offset of buf[0]
  uint64_t read_at = 0;
  while (read_at < length) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(kScanChunk, length - read_at));
    const size_t old = buf.size();
    buf.resize(old + want);
    ASSIGN_OR_RETURN(size_t got, file->Read(read_at, want, buf.data() + old));
    if (got != want)
      return Status::Corruption("cold store " + path + " is shorter than its checkpoint says (" +
                                std::to_string(read_at + got) + " < " + std::to_string(length) + " bytes)");
    read_at += want;
    size_t consumed = 0;
    RETURN_IF_ERROR(DecodeSome(buf, buf_at, path, fn, &consumed));
    buf.erase(0, consumed);
    buf_at += consumed;
  }
  if (!buf.empty())
    return Status::Corruption("cold store " + path + " is damaged at byte " + std::to_string(buf_at) +
                              " (record cut short)");
  return Status::Ok();
}

std::string SerializeWrappedKey(const keys::WrappedKey& k) {
  std::string out;
  for (const std::string* part : {&k.key_id, &k.blob}) {
    char len[4];
    PutFixed32(len, static_cast<uint32_t>(part->size()));
    out.append(len, 4).append(*part);
  }
  return out;
}

std::optional<keys::WrappedKey> ParseWrappedKey(std::string_view data) {
  keys::WrappedKey k;
  for (std::string* part : {&k.key_id, &k.blob}) {
    if (data.size() < 4 || data.size() - 4 < GetFixed32(data.data())) return std::nullopt;
    const uint32_t len = GetFixed32(data.data());
    part->assign(data.substr(4, len));
    data.remove_prefix(4 + len);
  }
  if (!data.empty()) return std::nullopt;
  return k;
}

std::string IdBytes(uint64_t id) {
  char b[8];
  PutFixed64(b, id);
  return std::string(b, 8);
}

// nonce || AES-256-GCM(payload) || tag, the story id authenticated with it.
Result<std::string> SealRecord(const keys::SecretKey& key, uint64_t id, std::string_view payload) {
  const std::string nonce = keys::RandomNonce();
  ASSIGN_OR_RETURN(std::string sealed, keys::Seal(key, nonce, IdBytes(id), payload));
  return nonce + sealed;
}

Result<std::string> OpenRecord(const keys::SecretKey& key, uint64_t id, std::string_view stored,
                               const std::string& path) {
  if (stored.size() < keys::kNonceBytes)
    return Status::Corruption("cold store " + path + ": sealed record of story " + std::to_string(id) +
                              " is cut short");
  auto plain = keys::Open(key, stored.substr(0, keys::kNonceBytes), IdBytes(id), stored.substr(keys::kNonceBytes));
  if (!plain.ok())
    return Status::Corruption("cold store " + path + ": record of story " + std::to_string(id) + ": " +
                              plain.status().message());
  return plain;
}

}  // namespace

Result<std::string> ColdStore::Stored(uint64_t id, std::string_view payload) const {
  if (!data_key_) return std::string(payload);
  return SealRecord(data_key_->key, id, payload);
}

Result<std::string> ColdStore::Plain(uint64_t id, std::string_view stored) const {
  if (!data_key_) return std::string(stored);
  return OpenRecord(data_key_->key, id, stored, CurrentPath());
}

Status ReadColdRecords(FileSystem* fs, const std::string& dir, uint32_t partition, std::string_view ref,
                       keys::KeyProvider* keys, std::string* path, uint64_t* length,
                       const std::function<Status(uint64_t id, std::string_view payload)>& fn) {
  path->clear();
  if (ref.empty()) return Status::Ok();
  std::optional<keys::SecretKey> key;
  if (ref.size() > kRefSize) {
    auto wrapped = ParseWrappedKey(ref.substr(kRefSize));
    if (!wrapped) return Status::Corruption("checkpoint has a bad cold store reference");
    if (keys == nullptr)
      return Status::FailedPrecondition("the cold store of partition " + std::to_string(partition) +
                                        " is encrypted: run with encryption = on");
    ASSIGN_OR_RETURN(key, keys->Unwrap(*wrapped));
    ref = ref.substr(0, kRefSize);
  }
  if (ref.size() != kRefSize) return Status::Corruption("checkpoint has a bad cold store reference");
  const std::string name = ColdStore::FileName(partition, GetFixed64(ref.data()), GetFixed64(ref.data() + 8));
  *path = JoinPath(dir, name);
  *length = GetFixed64(ref.data() + 16);
  return ScanFile(fs, *path, *length, [&](uint64_t id, uint64_t, std::string_view stored) -> Status {
    if (!key) return fn(id, stored);
    ASSIGN_OR_RETURN(std::string plain, OpenRecord(*key, id, stored, name));
    return fn(id, plain);
  });
}

std::optional<keys::WrappedKey> ColdStoreDataKey(std::string_view ref) {
  if (ref.size() <= kRefSize) return std::nullopt;
  return ParseWrappedKey(ref.substr(kRefSize));
}

Status DecodeColdRecords(std::string_view data, uint64_t base, const std::string& name,
                         const std::function<Status(uint64_t, uint64_t, std::string_view)>& fn) {
  size_t consumed = 0;
  RETURN_IF_ERROR(DecodeSome(data, base, name, fn, &consumed));
  if (consumed != data.size())
    return Status::Corruption("cold store " + name + " is damaged at byte " + std::to_string(base + consumed) +
                              " (record cut short)");
  return Status::Ok();
}

ColdStore::ColdStore(FileSystem* fs, std::string dir, uint32_t partition, uint64_t owner, const HashKey& key)
    : fs_(fs), dir_(std::move(dir)), partition_(partition), owner_(owner), index_(key) {}

ColdStore::~ColdStore() {
  if (file_) Flush().IgnoreError();  // not durable without Commit: only saves a later Open nothing
}

std::string ColdStore::NameOf(uint32_t partition, uint64_t owner, uint64_t seq) {
  char name[80];
  std::snprintf(name, sizeof name, "p%03u.cold.%llu.%llu", partition, static_cast<unsigned long long>(owner),
                static_cast<unsigned long long>(seq));
  return name;
}

std::string ColdStore::CurrentPath() const { return JoinPath(dir_, NameOf(partition_, owner_, seq_)); }

Result<std::unique_ptr<ColdStore>> ColdStore::Open(FileSystem* fs, const std::string& dir, uint32_t partition,
                                                   uint64_t owner, std::string_view ref, const HashKey& key,
                                                   keys::KeyProvider* keys) {
  std::unique_ptr<ColdStore> s(new ColdStore(fs, dir, partition, owner, key));
  RETURN_IF_ERROR(CreateDirsDurably(fs, dir));
  // An encrypted store's reference ends with its wrapped data key.
  std::optional<keys::WrappedKey> wrapped;
  if (ref.size() > kRefSize) {
    auto parsed = ParseWrappedKey(ref.substr(kRefSize));
    if (!parsed) return Status::Corruption("checkpoint has a bad cold store reference");
    if (keys == nullptr)
      return Status::FailedPrecondition("the cold store of partition " + std::to_string(partition) +
                                        " is encrypted: start with encryption = on");
    wrapped = std::move(*parsed);
    ref = ref.substr(0, kRefSize);
  }
  // data_key_ is the source file's key until Rewrite gives the new file a fresh one.
  if (keys != nullptr && wrapped) {
    ASSIGN_OR_RETURN(keys::SecretKey k, keys->Unwrap(*wrapped));
    s->data_key_ = keys::DataKey{k, *wrapped};
  }
  s->keys_ = keys;
  if (ref.empty()) {
    RETURN_IF_ERROR(s->Rewrite("", 0, 1));
    return s;
  }
  if (ref.size() != kRefSize) return Status::Corruption("checkpoint has a bad cold store reference");
  const uint64_t from_owner = GetFixed64(ref.data()), from_seq = GetFixed64(ref.data() + 8);
  const uint64_t length = GetFixed64(ref.data() + 16);
  const std::string from_name = NameOf(partition, from_owner, from_seq);
  if (!fs->FileExists(JoinPath(dir, from_name)))
    return Status::Corruption("cold store " + JoinPath(dir, from_name) + ", which the checkpoint names, is missing");
  // The latest record of each id is the live one.
  RETURN_IF_ERROR(ScanFile(fs, JoinPath(dir, from_name), length, [&](uint64_t id, uint64_t offset, std::string_view) {
    if (!s->index_.Replace(id, offset + 1)) s->index_.Insert(id, offset + 1);
    return Status::Ok();
  }));
  RETURN_IF_ERROR(s->Rewrite(from_name, length, from_owner == owner ? from_seq + 1 : 1));
  // Copies made by earlier owners that died before a checkpoint named them
  // (Claim fenced those owners): without this, an owner killed again and
  // again before its first checkpoint would leave a full copy each time.
  s->RemoveFiles([&](uint64_t o, uint64_t seq) { return o < owner && !(o == from_owner && seq == from_seq); });
  return s;
}

Status ColdStore::Rewrite(const std::string& from_name, uint64_t length, uint64_t seq) {
  const std::string path = JoinPath(dir_, NameOf(partition_, owner_, seq));
  // Encrypted: the new file gets a fresh data key, each record re-sealed
  // under it (one key never seals without bound; GCM's random nonces allow
  // 2^32 per key). A plaintext source is sealed on the way.
  std::optional<keys::DataKey> fresh;
  if (keys_ != nullptr) {
    ASSIGN_OR_RETURN(fresh, keys::NewDataKey(*keys_));
  }
  ASSIGN_OR_RETURN(auto file, fs_->NewWritableFile(path));
  std::string out;
  uint64_t written = 0, live_bytes = 0;
  // The index moves to the new offsets only once the new file is durable:
  // a failure leaves it pointing into the old file, which stays in use.
  std::vector<std::pair<uint64_t, uint64_t>> moved;
  if (length != 0) {
    RETURN_IF_ERROR(ScanFile(fs_, JoinPath(dir_, from_name), length,
                             [&](uint64_t id, uint64_t offset, std::string_view payload) -> Status {
                               if (index_.Find(id) != offset + 1) return Status::Ok();  // garbage
                               std::string plain, sealed;
                               if (fresh) {
                                 if (data_key_) {
                                   ASSIGN_OR_RETURN(plain, OpenRecord(data_key_->key, id, payload, from_name));
                                   payload = plain;
                                 }
                                 ASSIGN_OR_RETURN(sealed, SealRecord(fresh->key, id, payload));
                                 payload = sealed;
                               }
                               moved.emplace_back(id, written + out.size() + 1);
                               char h[kHeader];
                               PutFixed32(h, static_cast<uint32_t>(payload.size()));
                               PutFixed32(h + 4, RecordCrc(id, payload));
                               PutFixed64(h + 8, id);
                               out.append(h, kHeader).append(payload);
                               live_bytes += kHeader + payload.size();
                               if (out.size() >= kFlushBytes) {
                                 RETURN_IF_ERROR(file->Append(out));
                                 written += out.size();
                                 out.clear();
                               }
                               return Status::Ok();
                             }));
  }
  RETURN_IF_ERROR(file->Append(out));
  written += out.size();
  RETURN_IF_ERROR(file->Sync());
  RETURN_IF_ERROR(fs_->SyncDir(dir_));
  ASSIGN_OR_RETURN(reader_, fs_->NewRandomAccessFile(path));
  for (const auto& [id, at] : moved) index_.Replace(id, at);
  if (fresh) data_key_ = std::move(fresh);
  live_bytes_ = live_bytes;
  file_ = std::move(file);
  seq_ = seq;
  file_size_ = synced_size_ = written;
  new_file_ = true;
  buffer_.clear();
  return Status::Ok();
}

Status ColdStore::Fail(Status s) {
  if (!s.ok() && broken_.ok()) broken_ = s;
  return s;
}

Status ColdStore::Put(uint64_t id, std::string_view payload) {
  RETURN_IF_ERROR(broken_);
  ASSIGN_OR_RETURN(std::string stored, Stored(id, payload));
  payload = stored;
  if (payload.size() > UINT32_MAX) return Status::InvalidArgument("cold record too large");
  Forget(id);
  char h[kHeader];
  PutFixed32(h, static_cast<uint32_t>(payload.size()));
  PutFixed32(h + 4, RecordCrc(id, payload));
  PutFixed64(h + 8, id);
  const uint64_t offset = file_size_;
  buffer_.append(h, kHeader).append(payload);
  file_size_ += kHeader + payload.size();
  live_bytes_ += kHeader + payload.size();
  index_.Insert(id, offset + 1);
  return buffer_.size() >= kFlushBytes ? Flush() : Status::Ok();
}

Status ColdStore::Flush() {
  RETURN_IF_ERROR(broken_);
  if (buffer_.empty()) return Status::Ok();
  Status s = file_->Append(buffer_);
  buffer_.clear();
  return Fail(s);
}

Status ColdStore::ReadAt(uint64_t offset, size_t n, std::string* out) {
  const uint64_t flushed = file_size_ - buffer_.size();
  if (offset >= flushed) {
    if (offset - flushed + n > buffer_.size()) return Status::Corruption("cold store index points past its data");
    out->assign(buffer_, offset - flushed, n);
    return Status::Ok();
  }
  out->resize(n);
  ASSIGN_OR_RETURN(size_t got, reader_->Read(offset, n, out->data()));
  if (got != n)
    return Status::Corruption("cold store " + CurrentPath() + " is cut short at byte " + std::to_string(offset + got));
  return Status::Ok();
}

Status ColdStore::Take(uint64_t id, std::string* payload) {
  RETURN_IF_ERROR(broken_);
  const uint64_t at = index_.Find(id);
  if (at == 0) return Status::NotFound("no cold record for story " + std::to_string(id));
  const uint64_t offset = at - 1;
  std::string header;
  RETURN_IF_ERROR(ReadAt(offset, kHeader, &header));
  const uint32_t len = GetFixed32(header.data());
  if (GetFixed64(header.data() + 8) != id || offset + kHeader + len > file_size_)
    return Status::Corruption("cold store " + CurrentPath() + " is damaged at byte " + std::to_string(offset));
  std::string stored;
  RETURN_IF_ERROR(ReadAt(offset + kHeader, len, &stored));
  if (RecordCrc(id, stored) != GetFixed32(header.data() + 4))
    return Status::Corruption("cold store " + CurrentPath() + " is damaged at byte " + std::to_string(offset) +
                              " (record checksum)");
  ASSIGN_OR_RETURN(*payload, Plain(id, stored));
  index_.Erase(id);
  live_bytes_ -= kHeader + len;
  return Status::Ok();
}

void ColdStore::Forget(uint64_t id) {
  const uint64_t at = index_.Find(id);
  if (at == 0) return;
  std::string header;
  // The length only keeps the garbage count (when to compact); a failed read just under-counts it.
  if (ReadAt(at - 1, kHeader, &header).ok()) live_bytes_ -= kHeader + GetFixed32(header.data());
  index_.Erase(id);
}

Status ColdStore::ForEach(const std::function<Status(uint64_t, std::string_view)>& fn) {
  RETURN_IF_ERROR(Flush());  // fails once broken
  return ScanFile(fs_, CurrentPath(), file_size_,
                  [&](uint64_t id, uint64_t offset, std::string_view payload) -> Status {
                    if (index_.Find(id) != offset + 1) return Status::Ok();
                    if (!data_key_) return fn(id, payload);
                    ASSIGN_OR_RETURN(std::string plain, Plain(id, payload));
                    return fn(id, plain);
                  });
}

Result<std::string> ColdStore::Commit(bool compact) {
  RETURN_IF_ERROR(Flush());
  if (synced_size_ != file_size_) {  // most checkpoints evict nothing: no fdatasync then
    // A failed fdatasync is never retried: the kernel may have dropped the
    // dirty pages it could not write, and a retry would then "succeed".
    RETURN_IF_ERROR(Fail(file_->Sync()));
    synced_size_ = file_size_;
  }
  if (compact || (file_size_ >= kMinCompactBytes && file_size_ - live_bytes_ > live_bytes_))
    RETURN_IF_ERROR(Fail(Rewrite(NameOf(partition_, owner_, seq_), file_size_, seq_ + 1)));
  std::string ref(kRefSize, '\0');
  PutFixed64(ref.data(), owner_);
  PutFixed64(ref.data() + 8, seq_);
  PutFixed64(ref.data() + 16, file_size_);
  if (data_key_) {
    // After a rotation the store's data key is re-wrapped under the new
    // key (the records stay as they are), so the old key can be retired.
    auto current = keys_->CurrentKeyId();
    if (current.ok() && !current->empty() && *current != data_key_->wrapped.key_id) {
      ASSIGN_OR_RETURN(data_key_->wrapped, keys_->Wrap(data_key_->key));
    }
    ref += SerializeWrappedKey(data_key_->wrapped);
  }
  return ref;
}

void ColdStore::Saved() {
  if (!new_file_) return;  // the files were cleaned up after the save that first named this one
  // A later owner's files are not ours to delete.
  RemoveFiles([&](uint64_t owner, uint64_t seq) { return owner < owner_ || (owner == owner_ && seq != seq_); });
  new_file_ = false;
}

void ColdStore::RemoveFiles(const std::function<bool(uint64_t owner, uint64_t seq)>& obsolete) {
  auto names = fs_->ListDir(dir_);
  if (!names.ok()) return;
  char prefix[32];
  std::snprintf(prefix, sizeof prefix, "p%03u.cold.", partition_);
  for (const std::string& name : *names) {
    if (!name.starts_with(prefix)) continue;
    // <owner>.<seq>
    std::string_view rest = std::string_view(name).substr(std::string_view(prefix).size());
    uint64_t owner = 0, seq = 0;
    auto [dot, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), owner);
    if (ec != std::errc() || dot == rest.data() + rest.size() || *dot != '.') continue;
    auto [end, ec2] = std::from_chars(dot + 1, rest.data() + rest.size(), seq);
    if (ec2 != std::errc() || end != rest.data() + rest.size()) continue;
    if (obsolete(owner, seq)) fs_->RemoveFile(JoinPath(dir_, name)).IgnoreError();
  }
}

}  // namespace watershed::stream
