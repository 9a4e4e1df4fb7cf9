#pragma once
// Shared by the SQL fuzzers: a property check that traps, and whether an
// error message starts with its "line:column: " position.

#include <cstddef>
#include <string>

namespace watershed::fuzz {

inline void Check(bool ok) {
  if (!ok) __builtin_trap();
}

inline bool StartsWithPosition(const std::string& message) {
  size_t i = 0;
  auto digits = [&] {
    const size_t start = i;
    while (i < message.size() && message[i] >= '0' && message[i] <= '9') ++i;
    return i > start;
  };
  return digits() && i < message.size() && message[i++] == ':' && digits() && message.compare(i, 2, ": ") == 0;
}

}  // namespace watershed::fuzz
