#include "recs/dataset.h"

namespace watershed::recs {

uint32_t IdMap::Intern(std::string_view external) {
  auto [it, inserted] = ids_.try_emplace(std::string(external), static_cast<uint32_t>(names_.size()));
  if (inserted) names_.emplace_back(external);
  return it->second;
}

int64_t IdMap::Find(std::string_view external) const {
  auto it = ids_.find(std::string(external));
  return it == ids_.end() ? -1 : static_cast<int64_t>(it->second);
}

}  // namespace watershed::recs
