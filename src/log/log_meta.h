#pragma once
// The embedded log's LOG_META file (docs/log_format.md): what a log was
// created with and may never change, checked at every open.
//   v1: "watershed-log v1 partitions=N\n"            (legacy partition scheme)
//   v2: "watershed-log v2 partitions=N scheme=S\n"   S: legacy | aligned
// New logs are written as v2; a v1 file is read as the legacy scheme and
// never rewritten.

#include <cstdint>
#include <string>
#include <string_view>

#include "core/partitioning.h"
#include "core/status.h"

namespace watershed::log {

struct LogMeta {
  uint32_t partitions = 0;
  PartitionScheme scheme = PartitionScheme::kAligned;
  bool operator==(const LogMeta&) const = default;
};

std::string EncodeLogMeta(const LogMeta& meta);  // always v2
// Strict: one line ending in '\n', v1 or v2, partitions in 1..4096, a known
// scheme. Errors are kCorruption saying what was found.
Result<LogMeta> ParseLogMeta(std::string_view text);

}  // namespace watershed::log
