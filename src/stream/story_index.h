#pragma once
// An id → object map for per-story state: objects live at stable addresses
// (one allocation each, never moved), and an open-addressing index of
// {id, pointer} slots finds them with one memory access in the common case.
// Prefetch() lets a caller start that access a few records ahead. Ids are
// chosen by clients, so slots come from a keyed hash (keyed_hash.h): no set of
// ids can be crafted to share a probe chain.
// Not thread-safe. Erase frees the object (pointers to it dangle).

#include <algorithm>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "core/keyed_hash.h"

namespace watershed::stream {

// Linear-probing slots {id, value} under a keyed hash; V{} marks an empty
// slot (so it is never stored). Load <= 1/2. Erase shifts the following
// entries of the probe run back (no tombstones: probe lengths stay those of
// a table that never held the erased ids).
template <typename V>
class KeyedSlots {
 public:
  explicit KeyedSlots(const HashKey& key) : key_(key) {}
  V Find(uint64_t id) const {
    if (slots_.empty()) return V{};
    for (size_t i = Home(id);; i = Next(i)) {
      if (slots_[i].value == V{}) return V{};
      if (slots_[i].id == id) return slots_[i].value;
    }
  }
  // REQUIRES: id absent, value != V{}.
  void Insert(uint64_t id, V value) {
    if ((size_ + 1) * 2 > slots_.size()) Grow();
    Place(id, value);
    ++size_;
  }
  // Replaces the value of a present id; returns false when absent.
  bool Replace(uint64_t id, V value) {
    if (slots_.empty()) return false;
    for (size_t i = Home(id);; i = Next(i)) {
      if (slots_[i].value == V{}) return false;
      if (slots_[i].id == id) return slots_[i].value = value, true;
    }
  }
  // Returns the erased value, V{} when absent.
  V Erase(uint64_t id) {
    if (slots_.empty()) return V{};
    size_t i = Home(id);
    for (;; i = Next(i)) {
      if (slots_[i].value == V{}) return V{};
      if (slots_[i].id == id) break;
    }
    const V erased = slots_[i].value;
    // Backward shift: move up every later entry of the run whose home is not
    // in (hole, its slot], so each stays reachable from its home.
    size_t hole = i;
    for (size_t j = Next(i); slots_[j].value != V{}; j = Next(j)) {
      const size_t home = Home(slots_[j].id);
      const bool home_after_hole = ((j - home) & Mask()) < ((j - hole) & Mask());
      if (home_after_hole) continue;
      slots_[hole] = slots_[j];
      hole = j;
    }
    slots_[hole] = Slot{};
    --size_;
    return erased;
  }
  void Prefetch(uint64_t id) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[Home(id)]);
  }
  size_t size() const { return size_; }
  size_t MemoryBytes() const { return slots_.size() * sizeof(Slot); }
  // The most slots one Find of a present id visits (1 = at its home slot).
  size_t MaxProbeLength() const {
    size_t longest = 0;
    for (size_t i = 0; i < slots_.size(); ++i)
      if (slots_[i].value != V{}) longest = std::max(longest, ((i - Home(slots_[i].id)) & Mask()) + 1);
    return longest;
  }
  void Clear() {
    slots_.clear();
    size_ = 0;
  }
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    for (const Slot& s : slots_)
      if (s.value != V{}) fn(s.id, s.value);
  }

 private:
  struct Slot {
    uint64_t id = 0;
    V value{};
  };
  size_t Mask() const { return slots_.size() - 1; }
  size_t Next(size_t i) const { return (i + 1) & Mask(); }
  size_t Home(uint64_t id) const { return static_cast<size_t>(KeyedHash(key_, id)) & Mask(); }
  void Place(uint64_t id, V value) {
    size_t i = Home(id);
    while (slots_[i].value != V{}) i = Next(i);
    slots_[i] = {id, value};
  }
  void Grow() {
    std::vector<Slot> old(slots_.empty() ? 64 : slots_.size() * 2);
    old.swap(slots_);
    for (const Slot& s : old)
      if (s.value != V{}) Place(s.id, s.value);
  }

  HashKey key_;
  std::vector<Slot> slots_;
  size_t size_ = 0;
};

template <typename T>
class StoryIndex {
 public:
  explicit StoryIndex(const HashKey& key) : slots_(key) {}
  T* Find(uint64_t id) const {
    Node* n = slots_.Find(id);
    return n ? &n->value : nullptr;
  }
  // The object of `id`, created (value-initialised) when absent; second = created.
  std::pair<T*, bool> FindOrInsert(uint64_t id) {
    if (T* found = Find(id)) return {found, false};
    owned_.push_back(std::make_unique<Node>());
    Node* n = owned_.back().get();
    n->id = id;
    n->pos = owned_.size() - 1;
    slots_.Insert(id, n);
    return {&n->value, true};
  }
  // Frees the object of `id`; returns whether there was one. ForEach order
  // changes: the last entry takes the erased one's place.
  bool Erase(uint64_t id) {
    Node* n = slots_.Erase(id);
    if (n == nullptr) return false;
    const size_t pos = n->pos;
    if (pos != owned_.size() - 1) {
      owned_[pos] = std::move(owned_.back());
      owned_[pos]->pos = pos;
    }
    owned_.pop_back();
    return true;
  }
  T& At(uint64_t id) const { return *Find(id); }  // REQUIRES: present
  void Prefetch(uint64_t id) const { slots_.Prefetch(id); }
  size_t size() const { return owned_.size(); }
  // The cost an adversary choosing ids tries to drive up (KeyedSlots).
  size_t MaxProbeLength() const { return slots_.MaxProbeLength(); }
  void Clear() {
    slots_.Clear();
    owned_.clear();
  }
  // Calls fn(id, T&) for every entry, in insertion order while nothing is erased.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    for (size_t i = 0; i < owned_.size(); ++i) fn(owned_[i]->id, owned_[i]->value);
  }

 private:
  struct Node {
    T value;
    uint64_t id = 0;
    size_t pos = 0;  // in owned_
  };
  KeyedSlots<Node*> slots_;
  std::vector<std::unique_ptr<Node>> owned_;
};

}  // namespace watershed::stream
