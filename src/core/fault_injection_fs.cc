#include "core/fault_injection_fs.h"

namespace watershed {
namespace {

class FaultFile : public WritableFile {
 public:
  FaultFile(FaultInjectionFileSystem* fs, std::string path, std::unique_ptr<WritableFile> base)
      : fs_(fs), path_(std::move(path)), base_(std::move(base)) {}
  Status Append(std::string_view data) override {
    if (fs_->fail_writes()) return Status::IoError("write " + path_ + ": No space left on device (injected)");
    return base_->Append(data);
  }
  Status Sync() override {
    if (fs_->fail_writes()) return Status::IoError("fdatasync " + path_ + ": No space left on device (injected)");
    RETURN_IF_ERROR(base_->Sync());
    fs_->OnSynced(path_, base_->Size());
    return Status::Ok();
  }
  Status Close() override { return base_->Close(); }
  uint64_t Size() const override { return base_->Size(); }

 private:
  FaultInjectionFileSystem* fs_;
  std::string path_;
  std::unique_ptr<WritableFile> base_;
};

}  // namespace

Result<std::unique_ptr<WritableFile>> FaultInjectionFileSystem::Wrap(const std::string& path,
                                                                     Result<std::unique_ptr<WritableFile>> file,
                                                                     uint64_t synced) {
  if (!file.ok()) return file.status();
  {
    std::lock_guard lock(mu_);
    synced_size_[path] = synced;
  }
  return std::unique_ptr<WritableFile>(new FaultFile(this, path, std::move(file).value()));
}

Result<std::unique_ptr<WritableFile>> FaultInjectionFileSystem::NewWritableFile(const std::string& path) {
  return Wrap(path, base()->NewWritableFile(path), 0);
}

Result<std::unique_ptr<WritableFile>> FaultInjectionFileSystem::NewAppendableFile(const std::string& path) {
  // What is already in the file is treated as durable.
  auto file = base()->NewAppendableFile(path);
  uint64_t size = file.ok() ? file.value()->Size() : 0;
  return Wrap(path, std::move(file), size);
}

void FaultInjectionFileSystem::OnSynced(const std::string& path, uint64_t size) {
  std::lock_guard lock(mu_);
  synced_size_[path] = size;
}

void FaultInjectionFileSystem::SetFailWrites(bool fail) {
  std::lock_guard lock(mu_);
  fail_writes_ = fail;
}

bool FaultInjectionFileSystem::fail_writes() const {
  std::lock_guard lock(mu_);
  return fail_writes_;
}

Status FaultInjectionFileSystem::RemoveFile(const std::string& path) {
  {
    std::lock_guard lock(mu_);
    synced_size_.erase(path);
  }
  return base()->RemoveFile(path);
}

Status FaultInjectionFileSystem::RenameFile(const std::string& from, const std::string& to) {
  RETURN_IF_ERROR(base()->RenameFile(from, to));
  MoveSyncedSize(from, to);
  return Status::Ok();
}

Status FaultInjectionFileSystem::RenameNoReplace(const std::string& from, const std::string& to) {
  RETURN_IF_ERROR(base()->RenameNoReplace(from, to));
  MoveSyncedSize(from, to);
  return Status::Ok();
}

void FaultInjectionFileSystem::MoveSyncedSize(const std::string& from, const std::string& to) {
  std::lock_guard lock(mu_);
  auto it = synced_size_.find(from);
  if (it != synced_size_.end()) {
    synced_size_[to] = it->second;
    synced_size_.erase(it);
  }
}

Status FaultInjectionFileSystem::Truncate(const std::string& path, uint64_t size) {
  RETURN_IF_ERROR(base()->Truncate(path, size));
  std::lock_guard lock(mu_);
  auto it = synced_size_.find(path);
  if (it != synced_size_.end() && it->second > size) it->second = size;
  return Status::Ok();
}

Status FaultInjectionFileSystem::DropUnsyncedData() {
  std::lock_guard lock(mu_);
  for (auto& [path, synced] : synced_size_) {
    if (!base()->FileExists(path)) continue;
    ASSIGN_OR_RETURN(uint64_t size, base()->FileSize(path));
    if (size > synced) RETURN_IF_ERROR(base()->Truncate(path, synced));
  }
  return Status::Ok();
}

}  // namespace watershed
