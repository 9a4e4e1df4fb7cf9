#include "stream/viewer_set.h"

#include <algorithm>
#include <vector>

#include "core/endian.h"
#include "stream/varint.h"

namespace watershed::stream {
bool ViewerSet::Insert(const HashKey& key, uint64_t v, uint64_t h) {
  if (v == 0) {
    bool fresh = !has_zero_;
    has_zero_ = true;
    return fresh;
  }
  if ((size_ + 1) * 2 > capacity_) Grow(key);
  const uint32_t mask = capacity_ - 1;
  for (uint32_t i = Slot(h);; i = (i + 1) & mask) {
    if (slots_[i] == v) return false;
    if (slots_[i] == 0) {
      slots_[i] = v;
      ++size_;
      return true;
    }
  }
}

void ViewerSet::Grow(const HashKey& key) {
  uint32_t old_capacity = capacity_;
  auto old = std::move(slots_);
  capacity_ = capacity_ == 0 ? 4 : capacity_ * 2;
  slots_ = AllocateZeroed<uint64_t>(capacity_);
  const uint32_t mask = capacity_ - 1;
  for (uint32_t k = 0; k < old_capacity; ++k) {
    uint64_t v = old[k];
    if (v == 0) continue;
    uint32_t i = Slot(Hash(key, v));
    while (slots_[i] != 0) i = (i + 1) & mask;
    slots_[i] = v;
  }
}

size_t ViewerSet::MaxProbeLength(const HashKey& key) const {
  size_t longest = 0;
  for (uint32_t k = 0; k < capacity_; ++k)
    if (slots_[k] != 0) longest = std::max<size_t>(longest, ((k - Slot(Hash(key, slots_[k]))) & (capacity_ - 1)) + 1);
  return longest;
}

void ViewerSet::Clear() {
  slots_.reset();
  capacity_ = size_ = 0;
  has_zero_ = false;
}

bool ViewerSet::Replace(const HashKey& key, uint64_t v, uint64_t stand_in) {
  const bool zero = has_zero_;
  std::vector<uint64_t> ids = Sorted();
  auto it = std::lower_bound(ids.begin(), ids.end(), v);
  if (v == 0 ? !zero : (it == ids.end() || *it != v)) return false;
  Clear();
  for (uint64_t id : ids)
    if (id != v) Insert(key, id);
  if (zero && v != 0) Insert(key, 0);
  Insert(key, stand_in);
  return true;
}

bool ViewerSet::Holds(uint64_t v) const {
  if (v == 0) return has_zero_;
  for (uint32_t i = 0; i < capacity_; ++i)
    if (slots_[i] == v) return true;
  return false;
}

void ViewerSet::Serialize(std::string* out) const {
  char buf[8];
  PutFixed64(buf, size());
  out->append(buf, 8);
  if (has_zero_) out->append(8, '\0');
  // Ascending, not slot order: slot order depends on insertion history, and
  // equal sets must serialize to equal bytes (deterministic checkpoints).
  for (uint64_t v : Sorted()) {
    PutFixed64(buf, v);
    out->append(buf, 8);
  }
}

std::vector<uint64_t> ViewerSet::Sorted() const {
  std::vector<uint64_t> ids;
  ids.reserve(size_);
  for (uint32_t k = 0; k < capacity_; ++k)
    if (slots_[k] != 0) ids.push_back(slots_[k]);
  std::sort(ids.begin(), ids.end());
  return ids;
}

void ViewerSet::SerializeCompact(std::string* out) const {
  PutVarint64(out, size());
  uint64_t prev = 0;
  if (has_zero_) PutVarint64(out, 0);
  for (uint64_t v : Sorted()) {
    PutVarint64(out, v - prev);
    prev = v;
  }
}

Status ViewerSet::RestoreCompact(const HashKey& key, std::string_view* in) {
  Clear();
  uint64_t n = 0;
  if (!GetVarint64(in, &n)) return Status::Corruption("viewer set truncated");
  if (n > in->size()) return Status::Corruption("viewer set truncated");  // at least a byte each
  uint64_t prev = 0;
  for (uint64_t k = 0; k < n; ++k) {
    uint64_t gap = 0;
    if (!GetVarint64(in, &gap)) return Status::Corruption("viewer set truncated");
    // Ascending and distinct: only the first id may repeat 0 (as a gap of 0).
    if ((k > 0 && gap == 0) || gap > UINT64_MAX - prev) return Status::Corruption("viewer set is not ascending");
    prev += gap;
    Insert(key, prev);
  }
  return Status::Ok();
}

Status ViewerSet::Restore(const HashKey& key, std::string_view* in) {
  Clear();
  if (in->size() < 8) return Status::Corruption("viewer set truncated");
  uint64_t n = GetFixed64(in->data());
  in->remove_prefix(8);
  if (in->size() / 8 < n) return Status::Corruption("viewer set truncated");
  for (uint64_t k = 0; k < n; ++k) Insert(key, GetFixed64(in->data() + k * 8));
  in->remove_prefix(n * 8);
  if (size() != n) return Status::Corruption("viewer set has repeated ids");
  return Status::Ok();
}

}  // namespace watershed::stream
