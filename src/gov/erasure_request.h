#pragma once
// An erasure request (docs/governance.md "Erasure"): the file app/erasure.h
// keeps per request, and the body of POST /v1/admin/erasures. Both parsers
// are bounded and fuzzed (fuzz/erasure_fuzz.cc).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace watershed::gov {

// Viewer ids are written to the lake as INT64: 1..2^63-1.
inline constexpr uint64_t kMaxErasableViewer = static_cast<uint64_t>(INT64_MAX);

struct ErasureRequest {
  std::string id;  // "<requested ms>-<16 hex>": sorts by time
  uint64_t viewer = 0;
  int64_t requested_ms = 0;
  std::string requested_by;       // "cli" or "user <sub>" (the admin's token)
  std::vector<std::string> done;  // steps done, in order ("lake eu/events rewrite", ...)
  bool complete = false;          // every step done
  bool operator==(const ErasureRequest&) const = default;
};

std::string EncodeErasureRequest(const ErasureRequest& r);
// The file's JSON; kCorruption for anything EncodeErasureRequest does not
// write (bounded: at most 4096 steps of 200 bytes, ids and names checked).
Result<ErasureRequest> ParseErasureRequest(std::string_view text);

// "<1..19 digits>-<16 lowercase hex>"
bool ValidErasureId(std::string_view id);
// At most 200 printable ASCII characters (requested_by, a step).
bool ErasureText(std::string_view s);

// The body of POST /v1/admin/erasures: {"viewer_id": N}, N in
// 1..kMaxErasableViewer, no other field, at most kMaxErasureBodyBytes.
// kInvalidArgument says what is wrong.
inline constexpr size_t kMaxErasureBodyBytes = 1024;
Result<uint64_t> ParseErasureBody(std::string_view body);

}  // namespace watershed::gov
