#pragma once
// The popularity baseline: every user gets the items ranked by their number
// of training interactions.

#include <vector>

#include "recs/dataset.h"
#include "recs/model.h"

namespace watershed::recs {

class PopularityModel : public Scorer {
 public:
  PopularityModel(size_t num_items, const std::vector<Interaction>& train);
  void Score(uint32_t user, std::span<float> out) const override;

 private:
  std::vector<float> counts_;
};

}  // namespace watershed::recs
