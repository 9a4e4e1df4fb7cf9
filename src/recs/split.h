#pragma once
// Train/test splits of a Dataset's interactions, deterministic for a seed.
//   stratified[:R]    per user, a random R of their interactions train (default 0.75; at least one); the rest test
//   leave-last-out    per user with >= 2 interactions, the latest is test (ties: the later line)
//   temporal:F        a global time cut at fraction F in (0,1) of [first, last] timestamp; before trains
//   temporal:@T       a global time cut at unix time T; interactions at or after T are test

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "recs/dataset.h"

namespace watershed::recs {

struct SplitSpec {
  enum class Kind { kStratified, kLeaveLastOut, kTemporal };
  Kind kind = Kind::kStratified;
  double ratio = 0.75;    // stratified
  double fraction = 0;    // temporal:F
  bool absolute = false;  // temporal:@T
  int64_t cut_time = 0;   // temporal:@T
  std::string text;       // as given, for reports
};

Result<SplitSpec> ParseSplit(std::string_view text);

struct Split {
  std::vector<Interaction> train;
  std::vector<Interaction> test;
  int64_t cut_time = 0;  // temporal: the cut used
};

Split SplitInteractions(const std::vector<Interaction>& interactions, size_t num_users, const SplitSpec& spec,
                        uint64_t seed);

// For early stopping: up to `max_users` random users with >= 3 interactions
// give one random interaction each to `test` (the validation set); the rest
// stays in `train`.
Split HoldOutValidation(const std::vector<Interaction>& interactions, size_t num_users, size_t max_users,
                        uint64_t seed);

}  // namespace watershed::recs
