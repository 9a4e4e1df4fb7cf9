// Fuzzes the answer a region's deployment reads from a peer for a story's live totals (serve/peer_story_codec.h,
// GET /v1/peer/stories/{id}). Properties checked (a violation traps):
//  * nothing crashes, leaks or trips a sanitizer;
//  * an accepted part has no more distinct viewers than views, and re-encoding it decodes to the same part.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "serve/peer_story_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace watershed;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const StoryId story(42);
  auto part = serve::DecodePeerStory(body, story, Region::kEu);
  if (!part.ok() || !part->has_value()) return 0;
  const serve::StoryMetrics& m = **part;
  if (m.totals.unique_viewers > m.totals.views || m.as_of_ms < 0) __builtin_trap();
  serve::RegionParts parts;
  parts[static_cast<int>(Region::kEu)] = m;
  auto again = serve::DecodePeerStory(serve::EncodePeerStory(story, parts), story, Region::kEu);
  if (!again.ok() || !again->has_value() || (*again)->totals != m.totals || (*again)->as_of_ms != m.as_of_ms)
    __builtin_trap();
  return 0;
}
