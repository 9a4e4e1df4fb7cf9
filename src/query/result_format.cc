#include "query/result_format.h"

#include <algorithm>
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
  if (deadline_ && next_ < rows_ && std::chrono::steady_clock::now() > *deadline_) {
    timed_out_ = true;
    rows_ = next_;
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
          (timed_out_ ? ",\"timed_out\":true" : "") +
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

std::string FormatTable(const QueryResult& r) {
  std::vector<size_t> width(r.names.size());
  std::vector<std::vector<std::string>> cells;
  for (size_t c = 0; c < r.names.size(); ++c) width[c] = r.names[c].size();
  for (const auto& row : r.rows) {
    std::vector<std::string> line;
    for (size_t c = 0; c < row.size(); ++c) {
      line.push_back(FormatValue(row[c], r.types[c]));
      width[c] = std::max(width[c], line.back().size());
    }
    cells.push_back(std::move(line));
  }
  auto emit = [&](const std::vector<std::string>& line, std::string& out) {
    for (size_t c = 0; c < line.size(); ++c) {
      const bool right = r.types[c] == ColumnType::kBigint || r.types[c] == ColumnType::kDouble;
      const std::string pad(width[c] - line[c].size(), ' ');
      const bool last = c + 1 == line.size();  // no trailing spaces
      out += (c ? " | " : "") + (right ? pad + line[c] : last ? line[c] : line[c] + pad);
    }
    out += "\n";
  };
  std::string out;
  emit(r.names, out);
  for (size_t c = 0; c < width.size(); ++c) out += (c ? "-+-" : "") + std::string(width[c], '-');
  out += "\n";
  for (const auto& line : cells) emit(line, out);
  out += "(" + std::to_string(r.rows.size()) + (r.rows.size() == 1 ? " row)\n" : " rows)\n");
  return out;
}

std::string FormatJson(const QueryResult& r) {
  auto quote = [](std::string_view s) {
    std::string out = "\"";
    for (unsigned char ch : s) {
      if (ch == '"' || ch == '\\') {
        out += '\\';
        out += static_cast<char>(ch);
      } else if (ch < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", ch);
        out += buf;
      } else {
        out += static_cast<char>(ch);
      }
    }
    return out + "\"";
  };
  std::string out = "{\"columns\":[";
  for (size_t c = 0; c < r.names.size(); ++c)
    out += std::string(c ? "," : "") + "{\"name\":" + quote(r.names[c]) + ",\"type\":\"" + TypeName(r.types[c]) + "\"}";
  out += "],\"rows\":[";
  for (size_t i = 0; i < r.rows.size(); ++i) {
    out += i ? ",[" : "[";
    for (size_t c = 0; c < r.rows[i].size(); ++c) {
      const Value& v = r.rows[i][c];
      const bool number = r.types[c] == ColumnType::kBigint || r.types[c] == ColumnType::kDouble;
      out += c ? "," : "";
      out += v.null ? "null" : number ? FormatValue(v, r.types[c]) : quote(FormatValue(v, r.types[c]));
    }
    out += "]";
  }
  out += "],\"stats\":{\"files_read\":" + std::to_string(r.stats.files_read) +
         ",\"row_groups_read\":" + std::to_string(r.stats.row_groups_read) +
         ",\"rows_scanned\":" + std::to_string(r.stats.rows_scanned) + "}}\n";
  return out;
}

}  // namespace watershed::query
