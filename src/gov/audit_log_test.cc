#include "gov/audit_log.h"

#include <gtest/gtest.h>

#include <chrono>

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

class AuditLogTest : public ::testing::Test {
 protected:
  AuditLogOptions Options() { return {dir_.path() + "/audit", dir_.path() + "/lake/eu/audit", 1000, 60'000}; }
  std::vector<AuditRecord> All(const AuditFilter& f = {}) {
    auto r = ReadAudit(fs_, Options().dir, Options().table_location, f);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<AuditRecord>{};
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

TEST(AuditDecodeTest, CorruptBytesStopTheDecoder) {
  std::string bytes = EncodeAuditRecord(Rec(1, 1, "allowed")) + EncodeAuditRecord(Rec(2, 1, "allowed"));
  bytes[bytes.size() - 3] ^= 1;  // the second record's CRC no longer matches
  uint64_t end = 0;
  EXPECT_EQ(DecodeAuditLog(bytes, &end).size(), 1u);
  EXPECT_EQ(end, EncodeAuditRecord(Rec(1, 1, "allowed")).size());
}

}  // namespace
}  // namespace watershed::gov
