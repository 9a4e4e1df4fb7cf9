// HttpRequest::client_gone: a client that hangs up while its answer is
// awaited is seen (a lake query can stop then); one that waits, or sends
// its next request early (pipelining), is not taken for gone.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <thread>

#include "core/testing/wait.h"
#include "http/http_server.h"
#include "http/testing/raw_http.h"

namespace watershed::http {
namespace {

using testing::RawConn;

// The handler answers after `answer_after`, or as soon as its client is gone;
// it records what it saw.
class HangUpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HttpServerOptions o;
    o.port = 0;
    auto s = HttpServer::Start(o, [this](HttpRequest&& req, Responder respond) {
      std::thread([this, gone = req.client_gone, respond]() mutable {
        const auto until = std::chrono::steady_clock::now() + answer_after_;
        while (std::chrono::steady_clock::now() < until && !(gone && gone->load()))
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        saw_gone_ = gone && gone->load();
        HttpResponse r;
        r.body = "{}";
        respond(std::move(r));
        done_ = true;
      }).detach();
    });
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(*s);
  }
  void TearDown() override {
    ASSERT_TRUE(watershed::testing::WaitUntil([&] { return done_.load(); }));
  }

  std::chrono::milliseconds answer_after_{10'000};
  std::atomic<bool> saw_gone_{false}, done_{false};
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HangUpTest, AClientThatHangsUpIsSeenGone) {
  {
    RawConn c(server_->port());
    ASSERT_TRUE(c.Send("POST /q HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }  // closed
  ASSERT_TRUE(watershed::testing::WaitUntil([&] { return done_.load(); }));
  EXPECT_TRUE(saw_gone_.load());  // (else the handler would have waited out its 10 s)
}

TEST_F(HangUpTest, AClientThatWaitsOrPipelinesIsNotGone) {
  answer_after_ = std::chrono::milliseconds(300);
  RawConn c(server_->port());
  // The next request sent before the first answer: data, not a hang-up.
  ASSERT_TRUE(c.Send("POST /q HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(c.Send("GET /next HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto first = c.ReadResponse();
  EXPECT_EQ(first.status, 200);
  EXPECT_FALSE(saw_gone_.load());
  done_ = false;
  auto second = c.ReadResponse();  // the pipelined request is answered on the same connection
  EXPECT_EQ(second.status, 200);
  EXPECT_FALSE(saw_gone_.load());
}

}  // namespace
}  // namespace watershed::http
