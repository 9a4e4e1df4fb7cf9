#include "core/event_proto.h"

#include <bit>
#include <cstring>

namespace watershed {
namespace {

using codec_internal::IngestFormat;
using codec_internal::RawEvent;
namespace pw = proto_wire;

enum class WireError : uint8_t {
  kNone,
  kTruncatedVarint,
  kOverlongVarint,
  kFieldNumberZero,
  kFieldNumberTooLarge,
  kGroup,
  kUndefinedWireType,
  kTruncatedFixed,
  kLengthPastEnd,
};

const char* WireErrorText(WireError e) {
  switch (e) {
    case WireError::kNone: return "no error";
    case WireError::kTruncatedVarint: return "truncated varint";
    case WireError::kOverlongVarint: return "varint longer than 10 bytes or past 64 bits";
    case WireError::kFieldNumberZero: return "field number 0";
    case WireError::kFieldNumberTooLarge: return "field number above 2^29-1";
    case WireError::kGroup: return "group wire type (3/4) is not supported";
    case WireError::kUndefinedWireType: return "undefined wire type (6/7)";
    case WireError::kTruncatedFixed: return "truncated fixed-width value";
    case WireError::kLengthPastEnd: return "length runs past the end of its message";
  }
  return "unknown error";
}

// One field as read off the wire.
struct WireField {
  uint32_t number = 0;
  uint8_t type = 0;
  uint64_t value = 0;      // varint, fixed64 and fixed32 payloads
  std::string_view bytes;  // length-delimited payload
};

inline WireError ReadVarint(const uint8_t** pp, const uint8_t* end, uint64_t* out) {
  const uint8_t* p = *pp;
  if (p < end && *p < 0x80) {  // most tags, lengths, types and small ids
    *out = *p;
    *pp = p + 1;
    return WireError::kNone;
  }
  uint64_t v = 0;
  for (size_t i = 0; i < pw::kMaxVarintBytes; ++i) {
    if (p == end) return WireError::kTruncatedVarint;
    uint8_t b = *p++;
    // The 10th byte holds bit 63 only; anything more is not a 64-bit value.
    if (i == pw::kMaxVarintBytes - 1 && b > 1) return WireError::kOverlongVarint;
    v |= uint64_t{b & 0x7fu} << (7 * i);
    if (b < 0x80) {
      *out = v;
      *pp = p;
      return WireError::kNone;
    }
  }
  return WireError::kOverlongVarint;
}

// Reads the field at *pp and advances past it. REQUIRES: *pp < end.
inline WireError ReadField(const uint8_t** pp, const uint8_t* end, WireField* f) {
  uint64_t tag = 0;
  if (WireError err = ReadVarint(pp, end, &tag); err != WireError::kNone) return err;
  if ((tag >> 3) > pw::kMaxFieldNumber) return WireError::kFieldNumberTooLarge;
  f->number = static_cast<uint32_t>(tag >> 3);
  f->type = static_cast<uint8_t>(tag & 7);
  if (f->number == 0) return WireError::kFieldNumberZero;
  switch (f->type) {
    case pw::kVarint:
      return ReadVarint(pp, end, &f->value);
    case pw::kFixed64:
      if (end - *pp < 8) return WireError::kTruncatedFixed;
      std::memcpy(&f->value, *pp, 8);  // little-endian, as the wire
      *pp += 8;
      return WireError::kNone;
    case pw::kFixed32: {
      if (end - *pp < 4) return WireError::kTruncatedFixed;
      uint32_t v;
      std::memcpy(&v, *pp, 4);
      f->value = v;
      *pp += 4;
      return WireError::kNone;
    }
    case pw::kLengthDelimited: {
      uint64_t len = 0;
      if (WireError err = ReadVarint(pp, end, &len); err != WireError::kNone) return err;
      if (len > static_cast<uint64_t>(end - *pp)) return WireError::kLengthPastEnd;
      f->bytes = std::string_view(reinterpret_cast<const char*>(*pp), len);
      *pp += len;
      return WireError::kNone;
    }
    case pw::kStartGroup:
    case pw::kEndGroup:
      return WireError::kGroup;
    default:
      return WireError::kUndefinedWireType;
  }
}

inline bool Expect(const WireField& f, pw::WireType want, RawEvent::Field field, RawEvent* raw) {
  if (f.type != want) {
    raw->MarkWrongKind(field);
    return false;
  }
  raw->MarkPresent(field);
  return true;
}

// Maps the fields of one serialized Event onto *raw. On a framing error
// returns it, with *error_at its byte offset inside the event.
WireError ReadProtoEvent(std::string_view bytes, RawEvent* raw, size_t* error_at) {
  const uint8_t* begin = reinterpret_cast<const uint8_t*>(bytes.data());
  const uint8_t* end = begin + bytes.size();
  WireField f;
  for (const uint8_t* p = begin; p < end;) {
    const uint8_t* at = p;
    if (WireError err = ReadField(&p, end, &f); err != WireError::kNone) {
      *error_at = static_cast<size_t>(at - begin);
      return err;
    }
    switch (f.number) {
      case pw::kEventId:
        if (Expect(f, pw::kLengthDelimited, RawEvent::kEventId, raw)) raw->event_id = f.bytes;
        break;
      case pw::kType:
        // Checked on the full 64 bits: 2^32+1 must not truncate to VIEW.
        if (Expect(f, pw::kVarint, RawEvent::kType, raw))
          raw->type = f.value >= 1 && f.value <= 3 ? static_cast<uint8_t>(f.value) : 0;
        break;
      case pw::kStoryId:
        if (Expect(f, pw::kVarint, RawEvent::kStoryId, raw)) raw->story_id = f.value;
        break;
      case pw::kAuthorId:
        if (Expect(f, pw::kVarint, RawEvent::kAuthorId, raw)) raw->author_id = f.value;
        break;
      case pw::kViewerId:
        if (Expect(f, pw::kVarint, RawEvent::kViewerId, raw)) raw->viewer_id = f.value;
        break;
      case pw::kRegion:
        if (Expect(f, pw::kLengthDelimited, RawEvent::kRegion, raw)) raw->region = f.bytes;
        break;
      case pw::kEventTime:
        if (Expect(f, pw::kVarint, RawEvent::kEventTime, raw)) raw->event_time = static_cast<int64_t>(f.value);
        break;
      case pw::kWatchMs:
        // Kept at 64 bits so a value past uint32 is rejected, never truncated.
        if (Expect(f, pw::kVarint, RawEvent::kWatchMs, raw)) raw->watch_ms = f.value;
        break;
      case pw::kTraceparent:
        if (Expect(f, pw::kLengthDelimited, RawEvent::kTraceparent, raw)) raw->traceparent = f.bytes;
        break;
      default:
        break;  // a newer schema's field
    }
  }
  return WireError::kNone;
}

Status Malformed(std::string what, size_t at) {
  return Status::InvalidArgument("malformed protobuf: " + what + " at byte " + std::to_string(at));
}

size_t VarintSize(uint64_t v) { return v < 0x80 ? 1 : (static_cast<size_t>(std::bit_width(v)) + 6) / 7; }

char* PutVarint(char* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}

// Every Event field number is below 16, so each tag is one byte.
constexpr char Tag(uint32_t field, pw::WireType type) { return static_cast<char>(field << 3 | type); }
static_assert(pw::kTraceparent < 16 && pw::kBatchEvents < 16);

constexpr size_t kUuidTextBytes = 36;

char* PutUuid(char* p, const EventId& id) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) *p++ = '-';
    *p++ = kHex[id.bytes[i] >> 4];
    *p++ = kHex[id.bytes[i] & 15];
  }
  return p;
}

char* PutString(char* p, uint32_t field, std::string_view s) {
  *p++ = Tag(field, pw::kLengthDelimited);
  p = PutVarint(p, s.size());
  std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

char* PutVarintField(char* p, uint32_t field, uint64_t v) {
  *p++ = Tag(field, pw::kVarint);
  return PutVarint(p, v);
}

size_t EventSize(const Event& e) {
  size_t n = 2 + kUuidTextBytes;  // tag, length, text
  n += 1 + VarintSize(static_cast<uint8_t>(e.type));
  n += 1 + VarintSize(e.story_id.value);
  n += 1 + VarintSize(e.author_id.value);
  n += 1 + VarintSize(e.viewer_id.value);
  n += 2 + RegionName(e.region).size();
  n += 1 + VarintSize(static_cast<uint64_t>(e.event_time.value));
  if (e.type == EventType::kView) n += 1 + VarintSize(e.watch_ms);
  if (!e.traceparent.empty()) n += 1 + VarintSize(e.traceparent.size()) + e.traceparent.size();
  return n;
}

char* PutEvent(char* p, const Event& e) {
  *p++ = Tag(pw::kEventId, pw::kLengthDelimited);
  *p++ = static_cast<char>(kUuidTextBytes);
  p = PutUuid(p, e.event_id);
  p = PutVarintField(p, pw::kType, static_cast<uint8_t>(e.type));
  p = PutVarintField(p, pw::kStoryId, e.story_id.value);
  p = PutVarintField(p, pw::kAuthorId, e.author_id.value);
  p = PutVarintField(p, pw::kViewerId, e.viewer_id.value);
  p = PutString(p, pw::kRegion, RegionName(e.region));
  p = PutVarintField(p, pw::kEventTime, static_cast<uint64_t>(e.event_time.value));
  if (e.type == EventType::kView) p = PutVarintField(p, pw::kWatchMs, e.watch_ms);
  if (!e.traceparent.empty()) p = PutString(p, pw::kTraceparent, e.traceparent);
  return p;
}

}  // namespace

Status DecodeEventBatchProto(std::string_view body, const EventValidation& v, DecodedBatch* out) {
  out->events.clear();
  out->rejected.clear();
  const uint8_t* begin = reinterpret_cast<const uint8_t*>(body.data());
  const uint8_t* end = begin + body.size();
  WireField f;

  // Pass 1: the framing of the whole body, and the event count, before any
  // event is decoded (as the JSON decoder parses the whole document first).
  size_t count = 0;
  for (const uint8_t* p = begin; p < end;) {
    const uint8_t* at = p;
    if (WireError err = ReadField(&p, end, &f); err != WireError::kNone)
      return Malformed(WireErrorText(err), static_cast<size_t>(at - begin));
    if (f.number != pw::kBatchEvents) continue;
    if (f.type != pw::kLengthDelimited)
      return Malformed("field 1 (events) has wire type " + std::to_string(f.type) + ", not 2 (length-delimited),",
                       static_cast<size_t>(at - begin));
    ++count;
  }
  if (count > v.max_events)
    return Status::TooLarge("batch has " + std::to_string(count) + " events; the limit is " +
                            std::to_string(v.max_events));

  // Pass 2: the events. The framing is known good, so ReadField succeeds.
  out->events.reserve(count);
  size_t index = 0;
  for (const uint8_t* p = begin; p < end;) {
    ReadField(&p, end, &f);
    if (f.number != pw::kBatchEvents) continue;
    RawEvent raw;
    size_t error_at = 0;
    if (WireError err = ReadProtoEvent(f.bytes, &raw, &error_at); err != WireError::kNone) {
      out->rejected.push_back({index, "invalid_event",
                               std::string("event is not a valid protobuf message: ") + WireErrorText(err) +
                                   " at byte " + std::to_string(error_at) + " of the event"});
    } else {
      codec_internal::AddRawEvent(raw, v, IngestFormat::kProtobuf, index, out);
    }
    ++index;
  }
  return Status::Ok();
}

std::string EncodeEventBatchProto(std::span<const Event> events) {
  size_t total = 0;
  for (const Event& e : events) {
    size_t n = EventSize(e);
    total += 1 + VarintSize(n) + n;
  }
  std::string out(total, '\0');
  char* p = out.data();
  for (const Event& e : events) {
    *p++ = Tag(pw::kBatchEvents, pw::kLengthDelimited);
    p = PutVarint(p, EventSize(e));
    p = PutEvent(p, e);
  }
  return out;
}

}  // namespace watershed
