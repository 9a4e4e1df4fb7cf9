// LOG_META versions and the partition scheme they fix (log_meta.h,
// docs/log_format.md): new logs are aligned with the lake's story buckets,
// v1 logs keep the legacy hash, and a LOG_META this version cannot read is a
// clear error.

#include "log/log_meta.h"

#include <gtest/gtest.h>

#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/murmur3.h"
#include "log/embedded_log.h"
#include "log/log_format.h"
#include "log/testing/embedded_log_fixture.h"

namespace watershed::log {
namespace {

using testing::AppendAndWait;
using testing::EmbeddedLogTest;
using testing::MakeEvent;
using testing::ReadAll;

// bucket[16](story) of the lake: (murmur3 of the long & INT32_MAX) % 16.
uint32_t StoryBucket(uint64_t story) {
  return (Murmur3Long(static_cast<int64_t>(story)) & std::numeric_limits<int32_t>::max()) % kStoryBuckets;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

class LogMetaTest : public EmbeddedLogTest {
 protected:
  std::string MetaPath() const { return JoinPath(dir_.Path("eu"), format::kMetaFileName); }
  // The stories of 200 events per partition, read back partition by partition.
  std::vector<std::set<uint64_t>> StoriesByPartition(EmbeddedLog& log) {
    std::vector<Event> events;
    for (uint64_t s = 0; s < 400; ++s) events.push_back(MakeEvent(1 + s * 7919, s));
    EXPECT_TRUE(AppendAndWait(log, events).ok());
    std::vector<std::set<uint64_t>> out(log.partition_count());
    for (uint32_t p = 0; p < log.partition_count(); ++p) {
      std::vector<LogRecord> got;
      EXPECT_TRUE(ReadAll(log, p, 0, &got).ok());
      for (const auto& r : got) out[p].insert(r.event.story_id.value);
    }
    return out;
  }
};

TEST_F(LogMetaTest, NewLogIsAlignedWithTheLakeBuckets) {
  constexpr uint32_t kParts = 8;
  auto log = OpenLog(Options(kParts));
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->partition_scheme(), PartitionScheme::kAligned);
  EXPECT_EQ(ReadText(MetaPath()), "watershed-log v2 partitions=8 scheme=aligned\n");
  auto stories = StoriesByPartition(*log);
  for (uint32_t p = 0; p < kParts; ++p) {
    ASSERT_FALSE(stories[p].empty()) << p;
    std::set<uint32_t> buckets;
    for (uint64_t s : stories[p]) buckets.insert(StoryBucket(s));
    // Partition p holds exactly the buckets {b : b % 8 == p}: p and p + 8.
    EXPECT_EQ(buckets, (std::set<uint32_t>{p, p + kParts})) << "partition " << p;
  }
}

TEST_F(LogMetaTest, V1LogKeepsTheLegacyMapping) {
  constexpr uint32_t kParts = 4;
  std::filesystem::create_directories(dir_.Path("eu"));
  WriteText(MetaPath(), "watershed-log v1 partitions=4\n");  // as every log before v2 has it
  for (int round = 0; round < 2; ++round) {                  // and again after a reopen
    auto log = OpenLog(Options(kParts));
    ASSERT_NE(log, nullptr);
    EXPECT_EQ(log->partition_scheme(), PartitionScheme::kLegacy);
    size_t misaligned = 0;
    const auto stories = StoriesByPartition(*log);
    for (uint32_t p = 0; p < kParts; ++p) {
      for (uint64_t s : stories[p]) {
        EXPECT_EQ(PartitionOf(StoryId(s), kParts, PartitionScheme::kLegacy), p) << s;
        if (StoryBucket(s) % kParts != p) ++misaligned;
      }
    }
    EXPECT_GT(misaligned, 0u);  // the legacy hash is not the aligned one
    log->Close();
  }
  EXPECT_EQ(ReadText(MetaPath()), "watershed-log v1 partitions=4\n");  // never rewritten
}

TEST_F(LogMetaTest, AnExistingLogNeverChangesScheme) {
  std::filesystem::create_directories(dir_.Path("eu"));
  WriteText(MetaPath(), "watershed-log v1 partitions=4\n");
  EmbeddedLogOptions o = Options(4);
  o.partition_scheme = PartitionScheme::kAligned;
  auto r = EmbeddedLog::Open(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("created with partition scheme legacy"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("log-partition-scheme=aligned"), std::string::npos) << r.status().message();
}

TEST_F(LogMetaTest, UnreadableLogMetaIsAClearError) {
  const std::pair<std::string, std::string> cases[] = {
      {"watershed-log v2 partitions=4 scheme=rendezvous\n", "unknown partition scheme 'rendezvous'"},
      {"watershed-log v3 partitions=4 scheme=aligned\n", "unknown version"},
      {"watershed-log v2 partitions=4\n", "wrong number of fields for v2"},
      {"watershed-log v2 partitions=4 scheme=aligned", "one line ending in a newline"},
      {"watershed-log v2 partitions=04 scheme=aligned\n", "partitions must be a number"},
      {"hello\n", "not a watershed log"},
  };
  std::filesystem::create_directories(dir_.Path("eu"));
  for (const auto& [text, why] : cases) {
    WriteText(MetaPath(), text);
    auto r = EmbeddedLog::Open(Options(4));
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << text;
    EXPECT_NE(r.status().message().find(why), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find("LOG_META"), std::string::npos) << r.status().message();
  }
}

TEST_F(LogMetaTest, NewLogRefusesACountTheAlignedSchemeCannotUse) {
  auto r = EmbeddedLog::Open(Options(12));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("log-partition-scheme=legacy"), std::string::npos) << r.status().message();
  EXPECT_FALSE(std::filesystem::exists(MetaPath()));  // nothing fixed by a refused open
  EmbeddedLogOptions o = Options(12);
  o.partition_scheme = PartitionScheme::kLegacy;
  auto log = OpenLog(o);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(ReadText(MetaPath()), "watershed-log v2 partitions=12 scheme=legacy\n");
}

TEST(LogMeta, RoundTripsAndIsStrict) {
  for (PartitionScheme scheme : {PartitionScheme::kLegacy, PartitionScheme::kAligned}) {
    for (uint32_t n : {1u, 8u, 4096u}) {
      const LogMeta meta{n, scheme};
      auto parsed = ParseLogMeta(EncodeLogMeta(meta));
      ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
      EXPECT_EQ(*parsed, meta);
    }
  }
  auto v1 = ParseLogMeta("watershed-log v1 partitions=8\n");
  ASSERT_TRUE(v1.ok());
  EXPECT_EQ(*v1, (LogMeta{8, PartitionScheme::kLegacy}));
  for (const char* bad : {"", "\n", "watershed-log v1 partitions=0\n", "watershed-log v1 partitions=4097\n",
                          "watershed-log v1 partitions=8 scheme=aligned\n", "watershed-log v1  partitions=8\n",
                          "watershed-log v2 partitions=8 scheme=aligned\n\n", "watershed-log v2 partitions=8 scheme=\n",
                          "watershed-log v2 scheme=aligned partitions=8\n", "watershed-log v1 partitions=-1\n"})
    EXPECT_EQ(ParseLogMeta(bad).status().code(), StatusCode::kCorruption) << bad;
}

}  // namespace
}  // namespace watershed::log
