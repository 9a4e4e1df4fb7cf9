#pragma once
// Thrift's compact protocol, as far as Parquet uses it: its footer
// (FileMetaData) and page headers are Thrift structs in this encoding. We
// write the structs by hand (field ids from parquet.thrift) instead of
// generating code, so only the encoding lives here.
//
// Encoding (Apache Thrift compact protocol spec):
//   field header: (delta << 4) | type when the id is 1..15 above the
//     previous field id of the same struct, else the type byte followed by
//     the id as a zigzag varint i16; booleans carry their value in the
//     type (1 = true, 2 = false) and have no body; a struct ends with 0.
//   i16/i32/i64: zigzag varints; double: 8 bytes little-endian;
//   binary/string: varint length + bytes;
//   list/set: (size << 4) | element type when size < 15, else
//     0xF0 | element type followed by the size as a varint.
//
// Reader: every read is bounds-checked and returns kCorruption (with the
// byte position) on truncated or malformed input; nesting is limited to
// max_depth; a list may not claim more elements than bytes remain. Meant
// to be fuzzed (fuzz/thrift_compact_fuzz.cc).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace watershed::lake::thrift {

enum class Type : uint8_t {
  kStop = 0,
  kTrue = 1,  // also: boolean element type in lists
  kFalse = 2,
  kByte = 3,
  kI16 = 4,
  kI32 = 5,
  kI64 = 6,
  kDouble = 7,
  kBinary = 8,
  kList = 9,
  kSet = 10,
  kMap = 11,
  kStruct = 12,
};

// Appends to a string. Structs nest: BeginStruct/EndStruct (or the Field*
// variants that open one) keep the previous-field-id stack.
class Writer {
 public:
  explicit Writer(std::string* out) : out_(out) {}

  // Fields of the current struct, ids ascending (the delta form needs it
  // only for compactness; any order decodes).
  void FieldBool(int16_t id, bool v);
  void FieldI8(int16_t id, int8_t v);
  void FieldI16(int16_t id, int16_t v);
  void FieldI32(int16_t id, int32_t v);
  void FieldI64(int16_t id, int64_t v);
  void FieldDouble(int16_t id, double v);
  void FieldBinary(int16_t id, std::string_view v);
  // Opens a struct-typed field; close it with EndStruct().
  void FieldStruct(int16_t id);
  // A list-typed field's header; then `size` elements with the element
  // writers below (struct elements: BeginStruct()/EndStruct()).
  void FieldList(int16_t id, Type element, uint32_t size);

  // Elements of a list (and the top-level value).
  void I32(int32_t v);
  void I64(int64_t v);
  void Binary(std::string_view v);
  void BeginStruct();
  void EndStruct();  // writes the stop byte

 private:
  void FieldHeader(int16_t id, Type type);
  void Varint(uint64_t v);
  std::string* out_;
  std::vector<int16_t> last_id_{0};  // per open struct
};

class Reader {
 public:
  explicit Reader(std::string_view in, int max_depth = 32) : in_(in), max_depth_(max_depth) {}

  // Enters a struct (the top-level value, a struct field or element).
  Status BeginStruct();
  // The next field of the current struct: *type = kStop at its end (then
  // call EndStruct). A boolean field's value is in its type (kTrue/kFalse).
  Status FieldHeader(Type* type, int16_t* id);
  Status EndStruct();

  Result<int8_t> I8();
  Result<int16_t> I16();
  Result<int32_t> I32();
  Result<int64_t> I64();
  Result<double> Double();
  // A view into the input, valid as long as the input is.
  Result<std::string_view> Binary();
  // A list or set header.
  Status ListHeader(Type* element, uint32_t* size);
  // Skips a value of `type` (unknown fields), nested values included.
  Status Skip(Type type);

  size_t position() const { return pos_; }
  bool at_end() const { return pos_ == in_.size(); }

 private:
  Result<uint64_t> Varint();
  Status Corrupt(const char* what) const;
  std::string_view in_;
  size_t pos_ = 0;
  int max_depth_;
  std::vector<int16_t> last_id_;
};

}  // namespace watershed::lake::thrift
