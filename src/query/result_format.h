#pragma once
// A QueryResult written out for clients, piece by piece so that no answer
// is formatted into one string: JSON (POST /v1/query and `watershed sql
// --format json`) and CSV (RFC 4180). The rows themselves are still held by
// the QueryResult (the executor materialises them), so these bound only the
// text in memory, not the result.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "query/executor.h"

namespace watershed::query {

// {"columns":[{"name","type"}],"rows":[[...]],"truncated":bool,
//  "stats":{"files_read","row_groups_read","rows_scanned","elapsed_ms"}}
// with at most max_rows rows (truncated says whether rows were left out).
// NULL is null, BIGINT and finite DOUBLE values are bare numbers, the rest
// strings (timestamps "YYYY-MM-DD HH:MM:SS[.ffffff]" UTC).
class JsonResultWriter {
 public:
  JsonResultWriter(std::shared_ptr<const QueryResult> result, int64_t max_rows, double elapsed_ms);
  // Appends the next piece, of about piece_bytes (one row may exceed it);
  // false once the text is complete.
  bool Next(std::string* out, size_t piece_bytes = 64 << 10);
  // Past `deadline` the next piece ends the text: the rows written so far,
  // "truncated": true and "timed_out": true (a reader too slow to take the
  // answer does not hold it, and what it holds, for ever).
  void SetDeadline(std::chrono::steady_clock::time_point deadline) { deadline_ = deadline; }

 private:
  std::shared_ptr<const QueryResult> result_;
  size_t rows_;  // to write: min(result rows, max_rows)
  double elapsed_ms_;
  size_t next_ = 0;
  bool started_ = false;
  std::optional<std::chrono::steady_clock::time_point> deadline_;
  bool timed_out_ = false;
};

// One value as JSON (see JsonResultWriter).
void AppendJsonValue(const Value& v, ColumnType t, std::string* out);

// RFC 4180: a header line of the names, then one line per row; fields with
// a comma, quote, CR or LF quoted ("" for a quote); lines end with CRLF;
// NULL is an empty field, an empty string "".
void AppendCsvHeader(const QueryResult& r, std::string* out);
void AppendCsvRow(const QueryResult& r, size_t row, std::string* out);

}  // namespace watershed::query
