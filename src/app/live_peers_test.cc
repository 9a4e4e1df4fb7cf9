#include "app/live_peers.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace watershed::app {
namespace {

// A peer that accepts connections and never answers (a frozen process), counting the connections.
class FrozenPeer {
 public:
  FrozenPeer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(::listen(fd_, 64), 0);
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 20) <= 0) continue;
        const int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) continue;
        held_.push_back(c);
        ++accepted_;
      }
    });
  }
  ~FrozenPeer() {
    stop_ = true;
    thread_.join();
    for (int c : held_) ::close(c);
    ::close(fd_);
  }
  uint16_t port() const { return port_; }
  int accepted() const { return accepted_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::vector<int> held_;  // the accepting thread's only
  std::thread thread_;
};

// When a failed peer's 5 s skip ends, one request asks it again; the others go on reporting it missing at once
// meanwhile, instead of every request then waiting out the timeout on the frozen peer (docs/api.md).
TEST(LivePeersTest, OnlyOneRequestProbesAFailedPeerWhenItsSkipEnds) {
  FrozenPeer frozen;
  FederationSettings::Peer peer;
  peer.region = Region::kEu;
  peer.host = "127.0.0.1";
  peer.port = frozen.port();
  peer.url = "http://127.0.0.1:" + std::to_string(frozen.port());
  auto local = serve::NewMemoryLiveStore();
  constexpr int64_t kTimeoutMs = 600;
  LivePeers peers({peer}, "t", kTimeoutMs, local.get());

  auto first = peers.Gather(StoryId(1));
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->missing, std::vector<Region>{Region::kEu});
  ASSERT_EQ(frozen.accepted(), 1);
  auto skipped = peers.Gather(StoryId(1));  // within the skip: not asked
  ASSERT_TRUE(skipped.ok());
  EXPECT_EQ(skipped->missing, std::vector<Region>{Region::kEu});
  EXPECT_EQ(frozen.accepted(), 1);

  std::this_thread::sleep_for(std::chrono::milliseconds(kPeerRetryMs + 100));
  constexpr int kRequests = 6;
  std::vector<std::thread> requests;
  std::atomic<int> missing{0}, fast{0};
  for (int i = 0; i < kRequests; ++i)
    requests.emplace_back([&] {
      const auto start = std::chrono::steady_clock::now();
      auto r = peers.Gather(StoryId(1));
      if (r.ok() && r->missing == std::vector<Region>{Region::kEu}) ++missing;
      if (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(kTimeoutMs / 2)) ++fast;
    });
  for (auto& t : requests) t.join();
  EXPECT_EQ(missing, kRequests);
  EXPECT_EQ(frozen.accepted(), 2) << "one probe after the skip, not one per request";
  EXPECT_EQ(fast, kRequests - 1) << "the other requests report the peer missing at once";
}

}  // namespace
}  // namespace watershed::app
