#pragma once
// A FeatureStore shared by one writer (the log's consumer, feature_updater.h)
// and the serving threads (serving.h): every call goes through a lock. Reads of
// a store whose const calls may run at once (the embedded one) share it; a
// store that must be called by one thread at a time (the Redis one: its client
// is not thread-safe) takes it exclusively for reads too. Writes always take it
// exclusively.

#include <memory>
#include <shared_mutex>

#include "recs/feature_store.h"

namespace watershed::recs {

class LockedFeatureStore : public FeatureStore {
 public:
  // `inner` must outlive this; `shared_reads`: see above.
  LockedFeatureStore(FeatureStore* inner, bool shared_reads) : inner_(inner), shared_reads_(shared_reads) {}

  Status PutItem(uint64_t item, const ItemInfo& info) override;
  Status Apply(const FeatureEvent& event) override;
  Status ApplyLogBatch(const LogRange& range, const std::vector<FeatureEvent>& events) override;
  Result<std::vector<LogPosition>> Positions() const override;
  Result<ViewerFeaturesAt> Viewer(uint64_t viewer, int64_t as_of_ms) const override;
  Result<ItemFeaturesAt> Item(uint64_t item, int64_t as_of_ms) const override;
  int64_t watermark() const override;
  Result<bool> EraseViewer(uint64_t viewer) override;
  Result<bool> HoldsViewer(uint64_t viewer) const override;

  FeatureStore* inner() const { return inner_; }

 private:
  template <typename F>
  auto Read(F&& f) const;

  FeatureStore* const inner_;
  const bool shared_reads_;
  mutable std::shared_mutex mu_;
};

// The embedded store behind `store` (itself, or the inner store of a
// LockedFeatureStore); null for another backend. The updater snapshots it
// directly: it is the only writer, so reading it unlocked from its own thread
// races with nothing but other readers.
EmbeddedFeatureStore* EmbeddedOf(FeatureStore* store);

}  // namespace watershed::recs
