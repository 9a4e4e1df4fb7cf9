#include "core/event_codec.h"

#include <simdjson.h>

#include <charconv>
#include <cstring>

#include "core/endian.h"

namespace watershed {
namespace {

using simdjson::dom::element;
using simdjson::dom::object;

bool IsHex(std::string_view s) {
  for (char c : s) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    if (!ok) return false;
  }
  return true;
}

// W3C trace-context version 00: 00-<32 hex>-<16 hex>-<2 hex>, not all-zero ids.
bool ValidTraceparent(std::string_view s) {
  if (s.size() != kMaxTraceparentBytes) return false;
  if (s[2] != '-' || s[35] != '-' || s[52] != '-') return false;
  if (s.substr(0, 2) != "00") return false;
  std::string_view trace = s.substr(3, 32), span = s.substr(36, 16), flags = s.substr(53, 2);
  if (!IsHex(trace) || !IsHex(span) || !IsHex(flags)) return false;
  return trace != std::string(32, '0') && span != std::string(16, '0');
}

struct FieldError {
  const char* code;
  std::string message;
};

// Reads one event object; returns an error description or nothing.
std::optional<FieldError> DecodeOne(element el, const EventValidation& v, Event* e) {
  object obj;
  if (el.get(obj) != simdjson::SUCCESS) return FieldError{"invalid_event", "event must be a JSON object"};

  auto need = [&](const char* name, element* out) -> std::optional<FieldError> {
    if (obj[name].get(*out) != simdjson::SUCCESS)
      return FieldError{"missing_field", std::string("missing field '") + name + "'"};
    return std::nullopt;
  };
  auto need_u64 = [&](const char* name, uint64_t* out) -> std::optional<FieldError> {
    element x;
    if (auto err = need(name, &x)) return err;
    if (x.get(*out) != simdjson::SUCCESS)
      return FieldError{"invalid_field", std::string("'") + name + "' must be an unsigned 64-bit integer"};
    return std::nullopt;
  };

  element x;
  std::string_view text;
  if (auto err = need("event_id", &x)) return err;
  if (x.get(text) != simdjson::SUCCESS) return FieldError{"invalid_event_id", "'event_id' must be a string"};
  auto id = ParseUuid(text);
  if (!id) return FieldError{"invalid_event_id", "'event_id' must be a UUID (8-4-4-4-12 hex digits)"};
  e->event_id = *id;

  if (auto err = need("type", &x)) return err;
  if (x.get(text) != simdjson::SUCCESS) return FieldError{"unknown_type", "'type' must be a string"};
  auto type = ParseEventType(text);
  if (!type) return FieldError{"unknown_type", "'type' must be one of view, share, reply"};
  e->type = *type;

  uint64_t n = 0;
  if (auto err = need_u64("story_id", &n)) return err;
  e->story_id = StoryId(n);
  if (auto err = need_u64("author_id", &n)) return err;
  e->author_id = AuthorId(n);
  if (auto err = need_u64("viewer_id", &n)) return err;
  e->viewer_id = ViewerId(n);

  if (auto err = need("region", &x)) return err;
  if (x.get(text) != simdjson::SUCCESS) return FieldError{"invalid_region", "'region' must be a string"};
  auto region = ParseRegion(text);
  if (!region) return FieldError{"invalid_region", "'region' must be one of us, eu, apac"};
  e->region = *region;

  int64_t t = 0;
  if (auto err = need("event_time", &x)) return err;
  if (x.get(t) != simdjson::SUCCESS || t < 0)
    return FieldError{"invalid_field", "'event_time' must be a non-negative integer (ms since epoch)"};
  if (t > v.now_ms + v.max_future_ms)
    return FieldError{"event_time_in_future",
                      "'event_time' is " + std::to_string(t - v.now_ms) + " ms ahead of the server clock (limit " +
                          std::to_string(v.max_future_ms) + " ms)"};
  e->event_time = EventTimeMs(t);

  e->watch_ms = 0;
  if (obj["watch_ms"].get(x) == simdjson::SUCCESS) {
    if (x.get(n) != simdjson::SUCCESS || n > kMaxWatchMs)
      return FieldError{"invalid_field", "'watch_ms' must be an integer in 0..86400000"};
    if (e->type != EventType::kView && n != 0)
      return FieldError{"invalid_field", "'watch_ms' is allowed only on view events"};
    e->watch_ms = static_cast<uint32_t>(n);
  } else if (e->type == EventType::kView) {
    return FieldError{"missing_field", "missing field 'watch_ms' (required on view events)"};
  }

  e->traceparent.clear();
  if (obj["traceparent"].get(x) == simdjson::SUCCESS) {
    if (x.get(text) != simdjson::SUCCESS || !ValidTraceparent(text))
      return FieldError{"invalid_traceparent", "'traceparent' must be a W3C trace context (version 00)"};
    e->traceparent.assign(text);
  }
  return std::nullopt;
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
  Event e;
  for (element el : arr) {
    if (auto err = DecodeOne(el, v, &e)) {
      out->rejected.push_back({index, err->code, std::move(err->message)});
    } else {
      out->events.push_back(e);
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
  if (region >= kRegionCount) return Status::Corruption("bad region in record");
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
