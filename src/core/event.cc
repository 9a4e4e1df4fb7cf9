#include "core/event.h"

namespace watershed {

std::string_view EventTypeName(EventType t) {
  switch (t) {
    case EventType::kView: return "view";
    case EventType::kShare: return "share";
    case EventType::kReply: return "reply";
  }
  return "unknown";
}

std::optional<EventType> ParseEventType(std::string_view s) {
  if (s == "view") return EventType::kView;
  if (s == "share") return EventType::kShare;
  if (s == "reply") return EventType::kReply;
  return std::nullopt;
}

std::string_view RegionName(Region r) {
  switch (r) {
    case Region::kUs: return "us";
    case Region::kEu: return "eu";
    case Region::kApac: return "apac";
  }
  return "unknown";
}

std::optional<Region> ParseRegion(std::string_view s) {
  if (s == "us") return Region::kUs;
  if (s == "eu") return Region::kEu;
  if (s == "apac") return Region::kApac;
  return std::nullopt;
}

uint64_t EventId::Hi() const {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | bytes[i];
  return v;
}

uint64_t EventId::Lo() const {
  uint64_t v = 0;
  for (int i = 8; i < 16; ++i) v = (v << 8) | bytes[i];
  return v;
}

EventId EventId::FromHiLo(uint64_t hi, uint64_t lo) {
  EventId id;
  for (int i = 7; i >= 0; --i, hi >>= 8) id.bytes[i] = static_cast<uint8_t>(hi);
  for (int i = 15; i >= 8; --i, lo >>= 8) id.bytes[i] = static_cast<uint8_t>(lo);
  return id;
}

std::string EventId::ToString() const {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s.push_back('-');
    s.push_back(kHex[bytes[i] >> 4]);
    s.push_back(kHex[bytes[i] & 15]);
  }
  return s;
}

namespace {
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::optional<EventId> ParseUuid(std::string_view text) {
  if (text.size() != 36) return std::nullopt;
  EventId id;
  int byte = 0;
  for (size_t i = 0; i < 36;) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return std::nullopt;
      ++i;
      continue;
    }
    int hi = HexValue(text[i]);
    int lo = HexValue(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    id.bytes[byte++] = static_cast<uint8_t>(hi << 4 | lo);
    i += 2;
  }
  return id;
}

}  // namespace watershed
