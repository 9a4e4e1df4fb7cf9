#pragma once
// A FileSystem for durability tests: it passes calls to a base file system
// and remembers, per file, how many bytes were synced. DropUnsyncedData()
// then does what a power cut does to file contents: every file shrinks back
// to its last synced length. It can also fail writes (a full disk).
// Limitation: directory entries are modelled as always durable.

#include <map>
#include <mutex>

#include "core/file_system.h"

namespace watershed {

class FaultInjectionFileSystem : public ForwardingFileSystem {
 public:
  explicit FaultInjectionFileSystem(FileSystem* base) : ForwardingFileSystem(base) {}

  // Truncates every file written through this layer to its synced length.
  Status DropUnsyncedData();
  // While set, Append and Sync fail with an I/O error ("no space left").
  void SetFailWrites(bool fail);
  bool fail_writes() const;

  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override;
  Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path) override;
  Status RemoveFile(const std::string& path) override;
  Status RenameFile(const std::string& from, const std::string& to) override;
  Status RenameNoReplace(const std::string& from, const std::string& to) override;
  Status Truncate(const std::string& path, uint64_t size) override;

  // Called by the wrapped files.
  void OnSynced(const std::string& path, uint64_t size);

 private:
  void MoveSyncedSize(const std::string& from, const std::string& to);
  Result<std::unique_ptr<WritableFile>> Wrap(const std::string& path, Result<std::unique_ptr<WritableFile>> file,
                                             uint64_t synced);

  mutable std::mutex mu_;
  std::map<std::string, uint64_t> synced_size_;  // files written through this layer
  bool fail_writes_ = false;
};

}  // namespace watershed
