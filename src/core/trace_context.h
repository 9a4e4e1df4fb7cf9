#pragma once
// W3C Trace Context (version 00): the `traceparent` of a request header or
// an event, parsed and formatted. 00-<trace id: 32 hex>-<parent span id:
// 16 hex>-<flags: 2 hex>, lower-case hex, neither id all zeros; bit 0 of
// the flags is "sampled".

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/hex.h"  // LowerHex: ids as OTLP/JSON and the logs write them

namespace watershed {

struct TraceContext {
  std::array<uint8_t, 16> trace_id{};
  std::array<uint8_t, 8> span_id{};  // the caller's span: the parent of ours
  uint8_t flags = 0;
  bool sampled() const { return (flags & 1) != 0; }
};

// nullopt for anything but a valid version-00 traceparent of exactly 55 bytes.
std::optional<TraceContext> ParseTraceparent(std::string_view s);
std::string FormatTraceparent(const TraceContext& c);

}  // namespace watershed
