#pragma once
// Enum values and constants of the Parquet format (parquet.thrift) used by
// the writer and the reader; internal to src/lake.

#include <cstdint>
#include <string>
#include <string_view>

#include "lake/parquet.h"

namespace watershed::lake {

inline constexpr std::string_view kParquetMagic = "PAR1";

enum class PageType : int32_t { kDataPage = 0, kIndexPage = 1, kDictionaryPage = 2, kDataPageV2 = 3 };

enum class Encoding : int32_t {
  kPlain = 0,
  kPlainDictionary = 2,  // deprecated name of a dictionary page's PLAIN, read as such
  kRle = 3,
  kBitPacked = 4,
  kDeltaBinaryPacked = 5,
  kRleDictionary = 8,
};

enum class ConvertedType : int32_t { kUtf8 = 0, kTimestampMicros = 10, kInt32 = 17, kInt64 = 18 };

// The footer of a file described by `info` (FileMetaData, compact protocol).
std::string SerializeFileMetaData(const FileInfo& info);

}  // namespace watershed::lake
