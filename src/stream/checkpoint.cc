#include "stream/checkpoint.h"

#include <unistd.h>

#include <charconv>
#include <cstdio>

#include "core/crc32c.h"
#include "core/endian.h"
#include "keys/envelope.h"

namespace watershed::stream {
namespace {
constexpr uint32_t kMagic = 0x50435357;  // "WSCP"
constexpr uint32_t kVersion = 3;         // 1: without the sink section; 2: without the cold section
constexpr size_t kHeader = 4 + 4 + 8 + 8 + 8;
const std::string kTempInfix = ".tmp.";  // p000.ckpt.tmp.<pid>
const std::string kLockName = "lock";    // in p000.owners/

constexpr uint32_t kKeyMagic = 0x4b485357;  // "WSHK"
constexpr size_t kKeyFileSize = 4 + 8 + 8 + 4;

// What a sealed checkpoint's tag binds besides its bytes.
std::string SealContext(Region region, uint32_t partition) {
  return "checkpoint " + std::string(RegionName(region)) + " p" + std::to_string(partition);
}

// The epoch an owner file's name holds; nullopt for other files (temporaries).
std::optional<uint64_t> EpochOf(std::string_view name) {
  uint64_t epoch = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), epoch);
  if (ec != std::errc() || end != name.data() + name.size()) return std::nullopt;
  return epoch;
}
}  // namespace

std::string CheckpointStore::RegionDir(Region region) const { return JoinPath(dir_, RegionName(region)); }

std::string CheckpointStore::PathOf(Region region, uint32_t partition) const {
  char name[32];
  std::snprintf(name, sizeof name, "p%03u.ckpt", partition);
  return JoinPath(JoinPath(dir_, RegionName(region)), name);
}

std::string CheckpointStore::OwnersDir(Region region, uint32_t partition) const {
  std::string path = PathOf(region, partition);  // ".../p003.ckpt" -> ".../p003.owners"
  return path.replace(path.size() - 5, 5, ".owners");
}

Result<uint64_t> CheckpointStore::NewestOwner(const std::string& owners_dir) {
  if (!fs_->FileExists(owners_dir)) return uint64_t{0};
  ASSIGN_OR_RETURN(std::vector<std::string> names, fs_->ListDir(owners_dir));
  uint64_t newest = 0;
  for (const std::string& name : names)
    if (auto epoch = EpochOf(name)) newest = std::max(newest, *epoch);
  return newest;
}

Result<uint64_t> CheckpointStore::Claim(Region region, uint32_t partition) {
  const std::string dir = OwnersDir(region, partition);
  RETURN_IF_ERROR(CreateDirsDurably(fs_, dir));
  // Serialized with other claims and with saves' check-and-rename (Save).
  ASSIGN_OR_RETURN(std::unique_ptr<FileLock> lock, fs_->LockFile(JoinPath(dir, kLockName)));
  ASSIGN_OR_RETURN(uint64_t newest, NewestOwner(dir));
  const uint64_t mine = newest + 1;
  const std::string temp = JoinPath(dir, "claim" + kTempInfix + std::to_string(::getpid()));
  {
    ASSIGN_OR_RETURN(auto file, fs_->NewWritableFile(temp));
    RETURN_IF_ERROR(file->Close());
  }
  // No-replace: on a file system that ignores the lock, of two claimers of
  // one epoch the second fails (and its Assign retries) instead of sharing it.
  if (Status s = fs_->RenameNoReplace(temp, JoinPath(dir, std::to_string(mine))); !s.ok()) {
    fs_->RemoveFile(temp).IgnoreError();
    return s;
  }
  RETURN_IF_ERROR(fs_->SyncDir(dir));
  // Older epochs are fenced by this one: their files say nothing more.
  if (auto names = fs_->ListDir(dir); names.ok())
    for (const std::string& name : *names)
      if (auto epoch = EpochOf(name); epoch && *epoch < mine) fs_->RemoveFile(JoinPath(dir, name)).IgnoreError();
  return mine;
}

Result<bool> CheckpointStore::Owns(Region region, uint32_t partition, uint64_t owner) {
  if (owner == 0) return true;
  ASSIGN_OR_RETURN(uint64_t newest, NewestOwner(OwnersDir(region, partition)));
  return newest <= owner;
}

Status CheckpointStore::Save(Region region, uint32_t partition, const Checkpoint& c, uint64_t owner) {
  // Checked last, just before the rename, under the lock claims take: no
  // claim falls between the check and the rename.
  std::unique_ptr<FileLock> lock;
  auto still_owner = [&]() -> Status {
    if (owner == 0) return Status::Ok();
    ASSIGN_OR_RETURN(lock, fs_->LockFile(JoinPath(OwnersDir(region, partition), kLockName)));
    ASSIGN_OR_RETURN(bool owns, Owns(region, partition, owner));
    if (owns) return Status::Ok();
    return Status::Fenced("checkpoint of " + std::string(RegionName(region)) + " partition " +
                          std::to_string(partition) + ": another owner took the partition over");
  };
  std::string data(kHeader, '\0');
  char* p = data.data();
  p = PutFixed32(p, kMagic);
  p = PutFixed32(p, kVersion);
  p = PutFixed64(p, c.id);
  p = PutFixed64(p, c.next_offset.value);
  PutFixed64(p, c.state.size());
  data += c.state;
  char len[8];
  PutFixed64(len, c.sink.size());
  data.append(len, 8);
  data += c.sink;
  PutFixed64(len, c.cold.size());
  data.append(len, 8);
  data += c.cold;
  char crc[4];
  PutFixed32(crc, crc32c::Value(data));
  data.append(crc, 4);

  if (keys_ != nullptr) {
    keys::KeyProvider* provider = KeysOf(region);
    if (provider == nullptr)
      return Status::FailedPrecondition("no key provider for region " + std::string(RegionName(region)));
    ASSIGN_OR_RETURN(data, keys::SealMessage(*provider, SealContext(region, partition), data));
  }
  const std::string path = PathOf(region, partition);
  RETURN_IF_ERROR(CreateDirsDurably(fs_, DirName(path)));
  // The temporary is named per process: the old owner of a partition may
  // still write while the new one does (a zombie); neither writes into the
  // other's temporary. Load removes what crashed writers left.
  return WriteFileAtomically(fs_, path, data, "checkpoint", kTempInfix + std::to_string(::getpid()), still_owner);
}

Result<HashKey> CheckpointStore::LoadOrCreateHashKey(Region region) {
  const std::string dir = JoinPath(dir_, RegionName(region));
  const std::string path = JoinPath(dir, "hash.key");
  auto read = [&]() -> Result<HashKey> {
    ASSIGN_OR_RETURN(std::string data, ReadWholeFile(fs_, path));
    if (data.size() != kKeyFileSize || GetFixed32(data.data()) != kKeyMagic ||
        crc32c::Value(std::string_view(data.data(), kKeyFileSize - 4)) != GetFixed32(data.data() + kKeyFileSize - 4))
      return Status::Corruption(path + " is not a hash key file");
    return HashKey{GetFixed64(data.data() + 4), GetFixed64(data.data() + 12)};
  };
  if (fs_->FileExists(path)) return read();
  HashKey key;
  if (!HashKey::Random(&key)) return Status::IoError("getrandom failed for " + path);
  std::string data(kKeyFileSize, '\0');
  char* p = data.data();
  p = PutFixed32(p, kKeyMagic);
  p = PutFixed64(p, key.k0);
  p = PutFixed64(p, key.k1);
  PutFixed32(p, crc32c::Value(std::string_view(data.data(), kKeyFileSize - 4)));
  RETURN_IF_ERROR(CreateDirsDurably(fs_, dir));
  const std::string temp = path + kTempInfix + std::to_string(::getpid());
  {
    ASSIGN_OR_RETURN(auto file, fs_->NewWritableFile(temp));
    RETURN_IF_ERROR(file->Append(data));
    RETURN_IF_ERROR(file->Sync());
    RETURN_IF_ERROR(file->Close());
  }
  // Another process of the group may have made the key meanwhile: theirs wins.
  Status renamed = fs_->RenameNoReplace(temp, path);
  if (!renamed.ok()) {
    fs_->RemoveFile(temp).IgnoreError();
    if (!fs_->FileExists(path)) return renamed;
    return read();
  }
  RETURN_IF_ERROR(fs_->SyncDir(dir));
  return key;
}

Result<std::optional<Checkpoint>> CheckpointStore::Load(Region region, uint32_t partition) {
  const std::string path = PathOf(region, partition);
  // The caller now owns the partition: temporaries of earlier writers are
  // leftovers of crashes (or of a zombie, whose save then fails: harmless).
  const std::string dir = DirName(path);
  const std::string temp_prefix = path.substr(path.find_last_of('/') + 1) + kTempInfix;
  if (auto names = fs_->ListDir(dir); names.ok())
    for (const std::string& name : names.value())
      if (name.starts_with(temp_prefix)) fs_->RemoveFile(JoinPath(dir, name)).IgnoreError();
  return Read(region, partition);
}

Result<std::optional<Checkpoint>> CheckpointStore::Read(Region region, uint32_t partition) const {
  const std::string path = PathOf(region, partition);
  if (!fs_->FileExists(path)) return std::optional<Checkpoint>();
  ASSIGN_OR_RETURN(std::string data, ReadWholeFile(fs_, path));
  ASSIGN_OR_RETURN(Checkpoint c, Decode(region, partition, std::move(data)));
  return std::optional<Checkpoint>(std::move(c));
}

Result<Checkpoint> CheckpointStore::Decode(Region region, uint32_t partition, std::string data) const {
  const std::string path = PathOf(region, partition);
  if (keys::IsSealed(data)) {
    keys::KeyProvider* provider = KeysOf(region);
    if (provider == nullptr)
      return Status::FailedPrecondition("checkpoint " + path + " is encrypted: start with encryption = on");
    auto opened = keys::OpenMessage(*provider, SealContext(region, partition), data);
    if (!opened.ok()) return Status(opened.status().code(), "checkpoint " + path + ": " + opened.status().message());
    data = std::move(*opened);
  }
  if (data.size() < kHeader + 4) return Status::Corruption("checkpoint " + path + " is truncated");
  const char* p = data.data();
  if (GetFixed32(p) != kMagic) return Status::Corruption(path + " is not a checkpoint");
  const uint32_t version = GetFixed32(p + 4);
  if (version < 1 || version > kVersion) return Status::Corruption("checkpoint " + path + " has an unknown version");
  if (crc32c::Extend(0, data.data(), data.size() - 4) != GetFixed32(data.data() + data.size() - 4))
    return Status::Corruption("checkpoint " + path + " fails its checksum");
  // Sections after the header: the state, then (version >= 2) the sink, then (>= 3) the cold reference.
  std::string_view rest(data.data() + kHeader, data.size() - kHeader - 4);
  const uint64_t state_len = GetFixed64(p + 24);
  auto section = [&](uint64_t len, std::string* out) {
    if (len > rest.size()) return false;
    out->assign(rest.data(), len);
    rest.remove_prefix(len);
    return true;
  };
  auto sized_section = [&](std::string* out) {
    if (rest.size() < 8) return false;
    const uint64_t len = GetFixed64(rest.data());
    rest.remove_prefix(8);
    return section(len, out);
  };
  Checkpoint c;
  c.id = GetFixed64(p + 8);
  c.next_offset = LogOffset(GetFixed64(p + 16));
  bool ok = section(state_len, &c.state);
  if (ok && version >= 2) ok = sized_section(&c.sink);
  if (ok && version >= 3) ok = sized_section(&c.cold);
  if (!ok || !rest.empty()) return Status::Corruption("checkpoint " + path + " has a bad length");
  return c;
}

}  // namespace watershed::stream
