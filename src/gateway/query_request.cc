#include "gateway/query_request.h"

#include <simdjson.h>

#include <algorithm>

#include "query/literals.h"

namespace watershed::gateway {

std::optional<std::string_view> QueryParam(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) == key) return eq == std::string_view::npos ? "" : pair.substr(eq + 1);
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

Result<QueryRequest> ParseQueryRequest(std::string_view body, const QueryRequestLimits& limits) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS)
    return Status::InvalidArgument("the body must be JSON: {\"sql\": \"...\", \"max_rows\": N}");
  simdjson::dom::object obj;
  if (root.get(obj) != simdjson::SUCCESS) return Status::InvalidArgument("the body must be a JSON object");
  QueryRequest out;
  out.max_rows = limits.default_rows;
  bool has_sql = false;
  for (simdjson::dom::key_value_pair m : obj) {
    if (m.key == "sql") {
      std::string_view sql;
      if (m.value.get(sql) != simdjson::SUCCESS) return Status::InvalidArgument("sql must be a string");
      if (sql.size() > limits.max_sql_bytes)
        return Status::TooLarge("sql is " + std::to_string(sql.size()) + " bytes; at most " +
                                std::to_string(limits.max_sql_bytes));
      out.sql = std::string(sql);
      has_sql = true;
    } else if (m.key == "max_rows") {
      int64_t n = 0;
      if (m.value.get(n) != simdjson::SUCCESS || n < 1 || n > limits.max_rows)
        return Status::InvalidArgument("max_rows must be an integer in 1.." + std::to_string(limits.max_rows));
      out.max_rows = n;
    } else {
      std::string key(m.key.substr(0, 64));
      for (char& c : key)
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
      return Status::InvalidArgument("unknown member '" + key + "' (expected sql, max_rows)");
    }
  }
  if (!has_sql) return Status::InvalidArgument("sql is required");
  if (out.sql.find_first_not_of(" \t\r\n") == std::string::npos) return Status::InvalidArgument("sql is empty");
  return out;
}

const char* GranularityName(Granularity g) {
  switch (g) {
    case Granularity::kMinute:
      return "minute";
    case Granularity::kHour:
      return "hour";
    case Granularity::kDay:
      return "day";
  }
  return "?";
}

int64_t GranularityMicros(Granularity g) {
  constexpr int64_t kMinute = 60'000'000;
  return g == Granularity::kMinute ? kMinute : g == Granularity::kHour ? 60 * kMinute : 1440 * kMinute;
}

int64_t MaxHistoryRangeMicros(Granularity g) {
  constexpr int64_t kDay = 86'400'000'000;
  return g == Granularity::kMinute ? 31 * kDay : g == Granularity::kHour ? 92 * kDay : 400 * kDay;
}

namespace {

// %XX decoded; false for a bad escape. Times are short: anything longer than
// 64 bytes is refused before decoding.
bool PercentDecode(std::string_view in, std::string* out) {
  auto hex = [](char c) {
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
  };
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    const int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

Result<int64_t> ParseTime(std::string_view name, std::string_view raw) {
  auto bad = [&](std::string_view why) {
    return Status::InvalidArgument(std::string(name) + " must be an ISO-8601 UTC time (2026-12-05 or " +
                                   "2026-12-05T10:00:00Z): " + std::string(why));
  };
  if (raw.size() > 64) return bad("too long");
  std::string text;
  if (!PercentDecode(raw, &text)) return bad("bad percent-encoding");
  auto micros = query::TimestampMicros(text, /*date_only=*/text.size() == 10);
  if (!micros.ok()) return bad(micros.status().message());
  return *micros;
}

int64_t FloorTo(int64_t v, int64_t unit) { return v / unit * unit - (v % unit < 0 ? unit : 0); }

}  // namespace

Result<HistoryRequest> ParseHistoryRequest(std::string_view query, int64_t now_ms) {
  HistoryRequest out;
  if (auto g = QueryParam(query, "granularity")) {
    if (*g == "minute")
      out.granularity = Granularity::kMinute;
    else if (*g == "hour")
      out.granularity = Granularity::kHour;
    else if (*g == "day")
      out.granularity = Granularity::kDay;
    else
      return Status::InvalidArgument("granularity must be minute, hour or day");
  }
  const int64_t unit = GranularityMicros(out.granularity);
  int64_t to = now_ms * 1000;
  if (auto t = QueryParam(query, "to")) {
    ASSIGN_OR_RETURN(to, ParseTime("to", *t));
  }
  int64_t from = to - 86'400'000'000;
  if (auto f = QueryParam(query, "from")) {
    ASSIGN_OR_RETURN(from, ParseTime("from", *f));
  }
  // Both come from TimestampMicros (years 1..9999), so none of this overflows.
  out.from_us = FloorTo(from, unit);
  out.to_us = FloorTo(to + unit - 1, unit);
  // The last day TIMESTAMP literals can name whole (years 1..9999).
  constexpr int64_t kLastDayUs = 253'402'214'400'000'000;  // 9999-12-31T00:00:00Z
  if (out.to_us > kLastDayUs) return Status::InvalidArgument("to must be before 9999-12-31");
  // The first day, likewise (to=0001-01-01 with the default 24 h before it).
  constexpr int64_t kFirstDayUs = -62'135'596'800'000'000;  // 0001-01-01T00:00:00Z
  if (out.from_us < kFirstDayUs) return Status::InvalidArgument("from must be on or after 0001-01-01");
  if (out.from_us >= out.to_us) return Status::InvalidArgument("from must be before to");
  if (out.to_us - out.from_us > MaxHistoryRangeMicros(out.granularity))
    return Status::InvalidArgument("the range from..to may span at most " +
                                   std::to_string(MaxHistoryRangeMicros(out.granularity) / 86'400'000'000) +
                                   " days at granularity=" + GranularityName(out.granularity));
  return out;
}

}  // namespace watershed::gateway
