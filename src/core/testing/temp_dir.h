#pragma once
// Tests only: a fresh directory under /tmp, removed with everything in it
// when the TempDir is destroyed. As a fixture member it lives for one test.

#include <stdlib.h>

#include <cerrno>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace watershed::testing {

class TempDir {
 public:
  // Creates /tmp/watershed_<prefix>_XXXXXX. Throws std::system_error if it
  // cannot (GoogleTest then fails the test before its body runs).
  explicit TempDir(const std::string& prefix) {
    std::string tmpl = "/tmp/watershed_" + prefix + "_XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::system_error(errno, std::generic_category(), "mkdtemp " + tmpl);
    path_ = std::move(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // The directory, without a trailing slash.
  const std::string& path() const { return path_; }
  // `name` inside the directory.
  std::string Path(std::string_view name) const {
    std::string p = path_ + "/";
    p.append(name);
    return p;
  }

 private:
  std::string path_;
};

}  // namespace watershed::testing
