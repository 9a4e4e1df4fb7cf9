#pragma once
// Tests only: protobuf wire bytes built by hand, for what a buggy or hostile
// client could send and protoc never would.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/event_proto.h"

namespace watershed::testing {

inline std::string Varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
  return out;
}

inline std::string Tag(uint32_t field, int wire_type) {
  return Varint(uint64_t{field} << 3 | static_cast<uint64_t>(wire_type));
}
inline std::string VarintField(uint32_t field, uint64_t v) { return Tag(field, proto_wire::kVarint) + Varint(v); }
inline std::string LenField(uint32_t field, std::string_view bytes) {
  return Tag(field, proto_wire::kLengthDelimited) + Varint(bytes.size()) + std::string(bytes);
}
inline std::string Fixed32Field(uint32_t field) {
  return Tag(field, proto_wire::kFixed32) + std::string("\x01\x02\x03\x04", 4);
}
inline std::string Fixed64Field(uint32_t field) { return Tag(field, proto_wire::kFixed64) + std::string(8, '\x07'); }

// A watershed.v1.EventBatch of the given serialized events.
inline std::string Batch(const std::vector<std::string>& event_bytes) {
  std::string out;
  for (const std::string& e : event_bytes) out += LenField(proto_wire::kBatchEvents, e);
  return out;
}

}  // namespace watershed::testing
