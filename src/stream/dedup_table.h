#pragma once
// Exact deduplication of (viewer, event id) pairs with a time-to-live
// measured on log append time (so a replay decides exactly as the first run
// did). The viewer is part of the key because an event id is only its
// viewer's idempotency key: another viewer who learns it must not be able to
// make the event a duplicate.
//
// Layout, 40-80 bytes per retained pair (42 at one million): entries live in
// a FIFO ring of power-of-two capacity in append order ({id hi, id lo,
// viewer, append ms} = 32 bytes, 8 more than when keyed on the id alone);
// an open-addressing index of 32-bit ring sequence numbers (load <= 1/2)
// finds them. Expiry pops the ring's head. Ids are chosen by clients, so the
// index hashes them with
// a secret key (keyed_hash.h): no set of ids can be crafted to share a probe
// chain. The key decides slots only; answers and Serialize bytes do not
// depend on it. Not thread-safe: one processor owns it.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "core/huge_pages.h"
#include "core/status.h"
#include "core/keyed_hash.h"

namespace watershed::stream {

class DedupTable {
 public:
  DedupTable(int64_t ttl_ms, const HashKey& key) : ttl_ms_(ttl_ms), key_(key) {}

  // True when (`viewer`, `id`) was seen at an append time within ttl of
  // `append_ms`; otherwise records it (at append_ms) and returns false.
  // REQUIRES: append_ms never decreases between calls.
  bool SeenOrInsert(const EventId& id, ViewerId viewer, int64_t append_ms);
  // SeenOrInsert without the recording.
  bool Seen(const EventId& id, ViewerId viewer, int64_t append_ms) const;
  // Hints the CPU to load the index slot of the pair (a later SeenOrInsert is faster).
  void Prefetch(const EventId& id, ViewerId viewer) const {
    if (!index_.empty()) __builtin_prefetch(&index_[Hash(id.Hi(), id.Lo(), viewer.value) & (index_.size() - 1)]);
  }
  // Erasure: forgets every entry of `viewer` (a retry of one of their events
  // within the TTL is then counted again). Returns how many. O(size).
  size_t EraseViewer(ViewerId viewer);
  // Whether an entry of `viewer` is retained. O(size).
  bool HoldsViewer(ViewerId viewer) const;
  // Frees entries older than the TTL. Affects memory only, never answers.
  void Expire(int64_t now_append_ms);

  size_t size() const { return static_cast<size_t>(tail_ - head_); }
  size_t MemoryBytes() const;
  // The most index slots one lookup of a present id visits (1 = found at its
  // home slot): the cost an adversary choosing ids tries to drive up.
  size_t MaxProbeLength() const;
  // Encoding: u64 count, then per entry in append order u64 id hi, id lo,
  // viewer, append ms.
  void Serialize(std::string* out) const;
  // Appends the entries encoded by Serialize; advances *in past them.
  // kIdOnly reads the encoding of processor states before version 2 (no
  // viewer: 24 bytes an entry), recording each id with viewer 0.
  enum class Encoding { kIdAndViewer, kIdOnly };
  Status Restore(std::string_view* in, Encoding encoding = Encoding::kIdAndViewer);

 private:
  struct Entry {
    uint64_t hi, lo, viewer;
    int64_t append_ms;
  };
  uint64_t Hash(uint64_t hi, uint64_t lo, uint64_t viewer) const { return KeyedHash(key_, hi, lo, viewer); }
  uint64_t Hash(const Entry& e) const { return Hash(e.hi, e.lo, e.viewer); }
  Entry& At(uint64_t seq) { return ring_[seq & (ring_.size() - 1)]; }
  const Entry& At(uint64_t seq) const { return ring_[seq & (ring_.size() - 1)]; }
  // The entry an index slot names.
  const Entry& Named(uint32_t s) const { return At(head_ + static_cast<uint32_t>(s - static_cast<uint32_t>(head_))); }
  // The index slot holding key's pair (hash = Hash(key)), or SIZE_MAX. REQUIRES: !index_.empty().
  size_t Find(const Entry& key, uint64_t hash) const;
  void Insert(const Entry& e, uint64_t hash, size_t replace_slot);
  void GrowRing();
  void Rehash(size_t slots);

  int64_t ttl_ms_;
  HashKey key_;
  std::vector<Entry, HugePageAllocator<Entry>> ring_;  // power-of-two capacity
  uint64_t head_ = 0, tail_ = 0; // live sequence numbers: [head_, tail_)
  std::vector<uint32_t, HugePageAllocator<uint32_t>> index_;  // low 32 bits of a ring sequence number; kEmpty = free
  size_t used_slots_ = 0;
  size_t unindexed_ = 0;  // ring entries (not dummies) no index slot names: replaced by a later entry of their pair
};

}  // namespace watershed::stream
