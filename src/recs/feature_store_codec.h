#pragma once
// Internal to the feature store: the fixed-width little-endian encoding of one
// item's and one viewer's state, shared by the snapshot file
// (feature_store_snapshot.cc) and the Redis backend's values
// (feature_store_redis.cc), so both hold the same bytes for the same state.

#include <cstring>
#include <string>
#include <string_view>

#include "recs/feature_store.h"

namespace watershed::recs::codec {

class Writer {
 public:
  void U32(uint32_t v) { Put(&v, 4); }
  void U64(uint64_t v) { Put(&v, 8); }
  void I64(int64_t v) { Put(&v, 8); }
  void F64(double v) { Put(&v, 8); }
  void Decayed(const EmbeddedFeatureStore::Decayed& d) {
    F64(d.value);
    I64(d.at_ms);
  }
  std::string& out() { return out_; }

 private:
  void Put(const void* p, size_t n) { out_.append(static_cast<const char*>(p), n); }
  std::string out_;
};

// Reads fields in order; a failed read leaves the position where it was.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool U32(uint32_t* v) { return Get(v, 4); }
  bool U64(uint64_t* v) { return Get(v, 8); }
  bool I64(int64_t* v) { return Get(v, 8); }
  bool F64(double* v) { return Get(v, 8); }
  // A decayed value: finite, non-negative, and not updated after the watermark
  // (or never updated: 0 at 0).
  bool Decayed(EmbeddedFeatureStore::Decayed* d, int64_t watermark);
  // A count of records of at least `min_bytes` each that fit in what is left.
  bool Count(uint64_t* n, size_t min_bytes) { return U64(n) && *n <= left() / min_bytes; }
  size_t left() const { return in_.size() - pos_; }

 private:
  bool Get(void* v, size_t n) {
    if (left() < n) return false;
    std::memcpy(v, in_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  std::string_view in_;
  size_t pos_ = 0;
};

void PutItemState(Writer* w, const EmbeddedFeatureStore::ItemState& s);
// Empty on success, else what is wrong ("bad features", ...).
std::string GetItemState(Reader* r, int64_t watermark, EmbeddedFeatureStore::ItemState* s);
// The history oldest first, so a decoded state has head 0.
void PutViewerState(Writer* w, const EmbeddedFeatureStore::ViewerState& v);
std::string GetViewerState(Reader* r, const FeatureStoreConfig& config, int64_t watermark,
                           EmbeddedFeatureStore::ViewerState* v);

}  // namespace watershed::recs::codec
