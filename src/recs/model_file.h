#pragma once
// A small versioned binary container of named arrays: the model registry's weights files and `recs import`'s
// normalised interactions (docs/recs.md, "Model registry"). Layout, little-endian:
//   header (24 bytes): magic "WSRECBIN", format version u32 (1), CRC-32C of the body u32, body length u64
//   body: kind (u16 length + bytes: "model" or "dataset"), array count u32, then per array in name order:
//         type u8 (1 f32, 2 u32, 3 i64, 4 strings), name (u16 length + bytes), value count u64, the values
//         (strings: u32 length + bytes each)
// Names are unique and sorted; nothing follows the last array; so equal contents give equal bytes.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace watershed::recs {

struct NamedArray {
  enum class Type : uint8_t { kF32 = 1, kU32 = 2, kI64 = 3, kStrings = 4 };
  Type type = Type::kF32;
  std::vector<float> f32;
  std::vector<uint32_t> u32;
  std::vector<int64_t> i64;
  std::vector<std::string> strings;
  size_t size() const;
};

struct ArrayFile {
  std::string kind;
  std::map<std::string, NamedArray> arrays;

  void Put(const std::string& name, std::vector<float> v);
  void Put(const std::string& name, std::vector<uint32_t> v);
  void Put(const std::string& name, std::vector<int64_t> v);
  void Put(const std::string& name, std::vector<std::string> v);
  // The array `name` of type T with exactly `count` values (any count when
  // `count` is kAnyCount); errors say "PATH: array 'name' ..." (missing, of
  // another type, or of another length).
  static constexpr size_t kAnyCount = ~size_t{0};
  Result<const std::vector<float>*> F32(const std::string& name, size_t count) const;
  Result<const std::vector<uint32_t>*> U32(const std::string& name, size_t count) const;
  Result<const std::vector<int64_t>*> I64(const std::string& name, size_t count) const;
  Result<const std::vector<std::string>*> Strings(const std::string& name, size_t count) const;
  bool Has(const std::string& name) const { return arrays.count(name) > 0; }

  std::string path;  // set by DecodeArrayFile, for the messages above
};

inline constexpr uint32_t kArrayFileVersion = 1;

std::string EncodeArrayFile(const ArrayFile& file);
// Errors are kCorruption with a message starting "PATH: " saying what is wrong
// (truncated, wrong magic, another version, CRC mismatch, an array running past
// the end, a duplicate or unsorted name, trailing bytes).
Result<ArrayFile> DecodeArrayFile(std::string_view bytes, const std::string& path);

}  // namespace watershed::recs
