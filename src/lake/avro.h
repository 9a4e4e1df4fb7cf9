#pragma once
// Apache Avro 1.11, as far as Iceberg metadata needs it: the binary
// encoding, a small schema tree, a datum model, and object container files
// with the "null" codec. We write Avro ourselves because Iceberg's readers
// look up columns by the "field-id" attributes in the file's schema, and the
// schema text we are given goes into the header byte for byte.
//
// Binary encoding (Avro spec, "Binary Encoding"):
//   null: nothing; boolean: one byte 0/1; int/long: zigzag varint
//   (0->00, -1->01, 1->02, -64->7f, 64->80 01); float/double: 4/8 bytes
//   little-endian IEEE 754; bytes/string: long length + bytes; fixed: the
//   declared number of bytes; record: its fields in declaration order;
//   union: long branch index + the branch's value; array/map: blocks of
//   (long count, items) ended by count 0 (a negative count is followed by a
//   long byte size and means |count| items; we never write that form but
//   read it). Map items are (string key, value).
//
// Object container file (Avro spec, "Object Container Files"):
//   "Obj" 0x01, file metadata as a map<bytes> (avro.schema = schema JSON,
//   avro.codec = "null", plus user keys), 16-byte random sync marker; then
//   blocks of (long object count, long byte size, objects, sync marker).
//
// Reader contract: every read is bounds-checked; truncated or malformed
// input gives kCorruption with a byte position, never UB. Nesting is limited
// (ReadLimits::max_depth), an array, map or block may not claim more items
// than bytes remain unless its items can encode in zero bytes, and the total
// number of decoded values is capped (ReadLimits::max_values). Only the
// "null" codec (or no codec entry) is supported. Strings are not checked
// for valid UTF-8. Enums are not supported (Iceberg does not use them).
// Fuzzed by fuzz/avro_reader_fuzz.cc.
//
// Thread safety: Schema and AvroValue are plain values; a ContainerWriter is
// used by one thread at a time.

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace watershed::lake::avro {

enum class Type : uint8_t {
  kNull,
  kBoolean,
  kInt,
  kLong,
  kFloat,
  kDouble,
  kBytes,
  kString,
  kRecord,
  kArray,
  kMap,
  kUnion,
  kFixed,
};

std::string_view TypeName(Type type);

// One node of a parsed schema. Nodes live in Schema's arena and refer to
// each other by index, so named types may be referenced (and recursive).
struct SchemaNode {
  Type type = Type::kNull;
  std::string name;                      // full name (record, fixed)
  std::vector<std::string> field_names;  // record
  // record: field types; union: branches; array: {items}; map: {values}.
  std::vector<int> children;
  int64_t fixed_size = 0;    // fixed
  std::string logical_type;  // annotation only; not interpreted
  int64_t min_size = 0;      // lower bound on an encoded value's size
};

// Schema::Parse refuses schemas nested deeper than this.
inline constexpr int kMaxSchemaDepth = 64;

class Schema {
 public:
  // Parses Avro schema JSON (primitive names, record/error, array, map,
  // union, fixed, named-type references with namespaces). Unknown
  // attributes (field-id, logicalType, doc, ...) are accepted and ignored,
  // except logicalType which is kept as an annotation. kInvalidArgument on
  // malformed JSON, unknown types, enums, or nesting deeper than
  // kMaxSchemaDepth.
  static Result<Schema> Parse(std::string_view json);

  int root() const { return root_; }
  // REQUIRES: 0 <= i < size()
  const SchemaNode& node(int i) const { return nodes_[static_cast<size_t>(i)]; }
  size_t size() const { return nodes_.size(); }
  // The text Parse was given, verbatim.
  const std::string& json() const { return json_; }

 private:
  friend class SchemaParser;
  std::vector<SchemaNode> nodes_;
  int root_ = 0;
  std::string json_;
};

// A decoded or to-be-encoded datum: a tagged struct rather than a variant
// so that it can nest without indirection. Only the members named for its
// type are meaningful; the factories set exactly those.
struct AvroValue {
  Type type = Type::kNull;
  bool b = false;  // kBoolean
  int64_t i = 0;   // kInt (within int32), kLong; kUnion: branch index
  double d = 0;    // kDouble; kFloat holds the float widened exactly
  std::string s;   // kBytes, kString, kFixed
  // kArray: the items; kRecord: field values in schema order;
  // kUnion: exactly one element, the branch's value.
  std::vector<AvroValue> items;
  std::vector<std::pair<std::string, AvroValue>> entries;  // kMap, in order

  static AvroValue Null() { return AvroValue{}; }
  static AvroValue Boolean(bool v);
  static AvroValue Int(int32_t v);
  static AvroValue Long(int64_t v);
  static AvroValue Float(float v);
  static AvroValue Double(double v);
  static AvroValue Bytes(std::string_view v);
  static AvroValue String(std::string_view v);
  static AvroValue Fixed(std::string_view v);
  static AvroValue Array(std::vector<AvroValue> items);
  static AvroValue Map(std::vector<std::pair<std::string, AvroValue>> entries);
  static AvroValue Record(std::vector<AvroValue> fields);
  static AvroValue Union(int64_t branch, AvroValue value);

  bool operator==(const AvroValue&) const = default;
};

// Appends Avro binary encodings to a string.
class Encoder {
 public:
  explicit Encoder(std::string* out) : out_(out) {}
  void Boolean(bool v) { out_->push_back(v ? '\1' : '\0'); }
  void Int(int32_t v) { Long(v); }
  void Long(int64_t v);
  void Float(float v);
  void Double(double v);
  void Bytes(std::string_view v);
  void String(std::string_view v) { Bytes(v); }
  void Fixed(std::string_view v) { out_->append(v); }
  void UnionBranch(int64_t index) { Long(index); }
  // Arrays and maps: BlockCount(n) then n items, repeated; EndBlocks().
  // REQUIRES: n > 0
  void BlockCount(int64_t n) { Long(n); }
  void EndBlocks() { Long(0); }

 private:
  std::string* out_;
};

// Reads Avro binary encodings from a buffer; every read is bounds-checked
// and fails with kCorruption naming the byte position.
class Decoder {
 public:
  // `base` is added to reported byte positions (for a slice of a file).
  explicit Decoder(std::string_view in, size_t base = 0) : in_(in), base_(base) {}
  Result<bool> Boolean();
  Result<int32_t> Int();
  Result<int64_t> Long();
  Result<float> Float();
  Result<double> Double();
  // A view into the input, valid as long as the input is.
  Result<std::string_view> Bytes();
  Result<std::string_view> String() { return Bytes(); }
  Result<std::string_view> Fixed(size_t n);

  size_t position() const { return pos_; }
  size_t remaining() const { return in_.size() - pos_; }
  bool at_end() const { return pos_ == in_.size(); }
  Status Corrupt(std::string_view what) const;

 private:
  std::string_view in_;
  size_t base_;
  size_t pos_ = 0;
};

// Encodes `value` per node `node` of `schema`. kInvalidArgument when the
// value does not match the schema (type, int range, fixed size, record
// field count, union branch).
Status EncodeValue(const Schema& schema, int node, const AvroValue& value, std::string* out);

struct ReadLimits {
  int max_depth = 64;  // nested records, arrays, maps and unions
  // Values decoded in total (per call). A container file may hold more: up
  // to 4 per byte of the file (a decoded value costs at least a byte unless
  // it is a null or an empty record, which is what this bounds). A manifest
  // of tens of thousands of data files has more than 4 M values.
  int64_t max_values = 1 << 22;
};

// Decodes one value per node `node` of `schema`.
Result<AvroValue> DecodeValue(const Schema& schema, int node, Decoder& in, const ReadLimits& limits = {});

using Metadata = std::vector<std::pair<std::string, std::string>>;

inline constexpr char kMagic[4] = {'O', 'b', 'j', '\1'};
inline constexpr size_t kSyncSize = 16;
using SyncMarker = std::array<uint8_t, kSyncSize>;

struct WriterOptions {
  // Objects per data block; a block is also cut at Finish().
  size_t objects_per_block = 1000;
  // The sync marker; a random one when unset.
  bool fixed_sync = false;
  SyncMarker sync{};
};

// Builds a container file in memory (Iceberg manifests are small).
class ContainerWriter {
 public:
  // `schema_json` goes verbatim into avro.schema; `extra` metadata (keys
  // must not start with "avro.", which the spec reserves) follows
  // avro.schema and avro.codec in the given order. kInvalidArgument if the
  // schema does not parse or a key is reserved or repeated.
  static Result<ContainerWriter> Make(std::string_view schema_json, const Metadata& extra = {},
                                      const WriterOptions& options = {});

  // Encodes one object. On error nothing is appended.
  Status Append(const AvroValue& value);
  // Ends the last block and returns the file. The writer is empty after.
  std::string Finish();

  const Schema& schema() const { return schema_; }
  const SyncMarker& sync() const { return sync_; }

 private:
  ContainerWriter() = default;
  void FlushBlock();
  Schema schema_;
  WriterOptions options_;
  SyncMarker sync_{};
  std::string file_;   // header and finished blocks
  std::string block_;  // objects of the open block
  int64_t block_objects_ = 0;
};

struct ContainerFile {
  Metadata metadata;  // in file order
  Schema schema;      // parsed from avro.schema; schema.json() is verbatim
  SyncMarker sync{};
  std::vector<AvroValue> objects;
  // Offsets just past the header and past each block (for tests).
  std::vector<size_t> block_ends;

  // The value of metadata key `key`, or nullptr.
  const std::string* Find(std::string_view key) const;
};

// Parses a whole container file and decodes every object with the writer
// schema. Every failure is kCorruption (including an unsupported codec or
// a schema that does not parse).
Result<ContainerFile> ReadContainer(std::string_view file, const ReadLimits& limits = {});

// Called with each object as soon as it is decoded, with the file's schema.
using ObjectFn = std::function<Status(const Schema& schema, AvroValue&& object)>;
// ReadContainer that keeps no object: each goes to `each` and is dropped
// (ContainerFile::objects stays empty), so memory is one decoded object, not
// the file's (a decoded value takes ~100 bytes, its encoding a few: a 10 MB
// manifest decodes to ~1 GB at once). An error from `each` ends the read
// and is returned as it is.
Result<ContainerFile> StreamContainer(std::string_view file, const ObjectFn& each, const ReadLimits& limits = {});

}  // namespace watershed::lake::avro
