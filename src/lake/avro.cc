#include "lake/avro.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <map>

#include "core/random.h"

namespace watershed::lake::avro {
namespace {

constexpr int kMaxVarintBytes = 10;  // ceil(64 / 7)

uint64_t ZigZag(int64_t v) {
  // In unsigned arithmetic so that shifting a negative value is defined.
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}

int64_t UnZigZag(uint64_t u) { return static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1)); }

}  // namespace

// ---- AvroValue ----

namespace {
// A value of `type` with one member set by `set`.
template <typename F>
AvroValue Typed(Type type, F&& set) {
  AvroValue x;
  x.type = type;
  set(x);
  return x;
}
}  // namespace

AvroValue AvroValue::Boolean(bool v) { return Typed(Type::kBoolean, [&](AvroValue& x) { x.b = v; }); }
AvroValue AvroValue::Int(int32_t v) { return Typed(Type::kInt, [&](AvroValue& x) { x.i = v; }); }
AvroValue AvroValue::Long(int64_t v) { return Typed(Type::kLong, [&](AvroValue& x) { x.i = v; }); }
AvroValue AvroValue::Float(float v) { return Typed(Type::kFloat, [&](AvroValue& x) { x.d = v; }); }
AvroValue AvroValue::Double(double v) { return Typed(Type::kDouble, [&](AvroValue& x) { x.d = v; }); }
AvroValue AvroValue::Bytes(std::string_view v) { return Typed(Type::kBytes, [&](AvroValue& x) { x.s = v; }); }
AvroValue AvroValue::String(std::string_view v) { return Typed(Type::kString, [&](AvroValue& x) { x.s = v; }); }
AvroValue AvroValue::Fixed(std::string_view v) { return Typed(Type::kFixed, [&](AvroValue& x) { x.s = v; }); }
AvroValue AvroValue::Array(std::vector<AvroValue> items) {
  return Typed(Type::kArray, [&](AvroValue& x) { x.items = std::move(items); });
}
AvroValue AvroValue::Map(std::vector<std::pair<std::string, AvroValue>> entries) {
  return Typed(Type::kMap, [&](AvroValue& x) { x.entries = std::move(entries); });
}
AvroValue AvroValue::Record(std::vector<AvroValue> fields) {
  return Typed(Type::kRecord, [&](AvroValue& x) { x.items = std::move(fields); });
}
AvroValue AvroValue::Union(int64_t branch, AvroValue value) {
  return Typed(Type::kUnion, [&](AvroValue& x) {
    x.i = branch;
    x.items.push_back(std::move(value));
  });
}

// ---- Encoder ----

void Encoder::Long(int64_t v) {
  uint64_t u = ZigZag(v);
  while (u >= 0x80) {
    out_->push_back(static_cast<char>(static_cast<uint8_t>(u) | 0x80));
    u >>= 7;
  }
  out_->push_back(static_cast<char>(u));
}

void Encoder::Float(float v) {
  const uint32_t bits = std::bit_cast<uint32_t>(v);
  for (int k = 0; k < 4; ++k) out_->push_back(static_cast<char>(bits >> (8 * k)));
}

void Encoder::Double(double v) {
  const uint64_t bits = std::bit_cast<uint64_t>(v);
  for (int k = 0; k < 8; ++k) out_->push_back(static_cast<char>(bits >> (8 * k)));
}

void Encoder::Bytes(std::string_view v) {
  Long(static_cast<int64_t>(v.size()));
  out_->append(v);
}

// ---- Decoder ----

Status Decoder::Corrupt(std::string_view what) const {
  return Status::Corruption("avro: " + std::string(what) + " at byte " + std::to_string(base_ + pos_));
}

Result<int64_t> Decoder::Long() {
  uint64_t u = 0;
  for (int k = 0; k < kMaxVarintBytes; ++k) {
    if (pos_ >= in_.size()) return Corrupt("truncated varint");
    const uint8_t byte = static_cast<uint8_t>(in_[pos_++]);
    if (k == kMaxVarintBytes - 1 && byte > 1) return Corrupt("varint longer than 64 bits");
    u |= static_cast<uint64_t>(byte & 0x7f) << (7 * k);
    if ((byte & 0x80) == 0) return UnZigZag(u);
  }
  return Corrupt("varint longer than 10 bytes");
}

Result<int32_t> Decoder::Int() {
  ASSIGN_OR_RETURN(int64_t v, Long());
  if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max()) {
    return Corrupt("int out of range");
  }
  return static_cast<int32_t>(v);
}

Result<bool> Decoder::Boolean() {
  if (pos_ >= in_.size()) return Corrupt("truncated boolean");
  const uint8_t byte = static_cast<uint8_t>(in_[pos_]);
  if (byte > 1) return Corrupt("boolean not 0 or 1");
  ++pos_;
  return byte == 1;
}

Result<float> Decoder::Float() {
  ASSIGN_OR_RETURN(std::string_view raw, Fixed(4));
  uint32_t bits = 0;
  for (int k = 0; k < 4; ++k)
    bits |= static_cast<uint32_t>(static_cast<uint8_t>(raw[static_cast<size_t>(k)])) << (8 * k);
  return std::bit_cast<float>(bits);
}

Result<double> Decoder::Double() {
  ASSIGN_OR_RETURN(std::string_view raw, Fixed(8));
  uint64_t bits = 0;
  for (int k = 0; k < 8; ++k)
    bits |= static_cast<uint64_t>(static_cast<uint8_t>(raw[static_cast<size_t>(k)])) << (8 * k);
  return std::bit_cast<double>(bits);
}

Result<std::string_view> Decoder::Bytes() {
  const size_t start = pos_;
  ASSIGN_OR_RETURN(int64_t n, Long());
  if (n < 0 || static_cast<uint64_t>(n) > remaining()) {
    pos_ = start;
    return Corrupt("bytes length out of range");
  }
  return Fixed(static_cast<size_t>(n));
}

Result<std::string_view> Decoder::Fixed(size_t n) {
  if (n > remaining()) return Corrupt("truncated fixed-size value");
  std::string_view v = in_.substr(pos_, n);
  pos_ += n;
  return v;
}

// ---- Values ----

namespace {

Status Mismatch(const SchemaNode& node, const AvroValue& value, std::string_view what = "") {
  return Status::InvalidArgument("avro: " + std::string(TypeName(value.type)) + " value for a " +
                                 std::string(TypeName(node.type)) + " schema" +
                                 (what.empty() ? "" : ": " + std::string(what)));
}

Status Encode(const Schema& schema, int index, const AvroValue& v, Encoder& enc, int depth) {
  const SchemaNode& node = schema.node(index);
  if (depth > kMaxSchemaDepth * 4) return Status::InvalidArgument("avro: value nested too deeply");
  if (v.type != node.type) return Mismatch(node, v);
  switch (node.type) {
    case Type::kNull:
      return Status::Ok();
    case Type::kBoolean:
      enc.Boolean(v.b);
      return Status::Ok();
    case Type::kInt:
      if (v.i < std::numeric_limits<int32_t>::min() || v.i > std::numeric_limits<int32_t>::max()) {
        return Mismatch(node, v, "out of int range");
      }
      enc.Int(static_cast<int32_t>(v.i));
      return Status::Ok();
    case Type::kLong:
      enc.Long(v.i);
      return Status::Ok();
    case Type::kFloat:
      enc.Float(static_cast<float>(v.d));
      return Status::Ok();
    case Type::kDouble:
      enc.Double(v.d);
      return Status::Ok();
    case Type::kBytes:
      enc.Bytes(v.s);
      return Status::Ok();
    case Type::kString:
      enc.String(v.s);
      return Status::Ok();
    case Type::kFixed:
      if (static_cast<int64_t>(v.s.size()) != node.fixed_size) return Mismatch(node, v, "wrong size");
      enc.Fixed(v.s);
      return Status::Ok();
    case Type::kRecord:
      if (v.items.size() != node.children.size()) return Mismatch(node, v, "wrong field count for " + node.name);
      for (size_t f = 0; f < node.children.size(); ++f) {
        RETURN_IF_ERROR(Encode(schema, node.children[f], v.items[f], enc, depth + 1));
      }
      return Status::Ok();
    case Type::kArray:
      if (!v.items.empty()) {
        enc.BlockCount(static_cast<int64_t>(v.items.size()));
        for (const AvroValue& item : v.items) RETURN_IF_ERROR(Encode(schema, node.children[0], item, enc, depth + 1));
      }
      enc.EndBlocks();
      return Status::Ok();
    case Type::kMap:
      if (!v.entries.empty()) {
        enc.BlockCount(static_cast<int64_t>(v.entries.size()));
        for (const auto& [key, value] : v.entries) {
          enc.String(key);
          RETURN_IF_ERROR(Encode(schema, node.children[0], value, enc, depth + 1));
        }
      }
      enc.EndBlocks();
      return Status::Ok();
    case Type::kUnion:
      if (v.i < 0 || static_cast<uint64_t>(v.i) >= node.children.size() || v.items.size() != 1) {
        return Mismatch(node, v, "no such branch");
      }
      enc.UnionBranch(v.i);
      return Encode(schema, node.children[static_cast<size_t>(v.i)], v.items[0], enc, depth + 1);
  }
  return Mismatch(node, v);
}

class ValueDecoder {
 public:
  ValueDecoder(const Schema& schema, Decoder& in, const ReadLimits& limits)
      : schema_(schema), in_(in), max_depth_(limits.max_depth), values_left_(limits.max_values) {}

  Status Decode(int index, int depth, AvroValue* out) {
    if (--values_left_ < 0) return in_.Corrupt("too many values");
    if (depth > max_depth_) return in_.Corrupt("nested too deeply");
    const SchemaNode& node = schema_.node(index);
    out->type = node.type;
    switch (node.type) {
      case Type::kNull:
        return Status::Ok();
      case Type::kBoolean:
        return Get(in_.Boolean(), &out->b);
      case Type::kInt: {
        int32_t v = 0;
        RETURN_IF_ERROR(Get(in_.Int(), &v));
        out->i = v;
        return Status::Ok();
      }
      case Type::kLong:
        return Get(in_.Long(), &out->i);
      case Type::kFloat: {
        float v = 0;
        RETURN_IF_ERROR(Get(in_.Float(), &v));
        out->d = v;
        return Status::Ok();
      }
      case Type::kDouble:
        return Get(in_.Double(), &out->d);
      case Type::kBytes:
      case Type::kString: {
        std::string_view v;
        RETURN_IF_ERROR(Get(in_.Bytes(), &v));
        out->s = std::string(v);
        return Status::Ok();
      }
      case Type::kFixed: {
        std::string_view v;
        RETURN_IF_ERROR(Get(in_.Fixed(static_cast<size_t>(node.fixed_size)), &v));
        out->s = std::string(v);
        return Status::Ok();
      }
      case Type::kRecord:
        out->items.resize(node.children.size());
        for (size_t f = 0; f < node.children.size(); ++f) {
          RETURN_IF_ERROR(Decode(node.children[f], depth + 1, &out->items[f]));
        }
        return Status::Ok();
      case Type::kUnion: {
        int64_t branch = 0;
        RETURN_IF_ERROR(Get(in_.Long(), &branch));
        if (branch < 0 || static_cast<uint64_t>(branch) >= node.children.size()) {
          return in_.Corrupt("union branch out of range");
        }
        out->i = branch;
        out->items.resize(1);
        return Decode(node.children[static_cast<size_t>(branch)], depth + 1, &out->items[0]);
      }
      case Type::kArray:
      case Type::kMap:
        return Blocks(node, depth, out);
    }
    return in_.Corrupt("bad schema node");
  }

  Decoder& in() { return in_; }
  int64_t values_left() const { return values_left_; }

 private:
  template <typename T>
  static Status Get(Result<T> r, T* out) {
    if (!r.ok()) return r.status();
    *out = std::move(r).value();
    return Status::Ok();
  }

  Status Blocks(const SchemaNode& node, int depth, AvroValue* out) {
    const bool is_map = node.type == Type::kMap;
    // A map entry is at least its key's length byte.
    const int64_t item_min = schema_.node(node.children[0]).min_size + (is_map ? 1 : 0);
    for (;;) {
      int64_t count = 0;
      RETURN_IF_ERROR(Get(in_.Long(), &count));
      if (count == 0) return Status::Ok();
      size_t block_end = 0;
      if (count < 0) {
        if (count == std::numeric_limits<int64_t>::min()) return in_.Corrupt("block count out of range");
        count = -count;
        int64_t size = 0;
        RETURN_IF_ERROR(Get(in_.Long(), &size));
        if (size < 0 || static_cast<uint64_t>(size) > in_.remaining()) return in_.Corrupt("block size out of range");
        block_end = in_.position() + static_cast<size_t>(size);
      }
      if (item_min > 0 && static_cast<uint64_t>(count) > in_.remaining() / static_cast<uint64_t>(item_min)) {
        return in_.Corrupt("block count exceeds the remaining bytes");
      }
      if (count > values_left_) return in_.Corrupt("too many values");
      for (int64_t k = 0; k < count; ++k) {
        AvroValue* item;
        if (is_map) {
          std::string_view key;
          RETURN_IF_ERROR(Get(in_.String(), &key));
          out->entries.emplace_back(std::string(key), AvroValue{});
          item = &out->entries.back().second;
        } else {
          out->items.emplace_back();
          item = &out->items.back();
        }
        RETURN_IF_ERROR(Decode(node.children[0], depth + 1, item));
      }
      if (block_end != 0 && in_.position() != block_end) return in_.Corrupt("block size does not match its items");
    }
  }

  const Schema& schema_;
  Decoder& in_;
  int max_depth_;
  int64_t values_left_;
};

}  // namespace

Status EncodeValue(const Schema& schema, int node, const AvroValue& value, std::string* out) {
  const size_t size = out->size();
  Encoder enc(out);
  Status s = Encode(schema, node, value, enc, 0);
  if (!s.ok()) out->resize(size);
  return s;
}

Result<AvroValue> DecodeValue(const Schema& schema, int node, Decoder& in, const ReadLimits& limits) {
  ValueDecoder dec(schema, in, limits);
  AvroValue v;
  RETURN_IF_ERROR(dec.Decode(node, 0, &v));
  return v;
}

// ---- Container files ----

namespace {

constexpr std::string_view kSchemaKey = "avro.schema";
constexpr std::string_view kCodecKey = "avro.codec";

SyncMarker RandomSync() {
  SyncMarker sync;
  RandomBytes(sync.data(), sync.size());
  return sync;
}

std::string_view SyncView(const SyncMarker& s) { return {reinterpret_cast<const char*>(s.data()), s.size()}; }

}  // namespace

Result<ContainerWriter> ContainerWriter::Make(std::string_view schema_json, const Metadata& extra,
                                              const WriterOptions& options) {
  ContainerWriter w;
  ASSIGN_OR_RETURN(w.schema_, Schema::Parse(schema_json));
  for (size_t k = 0; k < extra.size(); ++k) {
    if (extra[k].first.starts_with("avro.")) {
      return Status::InvalidArgument("avro: metadata key " + extra[k].first + " is reserved");
    }
    for (size_t j = 0; j < k; ++j) {
      if (extra[j].first == extra[k].first)
        return Status::InvalidArgument("avro: metadata key " + extra[k].first + " repeated");
    }
  }
  w.options_ = options;
  if (w.options_.objects_per_block == 0) w.options_.objects_per_block = 1;
  w.sync_ = options.fixed_sync ? options.sync : RandomSync();

  w.file_.append(kMagic, sizeof(kMagic));
  Encoder enc(&w.file_);
  enc.BlockCount(static_cast<int64_t>(2 + extra.size()));
  enc.String(kSchemaKey);
  enc.Bytes(schema_json);
  enc.String(kCodecKey);
  enc.Bytes("null");
  for (const auto& [key, value] : extra) {
    enc.String(key);
    enc.Bytes(value);
  }
  enc.EndBlocks();
  w.file_.append(SyncView(w.sync_));
  return w;
}

Status ContainerWriter::Append(const AvroValue& value) {
  RETURN_IF_ERROR(EncodeValue(schema_, schema_.root(), value, &block_));
  if (++block_objects_ >= static_cast<int64_t>(options_.objects_per_block)) FlushBlock();
  return Status::Ok();
}

void ContainerWriter::FlushBlock() {
  if (block_objects_ == 0) return;
  Encoder enc(&file_);
  enc.Long(block_objects_);
  enc.Long(static_cast<int64_t>(block_.size()));
  file_.append(block_);
  file_.append(SyncView(sync_));
  block_.clear();
  block_objects_ = 0;
}

std::string ContainerWriter::Finish() {
  FlushBlock();
  std::string out = std::move(file_);
  file_.clear();
  return out;
}

const std::string* ContainerFile::Find(std::string_view key) const {
  for (const auto& [k, v] : metadata) {
    if (k == key) return &v;
  }
  return nullptr;
}

Result<ContainerFile> ReadContainer(std::string_view file, const ReadLimits& limits) {
  std::vector<AvroValue> objects;
  ASSIGN_OR_RETURN(ContainerFile out, StreamContainer(
                                          file,
                                          [&objects](const Schema&, AvroValue&& v) {
                                            objects.push_back(std::move(v));
                                            return Status::Ok();
                                          },
                                          limits));
  out.objects = std::move(objects);
  return out;
}

Result<ContainerFile> StreamContainer(std::string_view file, const ObjectFn& each, const ReadLimits& limits) {
  ContainerFile out;
  Decoder in(file);
  {
    auto m = in.Fixed(sizeof(kMagic));
    if (!m.ok() || std::memcmp(m.value().data(), kMagic, sizeof(kMagic)) != 0) {
      return Status::Corruption("avro: not an object container file (bad magic)");
    }
  }
  // File metadata: map<bytes>, each entry at least two length bytes.
  for (;;) {
    ASSIGN_OR_RETURN(int64_t count, in.Long());
    if (count == 0) break;
    if (count < 0) {
      if (count == std::numeric_limits<int64_t>::min()) return in.Corrupt("metadata count out of range");
      count = -count;
      ASSIGN_OR_RETURN(int64_t size, in.Long());
      if (size < 0 || static_cast<uint64_t>(size) > in.remaining())
        return in.Corrupt("metadata block size out of range");
    }
    if (static_cast<uint64_t>(count) > in.remaining() / 2)
      return in.Corrupt("metadata count exceeds the remaining bytes");
    for (int64_t k = 0; k < count; ++k) {
      ASSIGN_OR_RETURN(std::string_view key, in.String());
      ASSIGN_OR_RETURN(std::string_view value, in.Bytes());
      out.metadata.emplace_back(std::string(key), std::string(value));
    }
  }
  ASSIGN_OR_RETURN(std::string_view sync, in.Fixed(kSyncSize));
  std::memcpy(out.sync.data(), sync.data(), kSyncSize);
  out.block_ends.push_back(in.position());

  const std::string* codec = out.Find(kCodecKey);
  if (codec != nullptr && *codec != "null") return Status::Corruption("avro: unsupported codec " + *codec);
  const std::string* schema_json = out.Find(kSchemaKey);
  if (schema_json == nullptr) return Status::Corruption("avro: no avro.schema in the file metadata");
  {
    Result<Schema> schema = Schema::Parse(*schema_json);
    if (!schema.ok()) return Status::Corruption("avro: file schema: " + schema.status().message());
    out.schema = std::move(schema).value();
  }

  const int64_t object_min = out.schema.node(out.schema.root()).min_size;
  int64_t values_left = std::max<int64_t>(limits.max_values, 4 * static_cast<int64_t>(file.size()));
  while (!in.at_end()) {
    ASSIGN_OR_RETURN(int64_t count, in.Long());
    ASSIGN_OR_RETURN(int64_t size, in.Long());
    if (count < 0) return in.Corrupt("negative block object count");
    if (size < 0 || static_cast<uint64_t>(size) > in.remaining()) return in.Corrupt("block size out of range");
    if (object_min > 0 && count > size / object_min) return in.Corrupt("block object count exceeds its size");
    if (count > values_left) return in.Corrupt("too many values");
    const size_t start = in.position();
    Decoder block(file.substr(start, static_cast<size_t>(size)), start);
    ReadLimits block_limits = limits;
    block_limits.max_values = values_left;
    ValueDecoder dec(out.schema, block, block_limits);
    for (int64_t k = 0; k < count; ++k) {
      AvroValue v;
      RETURN_IF_ERROR(dec.Decode(out.schema.root(), 0, &v));
      RETURN_IF_ERROR(each(out.schema, std::move(v)));
    }
    values_left = dec.values_left();
    if (!block.at_end()) return block.Corrupt("block size does not match its objects");
    if (!in.Fixed(static_cast<size_t>(size)).ok()) return in.Corrupt("truncated block");
    ASSIGN_OR_RETURN(std::string_view marker, in.Fixed(kSyncSize));
    if (marker != SyncView(out.sync)) return in.Corrupt("sync marker mismatch");
    out.block_ends.push_back(in.position());
  }
  return out;
}

}  // namespace watershed::lake::avro
