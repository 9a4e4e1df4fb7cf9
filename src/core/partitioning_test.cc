// The log's partition schemes (partitioning.h). That the aligned scheme
// agrees with the lake's bucket[16] transform is checked in
// lake/iceberg_transform_test.cc, against lake::iceberg::Bucket.

#include "core/partitioning.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>

namespace watershed {
namespace {

constexpr PartitionScheme kSchemes[] = {PartitionScheme::kLegacy, PartitionScheme::kAligned};

TEST(Partition, InRangeAndDeterministic) {
  for (PartitionScheme scheme : kSchemes) {
    for (uint32_t count : {1u, 2u, 3u, 16u, 1000u}) {
      for (uint64_t story : std::initializer_list<uint64_t>{0, 1, 2, 12345, 0xffffffff, UINT64_MAX}) {
        uint32_t p = PartitionOf(StoryId(story), count, scheme);
        EXPECT_LT(p, count);
        EXPECT_EQ(p, PartitionOf(StoryId(story), count, scheme));
      }
    }
    EXPECT_EQ(PartitionOf(StoryId(777), 1, scheme), 0u);
  }
}

// Existing logs depend on these values forever: the legacy scheme must
// never change (values from an independent splitmix64 in Python).
TEST(Partition, LegacySchemeIsPinned) {
  const uint64_t stories[] = {1, 2, 3, 12345, UINT64_MAX};
  const uint32_t of8[] = {1, 6, 5, 0, 0};
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(PartitionOf(StoryId(stories[i]), 8, PartitionScheme::kLegacy), of8[i]);
  const uint32_t of3[] = {2, 1, 0, 2};
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(PartitionOf(StoryId(stories[i]), 3, PartitionScheme::kLegacy), of3[i]);
}

// The Iceberg spec's test value: the hash of the long 34 is 2017239379,
// so bucket[16](34) = 3.
TEST(Partition, AlignedSchemeIsTheIcebergBucketHash) {
  EXPECT_EQ(PartitionOf(StoryId(34), 16, PartitionScheme::kAligned), 2017239379u % 16);
  EXPECT_EQ(PartitionOf(StoryId(34), 8, PartitionScheme::kAligned), 2017239379u % 8);
  EXPECT_EQ(PartitionOf(StoryId(34), 32, PartitionScheme::kAligned), 2017239379u % 32);
}

TEST(Partition, ConsecutiveStoriesSpread) {
  for (PartitionScheme scheme : kSchemes) {
    constexpr uint32_t kPartitions = 16;
    constexpr uint64_t kStories = 16'000;
    std::vector<int> hits(kPartitions, 0);
    for (uint64_t s = 1; s <= kStories; ++s) ++hits[PartitionOf(StoryId(s), kPartitions, scheme)];
    for (uint32_t p = 0; p < kPartitions; ++p) {
      // Expected 1000 each; a fair hash stays well within ±15%.
      EXPECT_GT(hits[p], 850) << PartitionSchemeName(scheme) << " partition " << p;
      EXPECT_LT(hits[p], 1150) << PartitionSchemeName(scheme) << " partition " << p;
    }
    // Neighbouring stories do not all land in the same or in adjacent partitions.
    std::set<uint32_t> first_eight;
    for (uint64_t s = 100; s < 108; ++s) first_eight.insert(PartitionOf(StoryId(s), kPartitions, scheme));
    EXPECT_GE(first_eight.size(), 4u) << PartitionSchemeName(scheme);
  }
}

TEST(Partition, AlignedCountsDivideOrAreMultiplesOfSixteen) {
  for (uint32_t n : {1u, 2u, 4u, 8u, 16u, 32u, 48u, 1024u}) {
    EXPECT_TRUE(AlignsWithStoryBuckets(n)) << n;
    EXPECT_TRUE(CheckPartitionScheme(PartitionScheme::kAligned, n).ok()) << n;
  }
  for (uint32_t n : {0u, 3u, 5u, 6u, 12u, 24u, 40u}) {
    EXPECT_FALSE(AlignsWithStoryBuckets(n)) << n;
    Status s = CheckPartitionScheme(PartitionScheme::kAligned, n);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << n;
  }
  Status s = CheckPartitionScheme(PartitionScheme::kAligned, 12);
  EXPECT_NE(s.message().find("partitions=12"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("log-partition-scheme=legacy"), std::string::npos) << s.message();
  // The legacy scheme takes any count.
  EXPECT_TRUE(CheckPartitionScheme(PartitionScheme::kLegacy, 12).ok());
}

TEST(Partition, SchemeNamesRoundTrip) {
  for (PartitionScheme scheme : kSchemes) EXPECT_EQ(ParsePartitionScheme(PartitionSchemeName(scheme)), scheme);
  EXPECT_FALSE(ParsePartitionScheme("Aligned").has_value());
  EXPECT_FALSE(ParsePartitionScheme("").has_value());
  EXPECT_FALSE(ParsePartitionScheme("splitmix64").has_value());
}

}  // namespace
}  // namespace watershed
