#include <algorithm>
#include <bit>
#include <cstring>

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

Status Bad(const std::string& what) { return Status::Corruption("parquet footer: " + what); }

// Reads the fields of a struct, calling on_field(type, id) for each; a field
// it does not consume must be skipped by it (return false → Skip here).
template <typename F>
Status ForEachField(thrift::Reader& r, F&& on_field) {
  RETURN_IF_ERROR(r.BeginStruct());
  for (;;) {
    Type type;
    int16_t id;
    RETURN_IF_ERROR(r.FieldHeader(&type, &id));
    if (type == Type::kStop) break;
    bool consumed = false;
    RETURN_IF_ERROR(on_field(type, id, &consumed));
    if (!consumed) RETURN_IF_ERROR(r.Skip(type));
  }
  return r.EndStruct();
}

Status ExpectType(Type got, Type want, const char* field) {
  if (got != want) return Bad(std::string("field ") + field + " has the wrong type");
  return Status::Ok();
}

// Reads a list header of `element` type.
Result<uint32_t> ListOf(thrift::Reader& r, Type element, const char* field) {
  Type got;
  uint32_t size = 0;
  RETURN_IF_ERROR(r.ListHeader(&got, &size));
  if (size > 0 && got != element) return Bad(std::string("list ") + field + " has the wrong element type");
  return size;
}

struct RawSchemaElement {
  std::optional<int32_t> type, type_length, repetition, num_children, converted, field_id;
  std::string name;
  LogicalType logical = LogicalType::kNone;
};

// The union LogicalType: which member is set (and, for INTEGER and
// TIMESTAMP, whether it is a form we support).
Status ReadLogicalType(thrift::Reader& r, LogicalType* out) {
  return ForEachField(r, [&](Type type, int16_t id, bool* consumed) -> Status {
    if (type != Type::kStruct) return Status::Ok();
    *consumed = true;
    if (id == 1) {
      *out = LogicalType::kString;
      return r.Skip(type);
    }
    if (id == 14) {
      *out = LogicalType::kUuid;
      return r.Skip(type);
    }
    if (id == 8) {  // TIMESTAMP{isAdjustedToUTC, unit}
      bool utc = false, micros = false;
      RETURN_IF_ERROR(ForEachField(r, [&](Type t, int16_t f, bool* c) -> Status {
        if (f == 1 && (t == Type::kTrue || t == Type::kFalse)) {
          utc = t == Type::kTrue;
          *c = true;
        } else if (f == 2 && t == Type::kStruct) {
          *c = true;
          return ForEachField(r, [&](Type u, int16_t unit, bool*) -> Status {
            if (unit == 2 && u == Type::kStruct) micros = true;
            return Status::Ok();
          });
        }
        return Status::Ok();
      }));
      if (utc && micros) *out = LogicalType::kTimestampMicrosUtc;
      return Status::Ok();
    }
    if (id == 10) {  // INTEGER{bitWidth, isSigned}
      int8_t width = 0;
      bool is_signed = false;
      RETURN_IF_ERROR(ForEachField(r, [&](Type t, int16_t f, bool* c) -> Status {
        if (f == 1 && t == Type::kByte) {
          *c = true;
          ASSIGN_OR_RETURN(width, r.I8());
        } else if (f == 2 && (t == Type::kTrue || t == Type::kFalse)) {
          *c = true;
          is_signed = t == Type::kTrue;
        }
        return Status::Ok();
      }));
      if (is_signed && width == 32) *out = LogicalType::kInt32;
      if (is_signed && width == 64) *out = LogicalType::kInt64;
      return Status::Ok();
    }
    return r.Skip(type);  // a logical type we do not interpret
  });
}

Status ReadSchemaElement(thrift::Reader& r, RawSchemaElement* e) {
  return ForEachField(r, [&](Type type, int16_t id, bool* consumed) -> Status {
    auto i32 = [&](std::optional<int32_t>* field) -> Status {
      RETURN_IF_ERROR(ExpectType(type, Type::kI32, "SchemaElement"));
      *consumed = true;
      ASSIGN_OR_RETURN(*field, r.I32());
      return Status::Ok();
    };
    switch (id) {
      case 1: return i32(&e->type);
      case 2: return i32(&e->type_length);
      case 3: return i32(&e->repetition);
      case 4: {
        RETURN_IF_ERROR(ExpectType(type, Type::kBinary, "SchemaElement.name"));
        *consumed = true;
        ASSIGN_OR_RETURN(std::string_view name, r.Binary());
        e->name.assign(name);
        return Status::Ok();
      }
      case 5: return i32(&e->num_children);
      case 6: return i32(&e->converted);
      case 9: return i32(&e->field_id);
      case 10:
        if (type != Type::kStruct) return Status::Ok();
        *consumed = true;
        return ReadLogicalType(r, &e->logical);
      default: return Status::Ok();
    }
  });
}

Status ReadStatistics(thrift::Reader& r, ChunkStatistics* st) {
  return ForEachField(r, [&](Type type, int16_t id, bool* consumed) -> Status {
    if ((id == 5 || id == 6) && type == Type::kBinary) {
      *consumed = true;
      ASSIGN_OR_RETURN(std::string_view v, r.Binary());
      (id == 5 ? st->max_value : st->min_value) = std::string(v);
    } else if (id == 3 && type == Type::kI64) {
      *consumed = true;
      ASSIGN_OR_RETURN(st->null_count, r.I64());
    }
    return Status::Ok();
  });
}

Status ReadColumnMetaData(thrift::Reader& r, ColumnChunkInfo* ch, std::string* path) {
  bool have_offset = false;
  RETURN_IF_ERROR(ForEachField(r, [&](Type type, int16_t id, bool* consumed) -> Status {
    auto i64 = [&](int64_t* field) -> Status {
      RETURN_IF_ERROR(ExpectType(type, Type::kI64, "ColumnMetaData"));
      *consumed = true;
      ASSIGN_OR_RETURN(*field, r.I64());
      return Status::Ok();
    };
    switch (id) {
      case 2: {
        if (type != Type::kList) return Status::Ok();
        *consumed = true;
        ASSIGN_OR_RETURN(uint32_t n, ListOf(r, Type::kI32, "encodings"));
        for (uint32_t i = 0; i < n; ++i) {
          ASSIGN_OR_RETURN(int32_t e, r.I32());
          ch->encodings.push_back(e);
        }
        return Status::Ok();
      }
      case 3: {
        if (type != Type::kList) return Status::Ok();
        *consumed = true;
        ASSIGN_OR_RETURN(uint32_t n, ListOf(r, Type::kBinary, "path_in_schema"));
        path->clear();
        for (uint32_t i = 0; i < n; ++i) {
          ASSIGN_OR_RETURN(std::string_view part, r.Binary());
          if (i) path->push_back('.');
          path->append(part);
        }
        return Status::Ok();
      }
      case 4: {
        RETURN_IF_ERROR(ExpectType(type, Type::kI32, "codec"));
        *consumed = true;
        ASSIGN_OR_RETURN(int32_t codec, r.I32());
        if (codec != 0 && codec != 1 && codec != 6) return Bad("unsupported codec " + std::to_string(codec));
        ch->codec = static_cast<Codec>(codec);
        return Status::Ok();
      }
      case 5: return i64(&ch->num_values);
      case 6: return i64(&ch->total_uncompressed_size);
      case 7: return i64(&ch->total_compressed_size);
      case 9:
        have_offset = true;
        return i64(&ch->data_page_offset);
      case 11: {
        int64_t off = 0;
        RETURN_IF_ERROR(i64(&off));
        ch->dictionary_page_offset = off;
        return Status::Ok();
      }
      case 12:
        if (type != Type::kStruct) return Status::Ok();
        *consumed = true;
        return ReadStatistics(r, &ch->statistics);
      default: return Status::Ok();
    }
  }));
  if (!have_offset) return Bad("a column chunk has no data_page_offset");
  return Status::Ok();
}

}  // namespace

Result<FileInfo> ParseFileMetaData(std::string_view footer) {
  thrift::Reader r(footer);
  FileInfo info;
  std::vector<RawSchemaElement> raw;
  std::vector<std::vector<std::pair<ColumnChunkInfo, std::string>>> groups;
  RETURN_IF_ERROR(ForEachField(r, [&](Type type, int16_t id, bool* consumed) -> Status {
    switch (id) {
      case 2: {
        if (type != Type::kList) return Status::Ok();
        *consumed = true;
        ASSIGN_OR_RETURN(uint32_t n, ListOf(r, Type::kStruct, "schema"));
        for (uint32_t i = 0; i < n; ++i) RETURN_IF_ERROR(ReadSchemaElement(r, &raw.emplace_back()));
        return Status::Ok();
      }
      case 3: {
        RETURN_IF_ERROR(ExpectType(type, Type::kI64, "num_rows"));
        *consumed = true;
        ASSIGN_OR_RETURN(info.num_rows, r.I64());
        return Status::Ok();
      }
      case 4: {
        if (type != Type::kList) return Status::Ok();
        *consumed = true;
        ASSIGN_OR_RETURN(uint32_t n, ListOf(r, Type::kStruct, "row_groups"));
        for (uint32_t g = 0; g < n; ++g) {
          RowGroupInfo& rg = info.row_groups.emplace_back();
          auto& chunks = groups.emplace_back();
          RETURN_IF_ERROR(ForEachField(r, [&](Type t, int16_t f, bool* c) -> Status {
            if (f == 3 && t == Type::kI64) {
              *c = true;
              ASSIGN_OR_RETURN(rg.num_rows, r.I64());
            } else if (f == 1 && t == Type::kList) {
              *c = true;
              ASSIGN_OR_RETURN(uint32_t cols, ListOf(r, Type::kStruct, "columns"));
              for (uint32_t k = 0; k < cols; ++k) {
                auto& entry = chunks.emplace_back();  // (no structured binding: captured below)
                ColumnChunkInfo& chunk = entry.first;
                std::string& path = entry.second;
                bool has_meta = false;
                RETURN_IF_ERROR(ForEachField(r, [&](Type ct, int16_t cf, bool* cc) -> Status {
                  if (cf != 3 || ct != Type::kStruct) return Status::Ok();
                  *cc = has_meta = true;
                  return ReadColumnMetaData(r, &chunk, &path);
                }));
                if (!has_meta) return Bad("a column chunk has no meta_data");
              }
            }
            return Status::Ok();
          }));
        }
        return Status::Ok();
      }
      case 5: {
        if (type != Type::kList) return Status::Ok();
        *consumed = true;
        ASSIGN_OR_RETURN(uint32_t n, ListOf(r, Type::kStruct, "key_value_metadata"));
        for (uint32_t i = 0; i < n; ++i) {
          auto& kv = info.key_value_metadata.emplace_back();
          RETURN_IF_ERROR(ForEachField(r, [&](Type t, int16_t f, bool* c) -> Status {
            if (t != Type::kBinary || (f != 1 && f != 2)) return Status::Ok();
            *c = true;
            ASSIGN_OR_RETURN(std::string_view v, r.Binary());
            (f == 1 ? kv.first : kv.second).assign(v);
            return Status::Ok();
          }));
        }
        return Status::Ok();
      }
      case 6: {
        RETURN_IF_ERROR(ExpectType(type, Type::kBinary, "created_by"));
        *consumed = true;
        ASSIGN_OR_RETURN(std::string_view v, r.Binary());
        info.created_by.assign(v);
        return Status::Ok();
      }
      default: return Status::Ok();
    }
  }));

  // A flat schema: the root, then leaves only.
  if (raw.empty()) return Bad("no schema");
  if (raw[0].num_children.value_or(-1) != static_cast<int32_t>(raw.size() - 1))
    return Bad("only flat schemas (a root with leaf columns) are supported");
  for (size_t i = 1; i < raw.size(); ++i) {
    const RawSchemaElement& e = raw[i];
    if (e.num_children || !e.type) return Bad("column " + e.name + " is a group; nested schemas are not supported");
    ColumnSpec c;
    c.name = e.name;
    c.field_id = e.field_id.value_or(0);
    const int32_t t = *e.type;
    if (t != 1 && t != 2 && t != 5 && t != 6 && t != 7)
      return Bad("column " + e.name + " has unsupported physical type " + std::to_string(t));
    c.type = static_cast<PhysicalType>(t);
    const int32_t rep = e.repetition.value_or(0);
    if (rep != 0 && rep != 1) return Bad("column " + e.name + " is repeated; not supported");
    c.optional = rep == 1;
    c.type_length = e.type_length.value_or(0);
    if (c.type == PhysicalType::kFixedLenByteArray && (c.type_length <= 0 || c.type_length > (1 << 20)))
      return Bad("column " + e.name + " has a bad type_length");
    if (c.type != PhysicalType::kFixedLenByteArray) c.type_length = 0;
    c.logical = e.logical;
    info.schema.push_back(std::move(c));
  }
  if (info.num_rows < 0) return Bad("negative num_rows");
  int64_t rows = 0;
  for (size_t g = 0; g < groups.size(); ++g) {
    RowGroupInfo& rg = info.row_groups[g];
    if (groups[g].size() != info.schema.size()) return Bad("row group " + std::to_string(g) + " has another column count");
    if (rg.num_rows < 0) return Bad("negative row count in row group " + std::to_string(g));
    for (size_t c = 0; c < groups[g].size(); ++c) {
      auto& [chunk, path] = groups[g][c];
      if (path != info.schema[c].name) return Bad("row group column " + path + " is not schema column " + info.schema[c].name);
      if (chunk.num_values != rg.num_rows) return Bad("column " + path + ": num_values disagrees with the row count");
      rg.columns.push_back(std::move(chunk));
    }
    rows += rg.num_rows;
  }
  if (rows != info.num_rows) return Bad("row groups hold " + std::to_string(rows) + " rows, the file says " +
                                        std::to_string(info.num_rows));
  // An integer column some chunk wrote DELTA_BINARY_PACKED asks for it again
  // (compaction and the lifecycle's rewrites keep the sink's encodings).
  for (size_t c = 0; c < info.schema.size(); ++c) {
    ColumnSpec& spec = info.schema[c];
    if (spec.type != PhysicalType::kInt32 && spec.type != PhysicalType::kInt64) continue;
    for (const RowGroupInfo& rg : info.row_groups) {
      const std::vector<int32_t>& e = rg.columns[c].encodings;
      spec.delta |= std::find(e.begin(), e.end(), static_cast<int32_t>(Encoding::kDeltaBinaryPacked)) != e.end();
    }
  }
  return info;
}

ParquetReader::~ParquetReader() = default;

Result<std::unique_ptr<ParquetReader>> ParquetReader::Open(FileSystem* fs, const std::string& path,
                                                           FileKeys* file_keys) {
  std::unique_ptr<ParquetReader> r(new ParquetReader());
  r->path_ = path;
  auto named = [&](const Status& s) { return Status(s.code(), path + ": " + s.message()); };
  auto size = fs->FileSize(path);
  if (!size.ok()) return named(size.status());
  r->size_ = *size;
  auto file = fs->NewRandomAccessFile(path);
  if (!file.ok()) return named(file.status());
  r->file_ = std::move(file).value();
  if (r->size_ < 12) return named(Status::Corruption("too small to be a Parquet file"));
  char tail[8];
  auto got = r->file_->Read(r->size_ - 8, 8, tail);
  if (!got.ok()) return named(got.status());
  const bool encrypted = *got == 8 && std::memcmp(tail + 4, kEncryptedMagic.data(), 4) == 0;
  if (*got != 8 || (!encrypted && std::memcmp(tail + 4, kParquetMagic.data(), 4) != 0))
    return named(Status::Corruption("no PAR1 at the end (not Parquet, or truncated)"));
  if (encrypted) {  // encrypted footer: "PARE" at both ends, the key from `keys`
    char head[4];
    got = r->file_->Read(0, 4, head);
    if (!got.ok()) return named(got.status());
    if (*got != 4 || std::memcmp(head, kEncryptedMagic.data(), 4) != 0)
      return named(Status::Corruption("PARE at the end but not at the start"));
    std::shared_ptr<FileKeys> fallback;
    if (!file_keys) file_keys = (fallback = DefaultFileKeys()).get();
    if (!file_keys)
      return named(Status::FailedPrecondition(
          "the file is encrypted (Parquet modular encryption) and no key is available here (encryption = off)"));
    auto key = file_keys->KeyOf(fs, path);
    if (!key.ok()) return named(key.status());
    r->cipher_ = std::make_unique<keys::GcmCipher>(*key);
  }
  const uint32_t footer_len = GetFixed32(tail);
  if (footer_len > r->size_ - 12) return named(Status::Corruption("footer length past the start of the file"));
  std::string footer(footer_len, '\0');
  got = r->file_->Read(r->size_ - 8 - footer_len, footer_len, footer.data());
  if (!got.ok()) return named(got.status());
  if (*got != footer_len) return named(Status::Corruption("short read of the footer"));
  std::string_view metadata = footer;
  std::string plain;
  if (r->cipher_) {
    auto crypto = ParseFileCryptoMetaData(footer);
    if (!crypto.ok()) return named(crypto.status());
    std::string_view rest = std::string_view(footer).substr(*crypto);
    if (Status s = NextModule(*r->cipher_, &rest, &plain); !s.ok())
      return named(Status(s.code(), "footer: " + s.message()));
    if (!rest.empty()) return named(Status::Corruption("bytes after the encrypted footer"));
    metadata = plain;
  }
  auto info = ParseFileMetaData(metadata);
  if (!info.ok()) return named(info.status());
  r->info_ = std::move(info).value();
  r->info_.encrypted = r->cipher_ != nullptr;
  const uint64_t data_end = r->size_ - 8 - footer_len;
  for (const RowGroupInfo& rg : r->info_.row_groups)
    for (const ColumnChunkInfo& ch : rg.columns) {
      const int64_t start = ch.dictionary_page_offset.value_or(ch.data_page_offset);
      if (start < 4 || ch.total_compressed_size < 0 ||
          static_cast<uint64_t>(start) + static_cast<uint64_t>(ch.total_compressed_size) > data_end)
        return named(Status::Corruption("a column chunk lies outside the file's data"));
    }
  return r;
}

int ParquetReader::ColumnIndex(std::string_view name) const {
  for (size_t i = 0; i < info_.schema.size(); ++i)
    if (info_.schema[i].name == name) return static_cast<int>(i);
  return -1;
}

Result<std::vector<ColumnValues>> ParquetReader::ReadRowGroup(size_t row_group, const std::vector<int>& columns) {
  if (row_group >= info_.row_groups.size()) return Status::InvalidArgument("no row group " + std::to_string(row_group));
  const RowGroupInfo& rg = info_.row_groups[row_group];
  std::vector<ColumnValues> out(columns.size());
  for (size_t i = 0; i < columns.size(); ++i) {
    const int c = columns[i];
    if (c < 0 || static_cast<size_t>(c) >= info_.schema.size()) return Status::InvalidArgument("no such column");
    Status s = ReadChunk(rg.columns[c], info_.schema[c], rg.num_rows, &out[i]);
    if (!s.ok())
      return Status(s.code(), path_ + ": row group " + std::to_string(row_group) + ", column " + info_.schema[c].name +
                                  ": " + s.message());
  }
  return out;
}

namespace {

constexpr int32_t kMaxPageBytes = 256 << 20;
constexpr int32_t kMaxPageValues = 1 << 24;

struct PageHeaderInfo {
  int32_t type = -1, uncompressed = -1, compressed = -1;
  int32_t num_values = -1, encoding = -1;
};

Status ReadPageHeader(thrift::Reader& r, PageHeaderInfo* h) {
  return ForEachField(r, [&](Type type, int16_t id, bool* consumed) -> Status {
    auto i32 = [&](int32_t* field) -> Status {
      if (type != Type::kI32) return Status::Corruption("page header field of the wrong type");
      *consumed = true;
      ASSIGN_OR_RETURN(*field, r.I32());
      return Status::Ok();
    };
    if (id == 1) return i32(&h->type);
    if (id == 2) return i32(&h->uncompressed);
    if (id == 3) return i32(&h->compressed);
    if ((id == 5 || id == 7) && type == Type::kStruct) {  // data / dictionary page header
      *consumed = true;
      return ForEachField(r, [&](Type t, int16_t f, bool* c) -> Status {
        if (t != Type::kI32 || (f != 1 && f != 2)) return Status::Ok();
        *c = true;
        ASSIGN_OR_RETURN(int32_t v, r.I32());
        (f == 1 ? h->num_values : h->encoding) = v;
        return Status::Ok();
      });
    }
    return Status::Ok();
  });
}

// Decodes `count` PLAIN values of `spec` from `in` into *out (appending).
Status DecodePlain(const ColumnSpec& spec, std::string_view in, size_t count, ColumnValues* out) {
  const size_t width = spec.type == PhysicalType::kInt32 ? 4
                       : spec.type == PhysicalType::kFixedLenByteArray ? static_cast<size_t>(spec.type_length)
                       : spec.type == PhysicalType::kByteArray ? 0 : 8;
  if (width != 0 && count > in.size() / width) return Status::Corruption("PLAIN values past the end of the page");
  // Fixed-width values in bulk: PLAIN is little-endian, as is the host.
  static_assert(std::endian::native == std::endian::little, "bulk PLAIN decoding assumes a little-endian host");
  if (spec.type == PhysicalType::kInt64 || spec.type == PhysicalType::kDouble) {
    const size_t base = spec.type == PhysicalType::kInt64 ? out->ints.size() : out->doubles.size();
    void* dst;
    if (spec.type == PhysicalType::kInt64) {
      out->ints.resize(base + count);
      dst = out->ints.data() + base;
    } else {
      out->doubles.resize(base + count);
      dst = out->doubles.data() + base;
    }
    if (count) std::memcpy(dst, in.data(), count * 8);
    return Status::Ok();
  }
  if (spec.type == PhysicalType::kFixedLenByteArray) {
    out->bytes.append(in.data(), count * width);
    return Status::Ok();
  }
  size_t pos = 0;
  for (size_t i = 0; i < count; ++i) {
    switch (spec.type) {
      case PhysicalType::kInt32: out->ints.push_back(static_cast<int32_t>(GetFixed32(in.data() + pos))); break;
      case PhysicalType::kInt64: out->ints.push_back(static_cast<int64_t>(GetFixed64(in.data() + pos))); break;
      case PhysicalType::kDouble: {
        uint64_t bits = GetFixed64(in.data() + pos);
        double d;
        std::memcpy(&d, &bits, 8);
        out->doubles.push_back(d);
        break;
      }
      case PhysicalType::kFixedLenByteArray: out->bytes.append(in.substr(pos, width)); break;
      case PhysicalType::kByteArray: {
        if (in.size() - pos < 4) return Status::Corruption("BYTE_ARRAY length past the end of the page");
        const uint32_t len = GetFixed32(in.data() + pos);
        pos += 4;
        if (len > in.size() - pos) return Status::Corruption("BYTE_ARRAY value past the end of the page");
        out->bytes.append(in.substr(pos, len));
        if (out->bytes.size() > UINT32_MAX) return Status::TooLarge("more than 4 GiB of values in a column chunk");
        out->ends.push_back(static_cast<uint32_t>(out->bytes.size()));
        pos += len;
        continue;
      }
    }
    pos += width;
  }
  return Status::Ok();
}

// Appends dictionary entry `index` to *out.
void AppendEntry(const ColumnSpec& spec, const ColumnValues& dict, uint32_t index, ColumnValues* out) {
  switch (spec.type) {
    case PhysicalType::kInt32:
    case PhysicalType::kInt64: out->ints.push_back(dict.ints[index]); return;
    case PhysicalType::kDouble: out->doubles.push_back(dict.doubles[index]); return;
    case PhysicalType::kFixedLenByteArray: out->bytes.append(dict.ByteValue(spec, index)); return;
    case PhysicalType::kByteArray:
      out->bytes.append(dict.ByteValue(spec, index));
      out->ends.push_back(static_cast<uint32_t>(out->bytes.size()));
      return;
  }
}

}  // namespace

Status ParquetReader::ReadChunk(const ColumnChunkInfo& chunk, const ColumnSpec& spec, int64_t rows, ColumnValues* out) {
  const int64_t start = chunk.dictionary_page_offset.value_or(chunk.data_page_offset);
  std::string data(static_cast<size_t>(chunk.total_compressed_size), '\0');
  ASSIGN_OR_RETURN(size_t got, file_->Read(static_cast<uint64_t>(start), data.size(), data.data()));
  if (got != data.size()) return Status::Corruption("short read");
  std::string_view rest(data);
  ColumnValues dict;
  bool have_dict = false;
  int64_t rows_read = 0;
  std::string page, header_plain, page_plain;
  std::vector<uint32_t> levels, indices;
  while (rows_read < rows) {
    if (rest.empty()) return Status::Corruption("the chunk ends before its rows");
    // Encrypted: the header and the page are modules, each read by its own
    // length prefix; compressed_page_size is the page's plaintext size.
    std::string_view header_bytes = rest;
    if (cipher_) {
      RETURN_IF_ERROR(NextModule(*cipher_, &rest, &header_plain));
      header_bytes = header_plain;
    }
    thrift::Reader r(header_bytes);
    PageHeaderInfo h;
    RETURN_IF_ERROR(ReadPageHeader(r, &h));
    if (!cipher_) rest.remove_prefix(r.position());
    if (h.compressed < 0 || h.uncompressed < 0 || (!cipher_ && static_cast<size_t>(h.compressed) > rest.size()))
      return Status::Corruption("page sizes outside the chunk");
    // Bounds on what a page may make us allocate (writers use ~1 MiB pages).
    if (h.uncompressed > kMaxPageBytes) return Status::Corruption("page larger than 256 MiB uncompressed");
    if (h.num_values > kMaxPageValues) return Status::Corruption("page with more than 2^24 values");
    std::string_view compressed;
    if (cipher_) {
      RETURN_IF_ERROR(NextModule(*cipher_, &rest, &page_plain));
      if (page_plain.size() != static_cast<size_t>(h.compressed))
        return Status::Corruption("encrypted page size disagrees with its header");
      compressed = page_plain;
    } else {
      compressed = rest.substr(0, static_cast<size_t>(h.compressed));
      rest.remove_prefix(static_cast<size_t>(h.compressed));
    }
    RETURN_IF_ERROR(Decompress(chunk.codec, compressed, static_cast<size_t>(h.uncompressed), &page));
    if (h.num_values < 0) return Status::Corruption("page without a value count");
    if (h.type == static_cast<int32_t>(PageType::kDictionaryPage)) {
      if (have_dict) return Status::Corruption("two dictionary pages");
      if (h.encoding != static_cast<int32_t>(Encoding::kPlain) &&
          h.encoding != static_cast<int32_t>(Encoding::kPlainDictionary))
        return Status::Corruption("dictionary page not PLAIN");
      RETURN_IF_ERROR(DecodePlain(spec, page, static_cast<size_t>(h.num_values), &dict));
      have_dict = true;
      continue;
    }
    if (h.type != static_cast<int32_t>(PageType::kDataPage))
      return Status::Corruption("unsupported page type " + std::to_string(h.type));
    if (h.num_values > rows - rows_read) return Status::Corruption("more values in the pages than rows");
    std::string_view body(page);
    size_t present = static_cast<size_t>(h.num_values);
    if (spec.optional) {
      if (body.size() < 4) return Status::Corruption("definition levels missing");
      const uint32_t len = GetFixed32(body.data());
      if (len > body.size() - 4) return Status::Corruption("definition levels past the end of the page");
      RETURN_IF_ERROR(DecodeRleHybrid(body.substr(4, len), 1, static_cast<size_t>(h.num_values), &levels));
      for (uint32_t l : levels) out->present.push_back(static_cast<uint8_t>(l));
      present = static_cast<size_t>(std::count(levels.begin(), levels.end(), 1u));
      body.remove_prefix(4 + len);
    }
    if (h.encoding == static_cast<int32_t>(Encoding::kPlain)) {
      RETURN_IF_ERROR(DecodePlain(spec, body, present, out));
    } else if (h.encoding == static_cast<int32_t>(Encoding::kRleDictionary) ||
               h.encoding == static_cast<int32_t>(Encoding::kPlainDictionary)) {
      if (!have_dict) return Status::Corruption("dictionary-encoded page without a dictionary");
      if (body.empty()) return Status::Corruption("dictionary index width missing");
      RETURN_IF_ERROR(DecodeRleHybrid(body.substr(1), static_cast<uint8_t>(body[0]), present, &indices));
      const size_t entries = dict.ValueCount(spec);
      if (std::any_of(indices.begin(), indices.end(), [&](uint32_t i) { return i >= entries; }))
        return Status::Corruption("dictionary index out of range");
      if (spec.type == PhysicalType::kInt32 || spec.type == PhysicalType::kInt64) {
        const size_t base = out->ints.size();
        out->ints.resize(base + indices.size());
        for (size_t k = 0; k < indices.size(); ++k) out->ints[base + k] = dict.ints[indices[k]];
      } else {
        for (uint32_t i : indices) AppendEntry(spec, dict, i, out);
      }
    } else if (h.encoding == static_cast<int32_t>(Encoding::kDeltaBinaryPacked) &&
               (spec.type == PhysicalType::kInt32 || spec.type == PhysicalType::kInt64)) {
      RETURN_IF_ERROR(DecodeDeltaBinaryPacked(body, present, spec.type == PhysicalType::kInt32, &out->ints));
    } else {
      return Status::Corruption("unsupported encoding " + std::to_string(h.encoding));
    }
    rows_read += h.num_values;
  }
  return Status::Ok();
}

}  // namespace watershed::lake
