#pragma once
// The feature store (docs/recs.md, "Feature store"): per viewer and per item
// features for the ranker and the two-tower towers, kept up to date by one
// update path, Apply(event), that the batch builder (replaying interactions)
// and a later online consumer of the log share.
//
// Point in time: events are applied in time order (Apply refuses an event
// older than one applied already). A query "as of t" decays everything to t
// and is answered only while every applied event is before t (t > the
// watermark, the newest applied event's time); otherwise kFailedPrecondition
// — the store never answers from a state holding an event at or after t, so
// training features built by ReplayWithFeatures cannot leak.
//
// Decay: a decayed value v last updated at s, read at t, is
// v · 2^(−(t − s) / half_life); an update adds the event's amount after
// decaying to the event's time.
//
// Two update paths share one state: Apply(event), strict time order, for the
// training replay; ApplyLogBatch(range, events), for the online consumer of
// the log (feature_updater.h): it accepts events older than the watermark
// (partitions interleave) and records, all or nothing with the events, how
// far the log partition is consumed, so a restart resumes exactly there.
//
// As of: no backend keeps a history of its own states, so neither answers a
// past point (as_of <= watermark is kFailedPrecondition, never a wrong
// answer). Training features for past interactions come from replaying the
// events (ReplayWithFeatures, embedded); an online store answers "now".
//
// Memory (embedded backend, 64-bit, defaults in brackets): per viewer
// 128 + 16·H + 24·(T + A) bytes at most, H = history_length [50],
// T = max_tag_affinities [32], A = max_author_affinities [32]: 2,464 bytes;
// per item 64 + 4·(tags, at most kMaxItemTags = 16) bytes: at most 128
// (static_asserts in the .cc hold the fixed parts; vectors never grow past
// their bound). The hash maps' nodes and buckets add ~40 bytes per key. The
// number of viewers and items is not bounded here: that is the catalogue's and
// the audience's size, unless max_viewers bounds the viewers (least recently
// active evicted first).

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/file_system.h"
#include "core/status.h"
#include "recs/dataset.h"

namespace watershed::recs {

inline constexpr int64_t kHourMs = 3'600'000;
inline constexpr int64_t kDayMs = 24 * kHourMs;
inline constexpr uint32_t kMaxItemTags = 16;           // PutItem keeps the first 16 tags
inline constexpr uint32_t kMaxConfiguredBound = 4096;  // history_length and affinity bounds

struct FeatureStoreConfig {
  uint32_t history_length = 50;         // last N items per viewer (1..4096)
  uint32_t max_tag_affinities = 32;     // per viewer; the weakest entry makes room for a new one
  uint32_t max_author_affinities = 32;  // per viewer, likewise
  int64_t affinity_half_life_ms = 7 * kDayMs;
  int64_t trending_half_life_ms = kDayMs;
  // At most this many viewers are kept (0: no bound). When a write leaves more,
  // the least recently active (oldest last event; ties: smaller id) are evicted
  // down to ViewersAfterEviction(max_viewers), so evictions come in rare bulks.
  // An operating bound, not part of the features' definition: not in the
  // snapshot.
  uint64_t max_viewers = 0;
};
inline uint64_t ViewersAfterEviction(uint64_t max_viewers) { return max_viewers - max_viewers / 16; }
// kInvalidArgument when a bound is 0 or above kMaxConfiguredBound or a
// half-life is not positive.
Status ValidateFeatureStoreConfig(const FeatureStoreConfig& config);

// Activity is two decayed event counts with fixed half-lives: a day and a week.
inline constexpr int64_t kActivityDayHalfLifeMs = kDayMs;
inline constexpr int64_t kActivityWeekHalfLifeMs = 7 * kDayMs;

// One interaction: `viewer` engaged with `item` at `time_ms` (unix ms);
// `weight` is its strength (view 1, share 2, reply 3 in the lake's terms):
// affinities add it, popularity and trending count the event once.
// `author` (0: unknown) is the author the event names: it becomes the item's
// author when the item has none yet (the log's events carry it).
struct FeatureEvent {
  uint64_t viewer = 0;
  uint64_t item = 0;
  int64_t time_ms = 0;
  float weight = 1;
  uint64_t author = 0;
};

// A stretch [from_offset, next_offset) of one log partition (region: an id of core/event.h's table).
struct LogRange {
  uint8_t region = 0;
  uint32_t partition = 0;
  uint64_t from_offset = 0;
  uint64_t next_offset = 0;
};
// How far a log partition is consumed into the store.
struct LogPosition {
  uint8_t region = 0;
  uint32_t partition = 0;
  uint64_t next_offset = 0;
  bool operator==(const LogPosition&) const = default;
};

// What the catalogue says of an item. Tags are ids of the caller's tag
// vocabulary (Dataset::tag_names indexes); author 0 means none.
struct ItemInfo {
  int64_t created_at_ms = 0;  // 0: unknown
  uint64_t author = 0;
  std::vector<uint32_t> tags;
};

struct HistoryEntry {
  uint64_t item = 0;
  int64_t time_ms = 0;
  bool operator==(const HistoryEntry&) const = default;
};
struct Affinity {
  uint64_t key = 0;  // a tag id or an author id
  double value = 0;  // decayed sum of weights as of the query time
};

struct ViewerFeaturesAt {
  std::vector<HistoryEntry> history;      // most recent first, at most history_length
  std::vector<Affinity> tag_affinity;     // strongest first (ties: smaller key first)
  std::vector<Affinity> author_affinity;  // strongest first (ties: smaller key first)
  double activity_day = 0;                // events, decayed with a one-day half-life
  double activity_week = 0;               // events, decayed with a one-week half-life
  uint64_t events = 0;                    // all time
};

struct ItemFeaturesAt {
  uint64_t popularity = 0;  // events all time
  double trending = 0;      // events decayed with trending_half_life_ms
  int64_t created_at_ms = 0;
  int64_t age_ms = -1;  // as_of − created_at (−1 when created_at is unknown)
  uint64_t author = 0;
  std::vector<uint32_t> tags;
};

// The narrow interface every backend implements.
class FeatureStore {
 public:
  virtual ~FeatureStore() = default;
  // Records or replaces an item's catalogue features (tags beyond kMaxItemTags
  // are dropped). Tags and author count for a viewer's affinities from the next
  // event on that item. Fails only where the backend is remote (kUnavailable).
  virtual Status PutItem(uint64_t item, const ItemInfo& info) = 0;
  // The training path. kInvalidArgument when event.time_ms < watermark() (out
  // of order) or the weight is negative or not finite.
  virtual Status Apply(const FeatureEvent& event) = 0;
  // The online path: applies `events` in order and records range.next_offset
  // as the partition's position, all or nothing. An event older than the
  // watermark is applied at its own time (decayed values add it decayed to
  // their last update; it still enters the history as the latest applied).
  // kFenced, changing nothing, unless the stored position is
  // range.from_offset (0 when none is stored): the range was applied already
  // (a retry whose first reply was lost) or another consumer moved on — read
  // Positions() and go on from there. Then evicts viewers past max_viewers.
  virtual Status ApplyLogBatch(const LogRange& range, const std::vector<FeatureEvent>& events) = 0;
  // Every partition's stored position (sorted by region, partition).
  virtual Result<std::vector<LogPosition>> Positions() const = 0;
  // Features as of `as_of_ms`; kFailedPrecondition unless as_of_ms >
  // watermark() (see "As of" above). Unknown ids: empty features.
  virtual Result<ViewerFeaturesAt> Viewer(uint64_t viewer, int64_t as_of_ms) const = 0;
  virtual Result<ItemFeaturesAt> Item(uint64_t item, int64_t as_of_ms) const = 0;
  // The newest applied event's time (INT64_MIN before any). A remote backend
  // returns the value its last call saw.
  virtual int64_t watermark() const = 0;
  // Erasure (docs/governance.md "Erasure"): forgets everything kept of
  // `viewer` (history, affinities, activity); true when something was kept.
  // What the viewer's events added to items (popularity, trending) stays, as
  // anonymous counts. Events of the viewer applied later are kept again.
  virtual Result<bool> EraseViewer(uint64_t viewer) = 0;
  // Whether anything of `viewer` is kept (`watershed erase --verify`).
  virtual Result<bool> HoldsViewer(uint64_t viewer) const = 0;
};

// Training features without leakage: applies `events` (sorted by time_ms, else
// kInvalidArgument) to `store`; for each event i, just before the events of its
// time are applied, calls on_example(i, viewer features, item features) as of
// event i's time — so an example never sees its own event nor any at or after
// its time.
Status ReplayWithFeatures(
    FeatureStore* store, const std::vector<FeatureEvent>& events,
    const std::function<void(size_t, const ViewerFeaturesAt&, const ItemFeaturesAt&)>& on_example);

// A Dataset's items (dense ids) and interactions (dense ids, seconds → ms) in
// the store's terms. An author that is not a decimal id (the lake's and the
// catalogue's are) counts as none.
Status PutDatasetItems(const Dataset& data, FeatureStore* store);
FeatureEvent ToFeatureEvent(const Interaction& interaction);

// The embedded backend: in memory, with a snapshot file restored at start.
// Not thread-safe: one writer (the replayer or the consumer) owns it.
class EmbeddedFeatureStore : public FeatureStore {
 public:
  // kInvalidArgument for a config ValidateFeatureStoreConfig refuses.
  static Result<std::unique_ptr<EmbeddedFeatureStore>> Create(const FeatureStoreConfig& config);
  // Reads a snapshot written by SaveSnapshot. kNotFound when there is no file;
  // kCorruption naming the file when it is truncated, damaged, of another
  // format or version, or inconsistent.
  static Result<std::unique_ptr<EmbeddedFeatureStore>> Restore(FileSystem* fs, const std::string& path);
  // The same from bytes; `name` is used in error messages.
  static Result<std::unique_ptr<EmbeddedFeatureStore>> DecodeSnapshot(std::string_view bytes, std::string_view name);

  // Writes the whole state atomically (WriteFileAtomically): a crash leaves the
  // old snapshot or the new one.
  Status SaveSnapshot(FileSystem* fs, const std::string& path) const;
  // The snapshot's bytes: deterministic (ids sorted), so equal states encode
  // equally.
  std::string EncodeSnapshot() const;

  Status PutItem(uint64_t item, const ItemInfo& info) override;
  Status Apply(const FeatureEvent& event) override;
  Status ApplyLogBatch(const LogRange& range, const std::vector<FeatureEvent>& events) override;
  Result<std::vector<LogPosition>> Positions() const override;
  Result<ViewerFeaturesAt> Viewer(uint64_t viewer, int64_t as_of_ms) const override;
  Result<ItemFeaturesAt> Item(uint64_t item, int64_t as_of_ms) const override;
  int64_t watermark() const override { return watermark_; }
  Result<bool> EraseViewer(uint64_t viewer) override { return viewers_.erase(viewer) > 0; }
  Result<bool> HoldsViewer(uint64_t viewer) const override { return viewers_.count(viewer) > 0; }

  const FeatureStoreConfig& config() const { return config_; }
  // The bound is not in the snapshot: a restored store takes it from here.
  void set_max_viewers(uint64_t n) { config_.max_viewers = n; }
  uint64_t evicted_viewers() const { return evicted_viewers_; }
  size_t num_viewers() const { return viewers_.size(); }
  size_t num_items() const { return items_.size(); }

  // A decayed value; public for the snapshot codec and the tests.
  struct Decayed {
    double value = 0;
    int64_t at_ms = 0;  // when `value` was last brought up to date
    double At(int64_t t_ms, int64_t half_life_ms) const;
    void Add(double amount, int64_t t_ms, int64_t half_life_ms);
  };
  struct Keyed {
    uint64_t key = 0;
    Decayed d;
  };
  struct ViewerState {
    int64_t last_active_ms() const { return day.at_ms; }
    std::vector<HistoryEntry> history;  // ring buffer of at most history_length,
                                        // oldest at `head` once full
    uint32_t head = 0;
    std::vector<Keyed> tags;  // at most max_tag_affinities
    std::vector<Keyed> authors;
    Decayed day, week;
    uint64_t events = 0;
  };
  struct ItemState {
    ItemInfo info;
    uint64_t popularity = 0;
    Decayed trending;
  };

 private:
  friend class RedisFeatureStore;  // computes a batch on the loaded states with this code
  explicit EmbeddedFeatureStore(const FeatureStoreConfig& config) : config_(config) {}
  void Bump(std::vector<Keyed>* entries, uint32_t bound, uint64_t key, double amount, int64_t t_ms) const;
  // Applies one validated event at its own time; raises the watermark.
  void ApplyAt(const FeatureEvent& event);
  // Evicts down to the bound when past it (see FeatureStoreConfig::max_viewers).
  void EvictViewers();

  FeatureStoreConfig config_;
  int64_t watermark_ = INT64_MIN;
  std::map<std::pair<uint8_t, uint32_t>, uint64_t> positions_;  // (region, partition) → next offset
  uint64_t evicted_viewers_ = 0;
  std::unordered_map<uint64_t, ViewerState> viewers_;
  std::unordered_map<uint64_t, ItemState> items_;
};

}  // namespace watershed::recs
