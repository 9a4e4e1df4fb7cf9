#include "recs/importers.h"

#include <array>
#include <cstdio>
#include <filesystem>
#include <unordered_set>

#include "core/file_system.h"
#include "recs/line_reader.h"

namespace watershed::recs {
namespace {

uint32_t TagId(Dataset* d, std::string_view name) {
  for (size_t i = 0; i < d->tag_names.size(); ++i)
    if (d->tag_names[i] == name) return static_cast<uint32_t>(i);
  d->tag_names.emplace_back(name);
  return static_cast<uint32_t>(d->tag_names.size() - 1);
}

// A title ending in "(YYYY)": 1 January of that year; else 0.
int64_t YearOfTitle(std::string_view title) {
  while (!title.empty() && title.back() == ' ') title.remove_suffix(1);
  if (title.size() < 6 || title.back() != ')' || title[title.size() - 6] != '(') return 0;
  int year = 0;
  for (size_t i = title.size() - 5; i < title.size() - 1; ++i) {
    if (title[i] < '0' || title[i] > '9') return 0;
    year = year * 10 + (title[i] - '0');
  }
  return UnixSecondsOfDate(year, 1, 1);
}

// u.item's "01-Jan-1995"; empty is 0.
Result<int64_t> ParseDayMonthYear(std::string_view text) {
  static constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (text.empty()) return int64_t{0};
  const auto bad = Status::InvalidArgument("release date must look like 01-Jan-1995, got '" + std::string(text) + "'");
  if (text.size() != 11 || text[2] != '-' || text[6] != '-') return bad;
  auto day = ParseInt("day", text.substr(0, 2));
  auto year = ParseInt("year", text.substr(7, 4));
  if (!day.ok() || !year.ok() || *day < 1 || *day > 31) return bad;
  for (unsigned m = 0; m < 12; ++m)
    if (text.substr(3, 3) == kMonths[m])
      return UnixSecondsOfDate(static_cast<int>(*year), m + 1, static_cast<unsigned>(*day));
  return bad;
}

// Sets the features of item `id`; an item listed twice is an error.
Status AddItem(const LineReader& in, const Field& id_field, ItemFeatures features, Dataset* out,
               std::vector<bool>* listed) {
  if (id_field.text.empty()) return in.Error(id_field.column, "empty item id");
  const uint32_t id = out->items.Intern(id_field.text);
  if (out->features.size() <= id) out->features.resize(id + 1);
  if (listed->size() <= id) listed->resize(id + 1, false);
  if ((*listed)[id]) return in.Error(id_field.column, "item '" + id_field.text + "' is listed twice");
  (*listed)[id] = true;
  out->features[id] = std::move(features);
  return Status::Ok();
}

Status WrongFieldCount(const LineReader& in, size_t want, size_t got, std::string_view what) {
  return in.Error(
      0, "expected " + std::to_string(want) + " fields (" + std::string(what) + "), got " + std::to_string(got));
}

Result<std::vector<Field>> SplitLine(Format format, std::string_view line, const LineReader& in) {
  switch (format) {
    case Format::kMovieLens100k:
      return SplitPlain(line, "\t");
    case Format::kMovieLens1m:
      return SplitPlain(line, "::");
    default:
      return SplitCsv(line, in);
  }
}

}  // namespace

Result<Format> ParseFormat(std::string_view name) {
  if (name == "movielens-100k") return Format::kMovieLens100k;
  if (name == "movielens-1m") return Format::kMovieLens1m;
  if (name == "movielens-csv") return Format::kMovieLensCsv;
  if (name == "csv") return Format::kCsv;
  return Status::InvalidArgument("unknown format '" + std::string(name) +
                                 "' (movielens-100k, movielens-1m, movielens-csv or csv)");
}

std::string_view FormatName(Format format) {
  switch (format) {
    case Format::kMovieLens100k:
      return "movielens-100k";
    case Format::kMovieLens1m:
      return "movielens-1m";
    case Format::kMovieLensCsv:
      return "movielens-csv";
    case Format::kCsv:
      return "csv";
  }
  return "?";
}

FormatFiles FilesOf(Format format) {
  switch (format) {
    case Format::kMovieLens100k:
      return {"u.data", "u.item"};
    case Format::kMovieLens1m:
      return {"ratings.dat", "movies.dat"};
    case Format::kMovieLensCsv:
      return {"ratings.csv", "movies.csv"};
    case Format::kCsv:
      return {"interactions.csv", ""};
  }
  return {};
}

Status ParseItems(Format format, std::string_view text, const std::string& file, Dataset* out) {
  if (format == Format::kCsv) return Status::InvalidArgument(file + ": the csv format has no items file");
  LineReader in(text, file);
  std::vector<bool> listed(out->features.size(), false);
  std::string_view line;
  while (in.Next(&line)) {
    if (format == Format::kMovieLensCsv && in.line_number() == 1) {
      if (line != "movieId,title,genres") return in.Error(1, "expected the header 'movieId,title,genres'");
      continue;
    }
    ItemFeatures f;
    Field id;
    if (format == Format::kMovieLens100k) {
      const std::vector<Field> fields = SplitPlain(line, "|");
      if (fields.size() != 5 + kGenres100k.size())
        return WrongFieldCount(in, 5 + kGenres100k.size(), fields.size(),
                               "id|title|release|video release|url|19 genre flags");
      id = fields[0];
      f.title = fields[1].text;
      auto date = ParseDayMonthYear(fields[2].text);
      if (!date.ok()) return in.Error(fields[2].column, date.status().message());
      f.created_at = *date;
      for (size_t g = 0; g < kGenres100k.size(); ++g) {
        const Field& flag = fields[5 + g];
        if (flag.text != "0" && flag.text != "1")
          return in.Error(flag.column, "genre flag must be 0 or 1, got '" + flag.text + "'");
        if (flag.text == "1") f.tags.push_back(TagId(out, kGenres100k[g]));
      }
    } else {
      std::vector<Field> fields;
      if (format == Format::kMovieLens1m) {
        // The title sits between the first and the last "::".
        const size_t first = line.find("::"), last = line.rfind("::");
        if (first == std::string_view::npos || first == last)
          return WrongFieldCount(in, 3, first == std::string_view::npos ? 1 : 2, "id::title::genres");
        fields = {{std::string(line.substr(0, first)), 1},
                  {std::string(line.substr(first + 2, last - first - 2)), first + 3},
                  {std::string(line.substr(last + 2)), last + 3}};
      } else {
        ASSIGN_OR_RETURN(fields, SplitCsv(line, in));
        if (fields.size() != 3) return WrongFieldCount(in, 3, fields.size(), "movieId,title,genres");
      }
      id = fields[0];
      f.title = fields[1].text;
      f.created_at = YearOfTitle(f.title);
      if (fields[2].text != "(no genres listed)" && !fields[2].text.empty())
        for (const Field& g : SplitPlain(fields[2].text, "|")) {
          if (g.text.empty()) return in.Error(fields[2].column + g.column - 1, "empty genre");
          f.tags.push_back(TagId(out, g.text));
        }
    }
    if (auto v = ParseInt("item id", id.text); !v.ok()) return in.Error(id.column, v.status().message());
    RETURN_IF_ERROR(AddItem(in, id, std::move(f), out, &listed));
  }
  return Status::Ok();
}

Status ParseRatings(Format format, std::string_view text, const std::string& file, const ImportOptions& options,
                    Dataset* out) {
  LineReader in(text, file);
  std::unordered_set<uint64_t> seen;
  std::string_view line;
  while (in.Next(&line)) {
    if (format == Format::kMovieLensCsv && in.line_number() == 1) {
      if (line != "userId,movieId,rating,timestamp")
        return in.Error(1, "expected the header 'userId,movieId,rating,timestamp'");
      continue;
    }
    if (format == Format::kCsv && line.empty()) return in.Error(0, "empty line");
    ASSIGN_OR_RETURN(std::vector<Field> fields, SplitLine(format, line, in));
    if (fields.size() != 4) return WrongFieldCount(in, 4, fields.size(), "user, item, rating, timestamp");
    auto rating = ParseReal("rating", fields[2].text);
    if (format == Format::kCsv && in.line_number() == 1 && !rating.ok()) continue;  // a header
    if (!rating.ok()) return in.Error(fields[2].column, rating.status().message());
    auto ts = ParseInt("timestamp", fields[3].text);
    if (!ts.ok()) return in.Error(fields[3].column, ts.status().message());
    if (format != Format::kCsv)  // MovieLens ids are numbers; the generic CSV's are any text
      for (size_t k = 0; k < 2; ++k)
        if (auto v = ParseInt(k == 0 ? "user id" : "item id", fields[k].text); !v.ok())
          return in.Error(fields[k].column, v.status().message());
    for (size_t k = 0; k < 2; ++k)
      if (fields[k].text.empty()) return in.Error(fields[k].column, k == 0 ? "empty user id" : "empty item id");
    if (*rating < options.positive_rating) {
      ++out->below_threshold;
      continue;
    }
    Interaction x;
    x.user = out->users.Intern(fields[0].text);
    x.item = out->items.Intern(fields[1].text);
    x.weight = static_cast<float>(*rating);
    x.timestamp = *ts;
    if (!seen.insert(uint64_t{x.user} << 32 | x.item).second) continue;
    out->interactions.push_back(x);
  }
  out->features.resize(out->items.size());
  return Status::Ok();
}

Result<Dataset> LoadDataset(const std::string& path, Format format, const ImportOptions& options) {
  namespace fs = std::filesystem;
  const FormatFiles names = FilesOf(format);
  std::error_code ec;
  const bool is_dir = fs::is_directory(path, ec);
  const fs::path ratings = is_dir ? fs::path(path) / names.ratings : fs::path(path);
  Dataset d;
  if (!names.items.empty()) {
    const fs::path items = ratings.parent_path() / names.items;
    if (fs::exists(items, ec)) {
      ASSIGN_OR_RETURN(std::string text, ReadWholeFile(FileSystem::Default(), items.string()));
      RETURN_IF_ERROR(ParseItems(format, text, items.string(), &d));
    }
  }
  if (is_dir && !fs::exists(ratings, ec))
    return Status::NotFound(path + " has no " + names.ratings + " (the ratings file of --format " +
                            std::string(FormatName(format)) + ")");
  ASSIGN_OR_RETURN(std::string text, ReadWholeFile(FileSystem::Default(), ratings.string()));
  RETURN_IF_ERROR(ParseRatings(format, text, ratings.string(), options, &d));
  if (d.interactions.empty()) {
    char threshold[32];
    std::snprintf(threshold, sizeof threshold, "%g", options.positive_rating);
    return Status::InvalidArgument(ratings.string() + ": no rating reaches --positive-rating " + threshold + " (" +
                                   std::to_string(d.below_threshold) + " below it)");
  }
  return d;
}

}  // namespace watershed::recs
