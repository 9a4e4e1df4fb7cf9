#include "core/huge_pages.h"

#include <sys/mman.h>

#include <cstring>
#include <new>

namespace watershed {

void* AllocateZeroedBytes(size_t bytes) {
  constexpr size_t kHuge = size_t{2} << 20;
  if (bytes < kHuge) {
    void* p = std::calloc(1, bytes == 0 ? 1 : bytes);
    if (p == nullptr) throw std::bad_alloc();
    return p;
  }
  const size_t rounded = (bytes + kHuge - 1) / kHuge * kHuge;
  void* p = std::aligned_alloc(kHuge, rounded);
  if (p == nullptr) throw std::bad_alloc();
  ::madvise(p, rounded, MADV_HUGEPAGE);  // advisory: without THP it changes nothing
  std::memset(p, 0, bytes);
  return p;
}

}  // namespace watershed
