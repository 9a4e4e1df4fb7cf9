#pragma once
// Engagement event, schema v1 (docs/api.md), and the small strong types
// that keep ids, offsets and times from being mixed up.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace watershed {

// A named integer: StoryId and ViewerId do not convert into each other.
template <typename Tag, typename Rep>
struct StrongInt {
  Rep value = 0;
  constexpr StrongInt() = default;
  constexpr explicit StrongInt(Rep v) : value(v) {}
  constexpr auto operator<=>(const StrongInt&) const = default;
};

using StoryId = StrongInt<struct StoryIdTag, uint64_t>;
using AuthorId = StrongInt<struct AuthorIdTag, uint64_t>;
using ViewerId = StrongInt<struct ViewerIdTag, uint64_t>;
// Client-clock time of the engagement, ms since the Unix epoch.
using EventTimeMs = StrongInt<struct EventTimeTag, int64_t>;
// Log-clock time at which the log accepted the record, ms since the epoch.
using AppendTimeMs = StrongInt<struct AppendTimeTag, int64_t>;
// Position of a record in one log partition; the first record is 0.
using LogOffset = StrongInt<struct LogOffsetTag, uint64_t>;

enum class EventType : uint8_t { kView = 1, kShare = 2, kReply = 3 };
std::string_view EventTypeName(EventType t);  // "view", "share", "reply"
std::optional<EventType> ParseEventType(std::string_view s);

// A region is a small id into the process's region table: the names of the
// deployment's regions (`region-names`, default us,eu,apac), in order.
// Between deployments (HTTP, tokens, peers) only names travel; ids are
// stored in a data dir (pinned by its `region-names` file, app/), in Kafka
// records and in a shared Redis, so the processes of one deployment list
// the same names in the same order.
// kUs, kEu and kApac are the default table's ids: defaults and tests use them.
enum class Region : uint8_t { kUs = 0, kEu = 1, kApac = 2 };
inline constexpr int kMaxRegions = 16;
int RegionCount();                                               // names in the table, 1..kMaxRegions
std::string_view RegionName(Region r);                           // "unknown" outside the table
std::optional<Region> ParseRegion(std::string_view s);           // exact name
std::string RegionNamesText(std::string_view separator = ", ");  // "us, eu, apac"
// A region name: 1..63 lowercase ASCII letters, digits and '-', not starting
// with '-', not "global" (the federated planner's name for all regions).
bool IsValidRegionName(std::string_view s);
// Replaces the table: 1..kMaxRegions distinct valid names.
// Call before any thread reads the table (start of main, a test's SetUp):
// readers take no lock.
Status SetRegionNames(const std::vector<std::string>& names);
Status SetRegionNames(std::string_view comma_separated);

// 16-byte idempotency key. Text form: 8-4-4-4-12 hex digits, any case.
struct EventId {
  std::array<uint8_t, 16> bytes{};
  auto operator<=>(const EventId&) const = default;
  uint64_t Hi() const;
  uint64_t Lo() const;
  static EventId FromHiLo(uint64_t hi, uint64_t lo);
  std::string ToString() const;  // lower-case canonical form
};
std::optional<EventId> ParseUuid(std::string_view text);

inline constexpr uint32_t kMaxWatchMs = 24u * 3600u * 1000u;
inline constexpr size_t kMaxTraceparentBytes = 55;  // W3C version 00 length

struct Event {
  EventId event_id;
  EventType type = EventType::kView;
  StoryId story_id;
  AuthorId author_id;
  ViewerId viewer_id;
  EventTimeMs event_time;
  uint32_t watch_ms = 0;  // VIEW only
  Region region = Region::kUs;
  std::string traceparent;  // empty when absent

  bool operator==(const Event&) const = default;
};

}  // namespace watershed
