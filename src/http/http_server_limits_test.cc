// What the HttpServer spends before a request is accepted, played by raw
// socket clients from several loopback addresses: connection caps (per
// server, per client address), the header check that answers before the
// body is read, and early answers (413) that reach a client still sending.

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <any>
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/metrics.h"
#include "core/testing/wait.h"
#include "http/http_server.h"
#include "http/testing/raw_http.h"

namespace watershed::http {
namespace {

using testing::RawConn;
using testing::RawResponse;
using testing::Request;
using ::watershed::testing::WaitUntil;

constexpr uint64_t kBodyLimit = 256 << 10;

class HttpServerLimitsTest : public ::testing::Test {
 protected:
  void Start(HttpServerOptions o) {
    o.port = 0;
    o.threads = 2;
    o.body_limit = kBodyLimit;
    o.metrics = &metrics_;
    auto s = HttpServer::Start(o, [this](HttpRequest&& req, Responder respond) {
      ++handled_;
      HttpResponse r;
      r.body = "{\"bytes\":" + std::to_string(req.body.size()) + "}";
      if (const auto* note = std::any_cast<std::string>(&req.context)) r.headers.emplace_back("X-Context", *note);
      respond(std::move(r));
    });
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(*s);
  }
  void StartWithCaps(int64_t total, int64_t per_address) {
    HttpServerOptions o;
    o.max_connections = total;
    o.max_connections_per_address = per_address;
    Start(o);
  }
  uint16_t port() const { return server_->port(); }
  void WaitOpen(int64_t n) {
    ASSERT_TRUE(WaitUntil([&] { return server_->open_connections() == n; })) << server_->open_connections();
  }
  // A GET on a fresh connection from `source` is served.
  void ExpectServed(const char* source) {
    RawConn c(port(), source);
    ASSERT_TRUE(c.Send(Request("GET", "/x")));
    EXPECT_EQ(c.ReadResponse().status, 200) << source;
  }
  bool Rendered(const std::string& line) { return metrics_.RenderPrometheus().find(line) != std::string::npos; }

  MetricsRegistry metrics_;
  std::atomic<int> handled_{0};
  std::unique_ptr<HttpServer> server_;
};

void ExpectRefused(RawConn& c, int status, const std::string& code) {
  ASSERT_TRUE(c.Send(Request("GET", "/x")));  // a request it will never see answered
  RawResponse r = c.ReadResponse();
  ASSERT_TRUE(r.complete);
  EXPECT_EQ(r.status, status);
  EXPECT_NE(r.body.find("\"" + code + "\""), std::string::npos) << r.body;
  EXPECT_EQ(r.Header("connection"), "close");
  EXPECT_EQ(r.Header("retry-after"), "1");
  EXPECT_TRUE(c.WaitClosed());
}

TEST_F(HttpServerLimitsTest, OneAddressCannotHoldMoreThanItsConnections) {
  StartWithCaps(100, 2);
  auto a = std::make_unique<RawConn>(port(), "127.0.0.1");
  RawConn b(port(), "127.0.0.1");
  WaitOpen(2);  // two idle connections: the attacker's whole share
  RawConn over(port(), "127.0.0.1");
  ExpectRefused(over, 429, "too_many_connections");
  EXPECT_EQ(handled_.load(), 0);
  EXPECT_TRUE(Rendered("watershed_http_connections_refused_total{cap=\"address\"} 1"));
  ExpectServed("127.0.0.2");  // another client is not affected
  a.reset();
  WaitOpen(1);
  ExpectServed("127.0.0.1");  // a freed slot is usable again
  EXPECT_TRUE(Rendered("watershed_http_connections_refused_total{cap=\"server\"} 0"));
}

TEST_F(HttpServerLimitsTest, TheServerHoldsNoMoreThanItsConnections) {
  StartWithCaps(3, 0);
  auto a = std::make_unique<RawConn>(port(), "127.0.0.1");
  RawConn b(port(), "127.0.0.2");
  RawConn c(port(), "127.0.0.3");
  WaitOpen(3);
  RawConn over(port(), "127.0.0.4");
  ExpectRefused(over, 503, "server_busy");
  EXPECT_TRUE(Rendered("watershed_http_connections_refused_total{cap=\"server\"} 1"));
  a.reset();
  WaitOpen(2);
  ExpectServed("127.0.0.4");
  WaitOpen(2);  // refused and finished connections give their places back
}

// Past kMaxRefusingConnections refusals being answered at once, further
// connections over a cap are closed without an answer: a flood over the
// caps cannot hold more sockets than that open for its answers.
TEST_F(HttpServerLimitsTest, PastTheRefusalsBeingAnsweredMoreAreClosedWithoutAnAnswer) {
  HttpServerOptions o;
  o.max_connections_per_address = 1;
  // A refused client that keeps its socket open is being answered (drained)
  // until the test lets it go.
  o.idle_timeout_ms = 600'000;
  o.refusal_drain_ms = 600'000;
  Start(o);
  RawConn holder(port(), "127.0.0.1");
  WaitOpen(1);
  std::vector<std::unique_ptr<RawConn>> refused;
  for (int64_t i = 0; i < kMaxRefusingConnections; ++i) {
    refused.push_back(std::make_unique<RawConn>(port(), "127.0.0.1"));
    RawResponse r = refused.back()->ReadResponse();
    ASSERT_TRUE(r.complete) << i;
    ASSERT_EQ(r.status, 429) << i;
  }
  EXPECT_EQ(server_->refusing_connections(), kMaxRefusingConnections);
  RawConn unanswered(port(), "127.0.0.1");
  EXPECT_TRUE(unanswered.WaitClosed());
  EXPECT_EQ(unanswered.received(), "");
  EXPECT_TRUE(Rendered("watershed_http_refusals_unanswered_total 1"));
  EXPECT_TRUE(Rendered("watershed_http_connections_refused_total{cap=\"address\"} 65"));
  // A refused client leaves: its place among those being answered comes back.
  refused.pop_back();
  ASSERT_TRUE(WaitUntil([&] { return server_->refusing_connections() == kMaxRefusingConnections - 1; }));
  RawConn answered(port(), "127.0.0.1");
  ExpectRefused(answered, 429, "too_many_connections");
  EXPECT_TRUE(Rendered("watershed_http_refusals_unanswered_total 1"));
  ExpectServed("127.0.0.2");  // other addresses are admitted throughout
  EXPECT_EQ(handled_.load(), 1);
}

// The header check sees the request before its body: refusing costs no body read.
TEST_F(HttpServerLimitsTest, HeaderCheckAnswersBeforeTheBodyArrives) {
  HttpServerOptions o;
  o.header_check = [](HttpRequest& head) -> std::optional<HttpResponse> {
    EXPECT_TRUE(head.body.empty());
    EXPECT_EQ(head.remote_address, "127.0.0.1");
    if (head.Header("x-key") != "good") return JsonError(401, "no", "bad key");
    head.context = std::string("checked");
    return std::nullopt;
  };
  Start(o);
  RawConn c(port(), "127.0.0.1");
  // A large announced body, none of it sent: the answer comes anyway.
  ASSERT_TRUE(c.Send("POST /x HTTP/1.1\r\nHost: h\r\nX-Key: bad\r\nContent-Length: 200000\r\n\r\n"));
  RawResponse r = c.ReadResponse();
  ASSERT_TRUE(r.complete);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.Header("connection"), "close");
  ASSERT_TRUE(c.Send(std::string(100'000, 'x')));  // late body bytes are read and dropped
  c.ShutdownWrite();
  EXPECT_TRUE(c.WaitClosed());
  EXPECT_EQ(handled_.load(), 0);

  // A refused request without a body keeps the connection; an accepted one
  // reaches the handler with what the check left.
  RawConn k(port(), "127.0.0.1");
  ASSERT_TRUE(k.Send(Request("GET", "/x")));
  EXPECT_EQ(k.ReadResponse().status, 401);
  ASSERT_TRUE(k.Send(Request("POST", "/x", "abc", "text/plain", "X-Key: good\r\n")));
  RawResponse ok = k.ReadResponse();
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "{\"bytes\":3}");
  EXPECT_EQ(ok.Header("x-context"), "checked");
  EXPECT_EQ(handled_.load(), 1);

  // A client that waits for 100 Continue is refused before sending its
  // body, or told to go on.
  RawConn e(port(), "127.0.0.1");
  ASSERT_TRUE(e.Send("POST /x HTTP/1.1\r\nHost: h\r\nX-Key: bad\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
  EXPECT_EQ(e.ReadResponse().status, 401);
  RawConn g(port(), "127.0.0.1");
  ASSERT_TRUE(g.Send("POST /x HTTP/1.1\r\nHost: h\r\nX-Key: good\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
  EXPECT_EQ(g.ReadResponse().status, 100);
  ASSERT_TRUE(g.Send("hello"));
  RawResponse after = g.ReadResponse();
  EXPECT_EQ(after.status, 200);
  EXPECT_EQ(after.body, "{\"bytes\":5}");
  EXPECT_EQ(handled_.load(), 2);
}

// Behind a trusted proxy the request's address is the client its
// X-Forwarded-For names, per request; connections are still counted by the
// peer (nothing of a request is known when a connection is admitted).
TEST_F(HttpServerLimitsTest, BehindATrustedProxyTheRequestsAddressIsTheForwardedClient) {
  HttpServerOptions o;
  auto trusted = TrustedProxies::Parse("127.0.0.1/32");
  ASSERT_TRUE(trusted.ok()) << trusted.status().ToString();
  o.trusted_proxies = *trusted;
  o.max_connections_per_address = 2;
  o.header_check = [](HttpRequest& head) -> std::optional<HttpResponse> {
    head.context = head.remote_address;
    return std::nullopt;
  };
  Start(o);
  auto address_of = [](RawConn& c, const std::string& forwarded_for) {
    EXPECT_TRUE(c.Send(Request("GET", "/x", "", "", forwarded_for.empty() ? "" : forwarded_for + "\r\n")));
    RawResponse r = c.ReadResponse();
    EXPECT_EQ(r.status, 200);
    return r.Header("x-context");
  };
  RawConn balancer(port(), "127.0.0.1");  // keep-alive: one connection, many clients
  EXPECT_EQ(address_of(balancer, "X-Forwarded-For: 203.0.113.9"), "203.0.113.9");
  EXPECT_EQ(address_of(balancer, "X-Forwarded-For: 198.51.100.1, 203.0.113.10"), "203.0.113.10");
  EXPECT_EQ(address_of(balancer, "x-forwarded-for: 198.51.100.1\r\nX-Forwarded-For: 203.0.113.11"), "203.0.113.11");
  EXPECT_EQ(address_of(balancer, "X-Forwarded-For: 2001:db8:1:2::7"), "2001:db8:1:2::/64");
  EXPECT_EQ(address_of(balancer, "X-Forwarded-For: 203.0.113.9:4711"), "127.0.0.1");  // malformed: the peer
  EXPECT_EQ(address_of(balancer, ""), "127.0.0.1");
  RawConn direct(port(), "127.0.0.2");  // not a trusted proxy: its header is ignored
  EXPECT_EQ(address_of(direct, "X-Forwarded-For: 203.0.113.9"), "127.0.0.2");
  // The connection cap counts the balancer's connections, whatever clients they carry.
  RawConn second(port(), "127.0.0.1");
  WaitOpen(3);
  RawConn over(port(), "127.0.0.1");
  ExpectRefused(over, 429, "too_many_connections");
}

// A client that sends its whole body before reading (as most do) must read
// the 413, not fail on a reset. Its send buffer is kept small so it cannot
// park the body in the kernel before the server answers.
void SendAllThenRead413(uint16_t port, bool chunked) {
  RawConn c(port);
  const int small = 16 << 10;
  ::setsockopt(c.fd(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  const size_t total = 2 << 20, piece = 64 << 10;
  std::string head = "POST /x HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\n";
  head += chunked ? "Transfer-Encoding: chunked\r\n\r\n" : "Content-Length: " + std::to_string(total) + "\r\n\r\n";
  ASSERT_TRUE(c.Send(head));
  char size_line[32];
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", piece);
  for (size_t sent = 0; sent < total; sent += piece) {
    std::string bytes = chunked ? size_line + std::string(piece, 'x') + "\r\n" : std::string(piece, 'x');
    ASSERT_TRUE(c.Send(bytes)) << "send failed after " << sent << " body bytes: " << std::strerror(errno);
  }
  if (chunked) {
    ASSERT_TRUE(c.Send("0\r\n\r\n"));
  }
  RawResponse r = c.ReadResponse();
  ASSERT_TRUE(r.complete);
  EXPECT_EQ(r.status, 413);
  EXPECT_NE(r.body.find("body_too_large"), std::string::npos) << r.body;
  EXPECT_EQ(r.Header("connection"), "close");
}

TEST_F(HttpServerLimitsTest, TooLargeAnswerReachesAClientStillSending) {
  Start({});
  SendAllThenRead413(port(), false);
  SendAllThenRead413(port(), true);
  EXPECT_EQ(handled_.load(), 0);
  ExpectServed("127.0.0.1");
}

TEST_F(HttpServerLimitsTest, DrainingStopsAtItsLimit) {
  HttpServerOptions o;
  o.drain_limit = 128 << 10;
  Start(o);
  RawConn c(port());
  ASSERT_TRUE(c.Send("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 100000000\r\n\r\n"));
  EXPECT_EQ(c.ReadResponse().status, 413);
  // Far more than the limit: the server must close instead of reading on.
  size_t sent = 0;
  const std::string piece(64 << 10, 'x');
  while (sent < (64u << 20) && c.Send(piece)) sent += piece.size();
  EXPECT_LT(sent, 64u << 20);
  WaitOpen(0);
}

}  // namespace
}  // namespace watershed::http
