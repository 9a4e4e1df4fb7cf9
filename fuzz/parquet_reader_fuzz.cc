// Fuzzes the Parquet reader: the input is a whole file. It is opened
// (footer parsing and checks) and every row group of every column is read
// (page headers, decompression, levels, dictionary, PLAIN,
// DELTA_BINARY_PACKED); any outcome but a crash, a sanitizer report or an
// allocation beyond the limit is fine. Property: when the file reads, each
// column holds exactly the row group's rows. The seed corpus holds files our
// writer made (fuzz/corpus/parquet_reader; delta_uncompressed.parquet has
// DELTA pages without compression, so mutations reach the decoder). The
// input after its first two bytes is also decoded as a DELTA_BINARY_PACKED
// page of that many values, INT32 and INT64: what decodes must hold exactly
// that many values and survive our encoder and decoder unchanged.
// Encrypted files (Parquet modular encryption, "PARE") are read with a fixed
// key (the seed duckdb_encrypted.parquet was written by DuckDB under it), so
// module lengths, the FileCryptoMetaData and every tag check are fuzzed; and
// the input is also wrapped as the encrypted footer of a file under that key,
// so mutations reach the footer parser through decryption too.

#include <unistd.h>

#include <cstdint>
#include <string>

#include "core/endian.h"
#include "core/file_system.h"
#include "keys/aead.h"
#include "lake/file_keys.h"
#include "lake/parquet.h"
#include "lake/parquet_crypto.h"
#include "lake/parquet_encoding.h"

using namespace watershed;

namespace {

lake::FileKeys* FuzzKey() {
  static const std::unique_ptr<lake::FileKeys> keys =
      lake::NewFixedFileKey(keys::SecretKey("watershed-fuzz-key-0123456789abc"));
  return keys.get();
}

// Opens `content` as a file and reads every row group; traps when a read
// column disagrees with the row group's row count.
void ReadWhole(const std::string& path, std::string_view content) {
  FileSystem* fs = FileSystem::Default();
  if (!WriteFileAtomically(fs, path, content).ok()) return;
  auto reader = lake::ParquetReader::Open(fs, path, FuzzKey());
  if (!reader.ok()) return;
  const lake::FileInfo& info = (*reader)->info();
  std::vector<int> all;
  for (size_t c = 0; c < info.schema.size(); ++c) all.push_back(static_cast<int>(c));
  for (size_t g = 0; g < info.row_groups.size(); ++g) {
    auto columns = (*reader)->ReadRowGroup(g, all);
    if (!columns.ok()) continue;
    for (size_t c = 0; c < all.size(); ++c) {
      const lake::ColumnSpec& spec = info.schema[c];
      const lake::ColumnValues& v = (*columns)[c];
      const size_t rows = spec.optional ? v.present.size() : v.ValueCount(spec);
      if (rows != static_cast<size_t>(info.row_groups[g].num_rows)) __builtin_trap();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size >= 2) {
    const size_t count = data[0] | static_cast<size_t>(data[1]) << 8;
    const std::string_view page(reinterpret_cast<const char*>(data) + 2, size - 2);
    for (bool int32 : {false, true}) {
      std::vector<int64_t> values;
      if (!lake::DecodeDeltaBinaryPacked(page, count, int32, &values).ok()) continue;
      if (values.size() != count) __builtin_trap();
      std::string again;
      lake::EncodeDeltaBinaryPacked(values.data(), values.size(), int32, &again);
      std::vector<int64_t> back;
      if (!lake::DecodeDeltaBinaryPacked(again, count, int32, &back).ok() || back != values) __builtin_trap();
    }
  }
  static const std::string path = "/tmp/parquet_reader_fuzz." + std::to_string(::getpid()) + ".parquet";
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  ReadWhole(path, input);
  // The input as the plaintext footer of an encrypted file.
  keys::GcmCipher cipher(keys::SecretKey("watershed-fuzz-key-0123456789abc"));
  std::string file(lake::kEncryptedMagic), tail(lake::kFileCryptoMetaData);
  if (!lake::AppendModule(cipher, input, &tail).ok()) return 0;
  file += tail;
  char len[4];
  PutFixed32(len, static_cast<uint32_t>(tail.size()));
  file.append(len, 4);
  file += lake::kEncryptedMagic;
  ReadWhole(path, file);
  return 0;
}
