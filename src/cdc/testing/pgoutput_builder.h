#pragma once
// Tests only: writes pgoutput and replication CopyData messages byte by
// byte, the way the PostgreSQL documentation lays them out, so decoder
// tests state their inputs independently of the decoder.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace watershed::cdc::testing {

class Bytes {
 public:
  Bytes& U8(uint8_t v) {
    s_.push_back(static_cast<char>(v));
    return *this;
  }
  Bytes& Tag(char c) { return U8(static_cast<uint8_t>(c)); }
  Bytes& U16(uint16_t v) { return Big(v, 2); }
  Bytes& U32(uint32_t v) { return Big(v, 4); }
  Bytes& U64(uint64_t v) { return Big(v, 8); }
  Bytes& Str(std::string_view v) {
    s_.append(v);
    s_.push_back('\0');
    return *this;
  }
  Bytes& Raw(std::string_view v) {
    s_.append(v);
    return *this;
  }
  // TupleData: each entry is "\x01" for null ('n'), "\x02" for unchanged
  // TOAST ('u'), anything else a text value ('t').
  Bytes& Tuple(const std::vector<std::string>& values) {
    U16(static_cast<uint16_t>(values.size()));
    for (const std::string& v : values) {
      if (v == "\x01") {
        Tag('n');
      } else if (v == "\x02") {
        Tag('u');
      } else {
        Tag('t').U32(static_cast<uint32_t>(v.size())).Raw(v);
      }
    }
    return *this;
  }
  const std::string& str() const { return s_; }
  operator std::string_view() const { return s_; }  // NOLINT: convenient in calls

 private:
  Bytes& Big(uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) s_.push_back(static_cast<char>(v >> (8 * i)));
    return *this;
  }
  std::string s_;
};

inline constexpr const char* kNull = "\x01";
inline constexpr const char* kToast = "\x02";

// PostgreSQL timestamps count microseconds from 2000-01-01.
inline constexpr int64_t kPgEpochUnixUs = 946'684'800'000'000;

inline std::string Begin(uint64_t final_lsn, int64_t pg_time, uint32_t xid) {
  return Bytes().Tag('B').U64(final_lsn).U64(static_cast<uint64_t>(pg_time)).U32(xid).str();
}
inline std::string Commit(uint64_t commit_lsn, uint64_t end_lsn, int64_t pg_time) {
  return Bytes().Tag('C').U8(0).U64(commit_lsn).U64(end_lsn).U64(static_cast<uint64_t>(pg_time)).str();
}

struct Col {
  bool key;
  std::string name;
  uint32_t type;
};

inline std::string RelationMsg(uint32_t id, std::string_view ns, std::string_view name, char identity,
                               const std::vector<Col>& cols) {
  Bytes b;
  b.Tag('R').U32(id).Str(ns).Str(name).Tag(identity).U16(static_cast<uint16_t>(cols.size()));
  for (const Col& c : cols) b.U8(c.key ? 1 : 0).Str(c.name).U32(c.type).U32(0xFFFFFFFF);
  return b.str();
}
inline std::string InsertMsg(uint32_t rel, const std::vector<std::string>& values) {
  return Bytes().Tag('I').U32(rel).Tag('N').Tuple(values).str();
}
// old_tag: 0 (no old tuple), 'K' or 'O'.
inline std::string UpdateMsg(uint32_t rel, char old_tag, const std::vector<std::string>& old_values,
                             const std::vector<std::string>& new_values) {
  Bytes b;
  b.Tag('U').U32(rel);
  if (old_tag != 0) b.Tag(old_tag).Tuple(old_values);
  b.Tag('N').Tuple(new_values);
  return b.str();
}
inline std::string DeleteMsg(uint32_t rel, char old_tag, const std::vector<std::string>& old_values) {
  return Bytes().Tag('D').U32(rel).Tag(old_tag).Tuple(old_values).str();
}
inline std::string TruncateMsg(uint8_t options, const std::vector<uint32_t>& rels) {
  Bytes b;
  b.Tag('T').U32(static_cast<uint32_t>(rels.size())).U8(options);
  for (uint32_t r : rels) b.U32(r);
  return b.str();
}

}  // namespace watershed::cdc::testing
