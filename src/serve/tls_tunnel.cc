#include "serve/tls_tunnel.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/sigpipe.h"

namespace watershed::serve {
namespace {

std::string OpenSslError() {
  const unsigned long e = ERR_get_error();
  if (e == 0) return "unknown TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

// A blocking TCP socket connected within timeout_ms.
Result<int> Dial(const std::string& host, int port, int timeout_ms) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string address = host + ":" + std::to_string(port);
  if (int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res); rc != 0)
    return Status::Unavailable("redis " + address + ": " + gai_strerror(rc));
  std::string why = "no address";
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) continue;
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int err = 0;
      socklen_t len = sizeof err;
      rc = ::poll(&p, 1, timeout_ms) == 1 && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0 ? 0
                                                                                                                 : -1;
      if (rc != 0) errno = err != 0 ? err : ETIMEDOUT;
    }
    if (rc == 0) {
      freeaddrinfo(res);
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
      return fd;
    }
    why = std::strerror(errno);
    ::close(fd);
  }
  freeaddrinfo(res);
  return Status::Unavailable("redis " + address + ": " + why);
}

void SetTimeouts(int fd, int timeout_ms) {
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

}  // namespace

Result<std::unique_ptr<TlsTunnel>> TlsTunnel::Open(const std::string& host, int port, int timeout_ms,
                                                   const RedisTls& tls) {
  const std::string address = host + ":" + std::to_string(port);
  auto fail = [&](const std::string& what) {
    return Status::FailedPrecondition("redis " + address + ": TLS: " + what);
  };
  std::unique_ptr<TlsTunnel> t(new TlsTunnel());
  t->ctx_ = SSL_CTX_new(TLS_client_method());
  if (t->ctx_ == nullptr) return fail(OpenSslError());
  SSL_CTX_set_min_proto_version(t->ctx_, TLS1_2_VERSION);
  SSL_CTX_set_verify(t->ctx_, SSL_VERIFY_PEER, nullptr);
  if (tls.ca_file.empty() ? SSL_CTX_set_default_verify_paths(t->ctx_) != 1
                          : SSL_CTX_load_verify_locations(t->ctx_, tls.ca_file.c_str(), nullptr) != 1)
    return fail("cannot load the CA certificates " + (tls.ca_file.empty() ? "of the system" : tls.ca_file) + ": " +
                OpenSslError());
  if (!tls.cert_file.empty() && (SSL_CTX_use_certificate_chain_file(t->ctx_, tls.cert_file.c_str()) != 1 ||
                                 SSL_CTX_use_PrivateKey_file(t->ctx_, tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
                                 SSL_CTX_check_private_key(t->ctx_) != 1))
    return fail("cannot load the client certificate " + tls.cert_file + " and key " + tls.key_file + ": " +
                OpenSslError());
  ASSIGN_OR_RETURN(t->tcp_, Dial(host, port, timeout_ms));
  t->ssl_ = SSL_new(t->ctx_);
  if (t->ssl_ == nullptr || SSL_set_fd(t->ssl_, t->tcp_) != 1) return fail(OpenSslError());
  // The certificate must name what was dialled: an IP address or a host name (also sent as SNI).
  in6_addr ip;
  X509_VERIFY_PARAM* param = SSL_get0_param(t->ssl_);
  if (inet_pton(AF_INET, host.c_str(), &ip) == 1 || inet_pton(AF_INET6, host.c_str(), &ip) == 1) {
    X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
  } else {
    X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
    SSL_set_tlsext_host_name(t->ssl_, host.c_str());
  }
  SetTimeouts(t->tcp_, timeout_ms);
  ScopedSigpipeBlock no_sigpipe;  // a server that closes mid-handshake
  if (SSL_connect(t->ssl_) != 1) {
    const long verify = SSL_get_verify_result(t->ssl_);
    return fail(verify != X509_V_OK ? std::string("the server's certificate: ") + X509_verify_cert_error_string(verify)
                                    : "handshake failed: " + OpenSslError());
  }
  SetTimeouts(t->tcp_, 0);  // the pump waits in poll, not on timeouts
  ::fcntl(t->tcp_, F_SETFL, ::fcntl(t->tcp_, F_GETFL) | O_NONBLOCK);
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
    return Status::IoError("socketpair: " + std::string(std::strerror(errno)));
  t->local_fd_ = pair[0];
  t->pump_fd_ = pair[1];
  ::fcntl(t->pump_fd_, F_SETFL, ::fcntl(t->pump_fd_, F_GETFL) | O_NONBLOCK);
  t->pump_ = std::thread([tunnel = t.get()] { tunnel->Pump(); });
  return t;
}

int TlsTunnel::TakeLocalFd() {
  const int fd = local_fd_;
  local_fd_ = -1;
  return fd;
}

// hiredis -> server: whatever hiredis wrote is read at once and sent
// (waiting for the socket as TLS asks; Redis keeps reading while it
// answers, so this ends). server -> hiredis: TLS records are read whenever
// the socket or OpenSSL's buffer has bytes (not every record carries data:
// session tickets do not, so the socket is non-blocking and a read that
// finds no data just returns to poll), buffered here (~1 MiB at most; then
// the socket waits until hiredis catches up) and written as hiredis' end
// accepts them, so the pump never blocks on a hiredis that is
// still writing.
void TlsTunnel::Pump() {
  ScopedSigpipeBlock no_sigpipe;  // either side may close while we write
  std::string to_local;
  char buf[16 * 1024];
  auto wait_tcp = [this](short events) {
    pollfd p{tcp_, events, 0};
    return ::poll(&p, 1, -1) >= 0 || errno == EINTR;
  };
  auto send_all = [&](const char* data, size_t n) {
    for (size_t done = 0; done < n;) {
      const int w = SSL_write(ssl_, data + done, static_cast<int>(n - done));
      if (w > 0) {
        done += static_cast<size_t>(w);
        continue;
      }
      const int e = SSL_get_error(ssl_, w);
      if ((e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ) ||
          !wait_tcp(e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN))
        return false;
    }
    return true;
  };
  constexpr size_t kMaxBuffered = size_t{1} << 20;  // then the server waits until hiredis reads
  bool open = true;
  while (open) {
    // Decrypted bytes ready in OpenSSL: read them without waiting. (Not
    // SSL_has_pending: a partial record there needs the socket, and a zero
    // poll timeout would spin until the rest arrives.)
    const bool room = to_local.size() < kMaxBuffered;
    const bool buffered = room && SSL_pending(ssl_) > 0;
    pollfd fds[2] = {{pump_fd_, static_cast<short>(POLLIN | (to_local.empty() ? 0 : POLLOUT)), 0},
                     {tcp_, static_cast<short>(room ? POLLIN : 0), 0}};
    if (::poll(fds, 2, buffered ? 0 : -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t n = ::read(pump_fd_, buf, sizeof buf);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) break;  // hiredis closed its end
      if (n > 0 && !send_all(buf, static_cast<size_t>(n))) break;
    }
    if (room && (buffered || (fds[1].revents & (POLLIN | POLLHUP | POLLERR)))) {
      while (to_local.size() < kMaxBuffered) {
        const int n = SSL_read(ssl_, buf, sizeof buf);
        if (n > 0) {
          to_local.append(buf, static_cast<size_t>(n));
          continue;
        }
        const int e = SSL_get_error(ssl_, n);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) open = false;  // closed, or TLS failed
        break;
      }
    }
    while (!to_local.empty()) {
      const ssize_t w = ::write(pump_fd_, to_local.data(), to_local.size());
      if (w < 0) {
        if (errno != EAGAIN && errno != EINTR) open = false;
        break;
      }
      to_local.erase(0, static_cast<size_t>(w));
    }
  }
  // hiredis reads EOF (or a reset) and drops the connection.
  ::shutdown(pump_fd_, SHUT_RDWR);
}

TlsTunnel::~TlsTunnel() {
  if (pump_.joinable()) {
    // Wakes a pump blocked on the server: it sees the socket shut and ends.
    ::shutdown(tcp_, SHUT_RDWR);
    ::shutdown(pump_fd_, SHUT_RDWR);
    pump_.join();
  }
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  for (int fd : {tcp_, pump_fd_, local_fd_})
    if (fd >= 0) ::close(fd);
}

}  // namespace watershed::serve
