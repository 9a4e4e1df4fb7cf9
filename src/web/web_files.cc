#include "web/web_files.h"

#include <string>
#include <vector>

namespace watershed::web {
namespace {

std::string_view ContentType(std::string_view name) {
  auto ends = [&](std::string_view ext) { return name.ends_with(ext); };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js") || ends(".mjs")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  if (ends(".png")) return "image/png";
  if (ends(".json")) return "application/json";
  return "application/octet-stream";
}

}  // namespace

std::span<const File> Files() {
  static const std::vector<File> files = [] {
    std::vector<File> out;
    for (size_t i = 0; i < internal::kEmbeddedCount; ++i) {
      const internal::EmbeddedFile& f = internal::kEmbedded[i];
      out.push_back({f.path, ContentType(f.name), f.body});
    }
    return out;
  }();
  return files;
}

}  // namespace watershed::web
