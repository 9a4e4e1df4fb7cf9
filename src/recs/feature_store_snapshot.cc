// The embedded feature store's snapshot file (docs/recs.md, "Feature store"):
//   header (24 bytes): magic "WSFEATST", version u32 (2), body length u64,
//   CRC-32C of the body u32; body: config, watermark, the log positions
//   (sorted), the items, the viewers (each list sorted by id), little-endian
//   fixed width.
// The reader checks the header, the length and the CRC first, then every count
// against the bytes left and the configured bounds, so no input makes it
// allocate more than the file's size or read out of bounds.

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/crc32c.h"
#include "core/endian.h"
#include "core/event.h"
#include "recs/feature_store.h"
#include "recs/feature_store_codec.h"

namespace watershed::recs {
namespace {

constexpr char kMagic[8] = {'W', 'S', 'F', 'E', 'A', 'T', 'S', 'T'};
// Version 2 added the log positions after the watermark (version 1 files,
// written only by tests before the store ran online, are refused).
constexpr uint32_t kVersion = 2;
constexpr size_t kHeaderBytes = 24;

using codec::Reader;
using codec::Writer;

void PutKeyed(Writer* w, const std::vector<EmbeddedFeatureStore::Keyed>& entries) {
  w->U32(static_cast<uint32_t>(entries.size()));
  for (const auto& e : entries) {
    w->U64(e.key);
    w->Decayed(e.d);
  }
}

bool GetKeyed(Reader* r, uint32_t bound, int64_t watermark, std::vector<EmbeddedFeatureStore::Keyed>* out) {
  uint32_t n;
  // An entry is a key and a decayed count: 24 bytes; none allocated past the file's bytes.
  if (!r->U32(&n) || n > bound || n > r->left() / 24) return false;
  out->resize(n);
  std::vector<uint64_t> keys(n);
  for (uint32_t i = 0; i < n; ++i) {
    if (!r->U64(&(*out)[i].key) || !r->Decayed(&(*out)[i].d, watermark)) return false;
    keys[i] = (*out)[i].key;
  }
  std::sort(keys.begin(), keys.end());
  return std::adjacent_find(keys.begin(), keys.end()) == keys.end();  // no key twice
}

template <typename Map>
std::vector<typename Map::key_type> SortedKeys(const Map& m) {
  std::vector<typename Map::key_type> keys;
  keys.reserve(m.size());
  for (const auto& [k, v] : m) keys.push_back(k);
  std::sort(keys.begin(), keys.end());
  return keys;
}

}  // namespace

namespace codec {

bool Reader::Decayed(EmbeddedFeatureStore::Decayed* d, int64_t watermark) {
  return F64(&d->value) && I64(&d->at_ms) && std::isfinite(d->value) && d->value >= 0 &&
         (d->at_ms <= watermark || (d->at_ms == 0 && d->value == 0));
}

void PutItemState(Writer* w, const EmbeddedFeatureStore::ItemState& s) {
  w->I64(s.info.created_at_ms);
  w->U64(s.info.author);
  w->U32(static_cast<uint32_t>(s.info.tags.size()));
  for (uint32_t tag : s.info.tags) w->U32(tag);
  w->U64(s.popularity);
  w->Decayed(s.trending);
}

std::string GetItemState(Reader* r, int64_t watermark, EmbeddedFeatureStore::ItemState* s) {
  uint32_t tags;
  if (!r->I64(&s->info.created_at_ms) || !r->U64(&s->info.author) || !r->U32(&tags) || tags > kMaxItemTags)
    return "bad features";
  s->info.tags.resize(tags);
  for (uint32_t& tag : s->info.tags)
    if (!r->U32(&tag)) return "tags cut short";
  if (!r->U64(&s->popularity) || !r->Decayed(&s->trending, watermark)) return "bad counters";
  return "";
}

void PutViewerState(Writer* w, const EmbeddedFeatureStore::ViewerState& v) {
  w->U64(v.events);
  w->Decayed(v.day);
  w->Decayed(v.week);
  const size_t n = v.history.size();
  w->U32(static_cast<uint32_t>(n));
  for (size_t k = 0; k < n; ++k) {  // oldest first
    const HistoryEntry& h = v.history[(v.head + k) % n];
    w->U64(h.item);
    w->I64(h.time_ms);
  }
  PutKeyed(w, v.tags);
  PutKeyed(w, v.authors);
}

std::string GetViewerState(Reader* r, const FeatureStoreConfig& config, int64_t watermark,
                           EmbeddedFeatureStore::ViewerState* v) {
  uint32_t history;
  if (!r->U64(&v->events) || !r->Decayed(&v->day, watermark) || !r->Decayed(&v->week, watermark)) return "bad counters";
  if (!r->U32(&history) || history > config.history_length || history > v->events || history > r->left() / 16)
    return "bad history length";
  v->history.resize(history);
  // Not checked to ascend in time: the online path applies late events as the
  // latest (FeatureStore::ApplyLogBatch).
  for (size_t h = 0; h < history; ++h) {
    HistoryEntry& e = v->history[h];
    if (!r->U64(&e.item) || !r->I64(&e.time_ms) || e.time_ms > watermark)
      return "bad history entry " + std::to_string(h);
  }
  if (!GetKeyed(r, config.max_tag_affinities, watermark, &v->tags) ||
      !GetKeyed(r, config.max_author_affinities, watermark, &v->authors))
    return "bad affinities";
  return "";
}

}  // namespace codec

std::string EmbeddedFeatureStore::EncodeSnapshot() const {
  Writer w;
  w.U32(config_.history_length);
  w.U32(config_.max_tag_affinities);
  w.U32(config_.max_author_affinities);
  w.I64(config_.affinity_half_life_ms);
  w.I64(config_.trending_half_life_ms);
  w.I64(watermark_);
  w.U64(positions_.size());
  for (const auto& [key, next] : positions_) {
    w.U32(key.first);
    w.U32(key.second);
    w.U64(next);
  }
  w.U64(items_.size());
  for (uint64_t id : SortedKeys(items_)) {
    w.U64(id);
    codec::PutItemState(&w, items_.at(id));
  }
  w.U64(viewers_.size());
  for (uint64_t id : SortedKeys(viewers_)) {
    w.U64(id);
    codec::PutViewerState(&w, viewers_.at(id));
  }
  std::string out(kHeaderBytes, '\0');
  char* p = out.data();
  std::memcpy(p, kMagic, 8);
  p = PutFixed32(p + 8, kVersion);
  p = PutFixed64(p, w.out().size());
  PutFixed32(p, crc32c::Value(w.out()));
  return out + w.out();
}

Result<std::unique_ptr<EmbeddedFeatureStore>> EmbeddedFeatureStore::DecodeSnapshot(std::string_view bytes,
                                                                                   std::string_view name) {
  const std::string file(name);
  auto corrupt = [&](const std::string& why) { return Status::Corruption(file + ": feature-store snapshot " + why); };
  if (bytes.size() < kHeaderBytes)
    return corrupt("is truncated: " + std::to_string(bytes.size()) + " bytes, shorter than its " +
                   std::to_string(kHeaderBytes) + "-byte header");
  if (std::memcmp(bytes.data(), kMagic, 8) != 0) return corrupt("has the wrong magic: not a feature-store snapshot");
  const uint32_t version = GetFixed32(bytes.data() + 8);
  if (version != kVersion)
    return corrupt("has version " + std::to_string(version) + "; this build reads version " + std::to_string(kVersion));
  const uint64_t body_length = GetFixed64(bytes.data() + 12);
  const std::string_view body = bytes.substr(kHeaderBytes);
  if (body_length != body.size())
    return corrupt(body.size() < body_length
                       ? "is truncated: the header announces " + std::to_string(body_length) +
                             " body bytes, the file holds " + std::to_string(body.size())
                       : "has " + std::to_string(body.size() - body_length) + " bytes after its end");
  if (GetFixed32(bytes.data() + 20) != crc32c::Value(body)) return corrupt("is damaged: the body's CRC does not match");

  Reader r(body);
  FeatureStoreConfig config;
  int64_t watermark;
  if (!r.U32(&config.history_length) || !r.U32(&config.max_tag_affinities) || !r.U32(&config.max_author_affinities) ||
      !r.I64(&config.affinity_half_life_ms) || !r.I64(&config.trending_half_life_ms) || !r.I64(&watermark))
    return corrupt("is inconsistent: the configuration is cut short");
  if (Status s = ValidateFeatureStoreConfig(config); !s.ok()) return corrupt("is inconsistent: " + s.message());
  std::unique_ptr<EmbeddedFeatureStore> store(new EmbeddedFeatureStore(config));
  store->watermark_ = watermark;

  uint64_t n;
  if (!r.Count(&n, 16)) return corrupt("is inconsistent: bad log position count");
  for (uint64_t k = 0; k < n; ++k) {
    uint32_t region, partition;
    uint64_t next;
    if (!r.U32(&region) || !r.U32(&partition) || !r.U64(&next) || region >= kMaxRegions)
      return corrupt("is inconsistent at log position " + std::to_string(k) + ": bad region");
    const std::pair<uint8_t, uint32_t> key(region, partition);
    if (!store->positions_.empty() && !(store->positions_.rbegin()->first < key))
      return corrupt("is inconsistent at log position " + std::to_string(k) + ": partitions must ascend");
    store->positions_.emplace(key, next);
  }
  if (!r.Count(&n, 52)) return corrupt("is inconsistent: bad item count");
  uint64_t previous = 0;
  for (uint64_t k = 0; k < n; ++k) {
    uint64_t id;
    ItemState s;
    const std::string what = "is inconsistent at item " + std::to_string(k);
    if (!r.U64(&id) || (k > 0 && id <= previous)) return corrupt(what + ": ids must ascend");
    if (std::string why = codec::GetItemState(&r, watermark, &s); !why.empty()) return corrupt(what + ": " + why);
    store->items_.emplace(id, std::move(s));
    previous = id;
  }
  if (!r.Count(&n, 60)) return corrupt("is inconsistent: bad viewer count");
  for (uint64_t k = 0; k < n; ++k) {
    uint64_t id;
    ViewerState v;
    const std::string what = "is inconsistent at viewer " + std::to_string(k);
    if (!r.U64(&id) || (k > 0 && id <= previous)) return corrupt(what + ": ids must ascend");
    if (std::string why = codec::GetViewerState(&r, config, watermark, &v); !why.empty())
      return corrupt(what + ": " + why);
    store->viewers_.emplace(id, std::move(v));
    previous = id;
  }
  if (r.left() != 0) return corrupt("is inconsistent: " + std::to_string(r.left()) + " bytes after the viewers");
  return store;
}

Status EmbeddedFeatureStore::SaveSnapshot(FileSystem* fs, const std::string& path) const {
  return WriteFileAtomically(fs, path, EncodeSnapshot());
}

Result<std::unique_ptr<EmbeddedFeatureStore>> EmbeddedFeatureStore::Restore(FileSystem* fs, const std::string& path) {
  if (!fs->FileExists(path)) return Status::NotFound(path + ": no feature-store snapshot");
  ASSIGN_OR_RETURN(std::string bytes, ReadWholeFile(fs, path));
  return DecodeSnapshot(bytes, path);
}

}  // namespace watershed::recs
