// Fuzzes the client address behind trusted proxies: the trusted-proxies
// setting, IP address parsing and the X-Forwarded-For walk.
// Input: line 1 the trusted-proxies list, line 2 the peer, every further
// line one X-Forwarded-For field.
// Properties checked (a violation traps):
//  * no input crashes, leaks or trips a sanitizer;
//  * a parsed address formats to text that parses back to it;
//  * an untrusted peer is its own client, whatever the header says;
//  * a client found that is no trusted proxy does not depend on what was
//    written to its left (a spoofed left-most value is never taken);
//  * the same input resolves to the same client.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "http/client_address.h"

namespace {

using namespace watershed::http;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

std::vector<std::string_view> Lines(std::string_view in) {
  std::vector<std::string_view> out;
  for (;;) {
    const size_t nl = in.find('\n');
    out.push_back(in.substr(0, nl));
    if (nl == std::string_view::npos) return out;
    in.remove_prefix(nl + 1);
  }
}

void CheckRoundTrip(std::string_view text) {
  std::optional<IpAddress> a = ParseIpAddress(text);
  if (!a) return;
  std::optional<IpAddress> again = ParseIpAddress(FormatIpAddress(*a));
  Check(again && *again == *a);
  Check(!ClientAddressKey(*a).empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::vector<std::string_view> lines = Lines(input);
  for (std::string_view line : lines) CheckRoundTrip(line);

  auto trusted = TrustedProxies::Parse(lines[0]);
  if (!trusted.ok()) {
    Check(!trusted.status().message().empty());
    return 0;
  }
  if (lines.size() < 2) return 0;
  const std::optional<IpAddress> peer = ParseIpAddress(lines[1]);
  if (!peer) return 0;
  const std::vector<std::string_view> fields(lines.begin() + 2, lines.end());

  const IpAddress client = ResolveClientAddress(*peer, fields, *trusted);
  Check(ResolveClientAddress(*peer, fields, *trusted) == client);
  if (!trusted->Contains(*peer)) Check(client == *peer);
  if (client != *peer && !trusted->Contains(client) && !fields.empty()) {
    std::vector<std::string_view> spoofed = fields;
    const std::string padded = "198.51.100.1, junk," + std::string(fields.front());
    spoofed.front() = padded;
    Check(ResolveClientAddress(*peer, spoofed, *trusted) == client);
    spoofed.insert(spoofed.begin(), "203.0.113.7");
    Check(ResolveClientAddress(*peer, spoofed, *trusted) == client);
  }
  return 0;
}
