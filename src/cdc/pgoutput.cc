#include "cdc/pgoutput.h"

#include <charconv>
#include <cstdio>
#include <cstring>
#include <ostream>
#include <utility>

namespace watershed::cdc {
namespace {

// Microseconds from 1970-01-01 to 2000-01-01.
constexpr int64_t kPgEpochOffsetUs = 946'684'800'000'000;

// A bounds-checked big-endian cursor. The first failure sticks: later reads
// return zero values, so a decoder reads a whole structure and checks once,
// but must check before it sizes an allocation from a value it read.
class Reader {
 public:
  Reader(std::string_view in, const char* message) : in_(in), message_(message) {}

  uint8_t U8(const char* field) {
    if (!Need(1, field)) return 0;
    return static_cast<uint8_t>(in_[pos_++]);
  }
  uint16_t U16(const char* field) { return static_cast<uint16_t>(BigEndian(2, field)); }
  uint32_t U32(const char* field) { return static_cast<uint32_t>(BigEndian(4, field)); }
  uint64_t U64(const char* field) { return BigEndian(8, field); }
  int32_t I32(const char* field) { return static_cast<int32_t>(U32(field)); }
  int64_t I64(const char* field) { return static_cast<int64_t>(U64(field)); }
  Lsn ReadLsn(const char* field) { return Lsn(U64(field)); }

  std::string_view Bytes(size_t n, const char* field) {
    if (!Need(n, field)) return {};
    std::string_view out = in_.substr(pos_, n);
    pos_ += n;
    return out;
  }

  // A NUL-terminated String; the NUL is consumed, not returned.
  std::string_view CString(const char* field) {
    if (failed()) return {};
    size_t nul = in_.find('\0', pos_);
    if (nul == std::string_view::npos) {
      Fail(field, "has no terminating NUL");
      return {};
    }
    std::string_view out = in_.substr(pos_, nul - pos_);
    pos_ = nul + 1;
    return out;
  }

  // Fails unless `count` items of at least `min_item_bytes` each fit in what is left.
  bool CountFits(uint64_t count, size_t min_item_bytes, const char* field) {
    if (failed()) return false;
    if (count * min_item_bytes > remaining()) {
      Fail(field,
           "claims " + std::to_string(count) + " items but only " + std::to_string(remaining()) + " bytes remain");
      return false;
    }
    return true;
  }

  void Fail(const char* field, const std::string& what) {
    if (failed()) return;
    status_ = Status::Corruption(std::string(message_) + ": " + field + " at byte " + std::to_string(pos_) + " " +
                                 what + " (message is " + std::to_string(in_.size()) + " bytes)");
  }
  void FailTooLarge(const char* field, uint64_t value, uint64_t limit) {
    if (failed()) return;
    status_ = Status::TooLarge(std::string(message_) + ": " + field + " " + std::to_string(value) +
                               " exceeds the limit " + std::to_string(limit));
  }

  // The final verdict: the first failure, or kCorruption for trailing bytes.
  Status Finish() {
    if (!failed() && pos_ != in_.size())
      Fail("end", "is followed by " + std::to_string(remaining()) + " trailing bytes");
    return status_;
  }

  bool failed() const { return !status_.ok(); }
  size_t remaining() const { return in_.size() - pos_; }

 private:
  bool Need(size_t n, const char* field) {
    if (failed()) return false;
    if (remaining() < n) {
      Fail(field, "needs " + std::to_string(n) + " bytes, " + std::to_string(remaining()) + " remain");
      return false;
    }
    return true;
  }
  uint64_t BigEndian(size_t n, const char* field) {
    if (!Need(n, field)) return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<uint8_t>(in_[pos_ + i]);
    pos_ += n;
    return v;
  }

  std::string_view in_;
  const char* message_;
  size_t pos_ = 0;
  Status status_;
};

int64_t Timestamp(Reader& r, const char* field) {
  int64_t pg = r.I64(field);
  Result<int64_t> unix_us = PgTimestampToUnixMicros(pg);
  if (!unix_us.ok()) {
    r.Fail(field, "is out of range");
    return 0;
  }
  return *unix_us;
}

TupleData ReadTuple(Reader& r, const DecodeLimits& limits) {
  uint16_t n = r.U16("column count");
  if (n > limits.max_columns) {
    r.FailTooLarge("column count", n, limits.max_columns);
    return {};
  }
  if (!r.CountFits(n, 1, "column count")) return {};
  TupleData tuple(n);
  for (Datum& d : tuple) {
    uint8_t kind = r.U8("column kind");
    if (r.failed()) break;
    switch (kind) {
      case 'n':
        d.kind = DatumKind::kNull;
        break;
      case 'u':
        d.kind = DatumKind::kUnchangedToast;
        break;
      case 't': {
        d.kind = DatumKind::kText;
        int32_t len = r.I32("value length");
        if (r.failed()) break;
        if (len < 0) {
          r.Fail("value length", "is negative (" + std::to_string(len) + ")");
          break;
        }
        if (static_cast<uint32_t>(len) > limits.max_value_bytes) {
          r.FailTooLarge("value length", static_cast<uint32_t>(len), limits.max_value_bytes);
          break;
        }
        d.text = std::string(r.Bytes(static_cast<size_t>(len), "value"));
        break;
      }
      case 'b':
        r.Fail("column kind", "is 'b' (binary format), which this client never requests");
        break;
      default:
        r.Fail("column kind", "is unknown (" + std::to_string(kind) + ")");
        break;
    }
    if (r.failed()) break;
  }
  return tuple;
}

// Reads the tag before a TupleData: one of `allowed` ('K', 'O', 'N').
uint8_t TupleTag(Reader& r, std::string_view allowed) {
  uint8_t tag = r.U8("tuple tag");
  if (!r.failed() && (tag == 0 || allowed.find(static_cast<char>(tag)) == std::string_view::npos)) {
    r.Fail("tuple tag", "is " + std::to_string(tag) + ", expected one of '" + std::string(allowed) + "'");
  }
  return tag;
}

Result<PgOutputMessage> Done(Reader& r, PgOutputMessage m) {
  RETURN_IF_ERROR(r.Finish());
  return m;
}

Result<PgOutputMessage> DecodeRelation(Reader& r, const DecodeLimits& limits) {
  RelationMessage m;
  m.relation_id = r.U32("relation id");
  m.namespace_name = std::string(r.CString("namespace"));
  m.relation_name = std::string(r.CString("relation name"));
  uint8_t identity = r.U8("replica identity");
  if (!r.failed()) {
    switch (identity) {
      case 'd':
      case 'n':
      case 'f':
      case 'i':
        m.replica_identity = static_cast<ReplicaIdentity>(identity);
        break;
      default:
        r.Fail("replica identity", "is unknown (" + std::to_string(identity) + ")");
    }
  }
  uint16_t n = r.U16("column count");
  if (n > limits.max_columns) r.FailTooLarge("column count", n, limits.max_columns);
  // flags, an empty name's NUL, type OID, type modifier
  if (!r.CountFits(n, 10, "column count")) return r.Finish();
  m.columns.resize(n);
  for (RelationColumn& c : m.columns) {
    c.key = (r.U8("column flags") & 1) != 0;
    c.name = std::string(r.CString("column name"));
    c.type_oid = r.U32("column type");
    c.type_modifier = r.I32("column type modifier");
  }
  return Done(r, std::move(m));
}

Result<PgOutputMessage> DecodeTruncate(Reader& r, const DecodeLimits& limits) {
  TruncateMessage m;
  uint32_t n = r.U32("relation count");
  m.options = r.U8("options");
  if (n > limits.max_truncate_relations) r.FailTooLarge("relation count", n, limits.max_truncate_relations);
  if (!r.CountFits(n, 4, "relation count")) return r.Finish();
  m.relation_ids.resize(n);
  for (uint32_t& id : m.relation_ids) id = r.U32("relation id");
  return Done(r, std::move(m));
}

}  // namespace

std::string Lsn::ToString() const {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%X/%X", static_cast<unsigned>(value_ >> 32), static_cast<unsigned>(value_));
  return buf;
}

std::ostream& operator<<(std::ostream& os, Lsn lsn) { return os << lsn.ToString(); }

Result<Lsn> Lsn::Parse(std::string_view text) {
  size_t slash = text.find('/');
  auto parse_half = [](std::string_view s, uint32_t* out) {
    if (s.empty() || s.size() > 8) return false;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out, 16);
    return ec == std::errc() && end == s.data() + s.size();
  };
  uint32_t hi = 0, lo = 0;
  if (slash == std::string_view::npos || !parse_half(text.substr(0, slash), &hi) ||
      !parse_half(text.substr(slash + 1), &lo)) {
    return Status::InvalidArgument("not an LSN (expected hex/hex): \"" + std::string(text) + "\"");
  }
  return Lsn((uint64_t{hi} << 32) | lo);
}

Result<int64_t> PgTimestampToUnixMicros(int64_t pg_micros) {
  int64_t out;
  if (__builtin_add_overflow(pg_micros, kPgEpochOffsetUs, &out)) {
    return Status::Corruption("timestamp " + std::to_string(pg_micros) + " is out of range");
  }
  return out;
}

int64_t UnixMicrosToPgTimestamp(int64_t unix_micros) { return unix_micros - kPgEpochOffsetUs; }

std::string RelationMessage::QualifiedName() const {
  return (namespace_name.empty() ? std::string("pg_catalog") : namespace_name) + "." + relation_name;
}

Result<PgOutputMessage> DecodePgOutput(std::string_view bytes, const DecodeLimits& limits) {
  if (bytes.empty()) return Status::Corruption("pgoutput: empty message");
  char tag = bytes[0];
  std::string_view body = bytes.substr(1);
  switch (tag) {
    case 'B': {
      Reader r(body, "pgoutput Begin");
      BeginMessage m;
      m.final_lsn = r.ReadLsn("final LSN");
      m.commit_time_us = Timestamp(r, "commit time");
      m.xid = r.U32("xid");
      return Done(r, m);
    }
    case 'C': {
      Reader r(body, "pgoutput Commit");
      CommitMessage m;
      m.flags = r.U8("flags");
      m.commit_lsn = r.ReadLsn("commit LSN");
      m.end_lsn = r.ReadLsn("end LSN");
      m.commit_time_us = Timestamp(r, "commit time");
      return Done(r, m);
    }
    case 'O': {
      Reader r(body, "pgoutput Origin");
      OriginMessage m;
      m.origin_commit_lsn = r.ReadLsn("origin commit LSN");
      m.name = std::string(r.CString("origin name"));
      return Done(r, std::move(m));
    }
    case 'R': {
      Reader r(body, "pgoutput Relation");
      return DecodeRelation(r, limits);
    }
    case 'Y': {
      Reader r(body, "pgoutput Type");
      TypeMessage m;
      m.type_oid = r.U32("type OID");
      m.namespace_name = std::string(r.CString("namespace"));
      m.type_name = std::string(r.CString("type name"));
      return Done(r, std::move(m));
    }
    case 'I': {
      Reader r(body, "pgoutput Insert");
      InsertMessage m;
      m.relation_id = r.U32("relation id");
      TupleTag(r, "N");
      m.new_tuple = ReadTuple(r, limits);
      return Done(r, std::move(m));
    }
    case 'U': {
      Reader r(body, "pgoutput Update");
      UpdateMessage m;
      m.relation_id = r.U32("relation id");
      uint8_t tag = TupleTag(r, "KON");
      if (tag == 'K' || tag == 'O') {
        m.old_kind = tag == 'K' ? OldTupleKind::kKey : OldTupleKind::kFull;
        m.old_tuple = ReadTuple(r, limits);
        TupleTag(r, "N");
      }
      m.new_tuple = ReadTuple(r, limits);
      return Done(r, std::move(m));
    }
    case 'D': {
      Reader r(body, "pgoutput Delete");
      DeleteMessage m;
      m.relation_id = r.U32("relation id");
      m.old_kind = TupleTag(r, "KO") == 'O' ? OldTupleKind::kFull : OldTupleKind::kKey;
      m.old_tuple = ReadTuple(r, limits);
      return Done(r, std::move(m));
    }
    case 'T': {
      Reader r(body, "pgoutput Truncate");
      return DecodeTruncate(r, limits);
    }
    default:
      return Status::Corruption("pgoutput: unknown message type " + std::to_string(static_cast<uint8_t>(tag)) +
                                " (protocol version 1 has B C O R Y I U D T)");
  }
}

Result<CopyDataMessage> DecodeCopyData(std::string_view bytes) {
  if (bytes.empty()) return Status::Corruption("replication CopyData: empty message");
  std::string_view body = bytes.substr(1);
  switch (bytes[0]) {
    case 'w': {
      Reader r(body, "replication XLogData");
      XLogData m;
      m.wal_start = r.ReadLsn("WAL start");
      m.wal_end = r.ReadLsn("WAL end");
      m.send_time_us = Timestamp(r, "send time");
      m.payload = r.Bytes(r.remaining(), "payload");
      RETURN_IF_ERROR(r.Finish());
      return CopyDataMessage(m);
    }
    case 'k': {
      Reader r(body, "replication keepalive");
      PrimaryKeepalive m;
      m.wal_end = r.ReadLsn("WAL end");
      m.send_time_us = Timestamp(r, "send time");
      uint8_t reply = r.U8("reply requested");
      if (!r.failed() && reply > 1) r.Fail("reply requested", "is " + std::to_string(reply) + ", expected 0 or 1");
      m.reply_requested = reply == 1;
      RETURN_IF_ERROR(r.Finish());
      return CopyDataMessage(m);
    }
    default:
      return Status::Corruption("replication CopyData: unknown message type " +
                                std::to_string(static_cast<uint8_t>(bytes[0])) + " (expected 'w' or 'k')");
  }
}

std::string EncodeStandbyStatusUpdate(Lsn written, Lsn flushed, Lsn applied, int64_t now_unix_us,
                                      bool reply_requested) {
  std::string out;
  out.reserve(34);
  out.push_back('r');
  auto put64 = [&out](uint64_t v) {
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
  };
  put64(written.value());
  put64(flushed.value());
  put64(applied.value());
  put64(static_cast<uint64_t>(UnixMicrosToPgTimestamp(now_unix_us)));
  out.push_back(reply_requested ? 1 : 0);
  return out;
}

}  // namespace watershed::cdc
