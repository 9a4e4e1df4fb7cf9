#include "recs/candidate_signals.h"

#include <algorithm>
#include <unordered_set>

namespace watershed::recs {

void RegionalTrending::Add(uint8_t region, const std::vector<FeatureEvent>& events) {
  std::lock_guard lock(mu_);
  RegionState& r = regions_[region];
  for (const FeatureEvent& e : events) {
    State& s = r.items[e.item];
    s.trending.Add(1, e.time_ms, half_life_ms_);
    ++s.events;
    r.latest_ms = std::max(r.latest_ms, e.time_ms);
  }
  r.since_prune += events.size();
  if (r.since_prune >= kPruneEvery || r.items.size() > max_items_) Prune(&r);
}

void RegionalTrending::Prune(RegionState* r) {
  r->since_prune = 0;
  std::erase_if(r->items,
                [&](const auto& kv) { return kv.second.trending.At(r->latest_ms, half_life_ms_) < kPruneBelow; });
  if (r->items.size() <= max_items_) return;
  // Still too many live items: the least trending go (ties by larger id).
  std::vector<std::pair<double, uint64_t>> by_trending;
  by_trending.reserve(r->items.size());
  for (const auto& [item, s] : r->items) by_trending.emplace_back(s.trending.At(r->latest_ms, half_life_ms_), item);
  std::nth_element(
      by_trending.begin(), by_trending.begin() + static_cast<std::ptrdiff_t>(max_items_), by_trending.end(),
      [](const auto& a, const auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
  for (size_t i = max_items_; i < by_trending.size(); ++i) r->items.erase(by_trending[i].second);
}

size_t RegionalTrending::tracked(uint8_t region) const {
  std::lock_guard lock(mu_);
  auto it = regions_.find(region);
  return it == regions_.end() ? 0 : it->second.items.size();
}

std::map<uint8_t, std::vector<RegionalTrending::ItemActivity>> RegionalTrending::Read(int64_t as_of_ms) const {
  std::lock_guard lock(mu_);
  std::map<uint8_t, std::vector<ItemActivity>> out;
  for (const auto& [region, r] : regions_) {
    auto& list = out[region];
    list.reserve(r.items.size());
    for (const auto& [item, s] : r.items) list.push_back({item, s.trending.At(as_of_ms, half_life_ms_), s.events});
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
  // Counts `other` in `item`'s row. A full row first drops its pairs seen fewer than min_count times; a pair first
  // seen while the row is still full of stronger ones is not counted (the bound on memory: items × cap pairs).
  std::unordered_set<uint64_t> saturated;  // rows full of pairs at min_count or more: they never shrink again
  auto count = [&](uint64_t item, uint64_t other) {
    auto& row = counts[item];
    if (auto it = row.find(other); it != row.end()) {
      ++it->second;
      return;
    }
    if (row.size() >= options.max_pairs_per_item) {
      if (saturated.count(item)) return;
      std::erase_if(row, [&](const auto& kv) { return kv.second < options.min_count; });
      if (row.size() >= options.max_pairs_per_item) {
        saturated.insert(item);
        return;
      }
    }
    row.emplace(other, 1);
  };
  std::vector<uint64_t> seq;
  std::unordered_set<uint64_t> in_seq;
  for (size_t i = 0; i < engagements.size();) {
    size_t j = i;
    seq.clear();
    if (in_seq.bucket_count() > 4096)  // after a bot: clear() would walk its buckets for every later viewer
      std::unordered_set<uint64_t>().swap(in_seq);
    else
      in_seq.clear();
    // Each item at its first time (a hash set: linear in the viewer's events, a bot's million included).
    for (; j < engagements.size() && engagements[j].viewer == engagements[i].viewer; ++j)
      if (in_seq.insert(engagements[j].item).second) seq.push_back(engagements[j].item);
    i = j;
    const size_t from = seq.size() > options.max_per_viewer ? seq.size() - options.max_per_viewer : 0;
    for (size_t a = from; a < seq.size(); ++a)
      for (size_t b = a + 1; b < seq.size() && b - a <= options.window; ++b) {
        count(seq[a], seq[b]);
        count(seq[b], seq[a]);
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
