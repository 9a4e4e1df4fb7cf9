#pragma once
// RedisClient over one hiredis connection to a single Redis node.
//
// Execute pipelines all commands on the connection (append all, then read
// all replies) and ignores the routing keys. When the connection breaks
// (I/O error, timeout, server gone) the context is dropped and Execute
// returns kUnavailable with the hiredis error text; the next Execute dials
// again, so a caller that retries recovers once the server is back.
//
// Thread safety: none (as RedisClient); use one client per thread.

#include <cstdint>
#include <memory>
#include <string>

#include "serve/redis_client.h"
#include "serve/redis_connection.h"

namespace watershed::serve {

// Connects to host:port; timeout_ms bounds the connect and every later
// read/write on the socket. kUnavailable (with the hiredis error text) when
// the node cannot be reached.
Result<std::unique_ptr<RedisClient>> ConnectRedisNode(const std::string& host, int port, int timeout_ms,
                                                      const RedisSecurity& auth = {});

}  // namespace watershed::serve
