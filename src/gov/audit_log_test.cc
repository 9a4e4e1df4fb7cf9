#include "gov/audit_log.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "core/fault_injection_fs.h"
#include "core/testing/temp_dir.h"
#include "lake/iceberg_commit.h"
#include "lake/testing/duckdb_tool.h"

namespace watershed::gov {
namespace {

AuditRecord Rec(int64_t t, uint64_t user, const std::string& verdict, int64_t rows = 1) {
  AuditRecord r;
  r.time_us = t;
  r.user = user;
  r.roles = "analyst";
  r.region = "eu";
  r.interface = "http";
  r.sql = "SELECT count(*) FROM events -- " + std::to_string(t);
  r.tables = "eu.events";
  r.rows = rows;
  r.verdict = verdict;
  r.reason = verdict == "allowed" ? "" : "forbidden: table 'eu.events' rule 'x': no";
  r.duration_ms = 3;
  return r;
}

// Three records, the second's payload flipped: a CRC mismatch with a whole record after it (not a torn tail).
std::string CorruptInTheMiddle() {
  std::string bytes = EncodeAuditRecord(Rec(1, 1, "allowed"));
  const size_t second = bytes.size();
  bytes += EncodeAuditRecord(Rec(2, 1, "allowed")) + EncodeAuditRecord(Rec(3, 1, "allowed"));
  bytes[second + 10] ^= 1;
  return bytes;
}

class AuditLogTest : public ::testing::Test {
 protected:
  AuditLogOptions Options() { return {dir_.path() + "/audit", dir_.path() + "/lake/eu/audit", 1000, 60'000}; }
  std::vector<AuditRecord> All(const AuditFilter& f = {}) {
    auto r = ReadAudit(fs_, Options().dir, Options().table_location, f);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<AuditRecord>{};
  }
  // File `kept` of the log's directory holds `bytes`, and the trail is the one record at `time`.
  void ExpectKeptAndOnly(const std::string& kept, const std::string& bytes, int64_t time) {
    auto kept_bytes = ReadWholeFile(fs_, Options().dir + "/" + kept);
    ASSERT_TRUE(kept_bytes.ok()) << kept;
    EXPECT_EQ(*kept_bytes, bytes);
    const auto all = All();
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0].time_us, time);
  }
  testing::TempDir dir_{"gov_audit"};
  FileSystem* fs_ = FileSystem::Default();
};

TEST_F(AuditLogTest, RecordsAreReadBackFromTheTableAndTheLocalLogWithFilters) {
  auto log = AuditLog::Open(fs_, Options());
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE((*log)->Append(Rec(100, 1, "allowed", 5)).ok());
  ASSERT_TRUE((*log)->Append(Rec(200, 2, "refused", 0)).ok());
  ASSERT_TRUE((*log)->Append(Rec(300, 1, "failed", 0)).ok());
  EXPECT_FALSE((*log)->FlushDue(300));
  ASSERT_TRUE((*log)->Flush().ok());
  EXPECT_FALSE(fs_->FileExists(Options().dir + "/current.log"));
  ASSERT_TRUE((*log)->Append(Rec(400, 2, "allowed", 7)).ok());  // not flushed yet: still read
  const std::vector<AuditRecord> all = All();
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0], Rec(100, 1, "allowed", 5));
  EXPECT_EQ(all[3], Rec(400, 2, "allowed", 7));
  AuditFilter by_user;
  by_user.user = 2;
  EXPECT_EQ(All(by_user).size(), 2u);
  AuditFilter refused;
  refused.verdict = "refused";
  ASSERT_EQ(All(refused).size(), 1u);
  EXPECT_EQ(All(refused)[0].time_us, 200);
  AuditFilter since;
  since.since_us = 250;
  EXPECT_EQ(All(since).size(), 2u);
  // The same rows through DuckDB, reading the Iceberg table's Parquet files.
  const auto lines = lake::testing::RunDuckDb(
      "SELECT count(*) AS n, sum(\"rows\") AS r, min(verdict) AS v, max(\"user\") AS u, min(\"time\") AS t FROM "
      "read_parquet('" +
      Options().table_location + "/data/*.parquet')");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("\"n\":3"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("\"r\":5"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("\"v\":\"allowed\""), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("\"u\":2"), std::string::npos) << lines[0];
}

TEST_F(AuditLogTest, FlushIsDueByRowsOrAge) {
  AuditLogOptions o = Options();
  o.flush_rows = 2;
  o.flush_ms = 1000;
  auto log = AuditLog::Open(fs_, o);
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE((*log)->Append(Rec(1, 1, "allowed")).ok());
  const int64_t now =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  EXPECT_FALSE((*log)->FlushDue(now));
  EXPECT_TRUE((*log)->FlushDue(now + 2'000'000));  // older than flush-seconds
  ASSERT_TRUE((*log)->Append(Rec(2, 1, "allowed")).ok());
  EXPECT_TRUE((*log)->FlushDue(now));
}

TEST_F(AuditLogTest, ATornTailIsCutBeforeTheNextAppend) {
  auto log = AuditLog::Open(fs_, Options());
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE((*log)->Append(Rec(1, 1, "allowed")).ok());
  // A crash mid-append: half a record at the end (its query got no answer).
  const std::string half = EncodeAuditRecord(Rec(2, 1, "allowed")).substr(0, 20);
  {
    auto f = fs_->NewAppendableFile(Options().dir + "/current.log");
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Append(half).ok());
    ASSERT_TRUE((*f)->Close().ok());
  }
  auto reopened = AuditLog::Open(fs_, Options());  // a restarted process
  ASSERT_TRUE(reopened.ok());
  ASSERT_TRUE((*reopened)->Append(Rec(3, 1, "allowed")).ok());
  const auto all = All();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1].time_us, 3);
}

TEST_F(AuditLogTest, AFlushCutShortIsFinishedOnceByTheNext) {
  auto log = AuditLog::Open(fs_, Options());
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE((*log)->Append(Rec(1, 1, "allowed")).ok());
  ASSERT_TRUE((*log)->Append(Rec(2, 1, "allowed")).ok());
  ASSERT_TRUE((*log)->Flush().ok());
  // A crash after the commit and before the sealed file was removed: the file is back (as it was).
  const std::string sealed_bytes = EncodeAuditRecord(Rec(1, 1, "allowed")) + EncodeAuditRecord(Rec(2, 1, "allowed"));
  auto table = lake::IcebergTable::Load(fs_, Options().table_location);
  ASSERT_TRUE(table.ok());
  std::string commit;
  for (const auto& s : table->metadata().snapshots) commit = s.summary.at(lake::kCommitIdKey);
  ASSERT_EQ(commit.rfind("audit-sealed-", 0), 0u) << commit;
  const std::string name = commit.substr(6);
  ASSERT_TRUE(WriteFileAtomically(fs_, Options().dir + "/" + name, sealed_bytes).ok());
  EXPECT_EQ(All().size(), 2u);  // read once, from the table
  // A sealed file whose commit never happened: flushed by the next Flush.
  ASSERT_TRUE(WriteFileAtomically(fs_, Options().dir + "/sealed-00000000000000000099-aaaaaaaa.log",
                                  EncodeAuditRecord(Rec(3, 1, "allowed")))
                  .ok());
  EXPECT_EQ(All().size(), 3u);
  ASSERT_TRUE((*log)->Flush().ok());
  EXPECT_EQ(All().size(), 3u);
  auto after = lake::IcebergTable::Load(fs_, Options().table_location);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->metadata().snapshots.size(), 2u);  // the replayed one was not committed twice
}

TEST_F(AuditLogTest, AFailedAppendIsReportedAndLeavesNothing) {
  FaultInjectionFileSystem faulty(fs_);
  auto log = AuditLog::Open(&faulty, Options());
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE((*log)->Append(Rec(1, 1, "allowed")).ok());
  faulty.SetFailWrites(true);
  EXPECT_FALSE((*log)->Append(Rec(2, 1, "allowed")).ok());
  faulty.SetFailWrites(false);
  ASSERT_TRUE((*log)->Append(Rec(3, 1, "allowed")).ok());
  const auto all = All();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].time_us, 1);
  EXPECT_EQ(all[1].time_us, 3);
}

// A statement larger than a log record (a 16 MiB `watershed sql -f` file) is logged cut, with a marker — and the
// records after it are not lost (before, the decoder stopped at it and the next append cut everything after).
TEST_F(AuditLogTest, AHugeStatementIsLoggedCutAndLosesNothing) {
  auto log = AuditLog::Open(fs_, Options());
  ASSERT_TRUE(log.ok());
  AuditRecord huge = Rec(1, 1, "failed");
  huge.sql = "SELECT '" + std::string(16u << 20, 'x') + "'";
  huge.reason = std::string(1u << 20, 'r');
  ASSERT_TRUE((*log)->Append(huge).ok());
  ASSERT_TRUE((*log)->Append(Rec(2, 1, "allowed")).ok());
  auto other = AuditLog::Open(fs_, Options());  // another process appends: it re-reads the log
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE((*other)->Append(Rec(3, 1, "allowed")).ok());
  auto check = [&](const std::vector<AuditRecord>& all) {
    ASSERT_EQ(all.size(), 3u);
    EXPECT_EQ(all[0].sql.substr(0, 9), "SELECT 'x");
    EXPECT_LT(all[0].sql.size(), (64u << 10) + 64);
    EXPECT_TRUE(all[0].sql.ends_with("\u2026[truncated " + std::to_string(huge.sql.size() - (64u << 10)) + " bytes]"))
        << all[0].sql.substr(all[0].sql.size() - 40);
    EXPECT_TRUE(all[0].reason.ends_with("bytes]"));
    EXPECT_EQ(all[1], Rec(2, 1, "allowed"));
    EXPECT_EQ(all[2], Rec(3, 1, "allowed"));
  };
  check(All());
  ASSERT_TRUE((*log)->Flush().ok());
  check(All());
}

// A sealed log with a corrupt record followed by whole ones is not deleted: the records before it are committed,
// the file kept as corrupt-<name>, the flush reports it.
TEST_F(AuditLogTest, ACorruptSealedLogIsKeptNotDeleted) {
  auto log = AuditLog::Open(fs_, Options());
  ASSERT_TRUE(log.ok());
  const std::string bytes = CorruptInTheMiddle();
  const std::string name = "sealed-00000000000000000099-aaaaaaaa.log";
  ASSERT_TRUE(WriteFileAtomically(fs_, Options().dir + "/" + name, bytes).ok());
  const Status flushed = (*log)->Flush();
  EXPECT_EQ(flushed.code(), StatusCode::kCorruption) << flushed.ToString();
  EXPECT_NE(flushed.message().find("corrupt-" + name), std::string::npos) << flushed.message();
  EXPECT_FALSE(fs_->FileExists(Options().dir + "/" + name));
  ExpectKeptAndOnly("corrupt-" + name, bytes, 1);
  EXPECT_TRUE((*log)->Flush().ok());  // reported once; the kept file is not retried
}

// The same in current.log: an append never cuts whole records after a corrupt one; the log is set aside whole.
TEST_F(AuditLogTest, ACorruptCurrentLogIsSetAsideNotCut) {
  const std::string bytes = CorruptInTheMiddle();
  ASSERT_TRUE(CreateDirsDurably(fs_, Options().dir).ok());
  ASSERT_TRUE(WriteFileAtomically(fs_, Options().dir + "/current.log", bytes).ok());
  auto log = AuditLog::Open(fs_, Options());
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE((*log)->Append(Rec(4, 1, "allowed")).ok());
  auto names = fs_->ListDir(Options().dir);
  ASSERT_TRUE(names.ok());
  std::string kept;
  for (const std::string& n : *names)
    if (n.rfind("corrupt-", 0) == 0) kept = n;
  ASSERT_FALSE(kept.empty());
  ExpectKeptAndOnly(kept, bytes, 4);
}

// A file system whose Parquet writes wait until released: a flush held in the middle of its write.
class HeldParquetWrites : public ForwardingFileSystem {
 public:
  using ForwardingFileSystem::ForwardingFileSystem;
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    if (path.find("/data/") != std::string::npos && !entered_once_.exchange(true)) {
      entered_.set_value();
      release_.get_future().wait();
    }
    return ForwardingFileSystem::NewWritableFile(path);
  }
  std::promise<void> entered_, release_;
  std::atomic<bool> entered_once_{false};
};

// While a flush writes and commits, appends (every query's) and `watershed audit` go on: they no longer wait
// for the whole Parquet write and Iceberg commit (before, Append blocked on the flush's mutex and LOCK).
TEST_F(AuditLogTest, AppendsAndReadsGoOnDuringAFlush) {
  HeldParquetWrites held(fs_);
  auto log = AuditLog::Open(&held, Options());
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE((*log)->Append(Rec(1, 1, "allowed")).ok());
  std::future<void> entered = held.entered_.get_future();
  std::thread flusher([&] { EXPECT_TRUE((*log)->Flush().ok()); });
  if (entered.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
    held.release_.set_value();
    flusher.join();
    FAIL() << "the flush wrote no data file";
  }
  // A deadlock guard, not a timing assertion: the append and the read need no time from the held flush at all.
  auto append = std::async(std::launch::async, [&] { return (*log)->Append(Rec(2, 1, "allowed")); });
  const bool appended = append.wait_for(std::chrono::seconds(60)) == std::future_status::ready;
  auto read =
      std::async(std::launch::async, [&] { return ReadAudit(fs_, Options().dir, Options().table_location, {}); });
  const bool was_read = read.wait_for(std::chrono::seconds(60)) == std::future_status::ready;
  held.release_.set_value();
  flusher.join();
  EXPECT_TRUE(appended) << "Append waited for the flush";
  EXPECT_TRUE(was_read) << "ReadAudit waited for the flush";
  EXPECT_TRUE(append.get().ok());
  auto during = read.get();
  ASSERT_TRUE(during.ok()) << during.status().ToString();
  EXPECT_EQ(during->size(), 2u);  // the sealed file's record and the new one
  const auto all = All();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].time_us, 1);
  EXPECT_EQ(all[1].time_us, 2);
}

TEST(AuditDecodeTest, OnlyALengthPastTheEndIsATornTail) {
  const std::string one = EncodeAuditRecord(Rec(1, 1, "allowed"));
  const std::string two = EncodeAuditRecord(Rec(2, 1, "allowed"));
  EXPECT_FALSE(IsTornTail(one + two, (one + two).size()));
  EXPECT_TRUE(IsTornTail(one + two.substr(0, 5), one.size()));   // half a header
  EXPECT_TRUE(IsTornTail(one + two.substr(0, 20), one.size()));  // the length runs past the end
  std::string flipped = one + two + one;
  flipped[one.size() + 10] ^= 1;
  uint64_t end = 0;
  DecodeAuditLog(flipped, &end);
  EXPECT_EQ(end, one.size());
  EXPECT_FALSE(IsTornTail(flipped, end));
}

TEST(AuditDecodeTest, CorruptBytesStopTheDecoder) {
  std::string bytes = EncodeAuditRecord(Rec(1, 1, "allowed")) + EncodeAuditRecord(Rec(2, 1, "allowed"));
  bytes[bytes.size() - 3] ^= 1;  // the second record's CRC no longer matches
  uint64_t end = 0;
  EXPECT_EQ(DecodeAuditLog(bytes, &end).size(), 1u);
  EXPECT_EQ(end, EncodeAuditRecord(Rec(1, 1, "allowed")).size());
}

}  // namespace
}  // namespace watershed::gov
