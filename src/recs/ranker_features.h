#pragma once
// The ranker's features of (viewer, item) (docs/recs.md, "ranker"), defined on
// the feature store's state (feature_store.h) — one definition for training and
// serving, so there is no train/serve skew:
//   two_tower        the two-tower score (given: the retrieval model's, not the
//   store's) log_popularity   log(1 + the item's events before t) age_years
//   years from the item's created_at to t, clamped to [0, 200] (0 when unknown)
//   age_known        1 when created_at is known
//   tag_affinity     mean over the item's tags of the viewer's decayed affinity
//   to the tag, as a share of the
//                    viewer's decayed tag affinities at t (0 without tags or
//                    affinities)
//   author_affinity  the viewer's decayed affinity to the item's author as a
//   share of its author affinities
// Training takes them point in time (PointInTimeRankerFeatures: from a store
// fed exactly the events strictly before each example's time); serving takes
// them from a store's current state (ServingRankerFeatures, any backend:
// embedded, or Redis written by the online consumer) — both through
// RankerFeaturesOf.

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "core/status.h"
#include "recs/feature_store.h"

namespace watershed::recs {

inline constexpr size_t kRankerFeatures = 6;
inline constexpr std::array<const char*, kRankerFeatures> kRankerFeatureNames = {
    "two_tower", "log_popularity", "age_years", "age_known", "tag_affinity", "author_affinity"};
using RankerFeatureVector = std::array<double, kRankerFeatures>;

RankerFeatureVector RankerFeaturesOf(const ViewerFeaturesAt& viewer, const ItemFeaturesAt& item, float two_tower);

// Serving: the features of `items` for `viewer` from the store's state as of
// `as_of_ms` (> the store's watermark; else the store's kFailedPrecondition),
// one vector per item, given their two-tower scores.
Result<std::vector<RankerFeatureVector>> ServingRankerFeatures(const FeatureStore& store, uint64_t viewer,
                                                               std::span<const uint64_t> items,
                                                               std::span<const float> two_tower, int64_t as_of_ms);

// One training example's key: (viewer, item) at a time, with its two-tower
// score.
struct RankerQuery {
  uint64_t viewer = 0;
  uint64_t item = 0;
  int64_t time_ms = 0;
  float two_tower = 0;
};
// Training: applies `events` (sorted by time_ms, else kInvalidArgument) to
// `store` (empty of events, its items put) and answers every query, in any
// order, with ServingRankerFeatures as of the query's time on the store holding
// exactly the events before that time; out[q] is query q's. Every event is
// applied at the end.
Status PointInTimeRankerFeatures(FeatureStore* store, const std::vector<FeatureEvent>& events,
                                 const std::vector<RankerQuery>& queries, std::vector<RankerFeatureVector>* out);

}  // namespace watershed::recs
