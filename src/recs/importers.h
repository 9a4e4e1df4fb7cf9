#pragma once
// Importers of the public benchmark formats and of a generic CSV into a
// Dataset. Ratings at or above ImportOptions::positive_rating become
// positive interactions (the rest are counted and dropped); genres become
// tags. Every error names the file and line (and column where one field is
// at fault); a failed load returns no Dataset at all.

#include <array>
#include <string>
#include <string_view>

#include "core/status.h"
#include "recs/dataset.h"

namespace watershed::recs {

enum class Format {
  kMovieLens100k,  // u.data (user TAB item TAB rating TAB unix-time), u.item (pipe-separated, 19 genre flags)
  kMovieLens1m,    // ratings.dat (user::item::rating::unix-time), movies.dat (item::title::Genre|Genre)
  kMovieLensCsv,   // ratings.csv (userId,movieId,rating,timestamp), movies.csv (movieId,title,genres), headers
  kCsv,            // one file: user,item,rating_or_weight,unix-time; a header line is optional
};

// u.item's 19 genre flags, in the order of MovieLens 100K's u.genre.
inline constexpr std::array<const char*, 19> kGenres100k = {
    "unknown",     "Action", "Adventure", "Animation", "Children's", "Comedy",  "Crime",
    "Documentary", "Drama",  "Fantasy",   "Film-Noir", "Horror",     "Musical", "Mystery",
    "Romance",     "Sci-Fi", "Thriller",  "War",       "Western"};

Result<Format> ParseFormat(std::string_view name);  // movielens-100k|movielens-1m|movielens-csv|csv
std::string_view FormatName(Format format);

// The file names of a format in its directory; `items` is empty for kCsv.
struct FormatFiles {
  std::string ratings;
  std::string items;
};
FormatFiles FilesOf(Format format);

struct ImportOptions {
  double positive_rating = 4;
};

// The parsers, on a file's bytes (fuzzed: fuzz/recs_*_fuzz.cc). `file`
// names the file in errors. Call ParseItems (if any) before ParseRatings.
// A user-item pair rated twice keeps its first positive. On error `out` is
// partly filled and must be discarded.
Status ParseItems(Format format, std::string_view text, const std::string& file, Dataset* out);
Status ParseRatings(Format format, std::string_view text, const std::string& file, const ImportOptions& options,
                    Dataset* out);

// `path` is a directory holding FilesOf(format), or the ratings file itself
// (the items file, optional, is looked for next to it). Fails when no
// interaction reaches the threshold.
Result<Dataset> LoadDataset(const std::string& path, Format format, const ImportOptions& options);

}  // namespace watershed::recs
