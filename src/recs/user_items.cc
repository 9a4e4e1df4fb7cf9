#include "recs/user_items.h"

#include <algorithm>

namespace watershed::recs {

UserItems::UserItems(size_t num_users, const std::vector<Interaction>& interactions) : offsets_(num_users + 1, 0) {
  for (const Interaction& x : interactions) ++offsets_[x.user + 1];
  for (size_t u = 0; u < num_users; ++u) offsets_[u + 1] += offsets_[u];
  items_.resize(interactions.size());
  std::vector<size_t> fill(offsets_.begin(), offsets_.end() - 1);
  for (const Interaction& x : interactions) items_[fill[x.user]++] = x.item;
  for (size_t u = 0; u < num_users; ++u) {
    auto b = items_.begin() + static_cast<std::ptrdiff_t>(offsets_[u]);
    auto e = items_.begin() + static_cast<std::ptrdiff_t>(offsets_[u + 1]);
    std::sort(b, e);
  }
}

bool UserItems::Has(uint32_t user, uint32_t item) const {
  auto s = Of(user);
  return std::binary_search(s.begin(), s.end(), item);
}

}  // namespace watershed::recs
