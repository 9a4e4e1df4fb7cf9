#include "serve/peer_story_codec.h"

#include <simdjson.h>

namespace watershed::serve {
namespace {

Status Bad(const std::string& why) { return Status::InvalidArgument("peer story: " + why); }

}  // namespace

std::string EncodePeerStory(StoryId story, const RegionParts& parts) {
  std::string out = "{\"story_id\":" + std::to_string(story.value) + ",\"regions\":[";
  bool first = true;
  for (int r = 0; r < RegionCount(); ++r) {
    const auto& p = parts[r];
    if (!p) continue;
    if (!first) out += ',';
    first = false;
    const Aggregates& a = p->totals;
    out += "{\"region\":\"" + std::string(RegionName(static_cast<Region>(r))) +
           "\",\"views\":" + std::to_string(a.views) + ",\"unique_viewers\":" + std::to_string(a.unique_viewers) +
           ",\"watch_time_ms\":" + std::to_string(a.watch_time_ms) + ",\"shares\":" + std::to_string(a.shares) +
           ",\"replies\":" + std::to_string(a.replies) + ",\"as_of\":" + std::to_string(p->as_of_ms) + "}";
  }
  return out + "]}";
}

Result<std::optional<StoryMetrics>> DecodePeerStory(std::string_view body, StoryId story, Region region) {
  if (body.size() > kMaxPeerStoryBytes) return Bad("the answer is too large");
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS) return Bad("not JSON");
  uint64_t id = 0;
  if (root["story_id"].get_uint64().get(id) != simdjson::SUCCESS || id != story.value)
    return Bad("story_id is not the story asked for");
  simdjson::dom::array regions;
  if (root["regions"].get_array().get(regions) != simdjson::SUCCESS) return Bad("regions is not an array");
  std::optional<StoryMetrics> out;
  std::array<bool, kMaxRegions> seen{};
  for (simdjson::dom::element e : regions) {
    std::string_view name;
    if (e["region"].get_string().get(name) != simdjson::SUCCESS) return Bad("a part has no region");
    auto r = ParseRegion(name);
    if (!r) return Bad("unknown region in a part");
    if (seen[static_cast<int>(*r)]) return Bad("a region twice");
    seen[static_cast<int>(*r)] = true;
    StoryMetrics m;
    m.story = story;
    Aggregates& a = m.totals;
    int64_t as_of = 0;
    if (e["views"].get_uint64().get(a.views) != simdjson::SUCCESS ||
        e["unique_viewers"].get_uint64().get(a.unique_viewers) != simdjson::SUCCESS ||
        e["watch_time_ms"].get_uint64().get(a.watch_time_ms) != simdjson::SUCCESS ||
        e["shares"].get_uint64().get(a.shares) != simdjson::SUCCESS ||
        e["replies"].get_uint64().get(a.replies) != simdjson::SUCCESS ||
        e["as_of"].get_int64().get(as_of) != simdjson::SUCCESS || as_of < 0)
      return Bad("a part's counts are not unsigned integers");
    for (uint64_t count : {a.views, a.unique_viewers, a.watch_time_ms, a.shares, a.replies})
      if (count > kMaxPeerCount) return Bad("a part's count is over 2^53");
    if (a.unique_viewers > a.views) return Bad("more distinct viewers than views");
    m.as_of_ms = as_of;
    if (*r == region) out = m;  // a peer speaks for its own region only
  }
  return out;
}

}  // namespace watershed::serve
