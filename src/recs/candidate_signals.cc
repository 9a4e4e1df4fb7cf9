#include "recs/candidate_signals.h"

#include <algorithm>

namespace watershed::recs {

void RegionalTrending::Add(uint8_t region, const std::vector<FeatureEvent>& events) {
  std::lock_guard lock(mu_);
  auto& items = regions_[region];
  for (const FeatureEvent& e : events) {
    State& s = items[e.item];
    s.trending.Add(1, e.time_ms, half_life_ms_);
    ++s.events;
  }
}

std::map<uint8_t, std::vector<RegionalTrending::ItemActivity>> RegionalTrending::Read(int64_t as_of_ms) const {
  std::lock_guard lock(mu_);
  std::map<uint8_t, std::vector<ItemActivity>> out;
  for (const auto& [region, items] : regions_) {
    auto& list = out[region];
    list.reserve(items.size());
    for (const auto& [item, s] : items) list.push_back({item, s.trending.At(as_of_ms, half_life_ms_), s.events});
  }
  return out;
}

std::shared_ptr<const CoViewIndex> CoViewIndex::Build(std::vector<CoViewEngagement> engagements,
                                                      const CoViewOptions& options) {
  std::sort(engagements.begin(), engagements.end(), [](const auto& a, const auto& b) {
    return a.viewer != b.viewer     ? a.viewer < b.viewer
           : a.time_ms != b.time_ms ? a.time_ms < b.time_ms
                                    : a.item < b.item;
  });
  std::unordered_map<uint64_t, std::unordered_map<uint64_t, uint32_t>> counts;
  std::vector<uint64_t> seq;
  for (size_t i = 0; i < engagements.size();) {
    size_t j = i;
    seq.clear();
    for (; j < engagements.size() && engagements[j].viewer == engagements[i].viewer; ++j)
      if (std::find(seq.begin(), seq.end(), engagements[j].item) == seq.end()) seq.push_back(engagements[j].item);
    i = j;
    const size_t from = seq.size() > options.max_per_viewer ? seq.size() - options.max_per_viewer : 0;
    for (size_t a = from; a < seq.size(); ++a)
      for (size_t b = a + 1; b < seq.size() && b - a <= options.window; ++b) {
        ++counts[seq[a]][seq[b]];
        ++counts[seq[b]][seq[a]];
      }
  }
  auto index = std::make_shared<CoViewIndex>();
  for (auto& [item, row] : counts) {
    std::vector<std::pair<uint32_t, uint64_t>> ranked;
    for (const auto& [other, n] : row)
      if (n >= options.min_count) ranked.emplace_back(n, other);
    if (ranked.empty()) continue;
    std::sort(ranked.begin(), ranked.end(), [](const auto& x, const auto& y) {
      return x.first != y.first ? x.first > y.first : x.second < y.second;
    });
    if (ranked.size() > options.per_item) ranked.resize(options.per_item);
    auto& out = index->neighbours_[item];
    for (const auto& r : ranked) out.push_back(r.second);
  }
  return index;
}

const std::vector<uint64_t>& CoViewIndex::Neighbours(uint64_t item) const {
  static const std::vector<uint64_t> kNone;
  auto it = neighbours_.find(item);
  return it == neighbours_.end() ? kNone : it->second;
}

}  // namespace watershed::recs
