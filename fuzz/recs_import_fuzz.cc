// Fuzzes the recs importers (src/recs/importers.h) of one format, chosen at
// build time by RECS_FUZZ_FORMAT (fuzz/CMakeLists.txt builds one target per
// format). The input is an items file, a NUL byte, then a ratings file (no
// NUL: ratings only). Properties checked (a violation traps):
//  * no input crashes, leaks or trips a sanitizer;
//  * an error names the file and a line number ("items:N" or "ratings:N");
//  * a successful parse has dense ids in range, one feature record per item,
//    at most one interaction per user-item pair, and no more interactions
//    plus dropped ratings than the file has lines;
//  * the split-syntax parser never crashes, and a parsed stratified ratio is in (0, 1).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>

#include "recs/importers.h"
#include "recs/split.h"

namespace {

using namespace watershed::recs;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

bool NamesALine(const watershed::Status& s, const std::string& file) {
  const std::string& m = s.message();
  return m.rfind(file + ":", 0) == 0 && m.size() > file.size() + 1 && m[file.size() + 1] >= '0' &&
         m[file.size() + 1] <= '9';
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Format format = static_cast<Format>(RECS_FUZZ_FORMAT);
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  std::string_view items = nul == std::string_view::npos ? std::string_view() : input.substr(0, nul);
  std::string_view ratings = nul == std::string_view::npos ? input : input.substr(nul + 1);

  Dataset d;
  if (format != Format::kCsv && !items.empty()) {
    const watershed::Status s = ParseItems(format, items, "items", &d);
    if (!s.ok()) {
      Check(NamesALine(s, "items"));
      return 0;
    }
    Check(d.features.size() == d.items.size());
  }
  const watershed::Status s = ParseRatings(format, ratings, "ratings", {.positive_rating = 3}, &d);
  if (!s.ok()) {
    Check(NamesALine(s, "ratings"));
  } else {
    Check(d.features.size() == d.items.size());
    std::unordered_set<uint64_t> pairs;
    for (const Interaction& x : d.interactions) {
      Check(x.user < d.users.size() && x.item < d.items.size());
      Check(pairs.insert(uint64_t{x.user} << 32 | x.item).second);
    }
    const size_t lines = static_cast<size_t>(std::count(ratings.begin(), ratings.end(), '\n')) + 1;
    Check(d.interactions.size() + d.below_threshold <= lines);
    for (const ItemFeatures& f : d.features)
      for (uint32_t t : f.tags) Check(t < d.tag_names.size());
  }
  if (auto spec = ParseSplit(ratings.substr(0, 64)); spec.ok() && spec->kind == SplitSpec::Kind::kStratified)
    Check(spec->ratio > 0 && spec->ratio < 1);
  return 0;
}
