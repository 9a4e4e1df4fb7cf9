#pragma once
// Trained models as registry arrays (model_file.h, registry.h) and back. Every model is stored in its ranking
// form — score(u, i) = item_bias[i] + <user_vectors[u], item_vectors[i]> (popularity: dim 0, the counts as
// biases) — which FactorScorer ranks with the very arithmetic of BprModel and TwoTowerModel (ScoreFactorMajor),
// so a loaded model gives bit-identical scores. Arrays:
//   user_ids, item_ids (strings)              the data's external ids, in dense-id order
//   user_vectors, item_vectors, item_bias     (f32) users x dim, items x dim, items
//   tower.user|item|history|feature|wu|bu|wi|bi|v|c   (two-tower, ranker) the tower weights (two_tower_loss.h)
//   tower.features (strings), tower.temperature (f32, 1)   (two-tower, ranker; model format 2) the item tower's
//                                             feature vocabulary, one name per tower.feature row, and the
//                                             temperature: what embedding a new item needs (stored_tower.h)
//   ranker.weights (F + 1: w, then the bias), ranker.mean, ranker.scale (F each)   (ranker)

#include <memory>
#include <string>
#include <vector>

#include "recs/bpr.h"
#include "recs/dataset.h"
#include "recs/model.h"
#include "recs/popularity.h"
#include "recs/ranker.h"
#include "recs/registry.h"
#include "recs/two_tower.h"

namespace watershed::recs {

ArrayFile ExportPopularity(const Dataset& data, const PopularityModel& m);
ArrayFile ExportBpr(const Dataset& data, const BprModel& m);
ArrayFile ExportTwoTower(const Dataset& data, const TwoTowerModel& m);
ArrayFile ExportRanker(const Dataset& data, const RankerModel& m);

// bias + <user, item> per item, as ScoreFactorMajor computes it.
class FactorScorer : public Scorer {
 public:
  FactorScorer(size_t dim, std::vector<float> user_vectors, const std::vector<float>& item_vectors,
               std::vector<float> item_bias);
  void Score(uint32_t user, std::span<float> out) const override;

 private:
  size_t d_;
  std::vector<float> users_, bias_, item_by_factor_;
};

// The scorer of a loaded model. The ranker's features come from `data` and
// `train` (the interactions it was trained on; the caller checks they are the
// manifest's). Errors when the ids differ from the data's.
Result<std::unique_ptr<Scorer>> ScorerFromStored(const ModelRegistry::Loaded& loaded, const Dataset& data,
                                                 const std::vector<Interaction>& train);

}  // namespace watershed::recs
