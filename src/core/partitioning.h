#pragma once
// How a log maps a story to one of its N partitions: every event of one story
// lands in one partition, so per-story state lives in exactly one processor.
// A log's scheme and N are fixed for its life (processor state, dedup and
// checkpoints are per partition); the embedded log records both in LOG_META
// (docs/log_format.md).

#include <cstdint>
#include <optional>
#include <string_view>

#include "core/event.h"
#include "core/status.h"

namespace watershed {

// The lake partitions every sink table by bucket[16](story_id).
inline constexpr uint32_t kStoryBuckets = 16;

enum class PartitionScheme : uint8_t {
  // splitmix64(story) % N, unrelated to the lake's buckets: logs created
  // before LOG_META v2 (their LOG_META says v1) keep it.
  kLegacy = 1,
  // (murmur3(story as an Iceberg long) & INT32_MAX) % N, the hash of the
  // lake's bucket transform. With N dividing 16, partition = bucket % N:
  // partition p owns exactly the buckets {b : b % N == p}. With N a multiple
  // of 16, bucket = partition % 16: a partition owns one bucket. Either way a
  // partition's lake sink writes only its own buckets.
  kAligned = 2,
};

std::string_view PartitionSchemeName(PartitionScheme scheme);  // "legacy", "aligned"
std::optional<PartitionScheme> ParsePartitionScheme(std::string_view name);

// N divides 16 or 16 divides N.
bool AlignsWithStoryBuckets(uint32_t partition_count);

// Ok, or InvalidArgument saying which counts the aligned scheme allows and
// how to keep the legacy one. The legacy scheme allows every N >= 1.
Status CheckPartitionScheme(PartitionScheme scheme, uint32_t partition_count);

// REQUIRES: partition_count > 0.
uint32_t PartitionOf(StoryId story, uint32_t partition_count, PartitionScheme scheme);

}  // namespace watershed
