#pragma once
// Turns the stream of decoded pgoutput messages into whole committed
// transactions of named column values: what PgLogicalSource delivers.
//
// Changes are buffered from Begin until Commit and only then handed out, so
// a consumer never sees part of a transaction. pgoutput only sends
// transactions that committed (it decodes a transaction when its commit
// record is read; an aborted one is dropped by the server), so a rolled-back
// transaction never reaches this class.
//
// Positions: each change gets (commit_lsn, index within its transaction).
// Transactions arrive in commit order with distinct commit LSNs, so positions
// are strictly increasing over a stream, and the same transaction delivered
// again after a restart gets the same positions: a consumer that stores the
// last position it applied, atomically with its data, skips redelivered
// changes by comparing positions. That is how exactly-once is built on the
// at-least-once delivery of a replication slot.
//
// Not thread-safe: one thread feeds it.

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cdc/pgoutput.h"
#include "core/status.h"

namespace watershed::cdc {

using Relation = RelationMessage;

enum class ChangeOp : uint8_t { kSnapshot, kInsert, kUpdate, kDelete, kTruncate };
std::string_view ChangeOpName(ChangeOp op);

struct Position {
  Lsn commit_lsn;
  uint64_t index = 0;  // within the transaction (or the whole snapshot)
  auto operator<=>(const Position&) const = default;
};
std::ostream& operator<<(std::ostream& os, const Position& p);  // "(16/B374D848, 3)"

struct ColumnValue {
  std::string name;
  uint32_t type_oid = 0;
  DatumKind kind = DatumKind::kNull;
  std::string text;  // PostgreSQL's text output of the value; kind == kText only
  bool operator==(const ColumnValue&) const = default;
};

struct Change {
  ChangeOp op = ChangeOp::kInsert;
  uint32_t relation_id = 0;
  std::string relation;  // "schema.table"
  // The relation's columns as of this change (shared by the changes of one schema).
  std::shared_ptr<const Relation> schema;
  Position position;
  // kUpdate: kNone unless the replica identity changed (kKey) or the table
  // is REPLICA IDENTITY FULL (kFull). kDelete: kKey or kFull. Else kNone.
  OldTupleKind before_kind = OldTupleKind::kNone;
  // kKey: the replica identity columns only; kFull: every column.
  std::vector<ColumnValue> before;
  // kInsert, kUpdate, kSnapshot: every column. An update leaves a TOASTed
  // value it did not change as kUnchangedToast: keep the stored value.
  std::vector<ColumnValue> after;
};

// A Relation message for a relation id the stream already described, with
// different columns (names, types, type modifiers or key flags), or another
// name or replica identity. PostgreSQL sends it before the first change made
// under the new definition (DDL itself is not replicated: ALTER TABLE shows
// up with the next row change of that table).
struct SchemaChange {
  size_t first_change = 0;  // index into Transaction::changes of the first change under `current`
  std::shared_ptr<const Relation> previous;
  std::shared_ptr<const Relation> current;
  bool columns_changed = false;  // false: only the name or replica identity changed
};

struct Transaction {
  // Rows of the initial snapshot, not a PostgreSQL transaction: xid 0,
  // commit_lsn one below the slot's consistent point (the snapshot holds
  // exactly the commits before it), end_lsn the consistent point, changes
  // kSnapshot. A large snapshot comes in several batches; positions
  // continue across them and the last has snapshot_last.
  bool snapshot = false;
  bool snapshot_last = false;
  uint32_t xid = 0;
  Lsn commit_lsn;
  Lsn end_lsn;                 // confirm this LSN once the transaction is durable
  int64_t commit_time_us = 0;  // Unix epoch
  std::string origin;          // replication origin, when the transaction came from one
  std::vector<SchemaChange> schema_changes;
  std::vector<Change> changes;
};

// The relations the stream described, by relation id.
class RelationCache {
 public:
  enum class Outcome { kNew, kUnchanged, kColumnsChanged, kOtherChanged };
  // Stores `relation`; `previous` (if not null) receives the definition it replaced.
  Outcome Apply(Relation relation, std::shared_ptr<const Relation>* previous = nullptr);
  // nullptr if unknown.
  std::shared_ptr<const Relation> Find(uint32_t relation_id) const;

 private:
  std::map<uint32_t, std::shared_ptr<const Relation>> relations_;
};

class TransactionAssembler {
 public:
  // A transaction whose buffered values exceed max_transaction_bytes fails
  // with kTooLarge instead of exhausting memory.
  explicit TransactionAssembler(size_t max_transaction_bytes = size_t{1} << 30)
      : max_transaction_bytes_(max_transaction_bytes) {}

  // Feeds the next message. Returns the transaction when `message` is the
  // Commit that completes it. A message out of protocol order (a change
  // outside Begin/Commit, a Begin inside a transaction, a Commit whose LSN
  // is not the Begin's), a change of an undescribed relation or a tuple
  // whose width is not the relation's is kCorruption.
  Result<std::optional<Transaction>> Add(PgOutputMessage message);

  const RelationCache& relations() const { return relations_; }
  bool in_transaction() const { return open_.has_value(); }

 private:
  // new_tuple is null for a delete.
  Status AddRow(ChangeOp op, uint32_t relation_id, OldTupleKind old_kind, const TupleData& old_tuple,
                const TupleData* new_tuple);
  Status AddChange(Change change);
  Result<Change> RowChange(ChangeOp op, uint32_t relation_id);
  Result<std::vector<ColumnValue>> Values(const Relation& relation, const TupleData& tuple, bool key_only);

  size_t max_transaction_bytes_;
  RelationCache relations_;
  std::optional<Transaction> open_;
  size_t open_bytes_ = 0;
  // Relation messages seen outside a transaction, reported with the next one.
  std::vector<SchemaChange> pending_schema_changes_;
};

}  // namespace watershed::cdc
