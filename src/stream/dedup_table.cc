#include "stream/dedup_table.h"

#include <algorithm>

#include "core/endian.h"

namespace watershed::stream {
namespace {
constexpr uint32_t kEmpty = UINT32_MAX;
constexpr int64_t kDummy = INT64_MIN;  // ring filler for the one sequence number kEmpty would alias
}  // namespace

size_t DedupTable::Find(const Entry& key, uint64_t hash) const {
  const size_t mask = index_.size() - 1;
  for (size_t i = hash & mask; index_[i] != kEmpty; i = (i + 1) & mask) {
    const Entry& e = Named(index_[i]);
    if (e.hi == key.hi && e.lo == key.lo && e.viewer == key.viewer) return i;
  }
  return SIZE_MAX;
}

bool DedupTable::Seen(const EventId& id, ViewerId viewer, int64_t append_ms) const {
  if (index_.empty()) return false;
  const Entry key{id.Hi(), id.Lo(), viewer.value, 0};
  const size_t slot = Find(key, Hash(key));
  return slot != SIZE_MAX && Named(index_[slot]).append_ms >= append_ms - ttl_ms_;
}

bool DedupTable::SeenOrInsert(const EventId& id, ViewerId viewer, int64_t append_ms) {
  if (index_.empty()) Rehash(64);
  const Entry fresh{id.Hi(), id.Lo(), viewer.value, append_ms};
  const uint64_t hash = Hash(fresh);
  const size_t slot = Find(fresh, hash);
  if (slot != SIZE_MAX && Named(index_[slot]).append_ms >= append_ms - ttl_ms_) return true;
  Insert(fresh, hash, slot);  // new, or expired: a fresh first sighting
  return false;
}

void DedupTable::Insert(const Entry& entry, uint64_t hash, size_t replace_slot) {
  // Rehashed before the entry enters the ring: Rehash indexes what the ring holds.
  if (replace_slot == SIZE_MAX && (used_slots_ + 1) * 2 > index_.size()) Rehash(index_.size() * 2);
  if (ring_.empty()) ring_.resize(64);
  if (static_cast<uint32_t>(tail_) == kEmpty) {  // skip the aliasing sequence number
    if (tail_ - head_ == ring_.size()) GrowRing();
    At(tail_++) = {0, 0, 0, kDummy};
  }
  if (tail_ - head_ == ring_.size()) GrowRing();
  uint64_t seq = tail_++;
  At(seq) = entry;
  if (replace_slot != SIZE_MAX) {
    index_[replace_slot] = static_cast<uint32_t>(seq);
    ++unindexed_;  // the entry the slot named
    return;
  }
  const size_t mask = index_.size() - 1;
  size_t i = hash & mask;
  while (index_[i] != kEmpty) i = (i + 1) & mask;
  index_[i] = static_cast<uint32_t>(seq);
  ++used_slots_;
}

void DedupTable::GrowRing() {
  std::vector<Entry, HugePageAllocator<Entry>> bigger(ring_.size() * 2);
  for (uint64_t seq = head_; seq < tail_; ++seq) bigger[seq & (bigger.size() - 1)] = At(seq);
  ring_.swap(bigger);
}

void DedupTable::Rehash(size_t slots) {
  std::vector<uint32_t, HugePageAllocator<uint32_t>> old(slots, kEmpty);
  old.swap(index_);
  const size_t mask = index_.size() - 1;
  auto place = [&](uint64_t hash, uint32_t s) {
    size_t i = hash & mask;
    while (index_[i] != kEmpty) i = (i + 1) & mask;
    index_[i] = s;
  };
  if (unindexed_ == 0) {
    // Every entry of the ring is indexed: read it in order (sequential memory)
    // rather than following the old index into the ring (a cache miss each),
    // hashing kAhead entries early to prefetch their index slots.
    constexpr uint64_t kAhead = 16;
    uint64_t hashes[kAhead];
    for (uint64_t seq = head_; seq < tail_ + kAhead; ++seq) {
      if (seq >= head_ + kAhead) {
        const uint64_t at = seq - kAhead;
        if (At(at).append_ms != kDummy) place(hashes[at % kAhead], static_cast<uint32_t>(at));
      }
      if (seq < tail_) {
        hashes[seq % kAhead] = Hash(At(seq));
        __builtin_prefetch(&index_[hashes[seq % kAhead] & mask], 1);
      }
    }
    return;
  }
  for (uint32_t s : old)
    if (s != kEmpty) place(Hash(Named(s)), s);
}

void DedupTable::Expire(int64_t now_append_ms) {
  while (head_ < tail_) {
    const Entry e = At(head_);
    if (e.append_ms != kDummy && e.append_ms >= now_append_ms - ttl_ms_) break;
    if (e.append_ms != kDummy) {
      // Find the index slot naming this sequence number; a stale entry (its
      // pair was re-inserted later) has none.
      const size_t mask = index_.size() - 1;
      size_t i = Hash(e) & mask;
      while (index_[i] != kEmpty && index_[i] != static_cast<uint32_t>(head_)) i = (i + 1) & mask;
      if (index_[i] != kEmpty) {
        // Backward-shift deletion keeps every probe chain unbroken.
        for (size_t j = i;;) {
          j = (j + 1) & mask;
          if (index_[j] == kEmpty) break;
          size_t home = Hash(Named(index_[j])) & mask;
          bool movable = (i <= j) ? (home <= i || home > j) : (home <= i && home > j);
          if (movable) {
            index_[i] = index_[j];
            i = j;
          }
        }
        index_[i] = kEmpty;
        --used_slots_;
      } else {
        --unindexed_;
      }
    }
    ++head_;
  }
}

size_t DedupTable::MaxProbeLength() const {
  size_t longest = 0;
  const size_t mask = index_.size() - 1;
  for (size_t i = 0; i < index_.size(); ++i)
    if (index_[i] != kEmpty) longest = std::max(longest, ((i - (Hash(Named(index_[i])) & mask)) & mask) + 1);
  return longest;
}

size_t DedupTable::MemoryBytes() const {
  return ring_.capacity() * sizeof(Entry) + index_.capacity() * sizeof(uint32_t);
}

void DedupTable::Serialize(std::string* out) const {
  size_t at = out->size();
  out->resize(at + 8);
  uint64_t n = 0;
  for (uint64_t seq = head_; seq < tail_; ++seq) {
    const Entry& e = At(seq);
    if (e.append_ms == kDummy) continue;
    char buf[32];
    PutFixed64(buf, e.hi);
    PutFixed64(buf + 8, e.lo);
    PutFixed64(buf + 16, e.viewer);
    PutFixed64(buf + 24, static_cast<uint64_t>(e.append_ms));
    out->append(buf, 32);
    ++n;
  }
  PutFixed64(out->data() + at, n);
}

bool DedupTable::HoldsViewer(ViewerId viewer) const {
  for (uint64_t seq = head_; seq < tail_; ++seq)
    if (At(seq).append_ms != kDummy && At(seq).viewer == viewer.value) return true;
  return false;
}

size_t DedupTable::EraseViewer(ViewerId viewer) {
  std::string all;
  Serialize(&all);
  std::string kept(8, '\0');
  uint64_t n = 0;
  for (size_t at = 8; at + 32 <= all.size(); at += 32) {
    if (GetFixed64(all.data() + at + 16) == viewer.value) continue;
    kept.append(all, at, 32);
    ++n;
  }
  const size_t erased = GetFixed64(all.data()) - n;
  if (erased == 0) return 0;
  PutFixed64(kept.data(), n);
  DedupTable fresh(ttl_ms_, key_);
  std::string_view in(kept);
  if (Status s = fresh.Restore(&in); !s.ok()) return 0;  // cannot fail: bytes Serialize wrote
  *this = std::move(fresh);
  return erased;
}

Status DedupTable::Restore(std::string_view* in, Encoding encoding) {
  const size_t width = encoding == Encoding::kIdAndViewer ? 32 : 24;
  if (in->size() < 8) return Status::Corruption("dedup table truncated");
  uint64_t n = GetFixed64(in->data());
  in->remove_prefix(8);
  if (in->size() / width < n) return Status::Corruption("dedup table truncated");
  for (uint64_t k = 0; k < n; ++k) {
    const char* p = in->data() + k * width;
    Entry e{GetFixed64(p), GetFixed64(p + 8), 0, 0};
    if (width == 32) e.viewer = GetFixed64(p + 16);
    e.append_ms = static_cast<int64_t>(GetFixed64(p + width - 8));
    // Later entries for the same pair replace earlier ones, as in the original.
    if (index_.empty()) Rehash(64);
    const uint64_t hash = Hash(e);
    Insert(e, hash, Find(e, hash));
  }
  in->remove_prefix(n * width);
  return Status::Ok();
}

}  // namespace watershed::stream
