#pragma once
// RedisClusterClient: a small Redis Cluster client behind RedisClient.
// Debian ships no Redis Cluster client library, so the routing is ours; it
// uses hiredis only for one plain connection per node.
//
// Routing. The client keeps a slot map (slot → master "host:port") read with
// CLUSTER SLOTS from any reachable node (the seeds, then every node it has
// seen). Execute() looks up each command's routing key slot (RedisSlotOf),
// groups the commands by master, writes one pipeline to every master, then
// reads the replies and puts them back in the caller's order. Connections
// are opened lazily and kept; a broken one is dropped and reopened.
//
// Redirects (per command, at most Options::max_redirects, else the batch
// fails with kUnavailable):
//   -MOVED <slot> <host:port>  the slot has a new owner: the map entry for
//       that slot is updated at once, the command is resent there, and a full
//       CLUSTER SLOTS refresh is done at the start of the next Execute().
//   -ASK <slot> <host:port>    the slot is being migrated and this key is
//       already on the target: the command is sent once to that node,
//       preceded by ASKING. The map is not changed.
// Transient failures: a node that cannot be reached or whose connection
// breaks, -CLUSTERDOWN, -TRYAGAIN, or a slot with no known owner. The client
// sleeps (exponential back-off from initial_backoff up to max_backoff),
// reloads the slot map from any reachable node and resends the commands that
// have no reply yet. It gives up with kUnavailable once retry_timeout has
// passed since Execute() began (each attempt is further bounded by the
// connect and I/O timeouts). This is how a failover is ridden through: the
// dead master's slots are served again once its replica is promoted and
// CLUSTER SLOTS says so. A command can thus run twice (sent, connection
// broke before its reply): callers send idempotent commands, as
// RedisClient::Execute already requires.
//
// Any other error reply (a script error, WRONGTYPE, CROSSSLOT, ...) is
// returned to the caller as a kError reply.
//
// Not supported: commands whose keys span several slots (the caller keeps
// them in one slot with a {hash tag}; Redis answers CROSSSLOT otherwise),
// commands without a key (routed by whatever `key` says), pub/sub, MULTI
// across calls, blocking commands, reading from replicas (replicas are only
// recorded, for diagnostics), TLS and AUTH.
//
// Thread safety: none. One client per thread, like every RedisClient.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "serve/redis_client.h"
#include "serve/redis_connection.h"

namespace watershed::serve {

struct RedisClusterOptions {
  std::vector<std::string> seeds;  // "host:port", at least one
  std::chrono::milliseconds connect_timeout{500};
  std::chrono::milliseconds io_timeout{2000};  // per read or write on a socket
  std::chrono::milliseconds retry_timeout{5000};  // all retries of one Execute()
  std::chrono::milliseconds initial_backoff{10};
  std::chrono::milliseconds max_backoff{500};
  int max_redirects = 5;  // MOVED + ASK followed per command per Execute()
  RedisSecurity auth;     // sent on every connection to every node
};

// Counters since the client was created, for tests and metrics.
struct RedisClusterStats {
  uint64_t moved = 0;            // MOVED redirects followed
  uint64_t ask = 0;              // ASK redirects followed
  uint64_t slot_map_loads = 0;   // successful CLUSTER SLOTS loads
  uint64_t transient_errors = 0; // connection errors, CLUSTERDOWN, TRYAGAIN, unmapped slots
};

// One range of CLUSTER SLOTS: slots [first, last] served by master; the
// replicas are recorded but never read from.
struct RedisSlotRange {
  uint16_t first = 0;
  uint16_t last = 0;
  std::string master;                 // "host:port"
  std::vector<std::string> replicas;  // "host:port"
};

class RedisClusterClient final : public RedisClient {
 public:
  // Loads the slot map from the first seed that answers. kInvalidArgument
  // for a malformed seed or option, kUnavailable when no seed answers.
  static Result<std::unique_ptr<RedisClusterClient>> Connect(RedisClusterOptions options);

  ~RedisClusterClient() override;
  RedisClusterClient(const RedisClusterClient&) = delete;
  RedisClusterClient& operator=(const RedisClusterClient&) = delete;

  // See RedisClient::Execute and the routing notes above.
  Result<std::vector<RedisReply>> Execute(const std::vector<RedisCommand>& commands) override;

  // The master ("host:port") the client currently routes `slot` to, or ""
  // when the map has no owner for it.
  std::string MasterOf(uint16_t slot) const;
  // The slot map as last loaded with CLUSTER SLOTS (MOVED updates are not
  // reflected here until the next load).
  const std::vector<RedisSlotRange>& slot_ranges() const;
  const RedisClusterStats& stats() const;

 private:
  struct Impl;
  explicit RedisClusterClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace watershed::serve
