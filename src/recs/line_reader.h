#pragma once
// Reading the benchmark files line by line, with positions for errors:
// every error of an importer is "FILE:LINE[:COLUMN]: message" (1-based; the
// column is the byte where the offending field starts).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/line_reader.h"
#include "core/status.h"

namespace watershed::recs {

using ::watershed::LineReader;

struct Field {
  std::string text;
  size_t column = 1;  // 1-based byte column in the line
};

// `line` split at every occurrence of `separator` (no quoting).
std::vector<Field> SplitPlain(std::string_view line, std::string_view separator);
// One RFC 4180 CSV record on one line: fields separated by ',', a field in
// double quotes may hold ',' and '""' (a quote). An unterminated quote or
// text after a closing quote is an error at `where`'s line, naming the column.
Result<std::vector<Field>> SplitCsv(std::string_view line, const LineReader& where);

// The whole field as a number, or an InvalidArgument naming `what`.
Result<int64_t> ParseInt(std::string_view what, std::string_view text);
Result<double> ParseReal(std::string_view what, std::string_view text);

// Unix seconds of 00:00 UTC on a proleptic Gregorian date.
int64_t UnixSecondsOfDate(int year, unsigned month, unsigned day);

}  // namespace watershed::recs
