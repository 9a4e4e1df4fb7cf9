#include "log/embedded_log.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "log/log_format.h"
#include "log/testing/embedded_log_fixture.h"

namespace watershed::log {
namespace {

using testing::AppendAndWait;
using testing::EmbeddedLogTest;
using testing::EventsOf;
using testing::kT0;
using testing::MakeEvent;
using testing::ReadAll;
using testing::RecordSize;
using testing::StoryIn;

TEST_F(EmbeddedLogTest, AppendAndReadAcrossPartitions) {
  constexpr uint32_t kParts = 4;
  auto log = OpenLog(Options(kParts));
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->partition_count(), kParts);
  for (uint32_t p = 0; p < kParts; ++p) EXPECT_EQ(log->EndOffset(p).value, 0u);

  // Expected per partition: (event, append time).
  std::vector<std::vector<std::pair<Event, int64_t>>> want(kParts);
  std::vector<std::shared_ptr<std::atomic<int>>> calls;
  uint64_t seq = 0;
  for (int batch = 0; batch < 5; ++batch) {
    std::vector<Event> events;
    for (int i = 0; i < 20; ++i, ++seq) events.push_back(MakeEvent(1 + seq % 13, seq));
    for (const auto& e : events)
      want[PartitionOf(e.story_id, kParts, PartitionScheme::kAligned)].push_back({e, clock_.NowMs()});
    calls.push_back(std::make_shared<std::atomic<int>>(0));
    ASSERT_TRUE(AppendAndWait(*log, events, calls.back()).ok());
    clock_.AdvanceMs(1000);
  }

  for (uint32_t p = 0; p < kParts; ++p) {
    SCOPED_TRACE("partition " + std::to_string(p));
    ASSERT_FALSE(want[p].empty());  // 13 stories spread over every partition
    EXPECT_EQ(log->EndOffset(p).value, want[p].size());
    std::vector<LogRecord> got;
    ASSERT_TRUE(ReadAll(*log, p, 0, &got).ok());
    ASSERT_EQ(got.size(), want[p].size());
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].offset.value, i);
      EXPECT_EQ(got[i].event, want[p][i].first);
      EXPECT_EQ(got[i].append_time.value, want[p][i].second);
      EXPECT_EQ(PartitionOf(got[i].event.story_id, kParts, PartitionScheme::kAligned), p);
    }
    // From the middle.
    const uint64_t mid = want[p].size() / 2;
    std::vector<LogRecord> tail;
    ASSERT_TRUE(ReadAll(*log, p, mid, &tail).ok());
    ASSERT_EQ(tail.size(), want[p].size() - mid);
    EXPECT_EQ(tail.front().offset.value, mid);
    for (size_t i = 0; i < tail.size(); ++i) EXPECT_EQ(tail[i].event, want[p][mid + i].first);
    // At the end: nothing to read, not an error.
    auto at_end = log->NewReader(p, log->EndOffset(p));
    ASSERT_TRUE(at_end.ok());
    std::vector<LogRecord> none;
    EXPECT_TRUE(at_end.value()->Read(100, &none).ok());
    EXPECT_TRUE(none.empty());
  }
  log->Close();
  for (const auto& c : calls) EXPECT_EQ(c->load(), 1);
  // After Close, appends are refused with kUnavailable.
  EXPECT_EQ(AppendAndWait(*log, {MakeEvent(1, 999)}).code(), StatusCode::kUnavailable);
}

TEST_F(EmbeddedLogTest, EmptyAppendIsAcknowledged) {
  auto log = OpenLog(Options(2));
  ASSERT_NE(log, nullptr);
  EXPECT_TRUE(AppendAndWait(*log, {}).ok());
  EXPECT_EQ(log->EndOffset(0).value + log->EndOffset(1).value, 0u);
}

TEST_F(EmbeddedLogTest, OpenRefusesTinySegmentsAndAChangedPartitionCount) {
  auto tiny = Options(2);
  tiny.segment_bytes = 0;  // would roll on every group and confuse retention
  EXPECT_EQ(EmbeddedLog::Open(tiny).status().code(), StatusCode::kInvalidArgument);
  {
    auto log = OpenLog(Options(2));
    ASSERT_NE(log, nullptr);
    ASSERT_TRUE(AppendAndWait(*log, {MakeEvent(StoryIn(1, 2), 1)}).ok());
  }
  // Another partition count would send stories to other partitions.
  auto changed = EmbeddedLog::Open(Options(4));
  ASSERT_FALSE(changed.ok());
  EXPECT_EQ(changed.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(changed.status().message().find("partitions=2"), std::string::npos) << changed.status().ToString();
  auto same = OpenLog(Options(2));
  ASSERT_NE(same, nullptr);
  EXPECT_EQ(same->EndOffset(1).value, 1u);
}

// Also a legacy-scheme log with a partition count the aligned scheme refuses.
TEST_F(EmbeddedLogTest, ReopenKeepsRecordsAndContinuesOffsets) {
  constexpr uint32_t kParts = 3;
  EmbeddedLogOptions options = Options(kParts);
  options.partition_scheme = PartitionScheme::kLegacy;
  std::vector<std::vector<Event>> want(kParts);
  {
    auto log = OpenLog(options);
    ASSERT_NE(log, nullptr);
    std::vector<Event> events;
    for (uint64_t s = 0; s < 30; ++s) events.push_back(MakeEvent(1 + s % 7, s));
    for (const auto& e : events) want[PartitionOf(e.story_id, kParts, PartitionScheme::kLegacy)].push_back(e);
    ASSERT_TRUE(AppendAndWait(*log, events).ok());
    log->Close();
  }
  auto log = OpenLog(Options(kParts));  // scheme unset: the log keeps its own
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->partition_scheme(), PartitionScheme::kLegacy);
  EXPECT_EQ(log->recovery_report().truncated_bytes, 0u);
  for (uint32_t p = 0; p < kParts; ++p) {
    EXPECT_EQ(log->EndOffset(p).value, want[p].size());
    EXPECT_EQ(log->StartOffset(p).value, 0u);
  }
  std::vector<Event> more;
  for (uint64_t s = 30; s < 60; ++s) more.push_back(MakeEvent(1 + s % 7, s));
  for (const auto& e : more) want[PartitionOf(e.story_id, kParts, PartitionScheme::kLegacy)].push_back(e);
  ASSERT_TRUE(AppendAndWait(*log, more).ok());
  for (uint32_t p = 0; p < kParts; ++p) {
    std::vector<LogRecord> got;
    ASSERT_TRUE(ReadAll(*log, p, 0, &got).ok());
    EXPECT_EQ(EventsOf(got), want[p]);
    for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].offset.value, i);
  }
}

// Append times are monotonic per log, also across a restart whose clock is
// behind the last record's append time (NTP step, another host).
TEST_F(EmbeddedLogTest, AppendTimeStaysMonotonicAcrossReopen) {
  {
    auto log = OpenLog(Options());
    ASSERT_NE(log, nullptr);
    ASSERT_TRUE(AppendAndWait(*log, {MakeEvent(1, 1)}).ok());
    clock_.AdvanceMs(10'000);
    ASSERT_TRUE(AppendAndWait(*log, {MakeEvent(1, 2)}).ok());
  }
  clock_.SetMs(kT0 + 5'000);  // behind the last record (kT0 + 10'000)
  auto log = OpenLog(Options());
  ASSERT_NE(log, nullptr);
  ASSERT_TRUE(AppendAndWait(*log, {MakeEvent(1, 3)}).ok());
  std::vector<LogRecord> got;
  ASSERT_TRUE(ReadAll(*log, 0, 0, &got).ok());
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[1].append_time.value, kT0 + 10'000);
  EXPECT_GE(got[2].append_time, got[1].append_time);
}

class TornTailTest : public EmbeddedLogTest {
 protected:
  // Writes events 0..n-1 to partition 0 and closes the log.
  void WriteAndClose(int n) {
    auto log = OpenLog(Options());
    ASSERT_NE(log, nullptr);
    for (int i = 0; i < n; ++i) ASSERT_TRUE(AppendAndWait(*log, {MakeEvent(1, i)}).ok());
  }
  // Reopens; checks the first `intact` events survive and appends work.
  void ExpectRecovered(int intact, uint64_t truncated) {
    auto log = OpenLog(Options());
    ASSERT_NE(log, nullptr);
    EXPECT_EQ(log->recovery_report().truncated_bytes, truncated);
    EXPECT_EQ(log->EndOffset(0).value, static_cast<uint64_t>(intact));
    ASSERT_TRUE(AppendAndWait(*log, {MakeEvent(1, 100)}).ok());
    std::vector<LogRecord> got;
    ASSERT_TRUE(ReadAll(*log, 0, 0, &got).ok());
    ASSERT_EQ(got.size(), static_cast<size_t>(intact + 1));
    for (int i = 0; i < intact; ++i) EXPECT_EQ(got[i].event, MakeEvent(1, i));
    EXPECT_EQ(got.back().offset.value, static_cast<uint64_t>(intact));
    EXPECT_EQ(got.back().event, MakeEvent(1, 100));
  }
};

TEST_F(TornTailTest, GarbageAfterLastRecordIsTruncated) {
  WriteAndClose(10);
  const std::string path = LastSegmentPath(0);
  const uint64_t size = FileSize(path);
  {
    std::ofstream f(path, std::ios::binary | std::ios::app);
    f << std::string(37, '\xab');
  }
  ExpectRecovered(10, 37);
  // The garbage is gone from disk; the new record follows the intact ones.
  EXPECT_EQ(FileSize(path), size + RecordSize(100));
}

TEST_F(TornTailTest, HalfWrittenLastRecordIsTruncated) {
  WriteAndClose(10);
  const std::string path = LastSegmentPath(0);
  const uint64_t last = RecordSize(9);
  std::filesystem::resize_file(path, FileSize(path) - last / 2);
  ExpectRecovered(9, last - last / 2);
}

TEST_F(TornTailTest, HalfWrittenHeaderIsTruncated) {
  WriteAndClose(3);
  const std::string path = LastSegmentPath(0);
  std::filesystem::resize_file(path, FileSize(path) - RecordSize(2) + 5);  // 5 of 8 header bytes remain
  ExpectRecovered(2, 5);
}

TEST_F(TornTailTest, ChecksumMismatchInLastRecordTruncatesFromIt) {
  WriteAndClose(10);
  const std::string path = LastSegmentPath(0);
  const uint64_t size = FileSize(path);
  {
    std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
    f.seekg(static_cast<std::streamoff>(size - 3));  // inside the last record's payload
    char c = 0;
    f.read(&c, 1);
    f.seekp(static_cast<std::streamoff>(size - 3));
    c = static_cast<char>(c ^ 0x10);
    f.write(&c, 1);
  }
  ExpectRecovered(9, RecordSize(9));
}

// Damage in the middle of the last segment is not a torn tail: truncating
// there would silently drop the acknowledged records after it.
TEST_F(TornTailTest, DamageBeforeValidRecordsIsRefusedUnlessRepairing) {
  WriteAndClose(10);
  const std::string path = LastSegmentPath(0);
  const uint64_t size = FileSize(path);
  const uint64_t damaged_at = RecordSize(0) + RecordSize(1) + RecordSize(2) + 20;  // inside the fourth record
  {
    std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(static_cast<std::streamoff>(damaged_at));
    f.put('\xff');
  }
  auto refused = EmbeddedLog::Open(Options());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kCorruption);
  EXPECT_NE(refused.status().message().find("followed by 6 valid records"), std::string::npos)
      << refused.status().ToString();
  EXPECT_EQ(FileSize(path), size) << "nothing truncated by a refused open";

  auto opts = Options();
  opts.repair = true;
  auto repaired = OpenLog(opts);
  ASSERT_NE(repaired, nullptr);
  EXPECT_EQ(repaired->recovery_report().repaired_records, 6u);
  EXPECT_EQ(repaired->EndOffset(0).value, 3u);
}

TEST_F(TornTailTest, EmptyLogWithGarbageOnlyIsTruncated) {
  WriteAndClose(0);
  const std::string path = LastSegmentPath(0);
  EXPECT_EQ(FileSize(path), 0u);
  {
    std::ofstream f(path, std::ios::binary | std::ios::app);
    f << std::string(3, '\0');
  }
  ExpectRecovered(0, 3);
}

TEST_F(EmbeddedLogTest, SegmentsRollAndReadAcrossBoundaries) {
  auto opts = Options();
  opts.segment_bytes = 4096;
  constexpr int kEvents = 600;
  {
    auto log = OpenLog(opts);
    ASSERT_NE(log, nullptr);
    for (int i = 0; i < kEvents; i += 6) {
      std::vector<Event> batch;
      for (int j = i; j < i + 6; ++j) batch.push_back(MakeEvent(1, j));
      ASSERT_TRUE(AppendAndWait(*log, batch).ok());
    }
    EXPECT_EQ(log->EndOffset(0).value, static_cast<uint64_t>(kEvents));
  }
  // ~75 bytes a record: 600 records are over 40 KiB, ten or more segments.
  auto names = Segments(0);
  ASSERT_GE(names.size(), 10u);
  EXPECT_EQ(names.front(), "00000000000000000000.seg");
  std::vector<uint64_t> bases;
  for (const auto& n : names) {
    ASSERT_EQ(n.size(), 24u) << n;
    EXPECT_TRUE(n.ends_with(".seg")) << n;
    EXPECT_TRUE(std::all_of(n.begin(), n.begin() + 20, [](char c) { return c >= '0' && c <= '9'; })) << n;
    bases.push_back(std::stoull(n.substr(0, 20)));
  }
  // Sealed segments end at or just past segment_bytes (rolled before a write).
  for (size_t i = 0; i + 1 < names.size(); ++i) {
    uint64_t size = FileSize(JoinPath(PartitionDir(0), names[i]));
    EXPECT_GE(size, 4096u) << names[i];
    EXPECT_LT(size, 4096u + 6 * RecordSize(0)) << names[i];
  }

  auto log = OpenLog(opts);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->EndOffset(0).value, static_cast<uint64_t>(kEvents));
  std::vector<LogRecord> got;
  ASSERT_TRUE(ReadAll(*log, 0, 0, &got).ok());
  ASSERT_EQ(got.size(), static_cast<size_t>(kEvents));
  for (int i = 0; i < kEvents; ++i) {
    EXPECT_EQ(got[i].offset.value, static_cast<uint64_t>(i));
    EXPECT_EQ(got[i].event, MakeEvent(1, i));
  }
  // Each segment is named by the offset of its first record: a reader
  // starting exactly at a base, and one just before it, see the right events.
  for (uint64_t base : bases) {
    for (uint64_t from : {base, base == 0 ? 0 : base - 1}) {
      auto r = log->NewReader(0, LogOffset(from));
      ASSERT_TRUE(r.ok());
      std::vector<LogRecord> two;
      ASSERT_TRUE(r.value()->Read(2, &two).ok());
      ASSERT_EQ(two.size(), 2u);
      EXPECT_EQ(two[0].event, MakeEvent(1, from));
      EXPECT_EQ(two[1].event, MakeEvent(1, from + 1));
    }
  }
}

// A consumer tailing the active segment keeps reading after the log rolls
// to a new segment under it.
TEST_F(EmbeddedLogTest, TailingReaderFollowsSegmentRoll) {
  auto opts = Options();
  opts.segment_bytes = 4096;
  auto log = OpenLog(opts);
  ASSERT_NE(log, nullptr);
  auto reader = log->NewReader(0, LogOffset(0));
  ASSERT_TRUE(reader.ok());
  std::vector<LogRecord> got;
  int next = 0;
  for (int round = 0; round < 30; ++round) {
    std::vector<Event> batch;
    for (int j = 0; j < 10; ++j) batch.push_back(MakeEvent(1, next++));
    ASSERT_TRUE(AppendAndWait(*log, batch).ok());
    Status s = reader.value()->Read(1000, &got);
    ASSERT_TRUE(s.ok()) << "round " << round << ": " << s.ToString();
    ASSERT_EQ(got.size(), static_cast<size_t>(next));
  }
  EXPECT_GE(Segments(0).size(), 5u);
  for (int i = 0; i < next; ++i) EXPECT_EQ(got[i].event, MakeEvent(1, i));
}

class RetentionTest : public EmbeddedLogTest {
 protected:
  // Appends events [from, to) to partition 0 in batches of 5.
  void Append(EmbeddedLog& log, int from, int to) {
    for (int i = from; i < to; i += 5) {
      std::vector<Event> batch;
      for (int j = i; j < std::min(i + 5, to); ++j) batch.push_back(MakeEvent(1, j));
      ASSERT_TRUE(AppendAndWait(log, batch).ok());
      clock_.AdvanceMs(10);
    }
  }
  std::vector<uint64_t> Bases() const {
    std::vector<uint64_t> bases;
    for (const auto& n : Segments(0)) bases.push_back(std::stoull(n.substr(0, 20)));
    return bases;
  }
  // Largest segment base <= offset.
  static uint64_t BaseOf(const std::vector<uint64_t>& bases, uint64_t offset) {
    return *std::prev(std::upper_bound(bases.begin(), bases.end(), offset));
  }
  void ExpectReadableFrom(EmbeddedLog& log, uint64_t from) {
    std::vector<LogRecord> got;
    Status s = ReadAll(log, 0, from, &got);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_EQ(got.size(), log.EndOffset(0).value - from);
    for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].event, MakeEvent(1, from + i));
  }
};

TEST_F(RetentionTest, ByAgeDeletesOnlySealedSegmentsBelowTheFloor) {
  auto opts = Options();
  opts.segment_bytes = 4096;
  opts.retention_ms = 3'600'000;
  auto log = OpenLog(opts);
  ASSERT_NE(log, nullptr);
  Append(*log, 0, 300);  // old records
  clock_.AdvanceMs(2 * 3'600'000);
  const uint64_t first_new = 300;
  Append(*log, 300, 600);  // recent records
  const auto bases = Bases();
  ASSERT_GE(bases.size(), 8u);

  // No floor: the processor has checkpointed nothing, nothing may go.
  ASSERT_TRUE(log->EnforceRetention().ok());
  EXPECT_EQ(Bases(), bases);
  EXPECT_EQ(log->StartOffset(0).value, 0u);

  // Floor at the end: old sealed segments go. The segment holding the last
  // old record stays: the one after it starts with a recent record, so its
  // own records cannot be proven old.
  log->SetRetentionFloor(0, log->EndOffset(0));
  ASSERT_TRUE(log->EnforceRetention().ok());
  const uint64_t start = BaseOf(bases, first_new - 1);
  ASSERT_GT(start, 0u);
  EXPECT_EQ(log->StartOffset(0).value, start);
  EXPECT_EQ(Bases().front(), start);
  EXPECT_EQ(Bases().back(), bases.back());
  ExpectReadableFrom(*log, start);

  // Everything is old now; the active segment still stays.
  clock_.AdvanceMs(2 * 3'600'000);
  ASSERT_TRUE(log->EnforceRetention().ok());
  EXPECT_EQ(Bases(), std::vector<uint64_t>{bases.back()});
  EXPECT_EQ(log->StartOffset(0).value, bases.back());
  ExpectReadableFrom(*log, bases.back());
  // And the log still appends and reopens.
  Append(*log, 600, 610);
  log.reset();
  log = OpenLog(opts);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->StartOffset(0).value, bases.back());
  EXPECT_EQ(log->EndOffset(0).value, 610u);
  ExpectReadableFrom(*log, bases.back());
}

TEST_F(RetentionTest, FloorInTheMiddleKeepsItsSegment) {
  auto opts = Options();
  opts.segment_bytes = 4096;
  opts.retention_ms = 1000;
  auto log = OpenLog(opts);
  ASSERT_NE(log, nullptr);
  Append(*log, 0, 600);
  clock_.AdvanceMs(1'000'000);
  const auto bases = Bases();
  ASSERT_GE(bases.size(), 8u);
  const uint64_t floor = bases[4] + 3;  // inside the fifth segment
  log->SetRetentionFloor(0, LogOffset(floor));
  ASSERT_TRUE(log->EnforceRetention().ok());
  EXPECT_EQ(log->StartOffset(0).value, bases[4]);
  EXPECT_EQ(Bases(), std::vector<uint64_t>(bases.begin() + 4, bases.end()));
  ExpectReadableFrom(*log, floor);
  ExpectReadableFrom(*log, bases[4]);

  // Below the start: kNotFound. Beyond the end: kInvalidArgument.
  auto gone = log->NewReader(0, LogOffset(bases[4] - 1));
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.status().code(), StatusCode::kNotFound);
  auto beyond = log->NewReader(0, LogOffset(log->EndOffset(0).value + 1));
  ASSERT_FALSE(beyond.ok());
  EXPECT_EQ(beyond.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(RetentionTest, BySizeKeepsAtMostTheLimitAboveTheFloor) {
  auto opts = Options();
  opts.segment_bytes = 4096;
  opts.retention_ms = int64_t{1} << 50;  // age never applies
  opts.retention_bytes = 3 * 4096 + 2048;
  auto log = OpenLog(opts);
  ASSERT_NE(log, nullptr);
  Append(*log, 0, 600);
  const auto bases = Bases();
  ASSERT_GE(bases.size(), 8u);

  // Too big, but no floor: nothing goes.
  ASSERT_TRUE(log->EnforceRetention().ok());
  EXPECT_EQ(Bases(), bases);

  // A low floor limits deletion even though the log stays too big.
  log->SetRetentionFloor(0, LogOffset(bases[2]));
  ASSERT_TRUE(log->EnforceRetention().ok());
  EXPECT_EQ(Bases(), std::vector<uint64_t>(bases.begin() + 2, bases.end()));

  // Floor at the end: the oldest go until the total fits.
  std::map<uint64_t, uint64_t> size_of;  // base -> file size
  for (const auto& n : Segments(0)) size_of[std::stoull(n.substr(0, 20))] = FileSize(JoinPath(PartitionDir(0), n));
  log->SetRetentionFloor(0, log->EndOffset(0));
  ASSERT_TRUE(log->EnforceRetention().ok());
  auto left = Bases();
  ASSERT_GT(left.size(), 1u);
  ASSERT_LT(left.size(), bases.size() - 2);
  uint64_t total = 0;
  for (uint64_t b : left) total += size_of[b];
  EXPECT_LE(total, opts.retention_bytes);
  // Deleting one segment fewer would not have fit.
  auto first_kept = std::find(bases.begin(), bases.end(), left.front());
  ASSERT_NE(first_kept, bases.begin());
  EXPECT_GT(total + size_of[*std::prev(first_kept)], opts.retention_bytes);
  EXPECT_EQ(log->StartOffset(0).value, left.front());
  ExpectReadableFrom(*log, left.front());
}

// The durability contract under kAlways: an acknowledged event survives a
// power cut. Appends come from several threads so groups mix batches.

}  // namespace
}  // namespace watershed::log
