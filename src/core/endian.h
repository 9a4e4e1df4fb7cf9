#pragma once
// Little-endian fixed-width encoding used by every on-disk format.

#include <cstdint>
#include <cstring>

namespace watershed {

inline char* PutFixed32(char* p, uint32_t v) {
  std::memcpy(p, &v, 4);  // x86-64 and aarch64 Linux are little-endian
  return p + 4;
}
inline char* PutFixed64(char* p, uint64_t v) {
  std::memcpy(p, &v, 8);
  return p + 8;
}
inline uint32_t GetFixed32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline uint64_t GetFixed64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "on-disk formats assume little-endian");

}  // namespace watershed
