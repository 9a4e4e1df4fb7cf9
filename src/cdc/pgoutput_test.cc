#include "cdc/pgoutput.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cdc/testing/pgoutput_builder.h"

namespace watershed::cdc {
namespace {

using testing::Bytes;
using testing::Col;
using testing::kNull;
using testing::kPgEpochUnixUs;
using testing::kToast;

template <typename T>
T DecodeAs(std::string_view bytes) {
  Result<PgOutputMessage> m = DecodePgOutput(bytes);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  if (!m.ok()) return T{};
  EXPECT_TRUE(std::holds_alternative<T>(*m)) << "variant index " << m->index();
  return std::holds_alternative<T>(*m) ? std::get<T>(*m) : T{};
}

Status DecodeStatus(std::string_view bytes, const DecodeLimits& limits = {}) {
  Result<PgOutputMessage> m = DecodePgOutput(bytes, limits);
  return m.ok() ? Status::Ok() : m.status();
}

TEST(LsnTest, TextFormRoundTripsAndRejectsGarbage) {
  EXPECT_EQ(Lsn(0x16'B374D848).ToString(), "16/B374D848");
  EXPECT_EQ(Lsn(0).ToString(), "0/0");
  Result<Lsn> parsed = Lsn::Parse("16/B374D848");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->value(), 0x16'B374D848u);
  EXPECT_EQ(Lsn::Parse("ffffffff/ffffffff")->value(), ~uint64_t{0});
  for (const char* bad : {"", "/", "16", "16/", "/1", "1/2/3", "x/1", "123456789/0", "1 /2", "-1/2"}) {
    EXPECT_EQ(Lsn::Parse(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_LT(Lsn(1), Lsn(2));
}

TEST(PgOutputTest, BeginCommitOriginType) {
  auto begin = DecodeAs<BeginMessage>(testing::Begin(0x1'00000010, 1'000'000, 742));
  EXPECT_EQ(begin.final_lsn, Lsn(0x1'00000010));
  EXPECT_EQ(begin.commit_time_us, kPgEpochUnixUs + 1'000'000);
  EXPECT_EQ(begin.xid, 742u);

  auto commit = DecodeAs<CommitMessage>(testing::Commit(0x1'00000010, 0x1'00000040, -5));
  EXPECT_EQ(commit.commit_lsn, Lsn(0x1'00000010));
  EXPECT_EQ(commit.end_lsn, Lsn(0x1'00000040));
  EXPECT_EQ(commit.commit_time_us, kPgEpochUnixUs - 5);

  auto origin = DecodeAs<OriginMessage>(Bytes().Tag('O').U64(77).Str("pg_1").str());
  EXPECT_EQ(origin.origin_commit_lsn, Lsn(77));
  EXPECT_EQ(origin.name, "pg_1");

  auto type = DecodeAs<TypeMessage>(Bytes().Tag('Y').U32(16500).Str("public").Str("mood").str());
  EXPECT_EQ(type.type_oid, 16500u);
  EXPECT_EQ(type.namespace_name, "public");
  EXPECT_EQ(type.type_name, "mood");
}

TEST(PgOutputTest, RelationCarriesColumnsTypesAndKeyFlags) {
  auto rel = DecodeAs<RelationMessage>(
      testing::RelationMsg(16384, "public", "stories", 'f', {{true, "story_id", 20}, {false, "title", 25}}));
  EXPECT_EQ(rel.relation_id, 16384u);
  EXPECT_EQ(rel.QualifiedName(), "public.stories");
  EXPECT_EQ(rel.replica_identity, ReplicaIdentity::kFull);
  ASSERT_EQ(rel.columns.size(), 2u);
  EXPECT_EQ(rel.columns[0], (RelationColumn{true, "story_id", 20, -1}));
  EXPECT_EQ(rel.columns[1], (RelationColumn{false, "title", 25, -1}));

  auto catalog = DecodeAs<RelationMessage>(testing::RelationMsg(1, "", "pg_x", 'n', {}));
  EXPECT_EQ(catalog.QualifiedName(), "pg_catalog.pg_x");
  EXPECT_EQ(catalog.replica_identity, ReplicaIdentity::kNothing);
}

TEST(PgOutputTest, InsertTupleKinds) {
  auto ins = DecodeAs<InsertMessage>(testing::InsertMsg(9, {"42", kNull, kToast, ""}));
  EXPECT_EQ(ins.relation_id, 9u);
  ASSERT_EQ(ins.new_tuple.size(), 4u);
  EXPECT_EQ(ins.new_tuple[0], (Datum{DatumKind::kText, "42"}));
  EXPECT_EQ(ins.new_tuple[1], (Datum{DatumKind::kNull, ""}));
  EXPECT_EQ(ins.new_tuple[2], (Datum{DatumKind::kUnchangedToast, ""}));
  EXPECT_EQ(ins.new_tuple[3], (Datum{DatumKind::kText, ""}));
}

TEST(PgOutputTest, UpdateWithoutKeyAndFullOldTuple) {
  auto plain = DecodeAs<UpdateMessage>(testing::UpdateMsg(9, 0, {}, {"1", "b"}));
  EXPECT_EQ(plain.old_kind, OldTupleKind::kNone);
  EXPECT_TRUE(plain.old_tuple.empty());
  ASSERT_EQ(plain.new_tuple.size(), 2u);
  EXPECT_EQ(plain.new_tuple[1].text, "b");

  auto key = DecodeAs<UpdateMessage>(testing::UpdateMsg(9, 'K', {"1", kNull}, {"2", "b"}));
  EXPECT_EQ(key.old_kind, OldTupleKind::kKey);
  EXPECT_EQ(key.old_tuple[0].text, "1");
  EXPECT_EQ(key.new_tuple[0].text, "2");

  auto full = DecodeAs<UpdateMessage>(testing::UpdateMsg(9, 'O', {"1", "a"}, {"1", "b"}));
  EXPECT_EQ(full.old_kind, OldTupleKind::kFull);
  EXPECT_EQ(full.old_tuple[1].text, "a");
}

TEST(PgOutputTest, DeleteKeyOrFullAndTruncate) {
  auto key = DecodeAs<DeleteMessage>(testing::DeleteMsg(9, 'K', {"1", kNull}));
  EXPECT_EQ(key.old_kind, OldTupleKind::kKey);
  auto full = DecodeAs<DeleteMessage>(testing::DeleteMsg(9, 'O', {"1", "a"}));
  EXPECT_EQ(full.old_kind, OldTupleKind::kFull);
  EXPECT_EQ(full.old_tuple[1].text, "a");

  auto t = DecodeAs<TruncateMessage>(
      testing::TruncateMsg(TruncateMessage::kCascade | TruncateMessage::kRestartIdentity, {9, 10}));
  EXPECT_EQ(t.options, 3);
  EXPECT_EQ(t.relation_ids, (std::vector<uint32_t>{9, 10}));
}

TEST(CopyDataTest, XLogDataKeepaliveAndStatusUpdate) {
  std::string w = Bytes().Tag('w').U64(100).U64(200).U64(7).Raw(testing::Begin(1, 2, 3)).str();
  Result<CopyDataMessage> x = DecodeCopyData(w);
  ASSERT_TRUE(x.ok()) << x.status().ToString();
  const auto& data = std::get<XLogData>(*x);
  EXPECT_EQ(data.wal_start, Lsn(100));
  EXPECT_EQ(data.wal_end, Lsn(200));
  EXPECT_EQ(data.send_time_us, kPgEpochUnixUs + 7);
  EXPECT_EQ(data.payload, testing::Begin(1, 2, 3));

  for (uint8_t reply : {0, 1}) {
    Result<CopyDataMessage> k = DecodeCopyData(Bytes().Tag('k').U64(300).U64(8).U8(reply).str());
    ASSERT_TRUE(k.ok()) << k.status().ToString();
    EXPECT_EQ(std::get<PrimaryKeepalive>(*k).wal_end, Lsn(300));
    EXPECT_EQ(std::get<PrimaryKeepalive>(*k).reply_requested, reply == 1);
  }

  std::string r = EncodeStandbyStatusUpdate(Lsn(0x0102030405060708), Lsn(2), Lsn(3), kPgEpochUnixUs + 9, true);
  EXPECT_EQ(r, Bytes().Tag('r').U64(0x0102030405060708).U64(2).U64(3).U64(9).U8(1).str());
}

// Every proper prefix of a valid message is truncated input.
TEST(PgOutputHostileTest, EveryTruncationIsCorruption) {
  std::vector<std::string> valid = {
      testing::Begin(1, 2, 3),
      testing::Commit(1, 2, 3),
      Bytes().Tag('O').U64(1).Str("o").str(),
      Bytes().Tag('Y').U32(1).Str("n").Str("t").str(),
      testing::RelationMsg(1, "public", "t", 'd', {{true, "a", 20}, {false, "b", 25}}),
      testing::InsertMsg(1, {"12", kNull, kToast}),
      testing::UpdateMsg(1, 'O', {"1", "x"}, {"1", "y"}),
      testing::DeleteMsg(1, 'K', {"1", kNull}),
      testing::TruncateMsg(0, {1, 2}),
  };
  for (const std::string& msg : valid) {
    ASSERT_TRUE(DecodeStatus(msg).ok()) << DecodeStatus(msg).ToString();
    for (size_t len = 0; len < msg.size(); ++len) {
      Status s = DecodeStatus(std::string_view(msg).substr(0, len));
      EXPECT_EQ(s.code(), StatusCode::kCorruption) << msg[0] << " cut to " << len << ": " << s.ToString();
    }
    EXPECT_EQ(DecodeStatus(msg + "x").code(), StatusCode::kCorruption) << msg[0] << " with a trailing byte";
  }
  std::vector<std::string> copy_data = {Bytes().Tag('w').U64(1).U64(2).U64(3).str(),
                                        Bytes().Tag('k').U64(1).U64(2).U8(0).str()};
  for (const std::string& msg : copy_data) {
    ASSERT_TRUE(DecodeCopyData(msg).ok());
    for (size_t len = 0; len < msg.size(); ++len) {
      EXPECT_EQ(DecodeCopyData(std::string_view(msg).substr(0, len)).status().code(), StatusCode::kCorruption);
    }
  }
}

TEST(PgOutputHostileTest, CountsAndLengthsAreBounded) {
  // 1000 columns announced (within the limit), 3 bytes follow: refused before allocating.
  Status s = DecodeStatus(Bytes().Tag('I').U32(1).Tag('N').U16(1000).Raw("nnn").str());
  EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.ToString();
  EXPECT_NE(s.message().find("column count"), std::string::npos) << s.ToString();
  s = DecodeStatus(Bytes().Tag('R').U32(1).Str("s").Str("t").Tag('d').U16(1500).U8(0).str());
  EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.ToString();

  DecodeLimits small;
  small.max_columns = 2;
  small.max_value_bytes = 4;
  small.max_truncate_relations = 1;
  EXPECT_EQ(DecodeStatus(testing::InsertMsg(1, {"a", "b", "c"}), small).code(), StatusCode::kTooLarge);
  EXPECT_EQ(DecodeStatus(testing::InsertMsg(1, {"12345"}), small).code(), StatusCode::kTooLarge);
  EXPECT_TRUE(DecodeStatus(testing::InsertMsg(1, {"1234"}), small).ok());
  EXPECT_EQ(DecodeStatus(testing::RelationMsg(1, "s", "t", 'd', {{0, "a", 1}, {0, "b", 1}, {0, "c", 1}}), small).code(),
            StatusCode::kTooLarge);
  EXPECT_EQ(DecodeStatus(testing::TruncateMsg(0, {1, 2}), small).code(), StatusCode::kTooLarge);

  // Truncate claiming 4 billion relations in 4 bytes: over the default
  // limit, and without a limit still refused before allocating.
  std::string huge_truncate = Bytes().Tag('T').U32(0xFFFFFFFF).U8(0).U32(1).str();
  EXPECT_EQ(DecodeStatus(huge_truncate).code(), StatusCode::kTooLarge);
  DecodeLimits unlimited;
  unlimited.max_truncate_relations = UINT32_MAX;
  s = DecodeStatus(huge_truncate, unlimited);
  EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.ToString();

  // A value length that is negative, or beyond the message.
  s = DecodeStatus(Bytes().Tag('I').U32(1).Tag('N').U16(1).Tag('t').U32(0xFFFFFFFF).str());
  EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.ToString();
  EXPECT_NE(s.message().find("negative"), std::string::npos) << s.ToString();
  s = DecodeStatus(Bytes().Tag('I').U32(1).Tag('N').U16(1).Tag('t').U32(100).Raw("abc").str());
  EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.ToString();
}

TEST(PgOutputHostileTest, UnknownTagsAndMalformedFields) {
  EXPECT_EQ(DecodeStatus("").code(), StatusCode::kCorruption);
  for (char tag : {'M', 'S', 'E', 'c', 'P', 'K', 'r', '\0', '\xff'}) {
    EXPECT_EQ(DecodeStatus(std::string(1, tag) + std::string(20, '\0')).code(), StatusCode::kCorruption) << tag;
  }
  // Binary values are never requested.
  EXPECT_EQ(DecodeStatus(Bytes().Tag('I').U32(1).Tag('N').U16(1).Tag('b').U32(1).Raw("x").str()).code(),
            StatusCode::kCorruption);
  // Unknown column kind, tuple tags out of place, bad replica identity.
  EXPECT_EQ(DecodeStatus(Bytes().Tag('I').U32(1).Tag('N').U16(1).Tag('z').str()).code(), StatusCode::kCorruption);
  EXPECT_EQ(DecodeStatus(Bytes().Tag('I').U32(1).Tag('K').U16(0).str()).code(), StatusCode::kCorruption);
  EXPECT_EQ(DecodeStatus(Bytes().Tag('D').U32(1).Tag('N').U16(0).str()).code(), StatusCode::kCorruption);
  EXPECT_EQ(DecodeStatus(Bytes().Tag('U').U32(1).Tag('K').U16(0).Tag('K').U16(0).str()).code(),
            StatusCode::kCorruption);
  EXPECT_EQ(DecodeStatus(testing::RelationMsg(1, "s", "t", 'x', {})).code(), StatusCode::kCorruption);
  // A String without its NUL.
  EXPECT_EQ(DecodeStatus(Bytes().Tag('O').U64(1).Raw("name").str()).code(), StatusCode::kCorruption);
  // A timestamp that overflows when moved to the Unix epoch.
  EXPECT_EQ(DecodeStatus(testing::Begin(1, INT64_MAX, 1)).code(), StatusCode::kCorruption);
  // A keepalive's reply flag is 0 or 1.
  EXPECT_EQ(DecodeCopyData(Bytes().Tag('k').U64(1).U64(2).U8(2).str()).status().code(), StatusCode::kCorruption);
  EXPECT_EQ(DecodeCopyData(Bytes().Tag('x').U64(1).str()).status().code(), StatusCode::kCorruption);
  EXPECT_EQ(DecodeCopyData("").status().code(), StatusCode::kCorruption);
}

}  // namespace
}  // namespace watershed::cdc
