#include "recs/feature_store.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

namespace watershed::recs {

// The fixed parts of the per-key memory stated in the header.
static_assert(sizeof(EmbeddedFeatureStore::ViewerState) <= 128);
static_assert(sizeof(EmbeddedFeatureStore::ItemState) <= 64);
static_assert(sizeof(EmbeddedFeatureStore::Keyed) == 24);
static_assert(sizeof(HistoryEntry) == 16);

Status ValidateFeatureStoreConfig(const FeatureStoreConfig& c) {
  for (uint32_t bound : {c.history_length, c.max_tag_affinities, c.max_author_affinities})
    if (bound == 0 || bound > kMaxConfiguredBound)
      return Status::InvalidArgument("feature store: history_length and affinity bounds must be in 1.." +
                                     std::to_string(kMaxConfiguredBound));
  if (c.affinity_half_life_ms <= 0 || c.trending_half_life_ms <= 0)
    return Status::InvalidArgument("feature store: half-lives must be positive");
  return Status::Ok();
}

namespace {

// Grows a bounded vector's capacity without passing the bound (so the memory
// stated in the header holds).
template <typename T>
void ReserveOneMore(std::vector<T>* v, uint32_t bound) {
  if (v->size() == v->capacity()) v->reserve(std::min<size_t>(bound, std::max<size_t>(4, 2 * v->capacity())));
}

std::vector<Affinity> Ranked(const std::vector<EmbeddedFeatureStore::Keyed>& entries, int64_t t, int64_t half_life) {
  std::vector<Affinity> out;
  out.reserve(entries.size());
  for (const auto& e : entries) out.push_back({e.key, e.d.At(t, half_life)});
  std::sort(out.begin(), out.end(), [](const Affinity& a, const Affinity& b) {
    return a.value != b.value ? a.value > b.value : a.key < b.key;
  });
  return out;
}

}  // namespace

double EmbeddedFeatureStore::Decayed::At(int64_t t_ms, int64_t half_life_ms) const {
  if (t_ms <= at_ms) return value;
  // In double: a restored snapshot may hold any times, and their difference
  // must not overflow.
  const double elapsed = static_cast<double>(t_ms) - static_cast<double>(at_ms);
  return value * std::exp2(-elapsed / static_cast<double>(half_life_ms));
}

void EmbeddedFeatureStore::Decayed::Add(double amount, int64_t t_ms, int64_t half_life_ms) {
  if (t_ms >= at_ms || value == 0) {
    value = At(t_ms, half_life_ms) + amount;
    at_ms = std::max(at_ms, t_ms);
    return;
  }
  // A late event (online path): its amount decayed from its time to at_ms, so
  // the value does not depend on the order events arrive in.
  value +=
      amount * std::exp2(-(static_cast<double>(at_ms) - static_cast<double>(t_ms)) / static_cast<double>(half_life_ms));
}

Result<std::unique_ptr<EmbeddedFeatureStore>> EmbeddedFeatureStore::Create(const FeatureStoreConfig& config) {
  RETURN_IF_ERROR(ValidateFeatureStoreConfig(config));
  return std::unique_ptr<EmbeddedFeatureStore>(new EmbeddedFeatureStore(config));
}

Status EmbeddedFeatureStore::PutItem(uint64_t item, const ItemInfo& info) {
  ItemInfo& stored = items_[item].info;
  stored.created_at_ms = info.created_at_ms;
  stored.author = info.author;
  stored.tags.clear();
  for (uint32_t tag : info.tags) {
    if (stored.tags.size() == kMaxItemTags) break;
    if (std::find(stored.tags.begin(), stored.tags.end(), tag) == stored.tags.end()) stored.tags.push_back(tag);
  }
  stored.tags.shrink_to_fit();
  return Status::Ok();
}

void EmbeddedFeatureStore::Bump(std::vector<Keyed>* entries, uint32_t bound, uint64_t key, double amount,
                                int64_t t_ms) const {
  const int64_t half_life = config_.affinity_half_life_ms;
  for (Keyed& e : *entries)
    if (e.key == key) return e.d.Add(amount, t_ms, half_life);
  if (entries->size() < bound) {
    ReserveOneMore(entries, bound);
    entries->push_back({key, {amount, t_ms}});
    return;
  }
  // Full: the weakest entry as of now makes room (the first of equals). One decay per entry.
  auto weakest = entries->begin();
  double weakest_value = weakest->d.At(t_ms, half_life);
  for (auto e = entries->begin() + 1; e != entries->end(); ++e)
    if (const double value = e->d.At(t_ms, half_life); value < weakest_value) weakest = e, weakest_value = value;
  *weakest = {key, {amount, t_ms}};
}

static Status CheckWeight(const FeatureEvent& event) {
  if (!std::isfinite(event.weight) || event.weight < 0)
    return Status::InvalidArgument("feature store: event weight must be finite and non-negative");
  return Status::Ok();
}

Status EmbeddedFeatureStore::Apply(const FeatureEvent& event) {
  if (event.time_ms < watermark_)
    return Status::InvalidArgument("feature store: event at " + std::to_string(event.time_ms) +
                                   " ms is older than one applied already (" + std::to_string(watermark_) +
                                   " ms); events must be applied in time order");
  RETURN_IF_ERROR(CheckWeight(event));
  ApplyAt(event);
  EvictViewers();
  return Status::Ok();
}

void EmbeddedFeatureStore::ApplyAt(const FeatureEvent& event) {
  watermark_ = std::max(watermark_, event.time_ms);
  const int64_t t = event.time_ms;

  ItemState& item = items_[event.item];
  if (item.info.author == 0) item.info.author = event.author;
  ++item.popularity;
  item.trending.Add(1, t, config_.trending_half_life_ms);

  ViewerState& v = viewers_[event.viewer];
  if (v.history.size() < config_.history_length) {
    ReserveOneMore(&v.history, config_.history_length);
    v.history.push_back({event.item, t});
  } else {
    v.history[v.head] = {event.item, t};
    v.head = (v.head + 1) % config_.history_length;
  }
  for (uint32_t tag : item.info.tags) Bump(&v.tags, config_.max_tag_affinities, tag, event.weight, t);
  if (item.info.author != 0) Bump(&v.authors, config_.max_author_affinities, item.info.author, event.weight, t);
  v.day.Add(1, t, kActivityDayHalfLifeMs);
  v.week.Add(1, t, kActivityWeekHalfLifeMs);
  ++v.events;
}

void EmbeddedFeatureStore::EvictViewers() {
  const uint64_t bound = config_.max_viewers;
  if (bound == 0 || viewers_.size() <= bound) return;
  std::vector<std::pair<int64_t, uint64_t>> by_age;  // (last active, id): the first ones go
  by_age.reserve(viewers_.size());
  for (const auto& [id, v] : viewers_) by_age.push_back({v.last_active_ms(), id});
  const size_t evict = viewers_.size() - ViewersAfterEviction(bound);
  std::nth_element(by_age.begin(), by_age.begin() + static_cast<ptrdiff_t>(evict - 1), by_age.end());
  for (size_t i = 0; i < evict; ++i) viewers_.erase(by_age[i].second);
  evicted_viewers_ += evict;
}

Status EmbeddedFeatureStore::ApplyLogBatch(const LogRange& range, const std::vector<FeatureEvent>& events) {
  const std::pair<uint8_t, uint32_t> key(range.region, range.partition);
  auto stored = positions_.find(key);
  const uint64_t position = stored == positions_.end() ? 0 : stored->second;
  if (position != range.from_offset)
    return Status::Fenced("feature store: log " + std::to_string(range.region) + "/" + std::to_string(range.partition) +
                          " is at offset " + std::to_string(position) + ", not " + std::to_string(range.from_offset));
  if (range.next_offset < range.from_offset)
    return Status::InvalidArgument("feature store: a log range ends before it begins");
  for (const FeatureEvent& e : events) RETURN_IF_ERROR(CheckWeight(e));
  for (const FeatureEvent& e : events) ApplyAt(e);
  positions_[key] = range.next_offset;
  EvictViewers();
  return Status::Ok();
}

Result<std::vector<LogPosition>> EmbeddedFeatureStore::Positions() const {
  std::vector<LogPosition> out;
  for (const auto& [key, next] : positions_)
    if (next != 0) out.push_back({key.first, key.second, next});
  return out;
}

static Status CheckAsOf(int64_t as_of_ms, int64_t watermark) {
  if (as_of_ms > watermark) return Status::Ok();
  return Status::FailedPrecondition("feature store: features as of " + std::to_string(as_of_ms) +
                                    " ms asked after an event at " + std::to_string(watermark) +
                                    " ms was applied (they would count events at or after that time)");
}

Result<ViewerFeaturesAt> EmbeddedFeatureStore::Viewer(uint64_t viewer, int64_t as_of_ms) const {
  RETURN_IF_ERROR(CheckAsOf(as_of_ms, watermark_));
  ViewerFeaturesAt out;
  auto it = viewers_.find(viewer);
  if (it == viewers_.end()) return out;
  const ViewerState& v = it->second;
  const size_t n = v.history.size();
  out.history.reserve(n);
  for (size_t k = 0; k < n; ++k) out.history.push_back(v.history[(v.head + n - 1 - k) % n]);
  out.tag_affinity = Ranked(v.tags, as_of_ms, config_.affinity_half_life_ms);
  out.author_affinity = Ranked(v.authors, as_of_ms, config_.affinity_half_life_ms);
  out.activity_day = v.day.At(as_of_ms, kActivityDayHalfLifeMs);
  out.activity_week = v.week.At(as_of_ms, kActivityWeekHalfLifeMs);
  out.events = v.events;
  return out;
}

Result<ItemFeaturesAt> EmbeddedFeatureStore::Item(uint64_t item, int64_t as_of_ms) const {
  RETURN_IF_ERROR(CheckAsOf(as_of_ms, watermark_));
  ItemFeaturesAt out;
  auto it = items_.find(item);
  if (it == items_.end()) return out;
  const ItemState& s = it->second;
  out.popularity = s.popularity;
  out.trending = s.trending.At(as_of_ms, config_.trending_half_life_ms);
  out.created_at_ms = s.info.created_at_ms;
  if (s.info.created_at_ms != 0 && __builtin_sub_overflow(as_of_ms, s.info.created_at_ms, &out.age_ms))
    out.age_ms = as_of_ms > 0 ? INT64_MAX : INT64_MIN;  // only from nonsense times; saturate rather than wrap
  out.author = s.info.author;
  out.tags = s.info.tags;
  return out;
}

Status ReplayWithFeatures(
    FeatureStore* store, const std::vector<FeatureEvent>& events,
    const std::function<void(size_t, const ViewerFeaturesAt&, const ItemFeaturesAt&)>& on_example) {
  for (size_t i = 1; i < events.size(); ++i)
    if (events[i].time_ms < events[i - 1].time_ms)
      return Status::InvalidArgument("feature replay: events must be sorted by time; event " + std::to_string(i) +
                                     " is older than the one before it");
  for (size_t begin = 0; begin < events.size();) {
    const int64_t t = events[begin].time_ms;
    size_t end = begin;
    while (end < events.size() && events[end].time_ms == t) ++end;
    // Every example of time t is taken before any event of time t is applied.
    for (size_t i = begin; i < end; ++i) {
      ASSIGN_OR_RETURN(ViewerFeaturesAt viewer, store->Viewer(events[i].viewer, t));
      ASSIGN_OR_RETURN(ItemFeaturesAt item, store->Item(events[i].item, t));
      on_example(i, viewer, item);
    }
    for (size_t i = begin; i < end; ++i) RETURN_IF_ERROR(store->Apply(events[i]));
    begin = end;
  }
  return Status::Ok();
}

Status PutDatasetItems(const Dataset& data, FeatureStore* store) {
  for (uint32_t i = 0; i < data.features.size(); ++i) {
    const ItemFeatures& f = data.features[i];
    ItemInfo info;
    info.created_at_ms = f.created_at * 1000;
    info.tags = f.tags;
    uint64_t author = 0;
    const char* end = f.author.data() + f.author.size();
    if (auto [p, ec] = std::from_chars(f.author.data(), end, author); ec != std::errc() || p != end) author = 0;
    info.author = author;
    RETURN_IF_ERROR(store->PutItem(i, info));
  }
  return Status::Ok();
}

FeatureEvent ToFeatureEvent(const Interaction& x) { return {x.user, x.item, x.timestamp * 1000, x.weight}; }

}  // namespace watershed::recs
