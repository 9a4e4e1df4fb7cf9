#pragma once
// Tests only: the sample events and validation settings the codec tests
// (JSON, protobuf) share.

#include <cstdint>

#include "core/event.h"
#include "core/event_codec.h"

namespace watershed::testing {

inline constexpr int64_t kSampleNow = 1'700'000'000'000;
inline constexpr const char* kSampleTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
inline constexpr const char* kSampleUuid = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";

// Validation with the clock at kSampleNow.
inline EventValidation SampleValidation() {
  EventValidation v;
  v.now_ms = kSampleNow;
  return v;
}

// A valid event of `type` whose ids derive from `story`, in the EU.
inline Event SampleEvent(EventType type, uint64_t story) {
  Event e;
  e.event_id = EventId::FromHiLo(0x0123456789abcdefull + story, 0xfedcba9876543210ull ^ story);
  e.type = type;
  e.story_id = StoryId(story);
  e.author_id = AuthorId(story * 7 + 1);
  e.viewer_id = ViewerId(story * 13 + 2);
  e.event_time = EventTimeMs(kSampleNow - static_cast<int64_t>(story));
  e.watch_ms = type == EventType::kView ? 1234 : 0;
  e.region = Region::kEu;
  return e;
}

}  // namespace watershed::testing
