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

// Redis AUTH: a password (requirepass), or an ACL user and its password.
struct RedisAuth {
  std::string user;  // empty: the default user
  std::string password;
  bool empty() const { return password.empty(); }
};

// Reads `path`: one line, "PASSWORD" or "USER PASSWORD". Refused (with the
// path, never the content) when missing, empty, malformed or readable by
// group or others (like ssh with private keys: chmod 600).
Result<RedisAuth> ReadRedisAuthFile(const std::string& path);

class RedisConnection {
 public:
  // kUnavailable (with the hiredis reason) when the node cannot be reached.
  // io_timeout_ms bounds every later read and write on the socket. With
  // `auth`, AUTH is the first command; a refusal is kFailedPrecondition
  // naming the node, never the password.
  static Result<std::unique_ptr<RedisConnection>> Open(const std::string& host, int port, int connect_timeout_ms,
                                                       int io_timeout_ms, const RedisAuth& auth = {});
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
  RedisConnection(redisContext* ctx, std::string address) : ctx_(ctx), address_(std::move(address)) {}
  Status Error() const;

  redisContext* ctx_;
  std::string address_;  // "host:port", for messages
};

}  // namespace watershed::serve
