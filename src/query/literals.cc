#include "query/literals.h"

#include <array>
#include <utility>

#include "core/civil_date.h"

namespace watershed::query {

namespace {

// Reads exactly `width` digits at text[*i].
bool Digits(std::string_view text, size_t* i, size_t width, int64_t* out) {
  if (*i + width > text.size()) return false;
  int64_t v = 0;
  for (size_t k = 0; k < width; ++k) {
    const char c = text[*i + k];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *i += width;
  *out = v;
  return true;
}

bool Expect(std::string_view text, size_t* i, char c) {
  if (*i >= text.size() || text[*i] != c) return false;
  ++*i;
  return true;
}

std::string Shown(std::string_view text) {
  return "'" + std::string(text.substr(0, 40)) + (text.size() > 40 ? "...'" : "'");
}

}  // namespace

Result<int64_t> TimestampMicros(std::string_view text, bool date_only) {
  const std::string form = date_only ? "YYYY-MM-DD" : "YYYY-MM-DD[ HH:MM:SS[.ffffff]]";
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("bad " + std::string(date_only ? "DATE" : "TIMESTAMP") + " " + Shown(text) + ": " +
                                   why);
  };
  size_t i = 0;
  int64_t y, mo, d, h = 0, mi = 0, s = 0, frac = 0;
  if (!Digits(text, &i, 4, &y) || !Expect(text, &i, '-') || !Digits(text, &i, 2, &mo) || !Expect(text, &i, '-') ||
      !Digits(text, &i, 2, &d)) {
    return bad("expected " + form);
  }
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > DaysInMonth(y, mo)) return bad("no such date");
  if (!date_only && i < text.size() && (text[i] == ' ' || text[i] == 'T')) {
    ++i;
    if (!Digits(text, &i, 2, &h) || !Expect(text, &i, ':') || !Digits(text, &i, 2, &mi) || !Expect(text, &i, ':') ||
        !Digits(text, &i, 2, &s)) {
      return bad("expected " + form);
    }
    if (h > 23 || mi > 59 || s > 59) return bad("no such time of day");
    if (i < text.size() && text[i] == '.') {
      ++i;
      size_t width = 0;
      for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i, ++width) {
        if (width < 6) frac = frac * 10 + (text[i] - '0');
      }
      if (width == 0 || width > 6) return bad("1 to 6 digits of fraction");
      for (; width < 6; ++width) frac *= 10;
    }
    if (i < text.size() && text[i] == 'Z') ++i;
  }
  if (i != text.size()) return bad("expected " + form + " (UTC; no other time zone)");
  const int64_t seconds = DaysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
  return seconds * 1'000'000 + frac;
}

Result<int64_t> IntervalMicros(std::string_view text) {
  static constexpr std::array<std::pair<std::string_view, int64_t>, 7> kUnits = {{{"microsecond", 1},
                                                                                  {"millisecond", 1'000},
                                                                                  {"second", 1'000'000},
                                                                                  {"minute", 60'000'000},
                                                                                  {"hour", 3'600'000'000},
                                                                                  {"day", 86'400'000'000},
                                                                                  {"week", 604'800'000'000}}};
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("bad INTERVAL " + Shown(text) + ": " + why);
  };
  int64_t total = 0;
  size_t i = 0, pairs = 0;
  while (true) {
    while (i < text.size() && text[i] == ' ') ++i;
    if (i == text.size()) break;
    int64_t n = 0;
    size_t digits = 0;
    // Digits past the ninth are counted, not accumulated (n would overflow).
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i, ++digits)
      if (digits < 9) n = n * 10 + (text[i] - '0');
    if (digits == 0 || digits > 9) return bad("expected a count of 1 to 9 digits, then a unit ('7 days')");
    while (i < text.size() && text[i] == ' ') ++i;
    std::string unit;
    for (; i < text.size() && text[i] != ' '; ++i) unit += static_cast<char>(text[i] | 0x20);  // ASCII lower
    if (unit.size() > 1 && unit.back() == 's') unit.pop_back();
    int64_t scale = 0;
    for (const auto& [name, micros] : kUnits)
      if (unit == name) scale = micros;
    if (unit == "month" || unit == "year") return bad("months and years have no fixed length; use days or weeks");
    if (scale == 0) return bad("unknown unit '" + unit.substr(0, 20) + "' (second, minute, hour, day, week, ...)");
    // n < 10^9 and scale <= 6.1e11: each term < 6.1e20 would overflow; bound the sum.
    if (n > (INT64_MAX - total) / scale) return bad("too long");
    total += n * scale;
    ++pairs;
  }
  if (pairs == 0) return bad("empty; expected '<n> <unit>' ('7 days')");
  return total;
}

std::string CheckTimestampText(std::string_view text, bool date_only) {
  auto r = TimestampMicros(text, date_only);
  return r.ok() ? std::string() : r.status().message();
}

std::string CheckIntervalText(std::string_view text) {
  auto r = IntervalMicros(text);
  return r.ok() ? std::string() : r.status().message();
}

std::string CanonicalType(std::string_view lower) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 16> kTypes = {{{"bigint", "BIGINT"},
                                                                                            {"int8", "BIGINT"},
                                                                                            {"integer", "INTEGER"},
                                                                                            {"int", "INTEGER"},
                                                                                            {"int4", "INTEGER"},
                                                                                            {"double", "DOUBLE"},
                                                                                            {"float8", "DOUBLE"},
                                                                                            {"real", "REAL"},
                                                                                            {"decimal", "DECIMAL"},
                                                                                            {"numeric", "DECIMAL"},
                                                                                            {"varchar", "VARCHAR"},
                                                                                            {"text", "VARCHAR"},
                                                                                            {"string", "VARCHAR"},
                                                                                            {"boolean", "BOOLEAN"},
                                                                                            {"timestamp", "TIMESTAMP"},
                                                                                            {"date", "DATE"}}};
  for (const auto& [name, canonical] : kTypes)
    if (lower == name) return std::string(canonical);
  return "";
}

}  // namespace watershed::query
