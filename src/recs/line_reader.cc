#include "recs/line_reader.h"

#include <charconv>
#include <cmath>

namespace watershed::recs {

std::vector<Field> SplitPlain(std::string_view line, std::string_view separator) {
  std::vector<Field> out;
  size_t start = 0;
  while (true) {
    size_t at = line.find(separator, start);
    if (at == std::string_view::npos) at = line.size();
    out.push_back({std::string(line.substr(start, at - start)), start + 1});
    if (at == line.size()) break;
    start = at + separator.size();
  }
  return out;
}

Result<std::vector<Field>> SplitCsv(std::string_view line, const LineReader& where) {
  std::vector<Field> out;
  size_t i = 0;
  while (true) {
    Field f;
    f.column = i + 1;
    if (i < line.size() && line[i] == '"') {
      ++i;
      bool closed = false;
      while (i < line.size()) {
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            f.text += '"';
            i += 2;
            continue;
          }
          closed = true;
          ++i;
          break;
        }
        f.text += line[i++];
      }
      if (!closed) return where.Error(f.column, "quoted field is not closed on this line");
      if (i < line.size() && line[i] != ',') return where.Error(i + 1, "text after a closing quote");
    } else {
      size_t at = line.find(',', i);
      if (at == std::string_view::npos) at = line.size();
      f.text.assign(line.substr(i, at - i));
      if (f.text.find('"') != std::string::npos) return where.Error(f.column, "a quote inside an unquoted field");
      i = at;
    }
    out.push_back(std::move(f));
    if (i >= line.size()) break;
    ++i;  // the ','
  }
  return out;
}

Result<int64_t> ParseInt(std::string_view what, std::string_view text) {
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size())
    return Status::InvalidArgument(std::string(what) + " must be a whole number, got '" + std::string(text) + "'");
  return v;
}

Result<double> ParseReal(std::string_view what, std::string_view text) {
  double v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(v))
    return Status::InvalidArgument(std::string(what) + " must be a number, got '" + std::string(text) + "'");
  return v;
}

int64_t UnixSecondsOfDate(int year, unsigned month, unsigned day) {
  // Days from civil (H. Hinnant's public-domain algorithm, restated).
  year -= month <= 2;
  const int64_t era = (year >= 0 ? year : year - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(year - era * 400);
  const unsigned doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return (era * 146097 + static_cast<int64_t>(doe) - 719468) * 86400;
}

}  // namespace watershed::recs
