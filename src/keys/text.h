#pragma once
// Text helpers the key providers share (key files, a key command's output).

#include <string>

namespace watershed::keys {

// `s` without its trailing newlines, carriage returns and spaces.
inline std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

}  // namespace watershed::keys
