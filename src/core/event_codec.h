#pragma once
// Codecs for schema-v1 events.
//  * JSON: the public wire format of POST /v1/events (docs/api.md).
//  * Binary: the fixed little-endian layout stored in log records
//    (docs/log_format.md). Both are pure functions, safe from any thread.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "core/status.h"

namespace watershed {

inline constexpr size_t kMaxEventsPerBatch = 1000;

struct EventValidation {
  int64_t now_ms = 0;                  // the gateway's clock when the batch arrived
  int64_t max_future_ms = 5 * 60'000;  // event_time may lead now by at most this
  size_t max_events = kMaxEventsPerBatch;
};

// One event refused inside an otherwise well-formed batch.
struct EventRejection {
  size_t index = 0;   // position in the request's "events" array
  std::string code;   // stable machine-readable code, e.g. "missing_field"
  std::string message;
};

struct DecodedBatch {
  std::vector<Event> events;  // the valid events, in request order
  std::vector<EventRejection> rejected;
};

// Decodes {"events": [...]}. Whole-body problems (malformed JSON, wrong
// shape, more than max_events events) return an error status: kInvalidArgument,
// or kTooLarge for the event count. Problems of single events become
// rejections and the other events are still returned.
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

}  // namespace watershed
