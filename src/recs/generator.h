#pragma once
// The planted benchmark: ratings and items in any importer format, with
// structure a learner can find and popularity cannot. Each user and item
// belongs to one of `clusters` latent clusters; a user's interaction is,
// with probability `in_cluster`, an item of its own cluster (rated 4 or 5)
// and otherwise any item (rated 1..5); both draws follow a Zipf popularity
// over the catalogue. Timestamps grow along each user's history. The same
// config (seed included) gives the same bytes.

#include <cstdint>
#include <string>

#include "core/status.h"
#include "recs/importers.h"

namespace watershed::recs {

struct PlantedConfig {
  uint32_t users = 1000;
  uint32_t items = 500;
  uint32_t clusters = 8;
  double interactions_per_user = 40;  // mean; each user gets 0.5x..1.5x of it (at least 5)
  double in_cluster = 0.8;
  double zipf_exponent = 0.8;  // popularity skew: weight of the item of popularity rank r is 1 / r^s
  uint64_t seed = 42;
  int64_t start_time = 946684800;  // 2000-01-01
  int64_t time_span = 3 * 365 * 86400;
};

struct GeneratedFiles {
  std::string ratings;
  std::string items;  // empty for Format::kCsv
};

GeneratedFiles GeneratePlanted(const PlantedConfig& config, Format format);
// Writes FilesOf(format) into `dir` (created if missing).
Status WritePlanted(const PlantedConfig& config, Format format, const std::string& dir);

}  // namespace watershed::recs
