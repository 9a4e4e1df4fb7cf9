#include "log/embedded_log.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "core/fault_injection_fs.h"
#include "core/testing/wait.h"
#include "log/testing/embedded_log_fixture.h"

namespace watershed::log {
namespace {

using testing::AppendAndWait;
using testing::EmbeddedLogTest;
using testing::EventsOf;
using testing::MakeEvent;
using testing::ReadAll;
using testing::StoryIn;

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

// Appends from 3 threads with fsync=always, cuts the power, reopens: every
// acknowledged event is there, once, in order.
void ExpectPowerCutKeepsAcknowledged(EmbeddedLogOptions opts) {
  constexpr uint32_t kParts = 4;
  constexpr int kThreads = 3, kBatches = 40, kPerBatch = 5;
  FaultInjectionFileSystem fs(FileSystem::Default());
  opts.partitions = kParts;
  opts.fs = &fs;
  opts.fsync = FsyncPolicy::kAlways;
  opts.segment_bytes = 4096;  // rolling happens too
  auto opened = EmbeddedLog::Open(opts);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  auto log = std::move(opened).value();

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
  opened = EmbeddedLog::Open(opts);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  log = std::move(opened).value();
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

TEST_F(EmbeddedLogTest, AcknowledgedEventsSurvivePowerCutWithFsyncAlways) {
  ExpectPowerCutKeepsAcknowledged(Options());
}

// The same with sealed segments (encryption = on): key files are durable
// before their segments' records.
TEST_F(EmbeddedLogTest, AcknowledgedEventsSurvivePowerCutWithFsyncAlwaysEncrypted) {
  EncryptWith("eu");
  ExpectPowerCutKeepsAcknowledged(Options());
  // Every segment left is sealed and has its key file.
  for (uint32_t p = 0; p < 4; ++p)
    for (const std::string& name : Segments(p))
      if (name.ends_with(".seg")) {
        EXPECT_TRUE(std::filesystem::exists(JoinPath(PartitionDir(p), name + ".key"))) << name;
      }
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
    EXPECT_EQ(log->sync_failures(), 0u);

    fs.FailSyncs(true);
    Status s = AppendAndWait(*log, {MakeEvent(1, 1)});
    EXPECT_EQ(s.code(), StatusCode::kIoError) << s.ToString();
    EXPECT_EQ(log->sync_failures(), 1u);     // watershed_log_fsync_failures_total
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
  EXPECT_GE(log->sync_failures(), 1u);
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
