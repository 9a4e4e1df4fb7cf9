#pragma once
// Serving recommendations (docs/recs.md, "Serving"): GET
// /v1/users/{id}/recommendations answered from one immutable snapshot — a
// registry version of the configured model (the `current` one), its HNSW index
// (OpenOrBuildAnnIndex), a CandidatePool of the catalogue and a candidate
// generator over both — held behind an atomically swapped shared_ptr. A request
// loads the pointer once and uses nothing else, so a swap (a promoted version,
// a rebuilt pool) never gives a request a mix of versions, and no request waits
// for or fails during one.
//
// A request: candidates (candidates.h) → scores → rules (rules.h: blocks,
// boosts, pins, freshness, diversity) → the top k. The score of a candidate:
//   ranker version, user in the model   the ranker's probability over
//   ServingRankerFeatures (the feature store's
//                                       state now, the factor score as its
//                                       two_tower feature)
//   other version, user in the model    the logistic of the factor score bias_i
//   + <user, item_i> (same order; a
//                                       probability-like value, so the rules'
//                                       boosts multiply a positive score)
//   user not in the model (cold start, or history but no embedding yet)
//                                       1 − rank/(n+1) in the generator's order
//                                       (trending, then popular; or content
//                                       first) — the candidates' own order
// Items the version does not hold (published after training) score as an item
// of zero vector and bias.
//
// Thread safety: Recommend is const and runs from any number of threads;
// Refresh from one thread at a time (the refresher). The feature store must
// allow concurrent const calls (LockedFeatureStore).

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/file_system.h"
#include "core/status.h"
#include "recs/ann_index.h"
#include "recs/candidates.h"
#include "recs/feature_store.h"
#include "recs/registry.h"
#include "recs/rules.h"

namespace watershed::recs {

struct RecsServiceOptions {
  std::string registry_root;  // <data-dir>/models
  std::string model;          // the registry name served (its current version)
  CandidateConfig candidates;
  AnnConfig ann;
  int64_t pool_refresh_ms = 60'000;  // Refresh rebuilds the candidate pool when it is older than this
};

struct Recommendation {
  uint64_t item = 0;
  double score = 0;                // after the rules' boosts
  uint8_t sources = 0;             // CandidateSource bits
  std::vector<std::string> rules;  // the rules that moved it (rules.h)
};

struct Recommendations {
  uint64_t user = 0;
  std::string model;  // "NAME@VERSION"
  std::string request_id;
  bool cold_start = false;
  std::vector<Recommendation> items;
};

// {"user_id","model","request_id","cold_start","items":[{"story_id","score","sources":[...]
// (,"rules":[...] when explain)}]}.
std::string RecommendationsJson(const Recommendations& r, bool explain);

class RecsService {
 public:
  // Loads the model's current version and builds the first snapshot. `store`:
  // the feature store the viewers' history, the catalogue's items and the
  // trending / popular lists come from (outlives the service). `rules`: null
  // for none. Errors: the registry's (no such model, a damaged file), the
  // index's, the store's.
  static Result<std::unique_ptr<RecsService>> Open(FileSystem* fs, RecsServiceOptions options,
                                                   const FeatureStore* store, RulesHolder* rules, int64_t now_ms);

  // At most k items for `user`, trending and popular of `region` (kAllRegions
  // or unknown: all regions). Errors: the store's (kUnavailable for a remote
  // store that does not answer).
  Result<Recommendations> Recommend(uint64_t user, uint8_t region, size_t k, int64_t now_ms) const;

  // Swaps in a new snapshot when the registry's current version is not the one
  // served (a promotion or a rollback), or when the pool is older than
  // pool_refresh_ms (or `rebuild_pool`). True when it swapped. An error (a
  // version that does not load) keeps the snapshot in force.
  Result<bool> Refresh(int64_t now_ms, bool rebuild_pool = false);

  // "NAME@VERSION" of the snapshot in force.
  std::string Served() const;
  ~RecsService();

 private:
  struct Model;
  struct Snapshot;
  RecsService(FileSystem* fs, RecsServiceOptions options, const FeatureStore* store, RulesHolder* rules);
  Result<std::shared_ptr<const Model>> ModelOf(const ModelRegistry::Loaded& loaded) const;
  Result<std::shared_ptr<const Snapshot>> SnapshotOf(std::shared_ptr<const Model> model, int64_t now_ms) const;

  FileSystem* fs_;
  const RecsServiceOptions options_;
  const FeatureStore* store_;
  RulesHolder* rules_;
  const uint64_t request_salt_;  // random per process: request ids differ across restarts
  mutable std::atomic<uint64_t> requests_{0};
  std::atomic<std::shared_ptr<const Snapshot>> snapshot_;
};

}  // namespace watershed::recs
