#include "lake/file_keys.h"

#include <algorithm>
#include <mutex>

#include "core/hex.h"
#include "lake/iceberg_maintenance.h"

namespace watershed::lake {
namespace {

constexpr std::string_view kSidecarMagic = "watershed-lake-key-v1\n";
constexpr size_t kMaxSidecarBytes = 64 * 1024;

Result<keys::WrappedKey> ReadSidecar(FileSystem* fs, const std::string& data_file) {
  const std::string path = SidecarPath(data_file);
  if (!fs->FileExists(path))
    return Status::NotFound(data_file + " is encrypted but its key file " + path + " is missing");
  ASSIGN_OR_RETURN(std::string text, ReadWholeFile(fs, path));
  auto wrapped = DecodeSidecar(text);
  if (!wrapped.ok()) return Status(wrapped.status().code(), path + ": " + wrapped.status().message());
  return wrapped;
}

class SidecarFileKeys : public FileKeys {
 public:
  explicit SidecarFileKeys(std::function<keys::KeyProvider*(const std::string&)> provider_for)
      : provider_for_(std::move(provider_for)) {}

  Result<keys::SecretKey> KeyOf(FileSystem* fs, const std::string& path) override {
    ASSIGN_OR_RETURN(keys::KeyProvider * provider, Provider(path));
    ASSIGN_OR_RETURN(keys::WrappedKey wrapped, ReadSidecar(fs, path));
    auto key = provider->Unwrap(wrapped);
    if (!key.ok())
      return Status(key.status().code(), "the data key of " + path + " (key " + wrapped.key_id + " of region " +
                                             provider->region() + "): " + key.status().message());
    return key;
  }

  Result<NewFileKey> NewKey(const std::string& path) override {
    ASSIGN_OR_RETURN(keys::KeyProvider * provider, Provider(path));
    ASSIGN_OR_RETURN(keys::DataKey dk, keys::NewDataKey(*provider));
    return NewFileKey{dk.key, EncodeSidecar(dk.wrapped)};
  }

 private:
  Result<keys::KeyProvider*> Provider(const std::string& path) {
    keys::KeyProvider* p = provider_for_(path);
    if (!p) return Status::FailedPrecondition(path + ": no key provider for its region in this process");
    return p;
  }
  std::function<keys::KeyProvider*(const std::string&)> provider_for_;
};

class FixedFileKey : public FileKeys {
 public:
  explicit FixedFileKey(const keys::SecretKey& key) : key_(key) {}
  Result<keys::SecretKey> KeyOf(FileSystem*, const std::string&) override { return key_; }
  Result<NewFileKey> NewKey(const std::string&) override { return NewFileKey{key_, ""}; }

 private:
  keys::SecretKey key_;
};

std::mutex default_mu;
std::shared_ptr<FileKeys>& DefaultSlot() {
  static std::shared_ptr<FileKeys> slot;
  return slot;
}

}  // namespace

std::unique_ptr<FileKeys> NewSidecarFileKeys(std::function<keys::KeyProvider*(const std::string& path)> provider_for) {
  return std::make_unique<SidecarFileKeys>(std::move(provider_for));
}

std::unique_ptr<FileKeys> NewLakeFileKeys(std::string lake_root,
                                          std::function<keys::KeyProvider*(std::string_view region)> provider_of) {
  while (lake_root.size() > 1 && lake_root.back() == '/') lake_root.pop_back();
  return NewSidecarFileKeys([root = std::move(lake_root), of = std::move(provider_of)](const std::string& path) {
    // <root>/<region>/...: the component after the root names the region.
    if (path.size() <= root.size() + 1 || path.compare(0, root.size(), root) != 0 || path[root.size()] != '/')
      return static_cast<keys::KeyProvider*>(nullptr);
    const size_t begin = root.size() + 1, end = path.find('/', begin);
    if (end == std::string::npos) return static_cast<keys::KeyProvider*>(nullptr);
    return of(std::string_view(path).substr(begin, end - begin));
  });
}

std::unique_ptr<FileKeys> NewFixedFileKey(const keys::SecretKey& key) { return std::make_unique<FixedFileKey>(key); }

void SetDefaultFileKeys(std::shared_ptr<FileKeys> keys) {
  std::lock_guard<std::mutex> lock(default_mu);
  DefaultSlot() = std::move(keys);
}

std::shared_ptr<FileKeys> DefaultFileKeys() {
  std::lock_guard<std::mutex> lock(default_mu);
  return DefaultSlot();
}

std::string SidecarPath(const std::string& data_file) { return data_file + std::string(kSidecarSuffix); }

std::string EncodeSidecar(const keys::WrappedKey& wrapped) {
  return std::string(kSidecarMagic) + wrapped.key_id + "\n" + LowerHex(wrapped.blob.data(), wrapped.blob.size()) + "\n";
}

Result<keys::WrappedKey> DecodeSidecar(std::string_view text) {
  if (text.size() > kMaxSidecarBytes || !text.starts_with(kSidecarMagic))
    return Status::Corruption("not a lake key file (watershed-lake-key-v1)");
  text.remove_prefix(kSidecarMagic.size());
  const size_t nl = text.find('\n');
  if (nl == std::string_view::npos || text.empty() || text.back() != '\n')
    return Status::Corruption("lake key file is cut");
  keys::WrappedKey k;
  k.key_id = std::string(text.substr(0, nl));
  auto blob = FromHex(text.substr(nl + 1, text.size() - nl - 2));
  if (!keys::ValidKeyId(k.key_id) || !blob || blob->empty())
    return Status::Corruption("lake key file has a bad key id or blob");
  k.blob = std::move(*blob);
  return k;
}

Result<std::string> RewrapSidecar(FileSystem* fs, keys::KeyProvider& provider, const std::string& data_file) {
  ASSIGN_OR_RETURN(keys::WrappedKey old, ReadSidecar(fs, data_file));
  ASSIGN_OR_RETURN(keys::SecretKey key, provider.Unwrap(old));
  ASSIGN_OR_RETURN(keys::WrappedKey fresh, provider.Wrap(key));
  if (fresh.key_id == old.key_id) return fresh.key_id;  // already under the current key
  RETURN_IF_ERROR(WriteFileAtomically(fs, SidecarPath(data_file), EncodeSidecar(fresh), {}, ".rewrap.tmp"));
  if (!fs->FileExists(data_file)) RETURN_IF_ERROR(RemoveLakeFile(fs, data_file));  // deleted meanwhile
  return fresh.key_id;
}

Result<std::vector<LakeFileKey>> ListSidecars(FileSystem* fs, const std::string& dir) {
  std::vector<std::string> files;
  RETURN_IF_ERROR(ListRecursively(fs, dir, &files));
  std::sort(files.begin(), files.end());
  std::vector<LakeFileKey> out;
  for (const std::string& p : files) {
    if (!p.ends_with(kSidecarSuffix)) continue;
    const std::string data_file = p.substr(0, p.size() - kSidecarSuffix.size());
    auto wrapped = ReadSidecar(fs, data_file);
    if (!wrapped.ok() && !fs->FileExists(p)) continue;  // deleted meanwhile
    if (!wrapped.ok()) return wrapped.status();
    out.push_back({data_file, std::move(*wrapped)});
  }
  return out;
}

Status RemoveLakeFile(FileSystem* fs, const std::string& path) {
  for (const std::string& p : {path, SidecarPath(path)}) {
    Status s = fs->RemoveFile(p);
    if (!s.ok() && fs->FileExists(p)) return s;
  }
  return Status::Ok();
}

}  // namespace watershed::lake
