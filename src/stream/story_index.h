#pragma once
// An id → object map for per-story state: objects live at stable addresses
// (one allocation each, never moved), and an open-addressing index of
// {id, pointer} slots finds them with one memory access in the common case.
// Prefetch() lets a caller start that access a few records ahead. Ids are
// chosen by clients, so slots come from a keyed hash (keyed_hash.h): no set of
// ids can be crafted to share a probe chain.
// Not thread-safe; entries are never erased individually.

#include <algorithm>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "stream/keyed_hash.h"

namespace watershed::stream {

template <typename T>
class StoryIndex {
 public:
  explicit StoryIndex(const HashKey& key) : key_(key) {}
  T* Find(uint64_t id) const {
    if (slots_.empty()) return nullptr;
    for (size_t i = Home(id);; i = (i + 1) & (slots_.size() - 1)) {
      if (slots_[i].value == nullptr) return nullptr;
      if (slots_[i].id == id) return slots_[i].value;
    }
  }
  // The object of `id`, created (value-initialised) when absent; second = created.
  std::pair<T*, bool> FindOrInsert(uint64_t id) {
    if (T* found = Find(id)) return {found, false};
    if ((owned_.size() + 1) * 2 > slots_.size()) Grow();
    owned_.push_back(std::make_unique<T>());
    Place(id, owned_.back().get());
    ids_.push_back(id);
    return {owned_.back().get(), true};
  }
  T& At(uint64_t id) const { return *Find(id); }  // REQUIRES: present
  void Prefetch(uint64_t id) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[Home(id)]);
  }
  size_t size() const { return owned_.size(); }
  // The most slots one Find of a present id visits (1 = at its home slot):
  // the cost an adversary choosing ids tries to drive up.
  size_t MaxProbeLength() const {
    size_t longest = 0;
    const size_t mask = slots_.size() - 1;
    for (size_t i = 0; i < slots_.size(); ++i)
      if (slots_[i].value != nullptr) longest = std::max(longest, ((i - Home(slots_[i].id)) & mask) + 1);
    return longest;
  }
  void Clear() {
    slots_.clear();
    owned_.clear();
    ids_.clear();
  }
  // Calls fn(id, T&) for every entry, in insertion order.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    for (size_t i = 0; i < owned_.size(); ++i) fn(ids_[i], *owned_[i]);
  }

 private:
  struct Slot {
    uint64_t id = 0;
    T* value = nullptr;  // nullptr = empty slot
  };
  size_t Home(uint64_t id) const { return static_cast<size_t>(KeyedHash(key_, id)) & (slots_.size() - 1); }
  void Place(uint64_t id, T* value) {
    size_t i = Home(id);
    while (slots_[i].value != nullptr) i = (i + 1) & (slots_.size() - 1);
    slots_[i] = {id, value};
  }
  void Grow() {
    slots_.assign(slots_.empty() ? 64 : slots_.size() * 2, Slot{});
    for (size_t i = 0; i < owned_.size(); ++i) Place(ids_[i], owned_[i].get());
  }

  HashKey key_;
  std::vector<Slot> slots_;
  std::vector<std::unique_ptr<T>> owned_;
  std::vector<uint64_t> ids_;  // ids_[i] owns owned_[i]
};

}  // namespace watershed::stream
