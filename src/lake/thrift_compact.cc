#include "lake/thrift_compact.h"

#include <bit>
#include <cstring>
#include <limits>

namespace watershed::lake::thrift {
namespace {

constexpr uint8_t kLongFormSize = 15;  // list size nibble meaning "varint follows"
constexpr int kMaxVarintBytes = 10;    // ceil(64 / 7)

uint64_t ZigZag(int64_t v) {
  // In unsigned arithmetic so that shifting a negative value is defined.
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}

int64_t UnZigZag(uint64_t u) { return static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1)); }

// Field and element types the reader accepts: 1..12. 0 (stop) is only
// meaningful as a whole field-header byte; 13 (uuid) and above are unknown.
bool KnownType(uint8_t t) { return t >= 1 && t <= static_cast<uint8_t>(Type::kStruct); }

// Skip reads values only for their length.
template <typename T>
Status Consumed(const Result<T>& r) {
  return r.ok() ? Status::Ok() : r.status();
}

Status CorruptAt(size_t pos, std::string_view what) {
  return Status::Corruption("thrift compact: " + std::string(what) + " at byte " + std::to_string(pos));
}

}  // namespace

// ---- Writer ----

void Writer::Varint(uint64_t v) {
  while (v >= 0x80) {
    out_->push_back(static_cast<char>(static_cast<uint8_t>(v) | 0x80));
    v >>= 7;
  }
  out_->push_back(static_cast<char>(v));
}

void Writer::FieldHeader(int16_t id, Type type) {
  const int32_t delta = int32_t{id} - int32_t{last_id_.back()};
  if (delta > 0 && delta <= 15) {
    out_->push_back(static_cast<char>((delta << 4) | static_cast<uint8_t>(type)));
  } else {
    out_->push_back(static_cast<char>(type));
    Varint(ZigZag(id));
  }
  last_id_.back() = id;
}

void Writer::FieldBool(int16_t id, bool v) { FieldHeader(id, v ? Type::kTrue : Type::kFalse); }

void Writer::FieldI8(int16_t id, int8_t v) {
  FieldHeader(id, Type::kByte);
  out_->push_back(static_cast<char>(v));
}

void Writer::FieldI16(int16_t id, int16_t v) {
  FieldHeader(id, Type::kI16);
  Varint(ZigZag(v));
}

void Writer::FieldI32(int16_t id, int32_t v) {
  FieldHeader(id, Type::kI32);
  I32(v);
}

void Writer::FieldI64(int16_t id, int64_t v) {
  FieldHeader(id, Type::kI64);
  I64(v);
}

void Writer::FieldDouble(int16_t id, double v) {
  FieldHeader(id, Type::kDouble);
  const uint64_t bits = std::bit_cast<uint64_t>(v);
  for (int i = 0; i < 8; ++i) out_->push_back(static_cast<char>(bits >> (8 * i)));
}

void Writer::FieldBinary(int16_t id, std::string_view v) {
  FieldHeader(id, Type::kBinary);
  Binary(v);
}

void Writer::FieldStruct(int16_t id) {
  FieldHeader(id, Type::kStruct);
  BeginStruct();
}

void Writer::FieldList(int16_t id, Type element, uint32_t size) {
  FieldHeader(id, Type::kList);
  const auto elem = static_cast<uint8_t>(static_cast<uint8_t>(element) & 0x0F);
  if (size < kLongFormSize) {
    out_->push_back(static_cast<char>((size << 4) | elem));
  } else {
    out_->push_back(static_cast<char>(0xF0 | elem));
    Varint(size);
  }
}

// An i32 is zigzagged in 32 bits; for values in range that equals the
// 64-bit zigzag, so one helper serves i16, i32 and i64.
void Writer::I32(int32_t v) { Varint(ZigZag(v)); }
void Writer::I64(int64_t v) { Varint(ZigZag(v)); }

void Writer::Binary(std::string_view v) {
  Varint(v.size());
  out_->append(v);
}

void Writer::BeginStruct() { last_id_.push_back(0); }

void Writer::EndStruct() {
  out_->push_back(0);
  // The bottom entry is the top level (outside any struct); an unbalanced
  // EndStruct must not leave FieldHeader without one.
  if (last_id_.size() > 1) last_id_.pop_back();
}

// ---- Reader ----

Status Reader::Corrupt(const char* what) const { return CorruptAt(pos_, what); }

Result<uint64_t> Reader::Varint() {
  const size_t start = pos_;
  uint64_t v = 0;
  for (int i = 0; i < kMaxVarintBytes; ++i) {
    if (start + i >= in_.size()) return CorruptAt(start, "truncated varint");
    const auto b = static_cast<uint8_t>(in_[start + i]);
    // The 10th byte holds only bit 63; anything more overflows 64 bits.
    if (i == kMaxVarintBytes - 1 && b > 1) return CorruptAt(start, "varint overflows 64 bits");
    v |= uint64_t{b & 0x7Fu} << (7 * i);
    if ((b & 0x80) == 0) {
      pos_ = start + i + 1;
      return v;
    }
  }
  return CorruptAt(start, "varint longer than 10 bytes");
}

Status Reader::BeginStruct() {
  if (max_depth_ < 0 || last_id_.size() >= static_cast<size_t>(max_depth_))
    return Corrupt("nesting deeper than max_depth");
  last_id_.push_back(0);
  return Status::Ok();
}

Status Reader::FieldHeader(Type* type, int16_t* id) {
  if (last_id_.empty()) return Status::FailedPrecondition("thrift compact: FieldHeader outside a struct");
  const size_t start = pos_;
  if (pos_ >= in_.size()) return Corrupt("truncated field header");
  const auto b = static_cast<uint8_t>(in_[pos_]);
  if (b == 0) {
    ++pos_;
    *type = Type::kStop;
    *id = 0;
    return Status::Ok();
  }
  const uint8_t t = b & 0x0F;
  const uint8_t delta = b >> 4;
  if (!KnownType(t)) return Corrupt("unknown field type");
  ++pos_;
  int32_t field_id;
  if (delta != 0) {
    field_id = int32_t{last_id_.back()} + delta;
    if (field_id > std::numeric_limits<int16_t>::max()) return CorruptAt(start, "field id delta overflows i16");
  } else {
    ASSIGN_OR_RETURN(field_id, I16());
  }
  last_id_.back() = static_cast<int16_t>(field_id);
  *type = static_cast<Type>(t);
  *id = static_cast<int16_t>(field_id);
  return Status::Ok();
}

Status Reader::EndStruct() {
  if (last_id_.empty()) return Status::FailedPrecondition("thrift compact: EndStruct outside a struct");
  last_id_.pop_back();
  return Status::Ok();
}

Result<int8_t> Reader::I8() {
  if (pos_ >= in_.size()) return Corrupt("truncated i8");
  return static_cast<int8_t>(in_[pos_++]);
}

Result<int16_t> Reader::I16() {
  const size_t start = pos_;
  ASSIGN_OR_RETURN(uint64_t u, Varint());
  if (u > std::numeric_limits<uint16_t>::max()) return CorruptAt(start, "varint overflows i16");
  return static_cast<int16_t>(UnZigZag(u));
}

Result<int32_t> Reader::I32() {
  const size_t start = pos_;
  ASSIGN_OR_RETURN(uint64_t u, Varint());
  if (u > std::numeric_limits<uint32_t>::max()) return CorruptAt(start, "varint overflows i32");
  return static_cast<int32_t>(UnZigZag(u));
}

Result<int64_t> Reader::I64() {
  ASSIGN_OR_RETURN(uint64_t u, Varint());
  return UnZigZag(u);
}

Result<double> Reader::Double() {
  if (in_.size() - pos_ < 8) return Corrupt("truncated double");
  uint64_t bits = 0;
  for (int i = 0; i < 8; ++i) bits |= uint64_t{static_cast<uint8_t>(in_[pos_ + i])} << (8 * i);
  pos_ += 8;
  return std::bit_cast<double>(bits);
}

Result<std::string_view> Reader::Binary() {
  const size_t start = pos_;
  ASSIGN_OR_RETURN(uint64_t len, Varint());
  if (len > in_.size() - pos_) return CorruptAt(start, "binary length exceeds remaining bytes");
  std::string_view v = in_.substr(pos_, static_cast<size_t>(len));
  pos_ += static_cast<size_t>(len);
  return v;
}

Status Reader::ListHeader(Type* element, uint32_t* size) {
  const size_t start = pos_;
  if (pos_ >= in_.size()) return Corrupt("truncated list header");
  const auto b = static_cast<uint8_t>(in_[pos_]);
  const uint8_t t = b & 0x0F;
  if (!KnownType(t)) return Corrupt("unknown list element type");
  ++pos_;
  uint64_t n = b >> 4;
  if (n == kLongFormSize) {
    ASSIGN_OR_RETURN(n, Varint());
    if (n > static_cast<uint64_t>(std::numeric_limits<int32_t>::max()))
      return CorruptAt(start, "list size overflows i32");
  }
  // Every element takes at least one byte.
  if (n > in_.size() - pos_) return CorruptAt(start, "list size exceeds remaining bytes");
  *element = static_cast<Type>(t);
  *size = static_cast<uint32_t>(n);
  return Status::Ok();
}

// Iterative, with an explicit stack bounded by max_depth, so that hostile
// input cannot exhaust the call stack. The depth of a container is the
// number of structs the caller has open plus the containers being skipped.
Status Reader::Skip(Type type) {
  struct Frame {
    Type kind;          // kStruct, kList (also sets) or kMap
    Type key;           // list element type or map key type
    Type value;         // map value type
    uint64_t left = 0;  // list: elements left; map: keys plus values left
    int32_t last_id = 0;  // struct: the last field id, so that a delta overflow is refused as FieldHeader does
  };
  std::vector<Frame> stack;
  auto push = [&](Frame f) -> Status {
    if (max_depth_ < 0 || last_id_.size() + stack.size() >= static_cast<size_t>(max_depth_))
      return Corrupt("nesting deeper than max_depth");
    stack.push_back(f);
    return Status::Ok();
  };

  Type next = type;
  bool in_collection = false;  // booleans inside collections take one byte
  for (;;) {
    switch (next) {
      case Type::kTrue:
      case Type::kFalse:
        if (in_collection) {
          if (pos_ >= in_.size()) return Corrupt("truncated bool element");
          ++pos_;
        }
        break;
      case Type::kByte:
        RETURN_IF_ERROR(Consumed(I8()));
        break;
      case Type::kI16:
        RETURN_IF_ERROR(Consumed(I16()));
        break;
      case Type::kI32:
        RETURN_IF_ERROR(Consumed(I32()));
        break;
      case Type::kI64:
        RETURN_IF_ERROR(Consumed(I64()));
        break;
      case Type::kDouble:
        RETURN_IF_ERROR(Consumed(Double()));
        break;
      case Type::kBinary:
        RETURN_IF_ERROR(Consumed(Binary()));
        break;
      case Type::kList:
      case Type::kSet: {
        Type elem;
        uint32_t n;
        RETURN_IF_ERROR(ListHeader(&elem, &n));
        RETURN_IF_ERROR(push({Type::kList, elem, Type::kStop, n, 0}));
        break;
      }
      case Type::kMap: {
        const size_t start = pos_;
        ASSIGN_OR_RETURN(uint64_t n, Varint());
        if (n > static_cast<uint64_t>(std::numeric_limits<int32_t>::max()))
          return CorruptAt(start, "map size overflows i32");
        Frame f{Type::kMap, Type::kStop, Type::kStop, 0, 0};
        if (n > 0) {
          if (pos_ >= in_.size()) return Corrupt("truncated map header");
          const auto b = static_cast<uint8_t>(in_[pos_]);
          if (!KnownType(b >> 4) || !KnownType(b & 0x0F)) return Corrupt("unknown map key or value type");
          ++pos_;
          // Every key and every value takes at least one byte.
          if (n > (in_.size() - pos_) / 2) return CorruptAt(start, "map size exceeds remaining bytes");
          f.key = static_cast<Type>(b >> 4);
          f.value = static_cast<Type>(b & 0x0F);
          f.left = 2 * n;
        }
        RETURN_IF_ERROR(push(f));
        break;
      }
      case Type::kStruct:
        RETURN_IF_ERROR(push({Type::kStruct, Type::kStop, Type::kStop, 0, 0}));
        break;
      case Type::kStop:
      default:
        return Corrupt("cannot skip unknown type");
    }

    // Find the next value to skip, closing finished containers.
    for (;;) {
      if (stack.empty()) return Status::Ok();
      Frame& f = stack.back();
      if (f.kind == Type::kStruct) {
        if (pos_ >= in_.size()) return Corrupt("truncated field header");
        const auto b = static_cast<uint8_t>(in_[pos_]);
        if (b == 0) {
          ++pos_;
          stack.pop_back();
          continue;
        }
        const uint8_t t = b & 0x0F;
        if (!KnownType(t)) return Corrupt("unknown field type");
        const size_t start = pos_;
        ++pos_;
        if ((b >> 4) == 0) {
          ASSIGN_OR_RETURN(int16_t id, I16());
          f.last_id = id;
        } else {
          f.last_id += b >> 4;
          if (f.last_id > std::numeric_limits<int16_t>::max()) return CorruptAt(start, "field id delta overflows i16");
        }
        next = static_cast<Type>(t);
        in_collection = false;
        break;
      }
      if (f.left == 0) {
        stack.pop_back();
        continue;
      }
      // Map: an even count left means a key is next.
      next = (f.kind == Type::kMap && f.left % 2 == 1) ? f.value : f.key;
      --f.left;
      in_collection = true;
      break;
    }
  }
}

}  // namespace watershed::lake::thrift
