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
// of zero vector and bias — unless options.published_items names them and the
// version has a stored item tower: then they are embedded, added to its index
// online and scored like its own.
//
// Experiments (experiments.h; options.experiments_path): each request is assigned (Assign: layers, salted hashes)
// to at most one arm per layer. The first of those arms that names a model version ("NAME@VERSION", loaded and
// indexed with the snapshot) answers instead of the current version; the arms' params change the quotas and the
// rules (serving_arms.h). The answer names the model version, the arms and a request id, and for each arm an
// exposure (request id, user, experiment, arm, time, items) is appended to <exposures_dir>/<experiment>.log before
// the answer is returned — a request whose exposure cannot be written fails (kUnavailable) rather than be served
// unattributed. The experiments file is reloaded on change by Refresh (a bad one keeps the one in force).
//
// Regions: trending and popular per region come from options.regional (the log consumer's live views per region,
// candidate_signals.h) when set; co-viewed items from options.coview_events (the lake's engagements), rebuilt by
// Refresh every coview_refresh_ms.
//
// Thread safety: Recommend is const and runs from any number of threads;
// Refresh from one thread at a time (the refresher). The feature store must
// allow concurrent const calls (LockedFeatureStore).

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/file_system.h"
#include "core/status.h"
#include "recs/ann_index.h"
#include "recs/candidate_signals.h"
#include "recs/candidates.h"
#include "recs/experiments.h"
#include "recs/feature_store.h"
#include "recs/feature_vocabulary.h"
#include "recs/registry.h"
#include "recs/rules.h"
#include "recs/serving_arms.h"

namespace watershed::recs {

// A story of the catalogue: what the pool needs (created_at, author, tag ids as the feature store's) and what the
// item tower embeds it from (tag names, author, language).
struct PublishedItem {
  uint64_t id = 0;
  ItemInfo info;
  ItemDescription description;
};

struct RecsServiceOptions {
  std::string registry_root;  // <data-dir>/models
  std::string model;          // the registry name served (its current version)
  CandidateConfig candidates;
  AnnConfig ann;
  int64_t pool_refresh_ms = 60'000;            // Refresh rebuilds the candidate pool when it is older than this
  std::string experiments_path;                // the experiments file; empty: no experiments
  std::string exposures_dir;                   // where the exposure logs are appended (<data-dir>/recs/exposures)
  const RegionalTrending* regional = nullptr;  // per-region trending and popular; null: the store's, all regions
  // The engagements the coviewed source is computed from (e.g. the lake's events); null: no coviewed source. An
  // error keeps the index in force (reported on stderr).
  std::function<Result<std::vector<CoViewEngagement>>()> coview_events;
  int64_t coview_refresh_ms = 3'600'000;
  CoViewOptions coview;
  // The catalogue's stories now (e.g. StoryCatalog::All), read whenever a pool is built: those a served version
  // does not hold are embedded by its stored item tower (two-tower and ranker versions of format 2,
  // stored_tower.h), added to its HNSW index online (no rebuild) and to its pool, and scored like its own items.
  // Null: a version serves its own items only.
  std::function<Result<std::vector<PublishedItem>>()> published_items;
};

struct ServedArm {
  std::string experiment, arm;
  bool operator==(const ServedArm&) const = default;
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
  std::vector<ServedArm> arms;  // the request's experiment arms (one per layer it is in)
  bool cold_start = false;
  std::vector<Recommendation> items;
};

// {"user_id","model","request_id","experiments":[{"experiment","arm"}...],"cold_start","items":[{"story_id",
// "score","sources":[...] (,"rules":[...] when explain)}]}.
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
  // pool_refresh_ms (or `rebuild_pool`), or when the experiments file changed
  // (removed: no experiments). True when it swapped. An error (a version that
  // does not load) keeps the snapshot in force; a bad or unreadable experiments
  // file is no error: reported on stderr (experiments_error()), the experiments
  // in force stay and the rest of the refresh goes on.
  Result<bool> Refresh(int64_t now_ms, bool rebuild_pool = false);

  // Why the experiments file's latest change is not in force ("" when it is); the refresher's thread.
  const std::string& experiments_error() const { return experiments_error_; }
  // "NAME@VERSION" of the snapshot in force (the current version; arms may serve others).
  std::string Served() const;
  // Makes the exposures appended so far durable (fdatasync); the refresher calls it every recs-refresh.
  Status SyncExposures();
  uint64_t exposures_logged() const;
  // Erasure: the user's records out of every exposure log (ExposureSink::EraseUser); the records removed.
  Result<uint64_t> EraseUserExposures(uint64_t user);
  ~RecsService();

 private:
  struct Model;
  struct Version;
  struct Experiments;
  struct Snapshot;
  RecsService(FileSystem* fs, RecsServiceOptions options, const FeatureStore* store, RulesHolder* rules);
  Result<std::shared_ptr<const Model>> ModelOf(const ModelRegistry::Loaded& loaded) const;
  Result<std::shared_ptr<const Version>> VersionOf(std::shared_ptr<const Model> model, int64_t now_ms) const;
  struct ExperimentsStamp {
    int64_t mtime_ms = -1;  // -2: the file is removed
    uint64_t size = 0;
    bool operator==(const ExperimentsStamp&) const = default;
  };
  // Whether the experiments file changed since experiments_stamp_ (or `force`); then *out is what it holds (null:
  // no file set, or the file removed) and *stamp its stamp, for the caller to record once it is in force.
  Result<bool> LoadExperiments(bool force, std::shared_ptr<const Experiments>* out, ExperimentsStamp* stamp);
  void ReportExperimentsError(const std::string& message);  // on stderr, once per message
  // A snapshot of `current` and the arms' versions (models reused from `previous` when it holds them).
  Result<std::shared_ptr<const Snapshot>> SnapshotOf(std::shared_ptr<const Model> current,
                                                     std::shared_ptr<const Experiments> experiments,
                                                     const Snapshot* previous, int64_t now_ms) const;
  void RefreshCoViews(int64_t now_ms);
  // Adds the published items `model` does not hold to its index (through its item tower); returns every item
  // added so far, for the pool.
  Result<std::vector<CatalogItem>> AddPublished(const Model& model) const;

  FileSystem* fs_;
  const RecsServiceOptions options_;
  const FeatureStore* store_;
  RulesHolder* rules_;
  const uint64_t request_salt_;  // random per process: request ids differ across restarts
  mutable std::atomic<uint64_t> requests_{0};
  std::atomic<std::shared_ptr<const Snapshot>> snapshot_;
  std::unique_ptr<ExposureSink> exposures_;
  // The refresher's (Open, then Refresh: one thread).
  ExperimentsStamp experiments_stamp_;  // of the experiments in force
  std::string experiments_error_;
  std::shared_ptr<const CoViewIndex> coviews_;
  int64_t coviews_at_ms_ = INT64_MIN;
  std::string coview_error_;
};

}  // namespace watershed::recs
