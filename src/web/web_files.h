#pragma once
// The dashboard pages (web/ in the repository: the creator dashboard at /,
// the operator page at /ops, their scripts and styles under /assets/),
// compiled into the binary by embed_files.cmake. docs/operations.md
// "Dashboard" describes the pages.

#include <cstddef>
#include <span>
#include <string_view>

namespace watershed::web {

struct File {
  std::string_view path;          // URL path: "/", "/ops", "/assets/dashboard.js"
  std::string_view content_type;  // from the file name's extension
  std::string_view body;
};

// Every embedded file, sorted by file name.
std::span<const File> Files();

namespace internal {
struct EmbeddedFile {
  const char* path;
  const char* name;  // under web/
  std::string_view body;
};
extern const EmbeddedFile kEmbedded[];  // web_files_data.cc, generated
extern const size_t kEmbeddedCount;
}  // namespace internal

}  // namespace watershed::web
