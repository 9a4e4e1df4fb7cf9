#include "recs/generator.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <vector>

#include "recs/rng.h"

namespace watershed::recs {
namespace {

// Sampling proportional to weights by binary search over the running sum.
class Sampler {
 public:
  void Add(uint32_t id, double weight) {
    ids_.push_back(id);
    cumulative_.push_back((cumulative_.empty() ? 0 : cumulative_.back()) + weight);
  }
  uint32_t Draw(Rng& rng) const {
    const double x = rng.Unit() * cumulative_.back();
    size_t at = static_cast<size_t>(std::upper_bound(cumulative_.begin(), cumulative_.end(), x) - cumulative_.begin());
    return ids_[std::min(at, ids_.size() - 1)];
  }
  bool empty() const { return ids_.empty(); }

 private:
  std::vector<uint32_t> ids_;
  std::vector<double> cumulative_;
};

struct Item {
  uint32_t cluster;
  std::vector<uint32_t> genres;
  int year;
};

std::string Title(uint32_t item, int year, Format format) {
  std::string t = "Item " + std::to_string(item + 1);
  // Some CSV titles need quoting, as in the real movies.csv.
  if ((format == Format::kMovieLensCsv) && item % 7 == 3) t += ", The \"Planted\"";
  return t + " (" + std::to_string(year) + ")";
}

void AppendItemLine(std::string& out, uint32_t i, const Item& item, Format format) {
  const std::string id = std::to_string(i + 1);
  const std::string title = Title(i, item.year, format);
  if (format == Format::kMovieLens100k) {
    static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    char date[16];
    std::snprintf(date, sizeof date, "%02u-%s-%04d", 1 + i % 28, kMonths[i % 12], item.year);
    out += id + "|" + title + "|" + date + "||http://example.invalid/" + id;
    for (uint32_t g = 0; g < 19; ++g)
      out += std::find(item.genres.begin(), item.genres.end(), g) != item.genres.end() ? "|1" : "|0";
    out += "\n";
    return;
  }
  std::string genres;
  for (uint32_t g : item.genres) genres += (genres.empty() ? "" : "|") + std::string(kGenres100k[g]);
  if (format == Format::kMovieLens1m) {
    out += id + "::" + title + "::" + genres + "\n";
  } else {
    std::string quoted = title;
    if (title.find_first_of(",\"") != std::string::npos) {
      quoted = "\"";
      for (char c : title) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
      quoted += "\"";
    }
    out += id + "," + quoted + "," + genres + "\n";
  }
}

}  // namespace

GeneratedFiles GeneratePlanted(const PlantedConfig& c, Format format) {
  Rng rng(c.seed);
  const uint32_t clusters = std::max<uint32_t>(1, c.clusters);
  std::vector<Item> items(c.items);
  for (Item& it : items) {
    it.cluster = rng.Below(clusters);
    it.genres = {1 + it.cluster % 18};
    if (rng.Unit() < 0.3) {
      const uint32_t extra = 1 + rng.Below(18);
      if (extra != it.genres[0]) it.genres.push_back(extra);
    }
    std::sort(it.genres.begin(), it.genres.end());
    it.year = 1950 + static_cast<int>(rng.Below(71));
  }
  // Popularity ranks are a random permutation, so popular items spread over the clusters.
  std::vector<uint32_t> rank(c.items);
  for (uint32_t i = 0; i < c.items; ++i) rank[i] = i;
  for (uint32_t i = c.items; i > 1; --i) std::swap(rank[i - 1], rank[rng.Below(i)]);
  Sampler global;
  std::vector<Sampler> by_cluster(clusters);
  for (uint32_t i = 0; i < c.items; ++i) {
    const double w = 1.0 / std::pow(1.0 + rank[i], c.zipf_exponent);
    global.Add(i, w);
    by_cluster[items[i].cluster].Add(i, w);
  }

  GeneratedFiles out;
  if (format == Format::kMovieLensCsv) out.ratings = "userId,movieId,rating,timestamp\n";
  if (format == Format::kCsv) out.ratings = "user,item,rating,timestamp\n";
  std::vector<uint32_t> mine;
  for (uint32_t u = 0; u < c.users; ++u) {
    const uint32_t cluster = rng.Below(clusters);
    const double scale = 0.5 + rng.Unit();
    const uint32_t n = std::max<uint32_t>(5, static_cast<uint32_t>(c.interactions_per_user * scale));
    const int64_t first = c.start_time + static_cast<int64_t>(rng.Unit() * 0.8 * static_cast<double>(c.time_span));
    const int64_t step = std::max<int64_t>(1, (c.start_time + c.time_span - first) / (n + 1));
    mine.clear();
    int64_t t = first;
    for (uint32_t k = 0; k < n && mine.size() < c.items; ++k) {
      const bool in = !by_cluster[cluster].empty() && rng.Unit() < c.in_cluster;
      uint32_t item = 0;
      bool fresh = false;
      for (int attempt = 0; attempt < 20 && !fresh; ++attempt) {  // a user rates an item once
        item = in ? by_cluster[cluster].Draw(rng) : global.Draw(rng);
        fresh = std::find(mine.begin(), mine.end(), item) == mine.end();
      }
      if (!fresh) continue;
      mine.push_back(item);
      const uint32_t rating = in ? 4 + rng.Below(2) : 1 + rng.Below(5);
      t += 1 + static_cast<int64_t>(rng.Below(static_cast<uint32_t>(std::min<int64_t>(2 * step, 1u << 30))));
      const std::string user_id = format == Format::kCsv ? "u" + std::to_string(u + 1) : std::to_string(u + 1);
      const std::string item_id = format == Format::kCsv ? "i" + std::to_string(item + 1) : std::to_string(item + 1);
      std::string r = std::to_string(rating);
      if (format == Format::kMovieLensCsv) r += ".0";
      const std::string ts = std::to_string(t);
      switch (format) {
        case Format::kMovieLens100k:
          out.ratings += user_id + "\t" + item_id + "\t" + r + "\t" + ts + "\n";
          break;
        case Format::kMovieLens1m:
          out.ratings += user_id + "::" + item_id + "::" + r + "::" + ts + "\n";
          break;
        default:
          out.ratings += user_id + "," + item_id + "," + r + "," + ts + "\n";
      }
    }
  }
  if (format != Format::kCsv) {
    if (format == Format::kMovieLensCsv) out.items = "movieId,title,genres\n";
    for (uint32_t i = 0; i < c.items; ++i) AppendItemLine(out.items, i, items[i], format);
  }
  return out;
}

Status WritePlanted(const PlantedConfig& config, Format format, const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IoError("cannot create " + dir + ": " + ec.message());
  const GeneratedFiles files = GeneratePlanted(config, format);
  const FormatFiles names = FilesOf(format);
  for (const auto& [name, text] : {std::pair{names.ratings, &files.ratings}, std::pair{names.items, &files.items}}) {
    if (name.empty()) continue;
    const std::string path = (fs::path(dir) / name).string();
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(text->data(), static_cast<std::streamsize>(text->size()));
    f.close();
    if (!f) return Status::IoError("cannot write " + path);
  }
  return Status::Ok();
}

}  // namespace watershed::recs
