#include "core/partitioning.h"

#include <limits>
#include <string>

#include "core/murmur3.h"

namespace watershed {

std::string_view PartitionSchemeName(PartitionScheme scheme) {
  switch (scheme) {
    case PartitionScheme::kLegacy:
      return "legacy";
    case PartitionScheme::kAligned:
      return "aligned";
  }
  return "unknown";
}

std::optional<PartitionScheme> ParsePartitionScheme(std::string_view name) {
  if (name == "legacy") return PartitionScheme::kLegacy;
  if (name == "aligned") return PartitionScheme::kAligned;
  return std::nullopt;
}

bool AlignsWithStoryBuckets(uint32_t partition_count) {
  return partition_count > 0 && (kStoryBuckets % partition_count == 0 || partition_count % kStoryBuckets == 0);
}

Status CheckPartitionScheme(PartitionScheme scheme, uint32_t partition_count) {
  if (partition_count == 0) return Status::InvalidArgument("partitions must be at least 1");
  if (scheme == PartitionScheme::kAligned && !AlignsWithStoryBuckets(partition_count))
    return Status::InvalidArgument("partitions=" + std::to_string(partition_count) +
                                   " cannot align with the lake's 16 story buckets: the aligned partition "
                                   "scheme needs 1, 2, 4, 8, 16 or a "
                                   "multiple of 16 partitions (so each partition's sink writes only its "
                                   "own buckets); choose one of those, or "
                                   "set log-partition-scheme=legacy to keep the unaligned hash (every "
                                   "partition then writes every bucket)");
  return Status::Ok();
}

uint32_t PartitionOf(StoryId story, uint32_t partition_count, PartitionScheme scheme) {
  if (scheme == PartitionScheme::kAligned) {
    // As lake::iceberg::Bucket(N, HashLong(story)): (hash & INT32_MAX) % N.
    const uint32_t h = Murmur3Long(static_cast<int64_t>(story.value)) & std::numeric_limits<int32_t>::max();
    return h % partition_count;
  }
  // splitmix64 finaliser: consecutive story ids spread over partitions.
  uint64_t x = story.value + 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  x ^= x >> 31;
  return static_cast<uint32_t>(x % partition_count);
}

}  // namespace watershed
