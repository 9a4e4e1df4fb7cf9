#pragma once
// The file system behind an interface, so durability tests can run the log
// and checkpoints on a layer that forgets unsynced data or fails writes.
// Paths are plain strings; all calls are thread-safe unless noted.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace watershed {

// A file open for appending. Not thread-safe: one writer at a time.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual Status Append(std::string_view data) = 0;
  // Makes every appended byte durable (fdatasync).
  virtual Status Sync() = 0;
  virtual Status Close() = 0;
  virtual uint64_t Size() const = 0;
};

// A file read by position; safe for concurrent readers.
class RandomAccessFile {
 public:
  virtual ~RandomAccessFile() = default;
  // Reads up to n bytes at offset into scratch; returns the bytes read (fewer at end of file).
  virtual Result<size_t> Read(uint64_t offset, size_t n, char* scratch) const = 0;
};

// An exclusive advisory lock on a file, held while the object lives.
class FileLock {
 public:
  virtual ~FileLock() = default;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;
  // Creates or truncates.
  virtual Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) = 0;
  // Opens an existing file (or creates it) positioned at its end.
  virtual Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path) = 0;
  virtual Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(const std::string& path) = 0;
  virtual Result<uint64_t> FileSize(const std::string& path) = 0;
  // Last modification time (ms since the epoch); lake maintenance spares
  // young files that an in-flight commit may still reference.
  virtual Result<int64_t> ModifiedTimeMs(const std::string& path) = 0;
  virtual bool FileExists(const std::string& path) = 0;
  // Whether `path` itself is a symbolic link (not followed). Code that
  // deletes what it finds by listing (lake maintenance) skips links, so a
  // link planted in a table can never make it delete elsewhere.
  virtual bool IsSymlink(const std::string& path) = 0;
  // Names (not paths) of the entries of dir, unsorted.
  virtual Result<std::vector<std::string>> ListDir(const std::string& dir) = 0;
  virtual Status CreateDirs(const std::string& dir) = 0;
  virtual Status RemoveFile(const std::string& path) = 0;
  // Atomically replaces `to` with `from`.
  virtual Status RenameFile(const std::string& from, const std::string& to) = 0;
  // Renames `from` to `to` only if `to` does not exist, atomically: of two
  // racing callers one wins, the other gets kFailedPrecondition (commits of
  // the lake's table metadata rely on it; a plain rename would replace).
  virtual Status RenameNoReplace(const std::string& from, const std::string& to) = 0;
  virtual Status Truncate(const std::string& path, uint64_t size) = 0;
  // Makes the directory's entries (creations, renames) durable.
  virtual Status SyncDir(const std::string& dir) = 0;
  // Waits for an exclusive lock (flock) on `path`, creating the file when
  // missing. Serializes processes sharing a directory on a file system that
  // honours flock (local ones); a dead holder's lock is released.
  virtual Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) = 0;

  static FileSystem* Default();
};

// Passes every call to another file system; fault-injecting layers derive
// from it and override only what they change.
class ForwardingFileSystem : public FileSystem {
 public:
  explicit ForwardingFileSystem(FileSystem* base) : base_(base) {}
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    return base_->NewWritableFile(path);
  }
  Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path) override {
    return base_->NewAppendableFile(path);
  }
  Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(const std::string& path) override {
    return base_->NewRandomAccessFile(path);
  }
  Result<uint64_t> FileSize(const std::string& path) override { return base_->FileSize(path); }
  Result<int64_t> ModifiedTimeMs(const std::string& path) override { return base_->ModifiedTimeMs(path); }
  bool FileExists(const std::string& path) override { return base_->FileExists(path); }
  bool IsSymlink(const std::string& path) override { return base_->IsSymlink(path); }
  Result<std::vector<std::string>> ListDir(const std::string& dir) override { return base_->ListDir(dir); }
  Status CreateDirs(const std::string& dir) override { return base_->CreateDirs(dir); }
  Status RemoveFile(const std::string& path) override { return base_->RemoveFile(path); }
  Status RenameFile(const std::string& from, const std::string& to) override { return base_->RenameFile(from, to); }
  Status RenameNoReplace(const std::string& from, const std::string& to) override {
    return base_->RenameNoReplace(from, to);
  }
  Status Truncate(const std::string& path, uint64_t size) override { return base_->Truncate(path, size); }
  Status SyncDir(const std::string& dir) override { return base_->SyncDir(dir); }
  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) override { return base_->LockFile(path); }

 protected:
  FileSystem* base() const { return base_; }

 private:
  FileSystem* base_;
};

// Helpers built on the interface.
Result<std::string> ReadWholeFile(FileSystem* fs, const std::string& path);
// Writes a file under a temporary name, syncs it, renames it over `path`
// and syncs the directory: after return the new content is durable, and a
// crash at any point leaves either the old or the new content. On failure no
// temporary file is left; a crash leaves `path` + temp_suffix, which the next
// write with the same suffix replaces. Writers that may run at once (other
// processes on a shared directory) pass suffixes of their own: the last
// rename wins, whole. With a crash_point_prefix P, the crash points
// "P.after_temp_sync" and "P.after_rename" (core/crash_point.h) are armed.
// `may_replace`, when given, runs just before the rename: an error from it
// (e.g. the writer lost its ownership) cancels the write.
Status WriteFileAtomically(FileSystem* fs, const std::string& path, std::string_view content,
                           std::string_view crash_point_prefix = {}, std::string_view temp_suffix = ".tmp",
                           const std::function<Status()>& may_replace = {});
// CreateDirs, then fsyncs the parent of every directory it created, so the
// new entries survive a power cut. Cheap when dir already exists.
Status CreateDirsDurably(FileSystem* fs, const std::string& dir);
std::string JoinPath(std::string_view dir, std::string_view name);
std::string DirName(const std::string& path);

// Creates `path` on the real file system holding `content`, readable by its
// owner only (0600 from the first byte, never chmod'ed afterwards), durably,
// for secrets and private keys. Never replaces an existing file and never
// follows a symlink: the content goes to a fresh temporary opened with
// O_EXCL|O_NOFOLLOW in the same directory, which is then link()ed to `path`
// (fails with kFailedPrecondition "... exists" when `path` exists, so of two
// racing creators one wins and the other can read the winner's file whole).
Status CreatePrivateFile(const std::string& path, std::string_view content);
// Reads a secret (a key, a password file): refused unless `path` is a
// regular file, not a symbolic link, owned by this user, readable by no one
// else (mode 600 or stricter), and at most max_bytes; the checks apply to
// the descriptor read, not to a name that could change in between.
Result<std::string> ReadPrivateFile(const std::string& path, size_t max_bytes = 64 * 1024);

}  // namespace watershed
