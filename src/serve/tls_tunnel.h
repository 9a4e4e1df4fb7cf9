#pragma once
// TLS to Redis for hiredis 0.14, which has none (Debian 12): a TLS
// connection (OpenSSL) to the server, and a local socket pair whose other
// end hiredis uses (redisConnectFd) as if it were the plain connection. One
// thread per tunnel pumps the bytes both ways. The tunnel ends when either
// side closes: hiredis closing its end, the server or the network failing
// (hiredis then reads EOF and reconnects as for any broken connection).

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <thread>

#include "core/status.h"
#include "serve/redis_connection.h"

namespace watershed::serve {

class TlsTunnel {
 public:
  // Dials host:port, verifies the server's certificate against tls.ca_file
  // (or the system's CAs) and the host name or IP, presents the client
  // certificate when given. kUnavailable when the server cannot be reached,
  // kFailedPrecondition when TLS fails (naming why: verification, protocol).
  static Result<std::unique_ptr<TlsTunnel>> Open(const std::string& host, int port, int timeout_ms,
                                                 const RedisTls& tls);
  ~TlsTunnel();
  TlsTunnel(const TlsTunnel&) = delete;
  TlsTunnel& operator=(const TlsTunnel&) = delete;

  // The plaintext end for hiredis; the caller owns (and closes) it.
  int TakeLocalFd();

 private:
  TlsTunnel() = default;
  void Pump();

  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int tcp_ = -1;
  int pump_fd_ = -1;   // the tunnel's end of the pair
  int local_fd_ = -1;  // hiredis' end, until taken
  std::thread pump_;
};

}  // namespace watershed::serve
