#pragma once
// Protobuf codec of ingest batches: the body of POST /v1/events with
// Content-Type: application/x-protobuf. The schema is
// proto/watershed/v1/events.proto and the contract docs/protobuf.md; the
// field numbers below are that file's, fixed forever.
//
// Hand-written over the protobuf wire format (no libprotobuf). Decoding
// applies exactly the JSON decoder's rules (core/event_codec.h). Pure
// functions, safe from any thread.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/event.h"
#include "core/event_codec.h"
#include "core/status.h"

namespace watershed {

namespace proto_wire {

// Wire types of the protobuf encoding.
enum WireType : uint8_t {
  kVarint = 0,
  kFixed64 = 1,
  kLengthDelimited = 2,
  kStartGroup = 3,  // deprecated groups: never valid here
  kEndGroup = 4,
  kFixed32 = 5,
};

inline constexpr size_t kMaxVarintBytes = 10;
inline constexpr uint32_t kMaxFieldNumber = (1u << 29) - 1;

// message EventBatch
inline constexpr uint32_t kBatchEvents = 1;  // repeated Event

// message Event
inline constexpr uint32_t kEventId = 1;     // string, UUID text
inline constexpr uint32_t kType = 2;        // enum EventType, VIEW=1 SHARE=2 REPLY=3
inline constexpr uint32_t kStoryId = 3;     // uint64
inline constexpr uint32_t kAuthorId = 4;    // uint64
inline constexpr uint32_t kViewerId = 5;    // uint64
inline constexpr uint32_t kRegion = 6;      // string, a name of region-names
inline constexpr uint32_t kEventTime = 7;   // int64, ms since the epoch
inline constexpr uint32_t kWatchMs = 8;     // uint32
inline constexpr uint32_t kTraceparent = 9; // string

}  // namespace proto_wire

// Decodes a serialized watershed.v1.EventBatch, with the contract of
// DecodeEventBatchJson:
//  * whole-body problems return kInvalidArgument ("malformed protobuf: ..."):
//    a truncated varint or length, a length past the end, a varint over 10
//    bytes or past 64 bits, field number 0, a group or undefined wire type,
//    field 1 (events) not length-delimited; more than validation.max_events
//    events returns kTooLarge (checked after the body's framing is known
//    good, before any event is decoded);
//  * problems of one event become an EventRejection with the JSON codes:
//    invalid_event when its bytes do not parse as a message, invalid_field
//    when a known field has the wrong wire type, else the shared rules.
// Unknown fields are skipped at both levels; a scalar field given twice
// keeps the last value. An empty body is a batch of zero events. Clears
// *out first; views into `body` are not kept.
Status DecodeEventBatchProto(std::string_view body, const EventValidation& validation, DecodedBatch* out);

// Serializes `events` as a watershed.v1.EventBatch. Every field is written
// explicitly, zero values included, except watch_ms on share/reply events
// and an empty traceparent (as the JSON encoder does).
std::string EncodeEventBatchProto(std::span<const Event> events);

}  // namespace watershed
