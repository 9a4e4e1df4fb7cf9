#include "core/event_proto.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/event.h"
#include "core/event_codec.h"
#include "core/testing/proto_wire_bytes.h"
#include "core/testing/sample_events.h"
#include "core/testing/temp_dir.h"

namespace watershed {
namespace {

using testing::Batch;

using testing::kSampleNow;
using testing::kSampleTraceparent;
using testing::kSampleUuid;
using testing::RejectionCodes;
using testing::SampleEvent;
using testing::SampleReferenceEvent;
using testing::SampleValidation;

// protoc, an independent implementation of the format, encodes the inputs
// and decodes our output.

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteFile(const std::string& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  ASSERT_TRUE(out.good()) << path;
}

// The temp dir names come from mkdtemp and hold no quote.
std::string Quoted(const std::string& s) { return "'" + s + "'"; }

class EventProtoProtoc : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string protoc = WATERSHED_PROTOC;
    ASSERT_TRUE(!protoc.empty() && !protoc.ends_with("NOTFOUND"))
        << "protoc was not found when CMake ran; it is required by this test. Install it "
           "(scripts/install-deps.sh installs protobuf-compiler) and re-run cmake.";
    std::string cmd = Quoted(protoc) + " --version > " + Quoted(dir_.Path("version")) + " 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << "cannot run " << protoc << ": " << ReadFile(dir_.Path("version"));
  }

  // protoc --encode of text-format `text` as message `type` of `file`.
  std::string Encode(const std::string& text, const std::string& type = "watershed.v1.EventBatch",
                     const std::string& include_dir = WATERSHED_PROTO_DIR,
                     const std::string& file = "watershed/v1/events.proto") {
    return Run("--encode=" + type, text, include_dir, file);
  }

  // protoc --decode of `bytes` as a watershed.v1.EventBatch.
  std::string Decode(std::string_view bytes) {
    return Run("--decode=watershed.v1.EventBatch", bytes, WATERSHED_PROTO_DIR, "watershed/v1/events.proto");
  }

  // Encodes a text-format batch with protoc and decodes it with ours.
  DecodedBatch EncodeAndDecode(const std::string& text, const EventValidation& v = SampleValidation()) {
    DecodedBatch batch;
    Status s = DecodeEventBatchProto(Encode(text), v, &batch);
    EXPECT_TRUE(s.ok()) << s.ToString() << "\n" << text;
    return batch;
  }

  testing::TempDir dir_{"event_proto"};

 private:
  std::string Run(const std::string& mode, std::string_view input, const std::string& include_dir,
                  const std::string& file) {
    WriteFile(dir_.Path("in"), input);
    std::string cmd = Quoted(WATERSHED_PROTOC) + " " + mode + " -I " + Quoted(include_dir) + " " + file + " < " +
                      Quoted(dir_.Path("in")) + " > " + Quoted(dir_.Path("out")) + " 2> " + Quoted(dir_.Path("err"));
    int rc = std::system(cmd.c_str());
    EXPECT_EQ(rc, 0) << "protoc " << mode << " failed: " << ReadFile(dir_.Path("err")) << "\ninput:\n" << input;
    return ReadFile(dir_.Path("out"));
  }
};

// Text format of the reference event with `drop` left out and `extra`
// (text-format fields) added.
std::string EventText(const std::string& drop = "", const std::string& extra = "") {
  const auto fields = testing::SampleEventFields("VIEW");
  std::string out = "events {";
  for (const auto& [name, value] : fields) {
    if (name == drop || extra.find(name + ":") != std::string::npos) continue;
    out += " " + name + ": " + value;
  }
  return out + " " + extra + " }\n";
}

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) out += p;
  return out;
}

TEST_F(EventProtoProtoc, AllFieldsAndTypes) {
  std::string text = R"(
events {
  event_id: "3F2504E0-4F89-41D3-9A0C-0305E82C3301"
  type: VIEW
  story_id: 18446744073709551615
  author_id: 7
  viewer_id: 9
  region: "us"
  event_time: 1699999999000
  watch_ms: 86400000
  traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
}
events {
  event_id: "00112233-4455-6677-8899-aabbccddeeff"
  type: SHARE
  story_id: 1
  author_id: 2
  viewer_id: 3
  region: "eu"
  event_time: 1
}
events {
  event_id: "ffffffff-ffff-ffff-ffff-ffffffffffff"
  type: REPLY
  story_id: 4
  author_id: 5
  viewer_id: 18446744073709551615
  region: "apac"
  event_time: 1700000000000
  watch_ms: 0
}
)";
  Event view;
  view.event_id = *ParseUuid(kSampleUuid);
  view.type = EventType::kView;
  view.story_id = StoryId(UINT64_MAX);
  view.author_id = AuthorId(7);
  view.viewer_id = ViewerId(9);
  view.region = Region::kUs;
  view.event_time = EventTimeMs(1'699'999'999'000);
  view.watch_ms = kMaxWatchMs;
  view.traceparent = kSampleTraceparent;
  Event share;
  share.event_id = EventId::FromHiLo(0x0011223344556677ull, 0x8899aabbccddeeffull);
  share.type = EventType::kShare;
  share.story_id = StoryId(1);
  share.author_id = AuthorId(2);
  share.viewer_id = ViewerId(3);
  share.region = Region::kEu;
  share.event_time = EventTimeMs(1);
  Event reply;
  reply.event_id = EventId::FromHiLo(UINT64_MAX, UINT64_MAX);
  reply.type = EventType::kReply;
  reply.story_id = StoryId(4);
  reply.author_id = AuthorId(5);
  reply.viewer_id = ViewerId(UINT64_MAX);
  reply.region = Region::kApac;
  reply.event_time = EventTimeMs(kSampleNow);

  DecodedBatch batch = EncodeAndDecode(text);
  EXPECT_TRUE(batch.rejected.empty()) << batch.rejected[0].code << ": " << batch.rejected[0].message;
  EXPECT_EQ(batch.events, (std::vector<Event>{view, share, reply}));
}

TEST_F(EventProtoProtoc, MissingFields) {
  std::vector<std::string> events;
  for (const char* field :
       {"event_id", "type", "story_id", "author_id", "viewer_id", "region", "event_time", "watch_ms"}) {
    events.push_back(EventText(field));
  }
  events.push_back("events { }\n");
  events.push_back(EventText("watch_ms", "type: SHARE"));  // watch_ms is for views only
  events.push_back(EventText("watch_ms", "type: REPLY"));
  DecodedBatch batch = EncodeAndDecode(Join(events));
  std::vector<std::string> want(9, "missing_field");
  want.insert(want.end(), {"", ""});
  EXPECT_EQ(RejectionCodes(batch), want);
}

TEST_F(EventProtoProtoc, ZeroValuedFieldsArePresent) {
  std::vector<std::string> events = {
      EventText("", "story_id: 0 author_id: 0 viewer_id: 0 event_time: 0 watch_ms: 0"),
      EventText("", "type: SHARE watch_ms: 0"),
      EventText("", "event_id: \"\""),
      EventText("", "region: \"\""),
      EventText("", "traceparent: \"\""),
      EventText("", "type: EVENT_TYPE_UNSPECIFIED"),
  };
  DecodedBatch batch = EncodeAndDecode(Join(events));
  EXPECT_EQ(RejectionCodes(batch), (std::vector<std::string>{"", "", "invalid_event_id", "invalid_region",
                                                             "invalid_traceparent", "unknown_type"}));
  ASSERT_EQ(batch.events.size(), 2u);
  Event zeros = SampleReferenceEvent();
  zeros.story_id = StoryId(0);
  zeros.author_id = AuthorId(0);
  zeros.viewer_id = ViewerId(0);
  zeros.event_time = EventTimeMs(0);
  zeros.watch_ms = 0;
  EXPECT_EQ(batch.events[0], zeros);
  EXPECT_EQ(batch.events[1].type, EventType::kShare);
  EXPECT_EQ(batch.events[1].watch_ms, 0u);
}

TEST_F(EventProtoProtoc, ValueRules) {
  std::string future = std::to_string(kSampleNow + SampleValidation().max_future_ms + 1);
  std::string limit = std::to_string(kSampleNow + SampleValidation().max_future_ms);
  std::vector<std::pair<std::string, std::string>> cases = {
      {"type: 7", "unknown_type"},
      {"type: SHARE", "invalid_field"},  // watch_ms 1500 on a share
      {"event_time: -1", "invalid_field"},
      {"event_time: -9223372036854775808", "invalid_field"},
      {"event_time: " + future, "event_time_in_future"},
      {"event_time: " + limit, ""},
      {"watch_ms: 86400001", "invalid_field"},
      {"watch_ms: 4294967295", "invalid_field"},
      {"watch_ms: 86400000", ""},
      {"region: \"mars\"", "invalid_region"},
      {"region: \"EU\"", "invalid_region"},
      {"region: \"apac\"", ""},
      {"event_id: \"not-a-uuid\"", "invalid_event_id"},
      {"event_id: \"3f2504e0-4f89-41d3-9a0c-0305e82c330\"", "invalid_event_id"},
      {"traceparent: \"00-00000000000000000000000000000000-00f067aa0ba902b7-01\"", "invalid_traceparent"},
      {std::string("traceparent: \"") + kSampleTraceparent + "\"", ""},
      {"story_id: 18446744073709551615 author_id: 18446744073709551615", ""},
  };
  std::vector<std::string> events, want;
  for (const auto& [extra, code] : cases) {
    events.push_back(EventText("", extra));
    want.push_back(code);
  }
  EXPECT_EQ(RejectionCodes(EncodeAndDecode(Join(events))), want);
}

TEST_F(EventProtoProtoc, UnknownFieldsFromANewerSchema) {
  // A later version of the schema, as a newer client would compile it: new
  // fields of every wire type, at both levels.
  WriteFile(dir_.Path("next.proto"), R"(
syntax = "proto3";
package watershed.next;
enum EventType { EVENT_TYPE_UNSPECIFIED = 0; VIEW = 1; SHARE = 2; REPLY = 3; }
message Device { string model = 1; uint32 year = 2; }
message Event {
  optional string event_id = 1;
  optional EventType type = 2;
  optional uint64 story_id = 3;
  optional uint64 author_id = 4;
  optional uint64 viewer_id = 5;
  optional string region = 6;
  optional int64 event_time = 7;
  optional uint32 watch_ms = 8;
  optional string traceparent = 9;
  fixed32 f32 = 10;
  fixed64 f64 = 11;
  string note = 12;
  Device device = 13;
  repeated uint64 packed = 14;
  sint64 zigzag = 15;
  double score = 536870911;
}
message EventBatch {
  repeated Event events = 1;
  string client = 2;
  sfixed64 sent_at = 3;
  repeated Device devices = 4;
}
)");
  std::string text = EventText("",
                               "f32: 1 f64: 2 note: \"n\" device { model: \"x\" year: 2030 } packed: [1, 2, 300] "
                               "zigzag: -5 score: 0.5") +
                     "client: \"app/2.0\" sent_at: -1 devices { model: \"y\" }\n" + EventText();
  std::string bytes = Encode(text, "watershed.next.EventBatch", dir_.path(), "next.proto");
  DecodedBatch batch;
  ASSERT_TRUE(DecodeEventBatchProto(bytes, SampleValidation(), &batch).ok());
  EXPECT_TRUE(batch.rejected.empty()) << batch.rejected[0].code << ": " << batch.rejected[0].message;
  EXPECT_EQ(batch.events, (std::vector<Event>{SampleReferenceEvent(), SampleReferenceEvent()}));
}

TEST_F(EventProtoProtoc, LastValueWinsAcrossConcatenatedMessages) {
  // Concatenated serializations of one message merge: scalars keep the last.
  std::string first = Encode("event_id: \"" + std::string(kSampleUuid) + "\" type: SHARE story_id: 1 region: \"eu\"",
                             "watershed.v1.Event");
  std::string second = Encode("type: VIEW story_id: 42 author_id: 7 viewer_id: 9 region: \"us\" event_time: " +
                                  std::to_string(kSampleNow - 1000) + " watch_ms: 1500",
                              "watershed.v1.Event");
  DecodedBatch batch;
  ASSERT_TRUE(DecodeEventBatchProto(Batch({first + second}), SampleValidation(), &batch).ok());
  EXPECT_EQ(batch.events, std::vector<Event>{SampleReferenceEvent()});
}

TEST_F(EventProtoProtoc, Identity) {
  EventValidation v = SampleValidation();
  v.identity = EventValidation::Identity{ViewerId(9), Region::kUs};
  std::vector<std::string> events = {
      EventText("viewer_id", "region: \"us\""), EventText("region"), EventText("", "viewer_id: 0"),
      EventText("", "region: \"eu\""),          EventText(),
  };
  // Nothing but the identity fields left out.
  std::string anonymous = "events { event_id: \"" + std::string(kSampleUuid) +
                          "\" type: VIEW story_id: 42 author_id: 7 event_time: " + std::to_string(kSampleNow - 1000) +
                          " watch_ms: 1500 }\n";
  events.push_back(anonymous);
  DecodedBatch batch = EncodeAndDecode(Join(events), v);
  EXPECT_EQ(RejectionCodes(batch),
            (std::vector<std::string>{"", "", "identity_mismatch", "identity_mismatch", "", ""}));
  EXPECT_EQ(batch.events, std::vector<Event>(4, SampleReferenceEvent()));
  for (const EventRejection& r : batch.rejected) EXPECT_EQ(r.HttpStatus(), 403);

  v.identity = EventValidation::Identity{ViewerId(1234), Region::kApac};
  batch = EncodeAndDecode(anonymous, v);
  ASSERT_EQ(batch.events.size(), 1u);
  EXPECT_EQ(batch.events[0].viewer_id, ViewerId(1234));
  EXPECT_EQ(batch.events[0].region, Region::kApac);

  // Without identity both fields are required.
  EXPECT_EQ(RejectionCodes(EncodeAndDecode(anonymous)), std::vector<std::string>{"missing_field"});
}

// Text of `events` as protoc --decode prints a watershed.v1.EventBatch.
std::string ProtocText(const std::vector<Event>& events) {
  std::string out;
  for (const Event& e : events) {
    out += "events {\n";
    out += "  event_id: \"" + e.event_id.ToString() + "\"\n";
    out += std::string("  type: ") +
           (e.type == EventType::kView    ? "VIEW"
            : e.type == EventType::kShare ? "SHARE"
                                          : "REPLY") +
           "\n";
    out += "  story_id: " + std::to_string(e.story_id.value) + "\n";
    out += "  author_id: " + std::to_string(e.author_id.value) + "\n";
    out += "  viewer_id: " + std::to_string(e.viewer_id.value) + "\n";
    out += "  region: \"" + std::string(RegionName(e.region)) + "\"\n";
    out += "  event_time: " + std::to_string(e.event_time.value) + "\n";
    if (e.type == EventType::kView) out += "  watch_ms: " + std::to_string(e.watch_ms) + "\n";
    if (!e.traceparent.empty()) out += "  traceparent: \"" + e.traceparent + "\"\n";
    out += "}\n";
  }
  return out;
}

TEST_F(EventProtoProtoc, EncoderOutputReadByProtoc) {
  std::vector<Event> events = {SampleEvent(EventType::kView, 1), SampleEvent(EventType::kShare, 2),
                               SampleEvent(EventType::kReply, 3), SampleEvent(EventType::kView, 0)};
  events[0].traceparent = kSampleTraceparent;
  events[1].region = Region::kUs;
  events[2].region = Region::kApac;
  events[3].story_id = StoryId(UINT64_MAX);
  events[3].author_id = AuthorId(0);
  events[3].viewer_id = ViewerId(1u << 31);
  events[3].event_time = EventTimeMs(0);
  events[3].watch_ms = 0;
  std::string ours = EncodeEventBatchProto(events);
  EXPECT_EQ(Decode(ours), ProtocText(events));
  // protoc writes fields in number order, as we do: the bytes are the same.
  EXPECT_EQ(Encode(ProtocText(events)), ours);
}

}  // namespace
}  // namespace watershed
