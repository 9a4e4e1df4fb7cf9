#include "core/event_codec.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <set>
#include <string>
#include <vector>

#include "core/event.h"
#include "core/testing/sample_events.h"

namespace watershed {
namespace {

constexpr int64_t kNow = testing::kSampleNow;
constexpr const char* kTraceparent = testing::kSampleTraceparent;
constexpr const char* kUuid = testing::kSampleUuid;
EventValidation Validation() { return testing::SampleValidation(); }
Event MakeEvent(EventType type, uint64_t story) { return testing::SampleEvent(type, story); }

// The JSON text of one valid view event, with `extra` spliced in before the
// closing brace and the field named `drop` left out.
std::string EventJson(const std::string& drop = "", const std::string& extra = "") {
  const auto fields = testing::SampleEventFields("\"view\"");
  std::string out = "{";
  bool first = true;
  for (const auto& [name, value] : fields) {
    if (name == drop) continue;
    if (!first) out += ",";
    first = false;
    out += "\"" + name + "\":" + value;
  }
  if (!extra.empty()) out += (first ? "" : ",") + extra;
  return out + "}";
}

std::string Batch(const std::vector<std::string>& events) {
  std::string out = "{\"events\":[";
  for (size_t i = 0; i < events.size(); ++i) out += (i ? "," : "") + events[i];
  return out + "]}";
}

// Decodes a batch holding only `event` and returns the one rejection code,
// or "" when the event was accepted.
std::string RejectionCode(const std::string& event, const EventValidation& v = Validation()) {
  DecodedBatch batch;
  Status s = DecodeEventBatchJson(Batch({event}), v, &batch);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(batch.events.size() + batch.rejected.size(), 1u);
  if (batch.rejected.empty()) return "";
  EXPECT_EQ(batch.rejected[0].index, 0u);
  EXPECT_FALSE(batch.rejected[0].message.empty());
  return batch.rejected[0].code;
}

// Replaces the value of one field in the reference event.
std::string WithField(const std::string& name, const std::string& value) {
  return EventJson(name, "\"" + name + "\":" + value);
}

TEST(EventCodecJson, ValidEventDecodes) {
  DecodedBatch batch;
  ASSERT_TRUE(DecodeEventBatchJson(Batch({EventJson()}), Validation(), &batch).ok());
  ASSERT_EQ(batch.events.size(), 1u);
  EXPECT_TRUE(batch.rejected.empty());
  const Event& e = batch.events[0];
  EXPECT_EQ(e.event_id.ToString(), kUuid);
  EXPECT_EQ(e.type, EventType::kView);
  EXPECT_EQ(e.story_id, StoryId(42));
  EXPECT_EQ(e.author_id, AuthorId(7));
  EXPECT_EQ(e.viewer_id, ViewerId(9));
  EXPECT_EQ(e.region, Region::kUs);
  EXPECT_EQ(e.event_time, EventTimeMs(kNow - 1000));
  EXPECT_EQ(e.watch_ms, 1500u);
  EXPECT_TRUE(e.traceparent.empty());
}

TEST(EventCodecJson, BatchRoundTripIncludingTraceparent) {
  std::vector<Event> events = {MakeEvent(EventType::kView, 1), MakeEvent(EventType::kShare, 2),
                               MakeEvent(EventType::kReply, 3), MakeEvent(EventType::kView, 4)};
  events[0].traceparent = kTraceparent;
  events[2].region = Region::kApac;
  events[3].watch_ms = kMaxWatchMs;
  events[3].story_id = StoryId(UINT64_MAX);
  events[3].event_time = EventTimeMs(0);
  std::string json = EncodeEventBatchJson(events);

  DecodedBatch batch;
  Status s = DecodeEventBatchJson(json, Validation(), &batch);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(batch.rejected.empty()) << batch.rejected[0].code << ": " << batch.rejected[0].message;
  EXPECT_EQ(batch.events, events);
  EXPECT_EQ(batch.events[0].traceparent, kTraceparent);
}

TEST(EventCodecJson, EmptyBatchIsValid) {
  DecodedBatch batch;
  batch.events.push_back(MakeEvent(EventType::kView, 1));  // cleared by the decoder
  ASSERT_TRUE(DecodeEventBatchJson("{\"events\":[]}", Validation(), &batch).ok());
  EXPECT_TRUE(batch.events.empty());
  EXPECT_TRUE(batch.rejected.empty());
}

TEST(EventCodecJson, EncodeOmitsWatchMsOnNonViewEvents) {
  std::string json;
  AppendEventJson(MakeEvent(EventType::kShare, 5), &json);
  EXPECT_EQ(json.find("watch_ms"), std::string::npos);
  json.clear();
  AppendEventJson(MakeEvent(EventType::kView, 5), &json);
  EXPECT_NE(json.find("\"watch_ms\":1234"), std::string::npos);
}

TEST(EventCodecJson, InvalidEventId) {
  EXPECT_EQ(RejectionCode(WithField("event_id", "\"not-a-uuid\"")), "invalid_event_id");
  EXPECT_EQ(RejectionCode(WithField("event_id", "\"3f2504e04f8941d39a0c0305e82c3301\"")), "invalid_event_id");
  EXPECT_EQ(RejectionCode(WithField("event_id", "12345")), "invalid_event_id");
  EXPECT_EQ(RejectionCode(WithField("event_id", "null")), "invalid_event_id");
  EXPECT_EQ(RejectionCode(WithField("event_id", "[\"a\"]")), "invalid_event_id");
  EXPECT_EQ(RejectionCode(WithField("event_id", "\"3F2504E0-4F89-41D3-9A0C-0305E82C3301\"")), "");
}

TEST(EventCodecJson, UnknownType) {
  EXPECT_EQ(RejectionCode(WithField("type", "\"like\"")), "unknown_type");
  EXPECT_EQ(RejectionCode(WithField("type", "\"VIEW\"")), "unknown_type");
  EXPECT_EQ(RejectionCode(WithField("type", "1")), "unknown_type");
}

TEST(EventCodecJson, MissingEachRequiredField) {
  for (const char* field : {"event_id", "type", "story_id", "author_id", "viewer_id", "region", "event_time"}) {
    EXPECT_EQ(RejectionCode(EventJson(field)), "missing_field") << field;
  }
}

TEST(EventCodecJson, WatchMsRequiredOnViewsOnly) {
  EXPECT_EQ(RejectionCode(EventJson("watch_ms")), "missing_field");
  std::string share = EventJson("watch_ms");
  share.replace(share.find("\"view\""), 6, "\"share\"");
  EXPECT_EQ(RejectionCode(share), "");
  std::string reply = EventJson("watch_ms");
  reply.replace(reply.find("\"view\""), 6, "\"reply\"");
  EXPECT_EQ(RejectionCode(reply), "");
}

TEST(EventCodecJson, InvalidIds) {
  for (const char* field : {"story_id", "author_id", "viewer_id"}) {
    EXPECT_EQ(RejectionCode(WithField(field, "-1")), "invalid_field") << field;
    EXPECT_EQ(RejectionCode(WithField(field, "1.5")), "invalid_field") << field;
    EXPECT_EQ(RejectionCode(WithField(field, "\"42\"")), "invalid_field") << field;
    EXPECT_EQ(RejectionCode(WithField(field, "null")), "invalid_field") << field;
    EXPECT_EQ(RejectionCode(WithField(field, "18446744073709551615")), "") << field;               // 2^64-1
    EXPECT_EQ(RejectionCode(WithField(field, "0")), "") << field;
  }
}

TEST(EventCodecJson, IdPast64BitsIsNeverAccepted) {
  // simdjson refuses integers >= 2^64 while parsing, so the body is malformed
  // as a whole; either outcome is fine as long as the event is not accepted.
  for (const char* field : {"story_id", "author_id", "viewer_id"}) {
    DecodedBatch batch;
    Status s = DecodeEventBatchJson(Batch({WithField(field, "18446744073709551616")}), Validation(), &batch);
    if (s.ok()) {
      EXPECT_TRUE(batch.events.empty()) << field;
      ASSERT_EQ(batch.rejected.size(), 1u) << field;
      EXPECT_EQ(batch.rejected[0].code, "invalid_field") << field;
    } else {
      EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << field;
    }
  }
}

TEST(EventCodecJson, InvalidWatchMs) {
  EXPECT_EQ(RejectionCode(WithField("watch_ms", std::to_string(kMaxWatchMs + 1))), "invalid_field");
  EXPECT_EQ(RejectionCode(WithField("watch_ms", std::to_string(kMaxWatchMs))), "");
  EXPECT_EQ(RejectionCode(WithField("watch_ms", "0")), "");
  EXPECT_EQ(RejectionCode(WithField("watch_ms", "-5")), "invalid_field");
  EXPECT_EQ(RejectionCode(WithField("watch_ms", "10.5")), "invalid_field");
  EXPECT_EQ(RejectionCode(WithField("watch_ms", "\"100\"")), "invalid_field");
  // A uint64 that would truncate to a small uint32 must not slip through.
  EXPECT_EQ(RejectionCode(WithField("watch_ms", "4294967396")), "invalid_field");
}

TEST(EventCodecJson, WatchMsOnShareIsInvalid) {
  std::string share = EventJson();
  share.replace(share.find("\"view\""), 6, "\"share\"");
  EXPECT_EQ(RejectionCode(share), "invalid_field");
  std::string zero = EventJson("watch_ms", "\"watch_ms\":0");
  zero.replace(zero.find("\"view\""), 6, "\"share\"");
  EXPECT_EQ(RejectionCode(zero), "");  // an explicit 0 carries no view data
}

TEST(EventCodecJson, InvalidEventTime) {
  EXPECT_EQ(RejectionCode(WithField("event_time", "-1")), "invalid_field");
  EXPECT_EQ(RejectionCode(WithField("event_time", "1.5e12")), "invalid_field");
  EXPECT_EQ(RejectionCode(WithField("event_time", "\"now\"")), "invalid_field");
  EXPECT_EQ(RejectionCode(WithField("event_time", "9223372036854775808")), "invalid_field");  // 2^63
}

TEST(EventCodecJson, InvalidRegion) {
  EXPECT_EQ(RejectionCode(WithField("region", "\"mars\"")), "invalid_region");
  EXPECT_EQ(RejectionCode(WithField("region", "\"US\"")), "invalid_region");
  EXPECT_EQ(RejectionCode(WithField("region", "0")), "invalid_region");
  EXPECT_EQ(RejectionCode(WithField("region", "\"apac\"")), "");
}

TEST(EventCodecJson, EventTimeInFuture) {
  EventValidation v = Validation();
  EXPECT_EQ(RejectionCode(WithField("event_time", std::to_string(kNow + v.max_future_ms)), v), "");
  EXPECT_EQ(RejectionCode(WithField("event_time", std::to_string(kNow + v.max_future_ms + 1)), v),
            "event_time_in_future");
  EXPECT_EQ(RejectionCode(WithField("event_time", "9223372036854775807"), v), "event_time_in_future");
  v.max_future_ms = 0;
  EXPECT_EQ(RejectionCode(WithField("event_time", std::to_string(kNow + 1)), v), "event_time_in_future");
  EXPECT_EQ(RejectionCode(WithField("event_time", std::to_string(kNow)), v), "");
}

TEST(EventCodecJson, InvalidTraceparent) {
  std::string good = kTraceparent;
  EXPECT_EQ(RejectionCode(EventJson("", "\"traceparent\":\"" + good + "\"")), "");
  std::vector<std::string> bad = {
      "",
      "garbage",
      good + "0",                                                  // too long
      good.substr(0, 54),                                          // too short
      "01" + good.substr(2),                                       // unknown version
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",   // zero trace id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   // zero span id
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",   // upper case
      "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // bad separator
      "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",   // non-hex
  };
  for (const std::string& t : bad) {
    EXPECT_EQ(RejectionCode(EventJson("", "\"traceparent\":\"" + t + "\"")), "invalid_traceparent") << t;
  }
  EXPECT_EQ(RejectionCode(EventJson("", "\"traceparent\":17")), "invalid_traceparent");
}

TEST(EventCodecJson, NonObjectEventIsRejected) {
  EXPECT_EQ(RejectionCode("42"), "invalid_event");
  EXPECT_EQ(RejectionCode("[]"), "invalid_event");
  EXPECT_EQ(RejectionCode("\"event\""), "invalid_event");
}

TEST(EventCodecJson, MixedBatchReportsIndexes) {
  std::string share = EventJson("watch_ms");
  share.replace(share.find("\"view\""), 6, "\"share\"");
  std::vector<std::string> events = {
      EventJson(),                                // 0 ok
      WithField("event_id", "\"nope\""),          // 1 invalid_event_id
      share,                                      // 2 ok
      EventJson("story_id"),                      // 3 missing_field
      WithField("region", "\"moon\""),            // 4 invalid_region
      EventJson("", "\"traceparent\":\"x\""),     // 5 invalid_traceparent
      WithField("story_id", "99"),                // 6 ok
      "null",                                     // 7 invalid_event
  };
  DecodedBatch batch;
  ASSERT_TRUE(DecodeEventBatchJson(Batch(events), Validation(), &batch).ok());
  ASSERT_EQ(batch.events.size(), 3u);
  EXPECT_EQ(batch.events[0].type, EventType::kView);
  EXPECT_EQ(batch.events[0].story_id, StoryId(42));
  EXPECT_EQ(batch.events[1].type, EventType::kShare);
  EXPECT_EQ(batch.events[1].watch_ms, 0u);
  EXPECT_EQ(batch.events[2].story_id, StoryId(99));
  // A rejected event that had a traceparent must not leak it into the next.
  EXPECT_TRUE(batch.events[2].traceparent.empty());

  std::vector<std::pair<size_t, std::string>> want = {{1, "invalid_event_id"},
                                                      {3, "missing_field"},
                                                      {4, "invalid_region"},
                                                      {5, "invalid_traceparent"},
                                                      {7, "invalid_event"}};
  ASSERT_EQ(batch.rejected.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(batch.rejected[i].index, want[i].first);
    EXPECT_EQ(batch.rejected[i].code, want[i].second);
  }
}

EventValidation WithIdentity(uint64_t viewer, Region region) {
  EventValidation v = Validation();
  v.identity = EventValidation::Identity{ViewerId(viewer), region};
  return v;
}

TEST(EventCodecJson, IdentityFillsOmittedViewerAndRegion) {
  std::string anonymous = EventJson("viewer_id");
  anonymous = anonymous.replace(anonymous.find(",\"region\":\"us\""), 14, "");
  ASSERT_EQ(anonymous.find("region"), std::string::npos);
  std::vector<std::string> events = {anonymous, EventJson("viewer_id"), EventJson("region"), EventJson()};

  DecodedBatch batch;
  ASSERT_TRUE(DecodeEventBatchJson(Batch(events), WithIdentity(9, Region::kUs), &batch).ok());
  EXPECT_TRUE(batch.rejected.empty()) << batch.rejected[0].code;
  ASSERT_EQ(batch.events.size(), 4u);
  for (const Event& e : batch.events) {
    EXPECT_EQ(e.viewer_id, ViewerId(9));
    EXPECT_EQ(e.region, Region::kUs);
  }

  ASSERT_TRUE(DecodeEventBatchJson(Batch({anonymous}), WithIdentity(77, Region::kApac), &batch).ok());
  ASSERT_EQ(batch.events.size(), 1u);
  EXPECT_EQ(batch.events[0].viewer_id, ViewerId(77));
  EXPECT_EQ(batch.events[0].region, Region::kApac);

  // Without identity both stay required.
  EXPECT_EQ(RejectionCode(anonymous), "missing_field");
  EXPECT_EQ(RejectionCode(EventJson("region")), "missing_field");
}

TEST(EventCodecJson, IdentityMismatch) {
  EventValidation v = WithIdentity(9, Region::kUs);
  EXPECT_EQ(RejectionCode(WithField("viewer_id", "10"), v), "identity_mismatch");
  EXPECT_EQ(RejectionCode(WithField("viewer_id", "0"), v), "identity_mismatch");
  EXPECT_EQ(RejectionCode(WithField("region", "\"eu\""), v), "identity_mismatch");
  EXPECT_EQ(RejectionCode(WithField("region", "\"apac\""), v), "identity_mismatch");
  EXPECT_EQ(RejectionCode(EventJson(), WithIdentity(9, Region::kEu)), "identity_mismatch");
  EXPECT_EQ(RejectionCode(EventJson(), WithIdentity(8, Region::kUs)), "identity_mismatch");
  EXPECT_EQ(RejectionCode(EventJson(), v), "");
  // Reported as such whatever else is wrong with the event.
  std::string impersonating = EventJson("event_id");
  impersonating.replace(impersonating.find("\"viewer_id\":9"), 13, "\"viewer_id\":10");
  EXPECT_EQ(RejectionCode(impersonating, v), "identity_mismatch");
  // A value that is not a viewer or region at all is invalid, not a mismatch.
  EXPECT_EQ(RejectionCode(WithField("region", "\"mars\""), v), "invalid_region");
  EXPECT_EQ(RejectionCode(WithField("region", "1"), v), "invalid_region");
  EXPECT_EQ(RejectionCode(WithField("viewer_id", "\"10\""), v), "invalid_field");
  EXPECT_EQ(RejectionCode(WithField("viewer_id", "-1"), v), "invalid_field");
}

TEST(EventCodecJson, RejectionHttpStatus) {
  EventValidation v = WithIdentity(9, Region::kUs);
  DecodedBatch batch;
  ASSERT_TRUE(DecodeEventBatchJson(Batch({WithField("viewer_id", "10"), EventJson("story_id")}), v, &batch).ok());
  ASSERT_EQ(batch.rejected.size(), 2u);
  EXPECT_EQ(batch.rejected[0].code, kIdentityMismatchCode);
  EXPECT_EQ(batch.rejected[0].HttpStatus(), 403);
  EXPECT_EQ(batch.rejected[1].code, "missing_field");
  EXPECT_EQ(batch.rejected[1].HttpStatus(), 400);
}

TEST(EventCodecJson, WholeBodyErrors) {
  struct Case {
    std::string body;
    StatusCode code;
  };
  std::vector<Case> cases = {
      {"", StatusCode::kInvalidArgument},
      {"{", StatusCode::kInvalidArgument},
      {"{\"events\":[", StatusCode::kInvalidArgument},
      {"{\"events\":[]} trailing", StatusCode::kInvalidArgument},
      {"not json", StatusCode::kInvalidArgument},
      {"[]", StatusCode::kInvalidArgument},
      {"42", StatusCode::kInvalidArgument},
      {"\"events\"", StatusCode::kInvalidArgument},
      {"null", StatusCode::kInvalidArgument},
      {"{}", StatusCode::kInvalidArgument},
      {"{\"event\":[]}", StatusCode::kInvalidArgument},
      {"{\"events\":{}}", StatusCode::kInvalidArgument},
      {"{\"events\":null}", StatusCode::kInvalidArgument},
      {"{\"events\":\"[]\"}", StatusCode::kInvalidArgument},
  };
  for (const Case& c : cases) {
    DecodedBatch batch;
    Status s = DecodeEventBatchJson(c.body, Validation(), &batch);
    EXPECT_EQ(s.code(), c.code) << "body: " << c.body << " -> " << s.ToString();
    EXPECT_FALSE(s.message().empty());
  }
}

TEST(EventCodecJson, BatchSizeLimit) {
  std::vector<std::string> events(kMaxEventsPerBatch, EventJson());
  DecodedBatch batch;
  ASSERT_TRUE(DecodeEventBatchJson(Batch(events), Validation(), &batch).ok());
  EXPECT_EQ(batch.events.size(), kMaxEventsPerBatch);

  events.push_back(EventJson());
  Status s = DecodeEventBatchJson(Batch(events), Validation(), &batch);
  EXPECT_EQ(s.code(), StatusCode::kTooLarge) << s.ToString();

  // The limit holds even when every event is junk: the count is checked first.
  std::vector<std::string> junk(kMaxEventsPerBatch + 1, "0");
  EXPECT_EQ(DecodeEventBatchJson(Batch(junk), Validation(), &batch).code(), StatusCode::kTooLarge);

  EventValidation small = Validation();
  small.max_events = 2;
  EXPECT_EQ(DecodeEventBatchJson(Batch({EventJson(), EventJson(), EventJson()}), small, &batch).code(),
            StatusCode::kTooLarge);
}

TEST(EventCodecJson, DeepNestingIsAnErrorNotACrash) {
  constexpr int kDepth = 10'000;
  std::string arrays = std::string(kDepth, '[') + std::string(kDepth, ']');
  DecodedBatch batch;
  EXPECT_EQ(DecodeEventBatchJson(arrays, Validation(), &batch).code(), StatusCode::kInvalidArgument);

  std::string inside = "{\"events\":[" + std::string(kDepth, '[') + std::string(kDepth, ']') + "]}";
  EXPECT_EQ(DecodeEventBatchJson(inside, Validation(), &batch).code(), StatusCode::kInvalidArgument);

  std::string objects;
  for (int i = 0; i < kDepth; ++i) objects += "{\"a\":";
  objects += "1" + std::string(kDepth, '}');
  EXPECT_EQ(DecodeEventBatchJson(objects, Validation(), &batch).code(), StatusCode::kInvalidArgument);

  // The parser stays usable after a failure.
  EXPECT_TRUE(DecodeEventBatchJson(Batch({EventJson()}), Validation(), &batch).ok());
  EXPECT_EQ(batch.events.size(), 1u);
}

TEST(EventCodecBinary, RoundTrip) {
  std::vector<Event> events = {MakeEvent(EventType::kView, 1), MakeEvent(EventType::kShare, 2),
                               MakeEvent(EventType::kReply, 3)};
  events[1].traceparent = kTraceparent;
  events[2].story_id = StoryId(UINT64_MAX);
  events[2].event_time = EventTimeMs(INT64_MAX);
  events[2].region = Region::kApac;
  for (const Event& e : events) {
    std::string buf = "prefix";
    AppendEventBinary(e, &buf);
    ASSERT_EQ(buf.size(), 6 + kEventBinaryFixedSize + e.traceparent.size());
    Event got;
    Status s = DecodeEventBinary(std::string_view(buf).substr(6), &got);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(got, e);
  }
}

TEST(EventCodecBinary, DetectsCorruption) {
  Event e = MakeEvent(EventType::kView, 11);
  e.traceparent = kTraceparent;
  std::string good;
  AppendEventBinary(e, &good);
  Event got;

  EXPECT_EQ(DecodeEventBinary("", &got).code(), StatusCode::kCorruption);
  EXPECT_EQ(DecodeEventBinary(std::string_view(good).substr(0, kEventBinaryFixedSize - 1), &got).code(),
            StatusCode::kCorruption);
  // Cut inside the traceparent.
  EXPECT_EQ(DecodeEventBinary(std::string_view(good).substr(0, good.size() - 1), &got).code(),
            StatusCode::kCorruption);
  EXPECT_EQ(DecodeEventBinary(good + "x", &got).code(), StatusCode::kCorruption);

  constexpr size_t kTypeAt = 16, kRegionAt = 17, kTraceLenAt = kEventBinaryFixedSize - 1;
  for (uint8_t bad_type : {0, 4, 255}) {
    std::string b = good;
    b[kTypeAt] = static_cast<char>(bad_type);
    EXPECT_EQ(DecodeEventBinary(b, &got).code(), StatusCode::kCorruption) << int{bad_type};
  }
  for (uint8_t bad_region : {3, 200}) {
    std::string b = good;
    b[kRegionAt] = static_cast<char>(bad_region);
    EXPECT_EQ(DecodeEventBinary(b, &got).code(), StatusCode::kCorruption) << int{bad_region};
  }
  std::string longer = good;
  longer[kTraceLenAt] = static_cast<char>(e.traceparent.size() + 1);
  EXPECT_EQ(DecodeEventBinary(longer, &got).code(), StatusCode::kCorruption);
  std::string shorter = good;
  shorter[kTraceLenAt] = static_cast<char>(e.traceparent.size() - 1);
  EXPECT_EQ(DecodeEventBinary(shorter, &got).code(), StatusCode::kCorruption);

  ASSERT_TRUE(DecodeEventBinary(good, &got).ok());
  EXPECT_EQ(got, e);
}

TEST(EventId, ParseUuidEdgeCases) {
  auto id = ParseUuid("00112233-4455-6677-8899-aabbccddeeff");
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->Hi(), 0x0011223344556677ull);
  EXPECT_EQ(id->Lo(), 0x8899aabbccddeeffull);
  EXPECT_EQ(id->ToString(), "00112233-4455-6677-8899-aabbccddeeff");

  auto upper = ParseUuid("00112233-4455-6677-8899-AABBCCDDEEFF");
  ASSERT_TRUE(upper.has_value());
  EXPECT_EQ(*upper, *id);
  EXPECT_EQ(upper->ToString(), "00112233-4455-6677-8899-aabbccddeeff");

  auto zero = ParseUuid("00000000-0000-0000-0000-000000000000");
  ASSERT_TRUE(zero.has_value());
  EXPECT_EQ(zero->Hi(), 0u);
  EXPECT_EQ(ParseUuid("ffffffff-ffff-ffff-ffff-ffffffffffff")->Lo(), UINT64_MAX);

  for (const char* bad : {"",
                          "00112233-4455-6677-8899-aabbccddeef",     // 35 chars
                          "00112233-4455-6677-8899-aabbccddeeff0",   // 37 chars
                          "0011223344556677-8899-aabbccddeeff----",  // dashes moved
                          "00112233445566778899aabbccddeeff",        // no dashes
                          "0011223-34455-6677-8899-aabbccddeeff",    // dash off by one
                          "00112233-4455-6677-8899-aabbccddeefg",    // non-hex
                          "00112233-4455-6677-8899_aabbccddeeff",    // wrong separator
                          " 0112233-4455-6677-8899-aabbccddeeff",    // space
                          "{0112233-4455-6677-8899-aabbccddeef}",    // braces
                          "00112233-4455-6677-8899-aabbccddee\xff\xff"}) {
    EXPECT_FALSE(ParseUuid(bad).has_value()) << bad;
  }
  std::string with_nul("00112233-4455-6677-8899-aabbccddee\0f", 36);
  EXPECT_FALSE(ParseUuid(with_nul).has_value());
}

TEST(EventId, FromHiLoRoundTrip) {
  EventId id = EventId::FromHiLo(0xdeadbeefcafebabeull, 0x0102030405060708ull);
  EXPECT_EQ(id.Hi(), 0xdeadbeefcafebabeull);
  EXPECT_EQ(id.Lo(), 0x0102030405060708ull);
  EXPECT_EQ(id.bytes[0], 0xde);
  EXPECT_EQ(id.bytes[15], 0x08);
  auto parsed = ParseUuid(id.ToString());
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(*parsed, id);
}

}  // namespace
}  // namespace watershed
