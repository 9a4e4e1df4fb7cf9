#pragma once
// Memory for large, randomly accessed tables (dedup index, viewer sets).
// Blocks of 2 MiB and more are 2 MiB-aligned and marked MADV_HUGEPAGE before
// first touch, so the kernel backs them with huge pages where transparent
// huge pages are in "madvise" mode: fewer TLB misses on random probes (a TLB
// miss is a two-level page walk under virtualisation) and fewer page faults.
// Measured: +15% processor throughput (bench/RESULTS.md).

#include <cstddef>
#include <cstdlib>
#include <memory>

namespace watershed {

// Zero-filled memory for n objects of a trivial type; release with std::free.
void* AllocateZeroedBytes(size_t bytes);

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

template <typename T>
std::unique_ptr<T[], FreeDeleter> AllocateZeroed(size_t n) {
  return std::unique_ptr<T[], FreeDeleter>(static_cast<T*>(AllocateZeroedBytes(n * sizeof(T))));
}

// std::allocator-compatible, for std::vector of trivial types.
template <typename T>
struct HugePageAllocator {
  using value_type = T;
  HugePageAllocator() = default;
  template <typename U>
  HugePageAllocator(const HugePageAllocator<U>&) {}  // NOLINT: rebinding
  T* allocate(size_t n) { return static_cast<T*>(AllocateZeroedBytes(n * sizeof(T))); }
  void deallocate(T* p, size_t) { std::free(p); }
  bool operator==(const HugePageAllocator&) const { return true; }
};

}  // namespace watershed
