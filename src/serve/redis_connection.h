#pragma once
// One blocking hiredis connection to one Redis node: the transport under
// RedisNodeClient and RedisClusterClient. Commands are appended, flushed as
// one pipeline, and their replies read back in order. After any failure the
// connection is unusable (replies may be half read): drop it and open anew.

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "serve/redis_client.h"

struct redisContext;

namespace watershed::serve {

class TlsTunnel;

// TLS to Redis (rediss://): the server's certificate is checked against
// ca_file (empty: the system's CAs) and the host name or IP dialled; a
// client certificate when the server asks for one (tls-auth-clients).
struct RedisTls {
  bool on = false;
  std::string ca_file, cert_file, key_file;
};

// How every connection to Redis is secured: AUTH with a password
// (requirepass) or an ACL user and its password, and TLS.
struct RedisSecurity {
  std::string user;  // empty: the default user
  std::string password;
  RedisTls tls;
  bool has_password() const { return !password.empty(); }
  bool any() const { return has_password() || tls.on; }
};

// Reads `path`: one line, "PASSWORD" or "USER PASSWORD". Refused (with the
// path, never the content) when missing, empty, malformed or readable by
// group or others (like ssh with private keys: chmod 600).
Result<RedisSecurity> ReadRedisAuthFile(const std::string& path);

class RedisConnection {
 public:
  // kUnavailable (with the hiredis reason) when the node cannot be reached.
  // io_timeout_ms bounds every later read and write on the socket. With
  // `auth`, AUTH is the first command; a refusal is kFailedPrecondition
  // naming the node, never the password.
  static Result<std::unique_ptr<RedisConnection>> Open(const std::string& host, int port, int connect_timeout_ms,
                                                       int io_timeout_ms, const RedisSecurity& auth = {});
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Buffers one command; nothing is sent until Flush() or Read().
  Status Append(const std::vector<std::string>& args);
  Status Flush();
  // The next reply, in the order the commands were appended.
  Result<RedisReply> Read();
  const std::string& address() const { return address_; }

 private:
  RedisConnection(redisContext* ctx, std::string address);
  Status Error() const;

  std::unique_ptr<TlsTunnel> tunnel_;  // rediss://: hiredis' socket is its plaintext end; destroyed after ctx_
  redisContext* ctx_;
  std::string address_;     // "host:port", for messages
  bool unflushed_ = false;  // commands appended since the last Flush
};

}  // namespace watershed::serve
