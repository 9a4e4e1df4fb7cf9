#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <functional>
#include <string_view>

#include "core/endian.h"
#include "keys/aead.h"
#include "lake/file_keys.h"
#include "lake/parquet.h"
#include "lake/parquet_crypto.h"
#include "lake/parquet_format.h"
#include "lake/thrift_compact.h"

namespace watershed::lake {
namespace {

using thrift::Type;

size_t FixedWidth(const ColumnSpec& spec) {
  switch (spec.type) {
    case PhysicalType::kInt32: return 4;
    case PhysicalType::kInt64:
    case PhysicalType::kDouble: return 8;
    case PhysicalType::kFixedLenByteArray: return static_cast<size_t>(spec.type_length);
    case PhysicalType::kByteArray: return 0;
  }
  return 0;
}

// Unsigned byte-wise order (the column order of strings and fixed bytes).
bool BytesLess(std::string_view a, std::string_view b) {
  const int c = std::memcmp(a.data(), b.data(), std::min(a.size(), b.size()));
  return c != 0 ? c < 0 : a.size() < b.size();
}

void PutLe32(uint32_t v, std::string* out) {
  char b[4];
  PutFixed32(b, v);
  out->append(b, 4);
}
void PutLe64(uint64_t v, std::string* out) {
  char b[8];
  PutFixed64(b, v);
  out->append(b, 8);
}

// PLAIN encoding of value i of a column (the present values only).
void PutPlain(const ColumnSpec& spec, const ColumnValues& v, size_t i, std::string* out) {
  switch (spec.type) {
    case PhysicalType::kInt32: PutLe32(static_cast<uint32_t>(static_cast<int32_t>(v.ints[i])), out); return;
    case PhysicalType::kInt64: PutLe64(static_cast<uint64_t>(v.ints[i]), out); return;
    case PhysicalType::kDouble: {
      uint64_t bits;
      std::memcpy(&bits, &v.doubles[i], 8);
      PutLe64(bits, out);
      return;
    }
    case PhysicalType::kByteArray: {
      std::string_view b = v.ByteValue(spec, i);
      PutLe32(static_cast<uint32_t>(b.size()), out);
      out->append(b);
      return;
    }
    case PhysicalType::kFixedLenByteArray: out->append(v.ByteValue(spec, i)); return;
  }
}

// PLAIN encoding of values [begin, end): fixed-width values in bulk.
void PutPlainRange(const ColumnSpec& spec, const ColumnValues& v, size_t begin, size_t end, std::string* out) {
  static_assert(std::endian::native == std::endian::little, "PLAIN is little-endian: bulk copies need the same");
  if (begin >= end) return;
  switch (spec.type) {
    case PhysicalType::kInt64:
      out->append(reinterpret_cast<const char*>(v.ints.data() + begin), (end - begin) * 8);
      return;
    case PhysicalType::kInt32: {
      const size_t at = out->size();
      out->resize(at + (end - begin) * 4);
      char* p = out->data() + at;
      for (size_t i = begin; i < end; ++i, p += 4)
        PutFixed32(p, static_cast<uint32_t>(static_cast<int32_t>(v.ints[i])));
      return;
    }
    case PhysicalType::kDouble:
      out->append(reinterpret_cast<const char*>(v.doubles.data() + begin), (end - begin) * 8);
      return;
    case PhysicalType::kFixedLenByteArray: {
      const size_t w = static_cast<size_t>(spec.type_length);
      out->append(v.bytes.data() + begin * w, (end - begin) * w);
      return;
    }
    case PhysicalType::kByteArray:
      for (size_t i = begin; i < end; ++i) PutPlain(spec, v, i, out);
      return;
  }
}

// The statistics value of value i: PLAIN without a length prefix.
std::string StatValue(const ColumnSpec& spec, const ColumnValues& v, size_t i) {
  std::string s;
  if (spec.type == PhysicalType::kByteArray || spec.type == PhysicalType::kFixedLenByteArray) {
    s.assign(v.ByteValue(spec, i));
  } else {
    PutPlain(spec, v, i, &s);
  }
  return s;
}

// Min/max over the values `candidates` names (all present values when
// null): with a dictionary, its entries hold every distinct value, so the
// bounds are the same for a fraction of the comparisons.
ChunkStatistics ComputeStatistics(const ColumnSpec& spec, const ColumnValues& v, size_t rows,
                                  const std::vector<size_t>* candidates) {
  ChunkStatistics st;
  const size_t n = v.ValueCount(spec);
  st.null_count = static_cast<int64_t>(rows - n);
  if (!spec.statistics || n == 0) return st;
  const size_t count = candidates ? candidates->size() : n;
  auto at = [&](size_t k) { return candidates ? (*candidates)[k] : k; };
  size_t lo = SIZE_MAX, hi = SIZE_MAX;
  switch (spec.type) {
    case PhysicalType::kInt32:
    case PhysicalType::kInt64:
      lo = hi = at(0);
      for (size_t k = 1; k < count; ++k) {
        const size_t i = at(k);
        if (v.ints[i] < v.ints[lo]) lo = i;
        if (v.ints[i] > v.ints[hi]) hi = i;
      }
      break;
    case PhysicalType::kDouble:
      for (size_t k = 0; k < count; ++k) {
        const size_t i = at(k);
        if (std::isnan(v.doubles[i])) continue;  // NaN never bounds (TYPE_ORDER rules)
        if (lo == SIZE_MAX || v.doubles[i] < v.doubles[lo]) lo = i;
        if (hi == SIZE_MAX || v.doubles[i] > v.doubles[hi]) hi = i;
      }
      if (lo == SIZE_MAX) return st;
      break;
    case PhysicalType::kFixedLenByteArray: {
      const size_t w = static_cast<size_t>(spec.type_length);
      const char* b = v.bytes.data();
      lo = hi = at(0);
      for (size_t k = 1; k < count; ++k) {
        const size_t i = at(k);
        if (std::memcmp(b + i * w, b + lo * w, w) < 0) lo = i;
        if (std::memcmp(b + hi * w, b + i * w, w) < 0) hi = i;
      }
      break;
    }
    case PhysicalType::kByteArray:
      lo = hi = at(0);
      for (size_t k = 1; k < count; ++k) {
        const size_t i = at(k);
        if (BytesLess(v.ByteValue(spec, i), v.ByteValue(spec, lo))) lo = i;
        if (BytesLess(v.ByteValue(spec, hi), v.ByteValue(spec, i))) hi = i;
      }
      break;
  }
  st.min_value = StatValue(spec, v, lo);
  st.max_value = StatValue(spec, v, hi);
  if (spec.type == PhysicalType::kDouble) {  // a zero bound is written as -0.0 (min) and +0.0 (max)
    if (v.doubles[lo] == 0) st.min_value = std::string("\0\0\0\0\0\0\0\x80", 8);
    if (v.doubles[hi] == 0) st.max_value = std::string(8, '\0');
  }
  return st;
}

// Dictionary of a chunk: the distinct values in first-seen order and each
// value's index. Gives up (false) past max_entries.
struct Dictionary {
  std::vector<size_t> first;      // value index of each entry's first occurrence
  std::vector<uint32_t> indices;  // per present value
};

bool BuildDictionary(const ColumnSpec& spec, const ColumnValues& v, size_t max_entries, Dictionary* d) {
  if (spec.type == PhysicalType::kDouble) return false;  // not worth it for our tables
  const size_t n = v.ValueCount(spec);
  d->indices.resize(n);
  // Open addressing over entry numbers (slot = entry + 1, 0 = empty), kept
  // at most half full: it grows with the entries, so a column of few
  // distinct values (or one given up after 4096 values) never clears a
  // table sized for the chunk.
  size_t slots = 16;
  std::vector<uint32_t> table(slots, 0);
  size_t mask = slots - 1;
  const bool ints = spec.type == PhysicalType::kInt32 || spec.type == PhysicalType::kInt64;
  auto hash_of = [&](size_t i) -> size_t {
    if (ints) return static_cast<size_t>((static_cast<uint64_t>(v.ints[i]) * 0x9E3779B97F4A7C15ull) >> 32);
    const std::string_view b = v.ByteValue(spec, i);
    if (b.size() > 8) return std::hash<std::string_view>{}(b);
    uint64_t word = b.size();  // short strings (names, codes): their bytes and length, mixed
    std::memcpy(reinterpret_cast<char*>(&word) + 1, b.data(), std::min<size_t>(b.size(), 7));
    if (b.size() == 8) word ^= static_cast<uint64_t>(static_cast<uint8_t>(b[7])) << 4;
    return static_cast<size_t>((word * 0x9E3779B97F4A7C15ull) >> 32);
  };
  for (size_t i = 0; i < n; ++i) {
    // A value equal to the one before (sorted columns: story_id; constant
    // ones: region) takes its entry without a lookup.
    const std::string_view bytes = ints ? std::string_view() : v.ByteValue(spec, i);
    if (i > 0 && (ints ? v.ints[i] == v.ints[i - 1] : bytes == v.ByteValue(spec, i - 1))) {
      d->indices[i] = d->indices[i - 1];
    } else {
      for (size_t slot = hash_of(i) & mask;; slot = (slot + 1) & mask) {
        const uint32_t e = table[slot];
        if (e == 0) {
          table[slot] = static_cast<uint32_t>(d->first.size() + 1);
          d->indices[i] = static_cast<uint32_t>(d->first.size());
          d->first.push_back(i);
          break;
        }
        const size_t first = d->first[e - 1];
        if (ints ? v.ints[first] == v.ints[i] : v.ByteValue(spec, first) == bytes) {
          d->indices[i] = e - 1;
          break;
        }
      }
    }
    // Gives up as soon as the dictionary cannot pay: more entries than the
    // limit, or (after a first 4096 values) more than half the values seen
    // are distinct. Without the second rule a unique column (ids, offsets,
    // timestamps) built the whole table before being refused: ~15 % of the
    // writer's time (bench/RESULTS.md).
    if (d->first.size() > max_entries || (i >= 4096 && d->first.size() * 2 > i + 1)) return false;
    if (d->first.size() * 2 > slots) {  // rehash into twice the slots
      slots *= 2;
      mask = slots - 1;
      table.assign(slots, 0);
      for (size_t k = 0; k < d->first.size(); ++k) {
        size_t slot = hash_of(d->first[k]) & mask;
        while (table[slot] != 0) slot = (slot + 1) & mask;
        table[slot] = static_cast<uint32_t>(k + 1);
      }
    }
  }
  return true;
}

void WritePageHeader(PageType type, size_t uncompressed, size_t compressed, int32_t num_values, Encoding encoding,
                     std::string* out) {
  thrift::Writer w(out);
  w.BeginStruct();
  w.FieldI32(1, static_cast<int32_t>(type));
  w.FieldI32(2, static_cast<int32_t>(uncompressed));
  w.FieldI32(3, static_cast<int32_t>(compressed));
  if (type == PageType::kDictionaryPage) {
    w.FieldStruct(7);
    w.FieldI32(1, num_values);
    w.FieldI32(2, static_cast<int32_t>(Encoding::kPlain));
    w.EndStruct();
  } else {
    w.FieldStruct(5);
    w.FieldI32(1, num_values);
    w.FieldI32(2, static_cast<int32_t>(encoding));
    w.FieldI32(3, static_cast<int32_t>(Encoding::kRle));
    w.FieldI32(4, static_cast<int32_t>(Encoding::kRle));
    w.EndStruct();
  }
  w.EndStruct();
}

void WriteSchemaElement(const ColumnSpec& c, thrift::Writer& w) {
  w.BeginStruct();
  w.FieldI32(1, static_cast<int32_t>(c.type));
  if (c.type == PhysicalType::kFixedLenByteArray) w.FieldI32(2, c.type_length);
  w.FieldI32(3, c.optional ? 1 : 0);
  w.FieldBinary(4, c.name);
  switch (c.logical) {  // the legacy converted type next to the logical type
    case LogicalType::kString: w.FieldI32(6, static_cast<int32_t>(ConvertedType::kUtf8)); break;
    case LogicalType::kTimestampMicrosUtc: w.FieldI32(6, static_cast<int32_t>(ConvertedType::kTimestampMicros)); break;
    case LogicalType::kInt32: w.FieldI32(6, static_cast<int32_t>(ConvertedType::kInt32)); break;
    case LogicalType::kInt64: w.FieldI32(6, static_cast<int32_t>(ConvertedType::kInt64)); break;
    case LogicalType::kUuid:
    case LogicalType::kNone: break;
  }
  w.FieldI32(9, c.field_id);
  if (c.logical != LogicalType::kNone) {
    w.FieldStruct(10);  // union LogicalType
    switch (c.logical) {
      case LogicalType::kString:
        w.FieldStruct(1);
        w.EndStruct();
        break;
      case LogicalType::kTimestampMicrosUtc:
        w.FieldStruct(8);
        w.FieldBool(1, true);  // isAdjustedToUTC
        w.FieldStruct(2);      // union TimeUnit
        w.FieldStruct(2);      // MICROS
        w.EndStruct();
        w.EndStruct();
        w.EndStruct();
        break;
      case LogicalType::kInt32:
      case LogicalType::kInt64:
        w.FieldStruct(10);
        w.FieldI8(1, c.logical == LogicalType::kInt32 ? 32 : 64);
        w.FieldBool(2, true);
        w.EndStruct();
        break;
      case LogicalType::kUuid:
        w.FieldStruct(14);
        w.EndStruct();
        break;
      case LogicalType::kNone: break;
    }
    w.EndStruct();
  }
  w.EndStruct();
}

}  // namespace

bool StatisticsLess(const ColumnSpec& spec, std::string_view a, std::string_view b) {
  if (spec.type == PhysicalType::kInt32)
    return static_cast<int32_t>(GetFixed32(a.data())) < static_cast<int32_t>(GetFixed32(b.data()));
  if (spec.type == PhysicalType::kInt64)
    return static_cast<int64_t>(GetFixed64(a.data())) < static_cast<int64_t>(GetFixed64(b.data()));
  return BytesLess(a, b);
}

size_t ColumnValues::ValueCount(const ColumnSpec& spec) const {
  switch (spec.type) {
    case PhysicalType::kInt32:
    case PhysicalType::kInt64: return ints.size();
    case PhysicalType::kDouble: return doubles.size();
    case PhysicalType::kByteArray: return ends.size();
    case PhysicalType::kFixedLenByteArray: return spec.type_length > 0 ? bytes.size() / spec.type_length : 0;
  }
  return 0;
}

void ColumnValues::Clear() {
  ints.clear();
  doubles.clear();
  bytes.clear();
  ends.clear();
  present.clear();
}

std::string CreatedBy() {
  return "watershed version " WATERSHED_VERSION " (build " WATERSHED_BUILD_HASH ")";
}

Result<std::unique_ptr<ParquetWriter>> ParquetWriter::Create(FileSystem* fs, std::string path,
                                                             std::vector<ColumnSpec> schema,
                                                             ParquetWriterOptions options) {
  if (schema.empty()) return Status::InvalidArgument("parquet: empty schema");
  for (const ColumnSpec& c : schema) {
    if (c.name.empty()) return Status::InvalidArgument("parquet: a column has no name");
    if ((c.type == PhysicalType::kFixedLenByteArray) != (c.type_length > 0))
      return Status::InvalidArgument("parquet: column " + c.name + ": type_length is for FIXED_LEN_BYTE_ARRAY only");
    if (c.logical == LogicalType::kUuid && (c.type != PhysicalType::kFixedLenByteArray || c.type_length != 16))
      return Status::InvalidArgument("parquet: column " + c.name + ": UUID needs FIXED_LEN_BYTE_ARRAY(16)");
    if (c.delta && c.type != PhysicalType::kInt32 && c.type != PhysicalType::kInt64)
      return Status::InvalidArgument("parquet: column " + c.name + ": DELTA_BINARY_PACKED is for INT32 and INT64");
  }
  std::unique_ptr<ParquetWriter> w(new ParquetWriter());
  w->fs_ = fs;
  w->path_ = std::move(path);
  w->temp_path_ = w->path_ + ".tmp." + std::to_string(::getpid());
  w->schema_ = std::move(schema);
  w->options_ = std::move(options);
  w->compressor_ = Compressor(w->options_.codec, w->options_.zstd_level);
  w->buffered_.resize(w->schema_.size());
  std::shared_ptr<FileKeys> file_keys = w->options_.file_keys ? w->options_.file_keys : DefaultFileKeys();
  if (file_keys) {
    ASSIGN_OR_RETURN(NewFileKey key, file_keys->NewKey(w->path_));
    w->cipher_ = std::make_unique<keys::GcmCipher>(key.key);
    w->sidecar_ = std::move(key.sidecar);
  }
  ASSIGN_OR_RETURN(w->file_, fs->NewWritableFile(w->temp_path_));
  RETURN_IF_ERROR(w->Append(w->cipher_ ? kEncryptedMagic : kParquetMagic));
  return w;
}

ParquetWriter::~ParquetWriter() {
  if (finished_) return;
  if (file_) file_->Close().IgnoreError();
  if (fs_ && fs_->FileExists(temp_path_)) fs_->RemoveFile(temp_path_).IgnoreError();
}

Status ParquetWriter::Append(std::string_view data) {
  RETURN_IF_ERROR(file_->Append(data));
  offset_ += data.size();
  return Status::Ok();
}

Status ParquetWriter::Write(std::vector<ColumnValues>&& columns, size_t rows) {
  if (buffered_rows_ > 0 || finished_) return Write(static_cast<const std::vector<ColumnValues>&>(columns), rows);
  RETURN_IF_ERROR(CheckColumns(columns, rows));
  // Nothing buffered: the columns become the row group as they are.
  buffered_ = std::move(columns);
  buffered_bytes_ = 0;
  for (size_t c = 0; c < buffered_.size(); ++c) buffered_bytes_ += BufferedBytes(schema_[c], buffered_[c]);
  buffered_rows_ = rows;
  if (buffered_bytes_ >= options_.row_group_bytes) return FlushRowGroup();
  return Status::Ok();
}

uint64_t ParquetWriter::BufferedBytes(const ColumnSpec& spec, const ColumnValues& v) {
  return v.ints.size() * FixedWidth(spec) + v.doubles.size() * 8 + v.bytes.size() + v.ends.size() * 4 +
         v.present.size() / 8;
}

Status ParquetWriter::CheckColumns(const std::vector<ColumnValues>& columns, size_t rows) const {
  if (columns.size() != schema_.size())
    return Status::InvalidArgument("parquet: " + std::to_string(columns.size()) + " columns for a schema of " +
                                   std::to_string(schema_.size()));
  for (size_t c = 0; c < columns.size(); ++c) {
    const ColumnSpec& spec = schema_[c];
    const ColumnValues& v = columns[c];
    size_t expected = rows;
    if (spec.optional) {
      if (v.present.size() != rows) return Status::InvalidArgument("parquet: column " + spec.name + ": present flags");
      expected = static_cast<size_t>(std::count(v.present.begin(), v.present.end(), 1));
    } else if (!v.present.empty()) {
      return Status::InvalidArgument("parquet: column " + spec.name + " is REQUIRED");
    }
    const bool fixed_ok = spec.type != PhysicalType::kFixedLenByteArray || v.bytes.size() % spec.type_length == 0;
    const bool ends_ok = spec.type != PhysicalType::kByteArray || (std::is_sorted(v.ends.begin(), v.ends.end()) &&
                                                                   (v.ends.empty() || v.ends.back() == v.bytes.size()));
    if (v.ValueCount(spec) != expected || !fixed_ok || !ends_ok)
      return Status::InvalidArgument("parquet: column " + spec.name + " has " + std::to_string(v.ValueCount(spec)) +
                                     " values, expected " + std::to_string(expected));
  }
  return Status::Ok();
}

Status ParquetWriter::Write(const std::vector<ColumnValues>& columns, size_t rows) {
  if (finished_) return Status::FailedPrecondition("parquet: writer finished");
  RETURN_IF_ERROR(CheckColumns(columns, rows));
  for (size_t c = 0; c < columns.size(); ++c) {
    const ColumnSpec& spec = schema_[c];
    const ColumnValues& v = columns[c];
    ColumnValues& b = buffered_[c];
    b.ints.insert(b.ints.end(), v.ints.begin(), v.ints.end());
    b.doubles.insert(b.doubles.end(), v.doubles.begin(), v.doubles.end());
    const uint32_t base = static_cast<uint32_t>(b.bytes.size());
    if (base + v.bytes.size() > UINT32_MAX) return Status::TooLarge("parquet: more than 4 GiB of bytes in a row group");
    b.bytes += v.bytes;
    for (uint32_t e : v.ends) b.ends.push_back(base + e);
    b.present.insert(b.present.end(), v.present.begin(), v.present.end());
    buffered_bytes_ += BufferedBytes(spec, v);
  }
  buffered_rows_ += rows;
  if (buffered_bytes_ >= options_.row_group_bytes) return FlushRowGroup();
  return Status::Ok();
}

Status ParquetWriter::FlushRowGroup() {
  if (buffered_rows_ == 0) return Status::Ok();
  RowGroupInfo rg;
  rg.num_rows = static_cast<int64_t>(buffered_rows_);
  for (size_t c = 0; c < schema_.size(); ++c) RETURN_IF_ERROR(WriteChunk(c, &rg));
  row_groups_.push_back(std::move(rg));
  num_rows_ += static_cast<int64_t>(buffered_rows_);
  for (auto& b : buffered_) b.Clear();
  buffered_rows_ = 0;
  buffered_bytes_ = 0;
  return Status::Ok();
}

Status ParquetWriter::WriteChunk(size_t column, RowGroupInfo* rg) {
  const ColumnSpec& spec = schema_[column];
  const ColumnValues& v = buffered_[column];
  const size_t rows = buffered_rows_;
  const size_t n = v.ValueCount(spec);
  ColumnChunkInfo chunk;
  chunk.codec = spec.compress ? options_.codec : Codec::kUncompressed;
  const int level = spec.zstd_level > 0 ? spec.zstd_level : options_.zstd_level;
  chunk.num_values = static_cast<int64_t>(rows);

  Dictionary dict;
  const bool use_dict = spec.dictionary && n > 0 && BuildDictionary(spec, v, options_.max_dictionary_entries, &dict) &&
                        dict.first.size() * 2 <= n;
  chunk.statistics = ComputeStatistics(spec, v, rows, use_dict ? &dict.first : nullptr);
  std::string& body = body_;
  std::string header;
  auto emit_page = [&](PageType type, int32_t num_values, Encoding encoding) -> Status {
    std::string_view compressed = body;
    if (chunk.codec != Codec::kUncompressed) {
      ASSIGN_OR_RETURN(compressed, compressor_.Compress(body, level));
    }
    header.clear();
    WritePageHeader(type, body.size(), compressed.size(), num_values, encoding, &header);
    if (cipher_) {  // header and page as modules; offsets and sizes count the bytes on disk
      module_.clear();
      RETURN_IF_ERROR(AppendModule(*cipher_, header, &module_));
      chunk.total_uncompressed_size += static_cast<int64_t>(module_.size() + body.size());
      RETURN_IF_ERROR(AppendModule(*cipher_, compressed, &module_));
      chunk.total_compressed_size += static_cast<int64_t>(module_.size());
      return Append(module_);
    }
    chunk.total_uncompressed_size += static_cast<int64_t>(header.size() + body.size());
    chunk.total_compressed_size += static_cast<int64_t>(header.size() + compressed.size());
    RETURN_IF_ERROR(Append(header));
    return Append(compressed);
  };

  if (use_dict) {
    chunk.dictionary_page_offset = static_cast<int64_t>(offset_);
    body.clear();
    for (size_t i : dict.first) PutPlain(spec, v, i, &body);
    RETURN_IF_ERROR(emit_page(PageType::kDictionaryPage, static_cast<int32_t>(dict.first.size()), Encoding::kPlain));
    chunk.encodings = {static_cast<int32_t>(Encoding::kPlain), static_cast<int32_t>(Encoding::kRleDictionary)};
  } else {
    chunk.encodings = {static_cast<int32_t>(spec.delta ? Encoding::kDeltaBinaryPacked : Encoding::kPlain)};
  }
  const Encoding values_encoding =
      use_dict ? Encoding::kRleDictionary : spec.delta ? Encoding::kDeltaBinaryPacked : Encoding::kPlain;
  if (spec.optional) chunk.encodings.push_back(static_cast<int32_t>(Encoding::kRle));
  chunk.data_page_offset = static_cast<int64_t>(offset_);

  // Rows per data page from the average encoded value size.
  const size_t value_bytes =
      use_dict ? 4
               : std::max<size_t>(
                     1, FixedWidth(spec) != 0 ? FixedWidth(spec) : (v.bytes.size() / std::max<size_t>(n, 1)) + 4);
  const size_t rows_per_page = std::max<size_t>(1, options_.page_bytes / value_bytes);
  const int index_width = use_dict ? std::max(1, BitWidth(dict.first.size() - 1)) : 0;
  std::vector<uint32_t> levels;
  size_t value = 0;                                         // next present value
  for (size_t row = 0; row < rows; row += rows_per_page) {  // rows > 0: FlushRowGroup skips empty groups
    const size_t page_rows = std::min(rows_per_page, rows - row);
    body.clear();
    size_t page_values = page_rows;
    if (spec.optional) {
      levels.assign(v.present.begin() + static_cast<ptrdiff_t>(row),
                    v.present.begin() + static_cast<ptrdiff_t>(row + page_rows));
      page_values = static_cast<size_t>(std::count(levels.begin(), levels.end(), 1u));
      std::string encoded;
      EncodeRleHybrid(levels.data(), levels.size(), 1, &encoded);
      PutLe32(static_cast<uint32_t>(encoded.size()), &body);
      body += encoded;
    }
    if (use_dict) {
      body.push_back(static_cast<char>(index_width));
      EncodeRleHybrid(dict.indices.data() + value, page_values, index_width, &body);
    } else if (spec.delta) {
      EncodeDeltaBinaryPacked(v.ints.data() + value, page_values, spec.type == PhysicalType::kInt32, &body);
    } else {
      PutPlainRange(spec, v, value, value + page_values, &body);
    }
    value += page_values;
    RETURN_IF_ERROR(emit_page(PageType::kDataPage, static_cast<int32_t>(page_rows), values_encoding));
  }
  rg->columns.push_back(std::move(chunk));
  return Status::Ok();
}

Result<uint64_t> ParquetWriter::Finish() {
  if (finished_) return Status::FailedPrecondition("parquet: writer finished");
  RETURN_IF_ERROR(FlushRowGroup());
  FileInfo info;
  info.schema = schema_;
  info.row_groups = row_groups_;
  info.num_rows = num_rows_;
  info.created_by = CreatedBy();
  info.key_value_metadata = options_.key_value_metadata;
  info.encrypted = cipher_ != nullptr;
  std::string footer = SerializeFileMetaData(info);
  if (cipher_) {  // FileCryptoMetaData, then the footer as a module
    std::string plain = std::move(footer);
    footer.assign(kFileCryptoMetaData);
    RETURN_IF_ERROR(AppendModule(*cipher_, plain, &footer));
  }
  RETURN_IF_ERROR(Append(footer));
  std::string tail;
  PutLe32(static_cast<uint32_t>(footer.size()), &tail);
  tail += cipher_ ? kEncryptedMagic : kParquetMagic;
  RETURN_IF_ERROR(Append(tail));
  RETURN_IF_ERROR(file_->Sync());
  RETURN_IF_ERROR(file_->Close());
  // The key (synced, renamed into place) before the file; the one directory
  // sync below makes both names durable before Finish returns, and so before
  // anything references the file. (A crash before it may keep one name: an
  // uncommitted file or key alone, which the sink's recovery or orphan
  // removal deletes.) One directory sync for both: the sidecar costs one
  // fsync per file, not two (bench/RESULTS.md, issue #13).
  if (!sidecar_.empty()) {
    const std::string key_path = SidecarPath(path_), key_temp = key_path + ".tmp." + std::to_string(::getpid());
    auto written = [&]() -> Status {
      ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> f, fs_->NewWritableFile(key_temp));
      RETURN_IF_ERROR(f->Append(sidecar_));
      RETURN_IF_ERROR(f->Sync());
      RETURN_IF_ERROR(f->Close());
      return fs_->RenameFile(key_temp, key_path);
    }();
    if (!written.ok()) {
      fs_->RemoveFile(key_temp).IgnoreError();
      return written;
    }
  }
  RETURN_IF_ERROR(fs_->RenameFile(temp_path_, path_));
  RETURN_IF_ERROR(fs_->SyncDir(DirName(path_)));
  finished_ = true;
  info_ = std::move(info);
  return offset_;
}

std::string SerializeFileMetaData(const FileInfo& info) {
  std::string out;
  thrift::Writer w(&out);
  w.BeginStruct();
  w.FieldI32(1, 1);  // version: 1, what every reader accepts
  w.FieldList(2, Type::kStruct, static_cast<uint32_t>(info.schema.size() + 1));
  w.BeginStruct();  // the root
  w.FieldBinary(4, "schema");
  w.FieldI32(5, static_cast<int32_t>(info.schema.size()));
  w.EndStruct();
  for (const ColumnSpec& c : info.schema) WriteSchemaElement(c, w);
  w.FieldI64(3, info.num_rows);
  w.FieldList(4, Type::kStruct, static_cast<uint32_t>(info.row_groups.size()));
  for (size_t g = 0; g < info.row_groups.size(); ++g) {
    const RowGroupInfo& rg = info.row_groups[g];
    int64_t uncompressed = 0, compressed = 0;
    w.BeginStruct();
    w.FieldList(1, Type::kStruct, static_cast<uint32_t>(rg.columns.size()));
    for (size_t c = 0; c < rg.columns.size(); ++c) {
      const ColumnChunkInfo& ch = rg.columns[c];
      const ColumnSpec& spec = info.schema[c];
      uncompressed += ch.total_uncompressed_size;
      compressed += ch.total_compressed_size;
      w.BeginStruct();
      w.FieldI64(2, 0);  // file_offset: deprecated, 0 = no ColumnMetaData outside the footer
      w.FieldStruct(3);
      w.FieldI32(1, static_cast<int32_t>(spec.type));
      w.FieldList(2, Type::kI32, static_cast<uint32_t>(ch.encodings.size()));
      for (int32_t e : ch.encodings) w.I32(e);
      w.FieldList(3, Type::kBinary, 1);
      w.Binary(spec.name);
      w.FieldI32(4, static_cast<int32_t>(ch.codec));
      w.FieldI64(5, ch.num_values);
      w.FieldI64(6, ch.total_uncompressed_size);
      w.FieldI64(7, ch.total_compressed_size);
      w.FieldI64(9, ch.data_page_offset);
      if (ch.dictionary_page_offset) w.FieldI64(11, *ch.dictionary_page_offset);
      w.FieldStruct(12);
      const ChunkStatistics& st = ch.statistics;
      // The deprecated min/max are signed-ordered: written for integers only.
      const bool signed_order = spec.type == PhysicalType::kInt32 || spec.type == PhysicalType::kInt64;
      if (signed_order && st.max_value) w.FieldBinary(1, *st.max_value);
      if (signed_order && st.min_value) w.FieldBinary(2, *st.min_value);
      if (st.null_count) w.FieldI64(3, *st.null_count);
      if (st.max_value) w.FieldBinary(5, *st.max_value);
      if (st.min_value) w.FieldBinary(6, *st.min_value);
      w.EndStruct();
      w.EndStruct();
      w.EndStruct();
    }
    w.FieldI64(2, uncompressed);
    w.FieldI64(3, rg.num_rows);
    if (!rg.columns.empty())
      w.FieldI64(5, rg.columns[0].dictionary_page_offset.value_or(rg.columns[0].data_page_offset));
    w.FieldI64(6, compressed);
    w.FieldI16(7, static_cast<int16_t>(g));
    w.EndStruct();
  }
  if (!info.key_value_metadata.empty()) {
    w.FieldList(5, Type::kStruct, static_cast<uint32_t>(info.key_value_metadata.size()));
    for (const auto& [k, val] : info.key_value_metadata) {
      w.BeginStruct();
      w.FieldBinary(1, k);
      w.FieldBinary(2, val);
      w.EndStruct();
    }
  }
  w.FieldBinary(6, info.created_by);
  w.FieldList(7, Type::kStruct, static_cast<uint32_t>(info.schema.size()));
  for (size_t c = 0; c < info.schema.size(); ++c) {
    w.BeginStruct();
    w.FieldStruct(1);  // TYPE_ORDER
    w.EndStruct();
    w.EndStruct();
  }
  w.EndStruct();
  return out;
}

}  // namespace watershed::lake
