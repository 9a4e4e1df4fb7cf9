#pragma once
// Test helper: a small planted benchmark (generator.h) loaded through the
// MovieLens-1M importer and split stratified 75/25, and its NDCG@10.

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "recs/dataset.h"
#include "recs/evaluator.h"
#include "recs/generator.h"
#include "recs/importers.h"
#include "recs/model.h"
#include "recs/split.h"
#include "recs/two_tower.h"

namespace watershed::recs {

struct Bench {
  Dataset data;
  Split split;
};

// 400 users x 240 items in 8 clusters; in_cluster 0 leaves popularity as the only structure (and then
// every rating counts, so there are as many positives).
inline Bench Planted(double in_cluster) {
  PlantedConfig c;
  c.users = 400;
  c.items = 240;
  c.clusters = 8;
  c.interactions_per_user = 25;
  c.in_cluster = in_cluster;
  const std::string dir = ::testing::TempDir() + "/recs_planted_" + std::to_string(::getpid()) + "_" +
                          std::to_string(static_cast<int>(in_cluster * 100));
  EXPECT_TRUE(WritePlanted(c, Format::kMovieLens1m, dir).ok());
  Bench b;
  auto d = LoadDataset(dir, Format::kMovieLens1m, {.positive_rating = in_cluster > 0 ? 4.0 : 1.0});
  EXPECT_TRUE(d.ok()) << d.status().message();
  b.data = std::move(*d);
  b.split = SplitInteractions(b.data.interactions, b.data.num_users(), ParseSplit("stratified:0.75").value(), 42);
  return b;
}

// The two-tower configuration the tests train on this instance with: smaller batches and fewer negatives than the
// defaults (a few thousand training positives), validation on 200 users.
inline TwoTowerConfig SmallTwoTowerConfig() {
  TwoTowerConfig c;
  c.training.validation_users = 200;
  c.batch = 64;
  c.negatives = 32;
  return c;
}

inline double Ndcg10(const Scorer& model, const Bench& b, unsigned threads = 1) {
  const std::vector<int> ks = {10};
  return Evaluate(model, b.data.num_users(), b.data.num_items(), b.split.train, b.split.test, ks, threads)
      .Get("ndcg@10");
}

}  // namespace watershed::recs
