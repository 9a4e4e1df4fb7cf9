#pragma once
// Tests only: the sample events and validation settings the codec tests
// (JSON, protobuf) share.

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

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

// The fields of the reference view event the codec tests write by hand
// (story 42, author 7, viewer 9, us, kSampleNow - 1000, watch 1500), as
// (name, value) pairs; `type` is written as given ("\"view\"" in JSON, VIEW
// in protobuf text format).
inline std::vector<std::pair<std::string, std::string>> SampleEventFields(const std::string& type) {
  return {
      {"event_id", std::string("\"") + kSampleUuid + "\""},
      {"type", type},
      {"story_id", "42"},
      {"author_id", "7"},
      {"viewer_id", "9"},
      {"region", "\"us\""},
      {"event_time", std::to_string(kSampleNow - 1000)},
      {"watch_ms", "1500"},
  };
}

// The reference view event SampleEventFields describes.
inline Event SampleReferenceEvent() {
  Event e;
  e.event_id = *ParseUuid(kSampleUuid);
  e.type = EventType::kView;
  e.story_id = StoryId(42);
  e.author_id = AuthorId(7);
  e.viewer_id = ViewerId(9);
  e.region = Region::kUs;
  e.event_time = EventTimeMs(kSampleNow - 1000);
  e.watch_ms = 1500;
  return e;
}

// The batch's rejection codes by input index ("" for an accepted event);
// every rejection must carry an index in range and a message.
inline std::vector<std::string> RejectionCodes(const DecodedBatch& batch) {
  std::vector<std::string> codes(batch.events.size() + batch.rejected.size());
  for (const EventRejection& r : batch.rejected) {
    EXPECT_LT(r.index, codes.size());
    EXPECT_FALSE(r.message.empty()) << r.code;
    if (r.index < codes.size()) codes[r.index] = r.code;
  }
  return codes;
}

}  // namespace watershed::testing
