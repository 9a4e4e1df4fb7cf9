#include "http/client_address.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace watershed::http {
namespace {

constexpr std::array<uint8_t, 12> kV4MappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// True when the first `prefix` bits of a and b agree.
bool SamePrefix(const std::array<uint8_t, 16>& a, const std::array<uint8_t, 16>& b, int prefix) {
  const int whole = prefix / 8, rest = prefix % 8;
  if (std::memcmp(a.data(), b.data(), static_cast<size_t>(whole)) != 0) return false;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

}  // namespace

std::optional<IpAddress> ParseIpAddress(std::string_view text) {
  // inet_pton is strict (no octal, no short IPv4 forms, no zone) but wants
  // a NUL-terminated string: the longest IPv6 text is 45 characters.
  char buf[46];
  if (text.empty() || text.size() >= sizeof buf) return std::nullopt;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  IpAddress a;
  if (text.find(':') == std::string_view::npos) {
    a.v4 = true;
    if (::inet_pton(AF_INET, buf, a.bytes.data()) != 1) return std::nullopt;
    return a;
  }
  a.v4 = false;
  if (::inet_pton(AF_INET6, buf, a.bytes.data()) != 1) return std::nullopt;
  if (std::equal(kV4MappedPrefix.begin(), kV4MappedPrefix.end(), a.bytes.begin())) {
    a.v4 = true;
    std::memmove(a.bytes.data(), a.bytes.data() + 12, 4);
    std::fill(a.bytes.begin() + 4, a.bytes.end(), 0);
  }
  return a;
}

std::string FormatIpAddress(const IpAddress& a) {
  char buf[INET6_ADDRSTRLEN];
  if (::inet_ntop(a.v4 ? AF_INET : AF_INET6, a.bytes.data(), buf, sizeof buf) == nullptr) return "?";
  return buf;
}

std::string ClientAddressKey(const IpAddress& a) {
  if (a.v4) return FormatIpAddress(a);
  IpAddress prefix = a;
  std::fill(prefix.bytes.begin() + 8, prefix.bytes.end(), 0);
  return FormatIpAddress(prefix) + "/64";
}

std::string ClientAddressKey(const std::string& ip) {
  std::optional<IpAddress> a = ParseIpAddress(ip);
  return a ? ClientAddressKey(*a) : ip;
}

Result<TrustedProxies> TrustedProxies::Parse(std::string_view list) {
  TrustedProxies out;
  while (!list.empty()) {
    const size_t comma = list.find(',');
    const std::string_view entry = Trim(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    if (entry.empty()) continue;
    const std::string quoted = "'" + std::string(entry) + "'";
    const size_t slash = entry.find('/');
    std::optional<IpAddress> base = ParseIpAddress(entry.substr(0, slash));
    if (!base)
      return Status::InvalidArgument(quoted +
                                     " is not an IPv4 or IPv6 address or CIDR block (e.g. 10.0.0.0/8, "
                                     "2001:db8::/32)");
    const int max_prefix = base->v4 ? 32 : 128;
    int prefix = max_prefix;
    if (slash != std::string_view::npos) {
      const std::string_view digits = entry.substr(slash + 1);
      auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
      if (digits.empty() || ec != std::errc() || p != digits.data() + digits.size() || prefix < 0 ||
          prefix > max_prefix)
        return Status::InvalidArgument(quoted + ": the prefix length must be 0.." + std::to_string(max_prefix));
    }
    IpAddress masked;
    masked.v4 = base->v4;
    for (int bit = 0; bit < prefix; ++bit) masked.bytes[bit / 8] |= base->bytes[bit / 8] & (0x80 >> (bit % 8));
    if (masked != *base)
      return Status::InvalidArgument(quoted + " has bits set beyond its /" + std::to_string(prefix) +
                                     " prefix; did you mean " + FormatIpAddress(masked) + "/" + std::to_string(prefix) +
                                     "?");
    out.networks_.push_back({masked, prefix});
  }
  return out;
}

bool TrustedProxies::Contains(const IpAddress& a) const {
  return std::any_of(networks_.begin(), networks_.end(), [&](const Network& n) {
    return n.base.v4 == a.v4 && SamePrefix(n.base.bytes, a.bytes, n.prefix);
  });
}

IpAddress ResolveClientAddress(const IpAddress& peer, const std::vector<std::string_view>& forwarded_for,
                               const TrustedProxies& trusted) {
  if (forwarded_for.empty() || !trusted.Contains(peer)) return peer;
  std::optional<IpAddress> leftmost;
  int hops = 0;
  // Right to left over the fields (the last one is the nearest proxy's),
  // and right to left within each.
  for (auto field = forwarded_for.rbegin(); field != forwarded_for.rend(); ++field) {
    std::string_view rest = *field;
    for (;;) {
      if (++hops > kMaxForwardedHops) return peer;  // a chain no real deployment has
      // The entry's start is searched for only within the longest an entry may be.
      const size_t window = std::min(rest.size(), kMaxForwardedEntryBytes + 1);
      const size_t at = rest.substr(rest.size() - window).rfind(',');
      if (at == std::string_view::npos && rest.size() > kMaxForwardedEntryBytes) return peer;  // too long
      const size_t comma = at == std::string_view::npos ? at : rest.size() - window + at;
      const std::string_view raw = comma == std::string_view::npos ? rest : rest.substr(comma + 1);
      std::optional<IpAddress> hop = ParseIpAddress(Trim(raw));
      if (!hop) return peer;
      if (!trusted.Contains(*hop)) return *hop;
      leftmost = hop;
      if (comma == std::string_view::npos) break;
      rest = rest.substr(0, comma);
    }
  }
  return *leftmost;  // every entry a trusted proxy: the farthest one
}

}  // namespace watershed::http
