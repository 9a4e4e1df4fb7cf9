#pragma once
// An exact set of viewer ids (open addressing, linear probing, load <= 1/2).
// Small sets stay small: capacity starts at 4 slots of 8 bytes.
//
// Viewer ids are client-chosen (with auth off), so an id's slot comes from
// the processor's keyed hash (keyed_hash.h), never from an unkeyed mix: one
// that can be inverted lets a client craft ids that share one probe chain and
// make every insert into a story's set walk it (quadratic processing). The
// key is passed on each call rather than held: there is a set per story and
// per open window, and a pointer each would cost 8 bytes times millions. Every
// call on one set must pass the same key. It decides the slots only, never an
// answer or a serialized byte.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/huge_pages.h"
#include "core/status.h"
#include "core/keyed_hash.h"

namespace watershed::stream {

class ViewerSet {
 public:
  ViewerSet() = default;
  ViewerSet(ViewerSet&&) noexcept = default;
  ViewerSet& operator=(ViewerSet&&) noexcept = default;

  // The hash Insert and Prefetch take: computed once, it serves every set an
  // id goes into (a story's totals and its windows).
  static uint64_t Hash(const HashKey& key, uint64_t v) { return KeyedHash(key, v); }
  // Returns true when v was not yet in the set. REQUIRES: h == Hash(key, v).
  bool Insert(const HashKey& key, uint64_t v, uint64_t h);
  bool Insert(const HashKey& key, uint64_t v) { return Insert(key, v, Hash(key, v)); }
  uint64_t size() const { return size_ + (has_zero_ ? 1 : 0); }
  // Hints the CPU to load the slot of the id whose Hash is h (a later Insert is faster).
  void Prefetch(uint64_t h) const {
    if (capacity_ != 0) __builtin_prefetch(&slots_[Slot(h)]);
  }
  size_t MemoryBytes() const { return capacity_ * sizeof(uint64_t); }
  // The most slots an Insert of a present id visits (1 = at its home slot).
  size_t MaxProbeLength(const HashKey& key) const;
  void Clear();
  // Erasure (docs/governance.md "Erasure"): replaces `v`, when present, by
  // `stand_in` (a fresh random id no viewer is linked to), so size() — the
  // unique count already published — does not change. Returns whether v was
  // there. O(size); for offline use. REQUIRES: stand_in != v, stand_in not in the set.
  bool Replace(const HashKey& key, uint64_t v, uint64_t stand_in);
  // Whether v is in the set. O(size) (a scan: `erase --verify`).
  bool Holds(uint64_t v) const;
  // Encoding: u64 count then the ids, ascending (equal sets give equal bytes).
  void Serialize(std::string* out) const;
  Status Restore(const HashKey& key, std::string_view* in);
  // Compact encoding (cold store): varint count, then the ascending ids as
  // varint gaps (the first from 0). Bytes per viewer: 1-2 for ids dense in
  // their range, about (64 - log2(size)) / 7 for random 64-bit ids (8 at
  // 1000 viewers, 7 at a million), never more than 10.
  void SerializeCompact(std::string* out) const;
  Status RestoreCompact(const HashKey& key, std::string_view* in);

 private:
  uint32_t Slot(uint64_t h) const { return static_cast<uint32_t>(h) & (capacity_ - 1); }
  void Grow(const HashKey& key);
  std::vector<uint64_t> Sorted() const;  // the ids but 0, ascending
  std::unique_ptr<uint64_t[], FreeDeleter> slots_;  // 0 = empty; id 0 is tracked by has_zero_
  uint32_t capacity_ = 0;
  uint32_t size_ = 0;
  bool has_zero_ = false;
};

}  // namespace watershed::stream
