#pragma once
// The wire formats of PostgreSQL logical replication with the pgoutput
// plugin, protocol version 1 (PostgreSQL docs: "Logical Replication Message
// Formats"), and the CopyData messages of the streaming replication
// protocol that carry them ("Streaming Replication Protocol"). Integers are
// big-endian; a String is NUL-terminated.
//
// Decoders take bytes from the network and treat every length and count in
// them as hostile: a read past the end, a count that cannot fit in the bytes
// left, a negative length, an unknown tag or trailing bytes is kCorruption
// naming the message, the field and the byte offset; a count or length
// above DecodeLimits is kTooLarge. Nothing is allocated before its size has
// been checked against the bytes that remain. Fuzzed by fuzz/pgoutput_fuzz.cc.
//
// Pure functions and value types: thread-safe.

#include <compare>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/status.h"

namespace watershed::cdc {

// A position in PostgreSQL's write-ahead log (XLogRecPtr). Its own type so
// it cannot be mixed up with xids, OIDs or timestamps.
class Lsn {
 public:
  constexpr Lsn() = default;
  constexpr explicit Lsn(uint64_t value) : value_(value) {}
  constexpr uint64_t value() const { return value_; }
  constexpr bool valid() const { return value_ != 0; }  // 0/0 is InvalidXLogRecPtr
  auto operator<=>(const Lsn&) const = default;

  // PostgreSQL's text form, "16/B374D848" (upper hex of the high and low 32 bits).
  std::string ToString() const;
  // Parses the text form; kInvalidArgument if it is not one.
  static Result<Lsn> Parse(std::string_view text);

 private:
  uint64_t value_ = 0;
};
std::ostream& operator<<(std::ostream& os, Lsn lsn);  // the text form

// Converts a PostgreSQL TimestampTz (microseconds since 2000-01-01 UTC) to
// microseconds since the Unix epoch; kCorruption if that overflows int64.
Result<int64_t> PgTimestampToUnixMicros(int64_t pg_micros);
int64_t UnixMicrosToPgTimestamp(int64_t unix_micros);

struct DecodeLimits {
  uint32_t max_columns = 1664;               // PostgreSQL's MaxTupleAttributeNumber
  uint32_t max_value_bytes = 256u << 20;     // one column value in text form
  uint32_t max_truncate_relations = 10'000;  // relations in one Truncate message
};

// ---- pgoutput messages ----

struct BeginMessage {
  Lsn final_lsn;               // the commit LSN the transaction's Commit will carry
  int64_t commit_time_us = 0;  // Unix epoch
  uint32_t xid = 0;
};

struct CommitMessage {
  uint8_t flags = 0;
  Lsn commit_lsn;
  Lsn end_lsn;  // end of the commit record: what a consumer confirms
  int64_t commit_time_us = 0;
};

struct OriginMessage {
  Lsn origin_commit_lsn;
  std::string name;
};

enum class ReplicaIdentity : char { kDefault = 'd', kNothing = 'n', kFull = 'f', kIndex = 'i' };

struct RelationColumn {
  bool key = false;  // part of the replica identity (every column under REPLICA IDENTITY FULL)
  std::string name;
  uint32_t type_oid = 0;
  int32_t type_modifier = -1;
  bool operator==(const RelationColumn&) const = default;
};

struct RelationMessage {
  uint32_t relation_id = 0;    // the table's OID
  std::string namespace_name;  // "" stands for pg_catalog
  std::string relation_name;
  ReplicaIdentity replica_identity = ReplicaIdentity::kDefault;
  std::vector<RelationColumn> columns;  // generated columns are not sent
  bool operator==(const RelationMessage&) const = default;
  // "schema.table"
  std::string QualifiedName() const;
};

struct TypeMessage {
  uint32_t type_oid = 0;
  std::string namespace_name;
  std::string type_name;
};

enum class DatumKind : uint8_t {
  kNull,            // 'n'
  kUnchangedToast,  // 'u': a TOASTed value the update did not touch; not sent, the consumer keeps its copy
  kText,            // 't': the type's text output
};

struct Datum {
  DatumKind kind = DatumKind::kNull;
  std::string text;  // kind == kText only
  bool operator==(const Datum&) const = default;
};

using TupleData = std::vector<Datum>;

// Which old row an Update or Delete carries.
enum class OldTupleKind : uint8_t {
  kNone,  // Update under REPLICA IDENTITY DEFAULT/INDEX whose key did not change
  kKey,   // 'K': the replica identity columns (others null)
  kFull,  // 'O': the whole old row (REPLICA IDENTITY FULL)
};

struct InsertMessage {
  uint32_t relation_id = 0;
  TupleData new_tuple;
};

struct UpdateMessage {
  uint32_t relation_id = 0;
  OldTupleKind old_kind = OldTupleKind::kNone;
  TupleData old_tuple;  // empty when old_kind == kNone
  TupleData new_tuple;
};

struct DeleteMessage {
  uint32_t relation_id = 0;
  OldTupleKind old_kind = OldTupleKind::kKey;  // never kNone
  TupleData old_tuple;
};

struct TruncateMessage {
  static constexpr uint8_t kCascade = 1;
  static constexpr uint8_t kRestartIdentity = 2;
  uint8_t options = 0;
  std::vector<uint32_t> relation_ids;
};

using PgOutputMessage = std::variant<BeginMessage, CommitMessage, OriginMessage, RelationMessage, TypeMessage,
                                     InsertMessage, UpdateMessage, DeleteMessage, TruncateMessage>;

// Decodes one pgoutput message (the payload of an XLogData). Binary-format
// values ('b') and the messages of later protocol versions (streaming,
// two-phase, logical decoding messages) are kCorruption: version 1 in text
// format, which is all this library requests, never sends them.
Result<PgOutputMessage> DecodePgOutput(std::string_view bytes, const DecodeLimits& limits = {});

// ---- streaming replication CopyData messages (server to client) ----

struct XLogData {
  Lsn wal_start;             // where `payload` starts in the WAL
  Lsn wal_end;               // the server's current end of WAL
  int64_t send_time_us = 0;  // Unix epoch
  std::string_view payload;  // points into the decoded bytes
};

struct PrimaryKeepalive {
  Lsn wal_end;               // the server's current end of WAL
  int64_t send_time_us = 0;  // Unix epoch
  bool reply_requested = false;
};

using CopyDataMessage = std::variant<XLogData, PrimaryKeepalive>;

// Decodes one CopyData message of START_REPLICATION's copy-both stream.
// XLogData::payload aliases `bytes`.
Result<CopyDataMessage> DecodeCopyData(std::string_view bytes);

// The Standby Status Update ('r') a client sends: written, flushed and
// applied LSNs, the client's clock and whether it asks for an immediate reply.
std::string EncodeStandbyStatusUpdate(Lsn written, Lsn flushed, Lsn applied, int64_t now_unix_us, bool reply_requested);

}  // namespace watershed::cdc
