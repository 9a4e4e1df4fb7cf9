// Bodies produced piece by piece (HttpResponse::stream): chunked to an
// HTTP/1.1 client, on a connection that stays usable; unchunked and ended
// by the close to an HTTP/1.0 one; the producer freed once the body is out.

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>

#include "core/testing/wait.h"
#include "http/http_client.h"
#include "http/http_server.h"
#include "http/testing/raw_http.h"

namespace watershed::http {
namespace {

using testing::RawConn;

constexpr int kPieces = 50;
std::string Piece(int i) { return "piece " + std::to_string(i) + std::string(1000, 'x') + "\n"; }
std::string Whole() {
  std::string all;
  for (int i = 0; i < kPieces; ++i) all += Piece(i);
  return all;
}

class HttpStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HttpServerOptions o;
    o.port = 0;
    auto s = HttpServer::Start(o, [this](HttpRequest&&, Responder respond) {
      HttpResponse r;
      r.content_type = "text/plain";
      // Counts the live producers: each holds one `alive` copy.
      auto next = std::make_shared<int>(0);
      r.stream = [next, alive = alive_](std::string* out) {
        *out += Piece((*next)++);
        return *next < kPieces;
      };
      respond(std::move(r));
    });
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(*s);
  }
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpStreamTest, ChunkedToHttp11AndTheConnectionStaysUsable) {
  HttpClient client("127.0.0.1", server_->port());
  for (int round = 0; round < 2; ++round) {
    auto r = client.Get("/");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->body, Whole());
    bool chunked = false;
    for (const auto& [k, v] : r->headers) chunked |= k == "transfer-encoding" && v == "chunked";
    EXPECT_TRUE(chunked);
  }
  // Every producer was destroyed once its body was sent.
  EXPECT_TRUE(watershed::testing::WaitUntil([&] { return alive_.use_count() == 1; }));
}

TEST_F(HttpStreamTest, UnchunkedToHttp10EndedByTheClose) {
  RawConn c(server_->port());
  ASSERT_TRUE(c.Send("GET / HTTP/1.0\r\n\r\n"));
  ASSERT_TRUE(c.WaitClosed());
  const std::string& raw = c.received();
  const size_t head_end = raw.find("\r\n\r\n");
  ASSERT_NE(head_end, std::string::npos) << raw;
  const std::string head = testing::Lower(raw.substr(0, head_end));
  EXPECT_EQ(head.find("chunked"), std::string::npos) << head;
  EXPECT_NE(head.find("connection: close"), std::string::npos) << head;
  EXPECT_EQ(raw.substr(head_end + 4), Whole());
  EXPECT_TRUE(watershed::testing::WaitUntil([&] { return alive_.use_count() == 1; }));
}

}  // namespace
}  // namespace watershed::http
