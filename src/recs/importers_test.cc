#include "recs/importers.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "recs/generator.h"

namespace watershed::recs {
namespace {

namespace fs = std::filesystem;

std::string TempDir(const std::string& name) {
  const fs::path p = fs::path(::testing::TempDir()) / ("recs_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

void Write(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

PlantedConfig Small() {
  PlantedConfig c;
  c.users = 50;
  c.items = 40;
  c.clusters = 4;
  c.interactions_per_user = 12;
  return c;
}

// Counts the generator's lines at or above `threshold` straight from the text.
size_t CountPositives(const std::string& ratings, Format format, double threshold) {
  size_t n = 0, line = 0;
  for (size_t pos = 0; pos < ratings.size();) {
    size_t end = ratings.find('\n', pos);
    std::string l = ratings.substr(pos, end - pos);
    pos = end + 1;
    if (line++ == 0 && (format == Format::kMovieLensCsv || format == Format::kCsv)) continue;
    const std::string sep = format == Format::kMovieLens100k ? "\t" : format == Format::kMovieLens1m ? "::" : ",";
    size_t a = l.find(sep), b = l.find(sep, a + sep.size());
    if (std::stod(l.substr(b + sep.size())) >= threshold) ++n;
  }
  return n;
}

class EveryFormat : public ::testing::TestWithParam<Format> {};

TEST_P(EveryFormat, ImportsTheGeneratedFilesOfItsFormat) {
  const Format format = GetParam();
  const std::string dir = TempDir(std::string(FormatName(format)));
  ASSERT_TRUE(WritePlanted(Small(), format, dir).ok());
  const GeneratedFiles files = GeneratePlanted(Small(), format);
  auto d = LoadDataset(dir, format, {});
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->interactions.size(), CountPositives(files.ratings, format, 4));
  EXPECT_GT(d->below_threshold, 0u);
  EXPECT_LE(d->num_users(), 50u);
  EXPECT_EQ(d->features.size(), d->num_items());
  if (format != Format::kCsv) {
    EXPECT_EQ(d->num_items(), 40u);  // the items file lists every item, rated or not
    // Item "4" (the 4th line; index 3 has a quoted title in movies.csv) keeps its genres and year.
    const int64_t id = d->items.Find("4");
    ASSERT_GE(id, 0);
    const ItemFeatures& f = d->features[static_cast<size_t>(id)];
    EXPECT_FALSE(f.tags.empty());
    EXPECT_GT(f.created_at, 0);
    EXPECT_TRUE(f.title.starts_with("Item 4")) << f.title;
    if (format == Format::kMovieLensCsv) {
      EXPECT_NE(f.title.find("\"Planted\""), std::string::npos) << f.title;
    }
  }
  // --positive-rating 1 keeps every rating.
  auto all = LoadDataset(dir, format, {.positive_rating = 1});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->interactions.size(), d->interactions.size() + d->below_threshold);
  EXPECT_EQ(all->below_threshold, 0u);
  // The ratings file named directly works too.
  auto direct = LoadDataset((fs::path(dir) / FilesOf(format).ratings).string(), format, {});
  ASSERT_TRUE(direct.ok());
  EXPECT_EQ(direct->interactions.size(), d->interactions.size());
}

INSTANTIATE_TEST_SUITE_P(Formats, EveryFormat,
                         ::testing::Values(Format::kMovieLens100k, Format::kMovieLens1m, Format::kMovieLensCsv,
                                           Format::kCsv),
                         [](const auto& info) {
                           std::string n(FormatName(info.param));
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

TEST(Importers, GenresBecomeTagsAndDatesAreRead) {
  Dataset d;
  ASSERT_TRUE(ParseItems(Format::kMovieLens100k,
                         "1|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n", "u.item",
                         &d)
                  .ok());
  ASSERT_EQ(d.features.size(), 1u);
  ASSERT_EQ(d.features[0].tags.size(), 3u);
  EXPECT_EQ(d.tag_names[d.features[0].tags[0]], "Animation");
  EXPECT_EQ(d.tag_names[d.features[0].tags[2]], "Comedy");
  EXPECT_EQ(d.features[0].created_at, 788918400);  // 1995-01-01T00:00:00Z
  Dataset m;
  ASSERT_TRUE(ParseItems(Format::kMovieLensCsv,
                         "movieId,title,genres\n2,\"American President, The (1995)\",Comedy|Drama|Romance\n"
                         "3,Nothing (2001),(no genres listed)\n",
                         "movies.csv", &m)
                  .ok());
  EXPECT_EQ(m.features[0].title, "American President, The (1995)");
  EXPECT_EQ(m.features[0].tags.size(), 3u);
  EXPECT_TRUE(m.features[1].tags.empty());
  EXPECT_EQ(m.features[1].created_at, 978307200);  // 2001-01-01
}

TEST(Importers, ARatedPairKeepsItsFirstPositive) {
  Dataset d;
  ASSERT_TRUE(ParseRatings(Format::kCsv, "a,x,5,10\na,x,4,20\na,y,2,30\n", "f.csv", {}, &d).ok());
  ASSERT_EQ(d.interactions.size(), 1u);
  EXPECT_EQ(d.interactions[0].timestamp, 10);
  EXPECT_EQ(d.below_threshold, 1u);
}

struct BadCase {
  Format format;
  bool items;
  std::string text;
  std::string error;  // expected in the message, after the file name
};

TEST(Importers, BadFilesNameTheFileLineAndColumn) {
  const std::vector<BadCase> cases = {
      {Format::kMovieLens100k, false, "1\t2\t5\t881250949\n1\t3\tfive\t881250949\n", ":2:5: rating must be a number"},
      {Format::kMovieLens100k, false, "1\t2\t5\n", ":1: expected 4 fields"},
      {Format::kMovieLens100k, false, "1\tx\t5\t1\n", ":1:3: item id must be a whole number"},
      {Format::kMovieLens100k, true, "1|T|01-Jan-1995||u|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|2|0\n",
       ":1:54: genre flag must be 0 or 1"},
      {Format::kMovieLens100k, true, "1|T|1995-01-01||u|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n",
       ":1:5: release date must look like"},
      {Format::kMovieLens1m, false, "1::2::5::978300760\n1::3::5::soon\n", ":2:10: timestamp must be a whole number"},
      {Format::kMovieLens1m, true, "1::A (1990)::Drama\n1::B (1991)::Comedy\n", ":2:1: item '1' is listed twice"},
      {Format::kMovieLens1m, true, "1::A (1990)\n", ":1: expected 3 fields"},
      {Format::kMovieLensCsv, false, "user,movie,rating,timestamp\n", ":1:1: expected the header"},
      {Format::kMovieLensCsv, true, "movieId,title,genres\n5,\"Unclosed, (1990),Drama\n",
       ":2:3: quoted field is not closed"},
      {Format::kMovieLensCsv, true, "movieId,title,genres\n5,\"A\"B,Drama\n", ":2:6: text after a closing quote"},
      {Format::kCsv, false, "u,i,5,1\nu,,5,1\n", ":2:3: empty item id"},
      {Format::kCsv, false, "user,item,rating,timestamp\nu,i,5,1.5\n", ":2:7: timestamp must be a whole number"},
      {Format::kCsv, false, "u,i,5,1\n\nu,j,5,1\n", ":2: empty line"},
  };
  for (const BadCase& c : cases) {
    Dataset d;
    const Status s =
        c.items ? ParseItems(c.format, c.text, "the-file", &d) : ParseRatings(c.format, c.text, "the-file", {}, &d);
    EXPECT_FALSE(s.ok()) << c.text;
    EXPECT_EQ(s.message().rfind("the-file" + c.error, 0), 0u) << s.message() << "\nwanted: the-file" << c.error;
  }
}

TEST(Importers, ABadLineLoadsNothing) {
  const std::string dir = TempDir("bad");
  const GeneratedFiles files = GeneratePlanted(Small(), Format::kMovieLens1m);
  Write(dir + "/movies.dat", files.items);
  Write(dir + "/ratings.dat", files.ratings + "7::8::x::9\n");
  auto d = LoadDataset(dir, Format::kMovieLens1m, {});
  ASSERT_FALSE(d.ok());
  const size_t lines = static_cast<size_t>(std::count(files.ratings.begin(), files.ratings.end(), '\n'));
  EXPECT_NE(d.status().message().find(dir + "/ratings.dat:" + std::to_string(lines + 1) + ":7: rating"),
            std::string::npos)
      << d.status().message();
  auto missing = LoadDataset(dir + "/nope", Format::kMovieLens1m, {});
  EXPECT_FALSE(missing.ok());
  auto none = LoadDataset(dir, Format::kMovieLens100k, {});
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("has no u.data"), std::string::npos) << none.status().message();
}

TEST(Importers, NothingAtTheThresholdIsAnError) {
  const std::string dir = TempDir("low");
  Write(dir + "/r.csv", "u,i,1,5\n");
  auto d = LoadDataset(dir + "/r.csv", Format::kCsv, {});
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("no rating reaches --positive-rating"), std::string::npos);
}

TEST(Generator, IsDeterministicForASeed) {
  PlantedConfig a = Small(), b = Small();
  EXPECT_EQ(GeneratePlanted(a, Format::kMovieLens1m).ratings, GeneratePlanted(b, Format::kMovieLens1m).ratings);
  b.seed = 43;
  EXPECT_NE(GeneratePlanted(a, Format::kMovieLens1m).ratings, GeneratePlanted(b, Format::kMovieLens1m).ratings);
}

}  // namespace
}  // namespace watershed::recs
