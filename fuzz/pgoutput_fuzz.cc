// Fuzzes the PostgreSQL logical replication decoders (src/cdc/pgoutput.h)
// and the TransactionAssembler behind them. The input is read three ways:
//  * as one pgoutput message: what decodes must re-encode (by the layout
//    in the PostgreSQL documentation, written out here) to the same bytes;
//  * as one replication CopyData message ('w' XLogData or 'k' keepalive),
//    an XLogData payload then as a pgoutput message;
//  * as a stream: [u16 big-endian length][message] records fed to one
//    assembler, as PgLogicalSource does, until the first error.
// Properties (a violation traps): no crash, leak, hang or sanitizer report;
// nothing wider or longer than the limits decodes; a delivered
// transaction's changes carry its commit LSN and indexes 0..n-1 in order,
// after-images as wide as the relation their schema describes and
// before-images no wider (exactly as wide for a full old row).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "cdc/pgoutput.h"
#include "cdc/testing/pgoutput_builder.h"
#include "cdc/transaction_assembler.h"

namespace {

using namespace watershed::cdc;
using watershed::cdc::testing::Bytes;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

DecodeLimits Limits() {
  DecodeLimits l;
  l.max_columns = 64;
  l.max_value_bytes = 4096;
  l.max_truncate_relations = 64;
  return l;
}

uint64_t PgTime(int64_t unix_us) { return static_cast<uint64_t>(UnixMicrosToPgTimestamp(unix_us)); }

void Tuple(Bytes& b, const TupleData& t) {
  Check(t.size() <= Limits().max_columns);
  b.U16(static_cast<uint16_t>(t.size()));
  for (const Datum& d : t) {
    switch (d.kind) {
      case DatumKind::kNull:
        b.Tag('n');
        break;
      case DatumKind::kUnchangedToast:
        b.Tag('u');
        break;
      case DatumKind::kText:
        Check(d.text.size() <= Limits().max_value_bytes);
        b.Tag('t').U32(static_cast<uint32_t>(d.text.size())).Raw(d.text);
        break;
    }
  }
}

char OldTag(OldTupleKind k) { return k == OldTupleKind::kKey ? 'K' : 'O'; }

// The documented layout of each message: the decoder's inverse.
std::string Encode(const PgOutputMessage& message) {
  Bytes b;
  if (auto* m = std::get_if<BeginMessage>(&message)) {
    b.Tag('B').U64(m->final_lsn.value()).U64(PgTime(m->commit_time_us)).U32(m->xid);
  } else if (auto* m = std::get_if<CommitMessage>(&message)) {
    b.Tag('C').U8(m->flags).U64(m->commit_lsn.value()).U64(m->end_lsn.value()).U64(PgTime(m->commit_time_us));
  } else if (auto* m = std::get_if<OriginMessage>(&message)) {
    b.Tag('O').U64(m->origin_commit_lsn.value()).Str(m->name);
  } else if (auto* m = std::get_if<RelationMessage>(&message)) {
    b.Tag('R').U32(m->relation_id).Str(m->namespace_name).Str(m->relation_name);
    b.Tag(static_cast<char>(m->replica_identity)).U16(static_cast<uint16_t>(m->columns.size()));
    for (const RelationColumn& c : m->columns) {
      b.U8(c.key ? 1 : 0).Str(c.name).U32(c.type_oid).U32(static_cast<uint32_t>(c.type_modifier));
    }
  } else if (auto* m = std::get_if<TypeMessage>(&message)) {
    b.Tag('Y').U32(m->type_oid).Str(m->namespace_name).Str(m->type_name);
  } else if (auto* m = std::get_if<InsertMessage>(&message)) {
    b.Tag('I').U32(m->relation_id).Tag('N');
    Tuple(b, m->new_tuple);
  } else if (auto* m = std::get_if<UpdateMessage>(&message)) {
    b.Tag('U').U32(m->relation_id);
    if (m->old_kind != OldTupleKind::kNone) {
      b.Tag(OldTag(m->old_kind));
      Tuple(b, m->old_tuple);
    }
    b.Tag('N');
    Tuple(b, m->new_tuple);
  } else if (auto* m = std::get_if<DeleteMessage>(&message)) {
    b.Tag('D').U32(m->relation_id).Tag(OldTag(m->old_kind));
    Tuple(b, m->old_tuple);
  } else {
    const auto& t = std::get<TruncateMessage>(message);
    Check(t.relation_ids.size() <= Limits().max_truncate_relations);
    b.Tag('T').U32(static_cast<uint32_t>(t.relation_ids.size())).U8(t.options);
    for (uint32_t id : t.relation_ids) b.U32(id);
  }
  return b.str();
}

// Column flags other than bit 0 are dropped by the decoder, so compare
// modulo those: re-decode the re-encoding instead of comparing bytes.
void CheckMessage(std::string_view input) {
  watershed::Result<PgOutputMessage> m = DecodePgOutput(input, Limits());
  if (!m.ok()) return;
  std::string again = Encode(*m);
  if (!std::holds_alternative<RelationMessage>(*m)) {
    Check(again == input);
    return;
  }
  watershed::Result<PgOutputMessage> back = DecodePgOutput(again, Limits());
  Check(back.ok());
  Check(std::get<RelationMessage>(*back) == std::get<RelationMessage>(*m));
  Check(again.size() == input.size());
}

void CheckCopyData(std::string_view input) {
  watershed::Result<CopyDataMessage> m = DecodeCopyData(input);
  if (!m.ok()) return;
  if (auto* x = std::get_if<XLogData>(&*m)) {
    Check(x->payload.size() + 25 == input.size());
    CheckMessage(x->payload);
  }
}

void CheckTransaction(const Transaction& t) {
  for (size_t i = 0; i < t.changes.size(); ++i) {
    const Change& c = t.changes[i];
    Check(c.position.commit_lsn == t.commit_lsn);
    Check(c.position.index == i);
    Check(c.schema != nullptr && c.schema->relation_id == c.relation_id);
    size_t width = c.schema->columns.size();
    Check(c.before.size() <= width);
    Check(c.after.empty() || c.after.size() == width);
    Check(c.before_kind != OldTupleKind::kFull || c.before.size() == width);
  }
  for (const SchemaChange& s : t.schema_changes) {
    Check(s.first_change <= t.changes.size());
    Check(s.current != nullptr);
  }
}

void CheckStream(std::string_view input) {
  TransactionAssembler assembler(1 << 20);
  while (input.size() >= 2) {
    size_t len = (static_cast<uint8_t>(input[0]) << 8) | static_cast<uint8_t>(input[1]);
    input.remove_prefix(2);
    if (len > input.size()) return;
    watershed::Result<PgOutputMessage> m = DecodePgOutput(input.substr(0, len), Limits());
    input.remove_prefix(len);
    if (!m.ok()) return;
    watershed::Result<std::optional<Transaction>> t = assembler.Add(std::move(m).value());
    if (!t.ok()) return;
    if (*t) CheckTransaction(**t);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  CheckMessage(input);
  CheckCopyData(input);
  CheckStream(input);
  return 0;
}
