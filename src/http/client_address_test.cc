// The client address behind trusted proxies: strict address parsing, the
// trusted-proxies setting, and the right-most-untrusted rule over
// X-Forwarded-For, including what a client can write into it.

#include "http/client_address.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace watershed::http {
namespace {

IpAddress Ip(const std::string& text) {
  std::optional<IpAddress> a = ParseIpAddress(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(IpAddress{});
}

TrustedProxies Trusted(const std::string& list) {
  auto t = TrustedProxies::Parse(list);
  EXPECT_TRUE(t.ok()) << list << ": " << t.status().ToString();
  return t.ok() ? *t : TrustedProxies{};
}

std::string ParseError(const std::string& list) {
  auto t = TrustedProxies::Parse(list);
  if (t.ok()) return "<ok>";
  EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
  return t.status().message();
}

TEST(ParseIpAddressTest, OnlyStrictAddressesParse) {
  EXPECT_TRUE(Ip("192.0.2.1").v4);
  EXPECT_FALSE(Ip("2001:db8::1").v4);
  EXPECT_EQ(Ip("::ffff:192.0.2.1"), Ip("192.0.2.1"));  // one client, one form
  EXPECT_EQ(FormatIpAddress(Ip("2001:0db8:0:0::1")), "2001:db8::1");
  for (const char* bad :
       {"", " 192.0.2.1", "192.0.2.1 ", "192.0.2", "192.0.2.01", "0x7f.0.0.1", "256.0.0.1", "1.2.3.4.5", "fe80::1%eth0",
        "[2001:db8::1]", "192.0.2.1:80", "2001:db8::1::2", "unknown", "0000:0000:0000:0000:0000:0000:0000:0000:0"})
    EXPECT_FALSE(ParseIpAddress(bad).has_value()) << bad;
}

TEST(ClientAddressKeyTest, IPv6ClientsAreCountedByTheirSlash64) {
  EXPECT_EQ(ClientAddressKey("127.0.0.2"), "127.0.0.2");
  EXPECT_EQ(ClientAddressKey("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::/64");
  EXPECT_EQ(ClientAddressKey("2001:db8:1:2::7"), ClientAddressKey("2001:db8:1:2:ffff::1"));
  EXPECT_NE(ClientAddressKey("2001:db8:1:2::7"), ClientAddressKey("2001:db8:1:3::7"));
  EXPECT_EQ(ClientAddressKey("::ffff:10.1.2.3"), "10.1.2.3");
  EXPECT_EQ(ClientAddressKey("::1"), "::/64");
  EXPECT_EQ(ClientAddressKey("not an ip"), "not an ip");
}

TEST(TrustedProxiesTest, BlocksOfEitherFamilyMatchTheirOwnFamily) {
  EXPECT_TRUE(Trusted("").empty());
  EXPECT_TRUE(Trusted(" , ").empty());
  TrustedProxies t = Trusted(" 10.0.0.0/8 , 192.0.2.7,2001:db8::/32 ,");
  EXPECT_FALSE(t.empty());
  EXPECT_TRUE(t.Contains(Ip("10.255.1.2")));
  EXPECT_TRUE(t.Contains(Ip("::ffff:10.1.2.3")));  // an IPv4 peer on a dual-stack listener
  EXPECT_FALSE(t.Contains(Ip("11.0.0.1")));
  EXPECT_TRUE(t.Contains(Ip("192.0.2.7")));
  EXPECT_FALSE(t.Contains(Ip("192.0.2.8")));
  EXPECT_TRUE(t.Contains(Ip("2001:db8:ffff::1")));
  EXPECT_FALSE(t.Contains(Ip("2001:db9::1")));
  EXPECT_FALSE(t.Contains(Ip("::a00:1")));  // 10.0.0.1's bytes, as IPv6: another address
  EXPECT_TRUE(Trusted("0.0.0.0/0").Contains(Ip("203.0.113.1")));
  EXPECT_FALSE(Trusted("0.0.0.0/0").Contains(Ip("2001:db8::1")));
  EXPECT_FALSE(Trusted("::/0").Contains(Ip("203.0.113.1")));
  EXPECT_TRUE(Trusted("10.0.0.0/9").Contains(Ip("10.127.255.255")));
  EXPECT_FALSE(Trusted("10.0.0.0/9").Contains(Ip("10.128.0.0")));
  EXPECT_TRUE(Trusted("2001:db8:8000::/33").Contains(Ip("2001:db8:ffff::1")));
  EXPECT_FALSE(Trusted("2001:db8:8000::/33").Contains(Ip("2001:db8:7fff::1")));
}

TEST(TrustedProxiesTest, BadEntriesAreNamedErrors) {
  const std::string kNotAnAddress = " is not an IPv4 or IPv6 address or CIDR block (e.g. 10.0.0.0/8, 2001:db8::/32)";
  EXPECT_EQ(ParseError("10.0.0.0/8,bogus"), "'bogus'" + kNotAnAddress);
  EXPECT_EQ(ParseError("10.0.0.0/8;192.0.2.0/24"), "'10.0.0.0/8;192.0.2.0/24': the prefix length must be 0..32");
  EXPECT_EQ(ParseError("192.0.2.0;192.0.2.1"), "'192.0.2.0;192.0.2.1'" + kNotAnAddress);
  EXPECT_EQ(ParseError("fe80::1%eth0"), "'fe80::1%eth0'" + kNotAnAddress);
  EXPECT_EQ(ParseError("10.0.0.0/33"), "'10.0.0.0/33': the prefix length must be 0..32");
  EXPECT_EQ(ParseError("2001:db8::/129"), "'2001:db8::/129': the prefix length must be 0..128");
  for (const char* bad : {"10.0.0.0/", "10.0.0.0/x", "10.0.0.0/-1", "10.0.0.0/8/9", "10.0.0.0/ 8"})
    EXPECT_NE(ParseError(bad).find("the prefix length must be 0..32"), std::string::npos) << bad;
  EXPECT_EQ(ParseError("10.0.0.1/8"), "'10.0.0.1/8' has bits set beyond its /8 prefix; did you mean 10.0.0.0/8?");
  EXPECT_EQ(ParseError("2001:db8::1/32"),
            "'2001:db8::1/32' has bits set beyond its /32 prefix; did you mean 2001:db8::/32?");
}

class ResolveTest : public ::testing::Test {
 protected:
  // The client key of a request from `peer` with these X-Forwarded-For fields.
  std::string Client(const std::string& peer, std::vector<std::string_view> fields) {
    return ClientAddressKey(ResolveClientAddress(Ip(peer), fields, trusted_));
  }
  TrustedProxies trusted_ = Trusted("10.0.0.0/8, 2001:db8:ffff::/48");
};

TEST_F(ResolveTest, AnUntrustedPeerIsTheClientWhateverItsHeaderSays) {
  EXPECT_EQ(Client("203.0.113.1", {"198.51.100.1"}), "203.0.113.1");
  EXPECT_EQ(Client("203.0.113.1", {"10.0.0.2"}), "203.0.113.1");
  EXPECT_EQ(Client("2001:db8:1:2::9", {"198.51.100.1"}), "2001:db8:1:2::/64");
  EXPECT_EQ(Client("203.0.113.1", {}), "203.0.113.1");
  EXPECT_EQ(Client("10.0.0.1", {}), "10.0.0.1");  // a trusted peer without a header
}

TEST_F(ResolveTest, TheRightMostAddressThatIsNoTrustedProxyIsTheClient) {
  EXPECT_EQ(Client("10.0.0.1", {"198.51.100.1"}), "198.51.100.1");
  EXPECT_EQ(Client("10.0.0.1", {" \t198.51.100.1\t "}), "198.51.100.1");
  // What the client wrote itself is on the left: never believed.
  EXPECT_EQ(Client("10.0.0.1", {"198.51.100.1, 203.0.113.5"}), "203.0.113.5");
  EXPECT_EQ(Client("10.0.0.1", {"garbage, 203.0.113.5"}), "203.0.113.5");
  EXPECT_EQ(Client("10.0.0.1", {"10.9.9.9, 203.0.113.5"}), "203.0.113.5");
  // Trusted hops on the right are skipped.
  EXPECT_EQ(Client("10.0.0.1", {"198.51.100.1, 203.0.113.5, 10.0.0.2, 10.0.0.3"}), "203.0.113.5");
  // Several fields are one list, in arrival order (a proxy may add its own field).
  EXPECT_EQ(Client("10.0.0.1", {"198.51.100.1", "203.0.113.5, 10.0.0.2"}), "203.0.113.5");
  EXPECT_EQ(Client("10.0.0.1", {"203.0.113.5", "10.0.0.2"}), "203.0.113.5");
  // Every hop trusted: the farthest (a client inside the trusted network).
  EXPECT_EQ(Client("10.0.0.1", {"10.1.1.1, 10.0.0.2"}), "10.1.1.1");
}

TEST_F(ResolveTest, IPv6ClientsAndProxies) {
  EXPECT_EQ(Client("10.0.0.1", {"2001:db8:1:2::7"}), "2001:db8:1:2::/64");
  EXPECT_EQ(Client("2001:db8:ffff::5", {"203.0.113.5"}), "203.0.113.5");
  EXPECT_EQ(Client("2001:db8:ffff::5", {"2001:db8:1:2::7, 2001:db8:ffff::6"}), "2001:db8:1:2::/64");
  EXPECT_EQ(Client("::ffff:10.0.0.1", {"::ffff:203.0.113.5"}), "203.0.113.5");
}

TEST_F(ResolveTest, AMalformedEntryWhereTheClientShouldBeMeansThePeer) {
  for (const char* bad : {"198.51.100.1, garbage", "198.51.100.1,", ",", "", "  ", "198.51.100.1:4711", "[2001:db8::1]",
                          "[2001:db8::1]:443", "fe80::1%eth0", "unknown", "198.51.100.1;x", "198.51.100.1 203.0.113.5"})
    EXPECT_EQ(Client("10.0.0.1", {bad}), "10.0.0.1") << bad;
  EXPECT_EQ(Client("10.0.0.1", {"198.51.100.1", ""}), "10.0.0.1");
}

TEST_F(ResolveTest, TheWorkIsBoundedWhateverTheHeaderHolds) {
  // Padding on the left is never read: the client is still found.
  std::string padded;
  for (int i = 0; i < 2000; ++i) padded += "198.51.100." + std::to_string(i % 250) + ",";
  EXPECT_EQ(Client("10.0.0.1", {padded + "203.0.113.5"}), "203.0.113.5");
  EXPECT_EQ(Client("10.0.0.1", {std::string(16 << 10, 'x') + ",203.0.113.5"}), "203.0.113.5");
  // An entry longer than kMaxForwardedEntryBytes, even of blanks, is malformed.
  const std::string address = "203.0.113.5";
  const std::string longest = std::string(kMaxForwardedEntryBytes - address.size(), ' ') + address;
  EXPECT_EQ(Client("10.0.0.1", {longest}), "203.0.113.5");
  EXPECT_EQ(Client("10.0.0.1", {" " + longest}), "10.0.0.1");
  EXPECT_EQ(Client("10.0.0.1", {"198.51.100.1," + std::string(16 << 10, ' ')}), "10.0.0.1");
  // At most kMaxForwardedHops entries are examined: more trusted hops than that means the peer.
  auto chain = [&](int trusted_hops) {
    std::string h = "203.0.113.5";
    for (int i = 0; i < trusted_hops; ++i) h += ", 10.0.0." + std::to_string(i + 2);
    return h;
  };
  EXPECT_EQ(Client("10.0.0.1", {chain(kMaxForwardedHops - 1)}), "203.0.113.5");
  EXPECT_EQ(Client("10.0.0.1", {chain(kMaxForwardedHops)}), "10.0.0.1");
  std::vector<std::string> many(kMaxForwardedHops + 1, "10.0.0.2");
  many.front() = "203.0.113.5";
  EXPECT_EQ(Client("10.0.0.1", std::vector<std::string_view>(many.begin(), many.end())), "10.0.0.1");
  many.erase(many.begin() + 1);
  EXPECT_EQ(Client("10.0.0.1", std::vector<std::string_view>(many.begin(), many.end())), "203.0.113.5");
}

}  // namespace
}  // namespace watershed::http
