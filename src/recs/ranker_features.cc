#include "recs/ranker_features.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace watershed::recs {
namespace {

constexpr double kYearMs = 365.25 * 86400 * 1000;

// The share of `key`'s affinity in the total of `entries` (0 when absent or the
// total is 0).
double Share(const std::vector<Affinity>& entries, double total, uint64_t key) {
  if (!(total > 0)) return 0;
  for (const Affinity& a : entries)
    if (a.key == key) return a.value / total;
  return 0;
}

double Total(const std::vector<Affinity>& entries) {
  double total = 0;
  for (const Affinity& a : entries) total += a.value;
  return total;
}

}  // namespace

RankerFeatureVector RankerFeaturesOf(const ViewerFeaturesAt& viewer, const ItemFeaturesAt& item, float two_tower) {
  RankerFeatureVector x{};
  x[0] = two_tower;
  x[1] = std::log1p(static_cast<double>(item.popularity));
  if (item.created_at_ms != 0) {
    x[2] = std::clamp(static_cast<double>(item.age_ms) / kYearMs, 0.0, 200.0);
    x[3] = 1;
  }
  if (!item.tags.empty()) {
    const double total = Total(viewer.tag_affinity);
    double s = 0;
    for (uint32_t t : item.tags) s += Share(viewer.tag_affinity, total, t);
    x[4] = s / static_cast<double>(item.tags.size());
  }
  if (item.author != 0) x[5] = Share(viewer.author_affinity, Total(viewer.author_affinity), item.author);
  return x;
}

Result<std::vector<RankerFeatureVector>> ServingRankerFeatures(const FeatureStore& store, uint64_t viewer,
                                                               std::span<const uint64_t> items,
                                                               std::span<const float> two_tower, int64_t as_of_ms) {
  if (items.size() != two_tower.size())
    return Status::InvalidArgument("ranker features: " + std::to_string(items.size()) + " items, " +
                                   std::to_string(two_tower.size()) + " scores");
  ASSIGN_OR_RETURN(const ViewerFeaturesAt v, store.Viewer(viewer, as_of_ms));
  std::vector<RankerFeatureVector> out;
  out.reserve(items.size());
  for (size_t k = 0; k < items.size(); ++k) {
    ASSIGN_OR_RETURN(const ItemFeaturesAt item, store.Item(items[k], as_of_ms));
    out.push_back(RankerFeaturesOf(v, item, two_tower[k]));
  }
  return out;
}

Status PointInTimeRankerFeatures(FeatureStore* store, const std::vector<FeatureEvent>& events,
                                 const std::vector<RankerQuery>& queries, std::vector<RankerFeatureVector>* out) {
  for (size_t i = 1; i < events.size(); ++i)
    if (events[i].time_ms < events[i - 1].time_ms)
      return Status::InvalidArgument("ranker features: events must be sorted by time; event " + std::to_string(i) +
                                     " is older than the one before it");
  std::vector<size_t> order(queries.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return queries[a].time_ms < queries[b].time_ms; });
  out->assign(queries.size(), RankerFeatureVector{});
  size_t next = 0;  // the first event not applied yet
  std::vector<uint64_t> items;
  std::vector<float> scores;
  for (size_t g = 0; g < order.size();) {
    // A group: consecutive queries of one viewer at one time (a held-out positive and its negatives) — one read
    // of the viewer's features.
    const RankerQuery& first = queries[order[g]];
    size_t end = g;
    items.clear();
    scores.clear();
    for (; end < order.size() && queries[order[end]].time_ms == first.time_ms &&
           queries[order[end]].viewer == first.viewer;
         ++end) {
      items.push_back(queries[order[end]].item);
      scores.push_back(queries[order[end]].two_tower);
    }
    for (; next < events.size() && events[next].time_ms < first.time_ms; ++next)
      RETURN_IF_ERROR(store->Apply(events[next]));
    // The very function serving uses, on the state holding exactly the events before the queries' time.
    ASSIGN_OR_RETURN(auto x, ServingRankerFeatures(*store, first.viewer, items, scores, first.time_ms));
    for (size_t k = g; k < end; ++k) (*out)[order[k]] = x[k - g];
    g = end;
  }
  for (; next < events.size(); ++next) RETURN_IF_ERROR(store->Apply(events[next]));
  return Status::Ok();
}

}  // namespace watershed::recs
