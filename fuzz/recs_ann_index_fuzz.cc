// Fuzzes the ann index's file reader (recs/ann_index.h, AnnIndex::Decode), as is and with the header's length and
// CRC fixed up so the graph's checks are reached. Properties checked (a violation traps): no input crashes, leaks
// or trips a sanitizer — including querying and growing an index that decoded, whose graph hnswlib then walks;
// errors name the file; a decoded index re-encodes to the very bytes it was read from.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fixed_up_header.h"
#include "recs/ann_index.h"

namespace {

using watershed::fuzz::Check;
using watershed::recs::AnnIndex;

void Decode(const std::string& bytes) {
  auto index = AnnIndex::Decode(bytes, "fuzz");
  if (!index.ok()) {
    Check(index.status().message().rfind("fuzz: ann index ", 0) == 0);
    return;
  }
  AnnIndex& a = **index;
  Check(a.Encode() == bytes);
  if (a.dim() > 64) return;  // big vectors: slow, nothing new
  std::vector<float> q(a.dim(), 0.5f);
  auto hits = a.Query(q, 8);
  Check(hits.ok() && hits->size() <= 8 && hits->size() <= a.size());
  std::vector<float> small(a.dim(), 0.f);
  (void)a.Add(~uint64_t{0}, small, 0);
  hits = a.Query(q, 8);
  Check(hits.ok());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  Decode(input);
  if (watershed::fuzz::FixUpHeader(&input, 24, 12, 16)) Decode(input);
  return 0;
}
