#include "core/event_proto.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/event.h"
#include "core/event_codec.h"
#include "core/testing/proto_wire_bytes.h"
#include "core/testing/sample_events.h"

namespace watershed {
namespace {

namespace pw = proto_wire;
using testing::Batch;
using testing::Fixed32Field;
using testing::Fixed64Field;
using testing::LenField;
using testing::Tag;
using testing::Varint;
using testing::VarintField;

constexpr int64_t kNow = testing::kSampleNow;
constexpr const char* kTraceparent = testing::kSampleTraceparent;
constexpr const char* kUuid = testing::kSampleUuid;
EventValidation Validation() { return testing::SampleValidation(); }
Event MakeEvent(EventType type, uint64_t story) { return testing::SampleEvent(type, story); }
Event ReferenceEvent() { return testing::SampleReferenceEvent(); }
std::vector<std::string> Codes(const DecodedBatch& batch) { return testing::RejectionCodes(batch); }

// ---------------------------------------------------------------------------
// Hand-made wire bytes: what a buggy or hostile client could send and protoc
// never would.

// The reference event as an ordered list of encoded fields, to edit.
class ProtoEvent {
 public:
  ProtoEvent() {
    fields_ = {
        {pw::kEventId, LenField(pw::kEventId, kUuid)},
        {pw::kType, VarintField(pw::kType, 1)},
        {pw::kStoryId, VarintField(pw::kStoryId, 42)},
        {pw::kAuthorId, VarintField(pw::kAuthorId, 7)},
        {pw::kViewerId, VarintField(pw::kViewerId, 9)},
        {pw::kRegion, LenField(pw::kRegion, "us")},
        {pw::kEventTime, VarintField(pw::kEventTime, static_cast<uint64_t>(kNow - 1000))},
        {pw::kWatchMs, VarintField(pw::kWatchMs, 1500)},
    };
  }
  ProtoEvent& Drop(uint32_t field) {
    std::erase_if(fields_, [&](const auto& f) { return f.first == field; });
    return *this;
  }
  // Replaces `field` by `bytes` (which need not be that field at all).
  ProtoEvent& Set(uint32_t field, std::string bytes) {
    Drop(field);
    fields_.emplace_back(field, std::move(bytes));
    return *this;
  }
  ProtoEvent& Append(std::string bytes) {
    fields_.emplace_back(0, std::move(bytes));
    return *this;
  }
  std::string Bytes() const {
    std::string out;
    for (const auto& f : fields_) out += f.second;
    return out;
  }

 private:
  std::vector<std::pair<uint32_t, std::string>> fields_;
};

std::string Code(const std::string& event_bytes, const EventValidation& v = Validation()) {
  DecodedBatch batch;
  Status s = DecodeEventBatchProto(Batch({event_bytes}), v, &batch);
  EXPECT_TRUE(s.ok()) << s.ToString();
  std::vector<std::string> codes = Codes(batch);
  EXPECT_EQ(codes.size(), 1u);
  return codes.empty() ? "<none>" : codes[0];
}

Status DecodeStatus(std::string_view body) {
  DecodedBatch batch;
  Status s = DecodeEventBatchProto(body, Validation(), &batch);
  EXPECT_TRUE(s.ok() || !s.message().empty());
  return s;
}

TEST(EventProtoWire, ReferenceEventDecodes) {
  DecodedBatch batch;
  ASSERT_TRUE(DecodeEventBatchProto(Batch({ProtoEvent().Bytes()}), Validation(), &batch).ok());
  ASSERT_EQ(batch.events.size(), 1u);
  EXPECT_TRUE(batch.rejected.empty());
  EXPECT_EQ(batch.events[0], ReferenceEvent());
}

TEST(EventProtoWire, EmptyBodyIsAnEmptyBatch) {
  // As {"events":[]} in JSON: valid, no events (the gateway answers 200
  // with accepted 0).
  DecodedBatch batch;
  batch.events.push_back(MakeEvent(EventType::kView, 1));  // cleared by the decoder
  batch.rejected.push_back({});
  ASSERT_TRUE(DecodeEventBatchProto("", Validation(), &batch).ok());
  EXPECT_TRUE(batch.events.empty());
  EXPECT_TRUE(batch.rejected.empty());
}

TEST(EventProtoWire, EmptyEventIsMissingFields) { EXPECT_EQ(Code(""), "missing_field"); }

TEST(EventProtoWire, EncoderRoundTrip) {
  std::vector<Event> events = {MakeEvent(EventType::kView, 1), MakeEvent(EventType::kShare, 2),
                               MakeEvent(EventType::kReply, 3), MakeEvent(EventType::kView, 0)};
  events[0].traceparent = kTraceparent;
  events[2].region = Region::kApac;
  events[3].story_id = StoryId(UINT64_MAX);
  events[3].author_id = AuthorId(0);
  events[3].viewer_id = ViewerId(0);
  events[3].event_time = EventTimeMs(0);
  events[3].watch_ms = kMaxWatchMs;
  DecodedBatch batch;
  ASSERT_TRUE(DecodeEventBatchProto(EncodeEventBatchProto(events), Validation(), &batch).ok());
  EXPECT_TRUE(batch.rejected.empty()) << batch.rejected[0].code << ": " << batch.rejected[0].message;
  EXPECT_EQ(batch.events, events);
  EXPECT_EQ(EncodeEventBatchProto({}), "");
}

TEST(EventProtoWire, WrongWireTypeOfEachKnownField) {
  struct Case {
    uint32_t field;
    bool string;
  };
  for (Case c : {Case{pw::kEventId, true}, Case{pw::kType, false}, Case{pw::kStoryId, false},
                 Case{pw::kAuthorId, false}, Case{pw::kViewerId, false}, Case{pw::kRegion, true},
                 Case{pw::kEventTime, false}, Case{pw::kWatchMs, false}, Case{pw::kTraceparent, true}}) {
    std::vector<std::string> wrong = {Fixed32Field(c.field), Fixed64Field(c.field)};
    wrong.push_back(c.string ? VarintField(c.field, 1) : LenField(c.field, "1"));
    for (const std::string& bytes : wrong) {
      EXPECT_EQ(Code(ProtoEvent().Set(c.field, bytes).Bytes()), "invalid_field") << "field " << c.field;
    }
  }
  // A wrong wire type is not repaired by a later correct copy of the field.
  EXPECT_EQ(Code(ProtoEvent().Set(pw::kStoryId, LenField(pw::kStoryId, "x") + VarintField(pw::kStoryId, 1)).Bytes()),
            "invalid_field");
}

TEST(EventProtoWire, LastValueWins) {
  std::string bytes = ProtoEvent()
                          .Append(VarintField(pw::kStoryId, 77))
                          .Append(LenField(pw::kRegion, "apac"))
                          .Append(VarintField(pw::kType, 2))
                          .Append(VarintField(pw::kWatchMs, 0))
                          .Bytes();
  DecodedBatch batch;
  ASSERT_TRUE(DecodeEventBatchProto(Batch({bytes}), Validation(), &batch).ok());
  ASSERT_EQ(batch.events.size(), 1u);
  EXPECT_EQ(batch.events[0].story_id, StoryId(77));
  EXPECT_EQ(batch.events[0].region, Region::kApac);
  EXPECT_EQ(batch.events[0].type, EventType::kShare);
  EXPECT_EQ(batch.events[0].watch_ms, 0u);
}

TEST(EventProtoWire, VarintEdgeCases) {
  auto story = [](std::string varint_bytes) {
    return ProtoEvent().Set(pw::kStoryId, Tag(pw::kStoryId, pw::kVarint) + std::move(varint_bytes)).Bytes();
  };
  // Non-canonical but valid encodings of 0 and 1.
  EXPECT_EQ(Code(story(std::string("\x80\x00", 2))), "");
  EXPECT_EQ(Code(story(std::string("\x81\x80\x80\x00", 4))), "");
  // UINT64_MAX takes all 10 bytes.
  EXPECT_EQ(Code(story(std::string(9, '\xff') + "\x01")), "");
  // 10th byte carrying more than bit 63, and 11 bytes: malformed event.
  EXPECT_EQ(Code(story(std::string(9, '\xff') + "\x02")), "invalid_event");
  EXPECT_EQ(Code(story(std::string(10, '\x80') + std::string(1, '\x00'))), "invalid_event");
  // Truncated varint at the end of the event.
  EXPECT_EQ(Code(story("\x80")), "invalid_event");

  // The same at batch level: the whole body is malformed.
  EXPECT_EQ(DecodeStatus(std::string(10, '\x80') + std::string(1, '\x00')).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeStatus("\x0a\x80").code(), StatusCode::kInvalidArgument);  // truncated length
  EXPECT_EQ(DecodeStatus("\x0a" + std::string(10, '\xff') + "\x01").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeStatus("\x8a").code(), StatusCode::kInvalidArgument);  // truncated tag
}

TEST(EventProtoWire, OutOfRangeNumbers) {
  // int64 event_time from a 10-byte varint: negative.
  EXPECT_EQ(Code(ProtoEvent().Set(pw::kEventTime, VarintField(pw::kEventTime, uint64_t{1} << 63)).Bytes()),
            "invalid_field");
  EXPECT_EQ(Code(ProtoEvent().Set(pw::kEventTime, VarintField(pw::kEventTime, UINT64_MAX)).Bytes()), "invalid_field");
  EXPECT_EQ(Code(ProtoEvent().Set(pw::kEventTime, VarintField(pw::kEventTime, 0)).Bytes()), "");
  // uint32 watch_ms is not truncated: 2^32 + 5 is not 5.
  EXPECT_EQ(Code(ProtoEvent().Set(pw::kWatchMs, VarintField(pw::kWatchMs, (uint64_t{1} << 32) + 5)).Bytes()),
            "invalid_field");
  EXPECT_EQ(Code(ProtoEvent().Set(pw::kWatchMs, VarintField(pw::kWatchMs, kMaxWatchMs + 1)).Bytes()),
            "invalid_field");
  EXPECT_EQ(Code(ProtoEvent().Set(pw::kWatchMs, VarintField(pw::kWatchMs, kMaxWatchMs)).Bytes()), "");
  // The enum is not truncated either: 2^32 + 1 is not VIEW.
  EXPECT_EQ(Code(ProtoEvent().Set(pw::kType, VarintField(pw::kType, (uint64_t{1} << 32) + 1)).Bytes()),
            "unknown_type");
  EXPECT_EQ(Code(ProtoEvent().Set(pw::kType, VarintField(pw::kType, UINT64_MAX)).Bytes()), "unknown_type");
  EXPECT_EQ(Code(ProtoEvent().Set(pw::kType, VarintField(pw::kType, 0)).Bytes()), "unknown_type");
  EXPECT_EQ(Code(ProtoEvent().Set(pw::kType, VarintField(pw::kType, 4)).Bytes()), "unknown_type");
}

TEST(EventProtoWire, MalformedEventBytesRejectOnlyThatEvent) {
  std::string good = ProtoEvent().Bytes();
  std::vector<std::string> bad = {
      good + Tag(pw::kRegion, pw::kLengthDelimited) + Varint(50) + "us",  // nested length overruns the event
      good + Tag(pw::kRegion, pw::kLengthDelimited),                      // length missing
      good + Tag(99, pw::kStartGroup) + Tag(99, pw::kEndGroup),           // group
      good + Tag(99, pw::kEndGroup),
      good + Tag(99, 6),  // undefined wire types
      good + Tag(99, 7) + "\x00",
      good + Varint(0) + "\x00",                                  // field number 0
      good + Varint(uint64_t{pw::kMaxFieldNumber + 1} << 3),     // field number too large
      good + Tag(99, pw::kFixed64) + "1234567",                   // truncated fixed64
      good + Tag(99, pw::kFixed32) + "123",                       // truncated fixed32
  };
  for (size_t i = 0; i < bad.size(); ++i) {
    // The overrunning length would be satisfied by the next event's bytes if
    // the decoder looked past the event's end.
    DecodedBatch batch;
    ASSERT_TRUE(DecodeEventBatchProto(Batch({bad[i], good, good}), Validation(), &batch).ok()) << i;
    EXPECT_EQ(Codes(batch), (std::vector<std::string>{"invalid_event", "", ""})) << "case " << i;
  }
}

TEST(EventProtoWire, WholeBodyErrors) {
  std::string event = LenField(pw::kBatchEvents, ProtoEvent().Bytes());
  std::vector<std::string> bad = {
      Tag(pw::kBatchEvents, pw::kLengthDelimited) + Varint(500) + ProtoEvent().Bytes(),  // length past end
      event + Tag(pw::kBatchEvents, pw::kLengthDelimited) + Varint(1),
      event + VarintField(pw::kBatchEvents, 1),  // events not length-delimited
      Fixed32Field(pw::kBatchEvents) + event,
      Fixed64Field(pw::kBatchEvents),
      event + Tag(5, pw::kStartGroup) + Tag(5, pw::kEndGroup),
      event + Tag(5, pw::kEndGroup),
      event + Tag(5, 6),
      event + Tag(5, 7),
      event + Varint(0) + Varint(1),  // field number 0
      event + Varint(uint64_t{1} << 32),  // tag past 32 bits
      event + Tag(5, pw::kFixed32) + "12",
      "{\"events\":[]}",  // JSON sent as protobuf
  };
  for (size_t i = 0; i < bad.size(); ++i) {
    DecodedBatch batch;
    Status s = DecodeEventBatchProto(bad[i], Validation(), &batch);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << "case " << i << ": " << s.ToString();
    EXPECT_EQ(s.message().rfind("malformed protobuf: ", 0), 0u) << s.message();
  }
}

TEST(EventProtoWire, UnknownFieldsAreSkippedAtBothLevels) {
  std::string unknown = VarintField(20, 5) + Fixed32Field(21) + Fixed64Field(22) + LenField(23, "hello") +
                        LenField(pw::kMaxFieldNumber, std::string("\x08\x01", 2));
  std::string event = ProtoEvent().Bytes();
  std::string body = unknown + LenField(pw::kBatchEvents, unknown + event + unknown) + unknown +
                     LenField(pw::kBatchEvents, event) + VarintField(2, 1);
  DecodedBatch batch;
  ASSERT_TRUE(DecodeEventBatchProto(body, Validation(), &batch).ok());
  EXPECT_EQ(batch.events, (std::vector<Event>{ReferenceEvent(), ReferenceEvent()}));
  EXPECT_TRUE(batch.rejected.empty());
}

TEST(EventProtoWire, TruncatedAtEveryOffset) {
  std::vector<Event> events = {MakeEvent(EventType::kView, 1), MakeEvent(EventType::kShare, 200),
                               MakeEvent(EventType::kReply, 1u << 20)};
  events[1].traceparent = kTraceparent;
  std::string body = EncodeEventBatchProto(events);
  size_t malformed = 0;
  for (size_t n = 0; n < body.size(); ++n) {
    DecodedBatch batch;
    Status s = DecodeEventBatchProto(std::string_view(body).substr(0, n), Validation(), &batch);
    if (!s.ok()) {
      EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << n;
      ++malformed;
      continue;
    }
    // Only a cut between events parses, and then it is a prefix of the batch.
    EXPECT_TRUE(batch.rejected.empty()) << n;
    ASSERT_LT(batch.events.size(), events.size()) << n;
    EXPECT_TRUE(std::equal(batch.events.begin(), batch.events.end(), events.begin())) << n;
  }
  EXPECT_EQ(malformed, body.size() - events.size());  // every cut but the 3 boundaries (0 included)

  // Cutting inside one event whose outer length stays consistent: the event
  // is refused or, cut at a field boundary, decoded from the fields it kept.
  std::string one = EncodeEventBatchProto({&events[1], 1});
  std::string inner = one.substr(2);  // tag and one-byte length
  ASSERT_EQ(static_cast<size_t>(static_cast<uint8_t>(one[1])), inner.size());
  for (size_t n = 0; n < inner.size(); ++n) {
    DecodedBatch batch;
    ASSERT_TRUE(DecodeEventBatchProto(Batch({inner.substr(0, n)}), Validation(), &batch).ok()) << n;
    ASSERT_EQ(batch.events.size() + batch.rejected.size(), 1u) << n;
    if (!batch.events.empty()) {
      Event want = events[1];
      want.traceparent.clear();  // the last field: the only one that can go missing unnoticed
      EXPECT_EQ(batch.events[0], want) << n;
    } else {
      EXPECT_TRUE(batch.rejected[0].code == "invalid_event" || batch.rejected[0].code == "missing_field")
          << n << ": " << batch.rejected[0].code;
    }
  }
}

TEST(EventProtoWire, BatchSizeLimit) {
  std::string event = LenField(pw::kBatchEvents, ProtoEvent().Bytes());
  std::string body;
  for (size_t i = 0; i < kMaxEventsPerBatch; ++i) body += event;
  DecodedBatch batch;
  ASSERT_TRUE(DecodeEventBatchProto(body, Validation(), &batch).ok());
  EXPECT_EQ(batch.events.size(), kMaxEventsPerBatch);

  Status s = DecodeEventBatchProto(body + event, Validation(), &batch);
  EXPECT_EQ(s.code(), StatusCode::kTooLarge) << s.ToString();

  // Counted before any event is decoded: even empty events count.
  std::string empties;
  for (size_t i = 0; i <= kMaxEventsPerBatch; ++i) empties += LenField(pw::kBatchEvents, "");
  EXPECT_EQ(DecodeEventBatchProto(empties, Validation(), &batch).code(), StatusCode::kTooLarge);
  // Broken framing is reported before the count, as JSON reports a parse
  // error before looking at the array.
  EXPECT_EQ(DecodeEventBatchProto(empties + "\x0a", Validation(), &batch).code(), StatusCode::kInvalidArgument);

  EventValidation small = Validation();
  small.max_events = 2;
  EXPECT_EQ(DecodeEventBatchProto(event + event + event, small, &batch).code(), StatusCode::kTooLarge);
  EXPECT_TRUE(DecodeEventBatchProto(event + event, small, &batch).ok());
}

TEST(EventProtoWire, MixedBatchReportsIndexes) {
  std::vector<std::string> events = {
      ProtoEvent().Bytes(),                                                       // 0 ok
      ProtoEvent().Set(pw::kEventId, LenField(pw::kEventId, "nope")).Bytes(),     // 1 invalid_event_id
      ProtoEvent().Set(pw::kType, VarintField(pw::kType, 2)).Drop(pw::kWatchMs).Bytes(),  // 2 ok
      ProtoEvent().Drop(pw::kStoryId).Bytes(),                                    // 3 missing_field
      ProtoEvent().Set(pw::kRegion, LenField(pw::kRegion, "moon")).Bytes(),       // 4 invalid_region
      ProtoEvent().Append(LenField(pw::kTraceparent, kTraceparent)).Append(LenField(pw::kTraceparent, "x")).Bytes(),
      ProtoEvent().Set(pw::kStoryId, VarintField(pw::kStoryId, 99)).Bytes(),      // 6 ok
      "\xff",                                                                     // 7 invalid_event
  };
  DecodedBatch batch;
  ASSERT_TRUE(DecodeEventBatchProto(Batch(events), Validation(), &batch).ok());
  EXPECT_EQ(Codes(batch), (std::vector<std::string>{"", "invalid_event_id", "", "missing_field", "invalid_region",
                                                    "invalid_traceparent", "", "invalid_event"}));
  ASSERT_EQ(batch.events.size(), 3u);
  EXPECT_EQ(batch.events[1].type, EventType::kShare);
  EXPECT_EQ(batch.events[2].story_id, StoryId(99));
  EXPECT_TRUE(batch.events[2].traceparent.empty());
}

TEST(EventProtoWire, Identity) {
  EventValidation v = Validation();
  v.identity = EventValidation::Identity{ViewerId(9), Region::kUs};
  std::string anonymous = ProtoEvent().Drop(pw::kViewerId).Drop(pw::kRegion).Bytes();
  DecodedBatch batch;
  ASSERT_TRUE(DecodeEventBatchProto(Batch({anonymous, ProtoEvent().Bytes()}), v, &batch).ok());
  EXPECT_EQ(batch.events, (std::vector<Event>{ReferenceEvent(), ReferenceEvent()}));

  EXPECT_EQ(Code(ProtoEvent().Set(pw::kViewerId, VarintField(pw::kViewerId, 10)).Bytes(), v), "identity_mismatch");
  EXPECT_EQ(Code(ProtoEvent().Set(pw::kViewerId, VarintField(pw::kViewerId, 0)).Bytes(), v), "identity_mismatch");
  EXPECT_EQ(Code(ProtoEvent().Set(pw::kRegion, LenField(pw::kRegion, "eu")).Bytes(), v), "identity_mismatch");
  // Takes precedence over the event's other problems.
  EXPECT_EQ(Code(ProtoEvent().Drop(pw::kEventId).Set(pw::kRegion, LenField(pw::kRegion, "eu")).Bytes(), v),
            "identity_mismatch");
  // A region that is no region at all is invalid, not someone else's.
  EXPECT_EQ(Code(ProtoEvent().Set(pw::kRegion, LenField(pw::kRegion, "mars")).Bytes(), v), "invalid_region");
  EXPECT_EQ(Code(ProtoEvent().Set(pw::kViewerId, LenField(pw::kViewerId, "9")).Bytes(), v), "invalid_field");
  // Without identity the fields stay required.
  EXPECT_EQ(Code(anonymous), "missing_field");
  EXPECT_EQ(Code(ProtoEvent().Drop(pw::kRegion).Bytes()), "missing_field");
}

// The same events through both decoders get the same answers: one rule set.
TEST(EventProtoWire, SameAnswersAsJson) {
  auto json = [](const std::string& drop, const std::string& extra) {
    const auto fields = testing::SampleEventFields("\"view\"");
    std::string out = "{";
    for (const auto& [name, value] : fields) {
      if (name == drop || extra.find("\"" + name + "\":") != std::string::npos) continue;
      out += (out.size() > 1 ? "," : "") + ("\"" + name + "\":" + value);
    }
    if (!extra.empty()) out += (out.size() > 1 ? "," : "") + extra;
    return out + "}";
  };
  struct Case {
    std::string json;
    std::string proto;
  };
  std::string future = std::to_string(kNow + Validation().max_future_ms + 1);
  std::vector<Case> cases = {
      {json("", ""), ProtoEvent().Bytes()},
      {json("event_id", ""), ProtoEvent().Drop(pw::kEventId).Bytes()},
      {json("type", ""), ProtoEvent().Drop(pw::kType).Bytes()},
      {json("story_id", ""), ProtoEvent().Drop(pw::kStoryId).Bytes()},
      {json("viewer_id", ""), ProtoEvent().Drop(pw::kViewerId).Bytes()},
      {json("region", ""), ProtoEvent().Drop(pw::kRegion).Bytes()},
      {json("event_time", ""), ProtoEvent().Drop(pw::kEventTime).Bytes()},
      {json("watch_ms", ""), ProtoEvent().Drop(pw::kWatchMs).Bytes()},
      {json("", "\"event_id\":\"3f2504e04f8941d39a0c0305e82c3301\""),
       ProtoEvent().Set(pw::kEventId, LenField(pw::kEventId, "3f2504e04f8941d39a0c0305e82c3301")).Bytes()},
      {json("", "\"event_id\":\"\""), ProtoEvent().Set(pw::kEventId, LenField(pw::kEventId, "")).Bytes()},
      {json("", "\"type\":\"share\""), ProtoEvent().Set(pw::kType, VarintField(pw::kType, 2)).Bytes()},
      {json("", "\"type\":\"share\",\"watch_ms\":0"),
       ProtoEvent().Set(pw::kType, VarintField(pw::kType, 2)).Set(pw::kWatchMs, VarintField(pw::kWatchMs, 0)).Bytes()},
      {json("watch_ms", "\"type\":\"reply\""),
       ProtoEvent().Set(pw::kType, VarintField(pw::kType, 3)).Drop(pw::kWatchMs).Bytes()},
      {json("", "\"region\":\"US\""), ProtoEvent().Set(pw::kRegion, LenField(pw::kRegion, "US")).Bytes()},
      {json("", "\"region\":\"apac\""), ProtoEvent().Set(pw::kRegion, LenField(pw::kRegion, "apac")).Bytes()},
      {json("", "\"event_time\":" + future),
       ProtoEvent().Set(pw::kEventTime, VarintField(pw::kEventTime, std::stoull(future))).Bytes()},
      {json("", "\"event_time\":0"), ProtoEvent().Set(pw::kEventTime, VarintField(pw::kEventTime, 0)).Bytes()},
      {json("", "\"watch_ms\":86400001"), ProtoEvent().Set(pw::kWatchMs, VarintField(pw::kWatchMs, 86400001)).Bytes()},
      {json("", std::string("\"traceparent\":\"") + kTraceparent + "\""),
       ProtoEvent().Append(LenField(pw::kTraceparent, kTraceparent)).Bytes()},
      {json("", "\"traceparent\":\"\""), ProtoEvent().Append(LenField(pw::kTraceparent, "")).Bytes()},
      {json("", "\"story_id\":0,\"author_id\":0,\"viewer_id\":0"),
       ProtoEvent()
           .Set(pw::kStoryId, VarintField(pw::kStoryId, 0))
           .Set(pw::kAuthorId, VarintField(pw::kAuthorId, 0))
           .Set(pw::kViewerId, VarintField(pw::kViewerId, 0))
           .Bytes()},
  };
  std::vector<std::string> json_events, proto_events;
  for (const Case& c : cases) {
    json_events.push_back(c.json);
    proto_events.push_back(c.proto);
  }
  std::string json_body = "{\"events\":[";
  for (size_t i = 0; i < json_events.size(); ++i) json_body += (i ? "," : "") + json_events[i];
  json_body += "]}";

  for (bool with_identity : {false, true}) {
    EventValidation v = Validation();
    if (with_identity) v.identity = EventValidation::Identity{ViewerId(0), Region::kUs};
    DecodedBatch from_json, from_proto;
    ASSERT_TRUE(DecodeEventBatchJson(json_body, v, &from_json).ok());
    ASSERT_TRUE(DecodeEventBatchProto(Batch(proto_events), v, &from_proto).ok());
    EXPECT_EQ(Codes(from_json), Codes(from_proto)) << "identity " << with_identity;
    EXPECT_EQ(from_json.events, from_proto.events);
    if (!with_identity) {
      EXPECT_EQ(from_json.events.size(), 7u);
      EXPECT_EQ(from_json.rejected.size(), 14u);
    }
  }
}

}  // namespace
}  // namespace watershed
