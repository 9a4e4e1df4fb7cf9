#pragma once
// An exact set of viewer ids (open addressing, linear probing, load <= 1/2).
// Small sets stay small: capacity starts at 4 slots of 8 bytes.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/huge_pages.h"
#include "core/status.h"

namespace watershed::stream {

class ViewerSet {
 public:
  ViewerSet() = default;
  ViewerSet(ViewerSet&&) noexcept = default;
  ViewerSet& operator=(ViewerSet&&) noexcept = default;

  // Returns true when v was not yet in the set.
  bool Insert(uint64_t v);
  uint64_t size() const { return size_ + (has_zero_ ? 1 : 0); }
  // Hints the CPU to load the slot where v would be (a later Insert is faster).
  void Prefetch(uint64_t v) const {
    if (capacity_ != 0) __builtin_prefetch(&slots_[static_cast<uint32_t>(Mix(v)) & (capacity_ - 1)]);
  }
  size_t MemoryBytes() const { return capacity_ * sizeof(uint64_t); }
  void Clear();
  // Encoding: u64 count then the ids, ascending (equal sets give equal bytes).
  void Serialize(std::string* out) const;
  Status Restore(std::string_view* in);
  // Compact encoding (cold store): varint count, then the ascending ids as
  // varint gaps (the first from 0). Bytes per viewer: 1-2 for ids dense in
  // their range, about (64 - log2(size)) / 7 for random 64-bit ids (8 at
  // 1000 viewers, 7 at a million), never more than 10.
  void SerializeCompact(std::string* out) const;
  Status RestoreCompact(std::string_view* in);

 private:
  static uint64_t Mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    return x ^ (x >> 33);
  }
  void Grow();
  std::vector<uint64_t> Sorted() const;  // the ids but 0, ascending
  std::unique_ptr<uint64_t[], FreeDeleter> slots_;  // 0 = empty; id 0 is tracked by has_zero_
  uint32_t capacity_ = 0;
  uint32_t size_ = 0;
  bool has_zero_ = false;
};

}  // namespace watershed::stream
