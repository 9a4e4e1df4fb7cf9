#pragma once
// How the Redis live store talks to Redis: one node (redis_node_client.cc)
// or a Redis Cluster (redis_cluster_client.cc, slot routing with MOVED/ASK).
// The store builds commands; the client routes and pipelines them.
//
// Every command names its routing key: in a cluster the command goes to the
// node owning that key's hash slot (CRC16 of the key, or of its {hash tag},
// mod 16384). Commands that touch several keys (EVALSHA) must keep them in
// one slot, e.g. with a shared {tag}.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace watershed::serve {

struct RedisCommand {
  std::string key;                // routing key (also usually one of args)
  std::vector<std::string> args;  // the whole command, e.g. {"HGETALL", "{42}:s"}
};

struct RedisReply {
  enum class Type : uint8_t { kNil, kInteger, kString, kStatus, kArray, kError };
  Type type = Type::kNil;
  int64_t integer = 0;
  std::string str;                 // kString, kStatus, kError
  std::vector<RedisReply> elements;  // kArray
};

class RedisClient {
 public:
  virtual ~RedisClient() = default;
  // Sends the commands as pipelines (one per node) and returns one reply per
  // command, in order. A Redis error reply (e.g. a script error) is a
  // kError reply, not a failed Status; kUnavailable when a node cannot be
  // reached or the connection broke (the caller retries the whole batch —
  // the store's writes are idempotent). Not thread-safe: one per thread.
  virtual Result<std::vector<RedisReply>> Execute(const std::vector<RedisCommand>& commands) = 0;
};

// Redis Cluster hash slot of a key (0..16383): CRC16-CCITT (XMODEM) of the
// key, or of the part between the first '{' and the next '}' when that part
// is non-empty.
uint16_t RedisSlotOf(std::string_view key);

}  // namespace watershed::serve
