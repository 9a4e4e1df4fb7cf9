// Fuzzes what the story catalogue reads from outside: the JSON of
// POST /v1/stories and of import files, CSV import files, and the
// catalogue's own file format. Properties checked (a violation traps):
//  * no input crashes, leaks or trips a sanitizer;
//  * a JSON batch never yields more than kMaxStoriesPerBatch stories, and
//    every story it yields has story_id >= 1;
//  * every story that passes ValidateStory survives AppendStoryJson ->
//    ParseStoryBatchJson unchanged;
//  * ScanCatalogFrames stops inside the input, and every change it decodes
//    re-encodes to the very bytes it was read from.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "catalog/story_codec.h"

namespace {

using namespace watershed::catalog;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

void RoundTrip(const StoryPatch& p) {
  StoryRecord r = ApplyPatch(std::nullopt, p, 1);
  if (!ValidateStory(r).ok()) return;
  std::string json = "{\"stories\":[";
  AppendStoryJson(r, &json);
  auto back = ParseStoryBatchJson(json + "]}");
  Check(back.ok() && back->size() == 1);
  Check(ApplyPatch(std::nullopt, (*back)[0], r.updated_at_ms) == r);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (auto batch = ParseStoryBatchJson(input); batch.ok()) {
    Check(batch->size() <= kMaxStoriesPerBatch);
    for (const StoryPatch& p : *batch) {
      Check(p.story.value >= 1);
      RoundTrip(p);
    }
  }
  if (auto rows = ParseStoryFile(input, /*csv=*/true); rows.ok())
    for (const StoryPatch& p : *rows) RoundTrip(p);

  CatalogFrames frames = ScanCatalogFrames(input);
  Check(frames.valid_bytes <= input.size());
  std::string encoded;
  for (const CatalogChange& c : frames.changes) encoded += EncodeCatalogFrame(c);
  Check(encoded == input.substr(0, frames.valid_bytes));
  return 0;
}
