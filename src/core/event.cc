#include "core/event.h"

#include <algorithm>

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

namespace {

// The region table. Fixed storage, so a name's string_view stays valid when
// a test replaces the table.
struct RegionTable {
  std::array<std::array<char, 64>, kMaxRegions> names{};
  std::array<uint8_t, kMaxRegions> lengths{};
  int count = 0;
};

RegionTable MakeDefaultTable() {
  RegionTable t;
  for (std::string_view name : {"us", "eu", "apac"}) {
    std::copy(name.begin(), name.end(), t.names[t.count].begin());
    t.lengths[t.count++] = static_cast<uint8_t>(name.size());
  }
  return t;
}

RegionTable& Table() {
  static RegionTable table = MakeDefaultTable();
  return table;
}

}  // namespace

bool IsValidRegionName(std::string_view s) {
  if (s.empty() || s.size() > 63 || s.front() == '-' || s == "global") return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  return true;
}

int RegionCount() { return Table().count; }

std::string_view RegionName(Region r) {
  const RegionTable& t = Table();
  const int i = static_cast<int>(r);
  if (i >= t.count) return "unknown";
  return std::string_view(t.names[i].data(), t.lengths[i]);
}

std::optional<Region> ParseRegion(std::string_view s) {
  const RegionTable& t = Table();
  for (int i = 0; i < t.count; ++i)
    if (std::string_view(t.names[i].data(), t.lengths[i]) == s) return static_cast<Region>(i);
  return std::nullopt;
}

std::string RegionNamesText(std::string_view separator) {
  std::string out;
  for (int i = 0; i < RegionCount(); ++i) {
    if (i) out += separator;
    out += RegionName(static_cast<Region>(i));
  }
  return out;
}

Status SetRegionNames(const std::vector<std::string>& names) {
  if (names.empty()) return Status::InvalidArgument("region-names: no region named");
  if (names.size() > static_cast<size_t>(kMaxRegions))
    return Status::InvalidArgument("region-names: at most " + std::to_string(kMaxRegions) + " regions");
  RegionTable t;
  for (const std::string& name : names) {
    if (!IsValidRegionName(name))
      return Status::InvalidArgument("region-names: '" + name +
                                     "' is not a region name (1-63 of a-z, 0-9 and '-', not starting with '-', "
                                     "not 'global')");
    for (int i = 0; i < t.count; ++i)
      if (std::string_view(t.names[i].data(), t.lengths[i]) == name)
        return Status::InvalidArgument("region-names: '" + name + "' twice");
    std::copy(name.begin(), name.end(), t.names[t.count].begin());
    t.lengths[t.count++] = static_cast<uint8_t>(name.size());
  }
  Table() = t;
  return Status::Ok();
}

Status SetRegionNames(std::string_view comma_separated) {
  std::vector<std::string> names;
  size_t pos = 0;
  for (;;) {
    const size_t comma = comma_separated.find(',', pos);
    std::string_view item = comma_separated.substr(pos, comma == std::string_view::npos ? comma : comma - pos);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    names.emplace_back(item);
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return SetRegionNames(names);
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
