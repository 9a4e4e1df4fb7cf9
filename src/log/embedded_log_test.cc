#include "log/embedded_log.h"

#include <gtest/gtest.h>

#include <functional>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/event_codec.h"
#include "core/fault_injection_fs.h"
#include "core/testing/temp_dir.h"
#include "core/testing/wait.h"
#include "log/log_format.h"
#include "log/testing/log_test_util.h"

namespace watershed::log {
namespace {

using ::watershed::testing::TempDir;

using testing::kT0;
using testing::MakeEvent;
using testing::AppendAndWait;


// A story id that lands in `partition` of `n`.
uint64_t StoryIn(uint32_t partition, uint32_t n, uint64_t start = 1) {
  for (uint64_t s = start;; ++s)
    if (PartitionOf(StoryId(s), n) == partition) return s;
}

// Appends and waits for the callback; *calls (if given) counts its invocations.

// Reads the partition from `from` to its current end, in small batches.
Status ReadAll(Log& log, uint32_t partition, uint64_t from, std::vector<LogRecord>* out) {
  ASSIGN_OR_RETURN(auto reader, log.NewReader(partition, LogOffset(from)));
  const uint64_t end = log.EndOffset(partition).value;
  while (reader->position().value < end) {
    size_t before = out->size();
    RETURN_IF_ERROR(reader->Read(7, out));
    if (out->size() == before) return Status::Internal("reader made no progress");
  }
  return Status::Ok();
}

std::vector<Event> EventsOf(const std::vector<LogRecord>& records) {
  std::vector<Event> events;
  for (const auto& r : records) events.push_back(r.event);
  return events;
}

// A file system that can fail Append on paths containing a substring, or
// every Sync, independently (FaultInjectionFileSystem fails both at once).
class FlakyFileSystem : public ForwardingFileSystem {
 public:
  FlakyFileSystem() : ForwardingFileSystem(FileSystem::Default()) {}
  void FailAppendsTo(std::string substr) {
    std::lock_guard lock(mu_);
    fail_append_ = std::move(substr);
  }
  void FailSyncs(bool fail) { fail_sync_ = fail; }
  // Runs on the log's writer thread just before an injected append failure.
  void OnFailedAppend(std::function<void()> hook) { on_failed_append_ = std::move(hook); }
  void RunFailedAppendHook() {
    if (on_failed_append_) on_failed_append_();
  }
  bool ShouldFailAppend(const std::string& path) {
    std::lock_guard lock(mu_);
    return !fail_append_.empty() && path.find(fail_append_) != std::string::npos;
  }
  bool ShouldFailSync() const { return fail_sync_; }

  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    return Wrap(path, base()->NewWritableFile(path));
  }
  Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path) override {
    return Wrap(path, base()->NewAppendableFile(path));
  }

 private:
  class File : public WritableFile {
   public:
    File(FlakyFileSystem* fs, std::string path, std::unique_ptr<WritableFile> base)
        : fs_(fs), path_(std::move(path)), base_(std::move(base)) {}
    Status Append(std::string_view data) override {
      if (fs_->ShouldFailAppend(path_)) {
        fs_->RunFailedAppendHook();
        return Status::IoError("write " + path_ + ": injected");
      }
      return base_->Append(data);
    }
    Status Sync() override {
      if (fs_->ShouldFailSync()) return Status::IoError("fdatasync " + path_ + ": injected EIO");
      return base_->Sync();
    }
    Status Close() override { return base_->Close(); }
    uint64_t Size() const override { return base_->Size(); }

   private:
    FlakyFileSystem* fs_;
    std::string path_;
    std::unique_ptr<WritableFile> base_;
  };
  Result<std::unique_ptr<WritableFile>> Wrap(const std::string& path, Result<std::unique_ptr<WritableFile>> f) {
    if (!f.ok()) return f.status();
    return std::unique_ptr<WritableFile>(new File(this, path, std::move(f).value()));
  }

  std::mutex mu_;
  std::function<void()> on_failed_append_;
  std::string fail_append_;
  std::atomic<bool> fail_sync_{false};
};

class EmbeddedLogTest : public ::testing::Test {
 protected:
  EmbeddedLogOptions Options(uint32_t partitions = 1) {
    EmbeddedLogOptions o;
    o.dir = dir_.Path("eu");
    o.partitions = partitions;
    o.clock = &clock_;
    return o;
  }
  std::unique_ptr<EmbeddedLog> OpenLog(const EmbeddedLogOptions& o) {
    auto r = EmbeddedLog::Open(o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : nullptr;
  }
  std::string PartitionDir(uint32_t p) const {
    char name[16];
    std::snprintf(name, sizeof name, "p%03u", p);
    return JoinPath(dir_.Path("eu"), name);
  }
  // Segment file names of the partition, sorted.
  std::vector<std::string> Segments(uint32_t p) const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(PartitionDir(p))) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }
  std::string LastSegmentPath(uint32_t p) const { return JoinPath(PartitionDir(p), Segments(p).back()); }
  static uint64_t FileSize(const std::string& path) { return std::filesystem::file_size(path); }

  TempDir dir_{"log"};
  ManualClock clock_{kT0};
};

// Record size of MakeEvent(_, seq) on disk.
size_t RecordSize(uint64_t seq) {
  return format::kRecordHeaderSize + format::kPayloadPrefixSize + kEventBinaryFixedSize +
         MakeEvent(1, seq).traceparent.size();
}

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
    for (const auto& e : events) want[PartitionOf(e.story_id, kParts)].push_back({e, clock_.NowMs()});
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
      EXPECT_EQ(PartitionOf(got[i].event.story_id, kParts), p);
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

TEST_F(EmbeddedLogTest, ReopenKeepsRecordsAndContinuesOffsets) {
  constexpr uint32_t kParts = 3;
  std::vector<std::vector<Event>> want(kParts);
  {
    auto log = OpenLog(Options(kParts));
    ASSERT_NE(log, nullptr);
    std::vector<Event> events;
    for (uint64_t s = 0; s < 30; ++s) events.push_back(MakeEvent(1 + s % 7, s));
    for (const auto& e : events) want[PartitionOf(e.story_id, kParts)].push_back(e);
    ASSERT_TRUE(AppendAndWait(*log, events).ok());
    log->Close();
  }
  auto log = OpenLog(Options(kParts));
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->recovery_report().truncated_bytes, 0u);
  for (uint32_t p = 0; p < kParts; ++p) {
    EXPECT_EQ(log->EndOffset(p).value, want[p].size());
    EXPECT_EQ(log->StartOffset(p).value, 0u);
  }
  std::vector<Event> more;
  for (uint64_t s = 30; s < 60; ++s) more.push_back(MakeEvent(1 + s % 7, s));
  for (const auto& e : more) want[PartitionOf(e.story_id, kParts)].push_back(e);
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
TEST_F(EmbeddedLogTest, AcknowledgedEventsSurvivePowerCutWithFsyncAlways) {
  constexpr uint32_t kParts = 4;
  constexpr int kThreads = 3, kBatches = 40, kPerBatch = 5;
  FaultInjectionFileSystem fs(FileSystem::Default());
  auto opts = Options(kParts);
  opts.fs = &fs;
  opts.fsync = FsyncPolicy::kAlways;
  opts.segment_bytes = 4096;  // rolling happens too
  auto log = OpenLog(opts);
  ASSERT_NE(log, nullptr);

  std::mutex mu;
  std::condition_variable cv;
  int done = 0;
  std::set<EventId> acked;
  int failed = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int b = 0; b < kBatches; ++b) {
        std::vector<Event> batch;
        for (int i = 0; i < kPerBatch; ++i) {
          Event e = MakeEvent(1 + (b * kPerBatch + i) % 11, static_cast<uint64_t>(b * kPerBatch + i));
          e.event_id = EventId::FromHiLo(t, b * kPerBatch + i);
          batch.push_back(e);
        }
        std::vector<EventId> ids;
        for (const auto& e : batch) ids.push_back(e.event_id);
        log->AppendAsync(std::move(batch), [&, ids](Status s) {
          std::lock_guard lock(mu);
          if (s.ok()) acked.insert(ids.begin(), ids.end());
          else ++failed;
          ++done;
          cv.notify_all();
        });
      }
    });
  }
  for (auto& th : threads) th.join();
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return done == kThreads * kBatches; });
  }
  ASSERT_EQ(failed, 0);
  ASSERT_EQ(acked.size(), static_cast<size_t>(kThreads * kBatches * kPerBatch));

  // Power cut with the log still open, then the process dies.
  ASSERT_TRUE(fs.DropUnsyncedData().ok());
  log.reset();

  FaultInjectionFileSystem fresh(FileSystem::Default());
  opts.fs = &fresh;
  log = OpenLog(opts);
  ASSERT_NE(log, nullptr);
  std::set<EventId> present;
  for (uint32_t p = 0; p < kParts; ++p) {
    std::vector<LogRecord> got;
    Status s = ReadAll(*log, p, 0, &got);
    ASSERT_TRUE(s.ok()) << s.ToString();
    // Per partition, each thread's events keep their submission order.
    std::map<uint64_t, uint64_t> last_seq;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].offset.value, i);
      EXPECT_TRUE(present.insert(got[i].event.event_id).second) << "duplicate " << got[i].event.event_id.ToString();
      uint64_t t = got[i].event.event_id.Hi(), seq = got[i].event.event_id.Lo();
      if (last_seq.count(t)) {
        EXPECT_GT(seq, last_seq[t]);
      }
      last_seq[t] = seq;
    }
  }
  for (const auto& id : acked) EXPECT_TRUE(present.count(id)) << "lost acknowledged event " << id.ToString();
  EXPECT_EQ(present, acked);
  log.reset();  // before `fresh`
}

// The companion that shows the test above can fail: without fsync, the
// same power cut loses acknowledged events.
TEST_F(EmbeddedLogTest, AcknowledgedEventsAreLostWithFsyncNever) {
  FaultInjectionFileSystem fs(FileSystem::Default());
  auto opts = Options(2);
  opts.fs = &fs;
  opts.fsync = FsyncPolicy::kNever;
  auto log = OpenLog(opts);
  ASSERT_NE(log, nullptr);
  std::vector<Event> events;
  for (int i = 0; i < 50; ++i) events.push_back(MakeEvent(1 + i % 5, i));
  ASSERT_TRUE(AppendAndWait(*log, events).ok());
  const uint64_t acked = log->EndOffset(0).value + log->EndOffset(1).value;
  ASSERT_EQ(acked, 50u);  // readable (and acknowledged) before any fsync

  ASSERT_TRUE(fs.DropUnsyncedData().ok());
  log.reset();
  FaultInjectionFileSystem fresh(FileSystem::Default());
  opts.fs = &fresh;
  log = OpenLog(opts);
  ASSERT_NE(log, nullptr);
  const uint64_t present = log->EndOffset(0).value + log->EndOffset(1).value;
  EXPECT_LT(present, acked);
  EXPECT_EQ(present, 0u);  // nothing was ever synced
  log.reset();  // before `fresh`
}

TEST_F(EmbeddedLogTest, WriteFailureRollsBackAndLaterAppendsSucceed) {
  FaultInjectionFileSystem fs(FileSystem::Default());
  auto opts = Options(2);
  opts.fs = &fs;
  auto log = OpenLog(opts);
  ASSERT_NE(log, nullptr);
  std::vector<Event> first;
  for (int i = 0; i < 10; ++i) first.push_back(MakeEvent(1 + i % 4, i));
  ASSERT_TRUE(AppendAndWait(*log, first).ok());
  const uint64_t end0 = log->EndOffset(0).value, end1 = log->EndOffset(1).value;
  const uint64_t size0 = FileSize(LastSegmentPath(0)), size1 = FileSize(LastSegmentPath(1));

  fs.SetFailWrites(true);  // disk full
  std::vector<Event> refused;
  for (int i = 10; i < 20; ++i) refused.push_back(MakeEvent(1 + i % 4, i));
  Status s = AppendAndWait(*log, refused);
  EXPECT_EQ(s.code(), StatusCode::kIoError) << s.ToString();
  EXPECT_EQ(log->EndOffset(0).value, end0);
  EXPECT_EQ(log->EndOffset(1).value, end1);
  EXPECT_EQ(FileSize(LastSegmentPath(0)), size0);  // nothing left behind
  EXPECT_EQ(FileSize(LastSegmentPath(1)), size1);

  fs.SetFailWrites(false);  // space freed: a write error is not sticky
  std::vector<Event> later;
  for (int i = 20; i < 30; ++i) later.push_back(MakeEvent(1 + i % 4, i));
  ASSERT_TRUE(AppendAndWait(*log, later).ok());
  std::vector<Event> want = first;
  want.insert(want.end(), later.begin(), later.end());
  std::vector<Event> got_all;
  for (uint32_t p = 0; p < 2; ++p) {
    std::vector<LogRecord> got;
    ASSERT_TRUE(ReadAll(*log, p, 0, &got).ok());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].offset.value, i);
    auto events = EventsOf(got);
    got_all.insert(got_all.end(), events.begin(), events.end());
  }
  auto by_id = [](const Event& a, const Event& b) { return a.event_id < b.event_id; };
  std::sort(want.begin(), want.end(), by_id);
  std::sort(got_all.begin(), got_all.end(), by_id);
  EXPECT_EQ(got_all, want);
}

// A write that fails in one partition after another partition's write went
// through: the rollback must leave the other partition appendable in place.
TEST_F(EmbeddedLogTest, PartialGroupWriteFailureLeavesNoHole) {
  FlakyFileSystem fs;
  auto opts = Options(2);
  opts.fs = &fs;
  opts.segment_bytes = 4096;
  const uint64_t s0 = StoryIn(0, 2), s1 = StoryIn(1, 2);
  std::vector<Event> want0;
  int seq = 0;
  {
    auto log = OpenLog(opts);
    ASSERT_NE(log, nullptr);
    // Partition 0 rolls (its active segment is then a file created by the log).
    for (int b = 0; b < 20; ++b) {
      std::vector<Event> batch;
      for (int i = 0; i < 5; ++i) batch.push_back(MakeEvent(s0, seq++));
      ASSERT_TRUE(AppendAndWait(*log, batch).ok());
      want0.insert(want0.end(), batch.begin(), batch.end());
    }
    ASSERT_GE(Segments(0).size(), 2u);
    for (int round = 0; round < 2; ++round) {
      fs.FailAppendsTo("/p001/");
      Status s = AppendAndWait(*log, {MakeEvent(s0, seq++), MakeEvent(s0, seq++), MakeEvent(s1, seq++)});
      EXPECT_EQ(s.code(), StatusCode::kIoError);
      EXPECT_EQ(log->EndOffset(0).value, want0.size());
      EXPECT_EQ(log->EndOffset(1).value, 0u);
      fs.FailAppendsTo("");
      std::vector<Event> batch = {MakeEvent(s0, seq++)};
      ASSERT_TRUE(AppendAndWait(*log, batch).ok());
      want0.insert(want0.end(), batch.begin(), batch.end());
    }
    std::vector<LogRecord> got;
    Status s = ReadAll(*log, 0, 0, &got);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(EventsOf(got), want0);
  }
  auto log = OpenLog(opts);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->recovery_report().truncated_bytes, 0u);
  std::vector<LogRecord> got;
  ASSERT_TRUE(ReadAll(*log, 0, 0, &got).ok());
  EXPECT_EQ(EventsOf(got), want0);
  EXPECT_EQ(log->EndOffset(1).value, 0u);
}

// A reader that buffered the bytes of a group which was then rolled back
// must not return them for the offsets the next group takes.
TEST_F(EmbeddedLogTest, ReaderNeverReturnsRolledBackRecords) {
  FlakyFileSystem fs;
  auto opts = Options(2);
  opts.fs = &fs;
  auto log = OpenLog(opts);
  ASSERT_NE(log, nullptr);
  const uint64_t s0 = StoryIn(0, 2), s1 = StoryIn(1, 2);
  ASSERT_TRUE(AppendAndWait(*log, {MakeEvent(s0, 1), MakeEvent(s0, 2)}).ok());
  auto reader = log->NewReader(0, LogOffset(0));
  ASSERT_TRUE(reader.ok());
  std::vector<LogRecord> early;
  // The group's p000 records are written, then its p001 write fails; read in between.
  fs.OnFailedAppend([&] { ASSERT_TRUE((*reader)->Read(100, &early).ok()); });
  fs.FailAppendsTo("/p001/");
  EXPECT_EQ(AppendAndWait(*log, {MakeEvent(s0, 100), MakeEvent(s0, 101), MakeEvent(s1, 7)}).code(),
            StatusCode::kIoError);
  fs.FailAppendsTo("");
  fs.OnFailedAppend(nullptr);
  EXPECT_EQ(EventsOf(early), (std::vector<Event>{MakeEvent(s0, 1), MakeEvent(s0, 2)}));
  const std::vector<Event> acked = {MakeEvent(s0, 200), MakeEvent(s0, 201)};
  ASSERT_TRUE(AppendAndWait(*log, acked).ok());
  std::vector<LogRecord> later;
  ASSERT_TRUE((*reader)->Read(100, &later).ok());
  EXPECT_EQ(EventsOf(later), acked);  // not the refused 100 and 101
}

TEST_F(EmbeddedLogTest, FsyncFailureMakesTheLogRefuseAppends) {
  FlakyFileSystem fs;
  auto opts = Options(1);
  opts.fs = &fs;
  opts.fsync = FsyncPolicy::kAlways;
  {
    auto log = OpenLog(opts);
    ASSERT_NE(log, nullptr);
    ASSERT_TRUE(AppendAndWait(*log, {MakeEvent(1, 0)}).ok());
    const uint64_t size = FileSize(LastSegmentPath(0));

    fs.FailSyncs(true);
    Status s = AppendAndWait(*log, {MakeEvent(1, 1)});
    EXPECT_EQ(s.code(), StatusCode::kIoError) << s.ToString();
    EXPECT_EQ(log->EndOffset(0).value, 1u);  // never readable
    EXPECT_EQ(FileSize(LastSegmentPath(0)), size);

    // Even with fsync working again, the log refuses until restart.
    fs.FailSyncs(false);
    s = AppendAndWait(*log, {MakeEvent(1, 2)});
    EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
    EXPECT_EQ(log->EndOffset(0).value, 1u);
    std::vector<LogRecord> got;
    ASSERT_TRUE(ReadAll(*log, 0, 0, &got).ok());  // what was durable stays readable
    ASSERT_EQ(got.size(), 1u);
  }
  // A restart recovers what was synced and accepts appends again.
  auto log = OpenLog(opts);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->EndOffset(0).value, 1u);
  ASSERT_TRUE(AppendAndWait(*log, {MakeEvent(1, 3)}).ok());
  std::vector<LogRecord> got;
  ASSERT_TRUE(ReadAll(*log, 0, 0, &got).ok());
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].event, MakeEvent(1, 0));
  EXPECT_EQ(got[1].event, MakeEvent(1, 3));
}

// Under kInterval the fsync runs in the background; when it fails the log
// must stop accepting appends just as under kAlways.
TEST_F(EmbeddedLogTest, BackgroundFsyncFailureMakesTheLogRefuseAppends) {
  FlakyFileSystem fs;
  auto opts = Options(1);
  opts.fs = &fs;
  opts.fsync = FsyncPolicy::kInterval;
  opts.fsync_interval_ms = 10;
  auto log = OpenLog(opts);
  ASSERT_NE(log, nullptr);
  ASSERT_TRUE(AppendAndWait(*log, {MakeEvent(1, 0)}).ok());  // acknowledged after write()
  fs.FailSyncs(true);
  clock_.AdvanceMs(1000);  // the interval sync is due, and fails
  // The failed sync runs either before this group or right after it (in the
  // same writer round, after the callback), so this may still succeed...
  AppendAndWait(*log, {MakeEvent(1, 1)}).IgnoreError();
  // ...but by the next group the log has seen the failure.
  Status s = AppendAndWait(*log, {MakeEvent(1, 2)});
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  fs.FailSyncs(false);  // not sticky in the file system; the log still refuses
  s = AppendAndWait(*log, {MakeEvent(1, 3)});
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
}

TEST_F(EmbeddedLogTest, WaitForDataWakesOnAppendAndTimesOut) {
  auto log = OpenLog(Options(2));
  ASSERT_NE(log, nullptr);
  const uint64_t s1 = StoryIn(1, 2);

  // Nothing arrives: returns after the timeout with nothing readable.
  log->WaitForData(1, LogOffset(0), std::chrono::milliseconds(20));
  EXPECT_EQ(log->EndOffset(1).value, 0u);

  std::atomic<bool> woke{false};
  std::thread waiter([&] {
    log->WaitForData(1, LogOffset(0), std::chrono::minutes(5));
    woke = true;
  });
  ASSERT_TRUE(AppendAndWait(*log, {MakeEvent(s1, 0)}).ok());
  waiter.join();  // would hang for 5 minutes without a wake-up
  EXPECT_TRUE(woke);
  EXPECT_EQ(log->EndOffset(1).value, 1u);

  // Data already there: returns at once.
  log->WaitForData(1, LogOffset(0), std::chrono::minutes(5));

  // Close wakes waiters: once the waiter sleeps in WaitForData (else Close
  // would come first and the wait return at once, proving nothing).
  std::atomic<pid_t> waiter_tid{0};
  std::atomic<bool> returned{false};
  std::thread closing_waiter([&] {
    waiter_tid = watershed::testing::CurrentThreadId();
    log->WaitForData(1, LogOffset(1), std::chrono::minutes(5));
    returned = true;
  });
  ASSERT_TRUE(watershed::testing::WaitUntil(
      [&] { return waiter_tid.load() != 0 && watershed::testing::ThreadIsAsleep(waiter_tid.load()); }));
  EXPECT_FALSE(returned.load());
  log->Close();
  closing_waiter.join();
  EXPECT_EQ(log->EndOffset(1).value, 1u);
}

TEST_F(EmbeddedLogTest, NewReaderRejectsBadOffsets) {
  auto log = OpenLog(Options(2));
  ASSERT_NE(log, nullptr);
  ASSERT_TRUE(AppendAndWait(*log, {MakeEvent(StoryIn(0, 2), 0)}).ok());
  auto beyond = log->NewReader(0, LogOffset(2));
  ASSERT_FALSE(beyond.ok());
  EXPECT_EQ(beyond.status().code(), StatusCode::kInvalidArgument);
  auto no_partition = log->NewReader(2, LogOffset(0));
  ASSERT_FALSE(no_partition.ok());
  EXPECT_EQ(no_partition.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(log->NewReader(0, LogOffset(1)).ok());
}

TEST_F(EmbeddedLogTest, CorruptRecordInSealedSegmentIsReportedNotTruncated) {
  auto opts = Options();
  opts.segment_bytes = 4096;
  {
    auto log = OpenLog(opts);
    ASSERT_NE(log, nullptr);
    for (int i = 0; i < 300; i += 10) {
      std::vector<Event> batch;
      for (int j = i; j < i + 10; ++j) batch.push_back(MakeEvent(1, j));
      ASSERT_TRUE(AppendAndWait(*log, batch).ok());
    }
  }
  auto names = Segments(0);
  ASSERT_GE(names.size(), 3u);
  const std::string middle = JoinPath(PartitionDir(0), names[1]);
  const uint64_t base = std::stoull(names[1].substr(0, 20));
  const uint64_t size = FileSize(middle);
  {
    // Flip a byte in the payload of the middle segment's first record.
    std::fstream f(middle, std::ios::binary | std::ios::in | std::ios::out);
    f.seekg(20);
    char c = static_cast<char>(f.get() ^ 0x5a);
    f.seekp(20);
    f.put(c);
  }
  auto log = OpenLog(opts);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->recovery_report().truncated_bytes, 0u);  // only the last segment is scanned
  EXPECT_EQ(FileSize(middle), size);
  EXPECT_EQ(log->EndOffset(0).value, 300u);

  // Reading up to the bad record works; the bad record is kCorruption.
  auto r = log->NewReader(0, LogOffset(0));
  ASSERT_TRUE(r.ok());
  std::vector<LogRecord> got;
  Status s = r.value()->Read(1000, &got);
  EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.ToString();
  EXPECT_EQ(got.size(), base);
  EXPECT_EQ(r.value()->position().value, base);
  // The reader does not skip it: retrying fails the same way.
  got.clear();
  EXPECT_EQ(r.value()->Read(1000, &got).code(), StatusCode::kCorruption);
  EXPECT_TRUE(got.empty());
  // Later records of the same segment cannot be reached (positioning scans
  // from the segment's start); the next segment is intact.
  std::vector<LogRecord> rest;
  EXPECT_EQ(ReadAll(*log, 0, base + 1, &rest).code(), StatusCode::kCorruption);
  const uint64_t next_base = std::stoull(names[2].substr(0, 20));
  rest.clear();
  ASSERT_TRUE(ReadAll(*log, 0, next_base, &rest).ok());
  EXPECT_EQ(rest.size(), 300 - next_base);
  EXPECT_EQ(rest.front().event, MakeEvent(1, next_base));
}

}  // namespace
}  // namespace watershed::log
