#include "recs/model_file.h"

#include <cstring>

#include "core/crc32c.h"
#include "core/endian.h"

namespace watershed::recs {
namespace {

constexpr char kMagic[8] = {'W', 'S', 'R', 'E', 'C', 'B', 'I', 'N'};
constexpr size_t kHeader = 24;

const char* TypeName(NamedArray::Type t) {
  switch (t) {
    case NamedArray::Type::kF32:
      return "f32";
    case NamedArray::Type::kU32:
      return "u32";
    case NamedArray::Type::kI64:
      return "i64";
    case NamedArray::Type::kStrings:
      return "strings";
  }
  return "?";
}

void PutU16(std::string* out, uint16_t v) { out->append(reinterpret_cast<const char*>(&v), 2); }
void PutU32(std::string* out, uint32_t v) { out->append(reinterpret_cast<const char*>(&v), 4); }
void PutU64(std::string* out, uint64_t v) { out->append(reinterpret_cast<const char*>(&v), 8); }
template <typename T>
void PutRaw(std::string* out, const std::vector<T>& v) {
  if (!v.empty()) out->append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

// Reads the body; every count is checked against the bytes left before anything
// is allocated.
class Reader {
 public:
  Reader(std::string_view body, const std::string& path) : p_(body), path_(path) {}
  bool Has(size_t n) const { return p_.size() >= n; }
  size_t left() const { return p_.size(); }
  uint64_t Fixed(size_t n) {
    uint64_t v = 0;
    std::memcpy(&v, p_.data(), n);
    p_.remove_prefix(n);
    return v;
  }
  std::string_view Bytes(size_t n) {
    std::string_view s = p_.substr(0, n);
    p_.remove_prefix(n);
    return s;
  }
  Status Error(const std::string& what) const { return Status::Corruption(path_ + ": model/array file " + what); }

 private:
  std::string_view p_;
  const std::string& path_;
};

template <typename T>
Status ReadRaw(Reader& r, uint64_t count, const std::string& name, std::vector<T>* out) {
  if (count > r.left() / sizeof(T)) return r.Error("is truncated: array '" + name + "' runs past the end");
  out->resize(count);
  if (count) std::memcpy(out->data(), r.Bytes(count * sizeof(T)).data(), count * sizeof(T));
  return Status::Ok();
}

template <typename T>
Result<const std::vector<T>*> Typed(const ArrayFile& f, const std::string& name, size_t count, NamedArray::Type type,
                                    const std::vector<T> NamedArray::*member) {
  auto it = f.arrays.find(name);
  if (it == f.arrays.end()) return Status::Corruption(f.path + ": has no array '" + name + "'");
  if (it->second.type != type)
    return Status::Corruption(f.path + ": array '" + name + "' holds " + TypeName(it->second.type) + ", not " +
                              TypeName(type));
  const std::vector<T>& v = it->second.*member;
  if (count != ArrayFile::kAnyCount && v.size() != count)
    return Status::Corruption(f.path + ": array '" + name + "' has " + std::to_string(v.size()) + " values, expected " +
                              std::to_string(count));
  return &v;
}

}  // namespace

size_t NamedArray::size() const {
  switch (type) {
    case Type::kF32:
      return f32.size();
    case Type::kU32:
      return u32.size();
    case Type::kI64:
      return i64.size();
    case Type::kStrings:
      return strings.size();
  }
  return 0;
}

void ArrayFile::Put(const std::string& name, std::vector<float> v) {
  NamedArray& a = arrays[name] = {};
  a.type = NamedArray::Type::kF32;
  a.f32 = std::move(v);
}
void ArrayFile::Put(const std::string& name, std::vector<uint32_t> v) {
  NamedArray& a = arrays[name] = {};
  a.type = NamedArray::Type::kU32;
  a.u32 = std::move(v);
}
void ArrayFile::Put(const std::string& name, std::vector<int64_t> v) {
  NamedArray& a = arrays[name] = {};
  a.type = NamedArray::Type::kI64;
  a.i64 = std::move(v);
}
void ArrayFile::Put(const std::string& name, std::vector<std::string> v) {
  NamedArray& a = arrays[name] = {};
  a.type = NamedArray::Type::kStrings;
  a.strings = std::move(v);
}

Result<const std::vector<float>*> ArrayFile::F32(const std::string& name, size_t count) const {
  return Typed(*this, name, count, NamedArray::Type::kF32, &NamedArray::f32);
}
Result<const std::vector<uint32_t>*> ArrayFile::U32(const std::string& name, size_t count) const {
  return Typed(*this, name, count, NamedArray::Type::kU32, &NamedArray::u32);
}
Result<const std::vector<int64_t>*> ArrayFile::I64(const std::string& name, size_t count) const {
  return Typed(*this, name, count, NamedArray::Type::kI64, &NamedArray::i64);
}
Result<const std::vector<std::string>*> ArrayFile::Strings(const std::string& name, size_t count) const {
  return Typed(*this, name, count, NamedArray::Type::kStrings, &NamedArray::strings);
}

std::string EncodeArrayFile(const ArrayFile& file) {
  std::string body;
  PutU16(&body, static_cast<uint16_t>(file.kind.size()));
  body += file.kind;
  PutU32(&body, static_cast<uint32_t>(file.arrays.size()));
  for (const auto& [name, a] : file.arrays) {
    body.push_back(static_cast<char>(a.type));
    PutU16(&body, static_cast<uint16_t>(name.size()));
    body += name;
    PutU64(&body, a.size());
    PutRaw(&body, a.f32);
    PutRaw(&body, a.u32);
    PutRaw(&body, a.i64);
    for (const std::string& s : a.strings) {
      PutU32(&body, static_cast<uint32_t>(s.size()));
      body += s;
    }
  }
  std::string out(kMagic, sizeof kMagic);
  PutU32(&out, kArrayFileVersion);
  PutU32(&out, crc32c::Value(body));
  PutU64(&out, body.size());
  return out + body;
}

Result<ArrayFile> DecodeArrayFile(std::string_view bytes, const std::string& path) {
  Reader header(bytes, path);
  if (bytes.size() < kHeader)
    return header.Error("is truncated: " + std::to_string(bytes.size()) + " bytes, shorter than the 24-byte header");
  if (std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) return header.Error("has the wrong magic");
  const uint32_t version = GetFixed32(bytes.data() + 8);
  if (version != kArrayFileVersion)
    return header.Error("has version " + std::to_string(version) + " (this build reads version 1)");
  const uint32_t crc = GetFixed32(bytes.data() + 12);
  const uint64_t length = GetFixed64(bytes.data() + 16);
  if (length != bytes.size() - kHeader)
    return header.Error("is truncated: the header announces " + std::to_string(length) +
                        " body bytes, the file holds " + std::to_string(bytes.size() - kHeader));
  const std::string_view body = bytes.substr(kHeader);
  if (crc32c::Value(body) != crc) return header.Error("is damaged: the body's CRC does not match");

  Reader r(body, path);
  ArrayFile f;
  f.path = path;
  if (!r.Has(2)) return r.Error("is truncated in its kind");
  const size_t kind_length = r.Fixed(2);
  if (!r.Has(kind_length + 4)) return r.Error("is truncated in its kind");
  f.kind = std::string(r.Bytes(kind_length));
  const uint32_t count = static_cast<uint32_t>(r.Fixed(4));
  std::string previous;
  for (uint32_t k = 0; k < count; ++k) {
    if (!r.Has(3)) return r.Error("is truncated at array " + std::to_string(k));
    const uint8_t type = static_cast<uint8_t>(r.Fixed(1));
    const size_t name_length = r.Fixed(2);
    if (!r.Has(name_length + 8)) return r.Error("is truncated at array " + std::to_string(k));
    std::string name(r.Bytes(name_length));
    if (k > 0 && name <= previous)
      return r.Error("is inconsistent: array '" + name + "' is a duplicate or out of order");
    previous = name;
    const uint64_t n = r.Fixed(8);
    NamedArray a;
    a.type = static_cast<NamedArray::Type>(type);
    Status s;
    switch (a.type) {
      case NamedArray::Type::kF32:
        s = ReadRaw(r, n, name, &a.f32);
        break;
      case NamedArray::Type::kU32:
        s = ReadRaw(r, n, name, &a.u32);
        break;
      case NamedArray::Type::kI64:
        s = ReadRaw(r, n, name, &a.i64);
        break;
      case NamedArray::Type::kStrings:
        if (n > r.left() / 4) return r.Error("is truncated: array '" + name + "' runs past the end");
        a.strings.reserve(n);
        for (uint64_t i = 0; i < n; ++i) {
          if (!r.Has(4)) return r.Error("is truncated: array '" + name + "' runs past the end");
          const size_t len = r.Fixed(4);
          if (!r.Has(len)) return r.Error("is truncated: array '" + name + "' runs past the end");
          a.strings.emplace_back(r.Bytes(len));
        }
        break;
      default:
        return r.Error("is inconsistent: array '" + name + "' has unknown type " + std::to_string(type));
    }
    if (!s.ok()) return s;
    f.arrays.emplace(std::move(name), std::move(a));
  }
  if (r.left() != 0) return r.Error("is inconsistent: " + std::to_string(r.left()) + " bytes after the last array");
  return f;
}

}  // namespace watershed::recs
