#pragma once
// Exact deduplication of event ids with a time-to-live measured on log
// append time (so a replay decides exactly as the first run did).
//
// Layout, ~24-48 bytes per retained id: entries live in a FIFO ring in
// append order ({id hi, id lo, append ms} = 24 bytes); an open-addressing
// index of 32-bit ring sequence numbers (load <= 1/2) finds them. Expiry pops
// the ring's head. Ids are chosen by clients, so the index hashes them with
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
#include "stream/keyed_hash.h"

namespace watershed::stream {

class DedupTable {
 public:
  DedupTable(int64_t ttl_ms, const HashKey& key) : ttl_ms_(ttl_ms), key_(key) {}

  // True when `id` was seen at an append time within ttl of `append_ms`;
  // otherwise records it (at append_ms) and returns false.
  // REQUIRES: append_ms never decreases between calls.
  bool SeenOrInsert(const EventId& id, int64_t append_ms);
  // Hints the CPU to load the index slot of `id` (a later SeenOrInsert is faster).
  void Prefetch(const EventId& id) const {
    if (!index_.empty()) __builtin_prefetch(&index_[Hash(id.Hi(), id.Lo()) & (index_.size() - 1)]);
  }
  // Frees entries older than the TTL. Affects memory only, never answers.
  void Expire(int64_t now_append_ms);

  size_t size() const { return static_cast<size_t>(tail_ - head_); }
  size_t MemoryBytes() const;
  // The most index slots one lookup of a present id visits (1 = found at its
  // home slot): the cost an adversary choosing ids tries to drive up.
  size_t MaxProbeLength() const;
  void Serialize(std::string* out) const;
  // Appends the entries encoded by Serialize; advances *in past them.
  Status Restore(std::string_view* in);

 private:
  struct Entry {
    uint64_t hi, lo;
    int64_t append_ms;
  };
  uint64_t Hash(uint64_t hi, uint64_t lo) const { return KeyedHash(key_, hi, lo); }
  Entry& At(uint64_t seq) { return ring_[seq & (ring_.size() - 1)]; }
  void Insert(uint64_t hi, uint64_t lo, int64_t append_ms, size_t replace_slot);
  void GrowRing();
  void Rehash(size_t slots);

  int64_t ttl_ms_;
  HashKey key_;
  std::vector<Entry, HugePageAllocator<Entry>> ring_;  // power-of-two capacity
  uint64_t head_ = 0, tail_ = 0; // live sequence numbers: [head_, tail_)
  std::vector<uint32_t, HugePageAllocator<uint32_t>> index_;  // low 32 bits of a ring sequence number; kEmpty = free
  size_t used_slots_ = 0;
};

}  // namespace watershed::stream
