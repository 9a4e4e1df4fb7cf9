#include "recs/candidates.h"

#include <algorithm>
#include <bit>
#include <map>
#include <unordered_set>

namespace watershed::recs {

namespace {

constexpr const char* kSourceName[kNumSources] = {"ann", "content", "trending", "fresh", "popular", "coviewed"};
constexpr int Bit(CandidateSource s) { return std::countr_zero(static_cast<unsigned>(s)); }

// A store answers only past its watermark.
int64_t ReadTime(const FeatureStore& store, int64_t want_ms) {
  const int64_t wm = store.watermark();
  return wm == INT64_MIN ? want_ms : std::max(want_ms, wm + 1);
}

// Sorts ids by value, highest first (ties: smaller id), and keeps at most n
// with a positive value.
std::vector<uint64_t> TopPositive(std::vector<std::pair<double, uint64_t>> scored, size_t n) {
  std::erase_if(scored, [](const auto& p) { return !(p.first > 0); });
  auto better = [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  };
  if (scored.size() > n) {
    std::nth_element(scored.begin(), scored.begin() + n, scored.end(), better);
    scored.resize(n);
  }
  std::sort(scored.begin(), scored.end(), better);
  std::vector<uint64_t> out;
  out.reserve(scored.size());
  for (const auto& p : scored) out.push_back(p.second);
  return out;
}

// The candidates of one request: dedup, exclusion, per-source counts.
class Collector {
 public:
  Collector(const CandidateConfig& config, std::unordered_set<uint64_t> excluded, CandidateSet* out)
      : config_(config), excluded_(std::move(excluded)), out_(out) {
    out_->candidates.reserve(config.total);
    index_.reserve(config.total);
  }
  bool full() const { return out_->candidates.size() >= config_.total; }
  bool Excluded(uint64_t item) const { return excluded_.count(item) > 0; }

  // Proposes `item` for `source`; false (not counted) when it is excluded, or
  // new while there is no room left; a known item gains the source's tag.
  bool Propose(uint64_t item, CandidateSource source, float ann_score = 0) {
    if (Excluded(item)) {
      ++out_->excluded;
      return false;
    }
    auto it = index_.find(item);
    if (it == index_.end()) {
      if (full()) return false;
      it = index_.emplace(item, out_->candidates.size()).first;
      out_->candidates.push_back({.item = item});
    }
    ++out_->proposed[Bit(source)];
    Candidate& c = out_->candidates[it->second];
    c.sources |= source;
    if (source == kSourceAnn) c.ann_score = ann_score;
    return true;
  }
  // Proposes items of `list` in order until `quota` are counted or the list
  // ends.
  void FromList(const std::vector<uint64_t>& list, CandidateSource source, uint32_t quota) {
    uint32_t taken = 0;
    for (size_t i = 0; i < list.size() && taken < quota && !full(); ++i) taken += Propose(list[i], source);
  }
  // Popular past its quota: fills up to `total` with items not yet candidates.
  void Fill(const std::vector<uint64_t>& list) {
    for (size_t i = 0; i < list.size() && !full(); ++i)
      if (!index_.count(list[i])) Propose(list[i], kSourcePopular);
  }

 private:
  const CandidateConfig& config_;
  std::unordered_set<uint64_t> excluded_;
  CandidateSet* out_;
  std::unordered_map<uint64_t, size_t> index_;
};

}  // namespace

std::string SourceNames(uint8_t sources) {
  std::string out;
  for (int b = 0; b < kNumSources; ++b)
    if (sources & (1u << b)) out += (out.empty() ? "" : "+") + std::string(kSourceName[b]);
  return out;
}

Status ValidateCandidateConfig(const CandidateConfig& c) {
  if (c.total == 0) return Status::InvalidArgument("candidates: total must be positive");
  if (c.fresh_window_ms <= 0) return Status::InvalidArgument("candidates: fresh_window_ms must be positive");
  if (c.pool_list_length == 0) return Status::InvalidArgument("candidates: pool_list_length must be positive");
  return Status::Ok();
}

Result<std::shared_ptr<const CandidatePool>> CandidatePool::Build(
    const std::vector<CatalogItem>& items, const std::vector<std::pair<uint8_t, const FeatureStore*>>& regions,
    int64_t as_of_ms, const CandidateConfig& config, const PoolSignals& signals) {
  RETURN_IF_ERROR(ValidateCandidateConfig(config));
  std::shared_ptr<CandidatePool> pool(new CandidatePool());
  pool->items_ = items;
  pool->as_of_ms_ = as_of_ms;
  const size_t n = items.size();
  for (size_t i = 0; i < n; ++i)
    if (!pool->by_id_.emplace(items[i].id, static_cast<uint32_t>(i)).second)
      return Status::InvalidArgument("candidate pool: item " + std::to_string(items[i].id) + " is listed twice");

  std::vector<double> total_trending(n, 0), total_popularity(n, 0);
  for (const auto& [region, store] : regions) {
    const int64_t t = ReadTime(*store, as_of_ms);
    std::vector<std::pair<double, uint64_t>> trending(n), popular(n);
    for (size_t i = 0; i < n; ++i) {
      ASSIGN_OR_RETURN(ItemFeaturesAt f, store->Item(items[i].id, t));
      trending[i] = {f.trending, items[i].id};
      popular[i] = {static_cast<double>(f.popularity), items[i].id};
      total_trending[i] += f.trending;
      total_popularity[i] += static_cast<double>(f.popularity);
    }
    pool->regions_[region] = {TopPositive(std::move(trending), config.pool_list_length),
                              TopPositive(std::move(popular), config.pool_list_length)};
  }
  std::vector<std::pair<double, uint64_t>> trending(n), popular(n);
  for (size_t i = 0; i < n; ++i) {
    trending[i] = {total_trending[i], items[i].id};
    popular[i] = {total_popularity[i], items[i].id};
  }
  pool->regions_[kAllRegions] = {TopPositive(std::move(trending), config.pool_list_length),
                                 TopPositive(std::move(popular), config.pool_list_length)};
  if (signals.regional != nullptr) {
    for (auto& [region, activity] : signals.regional->Read(as_of_ms)) {
      if (region == kAllRegions) continue;
      std::vector<std::pair<double, uint64_t>> t, p;
      for (const RegionalTrending::ItemActivity& a : activity) {
        if (!pool->by_id_.count(a.item)) continue;  // not (or no longer) in the catalogue
        t.emplace_back(a.trending, a.item);
        p.emplace_back(static_cast<double>(a.events), a.item);
      }
      pool->regions_[region] = {TopPositive(std::move(t), config.pool_list_length),
                                TopPositive(std::move(p), config.pool_list_length)};
    }
  }
  pool->coviews_ = signals.coviews;

  // The inverted lists, most popular first, so content_per_key reads the items
  // most likely to be watched.
  std::vector<uint32_t> order(n);
  for (uint32_t i = 0; i < n; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return total_popularity[a] != total_popularity[b] ? total_popularity[a] > total_popularity[b]
                                                      : items[a].id < items[b].id;
  });
  for (uint32_t i : order) {
    const ItemInfo& info = items[i].info;
    if (info.author != 0) pool->by_author_[info.author].push_back(i);
    for (uint32_t tag : info.tags) pool->by_tag_[tag].push_back(i);
    if (info.created_at_ms > 0) pool->newest_.push_back(i);
  }
  std::stable_sort(pool->newest_.begin(), pool->newest_.end(),
                   [&](uint32_t a, uint32_t b) { return items[a].info.created_at_ms > items[b].info.created_at_ms; });
  return std::shared_ptr<const CandidatePool>(std::move(pool));
}

const CandidatePool::Lists& CandidatePool::Region(uint8_t region) const {
  auto it = regions_.find(region);
  return it != regions_.end() ? it->second : regions_.at(kAllRegions);
}

const CatalogItem* CandidatePool::Find(uint64_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &items_[it->second];
}

const std::vector<uint32_t>& CandidatePool::ByAuthor(uint64_t author) const {
  static const std::vector<uint32_t> kNone;
  auto it = by_author_.find(author);
  return it == by_author_.end() ? kNone : it->second;
}

const std::vector<uint32_t>& CandidatePool::ByTag(uint32_t tag) const {
  static const std::vector<uint32_t> kNone;
  auto it = by_tag_.find(tag);
  return it == by_tag_.end() ? kNone : it->second;
}

namespace {

// `content`: items sharing an author or a tag with the user's latest items,
// scored by how many of those items they share one with (an author counts
// twice: a stronger signal than a genre), ties by the lists' popularity order.
std::vector<uint64_t> ContentItems(const CandidatePool& pool, const std::vector<HistoryEntry>& history,
                                   const CandidateConfig& config) {
  std::map<uint64_t, double> authors;
  std::map<uint32_t, double> tags;
  for (size_t i = 0; i < history.size() && i < config.content_recent; ++i) {
    const CatalogItem* item = pool.Find(history[i].item);
    if (item == nullptr) continue;
    if (item->info.author != 0) authors[item->info.author] += 2;
    for (uint32_t tag : item->info.tags) tags[tag] += 1;
  }
  std::unordered_map<uint32_t, std::pair<double, uint32_t>> score;  // catalogue index -> (score, first seen rank)
  uint32_t rank = 0;
  auto add = [&](const std::vector<uint32_t>& list, double w) {
    for (size_t i = 0; i < list.size() && i < config.content_per_key; ++i) {
      auto [it, added] = score.try_emplace(list[i], 0.0, rank);
      it->second.first += w;
      rank += added;
    }
  };
  for (const auto& [author, w] : authors) add(pool.ByAuthor(author), w);
  for (const auto& [tag, w] : tags) add(pool.ByTag(tag), w);
  std::vector<std::pair<uint32_t, std::pair<double, uint32_t>>> ranked(score.begin(), score.end());
  std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
    return a.second.first != b.second.first ? a.second.first > b.second.first : a.second.second < b.second.second;
  });
  std::vector<uint64_t> out;
  out.reserve(ranked.size());
  for (const auto& r : ranked) out.push_back(pool.At(r.first).id);
  return out;
}

// `coviewed`: the neighbours of the user's latest items, interleaved by rank (the first neighbour of each recent
// item, then the second, ...) so one item's neighbours do not crowd out the others'; most recent item first.
std::vector<uint64_t> CoViewedItems(const CoViewIndex& coviews, const std::vector<HistoryEntry>& history,
                                    const CandidateConfig& config) {
  std::vector<const std::vector<uint64_t>*> lists;
  size_t longest = 0;
  for (size_t i = 0; i < history.size() && i < config.content_recent; ++i) {
    lists.push_back(&coviews.Neighbours(history[i].item));
    longest = std::max(longest, lists.back()->size());
  }
  std::vector<uint64_t> out;
  std::unordered_set<uint64_t> listed;
  for (size_t r = 0; r < longest; ++r)
    for (const auto* list : lists)
      if (r < list->size() && listed.insert((*list)[r]).second) out.push_back((*list)[r]);
  return out;
}

}  // namespace

Result<CandidateSet> CandidateGenerator::Generate(const CandidateRequest& request) const {
  const std::shared_ptr<const CandidatePool> pool = pool_.load();
  if (pool == nullptr) return Status::FailedPrecondition("candidates: no candidate pool yet");
  const std::shared_ptr<const AnnIndex> index = index_.load();
  if (index != nullptr && !request.user_vector.empty() && request.user_vector.size() != index->dim())
    return Status::InvalidArgument("candidates: a user vector of " + std::to_string(request.user_vector.size()) +
                                   " floats, the index has " + std::to_string(index->dim()));
  const CandidateConfig& config = request.config ? *request.config : config_;
  ASSIGN_OR_RETURN(ViewerFeaturesAt viewer, viewers_->Viewer(request.user, ReadTime(*viewers_, request.now_ms)));

  std::unordered_set<uint64_t> excluded(request.seen.begin(), request.seen.end());
  excluded.insert(request.blocked.begin(), request.blocked.end());
  for (const HistoryEntry& h : viewer.history) excluded.insert(h.item);
  const size_t num_excluded = excluded.size();

  CandidateSet out;
  Collector c(config, std::move(excluded), &out);
  const CandidatePool::Lists& lists = pool->Region(request.region);
  const CandidatePool::Lists& everywhere = pool->Region(kAllRegions);
  if (viewer.history.empty()) {
    out.cold_start = true;
    c.FromList(lists.trending, kSourceTrending, config.cold_start_trending);
    c.Fill(lists.popular);
    c.Fill(everywhere.popular);  // a region with few items of its own
    return out;
  }
  if (index != nullptr && !request.user_vector.empty() && config.ann > 0) {
    // Room for excluded items among the nearest, bounded so a long seen list cannot make the query unbounded.
    ASSIGN_OR_RETURN(std::vector<AnnHit> hits,
                     index->Query(request.user_vector, config.ann + std::min<size_t>(num_excluded, config.ann)));
    uint32_t taken = 0;
    for (size_t i = 0; i < hits.size() && taken < config.ann && !c.full(); ++i)
      taken += c.Propose(hits[i].item, kSourceAnn, hits[i].score);
  }
  if (config.content > 0) c.FromList(ContentItems(*pool, viewer.history, config), kSourceContent, config.content);
  if (config.coviewed > 0 && pool->coviews() != nullptr)
    c.FromList(CoViewedItems(*pool->coviews(), viewer.history, config), kSourceCoViewed, config.coviewed);
  c.FromList(lists.trending, kSourceTrending, config.trending);
  {
    const int64_t cutoff = request.now_ms - config.fresh_window_ms;
    uint32_t taken = 0;
    for (uint32_t i : pool->Newest()) {
      const CatalogItem& item = pool->At(i);
      if (item.info.created_at_ms < cutoff || taken >= config.fresh || c.full()) break;
      if (item.info.created_at_ms <= request.now_ms) taken += c.Propose(item.id, kSourceFresh);
    }
  }
  c.FromList(lists.popular, kSourcePopular, config.popular);
  c.Fill(lists.popular);
  c.Fill(everywhere.popular);
  return out;
}

}  // namespace watershed::recs
