#pragma once
// The body of GET /v1/peer/stories/{id} (app/live_peers.h, docs/api.md): a story's live counts in the answering
// deployment's regions — per region views, distinct viewers, watch time, shares, replies and as_of; never a viewer
// id. Fuzzed: fuzz/peer_story_fuzz.cc.

#include <optional>
#include <string>
#include <string_view>

#include "serve/live_store.h"

namespace watershed::serve {

// A peer's answer is at most this many bytes (one story's counts for its regions take a few hundred).
inline constexpr size_t kMaxPeerStoryBytes = 64 * 1024;
// A peer's count is at most this (2^53, far above any real count): the sum of every region's parts then cannot
// wrap around 2^64, so a hostile peer cannot turn a story's totals small.
inline constexpr uint64_t kMaxPeerCount = uint64_t{1} << 53;

std::string EncodePeerStory(StoryId story, const RegionParts& parts);
// The part of `region` (nullopt: the story has no events there; parts of other regions are ignored: a peer speaks
// for its own region only). kInvalidArgument for anything malformed or over kMaxPeerStoryBytes, another story, a
// region listed twice, a count that is not an integer in 0..kMaxPeerCount, more distinct viewers than views.
Result<std::optional<StoryMetrics>> DecodePeerStory(std::string_view body, StoryId story, Region region);

}  // namespace watershed::serve
