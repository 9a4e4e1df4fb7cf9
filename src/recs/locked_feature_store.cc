#include "recs/locked_feature_store.h"

#include <mutex>

namespace watershed::recs {

template <typename F>
auto LockedFeatureStore::Read(F&& f) const {
  if (shared_reads_) {
    std::shared_lock lock(mu_);
    return f();
  }
  std::unique_lock lock(mu_);
  return f();
}

Status LockedFeatureStore::PutItem(uint64_t item, const ItemInfo& info) {
  std::unique_lock lock(mu_);
  return inner_->PutItem(item, info);
}

Status LockedFeatureStore::Apply(const FeatureEvent& event) {
  std::unique_lock lock(mu_);
  return inner_->Apply(event);
}

Status LockedFeatureStore::ApplyLogBatch(const LogRange& range, const std::vector<FeatureEvent>& events) {
  std::unique_lock lock(mu_);
  return inner_->ApplyLogBatch(range, events);
}

Result<std::vector<LogPosition>> LockedFeatureStore::Positions() const {
  return Read([&] { return inner_->Positions(); });
}

Result<ViewerFeaturesAt> LockedFeatureStore::Viewer(uint64_t viewer, int64_t as_of_ms) const {
  return Read([&] { return inner_->Viewer(viewer, as_of_ms); });
}

Result<ItemFeaturesAt> LockedFeatureStore::Item(uint64_t item, int64_t as_of_ms) const {
  return Read([&] { return inner_->Item(item, as_of_ms); });
}

int64_t LockedFeatureStore::watermark() const {
  return Read([&] { return inner_->watermark(); });
}

Result<bool> LockedFeatureStore::EraseViewer(uint64_t viewer) {
  std::unique_lock lock(mu_);
  return inner_->EraseViewer(viewer);
}

Result<bool> LockedFeatureStore::HoldsViewer(uint64_t viewer) const {
  return Read([&] { return inner_->HoldsViewer(viewer); });
}

EmbeddedFeatureStore* EmbeddedOf(FeatureStore* store) {
  if (auto* locked = dynamic_cast<LockedFeatureStore*>(store)) store = locked->inner();
  return dynamic_cast<EmbeddedFeatureStore*>(store);
}

}  // namespace watershed::recs
