#pragma once
// Tests only: a blocking client socket that sends raw bytes and parses raw
// HTTP/1.1 responses, so tests can play malformed, half-closed and slow
// clients against an HttpServer (plain, or under a TLS client of their own).

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <string_view>

namespace watershed::http::testing {

// Bounds every blocking socket call of the tests, so a server bug fails a
// test instead of hanging it. Far above any timeout the server applies.
constexpr int kSocketTimeoutMs = 10'000;

struct RawResponse {
  bool complete = false;  // a whole response (headers and Content-Length body) arrived
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-case
  std::string body;
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

inline std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Reads one response from *buf, calling fill() to append more bytes (false:
// the connection ended): status line, headers, then Content-Length bytes.
// Shared by the plain and the TLS test clients.
template <typename Fill>
RawResponse ReadHttpResponse(std::string* buf, Fill fill) {
  RawResponse r;
  size_t end;
  while ((end = buf->find("\r\n\r\n")) == std::string::npos)
    if (!fill()) return r;
  std::string head = buf->substr(0, end);
  buf->erase(0, end + 4);
  size_t line_end = head.find("\r\n");
  std::string status_line = head.substr(0, line_end);
  if (status_line.size() < 12 || !status_line.starts_with("HTTP/1.1 ")) return r;
  r.status = std::atoi(status_line.c_str() + 9);
  while (line_end != std::string::npos) {
    size_t next = head.find("\r\n", line_end + 2);
    std::string line = head.substr(line_end + 2, next == std::string::npos ? std::string::npos : next - line_end - 2);
    line_end = next;
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    r.headers[Lower(line.substr(0, colon))] = value;
  }
  size_t length = static_cast<size_t>(std::atoll(r.Header("content-length").c_str()));
  while (buf->size() < length)
    if (!fill()) return r;
  r.body = buf->substr(0, length);
  buf->erase(0, length);
  r.complete = true;
  return r;
}

// A blocking client socket that sends raw bytes and reads raw responses.
class RawConn {
 public:
  // source_ip: the client's address (any 127.0.0.0/8 address works on
  // loopback), so tests can play several client addresses; null: the kernel's pick.
  explicit RawConn(uint16_t port, const char* source_ip = nullptr) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    EXPECT_GE(fd_, 0);
    timeval tv{kSocketTimeoutMs / 1000, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (source_ip != nullptr) {
      sockaddr_in src{};
      src.sin_family = AF_INET;
      ::inet_pton(AF_INET, source_ip, &src.sin_addr);
      EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&src), sizeof src), 0) << "bind: " << std::strerror(errno);
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool connected = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    EXPECT_TRUE(connected) << "connect: " << std::strerror(errno);
  }
  ~RawConn() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawConn(const RawConn&) = delete;
  RawConn& operator=(const RawConn&) = delete;

  // False when the peer refused the bytes (it may have answered and closed).
  bool Send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  void ShutdownWrite() { ::shutdown(fd_, SHUT_WR); }
  int fd() const { return fd_; }

  // Reads one response: status line, headers, then Content-Length bytes.
  RawResponse ReadResponse() {
    return ReadHttpResponse(&buf_, [this] { return Fill(); });
  }

  // True when the server closes the connection (EOF or reset) before the
  // socket timeout; bytes that arrive meanwhile are kept in received().
  bool WaitClosed() {
    for (;;) {
      char tmp[4096];
      ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n > 0) {
        buf_.append(tmp, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      return n == 0 || errno == ECONNRESET;
    }
  }
  // Non-blocking check: has the server closed the connection?
  bool ClosedWithin(int ms) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, ms) <= 0) return false;
    char tmp[4096];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, MSG_DONTWAIT);
    if (n > 0) buf_.append(tmp, static_cast<size_t>(n));
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }
  const std::string& received() const { return buf_; }

 private:
  bool Fill() {
    char tmp[16384];
    for (;;) {
      ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      buf_.append(tmp, static_cast<size_t>(n));
      return true;
    }
  }

  int fd_ = -1;
  std::string buf_;
};

inline std::string Request(const std::string& method, const std::string& target, const std::string& body = "",
                    const std::string& content_type = "application/json", const std::string& extra_headers = "") {
  std::string r = method + " " + target + " HTTP/1.1\r\nHost: localhost\r\n";
  if (!body.empty() || method == "POST") {
    r += "Content-Type: " + content_type + "\r\n";
    r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  r += extra_headers + "\r\n" + body;
  return r;
}

}  // namespace watershed::http::testing
