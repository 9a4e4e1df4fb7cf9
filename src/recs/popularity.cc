#include "recs/popularity.h"

#include <algorithm>

namespace watershed::recs {

PopularityModel::PopularityModel(size_t num_items, const std::vector<Interaction>& train) : counts_(num_items, 0) {
  for (const Interaction& x : train) counts_[x.item] += 1;
}

void PopularityModel::Score(uint32_t, std::span<float> out) const {
  std::copy(counts_.begin(), counts_.end(), out.begin());
}

}  // namespace watershed::recs
