// PgLogicalSource against a real PostgreSQL (testing/pg_test_server.h): the
// initial snapshot, streamed changes, transactions, schema changes, and
// what a restart from the slot redelivers.

#include "cdc/pg_source.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cdc/testing/pg_fixture.h"

namespace watershed::cdc {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr uint32_t kInt8Oid = 20;
constexpr uint32_t kTextOid = 25;
constexpr uint32_t kTextArrayOid = 1009;
constexpr uint32_t kBoolOid = 16;
constexpr uint32_t kTimestamptzOid = 1184;

// A row by column name, e.g. row["title"]; null shows as "<null>", unchanged TOAST as "<toast>".
std::map<std::string, std::string> Row(const std::vector<ColumnValue>& values) {
  std::map<std::string, std::string> out;
  for (const ColumnValue& v : values) {
    out[v.name] = v.kind == DatumKind::kText ? v.text : v.kind == DatumKind::kNull ? "<null>" : "<toast>";
  }
  return out;
}

std::vector<Change> AllChanges(const std::vector<Transaction>& txns) {
  std::vector<Change> out;
  for (const Transaction& t : txns) out.insert(out.end(), t.changes.begin(), t.changes.end());
  return out;
}

class PgSourceTest : public testing::PgFixture {
 protected:
  void SetUp() override {
    testing::PgFixture::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    Sql("CREATE TABLE stories (story_id bigint PRIMARY KEY, author_id bigint, created_at timestamptz, title text, "
        "tags text[], language text, is_original bool, deleted bool, updated_at timestamptz)");
    Sql("INSERT INTO stories VALUES "
        "(1, 10, '2024-01-02 03:04:05+00', 'first', '{a,b}', NULL, true, false, '2024-01-02 03:04:05+00'), "
        "(2, 20, '2024-02-03 04:05:06+00', 'second', '{}', 'en', false, false, '2024-02-03 04:05:06+00'), "
        "(3, 30, '2024-03-04 05:06:07+00', 'third', NULL, 'fr', true, true, '2024-03-04 05:06:07+00')");
  }

  Lsn SlotConfirmedFlush() {
    Result<Lsn> lsn = Lsn::Parse(Value("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 's'"));
    EXPECT_TRUE(lsn.ok()) << lsn.status().ToString();
    return lsn.ok() ? *lsn : Lsn();
  }

  PgSourceOptions Options() {
    PgSourceOptions o;
    o.conninfo = server_.conninfo();
    o.slot_name = "s";
    o.publication_name = "p";
    o.tables = {"public.stories"};
    return o;
  }

  // A slot is busy for a moment after its previous walsender's client went away.
  std::unique_ptr<PgLogicalSource> StartSource(const PgSourceOptions& options) {
    auto deadline = std::chrono::steady_clock::now() + seconds(20);
    for (;;) {
      Result<std::unique_ptr<PgLogicalSource>> source = PgLogicalSource::Start(options);
      if (source.ok()) return std::move(source).value();
      if (source.status().code() != StatusCode::kUnavailable || std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << source.status().ToString() << "\n" << server_.Log();
        return nullptr;
      }
      std::this_thread::sleep_for(milliseconds(100));
    }
  }

  // Polls until `done` holds for what arrived, or 30 s pass (then fails).
  std::vector<Transaction> PollUntil(PgLogicalSource& source,
                                     const std::function<bool(const std::vector<Transaction>&)>& done) {
    std::vector<Transaction> got;
    auto deadline = std::chrono::steady_clock::now() + seconds(30);
    while (!done(got)) {
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "timed out with " << got.size() << " transactions";
        break;
      }
      Result<std::vector<Transaction>> batch = source.Poll(milliseconds(200));
      if (!batch.ok()) {
        ADD_FAILURE() << batch.status().ToString();
        break;
      }
      for (Transaction& t : *batch) got.push_back(std::move(t));
    }
    return got;
  }
  std::vector<Transaction> PollTransactions(PgLogicalSource& source, size_t n) {
    return PollUntil(source, [n](const std::vector<Transaction>& got) { return got.size() >= n; });
  }
  // Drains the snapshot; returns its rows.
  std::vector<Change> PollSnapshot(PgLogicalSource& source) {
    std::vector<Transaction> batches =
        PollUntil(source, [](const std::vector<Transaction>& got) { return !got.empty() && got.back().snapshot_last; });
    for (const Transaction& b : batches) EXPECT_TRUE(b.snapshot);
    return AllChanges(batches);
  }
};

TEST_F(PgSourceTest, SnapshotIsConsistentWithTheSlotThenStreamsInsertUpdateDelete) {
  PgSourceOptions options = Options();
  options.snapshot_batch_rows = 2;
  std::unique_ptr<PgLogicalSource> source = StartSource(options);
  ASSERT_NE(source, nullptr);
  EXPECT_TRUE(source->slot_created());
  EXPECT_EQ(source->system().database, "postgres");
  EXPECT_EQ(Value("SELECT count(*) FROM pg_publication_tables WHERE pubname = 'p' AND tablename = 'stories'"), "1");

  // Commits after the slot's consistent point: streamed, not in the snapshot.
  Sql("INSERT INTO stories (story_id, author_id, title) VALUES (4, 40, 'after the snapshot')");
  Sql("UPDATE stories SET title = 'edited', updated_at = '2024-05-06 07:08:09+00' WHERE story_id = 2");
  Sql("DELETE FROM stories WHERE story_id = 3");

  std::vector<Transaction> batches =
      PollUntil(*source, [](const std::vector<Transaction>& got) { return !got.empty() && got.back().snapshot_last; });
  ASSERT_EQ(batches.size(), 2u) << "3 rows in batches of 2";
  std::vector<Change> rows = AllChanges(batches);
  ASSERT_EQ(rows.size(), 3u);
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].op, ChangeOp::kSnapshot);
    EXPECT_EQ(rows[i].relation, "public.stories");
    EXPECT_EQ(rows[i].position, (Position{Lsn(source->start_lsn().value() - 1), i}));
    EXPECT_EQ(batches[0].end_lsn, source->start_lsn());
  }
  std::map<std::string, std::string> first = Row(rows[0].after);
  EXPECT_EQ(first, (std::map<std::string, std::string>{{"story_id", "1"},
                                                       {"author_id", "10"},
                                                       {"created_at", "2024-01-02 03:04:05+00"},
                                                       {"title", "first"},
                                                       {"tags", "{a,b}"},
                                                       {"language", "<null>"},
                                                       {"is_original", "t"},
                                                       {"deleted", "f"},
                                                       {"updated_at", "2024-01-02 03:04:05+00"}}));
  EXPECT_EQ(rows[0].after[0].type_oid, kInt8Oid);
  EXPECT_EQ(rows[0].after[2].type_oid, kTimestamptzOid);
  EXPECT_EQ(rows[0].after[4].type_oid, kTextArrayOid);
  EXPECT_EQ(rows[0].after[6].type_oid, kBoolOid);
  EXPECT_EQ(Row(rows[1].after)["title"], "second") << "the snapshot predates the update";
  EXPECT_EQ(Row(rows[2].after)["story_id"], "3") << "the snapshot predates the delete";
  EXPECT_TRUE(rows[0].schema->columns[0].key);
  EXPECT_FALSE(rows[0].schema->columns[1].key);
  ASSERT_TRUE(source->ConfirmFlushed(batches.back().end_lsn).ok());

  std::vector<Transaction> txns = PollTransactions(*source, 3);
  ASSERT_EQ(txns.size(), 3u);
  Position last = rows.back().position;
  for (const Transaction& t : txns) {
    EXPECT_FALSE(t.snapshot);
    EXPECT_NE(t.xid, 0u);
    EXPECT_GE(t.commit_lsn, source->start_lsn());
    EXPECT_GT(t.end_lsn, t.commit_lsn);
    EXPECT_NEAR(static_cast<double>(t.commit_time_us),
                static_cast<double>(std::chrono::duration_cast<std::chrono::microseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count()),
                60e6);
    ASSERT_EQ(t.changes.size(), 1u);
    EXPECT_GT(t.changes[0].position, last) << "positions strictly increase";
    last = t.changes[0].position;
  }
  const Change& ins = txns[0].changes[0];
  EXPECT_EQ(ins.op, ChangeOp::kInsert);
  EXPECT_EQ(Row(ins.after)["story_id"], "4");
  EXPECT_EQ(Row(ins.after)["created_at"], "<null>");
  EXPECT_EQ(ins.after[3].type_oid, kTextOid);

  const Change& upd = txns[1].changes[0];
  EXPECT_EQ(upd.op, ChangeOp::kUpdate);
  EXPECT_EQ(upd.before_kind, OldTupleKind::kNone) << "REPLICA IDENTITY DEFAULT, key unchanged: no old row";
  EXPECT_EQ(Row(upd.after)["title"], "edited");
  EXPECT_EQ(Row(upd.after)["updated_at"], "2024-05-06 07:08:09+00");
  EXPECT_EQ(Row(upd.after)["tags"], "{}");

  const Change& del = txns[2].changes[0];
  EXPECT_EQ(del.op, ChangeOp::kDelete);
  EXPECT_EQ(del.before_kind, OldTupleKind::kKey);
  EXPECT_EQ(Row(del.before), (std::map<std::string, std::string>{{"story_id", "3"}}));
  EXPECT_TRUE(del.after.empty());
}

TEST_F(PgSourceTest, PrimaryKeyChangeAndReplicaIdentityFull) {
  std::unique_ptr<PgLogicalSource> source = StartSource(Options());
  ASSERT_NE(source, nullptr);
  PollSnapshot(*source);

  Sql("UPDATE stories SET story_id = 100 WHERE story_id = 1");
  std::vector<Transaction> txns = PollTransactions(*source, 1);
  ASSERT_EQ(txns.size(), 1u);
  const Change& moved = txns[0].changes.at(0);
  EXPECT_EQ(moved.before_kind, OldTupleKind::kKey) << "a changed key sends the old key";
  EXPECT_EQ(Row(moved.before), (std::map<std::string, std::string>{{"story_id", "1"}}));
  EXPECT_EQ(Row(moved.after)["story_id"], "100");
  EXPECT_EQ(Row(moved.after)["title"], "first");

  Sql("ALTER TABLE stories REPLICA IDENTITY FULL");
  Sql("UPDATE stories SET title = 'full' WHERE story_id = 2");
  Sql("DELETE FROM stories WHERE story_id = 100");
  txns = PollTransactions(*source, 2);
  ASSERT_EQ(txns.size(), 2u);
  const Change& upd = txns[0].changes.at(0);
  EXPECT_EQ(upd.before_kind, OldTupleKind::kFull);
  std::map<std::string, std::string> before = Row(upd.before);
  EXPECT_EQ(before.size(), 9u) << "the whole old row";
  EXPECT_EQ(before["title"], "second");
  EXPECT_EQ(before["language"], "en");
  EXPECT_EQ(Row(upd.after)["title"], "full");
  EXPECT_EQ(upd.schema->replica_identity, ReplicaIdentity::kFull);
  // The identity change re-describes the relation: every column is now key.
  ASSERT_EQ(txns[0].schema_changes.size(), 1u);
  EXPECT_EQ(txns[0].schema_changes[0].previous->replica_identity, ReplicaIdentity::kDefault);

  const Change& del = txns[1].changes.at(0);
  EXPECT_EQ(del.before_kind, OldTupleKind::kFull);
  EXPECT_EQ(Row(del.before)["title"], "first");
  EXPECT_EQ(Row(del.before)["author_id"], "10");
}

TEST_F(PgSourceTest, RolledBackNeverDeliveredAndATransactionComesWholeInOrder) {
  std::unique_ptr<PgLogicalSource> source = StartSource(Options());
  ASSERT_NE(source, nullptr);
  PollSnapshot(*source);

  Sql("BEGIN");
  Sql("INSERT INTO stories (story_id, title) VALUES (999, 'rolled back')");
  Sql("UPDATE stories SET title = 'rolled back' WHERE story_id = 1");
  Sql("ROLLBACK");
  Sql("BEGIN");
  Sql("INSERT INTO stories (story_id, title) VALUES (10, 'a')");
  Sql("UPDATE stories SET title = 'b' WHERE story_id = 10");
  Sql("INSERT INTO stories (story_id, title) VALUES (11, 'c')");
  Sql("DELETE FROM stories WHERE story_id = 10");
  Sql("COMMIT");
  Sql("INSERT INTO stories (story_id, title) VALUES (12, 'marker')");

  std::vector<Transaction> txns = PollUntil(*source, [](const std::vector<Transaction>& got) {
    for (const Change& c : AllChanges(got)) {
      if (Row(c.after)["title"] == "marker") return true;
    }
    return false;
  });
  ASSERT_EQ(txns.size(), 2u) << "the rolled-back transaction is not delivered";
  const Transaction& multi = txns[0];
  ASSERT_EQ(multi.changes.size(), 4u);
  EXPECT_EQ(multi.changes[0].op, ChangeOp::kInsert);
  EXPECT_EQ(multi.changes[1].op, ChangeOp::kUpdate);
  EXPECT_EQ(Row(multi.changes[1].after)["title"], "b");
  EXPECT_EQ(multi.changes[2].op, ChangeOp::kInsert);
  EXPECT_EQ(Row(multi.changes[2].after)["story_id"], "11");
  EXPECT_EQ(multi.changes[3].op, ChangeOp::kDelete);
  for (size_t i = 0; i < multi.changes.size(); ++i) {
    EXPECT_EQ(multi.changes[i].position, (Position{multi.commit_lsn, i}));
  }
  EXPECT_LT(multi.commit_lsn, txns[1].commit_lsn);
  for (const Change& c : AllChanges(txns)) {
    EXPECT_NE(Row(c.after)["title"], "rolled back");
    EXPECT_NE(Row(c.after)["story_id"], "999");
  }
}

TEST_F(PgSourceTest, AddColumnIsASchemaChangeAndTruncateIsDelivered) {
  std::unique_ptr<PgLogicalSource> source = StartSource(Options());
  ASSERT_NE(source, nullptr);
  PollSnapshot(*source);
  Sql("INSERT INTO stories (story_id, title) VALUES (20, 'before')");
  std::vector<Transaction> txns = PollTransactions(*source, 1);
  ASSERT_EQ(txns.size(), 1u);
  EXPECT_TRUE(txns[0].schema_changes.empty());
  EXPECT_EQ(txns[0].changes.at(0).after.size(), 9u);

  Sql("ALTER TABLE stories ADD COLUMN region text");
  Sql("INSERT INTO stories (story_id, title, region) VALUES (21, 'after', 'eu')");
  Sql("TRUNCATE stories");
  txns = PollTransactions(*source, 2);
  ASSERT_EQ(txns.size(), 2u);
  ASSERT_EQ(txns[0].schema_changes.size(), 1u);
  const SchemaChange& change = txns[0].schema_changes[0];
  EXPECT_TRUE(change.columns_changed);
  EXPECT_EQ(change.first_change, 0u);
  EXPECT_EQ(change.previous->columns.size(), 9u);
  ASSERT_EQ(change.current->columns.size(), 10u);
  EXPECT_EQ(change.current->columns[9].name, "region");
  EXPECT_EQ(change.current->columns[9].type_oid, kTextOid);
  EXPECT_EQ(Row(txns[0].changes.at(0).after)["region"], "eu");
  EXPECT_EQ(txns[0].changes[0].schema, change.current);

  ASSERT_EQ(txns[1].changes.size(), 1u);
  EXPECT_EQ(txns[1].changes[0].op, ChangeOp::kTruncate);
  EXPECT_EQ(txns[1].changes[0].relation, "public.stories");
}

TEST_F(PgSourceTest, RestartRedeliversExactlyWhatWasNotConfirmed) {
  PgSourceOptions options = Options();
  options.status_interval = milliseconds(50);  // many status updates: none may move the slot
  std::unique_ptr<PgLogicalSource> source = StartSource(options);
  ASSERT_NE(source, nullptr);
  PollSnapshot(*source);
  Sql("INSERT INTO stories (story_id, title) VALUES (30, 'a')");
  Sql("INSERT INTO stories (story_id, title) VALUES (31, 'b')");
  std::vector<Transaction> first = PollTransactions(*source, 2);
  ASSERT_EQ(first.size(), 2u);
  ASSERT_TRUE(source->ConfirmFlushed(first[0].end_lsn).ok());
  EXPECT_EQ(source->lag().confirmed_flush, first[0].end_lsn);
  EXPECT_GE(source->lag().server_wal_end, first[1].end_lsn);
  EXPECT_GE(source->lag().bytes(), first[1].end_lsn.value() - first[0].end_lsn.value());
  // The server got the confirmation, and keepalive replies and periodic
  // status updates never move the slot past it.
  auto deadline = std::chrono::steady_clock::now() + seconds(10);
  while (SlotConfirmedFlush() != first[0].end_lsn && std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE(source->Poll(milliseconds(100)).ok());
  }
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(source->Poll(milliseconds(100)).ok());
  EXPECT_EQ(SlotConfirmedFlush(), first[0].end_lsn);
  source.reset();  // a crash: the second transaction was never confirmed

  std::unique_ptr<PgLogicalSource> second = StartSource(options);
  ASSERT_NE(second, nullptr);
  EXPECT_FALSE(second->slot_created());
  EXPECT_EQ(second->start_lsn(), first[0].end_lsn);
  std::vector<Transaction> again = PollTransactions(*second, 1);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_FALSE(again[0].snapshot) << "an existing slot takes no snapshot";
  EXPECT_EQ(again[0].commit_lsn, first[1].commit_lsn) << "the unconfirmed transaction comes again";
  ASSERT_EQ(again[0].changes.size(), 1u);
  EXPECT_EQ(again[0].changes[0].position, first[1].changes[0].position) << "at the same position";
  EXPECT_EQ(again[0].changes[0].after, first[1].changes[0].after);
  ASSERT_TRUE(second->ConfirmFlushed(again[0].end_lsn).ok());
  ASSERT_TRUE(second->Close().ok());
  EXPECT_EQ(SlotConfirmedFlush(), again[0].end_lsn);

  std::unique_ptr<PgLogicalSource> third = StartSource(options);
  ASSERT_NE(third, nullptr);
  Sql("INSERT INTO stories (story_id, title) VALUES (32, 'c')");
  std::vector<Transaction> after = PollTransactions(*third, 1);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(Row(after[0].changes.at(0).after)["story_id"], "32") << "confirmed transactions are not redelivered";
  EXPECT_GT(after[0].changes[0].position, again[0].changes[0].position);
}

// Writes to other tables move the server's position but deliver nothing;
// a consumer with nothing pending confirms that position (docs/cdc.md), so
// the slot does not hold the WAL, and loses nothing by it.
TEST_F(PgSourceTest, IdleConsumerConfirmsTheServersPositionWithoutLosingChanges) {
  Sql("CREATE TABLE other (id bigint PRIMARY KEY, v text)");
  std::unique_ptr<PgLogicalSource> source = StartSource(Options());
  ASSERT_NE(source, nullptr);
  std::vector<Change> snapshot = PollSnapshot(*source);
  ASSERT_EQ(snapshot.size(), 3u);
  ASSERT_TRUE(source->ConfirmFlushed(source->start_lsn()).ok());
  for (int i = 0; i < 5; ++i) Sql("INSERT INTO other VALUES (" + std::to_string(i) + ", repeat('x', 1000))");
  auto deadline = std::chrono::steady_clock::now() + seconds(20);
  while (source->lag().bytes() == 0 && std::chrono::steady_clock::now() < deadline) {
    Result<std::vector<Transaction>> got = source->Poll(milliseconds(100));
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_TRUE(got->empty()) << "changes of an unpublished table are not delivered";
  }
  ReplicationLag lag = source->lag();
  ASSERT_GT(lag.bytes(), 0u) << "the server reported its position";
  ASSERT_TRUE(source->ConfirmFlushed(lag.server_wal_end).ok());
  ASSERT_TRUE(source->Close().ok());
  EXPECT_EQ(SlotConfirmedFlush(), lag.server_wal_end);

  Sql("INSERT INTO stories (story_id, title) VALUES (40, 'after idle')");
  std::unique_ptr<PgLogicalSource> again = StartSource(Options());
  ASSERT_NE(again, nullptr);
  std::vector<Transaction> txns = PollTransactions(*again, 1);
  ASSERT_EQ(txns.size(), 1u);
  EXPECT_EQ(Row(txns[0].changes.at(0).after)["story_id"], "40");
}

TEST_F(PgSourceTest, RefusesMissingPublicationOrSlotAndDropsASlotWhoseSnapshotWasNotDelivered) {
  PgSourceOptions options = Options();
  options.create_publication = false;
  Result<std::unique_ptr<PgLogicalSource>> missing = PgLogicalSource::Start(options);
  EXPECT_EQ(missing.status().code(), StatusCode::kFailedPrecondition) << missing.status().ToString();

  Sql("CREATE PUBLICATION p FOR TABLE stories");
  options.create_slot = false;
  missing = PgLogicalSource::Start(options);
  EXPECT_EQ(missing.status().code(), StatusCode::kFailedPrecondition) << missing.status().ToString();

  // A snapshot that cannot be taken leaves no slot behind: a later source
  // would stream from it without the snapshot.
  options.create_slot = true;
  options.tables = {"stories", "no_such_table"};
  Result<std::unique_ptr<PgLogicalSource>> failed = PgLogicalSource::Start(options);
  EXPECT_EQ(failed.status().code(), StatusCode::kFailedPrecondition) << failed.status().ToString();
  EXPECT_NE(failed.status().message().find("slot was dropped"), std::string::npos) << failed.status().ToString();
  EXPECT_EQ(Value("SELECT count(*) FROM pg_replication_slots"), "0");

  // So does a source closed before it delivered the whole snapshot.
  options.tables = {"stories"};
  options.snapshot_batch_rows = 1;
  std::unique_ptr<PgLogicalSource> closed = StartSource(options);
  ASSERT_NE(closed, nullptr);
  Result<std::vector<Transaction>> batch = closed->Poll(milliseconds(100));
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  ASSERT_EQ(batch->size(), 1u);
  EXPECT_FALSE(batch->front().snapshot_last);
  EXPECT_EQ(Value("SELECT count(*) FROM pg_replication_slots"), "1");
  EXPECT_TRUE(closed->Close().ok());
  EXPECT_EQ(Value("SELECT count(*) FROM pg_replication_slots"), "0");

  options.slot_name = "Bad-Name";
  EXPECT_EQ(PgLogicalSource::Start(options).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PgLogicalSource::DropSlot(server_.conninfo(), "s").code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace watershed::cdc
