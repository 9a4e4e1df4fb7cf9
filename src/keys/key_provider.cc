#include "keys/key_provider.h"

#include <openssl/crypto.h>
#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>

#include "core/event.h"
#include "core/file_system.h"
#include "core/hex.h"
#include "core/random.h"
#include "keys/text.h"

namespace watershed::keys {
namespace {

constexpr char kCurrent[] = "current";
constexpr char kSuffix[] = ".key";

// "20261205T130501.123456Z-3fa9c2": sorts by creation, unique across racing
// creators.
std::string NewKeyId() {
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  struct tm t;
  gmtime_r(&now.tv_sec, &t);
  char buf[48];
  const size_t n = strftime(buf, sizeof buf, "%Y%m%dT%H%M%S", &t);
  snprintf(buf + n, sizeof buf - n, ".%06ldZ-", static_cast<long>(now.tv_nsec / 1000));
  return std::string(buf) + RandomHex(3);
}

std::string WrapAad(const std::string& region, const std::string& key_id) {
  return "watershed-data-key-v1\n" + region + "\n" + key_id;
}

// What identifies a version of a key file: a rewrite (WriteFileAtomically
// renames a new inode in), a chmod and a removal all change it.
struct FileStamp {
  ino_t ino = 0;
  int64_t ctime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};
std::optional<FileStamp> Stamp(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return FileStamp{st.st_ino, static_cast<int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec};
}

// Caches the KEKs it loaded and the current key id, each re-read only when
// its file changed (one stat per call instead of reading, checking and
// parsing a file): a log wraps a data key per segment and a reader unwraps
// one per segment it opens. A retired key's file is gone, so it stops
// unwrapping at once.
class LocalKeyProvider final : public KeyProvider {
 public:
  LocalKeyProvider(const std::string& keys_dir, const std::string& region) : store_(keys_dir, region) {}
  const std::string& region() const override { return store_.region(); }

  Result<WrappedKey> Wrap(const SecretKey& data_key) override {
    ASSIGN_OR_RETURN(std::string id, CurrentKeyId());
    ASSIGN_OR_RETURN(SecretKey kek, Kek(id));
    const std::string nonce = RandomNonce();
    ASSIGN_OR_RETURN(std::string sealed, Seal(kek, nonce, WrapAad(region(), id), data_key.view()));
    return WrappedKey{id, nonce + sealed};
  }

  Result<std::string> CurrentKeyId() override {
    const auto stamp = Stamp(JoinPath(store_.dir(), kCurrent));
    std::lock_guard lock(mu_);
    if (stamp && current_ && current_->first == *stamp) return current_->second;
    current_.reset();
    ASSIGN_OR_RETURN(std::string id, store_.Current());
    if (stamp) current_.emplace(*stamp, id);
    return id;
  }

  Result<SecretKey> Unwrap(const WrappedKey& w) override {
    if (w.blob.size() != kNonceBytes + kKeyBytes + kTagBytes)
      return Status::Corruption("wrapped data key of " + std::to_string(w.blob.size()) + " bytes, expected " +
                                std::to_string(kNonceBytes + kKeyBytes + kTagBytes));
    ASSIGN_OR_RETURN(SecretKey kek, Kek(w.key_id));
    auto key = Open(kek, std::string_view(w.blob).substr(0, kNonceBytes), WrapAad(region(), w.key_id),
                    std::string_view(w.blob).substr(kNonceBytes));
    if (!key.ok())
      return Status::Corruption("data key wrapped under " + w.key_id + " does not unwrap in region " + region() +
                                " (another region's, or damaged)");
    SecretKey out(*key);
    OPENSSL_cleanse(key->data(), key->size());
    return out;
  }

 private:
  Result<SecretKey> Kek(const std::string& id) {
    if (!ValidKeyId(id)) return store_.Load(id);  // its error
    const auto stamp = Stamp(JoinPath(store_.dir(), id + kSuffix));
    std::lock_guard lock(mu_);
    auto it = keks_.find(id);
    if (stamp && it != keks_.end() && it->second.first == *stamp) return it->second.second;
    if (it != keks_.end()) keks_.erase(it);
    ASSIGN_OR_RETURN(SecretKey kek, store_.Load(id));
    if (stamp) keks_.emplace(id, std::make_pair(*stamp, kek));
    return kek;
  }

  LocalKeyStore store_;
  std::mutex mu_;  // guards the caches
  std::optional<std::pair<FileStamp, std::string>> current_;
  std::map<std::string, std::pair<FileStamp, SecretKey>> keks_;
};

}  // namespace

Result<DataKey> NewDataKey(KeyProvider& provider) {
  DataKey d{SecretKey::Random(), {}};
  ASSIGN_OR_RETURN(d.wrapped, provider.Wrap(d.key));
  return d;
}

bool ValidKeyId(const std::string& id) {
  if (id.empty() || id.size() > 128 || id[0] == '-' || id[0] == '.') return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.';
  });
}

Status CheckRegionName(const std::string& region) {
  if (!IsValidRegionName(region))
    return Status::InvalidArgument("region '" + region + "' must be 1 to 63 of [a-z0-9-], not starting with '-'");
  return Status::Ok();
}

LocalKeyStore::LocalKeyStore(std::string keys_dir, std::string region)
    : keys_dir_(std::move(keys_dir)), region_(std::move(region)) {}

std::string LocalKeyStore::dir() const { return JoinPath(keys_dir_, region_); }

Result<std::string> LocalKeyStore::Create(bool make_current) {
  RETURN_IF_ERROR(CheckRegionName(region_));
  FileSystem* fs = FileSystem::Default();
  RETURN_IF_ERROR(CreateDirsDurably(fs, dir()));
  // Only the owner lists a region's keys (the files themselves are 0600).
  if (::chmod(dir().c_str(), 0700) != 0) return Status::IoError("cannot chmod 0700 " + dir());
  const std::string id = NewKeyId();
  SecretKey kek = SecretKey::Random();
  std::string text = LowerHex(kek.data(), kKeyBytes) + "\n";
  Status s = CreatePrivateFile(JoinPath(dir(), id + kSuffix), text);
  OPENSSL_cleanse(text.data(), text.size());
  RETURN_IF_ERROR(s);
  if (make_current || !fs->FileExists(JoinPath(dir(), kCurrent))) RETURN_IF_ERROR(SetCurrent(id));
  return id;
}

Result<std::vector<LocalKeyStore::KeyInfo>> LocalKeyStore::List() const {
  FileSystem* fs = FileSystem::Default();
  if (!fs->FileExists(dir())) return std::vector<KeyInfo>{};
  ASSIGN_OR_RETURN(std::vector<std::string> names, fs->ListDir(dir()));
  auto current = Current();
  std::vector<KeyInfo> out;
  for (const std::string& n : names) {
    if (!n.ends_with(kSuffix)) continue;
    const std::string id = n.substr(0, n.size() - sizeof(kSuffix) + 1);
    if (ValidKeyId(id)) out.push_back({id, current.ok() && *current == id});
  }
  std::sort(out.begin(), out.end(), [](const KeyInfo& a, const KeyInfo& b) { return a.id < b.id; });
  return out;
}

Result<std::string> LocalKeyStore::Current() const {
  FileSystem* fs = FileSystem::Default();
  const std::string path = JoinPath(dir(), kCurrent);
  if (!fs->FileExists(path))
    return Status::NotFound("region " + region_ + " has no current key in " + dir() +
                            " (create one: watershed keys create --region " + region_ + ")");
  ASSIGN_OR_RETURN(std::string id, ReadWholeFile(fs, path));
  id = Trimmed(id);
  if (!ValidKeyId(id)) return Status::Corruption(path + " does not name a key");
  return id;
}

Status LocalKeyStore::SetCurrent(const std::string& id) {
  if (!ValidKeyId(id)) return Status::InvalidArgument("bad key id '" + id + "'");
  FileSystem* fs = FileSystem::Default();
  if (!fs->FileExists(JoinPath(dir(), id + kSuffix)))
    return Status::NotFound("region " + region_ + " has no key " + id);
  return WriteFileAtomically(fs, JoinPath(dir(), kCurrent), id + "\n");
}

Result<SecretKey> LocalKeyStore::Load(const std::string& id) const {
  if (!ValidKeyId(id)) return Status::Corruption("bad key id '" + id + "'");
  const std::string path = JoinPath(dir(), id + kSuffix);
  // Like ssh with private keys: a key others can read (or a symlink, or
  // another user's file) is refused, not used.
  auto read = ReadPrivateFile(path, 1024);
  if (!read.ok() && read.status().code() == StatusCode::kNotFound)
    return Status::NotFound("region " + region_ + " has no key " + id + " (" + path + ")");
  ASSIGN_OR_RETURN(std::string text, std::move(read));
  auto bytes = FromHex(Trimmed(text));
  OPENSSL_cleanse(text.data(), text.size());
  if (!bytes || bytes->size() != kKeyBytes) return Status::Corruption(path + " is not 64 hex digits");
  SecretKey key(*bytes);
  OPENSSL_cleanse(bytes->data(), bytes->size());
  return key;
}

Status LocalKeyStore::Retire(const std::string& id) {
  if (!ValidKeyId(id)) return Status::InvalidArgument("bad key id '" + id + "'");
  auto current = Current();
  if (current.ok() && *current == id) return Status::FailedPrecondition(id + " is the current key: rotate first");
  FileSystem* fs = FileSystem::Default();
  const std::string from = JoinPath(dir(), id + kSuffix);
  if (!fs->FileExists(from)) return Status::NotFound("region " + region_ + " has no key " + id);
  const std::string retired = JoinPath(dir(), "retired");
  RETURN_IF_ERROR(CreateDirsDurably(fs, retired));
  RETURN_IF_ERROR(fs->RenameNoReplace(from, JoinPath(retired, id + kSuffix)));
  RETURN_IF_ERROR(fs->SyncDir(dir()));
  return fs->SyncDir(retired);
}

std::unique_ptr<KeyProvider> NewLocalKeyProvider(const std::string& keys_dir, const std::string& region) {
  return std::make_unique<LocalKeyProvider>(keys_dir, region);
}

}  // namespace watershed::keys
