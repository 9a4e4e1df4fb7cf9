// Fuzzes the erasure request file and the body of POST /v1/admin/erasures
// (gov/erasure_request.h); the first byte picks the parser. Properties
// checked (a violation traps):
//  * nothing crashes, leaks or trips a sanitizer;
//  * an accepted file has a valid id, a viewer in range, bounded text, and
//    encodes back to a file that parses to the same request;
//  * an accepted body names a viewer in 1..2^63-1.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "gov/erasure_request.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace watershed::gov;
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    auto r = ParseErasureRequest(input);
    if (r.ok()) {
      Check(ValidErasureId(r->id) && r->viewer >= 1 && r->viewer <= kMaxErasableViewer && r->requested_ms >= 0);
      Check(ErasureText(r->requested_by) && r->done.size() <= 4096);
      auto again = ParseErasureRequest(EncodeErasureRequest(*r));
      Check(again.ok() && *again == *r);
    }
  } else {
    auto v = ParseErasureBody(input);
    if (v.ok()) Check(*v >= 1 && *v <= kMaxErasableViewer);
  }
  return 0;
}
