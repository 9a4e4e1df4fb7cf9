#pragma once
// Parquet files, written and read by our own code from the format's
// specification (parquet.thrift, Encodings.md, Compression.md). Supported
// subset (docs/lake.md):
//  - flat schemas of REQUIRED or OPTIONAL leaf columns, each with an
//    Iceberg field_id;
//  - physical types INT32, INT64, DOUBLE, BYTE_ARRAY, FIXED_LEN_BYTE_ARRAY;
//    logical types STRING (+ converted UTF8), TIMESTAMP(MICROS, UTC)
//    (+ converted TIMESTAMP_MICROS), UUID (FIXED[16]), INTEGER(32|64, signed);
//  - data pages v1: definition levels (OPTIONAL columns) as the RLE hybrid
//    with a 4-byte length; values PLAIN, or RLE_DICTIONARY after one PLAIN
//    dictionary page when the chunk's distinct values are few, or
//    DELTA_BINARY_PACKED (INT32/INT64 columns that ask for it);
//  - codecs ZSTD (default), SNAPPY, UNCOMPRESSED, chosen per file, and per
//    column where a column opts out of compression or sets its ZSTD level;
//  - column-chunk statistics: null_count always, min_value/max_value in the
//    column order (signed for integers, unsigned bytes for strings and
//    fixed bytes) unless the column opts out (personal data), with
//    column_orders = TYPE_ORDER for every column.
//  - Parquet modular encryption (lake/parquet_crypto.h): uniform key,
//    AES_GCM_V1, encrypted footer, no AAD (DuckDB's layout), when the
//    writer is given file keys (lake/file_keys.h).
// Files are written to a temporary name and renamed when complete, so a
// crash never leaves a half file under the final name. The reader refuses
// pages above 256 MiB uncompressed or 2^24 values (bounds on what a hostile
// file can make it allocate; writers use ~1 MiB pages).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/file_system.h"
#include "core/status.h"
#include "lake/parquet_encoding.h"

namespace watershed::keys {
class GcmCipher;
}

namespace watershed::lake {

class FileKeys;  // lake/file_keys.h

enum class PhysicalType : int32_t { kInt32 = 1, kInt64 = 2, kDouble = 5, kByteArray = 6, kFixedLenByteArray = 7 };
enum class LogicalType { kNone, kString, kTimestampMicrosUtc, kUuid, kInt32, kInt64 };

struct ColumnSpec {
  std::string name;
  int32_t field_id = 0;  // Iceberg's id of the field
  PhysicalType type = PhysicalType::kInt64;
  LogicalType logical = LogicalType::kNone;
  bool optional = false;
  int32_t type_length = 0;  // FIXED_LEN_BYTE_ARRAY only (16 for UUID)
  bool statistics = true;   // false: no min/max (personal data); null_count stays
  bool dictionary = true;   // try dictionary encoding (used when it pays)
  // INT32/INT64 only: values not dictionary-encoded are DELTA_BINARY_PACKED
  // instead of PLAIN (timestamps, offsets: small deltas pack in few bits).
  bool delta = false;
  // Page compression: false = UNCOMPRESSED whatever the file's codec (values
  // a codec cannot shrink: random ids, bit-packed deltas); zstd_level > 0
  // replaces the file's ZSTD level for this column.
  bool compress = true;
  int zstd_level = 0;
};

// The values of one column for a run of rows. Integers (INT32 and INT64)
// go to `ints`, DOUBLE to `doubles`, byte arrays to `bytes` with `ends`
// (value i is bytes[ends[i-1], ends[i])), fixed-length values to `bytes`
// back to back. For OPTIONAL columns `present` has one flag per row and
// values exist only for present rows; for REQUIRED columns it stays empty.
struct ColumnValues {
  std::vector<int64_t> ints;
  std::vector<double> doubles;
  std::string bytes;
  std::vector<uint32_t> ends;
  std::vector<uint8_t> present;

  size_t ValueCount(const ColumnSpec& spec) const;
  std::string_view ByteValue(const ColumnSpec& spec, size_t i) const;  // inline: per value in the writer's loops
  void Clear();
};

inline std::string_view ColumnValues::ByteValue(const ColumnSpec& spec, size_t i) const {
  if (spec.type == PhysicalType::kFixedLenByteArray) {
    const size_t w = static_cast<size_t>(spec.type_length);
    return std::string_view(bytes).substr(i * w, w);
  }
  const uint32_t begin = i == 0 ? 0 : ends[i - 1];
  return std::string_view(bytes).substr(begin, ends[i] - begin);
}

struct ParquetWriterOptions {
  Codec codec = Codec::kZstd;
  int zstd_level = 3;
  // A row group is cut once its columns' uncompressed values reach this.
  uint64_t row_group_bytes = 64ull << 20;
  uint64_t page_bytes = 1ull << 20;  // target uncompressed data page size
  // Dictionary encoding only when distinct values are at most this many
  // and at most half the chunk's values.
  size_t max_dictionary_entries = 1u << 16;
  std::vector<std::pair<std::string, std::string>> key_value_metadata;
  // Parquet modular encryption (lake/parquet_crypto.h): the file is written
  // encrypted under a fresh data key from these keys, or from
  // DefaultFileKeys() when null and set; plaintext when both are null.
  std::shared_ptr<FileKeys> file_keys;
};

// Min/max of a column chunk as the reader exposes them: PLAIN-encoded
// values without length prefix (8 bytes little-endian for INT64, ...).
struct ChunkStatistics {
  std::optional<std::string> min_value, max_value;
  std::optional<int64_t> null_count;
};

// a < b for two min/max values of a column as ChunkStatistics holds them,
// in the column order: signed for INT32/INT64, unsigned bytes for
// BYTE_ARRAY and FIXED_LEN_BYTE_ARRAY. Not for DOUBLE.
bool StatisticsLess(const ColumnSpec& spec, std::string_view a, std::string_view b);

struct ColumnChunkInfo {
  int64_t data_page_offset = 0;
  std::optional<int64_t> dictionary_page_offset;
  int64_t total_compressed_size = 0;
  int64_t total_uncompressed_size = 0;
  int64_t num_values = 0;
  Codec codec = Codec::kUncompressed;
  std::vector<int32_t> encodings;
  ChunkStatistics statistics;
};

struct RowGroupInfo {
  int64_t num_rows = 0;
  std::vector<ColumnChunkInfo> columns;  // in schema order
};

struct FileInfo {
  std::vector<ColumnSpec> schema;
  std::vector<RowGroupInfo> row_groups;
  int64_t num_rows = 0;
  std::string created_by;
  std::vector<std::pair<std::string, std::string>> key_value_metadata;
  bool encrypted = false;  // "PARE": Parquet modular encryption
};

// "watershed version X.Y.Z (build H)": parquet-mr trusts the statistics of
// writers it can parse this way.
std::string CreatedBy();

class ParquetWriter {
 public:
  // Creates `path`.tmp.<pid>; Finish() renames it to `path`.
  static Result<std::unique_ptr<ParquetWriter>> Create(FileSystem* fs, std::string path, std::vector<ColumnSpec> schema,
                                                       ParquetWriterOptions options = {});
  ~ParquetWriter();  // without Finish(): removes the temporary file

  // Appends rows: one ColumnValues per schema column, each holding `rows`
  // rows. Cuts a row group whenever the buffered bytes reach the limit.
  // kInvalidArgument when the columns disagree with the schema or rows.
  Status Write(const std::vector<ColumnValues>& columns, size_t rows);
  // The same, taking the columns over (no copy) when nothing is buffered.
  Status Write(std::vector<ColumnValues>&& columns, size_t rows);
  // Flushes the last row group, writes the footer, syncs, renames into
  // place. Returns the file's size.
  Result<uint64_t> Finish();
  // The footer written by Finish().
  const FileInfo& info() const { return info_; }

 private:
  ParquetWriter() = default;
  Status CheckColumns(const std::vector<ColumnValues>& columns, size_t rows) const;
  static uint64_t BufferedBytes(const ColumnSpec& spec, const ColumnValues& v);
  Status FlushRowGroup();
  Status WriteChunk(size_t column, RowGroupInfo* info);
  Status Append(std::string_view data);

  FileSystem* fs_ = nullptr;
  std::unique_ptr<keys::GcmCipher> cipher_;  // encrypted files: one context for every module
  std::string sidecar_;                      // the data key's sidecar, stored by Finish
  std::string module_;                       // an encrypted page's bytes, reused
  std::string path_, temp_path_;
  std::vector<ColumnSpec> schema_;
  ParquetWriterOptions options_;
  std::unique_ptr<WritableFile> file_;
  Compressor compressor_;  // one compression context for every page
  std::string body_;       // a page's bytes, reused
  uint64_t offset_ = 0;
  std::vector<ColumnValues> buffered_;
  size_t buffered_rows_ = 0;
  uint64_t buffered_bytes_ = 0;
  std::vector<RowGroupInfo> row_groups_;
  int64_t num_rows_ = 0;
  FileInfo info_;
  bool finished_ = false;
};

class ParquetReader {
 public:
  // Reads and checks the footer. kCorruption names the file and the problem.
  // An encrypted file ("PARE") is read with its key from `keys`, or from
  // DefaultFileKeys() when null; kFailedPrecondition when neither is set, and
  // kCorruption for a wrong key or any flipped bit (never garbage values).
  static Result<std::unique_ptr<ParquetReader>> Open(FileSystem* fs, const std::string& path,
                                                     FileKeys* file_keys = nullptr);
  ~ParquetReader();
  const FileInfo& info() const { return info_; }
  const std::string& path() const { return path_; }
  // Index of the column named `name` in the schema, or -1.
  int ColumnIndex(std::string_view name) const;
  // The values of the given columns (schema indices) of one row group.
  Result<std::vector<ColumnValues>> ReadRowGroup(size_t row_group, const std::vector<int>& columns);

 private:
  ParquetReader() = default;
  Status ReadChunk(const ColumnChunkInfo& chunk, const ColumnSpec& spec, int64_t rows, ColumnValues* out);

  std::string path_;
  std::unique_ptr<keys::GcmCipher> cipher_;  // encrypted files
  std::unique_ptr<RandomAccessFile> file_;
  uint64_t size_ = 0;
  FileInfo info_;
};

// Parses a footer (FileMetaData) alone; for the fuzzer and the reader.
Result<FileInfo> ParseFileMetaData(std::string_view footer);

}  // namespace watershed::lake
