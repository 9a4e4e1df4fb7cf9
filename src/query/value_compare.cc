#include "query/value_compare.h"

#include <charconv>
#include <cstdio>
#include <ctime>

namespace watershed::query {

int CompareValues(const Value& a, const Value& b, ColumnType t) {
  switch (t) {
    case ColumnType::kBigint:
    case ColumnType::kTimestamp:
    case ColumnType::kBoolean:
    case ColumnType::kInterval:
      return a.i < b.i ? -1 : a.i > b.i ? 1 : 0;
    case ColumnType::kDouble:
      return a.d < b.d ? -1 : a.d > b.d ? 1 : 0;
    case ColumnType::kString:
    case ColumnType::kUuid:
      return a.s.compare(b.s);  // char_traits<char> compares as unsigned char
  }
  return 0;
}

bool MayMatch(const Predicate& p, ColumnType t, const Value& lo, const Value& hi) {
  auto cmp = [t](const Value& a, const Value& b) { return CompareValues(a, b, t); };
  auto in_range = [&](const Value& v) { return cmp(lo, v) <= 0 && cmp(v, hi) <= 0; };
  if (p.op == PredOp::kIsNull) return true;  // null counts decide, not bounds
  if (p.values.empty()) return !(p.op == PredOp::kIn && !p.negated);
  const Value& v = p.values[0];
  switch (p.op) {
    case PredOp::kEq:
      return in_range(v);
    case PredOp::kNe:
      return !(cmp(lo, v) == 0 && cmp(hi, v) == 0);
    case PredOp::kLt:
      return cmp(lo, v) < 0;
    case PredOp::kLe:
      return cmp(lo, v) <= 0;
    case PredOp::kGt:
      return cmp(hi, v) > 0;
    case PredOp::kGe:
      return cmp(hi, v) >= 0;
    case PredOp::kBetween:
      if (p.values.size() < 2) return true;
      if (p.negated) return !(cmp(p.values[0], lo) <= 0 && cmp(hi, p.values[1]) <= 0);
      return cmp(hi, p.values[0]) >= 0 && cmp(lo, p.values[1]) <= 0;
    case PredOp::kIn:
      if (p.negated) return true;
      for (const Value& x : p.values)
        if (in_range(x)) return true;
      return false;
    case PredOp::kIsNull:
      return true;
  }
  return true;
}

std::optional<std::string> ParseUuidText(std::string_view text) {
  std::string out;
  int nibble = -1;
  for (char c : text) {
    if (c == '-') continue;
    int d = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : -1;
    if (d < 0) return std::nullopt;
    if (nibble < 0) {
      nibble = d;
    } else {
      out.push_back(static_cast<char>(nibble * 16 + d));
      nibble = -1;
    }
  }
  if (out.size() != 16 || nibble >= 0) return std::nullopt;
  return out;
}

std::string FormatValue(const Value& v, ColumnType t) {
  if (v.null) return "NULL";
  switch (t) {
    case ColumnType::kBigint:
    case ColumnType::kInterval:  // microseconds (never a result column)
      return std::to_string(v.i);
    case ColumnType::kBoolean:
      return v.i ? "true" : "false";
    case ColumnType::kDouble: {
      char buf[64];
      return std::string(buf, std::to_chars(buf, buf + sizeof buf, v.d).ptr);
    }
    case ColumnType::kString:
      return v.s;
    case ColumnType::kTimestamp: {
      int64_t secs = v.i / 1'000'000, micros = v.i % 1'000'000;
      if (micros < 0) {
        micros += 1'000'000;
        --secs;
      }
      const time_t tt = static_cast<time_t>(secs);
      struct tm tm {};
      gmtime_r(&tt, &tm);
      char buf[64];
      int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                            tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
      if (micros != 0) std::snprintf(buf + n, sizeof buf - n, ".%06lld", static_cast<long long>(micros));
      return buf;
    }
    case ColumnType::kUuid: {
      static const char* kHex = "0123456789abcdef";
      std::string out;
      for (size_t i = 0; i < v.s.size(); ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
        out.push_back(kHex[static_cast<uint8_t>(v.s[i]) >> 4]);
        out.push_back(kHex[static_cast<uint8_t>(v.s[i]) & 15]);
      }
      return out;
    }
  }
  return "";
}

}  // namespace watershed::query
