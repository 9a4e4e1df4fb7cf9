#include "core/trace_context.h"

namespace watershed {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // upper case is not valid in version 00
}

// Decodes 2 * out.size() hex digits; false on a non-hex digit.
template <size_t N>
bool DecodeHex(std::string_view hex, std::array<uint8_t, N>* out) {
  for (size_t i = 0; i < N; ++i) {
    const int hi = HexDigit(hex[2 * i]), lo = HexDigit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    (*out)[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

template <size_t N>
bool AllZero(const std::array<uint8_t, N>& a) {
  for (uint8_t b : a)
    if (b != 0) return false;
  return true;
}

}  // namespace

std::optional<TraceContext> ParseTraceparent(std::string_view s) {
  if (s.size() != 55 || s[2] != '-' || s[35] != '-' || s[52] != '-' || s.substr(0, 2) != "00") return std::nullopt;
  TraceContext c;
  std::array<uint8_t, 1> flags{};
  if (!DecodeHex(s.substr(3, 32), &c.trace_id) || !DecodeHex(s.substr(36, 16), &c.span_id) ||
      !DecodeHex(s.substr(53, 2), &flags))
    return std::nullopt;
  if (AllZero(c.trace_id) || AllZero(c.span_id)) return std::nullopt;
  c.flags = flags[0];
  return c;
}

std::string FormatTraceparent(const TraceContext& c) {
  return "00-" + LowerHex(c.trace_id.data(), 16) + "-" + LowerHex(c.span_id.data(), 8) + "-" + LowerHex(&c.flags, 1);
}

}  // namespace watershed
