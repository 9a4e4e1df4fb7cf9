#pragma once
// Codecs for schema-v1 events.
//  * JSON: the public wire format of POST /v1/events (docs/api.md).
//  * Protobuf: the same contract in proto/watershed/v1/events.proto; its
//    decoder and encoder are in core/event_proto.h (docs/protobuf.md).
//  * Binary: the fixed little-endian layout stored in log records
//    (docs/log_format.md).
// Both ingest decoders apply one rule set (ValidateRawEvent below), so an
// event gets the same answer whichever format carried it. All functions
// are pure and safe from any thread.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "core/status.h"

namespace watershed {

inline constexpr size_t kMaxEventsPerBatch = 1000;

// Rejection code of an event whose viewer_id or region disagrees with the
// caller's token (see EventValidation::identity).
inline constexpr std::string_view kIdentityMismatchCode = "identity_mismatch";

struct EventValidation {
  // Who is sending, as proved by the bearer token.
  struct Identity {
    ViewerId viewer;
    Region region = Region::kUs;  // the viewer's home region
  };

  int64_t now_ms = 0;                  // the gateway's clock when the batch arrived
  int64_t max_future_ms = 5 * 60'000;  // event_time may lead now by at most this
  size_t max_events = kMaxEventsPerBatch;
  // When auth is on, the viewer and home region are the token's: an event
  // that omits viewer_id/region gets these; an event whose viewer_id or
  // region disagrees is rejected with code `identity_mismatch` (that check
  // comes before every other rule of the event). Without identity
  // (nullopt) both fields are required, as in the body-trusted mode.
  std::optional<Identity> identity;
};

// One event refused inside an otherwise well-formed batch.
struct EventRejection {
  size_t index = 0;   // position of the event in the request's batch
  std::string code;   // stable machine-readable code, e.g. "missing_field"
  std::string message;

  // The HTTP status this rejection stands for: 403 for identity_mismatch
  // (the caller may not send for that viewer or region), else 400.
  int HttpStatus() const { return code == kIdentityMismatchCode ? 403 : 400; }
};

struct DecodedBatch {
  std::vector<Event> events;  // the valid events, in request order
  std::vector<EventRejection> rejected;  // in request order
};

// Decodes {"events": [...]}. Whole-body problems (malformed JSON, wrong
// shape, more than max_events events) return an error status: kInvalidArgument,
// or kTooLarge for the event count. Problems of single events become
// rejections and the other events are still returned. `{"events":[]}` is
// valid and yields no events. Clears *out first.
Status DecodeEventBatchJson(std::string_view body, const EventValidation& validation,
                            DecodedBatch* out);

// Appends the JSON object of one event (no trailing separator).
void AppendEventJson(const Event& e, std::string* out);
// {"events":[...]} for a whole batch.
std::string EncodeEventBatchJson(std::span<const Event> events);

// Binary form: fixed 55-byte header then the traceparent bytes.
inline constexpr size_t kEventBinaryFixedSize = 16 + 1 + 1 + 8 + 8 + 8 + 8 + 4 + 1;
void AppendEventBinary(const Event& e, std::string* out);
// Decodes one binary event occupying exactly `bytes`.
Status DecodeEventBinary(std::string_view bytes, Event* out);

// ---------------------------------------------------------------------------
// Shared by the JSON and protobuf decoders only; other components use the
// functions above.
namespace codec_internal {

enum class IngestFormat : uint8_t { kJson, kProtobuf };

// One event as a format decoder found it, before any schema rule ran.
// The views point into the request body or the parser's buffer and must
// outlive the ValidateRawEvent call.
struct RawEvent {
  enum Field : uint8_t {
    kEventId,
    kType,
    kStoryId,
    kAuthorId,
    kViewerId,
    kRegion,
    kEventTime,
    kWatchMs,
    kTraceparent,
  };
  uint16_t present = 0;     // bit (1 << Field): the field was in the event
  uint16_t wrong_kind = 0;  // bit: present, but as the wrong JSON type or
                            // protobuf wire type; its value is unusable

  std::string_view event_id;
  uint8_t type = 0;  // an EventType value; 0 when present but not a known type
  uint64_t story_id = 0;
  uint64_t author_id = 0;
  uint64_t viewer_id = 0;
  std::string_view region;
  int64_t event_time = 0;
  uint64_t watch_ms = 0;  // full width, so an out-of-range value is never truncated
  std::string_view traceparent;

  bool Has(Field f) const { return (present >> f) & 1u; }
  bool WrongKind(Field f) const { return (wrong_kind >> f) & 1u; }
  void MarkPresent(Field f) { present = static_cast<uint16_t>(present | 1u << f); }
  void MarkWrongKind(Field f) {
    MarkPresent(f);
    wrong_kind = static_cast<uint16_t>(wrong_kind | 1u << f);
  }
};

// Applies the schema-v1 rules (docs/api.md) to `raw`, the event at
// position `index` of the batch: appends the valid event to out->events or
// a rejection to out->rejected. `format` only shapes the messages and the
// code of a wrong-kind field (JSON: the field's own code, e.g.
// invalid_event_id for a number; protobuf: invalid_field).
void AddRawEvent(const RawEvent& raw, const EventValidation& validation, IngestFormat format, size_t index,
                 DecodedBatch* out);

}  // namespace codec_internal
}  // namespace watershed
