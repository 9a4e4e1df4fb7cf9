#include "core/file_system.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>  // renameat2, RENAME_NOREPLACE
#include <sys/file.h>  // flock
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "core/crash_point.h"

namespace watershed {
namespace {

Status ErrnoStatus(const std::string& what, const std::string& path, int err) {
  return Status::IoError(what + " " + path + ": " + std::strerror(err));
}

class PosixWritableFile : public WritableFile {
 public:
  PosixWritableFile(int fd, std::string path, uint64_t size) : fd_(fd), path_(std::move(path)), size_(size) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }
  Status Append(std::string_view data) override {
    while (!data.empty()) {
      ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("write", path_, errno);
      }
      data.remove_prefix(static_cast<size_t>(n));
      size_ += static_cast<uint64_t>(n);
    }
    return Status::Ok();
  }
  Status Sync() override {
    if (::fdatasync(fd_) != 0) return ErrnoStatus("fdatasync", path_, errno);
    return Status::Ok();
  }
  Status Close() override {
    int fd = fd_;
    fd_ = -1;
    if (fd >= 0 && ::close(fd) != 0) return ErrnoStatus("close", path_, errno);
    return Status::Ok();
  }
  uint64_t Size() const override { return size_; }

 private:
  int fd_;
  std::string path_;
  uint64_t size_;
};

class PosixRandomAccessFile : public RandomAccessFile {
 public:
  PosixRandomAccessFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixRandomAccessFile() override { ::close(fd_); }
  Result<size_t> Read(uint64_t offset, size_t n, char* scratch) const override {
    size_t done = 0;
    while (done < n) {
      ssize_t r = ::pread(fd_, scratch + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("pread", path_, errno);
      }
      if (r == 0) break;
      done += static_cast<size_t>(r);
    }
    return done;
  }

 private:
  int fd_;
  std::string path_;
};

class PosixFileLock : public FileLock {
 public:
  explicit PosixFileLock(int fd) : fd_(fd) {}
  ~PosixFileLock() override { ::close(fd_); }  // releases the flock

 private:
  int fd_;
};

class PosixFileSystem : public FileSystem {
 public:
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoStatus("open", path, errno);
    return std::unique_ptr<WritableFile>(new PosixWritableFile(fd, path, 0));
  }
  Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoStatus("open", path, errno);
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      int err = errno;
      ::close(fd);
      return ErrnoStatus("fstat", path, err);
    }
    return std::unique_ptr<WritableFile>(new PosixWritableFile(fd, path, static_cast<uint64_t>(st.st_size)));
  }
  Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus("open", path, errno);
    return std::unique_ptr<RandomAccessFile>(new PosixRandomAccessFile(fd, path));
  }
  Result<uint64_t> FileSize(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return ErrnoStatus("stat", path, errno);
    return static_cast<uint64_t>(st.st_size);
  }
  Result<int64_t> ModifiedTimeMs(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return ErrnoStatus("stat", path, errno);
    return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1'000'000;
  }
  bool FileExists(const std::string& path) override { return ::access(path.c_str(), F_OK) == 0; }
  bool IsSymlink(const std::string& path) override {
    struct stat st;
    return ::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
  }
  Result<std::vector<std::string>> ListDir(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (!d) return ErrnoStatus("opendir", dir, errno);
    std::vector<std::string> names;
    while (dirent* ent = ::readdir(d)) {
      std::string name = ent->d_name;
      if (name != "." && name != "..") names.push_back(std::move(name));
    }
    ::closedir(d);
    return names;
  }
  Status CreateDirs(const std::string& dir) override {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return Status::IoError("mkdir " + dir + ": " + ec.message());
    return Status::Ok();
  }
  Status RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return ErrnoStatus("unlink", path, errno);
    return Status::Ok();
  }
  Status RenameFile(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return ErrnoStatus("rename", from, errno);
    return Status::Ok();
  }
  Status RenameNoReplace(const std::string& from, const std::string& to) override {
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return Status::Ok();
    int err = errno;
    if (err == EINVAL || err == ENOSYS) {
      // A file system without RENAME_NOREPLACE: link() refuses an existing
      // name just as atomically; then drop the old name.
      if (::link(from.c_str(), to.c_str()) == 0) {
        ::unlink(from.c_str());
        return Status::Ok();
      }
      err = errno;
    }
    if (err == EEXIST) return Status::FailedPrecondition(to + " already exists");
    return ErrnoStatus("renameat2", from, err);
  }
  Status Truncate(const std::string& path, uint64_t size) override {
    if (::truncate(path.c_str(), static_cast<off_t>(size)) != 0) return ErrnoStatus("truncate", path, errno);
    return Status::Ok();
  }
  Status SyncDir(const std::string& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus("open", dir, errno);
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return ErrnoStatus("fsync", dir, err);
    return Status::Ok();
  }
  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoStatus("open", path, errno);
    int rc;
    do {
      rc = ::flock(fd, LOCK_EX);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
      int err = errno;
      ::close(fd);
      return ErrnoStatus("flock", path, err);
    }
    return std::unique_ptr<FileLock>(new PosixFileLock(fd));
  }
};

}  // namespace

FileSystem* FileSystem::Default() {
  static PosixFileSystem fs;
  return &fs;
}

Result<std::string> ReadWholeFile(FileSystem* fs, const std::string& path) {
  ASSIGN_OR_RETURN(uint64_t size, fs->FileSize(path));
  ASSIGN_OR_RETURN(auto file, fs->NewRandomAccessFile(path));
  std::string data(size, '\0');
  ASSIGN_OR_RETURN(size_t n, file->Read(0, size, data.data()));
  data.resize(n);
  return data;
}

Status WriteFileAtomically(FileSystem* fs, const std::string& path, std::string_view content,
                           std::string_view crash_point_prefix, std::string_view temp_suffix,
                           const std::function<Status()>& may_replace) {
  const std::string tmp = path + std::string(temp_suffix);
  const std::string prefix(crash_point_prefix);
  auto write_tmp = [&]() -> Status {
    ASSIGN_OR_RETURN(auto file, fs->NewWritableFile(tmp));
    RETURN_IF_ERROR(file->Append(content));
    RETURN_IF_ERROR(file->Sync());
    RETURN_IF_ERROR(file->Close());
    if (!prefix.empty()) CrashPoint((prefix + ".after_temp_sync").c_str());
    if (may_replace) RETURN_IF_ERROR(may_replace());
    return fs->RenameFile(tmp, path);
  };
  if (Status s = write_tmp(); !s.ok()) {
    // Leave no half-written temporary behind; the old content is untouched.
    if (fs->FileExists(tmp)) fs->RemoveFile(tmp).IgnoreError();
    return s;
  }
  if (!prefix.empty()) CrashPoint((prefix + ".after_rename").c_str());
  return fs->SyncDir(DirName(path));
}

Status CreateDirsDurably(FileSystem* fs, const std::string& dir) {
  if (fs->FileExists(dir)) return Status::Ok();
  std::vector<std::string> created;
  for (std::string d = dir; d != "/" && d != "." && !fs->FileExists(d); d = DirName(d)) created.push_back(d);
  RETURN_IF_ERROR(fs->CreateDirs(dir));
  for (const auto& d : created) RETURN_IF_ERROR(fs->SyncDir(DirName(d)));
  return Status::Ok();
}

std::string JoinPath(std::string_view dir, std::string_view name) {
  std::string p(dir);
  if (!p.empty() && p.back() != '/') p.push_back('/');
  p.append(name);
  return p;
}

std::string DirName(const std::string& path) {
  auto pos = path.find_last_of('/');
  if (pos == std::string::npos) return ".";
  if (pos == 0) return "/";
  return path.substr(0, pos);
}


Status CreatePrivateFile(const std::string& path, std::string_view content) {
  // The temporary's name only needs to be unique among concurrent creators;
  // O_EXCL makes a guessed or planted name (a symlink included) an error.
  uint64_t nonce = 0;
  if (::getrandom(&nonce, sizeof nonce, 0) != static_cast<ssize_t>(sizeof nonce))
    return Status::IoError("getrandom failed for a temporary name");
  const std::string tmp = path + ".tmp." + std::to_string(nonce);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus("create", tmp, errno);
  Status status;
  for (size_t done = 0; done < content.size() && status.ok();) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno != EINTR) status = ErrnoStatus("write", tmp, errno);
    if (n > 0) done += static_cast<size_t>(n);
  }
  if (status.ok() && ::fsync(fd) != 0) status = ErrnoStatus("fsync", tmp, errno);
  if (::close(fd) != 0 && status.ok()) status = ErrnoStatus("close", tmp, errno);
  if (status.ok() && ::link(tmp.c_str(), path.c_str()) != 0) {
    status = errno == EEXIST ? Status(StatusCode::kFailedPrecondition, path + " exists")
                             : ErrnoStatus("link", path, errno);
  }
  ::unlink(tmp.c_str());
  if (!status.ok()) return status;
  int dir = ::open(DirName(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return ErrnoStatus("open", DirName(path), errno);
  const int synced = ::fsync(dir);
  ::close(dir);
  return synced == 0 ? Status::Ok() : ErrnoStatus("fsync", DirName(path), errno);
}

Result<std::string> ReadPrivateFile(const std::string& path, size_t max_bytes) {
  // One open, then checks on that descriptor: no symlink, no window between
  // a check by name and the read.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::NotFound(path + " does not exist");
    if (errno == ELOOP) return Status::FailedPrecondition(path + " is a symbolic link (refused for a secret)");
    return ErrnoStatus("open", path, errno);
  }
  struct stat st;
  Status status;
  if (::fstat(fd, &st) != 0) {
    status = ErrnoStatus("stat", path, errno);
  } else if (!S_ISREG(st.st_mode)) {
    status = Status::FailedPrecondition(path + " is not a regular file");
  } else if ((st.st_mode & 077) != 0) {
    status = Status::FailedPrecondition(path + " must be readable by its owner only (chmod 600)");
  } else if (st.st_uid != ::geteuid()) {
    status = Status::FailedPrecondition(path + " must belong to the user running watershed");
  } else if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    status = Status::FailedPrecondition(path + " is larger than " + std::to_string(max_bytes) + " bytes");
  }
  std::string content;
  if (status.ok()) {
    content.resize(static_cast<size_t>(st.st_size));
    size_t done = 0;
    while (done < content.size()) {
      const ssize_t n = ::read(fd, content.data() + done, content.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        status = n < 0 ? ErrnoStatus("read", path, errno) : Status::IoError(path + " shrank while read");
        break;
      }
      done += static_cast<size_t>(n);
    }
  }
  ::close(fd);
  if (!status.ok()) return status;
  return content;
}

}  // namespace watershed
