// Fuzzes the Thrift compact protocol reader (src/lake/thrift_compact.h),
// which parses Parquet footers and page headers.
// Every input is decoded as a struct: a typed walk reads every field it
// knows (scalars, binaries, lists, nested structs) and Skips the rest.
// Properties checked (a violation traps):
//  * no input crashes, hangs or trips a sanitizer;
//  * every failure is kCorruption, names a byte position, and leaves the
//    position inside the input;
//  * the typed walk and a plain Skip(kStruct) agree: both accept the input
//    and stop at the same byte, or Skip (with the same depth limit) fails;
//  * every scalar field and every list of i32/i64/binary the walk read,
//    re-encoded with the Writer and read back, gives the same ids, types and
//    values in the same order.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lake/thrift_compact.h"

namespace {

using watershed::Status;
using watershed::StatusCode;
using watershed::lake::thrift::Reader;
using watershed::lake::thrift::Type;
using watershed::lake::thrift::Writer;

constexpr int kMaxDepth = 16;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

// One value the walk read: a scalar field, or a list field of i32, i64 or
// binary elements.
struct Seen {
  Type type = Type::kStop;  // field type
  int16_t id = 0;
  Type element = Type::kStop;  // for lists
  int64_t i = 0;               // bool, i8, i16, i32, i64; double as its bits
  std::string s;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
  bool operator==(const Seen&) const = default;
};

template <typename T>
Status Get(watershed::Result<T> r, T* out) {
  if (!r.ok()) return r.status();
  *out = r.value();
  return Status::Ok();
}

Status Walk(Reader& r, std::vector<Seen>* seen);

Status WalkList(Reader& r, int16_t id, std::vector<Seen>* seen) {
  Type elem;
  uint32_t n;
  RETURN_IF_ERROR(r.ListHeader(&elem, &n));
  Seen list;
  list.type = Type::kList;
  list.id = id;
  list.element = elem;
  for (uint32_t i = 0; i < n; ++i) {
    switch (elem) {
      case Type::kI32: {
        int32_t v;
        RETURN_IF_ERROR(Get(r.I32(), &v));
        list.ints.push_back(v);
        break;
      }
      case Type::kI64: {
        int64_t v;
        RETURN_IF_ERROR(Get(r.I64(), &v));
        list.ints.push_back(v);
        break;
      }
      case Type::kBinary: {
        std::string_view v;
        RETURN_IF_ERROR(Get(r.Binary(), &v));
        list.strings.emplace_back(v);
        break;
      }
      case Type::kStruct:
        RETURN_IF_ERROR(Walk(r, seen));
        break;
      case Type::kTrue:
      case Type::kFalse: {  // a bool element is one byte, unlike a bool field
        int8_t v;
        RETURN_IF_ERROR(Get(r.I8(), &v));
        break;
      }
      default:
        RETURN_IF_ERROR(r.Skip(elem));
    }
  }
  if (elem == Type::kI32 || elem == Type::kI64 || elem == Type::kBinary) seen->push_back(std::move(list));
  return Status::Ok();
}

Status Walk(Reader& r, std::vector<Seen>* seen) {
  RETURN_IF_ERROR(r.BeginStruct());
  for (;;) {
    Type t;
    int16_t id;
    RETURN_IF_ERROR(r.FieldHeader(&t, &id));
    if (t == Type::kStop) break;
    Seen v;
    v.type = t;
    v.id = id;
    switch (t) {
      case Type::kTrue:
      case Type::kFalse:
        break;
      case Type::kByte: {
        int8_t x;
        RETURN_IF_ERROR(Get(r.I8(), &x));
        v.i = x;
        break;
      }
      case Type::kI16: {
        int16_t x;
        RETURN_IF_ERROR(Get(r.I16(), &x));
        v.i = x;
        break;
      }
      case Type::kI32: {
        int32_t x;
        RETURN_IF_ERROR(Get(r.I32(), &x));
        v.i = x;
        break;
      }
      case Type::kI64:
        RETURN_IF_ERROR(Get(r.I64(), &v.i));
        break;
      case Type::kDouble: {
        double x;
        RETURN_IF_ERROR(Get(r.Double(), &x));
        v.i = std::bit_cast<int64_t>(x);
        break;
      }
      case Type::kBinary: {
        std::string_view x;
        RETURN_IF_ERROR(Get(r.Binary(), &x));
        v.s = std::string(x);
        break;
      }
      case Type::kStruct:
        RETURN_IF_ERROR(Walk(r, seen));
        continue;
      case Type::kList:
        RETURN_IF_ERROR(WalkList(r, id, seen));
        continue;
      default:
        RETURN_IF_ERROR(r.Skip(t));
        continue;  // set, map
    }
    seen->push_back(std::move(v));
  }
  return r.EndStruct();
}

void Encode(const std::vector<Seen>& seen, std::string* out) {
  Writer w(out);
  w.BeginStruct();
  for (const Seen& v : seen) {
    switch (v.type) {
      case Type::kTrue:
      case Type::kFalse:
        w.FieldBool(v.id, v.type == Type::kTrue);
        break;
      case Type::kByte:
        w.FieldI8(v.id, static_cast<int8_t>(v.i));
        break;
      case Type::kI16:
        w.FieldI16(v.id, static_cast<int16_t>(v.i));
        break;
      case Type::kI32:
        w.FieldI32(v.id, static_cast<int32_t>(v.i));
        break;
      case Type::kI64:
        w.FieldI64(v.id, v.i);
        break;
      case Type::kDouble:
        w.FieldDouble(v.id, std::bit_cast<double>(v.i));
        break;
      case Type::kBinary:
        w.FieldBinary(v.id, v.s);
        break;
      case Type::kList:
        if (v.element == Type::kBinary) {
          w.FieldList(v.id, v.element, static_cast<uint32_t>(v.strings.size()));
          for (const std::string& s : v.strings) w.Binary(s);
        } else {
          w.FieldList(v.id, v.element, static_cast<uint32_t>(v.ints.size()));
          for (int64_t x : v.ints) {
            if (v.element == Type::kI32) {
              w.I32(static_cast<int32_t>(x));
            } else {
              w.I64(x);
            }
          }
        }
        break;
      default:
        Check(false);
    }
  }
  w.EndStruct();
}

void CheckFailure(const Status& s, const Reader& r, size_t size) {
  Check(s.code() == StatusCode::kCorruption);
  Check(s.message().find("at byte") != std::string::npos);
  Check(r.position() <= size);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  std::vector<Seen> seen;
  Reader walker(input, kMaxDepth);
  const Status walked = Walk(walker, &seen);
  if (!walked.ok()) CheckFailure(walked, walker, size);

  // Skip counts lists and maps as nesting levels as well as structs, so
  // with the same limit it may refuse what the walk accepts, never the
  // reverse; with four times the limit it accepts all the walk does.
  Reader skipper(input, kMaxDepth);
  const Status skipped = skipper.Skip(Type::kStruct);
  if (skipped.ok()) {
    Check(walked.ok());
    Check(skipper.position() == walker.position());
  } else {
    CheckFailure(skipped, skipper, size);
  }
  if (walked.ok()) {
    Reader deep(input, 4 * kMaxDepth);
    Check(deep.Skip(Type::kStruct).ok());
    Check(deep.position() == walker.position());
  } else {
    return 0;
  }

  std::string bytes;
  Encode(seen, &bytes);
  std::vector<Seen> back;
  Reader reread(bytes, kMaxDepth);
  Check(Walk(reread, &back).ok());
  Check(reread.at_end());
  Check(back == seen);
  return 0;
}
