#include "query/result_format.h"

#include <cmath>
#include <cstdio>

#include "core/json_text.h"
#include "query/value_compare.h"

namespace watershed::query {

void AppendJsonValue(const Value& v, ColumnType t, std::string* out) {
  if (v.null) {
    *out += "null";
  } else if (t == ColumnType::kBigint || (t == ColumnType::kDouble && std::isfinite(v.d))) {
    *out += FormatValue(v, t);
  } else {
    AppendJsonString(FormatValue(v, t), out);  // JSON has no NaN or Infinity: "nan", "inf"
  }
}

JsonResultWriter::JsonResultWriter(std::shared_ptr<const QueryResult> result, int64_t max_rows, double elapsed_ms)
    : result_(std::move(result)),
      rows_(std::min(result_->rows.size(), static_cast<size_t>(std::max<int64_t>(max_rows, 0)))),
      elapsed_ms_(elapsed_ms) {}

bool JsonResultWriter::Next(std::string* out, size_t piece_bytes) {
  const QueryResult& r = *result_;
  const size_t start = out->size();
  if (!started_) {
    started_ = true;
    *out += "{\"columns\":[";
    for (size_t c = 0; c < r.names.size(); ++c) {
      *out += c ? ",{\"name\":" : "{\"name\":";
      AppendJsonString(r.names[c], out);
      *out += ",\"type\":\"";
      *out += TypeName(r.types[c]);
      *out += "\"}";
    }
    *out += "],\"rows\":[";
  }
  while (next_ < rows_ && out->size() - start < piece_bytes) {
    const std::vector<Value>& row = r.rows[next_];
    *out += next_ ? ",[" : "[";
    for (size_t c = 0; c < row.size(); ++c) {
      if (c) *out += ',';
      AppendJsonValue(row[c], r.types[c], out);
    }
    *out += ']';
    ++next_;
  }
  if (next_ < rows_) return true;
  char elapsed[32];
  std::snprintf(elapsed, sizeof elapsed, "%.3f", elapsed_ms_);
  *out += std::string("],\"truncated\":") + (r.rows.size() > rows_ ? "true" : "false") +
          ",\"stats\":{\"files_read\":" + std::to_string(r.stats.files_read) +
          ",\"row_groups_read\":" + std::to_string(r.stats.row_groups_read) +
          ",\"rows_scanned\":" + std::to_string(r.stats.rows_scanned) + ",\"elapsed_ms\":" + elapsed + "}}\n";
  return false;
}

namespace {
void AppendCsvField(std::string_view s, std::string* out) {
  if (s.empty()) {
    *out += "\"\"";  // an empty string, told apart from NULL's empty field
    return;
  }
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) {
    *out += s;
    return;
  }
  *out += '"';
  for (char c : s) {
    if (c == '"') *out += '"';
    *out += c;
  }
  *out += '"';
}
}  // namespace

void AppendCsvHeader(const QueryResult& r, std::string* out) {
  for (size_t c = 0; c < r.names.size(); ++c) {
    if (c) *out += ',';
    AppendCsvField(r.names[c], out);
  }
  *out += "\r\n";
}

void AppendCsvRow(const QueryResult& r, size_t row, std::string* out) {
  const std::vector<Value>& values = r.rows[row];
  for (size_t c = 0; c < values.size(); ++c) {
    if (c) *out += ',';
    if (!values[c].null) AppendCsvField(FormatValue(values[c], r.types[c]), out);
  }
  *out += "\r\n";
}

}  // namespace watershed::query
