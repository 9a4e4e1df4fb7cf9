#include "cdc/transaction_assembler.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cdc/testing/pgoutput_builder.h"

namespace watershed::cdc {
namespace {

using testing::Col;
using testing::kNull;
using testing::kToast;

const std::vector<Col> kColumns = {{true, "id", 20}, {false, "title", 25}};

class AssemblerTest : public ::testing::Test {
 protected:
  // Feeds one encoded message; returns the transaction it completed, if any.
  std::optional<Transaction> Feed(const std::string& bytes) {
    Result<PgOutputMessage> m = DecodePgOutput(bytes);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    if (!m.ok()) return std::nullopt;
    Result<std::optional<Transaction>> t = assembler_.Add(std::move(m).value());
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? std::move(t).value() : std::nullopt;
  }
  Status FeedStatus(const std::string& bytes) {
    Result<PgOutputMessage> m = DecodePgOutput(bytes);
    if (!m.ok()) return m.status();
    Result<std::optional<Transaction>> t = assembler_.Add(std::move(m).value());
    return t.ok() ? Status::Ok() : t.status();
  }

  TransactionAssembler assembler_;
};

TEST_F(AssemblerTest, DeliversOnlyAtCommitWithNamedValuesAndPositions) {
  EXPECT_FALSE(Feed(testing::Begin(1000, 5, 77)));
  EXPECT_FALSE(Feed(testing::RelationMsg(9, "public", "t", 'd', kColumns)));
  EXPECT_FALSE(Feed(testing::InsertMsg(9, {"1", "a"})));
  EXPECT_FALSE(Feed(testing::UpdateMsg(9, 'K', {"1", kNull}, {"2", kToast})));
  EXPECT_FALSE(Feed(testing::DeleteMsg(9, 'K', {"2", kNull})));
  EXPECT_FALSE(Feed(testing::TruncateMsg(0, {9})));
  EXPECT_TRUE(assembler_.in_transaction());
  std::optional<Transaction> t = Feed(testing::Commit(1000, 1040, 6));
  ASSERT_TRUE(t);
  EXPECT_FALSE(assembler_.in_transaction());
  EXPECT_EQ(t->xid, 77u);
  EXPECT_EQ(t->commit_lsn, Lsn(1000));
  EXPECT_EQ(t->end_lsn, Lsn(1040));
  EXPECT_EQ(t->commit_time_us, testing::kPgEpochUnixUs + 6);
  EXPECT_TRUE(t->schema_changes.empty());
  ASSERT_EQ(t->changes.size(), 4u);
  for (size_t i = 0; i < t->changes.size(); ++i) {
    EXPECT_EQ(t->changes[i].position, (Position{Lsn(1000), i}));
    EXPECT_EQ(t->changes[i].relation, "public.t");
  }
  const Change& ins = t->changes[0];
  EXPECT_EQ(ins.op, ChangeOp::kInsert);
  EXPECT_EQ(ins.after,
            (std::vector<ColumnValue>{{"id", 20, DatumKind::kText, "1"}, {"title", 25, DatumKind::kText, "a"}}));
  const Change& upd = t->changes[1];
  EXPECT_EQ(upd.op, ChangeOp::kUpdate);
  EXPECT_EQ(upd.before_kind, OldTupleKind::kKey);
  // A key-only old tuple keeps only the key columns.
  EXPECT_EQ(upd.before, (std::vector<ColumnValue>{{"id", 20, DatumKind::kText, "1"}}));
  EXPECT_EQ(upd.after[1].kind, DatumKind::kUnchangedToast);
  EXPECT_EQ(t->changes[2].op, ChangeOp::kDelete);
  EXPECT_EQ(t->changes[2].before, (std::vector<ColumnValue>{{"id", 20, DatumKind::kText, "2"}}));
  EXPECT_EQ(t->changes[3].op, ChangeOp::kTruncate);
}

TEST_F(AssemblerTest, RelationWithOtherColumnsIsASchemaChange) {
  Feed(testing::Begin(1000, 5, 1));
  Feed(testing::RelationMsg(9, "public", "t", 'd', kColumns));
  Feed(testing::InsertMsg(9, {"1", "a"}));
  std::optional<Transaction> first = Feed(testing::Commit(1000, 1040, 6));
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->schema_changes.empty()) << "the first description of a relation is no change";

  std::vector<Col> wider = kColumns;
  wider.push_back({false, "lang", 25});
  Feed(testing::Begin(2000, 7, 2));
  Feed(testing::RelationMsg(9, "public", "t", 'd', kColumns));  // same again: not a change
  Feed(testing::InsertMsg(9, {"2", "b"}));
  Feed(testing::RelationMsg(9, "public", "t", 'd', wider));
  Feed(testing::InsertMsg(9, {"3", "c", "en"}));
  std::optional<Transaction> second = Feed(testing::Commit(2000, 2040, 8));
  ASSERT_TRUE(second);
  ASSERT_EQ(second->schema_changes.size(), 1u);
  const SchemaChange& sc = second->schema_changes[0];
  EXPECT_TRUE(sc.columns_changed);
  EXPECT_EQ(sc.first_change, 1u);
  EXPECT_EQ(sc.previous->columns.size(), 2u);
  EXPECT_EQ(sc.current->columns.size(), 3u);
  EXPECT_EQ(second->changes[0].schema->columns.size(), 2u);
  EXPECT_EQ(second->changes[1].schema->columns.size(), 3u);
  EXPECT_EQ(second->changes[1].after[2].text, "en");

  // Only the replica identity changes: reported, but not as a column change.
  Feed(testing::Begin(3000, 9, 3));
  Feed(testing::RelationMsg(9, "public", "t", 'f', wider));
  std::optional<Transaction> third = Feed(testing::Commit(3000, 3040, 10));
  ASSERT_TRUE(third);
  ASSERT_EQ(third->schema_changes.size(), 1u);
  EXPECT_FALSE(third->schema_changes[0].columns_changed);
}

TEST_F(AssemblerTest, ProtocolViolationsAreCorruption) {
  EXPECT_EQ(FeedStatus(testing::InsertMsg(9, {"1", "a"})).code(), StatusCode::kCorruption);  // outside
  EXPECT_EQ(FeedStatus(testing::Commit(1, 2, 3)).code(), StatusCode::kCorruption);
  ASSERT_TRUE(FeedStatus(testing::Begin(1000, 5, 1)).ok());
  EXPECT_EQ(FeedStatus(testing::Begin(1000, 5, 1)).code(), StatusCode::kCorruption);         // nested
  EXPECT_EQ(FeedStatus(testing::InsertMsg(9, {"1", "a"})).code(), StatusCode::kCorruption);  // undescribed
  ASSERT_TRUE(FeedStatus(testing::RelationMsg(9, "public", "t", 'd', kColumns)).ok());
  EXPECT_EQ(FeedStatus(testing::InsertMsg(9, {"1"})).code(), StatusCode::kCorruption);   // wrong width
  EXPECT_EQ(FeedStatus(testing::Commit(999, 1040, 6)).code(), StatusCode::kCorruption);  // not Begin's LSN
  EXPECT_EQ(FeedStatus(testing::Commit(1000, 999, 6)).code(), StatusCode::kCorruption);  // ends before it starts
  EXPECT_TRUE(FeedStatus(testing::Commit(1000, 1040, 6)).ok());
}

TEST(AssemblerLimitTest, OversizedTransactionIsTooLarge) {
  TransactionAssembler assembler(4096);
  auto add = [&](const std::string& bytes) {
    Result<std::optional<Transaction>> r = assembler.Add(DecodePgOutput(bytes).value());
    return r.ok() ? Status::Ok() : r.status();
  };
  ASSERT_TRUE(add(testing::Begin(1000, 5, 1)).ok());
  ASSERT_TRUE(add(testing::RelationMsg(9, "public", "t", 'd', kColumns)).ok());
  Status s;
  for (int i = 0; i < 100 && s.ok(); ++i) s = add(testing::InsertMsg(9, {std::to_string(i), std::string(100, 'x')}));
  EXPECT_EQ(s.code(), StatusCode::kTooLarge) << s.ToString();
}

}  // namespace
}  // namespace watershed::cdc
