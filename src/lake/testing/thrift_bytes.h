#pragma once
// Tests only: byte strings for the Thrift compact protocol tests. Expected
// bytes are worked out by hand from the compact protocol spec
// (apache/thrift doc/specs/thrift-compact-protocol.md), not produced by our
// encoder, so they check it independently.

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "core/status.h"

namespace watershed::lake::thrift::testing {

inline std::string Bytes(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

// "0a 1b ..." : a failed comparison shows the bytes.
inline std::string Hex(std::string_view s) {
  static const char* kDigits = "0123456789abcdef";
  std::string h;
  for (char c : s) {
    const auto b = static_cast<uint8_t>(c);
    h += kDigits[b >> 4];
    h += kDigits[b & 0xF];
    h += ' ';
  }
  return h;
}

#define EXPECT_BYTES(actual, ...)                            \
  EXPECT_EQ(::watershed::lake::thrift::testing::Hex(actual), \
            ::watershed::lake::thrift::testing::Hex(::watershed::lake::thrift::testing::Bytes({__VA_ARGS__})))

// A reader error names the byte it stopped at.
inline void ExpectCorruption(const Status& s) {
  EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.ToString();
  EXPECT_NE(s.message().find("at byte"), std::string::npos) << s.message();
}

template <typename T>
void ExpectCorruption(const Result<T>& r) {
  ASSERT_FALSE(r.ok());
  ExpectCorruption(r.status());
}

}  // namespace watershed::lake::thrift::testing
