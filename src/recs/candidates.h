#pragma once
// Candidate generation (docs/recs.md, "Candidates"): ~1,000 deduplicated items per request for the ranker, each
// tagged with the sources that proposed it:
//   ann       the items nearest the user's embedding in the model's HNSW index (ann_index.h)
//   content   items sharing an author or a tag with the user's latest items (the feature store's history)
//   coviewed  items other viewers engaged with next to the user's latest items (the pool's CoViewIndex, from the lake)
//   trending  the region's items by decayed live views (RegionalTrending; else the feature store's, all regions)
//   fresh     items created within the last fresh_window_ms, newest first
//   popular   the region's items by events counted since the process started tracking them (RegionalTrending,
//             which forgets an item once its decayed views fade; else the feature store's all-time events, all
//             regions); also the fallback filling up to `total`
// The user's already-seen items (the feature store's history plus the request's `seen`) and blocked items are
// never candidates. A user without history (cold start) gets the region's trending and popular items only.
//
// Two parts: a CandidatePool — a snapshot of the catalogue by author, tag and creation time and of each region's
// trending and popular lists, built from the feature stores in O(items × regions) store reads, to be rebuilt every
// minute or so — and a CandidateGenerator, whose Generate is const and thread-safe (the pool and the index are
// swapped atomically; a request keeps the ones it started with).
//
// Cost per request: one Viewer read of the feature store; one ANN query for ann + min(|excluded|, ann) items; at
// most content_per_key items per author and tag of the content_recent latest items; a walk of the trending, fresh
// and popular lists until their quotas are met (skipping excluded items); hash sets of the excluded items and of
// the candidates. Nothing is O(catalogue).

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/status.h"
#include "recs/ann_index.h"
#include "recs/candidate_signals.h"
#include "recs/feature_store.h"

namespace watershed::recs {

enum CandidateSource : uint8_t {
  kSourceAnn = 1,
  kSourceContent = 2,
  kSourceTrending = 4,
  kSourceFresh = 8,
  kSourcePopular = 16,
  kSourceCoViewed = 32,
};
inline constexpr int kNumSources = 6;
// "ann+trending": the sources' names in bit order (ann, content, trending, fresh, popular, coviewed), joined by '+'.
std::string SourceNames(uint8_t sources);

// Per-source quotas: how many not-excluded items each source proposes at most
// (an item another source proposed already counts for both and stays one
// candidate, tagged with both). Sources run in the order ann, content,
// coviewed, trending, fresh, popular; then popular goes on past its quota until
// `total` candidates (the fallback: the region's popular items, then those of
// all regions).
struct CandidateConfig {
  uint32_t total = 1000;  // candidates per request at most
  uint32_t ann = 400;
  uint32_t content = 250;
  uint32_t coviewed = 100;  // only when the pool has a CoViewIndex
  uint32_t trending = 150;
  uint32_t fresh = 100;
  uint32_t popular = 100;
  uint32_t cold_start_trending = 500;  // cold start: trending up to this, then popular up to `total`
  uint32_t content_recent = 20;        // the user's latest items whose authors and tags seed `content`
  uint32_t content_per_key = 100;      // items read per author and per tag (the most popular first)
  int64_t fresh_window_ms = 48 * kHourMs;
  uint32_t pool_list_length = 5000;  // per region, the trending and popular lists a pool keeps
};
// kInvalidArgument naming the field when total is 0 or a window is not
// positive.
Status ValidateCandidateConfig(const CandidateConfig& config);

// The region of trending and popular lists summed over every region (and the
// one a request naming a region the pool does not know reads).
inline constexpr uint8_t kAllRegions = 255;

struct CatalogItem {
  uint64_t id = 0;
  ItemInfo info = {};  // created_at_ms, author, tags
};

// What a pool takes beyond the feature stores (candidate_signals.h); both optional.
struct PoolSignals {
  const RegionalTrending* regional = nullptr;  // per-region lists of the regions it has events of
  std::shared_ptr<const CoViewIndex> coviews;  // the coviewed source
};

class CandidatePool {
 public:
  // `items`: the catalogue (ids unique). `regions`: each region's feature store
  // (trending and popularity read as of `as_of_ms`, or just past the store's
  // watermark when that is later); kAllRegions gets their sums. A region of
  // signals.regional gets its lists from there instead (its catalogue items
  // with live events). Errors: a store's.
  static Result<std::shared_ptr<const CandidatePool>> Build(
      const std::vector<CatalogItem>& items, const std::vector<std::pair<uint8_t, const FeatureStore*>>& regions,
      int64_t as_of_ms, const CandidateConfig& config, const PoolSignals& signals = {});

  struct Lists {
    std::vector<uint64_t> trending;  // trending > 0, highest first (ties: smaller id)
    std::vector<uint64_t> popular;   // popularity > 0, highest first (ties: smaller id)
  };
  const Lists& Region(uint8_t region) const;
  const CatalogItem* Find(uint64_t id) const;
  const std::vector<uint32_t>& ByAuthor(uint64_t author) const;    // catalogue indexes, most popular first
  const std::vector<uint32_t>& ByTag(uint32_t tag) const;          // likewise
  const std::vector<uint32_t>& Newest() const { return newest_; }  // with created_at, newest first
  const CatalogItem& At(uint32_t index) const { return items_[index]; }
  int64_t as_of_ms() const { return as_of_ms_; }
  const CoViewIndex* coviews() const { return coviews_.get(); }

 private:
  CandidatePool() = default;
  std::vector<CatalogItem> items_;
  std::unordered_map<uint64_t, uint32_t> by_id_;
  std::unordered_map<uint64_t, std::vector<uint32_t>> by_author_;
  std::unordered_map<uint32_t, std::vector<uint32_t>> by_tag_;
  std::vector<uint32_t> newest_;
  std::unordered_map<uint8_t, Lists> regions_;
  std::shared_ptr<const CoViewIndex> coviews_;
  int64_t as_of_ms_ = 0;
};

struct CandidateRequest {
  uint64_t user = 0;
  uint8_t region = kAllRegions;             // trending and popular of this region
  int64_t now_ms = 0;                       // the viewer's features are read as of now (or just past
                                            // the store's watermark)
  std::span<const float> user_vector = {};  // the model's embedding of the user (AnnIndex::dim floats); empty: no
                                            // ann
  std::span<const uint64_t> seen = {};      // seen items beyond the feature store's history (e.g. from the lake)
  std::span<const uint64_t> blocked = {};   // items never to recommend (rules, the user's blocks)
  const CandidateConfig* config = nullptr;  // this request's quotas (an experiment arm's); null: the generator's
};

struct Candidate {
  uint64_t item = 0;
  uint8_t sources = 0;  // CandidateSource bits
  float ann_score = 0;  // bias + <user, item> when sources has kSourceAnn
};

struct CandidateSet {
  std::vector<Candidate> candidates;    // in the order first proposed (ann first):
                                        // the ranker orders them
  bool cold_start = false;              // the user had no history: trending and popular only
  uint32_t proposed[kNumSources] = {};  // items each source proposed (new or merged), by bit position
  uint32_t excluded = 0;                // skips of seen or blocked items (per source that met one)
};

class CandidateGenerator {
 public:
  // `viewers`: the feature store read for each request's viewer (its history and the seen items). It must allow
  // concurrent const calls while requests run at once (the embedded store does when nobody writes it; a
  // RedisFeatureStore does not: give each serving thread its own generator and store, sharing pool and index).
  CandidateGenerator(const CandidateConfig& config, const FeatureStore* viewers) : config_(config), viewers_(viewers) {}

  void SetPool(std::shared_ptr<const CandidatePool> pool) { pool_.store(std::move(pool)); }
  void SetIndex(std::shared_ptr<const AnnIndex> index) { index_.store(std::move(index)); }

  // kFailedPrecondition before SetPool; a user_vector of the wrong size is
  // kInvalidArgument; a store error.
  Result<CandidateSet> Generate(const CandidateRequest& request) const;

 private:
  CandidateConfig config_;
  const FeatureStore* viewers_;
  std::atomic<std::shared_ptr<const CandidatePool>> pool_;
  std::atomic<std::shared_ptr<const AnnIndex>> index_;
};

}  // namespace watershed::recs
