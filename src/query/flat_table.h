#pragma once
// Open-addressing hash tables for the aggregation's hot loops (one flat
// array, linear probing, grown at half full): a group key that is one
// integer (BIGINT, TIMESTAMP, BOOLEAN) → its group, and COUNT(DISTINCT x)
// of an integer as one set of (group, x) pairs for all groups, instead of a
// node-based set of encoded strings per group (docs/query.md "Execution").

#include <algorithm>
#include <bit>
#include <cstdint>
#include <vector>

namespace watershed::query {

inline uint64_t MixHash(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  return h ^ (h >> 33);
}

// int64 key → uint32 value (a group's index).
class IntKeyMap {
 public:
  // The value of `key`; absent: inserts `fresh` and sets *inserted.
  uint32_t FindOrInsert(int64_t key, uint32_t fresh, bool* inserted) {
    if (2 * (size_ + 1) > slots_.size()) Grow();
    size_t i = MixHash(static_cast<uint64_t>(key)) & (slots_.size() - 1);
    for (;; i = (i + 1) & (slots_.size() - 1)) {
      Slot& s = slots_[i];
      if (s.used == 0) {
        s = {key, fresh, 1};
        ++size_;
        *inserted = true;
        return fresh;
      }
      if (s.key == key) {
        *inserted = false;
        return s.value;
      }
    }
  }
  size_t bytes() const { return slots_.size() * sizeof(Slot); }

 private:
  struct Slot {
    int64_t key;
    uint32_t value, used;
  };
  void Grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.empty() ? 1024 : 2 * old.size(), Slot{0, 0, 0});
    size_ = 0;
    bool unused;
    for (const Slot& s : old)
      if (s.used) FindOrInsert(s.key, s.value, &unused);
  }
  std::vector<Slot> slots_;
  size_t size_ = 0;
};

// A set of (group, int64 value) pairs.
class PairSet {
 public:
  // True when the pair was not in the set.
  bool Insert(uint32_t group, int64_t value) {
    if (2 * (size_ + 1) > slots_.size()) Grow();
    size_t i = MixHash(static_cast<uint64_t>(value) * 0x9e3779b97f4a7c15ull ^ group) & (slots_.size() - 1);
    for (;; i = (i + 1) & (slots_.size() - 1)) {
      Slot& s = slots_[i];
      if (s.group_plus1 == 0) {
        s = {value, group + 1};
        ++size_;
        return true;
      }
      if (s.value == value && s.group_plus1 == group + 1) return false;
    }
  }
  // f(group, value) for each pair (in no particular order).
  template <typename F>
  void ForEach(F f) const {
    for (const Slot& s : slots_)
      if (s.group_plus1 != 0) f(s.group_plus1 - 1, s.value);
  }
  size_t size() const { return size_; }
  size_t bytes() const { return slots_.size() * sizeof(Slot); }
  // Room for n pairs in all without growing.
  void Reserve(size_t n) {
    if (2 * n > slots_.size()) Grow(std::bit_ceil(2 * n));
  }

 private:
  struct Slot {
    int64_t value;
    uint32_t group_plus1;  // 0: empty
  };
  void Grow(size_t want = 0) {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(std::max<size_t>(want, old.empty() ? 1024 : 2 * old.size()), Slot{0, 0});
    size_ = 0;
    for (const Slot& s : old)
      if (s.group_plus1 != 0) Insert(s.group_plus1 - 1, s.value);
  }
  std::vector<Slot> slots_;
  size_t size_ = 0;
};

// The (group, int64 value) pairs of many units, merged: appended into 256
// partitions by hash and deduplicated one partition at a time (a PairSet
// of one partition's pairs stays in cache, where one set of every pair
// would miss it on each insert), when a partition doubles and at the end.
class PartitionedPairs {
 public:
  void Add(uint32_t group, int64_t value) {
    const uint64_t h = MixHash(static_cast<uint64_t>(value) ^ (uint64_t{group} << 40));
    Part& p = parts_[h >> 56];
    p.pairs.push_back({value, group});
    if (p.pairs.size() >= p.compact_at) Compact(p);
  }
  // f(group) once per distinct pair; leaves this empty.
  template <typename F>
  void Count(F f) {
    for (Part& p : parts_) {
      Compact(p);
      for (const Pair& x : p.pairs) f(x.group);
      p = Part();
    }
  }
  size_t bytes() const {
    size_t n = 0;
    for (const Part& p : parts_) n += p.pairs.capacity() * sizeof(Pair);
    return n;
  }

 private:
  struct Pair {
    int64_t value;
    uint32_t group;
  };
  struct Part {
    std::vector<Pair> pairs;
    size_t compact_at = 1 << 13;
  };
  static void Compact(Part& p) {
    PairSet seen;
    seen.Reserve(p.pairs.size());
    size_t k = 0;
    for (const Pair& x : p.pairs)
      if (seen.Insert(x.group, x.value)) p.pairs[k++] = x;
    p.pairs.resize(k);
    p.compact_at = std::max<size_t>(1 << 13, 2 * k);
  }
  Part parts_[256];
};

}  // namespace watershed::query
