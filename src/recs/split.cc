#include "recs/split.h"

#include <algorithm>
#include <cmath>

#include "recs/line_reader.h"
#include "recs/rng.h"

namespace watershed::recs {
namespace {

// Indexes of each user's interactions, in file order.
std::vector<std::vector<size_t>> ByUser(const std::vector<Interaction>& xs, size_t num_users) {
  std::vector<std::vector<size_t>> by(num_users);
  for (size_t i = 0; i < xs.size(); ++i) by[xs[i].user].push_back(i);
  return by;
}

Split Partition(const std::vector<Interaction>& xs, const std::vector<bool>& is_test) {
  Split s;
  for (size_t i = 0; i < xs.size(); ++i) (is_test[i] ? s.test : s.train).push_back(xs[i]);
  return s;
}

template <typename T>
void Shuffle(std::vector<T>& v, Rng& rng) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.Below(static_cast<uint32_t>(i))]);
}

}  // namespace

Result<SplitSpec> ParseSplit(std::string_view text) {
  SplitSpec s;
  s.text = std::string(text);
  const size_t colon = text.find(':');
  const std::string_view kind = text.substr(0, colon);
  const std::string_view arg = colon == std::string_view::npos ? std::string_view() : text.substr(colon + 1);
  const bool has_arg = colon != std::string_view::npos;
  if (kind == "stratified") {
    s.kind = SplitSpec::Kind::kStratified;
    if (has_arg) {
      auto r = ParseReal("stratified ratio", arg);
      if (!r.ok() || *r <= 0 || *r >= 1)
        return Status::InvalidArgument("--split stratified:R needs a ratio R in (0,1), got '" + std::string(arg) + "'");
      s.ratio = *r;
    }
    return s;
  }
  if (kind == "leave-last-out" && !has_arg) {
    s.kind = SplitSpec::Kind::kLeaveLastOut;
    return s;
  }
  if (kind == "temporal" && has_arg) {
    s.kind = SplitSpec::Kind::kTemporal;
    if (arg.starts_with("@")) {
      auto t = ParseInt("temporal cut", arg.substr(1));
      if (!t.ok())
        return Status::InvalidArgument("--split temporal:@T needs a unix time T, got '" + std::string(arg) + "'");
      s.absolute = true;
      s.cut_time = *t;
      return s;
    }
    auto f = ParseReal("temporal fraction", arg);
    if (!f.ok() || *f <= 0 || *f >= 1)
      return Status::InvalidArgument("--split temporal:F needs a fraction F in (0,1) of the time range, got '" +
                                     std::string(arg) + "'");
    s.fraction = *f;
    return s;
  }
  return Status::InvalidArgument("unknown split '" + std::string(text) +
                                 "' (stratified[:R], leave-last-out, temporal:F or temporal:@UNIXTIME)");
}

Split SplitInteractions(const std::vector<Interaction>& xs, size_t num_users, const SplitSpec& spec, uint64_t seed) {
  std::vector<bool> is_test(xs.size(), false);
  int64_t cut = 0;
  if (spec.kind == SplitSpec::Kind::kTemporal) {
    cut = spec.cut_time;
    if (!spec.absolute && !xs.empty()) {
      auto [lo, hi] = std::minmax_element(
          xs.begin(), xs.end(), [](const Interaction& a, const Interaction& b) { return a.timestamp < b.timestamp; });
      // The cut rounds up, so a fraction never puts the first instant in test.
      cut = lo->timestamp +
            static_cast<int64_t>(std::ceil(spec.fraction * static_cast<double>(hi->timestamp - lo->timestamp)));
      if (cut == lo->timestamp) ++cut;
    }
    for (size_t i = 0; i < xs.size(); ++i) is_test[i] = xs[i].timestamp >= cut;
  } else {
    const auto by = ByUser(xs, num_users);
    for (size_t u = 0; u < num_users; ++u) {
      std::vector<size_t> mine = by[u];
      if (mine.size() < 2) continue;  // a single interaction trains
      if (spec.kind == SplitSpec::Kind::kLeaveLastOut) {
        size_t last = mine[0];
        for (size_t i : mine)
          if (xs[i].timestamp >= xs[last].timestamp) last = i;
        is_test[last] = true;
        continue;
      }
      Rng rng(MixSeed(seed, u));
      Shuffle(mine, rng);
      size_t n_train = static_cast<size_t>(std::llround(spec.ratio * static_cast<double>(mine.size())));
      n_train = std::clamp<size_t>(n_train, 1, mine.size());
      for (size_t k = n_train; k < mine.size(); ++k) is_test[mine[k]] = true;
    }
  }
  Split s = Partition(xs, is_test);
  s.cut_time = cut;
  return s;
}

Split HoldOutValidation(const std::vector<Interaction>& xs, size_t num_users, size_t max_users, uint64_t seed) {
  const auto by = ByUser(xs, num_users);
  std::vector<uint32_t> eligible;
  for (size_t u = 0; u < num_users; ++u)
    if (by[u].size() >= 3) eligible.push_back(static_cast<uint32_t>(u));
  Rng rng(MixSeed(seed, 0x7a11d));
  Shuffle(eligible, rng);
  if (eligible.size() > max_users) eligible.resize(max_users);
  std::vector<bool> is_test(xs.size(), false);
  for (uint32_t u : eligible) is_test[by[u][rng.Below(static_cast<uint32_t>(by[u].size()))]] = true;
  return Partition(xs, is_test);
}

}  // namespace watershed::recs
