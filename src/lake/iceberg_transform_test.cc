// Iceberg partition transforms (src/lake/iceberg_transform.h) against the
// Iceberg table spec's own test values (Appendix B: 32-bit Hash
// Requirements) and MurmurHash3 x86_32 reference vectors.

#include "lake/iceberg_transform.h"

#include <gtest/gtest.h>

#include <bit>
#include <limits>
#include <set>
#include <string>

#include "core/partitioning.h"

namespace watershed::lake::iceberg {
namespace {

std::string Bytes(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

TEST(Murmur3, ReferenceVectors) {
  // Seeds and 0..3-byte tails, as in the widely used reference test list.
  EXPECT_EQ(Murmur3X86_32("", 0), 0u);
  EXPECT_EQ(Murmur3X86_32("", 1), 0x514e28b7u);
  EXPECT_EQ(Murmur3X86_32("", 0xffffffffu), 0x81f16f39u);
  EXPECT_EQ(Murmur3X86_32(Bytes({0xff, 0xff, 0xff, 0xff}), 0), 0x76293b50u);
  EXPECT_EQ(Murmur3X86_32(Bytes({0x21, 0x43, 0x65, 0x87}), 0), 0xf55b516bu);
  EXPECT_EQ(Murmur3X86_32(Bytes({0x21, 0x43, 0x65, 0x87}), 0x5082edee), 0x2362f9deu);
  EXPECT_EQ(Murmur3X86_32(Bytes({0x21, 0x43, 0x65}), 0), 0x7e4a8634u);
  EXPECT_EQ(Murmur3X86_32(Bytes({0x21, 0x43}), 0), 0xa0f7b07au);
  EXPECT_EQ(Murmur3X86_32(Bytes({0x21}), 0), 0x72661cf4u);
  // Text inputs with seeds.
  EXPECT_EQ(Murmur3X86_32("Hello, world!", 1234), 0xfaf6cdb3u);
  EXPECT_EQ(Murmur3X86_32("Hello, world!", 4321), 0xbf505788u);
  EXPECT_EQ(Murmur3X86_32("xxxxxxxxxxxxxxxxxxxxxxxxxxxx", 1234), 0x8905ac28u);
  EXPECT_EQ(Murmur3X86_32("", 1234), 0x0f2cc00bu);
}

// Appendix B's table, row by row.
TEST(IcebergHash, SpecTestValues) {
  EXPECT_EQ(HashInt(34), 2017239379);
  EXPECT_EQ(HashLong(34), 2017239379);
  EXPECT_EQ(HashDate(17486), -653330422);                     // 2017-11-16
  EXPECT_EQ(HashLong(int64_t{81068} * 1000000), -662762989);  // time 22:31:08
  EXPECT_EQ(HashTimestampMicros(1510871468000000),
            -2047944441);                                         // 2017-11-16T22:31:08
  EXPECT_EQ(HashTimestampMicros(1510871468000001), -1207196810);  // ... .000001
  EXPECT_EQ(HashString("iceberg"), 1210000089);
  // f79c3e09-677c-4bbd-a479-3f349cb785e7, big-endian as the spec lists it.
  EXPECT_EQ(HashUuid({0xf7, 0x9c, 0x3e, 0x09, 0x67, 0x7c, 0x4b, 0xbd, 0xa4, 0x79, 0x3f, 0x34, 0x9c, 0xb7, 0x85, 0xe7}),
            1488055340);
  EXPECT_EQ(HashBytes(Bytes({0x00, 0x01, 0x02, 0x03})),
            -188683207);  // fixed(4) and binary
  // The "not currently valid for bucketing" rows, through their definitions.
  EXPECT_EQ(HashInt(1), 1392991556);                             // true
  EXPECT_EQ(HashLong(std::bit_cast<int64_t>(1.0)), -142385009);  // 1.0F, 1.0D
  EXPECT_EQ(HashLong(std::bit_cast<int64_t>(0.0)),
            1669671676);  // 0.0, -0.0 canonicalized
}

TEST(IcebergHash, IntAndLongAgreeForEveryInt) {
  for (int32_t v :
       {0, 1, -1, 34, -34, 1 << 20, std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()}) {
    EXPECT_EQ(HashInt(v), HashLong(v)) << v;
  }
  EXPECT_NE(HashLong(1), HashLong(int64_t{1} << 32));
}

TEST(IcebergBucket, Buckets) {
  EXPECT_EQ(Bucket(16, HashInt(34)), 3);  // (2017239379 & INT32_MAX) % 16
  EXPECT_EQ(Bucket(100, HashLong(34)), 79);
  EXPECT_EQ(Bucket(16, HashString("iceberg")), 1210000089 % 16);
  // A negative hash drops its sign bit, it is not negated.
  const int32_t h = HashBytes(Bytes({0x00, 0x01, 0x02, 0x03}));
  ASSERT_LT(h, 0);
  EXPECT_EQ(Bucket(1000, h), static_cast<int32_t>((static_cast<uint32_t>(h) & 0x7fffffffu) % 1000));
  EXPECT_EQ(Bucket(1, h), 0);
  for (int32_t n : {1, 2, 7, 1024}) {
    for (int32_t v = -50; v < 50; ++v) {
      const int32_t b = Bucket(n, HashInt(v));
      EXPECT_GE(b, 0);
      EXPECT_LT(b, n);
    }
  }
}

TEST(IcebergTime, HourAndDay) {
  constexpr int64_t kHour = int64_t{3600} * 1000000;
  EXPECT_EQ(HourFromMicros(0), 0);
  EXPECT_EQ(HourFromMicros(kHour - 1), 0);
  EXPECT_EQ(HourFromMicros(kHour), 1);
  EXPECT_EQ(HourFromMicros(-1), -1);  // 1969-12-31T23:59:59.999999
  EXPECT_EQ(HourFromMicros(-kHour), -1);
  EXPECT_EQ(HourFromMicros(-kHour - 1), -2);
  EXPECT_EQ(HourFromMicros(1510871468000000), 419686);  // 2017-11-16T22:31:08
  EXPECT_EQ(HourFromMicros(1510871468000000), 17486 * 24 + 22);
  EXPECT_EQ(DayFromMicros(1510871468000000), 17486);
  EXPECT_EQ(DayFromMicros(-1), -1);
  EXPECT_EQ(DayFromMicros(-24 * kHour), -1);
  EXPECT_EQ(DayFromMicros(-24 * kHour - 1), -2);
  EXPECT_EQ(Identity(int64_t{42}), 42);
}

// The log's aligned partition scheme (core/partitioning.h) is derived from
// this bucket transform: with N dividing 16 every story of partition p is in
// a bucket b with b % N == p; with N a multiple of 16, in bucket p % 16. So a
// partition's lake sink writes only its own buckets.
TEST(AlignedPartitions, OwnTheirStoryBuckets) {
  for (uint32_t n : {1u, 2u, 4u, 8u, 16u, 32u, 64u}) {
    for (uint64_t story = 0; story < 20'000; ++story) {
      const uint32_t p = PartitionOf(StoryId(story), n, PartitionScheme::kAligned);
      const int32_t bucket = Bucket(16, HashLong(static_cast<int64_t>(story)));
      if (n <= 16) {
        ASSERT_EQ(static_cast<uint32_t>(bucket) % n, p) << "story " << story << " of " << n;
      } else {
        ASSERT_EQ(p % 16, static_cast<uint32_t>(bucket)) << "story " << story << " of " << n;
      }
    }
  }
  // The legacy scheme does not align: its partition 0 of 8 spans many buckets.
  std::set<int32_t> buckets;
  for (uint64_t story = 0; story < 2'000; ++story)
    if (PartitionOf(StoryId(story), 8, PartitionScheme::kLegacy) == 0)
      buckets.insert(Bucket(16, HashLong(static_cast<int64_t>(story))));
  EXPECT_GT(buckets.size(), 2u);
}

}  // namespace
}  // namespace watershed::lake::iceberg
