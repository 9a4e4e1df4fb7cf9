#pragma once
// Who a request comes from, for the per-address limits: the TCP peer, or —
// when the peer is one of the operator's trusted proxies (a load balancer)
// — the client its X-Forwarded-For names. Only the entries the trusted
// proxies appended are believed: walking the header right to left, the
// first address that is not itself a trusted proxy is the client, so a
// value the client wrote on the left is never taken.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace watershed::http {

// An IPv4 or IPv6 address. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is
// held as its IPv4 address, so one client has one form.
struct IpAddress {
  bool v4 = true;
  std::array<uint8_t, 16> bytes{};  // IPv4: the first 4
  bool operator==(const IpAddress&) const = default;
};

// Strict text forms only: a dotted quad, or an RFC 4291 IPv6 address; no
// zone (%eth0), brackets, port or surrounding blanks. nullopt otherwise.
std::optional<IpAddress> ParseIpAddress(std::string_view text);
std::string FormatIpAddress(const IpAddress& a);

// The key of a client for the per-address limits (connections, failed
// authentications): its IPv4 address, or the /64 prefix of its IPv6 address
// ("2001:db8:1:2::/64"; one host commonly holds a whole /64, so keying the
// /128 would let it take a new address per request).
std::string ClientAddressKey(const IpAddress& a);
// The same from text; text that is not an IP address comes back unchanged.
std::string ClientAddressKey(const std::string& ip);

// The operator's proxies (setting `trusted-proxies`): CIDR blocks, IPv4
// ones matching IPv4 peers and IPv6 ones IPv6 peers. Empty trusts no one.
class TrustedProxies {
 public:
  // "10.0.0.0/8, 192.0.2.7, 2001:db8::/32": comma-separated, blanks around
  // entries ignored; a bare address is a /32 (/128). kInvalidArgument names
  // the bad entry: not an address, a prefix out of range, host bits set
  // below the prefix (10.0.0.1/8: a typo that would trust the whole /8).
  static Result<TrustedProxies> Parse(std::string_view list);
  bool empty() const { return networks_.empty(); }
  bool Contains(const IpAddress& a) const;

 private:
  struct Network {
    IpAddress base;  // host bits zero
    int prefix = 0;
  };
  std::vector<Network> networks_;
};

// X-Forwarded-For work is bounded whatever the header holds: at most this
// many entries are examined, from the right, each at most this long.
inline constexpr int kMaxForwardedHops = 16;
inline constexpr size_t kMaxForwardedEntryBytes = 64;

// The client of a request whose TCP peer is `peer` and whose
// X-Forwarded-For fields are `forwarded_for` (in arrival order; several
// fields read as one comma-separated list). Untrusted peer: the peer,
// whatever the header says. Trusted peer: walking the entries right to
// left, the first one that is not a trusted proxy; all trusted: the
// left-most. The peer instead when the header is absent, an entry examined
// is malformed (not a strict address, or too long), or kMaxForwardedHops
// entries are all trusted proxies.
IpAddress ResolveClientAddress(const IpAddress& peer, const std::vector<std::string_view>& forwarded_for,
                               const TrustedProxies& trusted);

}  // namespace watershed::http
