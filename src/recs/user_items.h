#pragma once
// The items of each user as sorted lists (compressed rows): the training
// items a ranking must skip, the positives BPR must not sample as negatives.

#include <cstdint>
#include <span>
#include <vector>

#include "recs/dataset.h"

namespace watershed::recs {

class UserItems {
 public:
  UserItems(size_t num_users, const std::vector<Interaction>& interactions);
  std::span<const uint32_t> Of(uint32_t user) const {
    return {items_.data() + offsets_[user], items_.data() + offsets_[user + 1]};
  }
  bool Has(uint32_t user, uint32_t item) const;
  size_t num_users() const { return offsets_.size() - 1; }

 private:
  std::vector<size_t> offsets_;
  std::vector<uint32_t> items_;
};

}  // namespace watershed::recs
