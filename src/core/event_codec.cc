#include "core/event_codec.h"

#include <simdjson.h>

#include <charconv>
#include <cstring>
#include <iterator>
#include <optional>
#include <utility>

#include "core/endian.h"
#include "core/trace_context.h"

namespace watershed {
namespace {

using simdjson::dom::element;
using simdjson::dom::object;

bool ValidTraceparent(std::string_view s) { return ParseTraceparent(s).has_value(); }

}  // namespace

namespace codec_internal {
namespace {

using Field = RawEvent::Field;

struct FieldInfo {
  const char* name;
  const char* bad_value_code;  // also the code of a wrong JSON type
  // Message for a wrong JSON type; for the numbers also their range rule.
  const char* rule_message;
  bool proto_length_delimited;  // else a varint on the protobuf wire
};

// Indexed by RawEvent::Field.
constexpr FieldInfo kFields[] = {
    {"event_id", "invalid_event_id", "'event_id' must be a string", true},
    {"type", "unknown_type", "'type' must be a string", false},
    {"story_id", "invalid_field", "'story_id' must be an unsigned 64-bit integer", false},
    {"author_id", "invalid_field", "'author_id' must be an unsigned 64-bit integer", false},
    {"viewer_id", "invalid_field", "'viewer_id' must be an unsigned 64-bit integer", false},
    {"region", "invalid_region", "'region' must be a string", true},
    {"event_time", "invalid_field", "'event_time' must be a non-negative integer (ms since epoch)", false},
    {"watch_ms", "invalid_field", "'watch_ms' must be an integer in 0..86400000", false},
    {"traceparent", "invalid_traceparent", "'traceparent' must be a W3C trace context (version 00)", true},
};
static_assert(std::size(kFields) == RawEvent::kTraceparent + 1, "one entry per RawEvent::Field");

bool Reject(EventRejection* why, std::string_view code, std::string message) {
  why->code.assign(code);
  why->message = std::move(message);
  return false;
}

// False (with *why set) unless `f` is present with a value of the right kind.
bool Usable(const RawEvent& raw, Field f, IngestFormat format, EventRejection* why) {
  const FieldInfo& info = kFields[f];
  if (!raw.Has(f)) return Reject(why, "missing_field", std::string("missing field '") + info.name + "'");
  if (!raw.WrongKind(f)) return true;
  if (format == IngestFormat::kJson) return Reject(why, info.bad_value_code, info.rule_message);
  return Reject(why, "invalid_field",
                std::string("'") + info.name + "' has the wrong protobuf wire type (expected " +
                    (info.proto_length_delimited ? "length-delimited" : "varint") + ")");
}

bool Validate(const RawEvent& raw, const EventValidation& v, IngestFormat format, Event* e, EventRejection* why) {
  std::optional<Region> region;
  if (raw.Has(Field::kRegion) && !raw.WrongKind(Field::kRegion)) region = ParseRegion(raw.region);
  // Impersonation is reported as such whatever else is wrong with the event.
  if (v.identity) {
    if (raw.Has(Field::kViewerId) && !raw.WrongKind(Field::kViewerId) && raw.viewer_id != v.identity->viewer.value)
      return Reject(why, kIdentityMismatchCode, "'viewer_id' differs from the viewer of the bearer token");
    if (region && *region != v.identity->region)
      return Reject(why, kIdentityMismatchCode, "'region' differs from the home region of the bearer token");
  }

  if (!Usable(raw, Field::kEventId, format, why)) return false;
  auto id = ParseUuid(raw.event_id);
  if (!id) return Reject(why, "invalid_event_id", "'event_id' must be a UUID (8-4-4-4-12 hex digits)");
  e->event_id = *id;

  if (!Usable(raw, Field::kType, format, why)) return false;
  if (raw.type < static_cast<uint8_t>(EventType::kView) || raw.type > static_cast<uint8_t>(EventType::kReply))
    return Reject(why, "unknown_type",
                  format == IngestFormat::kJson ? "'type' must be one of view, share, reply"
                                                : "'type' must be VIEW, SHARE or REPLY");
  e->type = static_cast<EventType>(raw.type);

  if (!Usable(raw, Field::kStoryId, format, why)) return false;
  e->story_id = StoryId(raw.story_id);
  if (!Usable(raw, Field::kAuthorId, format, why)) return false;
  e->author_id = AuthorId(raw.author_id);

  if (v.identity && !raw.Has(Field::kViewerId)) {
    e->viewer_id = v.identity->viewer;
  } else {
    if (!Usable(raw, Field::kViewerId, format, why)) return false;
    e->viewer_id = ViewerId(raw.viewer_id);
  }

  if (v.identity && !raw.Has(Field::kRegion)) {
    e->region = v.identity->region;
  } else {
    if (!Usable(raw, Field::kRegion, format, why)) return false;
    if (!region) return Reject(why, "invalid_region", "'region' must be one of " + RegionNamesText());
    e->region = *region;
  }

  if (!Usable(raw, Field::kEventTime, format, why)) return false;
  int64_t t = raw.event_time;
  if (t < 0) return Reject(why, "invalid_field", kFields[Field::kEventTime].rule_message);
  if (t > v.now_ms + v.max_future_ms)
    return Reject(why, "event_time_in_future",
                  "'event_time' is " + std::to_string(t - v.now_ms) + " ms ahead of the server clock (limit " +
                      std::to_string(v.max_future_ms) + " ms)");
  e->event_time = EventTimeMs(t);

  e->watch_ms = 0;
  if (raw.Has(Field::kWatchMs)) {
    if (!Usable(raw, Field::kWatchMs, format, why)) return false;
    if (raw.watch_ms > kMaxWatchMs) return Reject(why, "invalid_field", kFields[Field::kWatchMs].rule_message);
    if (e->type != EventType::kView && raw.watch_ms != 0)
      return Reject(why, "invalid_field", "'watch_ms' is allowed only on view events");
    e->watch_ms = static_cast<uint32_t>(raw.watch_ms);
  } else if (e->type == EventType::kView) {
    return Reject(why, "missing_field", "missing field 'watch_ms' (required on view events)");
  }

  e->traceparent.clear();
  if (raw.Has(Field::kTraceparent)) {
    if (!Usable(raw, Field::kTraceparent, format, why)) return false;
    if (!ValidTraceparent(raw.traceparent))
      return Reject(why, "invalid_traceparent", kFields[Field::kTraceparent].rule_message);
    e->traceparent.assign(raw.traceparent);
  }
  return true;
}

}  // namespace

void AddRawEvent(const RawEvent& raw, const EventValidation& v, IngestFormat format, size_t index,
                 DecodedBatch* out) {
  // Decoded in place: no copy of the event, and its traceparent buffer is
  // the only allocation.
  Event& e = out->events.emplace_back();
  EventRejection why;
  if (Validate(raw, v, format, &e, &why)) return;
  out->events.pop_back();
  why.index = index;
  out->rejected.push_back(std::move(why));
}

}  // namespace codec_internal

namespace {

using codec_internal::IngestFormat;
using codec_internal::RawEvent;

std::optional<RawEvent::Field> JsonField(std::string_view key) {
  switch (key.size()) {
    case 4:
      if (key == "type") return RawEvent::kType;
      break;
    case 6:
      if (key == "region") return RawEvent::kRegion;
      break;
    case 8:
      if (key == "event_id") return RawEvent::kEventId;
      if (key == "story_id") return RawEvent::kStoryId;
      if (key == "watch_ms") return RawEvent::kWatchMs;
      break;
    case 9:
      if (key == "author_id") return RawEvent::kAuthorId;
      if (key == "viewer_id") return RawEvent::kViewerId;
      break;
    case 10:
      if (key == "event_time") return RawEvent::kEventTime;
      break;
    case 11:
      if (key == "traceparent") return RawEvent::kTraceparent;
      break;
  }
  return std::nullopt;
}

// One pass over the members of an event object. Unknown keys are ignored;
// a repeated key keeps its first value.
void ReadJsonEvent(object obj, RawEvent* raw) {
  for (simdjson::dom::key_value_pair member : obj) {
    std::optional<RawEvent::Field> f = JsonField(member.key);
    if (!f || raw->Has(*f)) continue;
    element x = member.value;
    bool ok = false;
    switch (*f) {
      case RawEvent::kEventId:
        ok = x.get(raw->event_id) == simdjson::SUCCESS;
        break;
      case RawEvent::kType: {
        std::string_view text;
        ok = x.get(text) == simdjson::SUCCESS;
        if (ok) raw->type = static_cast<uint8_t>(ParseEventType(text).value_or(EventType{0}));
        break;
      }
      case RawEvent::kStoryId:
        ok = x.get(raw->story_id) == simdjson::SUCCESS;
        break;
      case RawEvent::kAuthorId:
        ok = x.get(raw->author_id) == simdjson::SUCCESS;
        break;
      case RawEvent::kViewerId:
        ok = x.get(raw->viewer_id) == simdjson::SUCCESS;
        break;
      case RawEvent::kRegion:
        ok = x.get(raw->region) == simdjson::SUCCESS;
        break;
      case RawEvent::kEventTime:
        ok = x.get(raw->event_time) == simdjson::SUCCESS;
        break;
      case RawEvent::kWatchMs:
        ok = x.get(raw->watch_ms) == simdjson::SUCCESS;
        break;
      case RawEvent::kTraceparent:
        ok = x.get(raw->traceparent) == simdjson::SUCCESS;
        break;
    }
    if (ok) {
      raw->MarkPresent(*f);
    } else {
      raw->MarkWrongKind(*f);
    }
  }
}

}  // namespace

Status DecodeEventBatchJson(std::string_view body, const EventValidation& v, DecodedBatch* out) {
  out->events.clear();
  out->rejected.clear();
  thread_local simdjson::dom::parser parser;
  element root;
  if (auto err = parser.parse(body.data(), body.size()).get(root); err != simdjson::SUCCESS)
    return Status::InvalidArgument(std::string("malformed JSON: ") + simdjson::error_message(err));
  object obj;
  if (root.get(obj) != simdjson::SUCCESS) return Status::InvalidArgument("body must be a JSON object");
  simdjson::dom::array arr;
  if (obj["events"].get(arr) != simdjson::SUCCESS)
    return Status::InvalidArgument("body must have an 'events' array");
  size_t count = arr.size();
  if (count > v.max_events)
    return Status::TooLarge("batch has " + std::to_string(count) + " events; the limit is " +
                            std::to_string(v.max_events));
  out->events.reserve(count);
  size_t index = 0;
  for (element el : arr) {
    object event;
    if (el.get(event) != simdjson::SUCCESS) {
      out->rejected.push_back({index, "invalid_event", "event must be a JSON object"});
    } else {
      RawEvent raw;
      ReadJsonEvent(event, &raw);
      codec_internal::AddRawEvent(raw, v, IngestFormat::kJson, index, out);
    }
    ++index;
  }
  return Status::Ok();
}

namespace {
template <typename T>
void AppendNumber(T v, std::string* out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, end);
}
}  // namespace

void AppendEventJson(const Event& e, std::string* out) {
  out->append("{\"event_id\":\"");
  out->append(e.event_id.ToString());
  out->append("\",\"type\":\"");
  out->append(EventTypeName(e.type));
  out->append("\",\"story_id\":");
  AppendNumber(e.story_id.value, out);
  out->append(",\"author_id\":");
  AppendNumber(e.author_id.value, out);
  out->append(",\"viewer_id\":");
  AppendNumber(e.viewer_id.value, out);
  out->append(",\"region\":\"");
  out->append(RegionName(e.region));
  out->append("\",\"event_time\":");
  AppendNumber(e.event_time.value, out);
  if (e.type == EventType::kView) {
    out->append(",\"watch_ms\":");
    AppendNumber(e.watch_ms, out);
  }
  if (!e.traceparent.empty()) {
    out->append(",\"traceparent\":\"");
    out->append(e.traceparent);
    out->push_back('"');
  }
  out->push_back('}');
}

std::string EncodeEventBatchJson(std::span<const Event> events) {
  std::string out;
  out.reserve(events.size() * 220 + 16);
  out.append("{\"events\":[");
  for (size_t i = 0; i < events.size(); ++i) {
    if (i) out.push_back(',');
    AppendEventJson(events[i], &out);
  }
  out.append("]}");
  return out;
}

void AppendEventBinary(const Event& e, std::string* out) {
  size_t at = out->size();
  out->resize(at + kEventBinaryFixedSize + e.traceparent.size());
  char* p = out->data() + at;
  std::memcpy(p, e.event_id.bytes.data(), 16);
  p += 16;
  *p++ = static_cast<char>(e.type);
  *p++ = static_cast<char>(e.region);
  p = PutFixed64(p, e.story_id.value);
  p = PutFixed64(p, e.author_id.value);
  p = PutFixed64(p, e.viewer_id.value);
  p = PutFixed64(p, static_cast<uint64_t>(e.event_time.value));
  p = PutFixed32(p, e.watch_ms);
  *p++ = static_cast<char>(e.traceparent.size());
  std::memcpy(p, e.traceparent.data(), e.traceparent.size());
}

Status DecodeEventBinary(std::string_view b, Event* e) {
  if (b.size() < kEventBinaryFixedSize) return Status::Corruption("event record too short");
  const char* p = b.data();
  std::memcpy(e->event_id.bytes.data(), p, 16);
  p += 16;
  uint8_t type = static_cast<uint8_t>(*p++);
  uint8_t region = static_cast<uint8_t>(*p++);
  if (type < 1 || type > 3) return Status::Corruption("bad event type in record");
  if (region >= RegionCount()) return Status::Corruption("bad region in record");
  e->type = static_cast<EventType>(type);
  e->region = static_cast<Region>(region);
  e->story_id = StoryId(GetFixed64(p));
  e->author_id = AuthorId(GetFixed64(p + 8));
  e->viewer_id = ViewerId(GetFixed64(p + 16));
  e->event_time = EventTimeMs(static_cast<int64_t>(GetFixed64(p + 24)));
  e->watch_ms = GetFixed32(p + 32);
  size_t trace_len = static_cast<uint8_t>(p[36]);
  if (trace_len != 0 && trace_len != kMaxTraceparentBytes) return Status::Corruption("bad traceparent length in record");
  if (b.size() != kEventBinaryFixedSize + trace_len) return Status::Corruption("event record length mismatch");
  e->traceparent.assign(b.data() + kEventBinaryFixedSize, trace_len);
  return Status::Ok();
}

}  // namespace watershed
