#include "log/log_meta.h"

#include <charconv>
#include <vector>

namespace watershed::log {
namespace {

constexpr uint32_t kMaxPartitions = 4096;

Status Bad(std::string_view text, std::string_view why) {
  std::string shown(text.substr(0, 80));
  for (char& c : shown)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  return Status::Corruption("LOG_META '" + shown + "': " + std::string(why));
}

std::vector<std::string_view> SplitSpaces(std::string_view line) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos <= line.size()) {
    size_t next = line.find(' ', pos);
    if (next == std::string_view::npos) next = line.size();
    out.push_back(line.substr(pos, next - pos));
    pos = next + 1;
  }
  return out;
}

}  // namespace

std::string EncodeLogMeta(const LogMeta& meta) {
  return "watershed-log v2 partitions=" + std::to_string(meta.partitions) +
         " scheme=" + std::string(PartitionSchemeName(meta.scheme)) + "\n";
}

Result<LogMeta> ParseLogMeta(std::string_view text) {
  if (text.empty() || text.back() != '\n' || text.find('\n') != text.size() - 1)
    return Bad(text, "expected exactly one line ending in a newline");
  const std::vector<std::string_view> f = SplitSpaces(text.substr(0, text.size() - 1));
  if (f[0] != "watershed-log") return Bad(text, "not a watershed log");
  LogMeta meta;
  if (f.size() == 3 && f[1] == "v1") {
    meta.scheme = PartitionScheme::kLegacy;  // v1 predates schemes: the splitmix64 hash
  } else if (f.size() == 4 && f[1] == "v2") {
    if (!f[3].starts_with("scheme=")) return Bad(text, "expected scheme=legacy|aligned");
    auto scheme = ParsePartitionScheme(f[3].substr(7));
    if (!scheme)
      return Bad(text, "unknown partition scheme '" + std::string(f[3].substr(7)) +
                           "' (this version knows legacy and aligned; was the "
                           "log written by a newer Watershed?)");
    meta.scheme = *scheme;
  } else if (f.size() >= 2 && (f[1] == "v1" || f[1] == "v2")) {
    return Bad(text, "wrong number of fields for " + std::string(f[1]));
  } else {
    return Bad(text,
               "unknown version (this version reads v1 and v2; was the "
               "log written by a newer Watershed?)");
  }
  const std::string_view p = f[2];
  if (!p.starts_with("partitions=")) return Bad(text, "expected partitions=N");
  const std::string_view digits = p.substr(11);
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), meta.partitions);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() ||
      (digits.size() > 1 && digits[0] == '0') || meta.partitions == 0 || meta.partitions > kMaxPartitions)
    return Bad(text, "partitions must be a number in 1..4096");
  return meta;
}

}  // namespace watershed::log
