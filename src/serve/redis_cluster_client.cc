#include "serve/redis_cluster_client.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>

#include "serve/redis_connection.h"

namespace watershed::serve {
namespace {

constexpr int kSlotCount = 16384;
constexpr int kNoNode = -1;

using Clock = std::chrono::steady_clock;

struct HostPort {
  std::string host;
  int port = 0;
};

// "host:port" (split at the last ':', so "::1:7000" works too). An empty host
// is allowed here: Redis 7 writes MOVED ":7000" when it does not know the
// node's address, meaning "the host you are talking to".
std::optional<HostPort> ParseHostPort(std::string_view s) {
  size_t colon = s.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view port_text = s.substr(colon + 1);
  int port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port <= 0 || port > 65535) {
    return std::nullopt;
  }
  return HostPort{std::string(s.substr(0, colon)), port};
}

std::string Address(const std::string& host, int port) { return host + ":" + std::to_string(port); }

bool StartsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// "-MOVED 3999 127.0.0.1:6381" / "-ASK 3999 127.0.0.1:6381" (without '-').
struct Redirect {
  bool ask = false;
  uint16_t slot = 0;
  HostPort target;
};

std::optional<Redirect> ParseRedirect(const RedisReply& reply) {
  if (reply.type != RedisReply::Type::kError) return std::nullopt;
  std::string_view s = reply.str;
  Redirect r;
  if (StartsWith(s, "MOVED ")) {
    s.remove_prefix(6);
  } else if (StartsWith(s, "ASK ")) {
    r.ask = true;
    s.remove_prefix(4);
  } else {
    return std::nullopt;
  }
  size_t space = s.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  int slot = -1;
  auto [end, ec] = std::from_chars(s.data(), s.data() + space, slot);
  if (ec != std::errc() || end != s.data() + space || slot < 0 || slot >= kSlotCount) return std::nullopt;
  std::optional<HostPort> target = ParseHostPort(s.substr(space + 1));
  if (!target) return std::nullopt;
  r.slot = static_cast<uint16_t>(slot);
  r.target = std::move(*target);
  return r;
}

bool IsTransientError(const RedisReply& reply) {
  return reply.type == RedisReply::Type::kError &&
         (StartsWith(reply.str, "CLUSTERDOWN") || StartsWith(reply.str, "TRYAGAIN"));
}

// CLUSTER SLOTS entry [start, end, [host, port, id, ...], [replica...]...].
// An empty or "?" host means "the node that answered" (spec).
std::optional<HostPort> ParseSlotsNode(const RedisReply& node, const std::string& answering_host) {
  if (node.type != RedisReply::Type::kArray || node.elements.size() < 2) return std::nullopt;
  const RedisReply& host = node.elements[0];
  const RedisReply& port = node.elements[1];
  if (host.type != RedisReply::Type::kString || port.type != RedisReply::Type::kInteger) return std::nullopt;
  if (port.integer <= 0 || port.integer > 65535) return std::nullopt;
  std::string h = (host.str.empty() || host.str == "?") ? answering_host : host.str;
  return HostPort{std::move(h), static_cast<int>(port.integer)};
}

}  // namespace

struct RedisClusterClient::Impl {
  struct Node {
    HostPort addr;
    std::unique_ptr<RedisConnection> conn;  // null until first use or after a failure
  };

  // A command still waiting for its final reply.
  struct Pending {
    size_t index = 0;      // in the caller's batch
    int ask_node = kNoNode;  // send once to this node with ASKING first
    int redirects = 0;
  };

  RedisClusterOptions options;
  std::vector<Node> nodes;  // seeds first, then every node seen; never shrinks
  std::unordered_map<std::string, int> node_index;  // "host:port" → nodes[i]
  std::vector<int> slot_owner = std::vector<int>(kSlotCount, kNoNode);
  std::vector<RedisSlotRange> ranges;
  bool refresh_pending = false;
  RedisClusterStats stats;

  int NodeIndex(const HostPort& hp) {
    std::string key = Address(hp.host, hp.port);
    auto it = node_index.find(key);
    if (it != node_index.end()) return it->second;
    nodes.push_back(Node{hp, nullptr});
    int index = static_cast<int>(nodes.size()) - 1;
    node_index.emplace(std::move(key), index);
    return index;
  }

  Result<RedisConnection*> Conn(int node) {
    Node& n = nodes[static_cast<size_t>(node)];
    if (n.conn == nullptr) {
      ASSIGN_OR_RETURN(
          n.conn, RedisConnection::Open(n.addr.host, n.addr.port, static_cast<int>(options.connect_timeout.count()),
                                        static_cast<int>(options.io_timeout.count()), options.auth));
    }
    return n.conn.get();
  }

  void Drop(int node) { nodes[static_cast<size_t>(node)].conn.reset(); }

  // CLUSTER SLOTS from one node; on success replaces the map.
  Status LoadSlotMapFrom(int node) {
    Result<RedisReply> reply = [&]() -> Result<RedisReply> {
      ASSIGN_OR_RETURN(RedisConnection * conn, Conn(node));
      RETURN_IF_ERROR(conn->Append({"CLUSTER", "SLOTS"}));
      RETURN_IF_ERROR(conn->Flush());
      return conn->Read();
    }();
    if (!reply.ok()) {
      Drop(node);
      return reply.status();
    }
    const std::string answering_host = nodes[static_cast<size_t>(node)].addr.host;  // copy: NodeIndex may grow nodes
    if (reply->type != RedisReply::Type::kArray) {
      return Status::Unavailable("CLUSTER SLOTS from " + Address(answering_host, nodes[static_cast<size_t>(node)].addr.port) +
                                 ": " + (reply->type == RedisReply::Type::kError ? reply->str : "not an array"));
    }
    std::vector<RedisSlotRange> new_ranges;
    std::vector<HostPort> masters;
    for (const RedisReply& entry : reply->elements) {
      if (entry.type != RedisReply::Type::kArray || entry.elements.size() < 3 ||
          entry.elements[0].type != RedisReply::Type::kInteger ||
          entry.elements[1].type != RedisReply::Type::kInteger) {
        return Status::Corruption("CLUSTER SLOTS: malformed entry");
      }
      int64_t first = entry.elements[0].integer;
      int64_t last = entry.elements[1].integer;
      if (first < 0 || last < first || last >= kSlotCount) return Status::Corruption("CLUSTER SLOTS: bad range");
      std::optional<HostPort> master = ParseSlotsNode(entry.elements[2], answering_host);
      if (!master) return Status::Corruption("CLUSTER SLOTS: malformed node");
      RedisSlotRange range;
      range.first = static_cast<uint16_t>(first);
      range.last = static_cast<uint16_t>(last);
      range.master = Address(master->host, master->port);
      for (size_t i = 3; i < entry.elements.size(); ++i) {
        std::optional<HostPort> replica = ParseSlotsNode(entry.elements[i], answering_host);
        if (replica) range.replicas.push_back(Address(replica->host, replica->port));
      }
      new_ranges.push_back(std::move(range));
      masters.push_back(std::move(*master));
    }
    std::vector<int> owner(kSlotCount, kNoNode);
    for (size_t i = 0; i < new_ranges.size(); ++i) {
      int index = NodeIndex(masters[i]);
      std::fill(owner.begin() + new_ranges[i].first, owner.begin() + new_ranges[i].last + 1, index);
    }
    slot_owner = std::move(owner);
    ranges = std::move(new_ranges);
    refresh_pending = false;
    ++stats.slot_map_loads;
    return Status::Ok();
  }

  // From the first node that answers: every node known (seeds come first).
  Status LoadSlotMap() {
    Status last = Status::Unavailable("no Redis node known");
    for (size_t i = 0; i < nodes.size(); ++i) {
      last = LoadSlotMapFrom(static_cast<int>(i));
      if (last.ok()) return last;
    }
    return Status::Unavailable("no Redis cluster node answered CLUSTER SLOTS; last error: " + last.message());
  }

  // One round: sends every pending command to its node as one pipeline per
  // node, fills `out` with final replies and returns the commands to resend.
  // Sets `transient` (and `last_error`) when a resend needs back-off.
  Result<std::vector<Pending>> Round(const std::vector<RedisCommand>& commands, const std::vector<uint16_t>& slots,
                                     std::vector<Pending> pending, std::vector<std::optional<RedisReply>>& out,
                                     bool& transient, std::string& last_error) {
    std::vector<Pending> again;
    auto retry_later = [&](Pending p, std::string why) {
      p.ask_node = kNoNode;
      again.push_back(p);
      transient = true;
      last_error = std::move(why);
    };

    std::vector<std::pair<int, std::vector<Pending>>> groups;  // few nodes: linear search is fine
    for (const Pending& p : pending) {
      int node = p.ask_node != kNoNode ? p.ask_node : slot_owner[slots[p.index]];
      if (node == kNoNode) {
        retry_later(p, "no known owner for slot " + std::to_string(slots[p.index]));
        continue;
      }
      auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == node; });
      if (it == groups.end()) {
        groups.push_back({node, {}});
        it = groups.end() - 1;
      }
      it->second.push_back(p);
    }

    // Write every pipeline before reading any reply, so the nodes work in parallel.
    std::vector<bool> sent(groups.size(), false);
    for (size_t g = 0; g < groups.size(); ++g) {
      // Not a structured binding: clang 14 cannot capture those in the lambda.
      const int node = groups[g].first;
      const auto& group = groups[g].second;
      Status s = [&]() -> Status {
        ASSIGN_OR_RETURN(RedisConnection * conn, Conn(node));
        for (const Pending& p : group) {
          if (p.ask_node != kNoNode) RETURN_IF_ERROR(conn->Append({"ASKING"}));
          RETURN_IF_ERROR(conn->Append(commands[p.index].args));
        }
        return conn->Flush();
      }();
      if (s.ok()) {
        sent[g] = true;
        continue;
      }
      Drop(node);
      for (const Pending& p : group) retry_later(p, s.message());
    }

    for (size_t g = 0; g < groups.size(); ++g) {
      if (!sent[g]) continue;
      auto& [node, group] = groups[g];
      RedisConnection* conn = nodes[static_cast<size_t>(node)].conn.get();
      for (size_t i = 0; i < group.size(); ++i) {
        Pending p = group[i];
        Result<RedisReply> reply = [&]() -> Result<RedisReply> {
          if (p.ask_node != kNoNode) {
            ASSIGN_OR_RETURN(RedisReply asking, conn->Read());
            (void)asking;  // +OK; the command's own reply says whether it worked
          }
          return conn->Read();
        }();
        if (!reply.ok()) {
          // The rest of this pipeline is lost with the connection; some of
          // it may have run, and runs again (commands are idempotent).
          Drop(node);
          for (size_t j = i; j < group.size(); ++j) retry_later(group[j], reply.status().message());
          break;
        }
        std::optional<Redirect> redirect = ParseRedirect(*reply);
        if (redirect) {
          if (++p.redirects > options.max_redirects) {
            return Status::Unavailable("redis: too many redirects for key '" + commands[p.index].key +
                                       "', last: " + reply->str);
          }
          if (redirect->target.host.empty()) redirect->target.host = nodes[static_cast<size_t>(node)].addr.host;
          int target = NodeIndex(redirect->target);
          if (redirect->ask) {
            ++stats.ask;
            p.ask_node = target;
          } else {
            ++stats.moved;
            slot_owner[redirect->slot] = target;
            refresh_pending = true;
            p.ask_node = kNoNode;
          }
          again.push_back(p);
        } else if (IsTransientError(*reply)) {
          retry_later(p, reply->str);
        } else {
          out[p.index] = std::move(*reply);
        }
      }
    }
    return again;
  }

  Result<std::vector<RedisReply>> Execute(const std::vector<RedisCommand>& commands) {
    if (commands.empty()) return std::vector<RedisReply>{};
    const Clock::time_point deadline = Clock::now() + options.retry_timeout;
    if (refresh_pending) {
      // A failed refresh is not fatal: the map still has the MOVED updates.
      LoadSlotMap().IgnoreError();
    }

    std::vector<uint16_t> slots;
    slots.reserve(commands.size());
    std::vector<Pending> pending;
    pending.reserve(commands.size());
    for (size_t i = 0; i < commands.size(); ++i) {
      if (commands[i].args.empty()) return Status::InvalidArgument("redis: empty command");
      slots.push_back(RedisSlotOf(commands[i].key));
      pending.push_back(Pending{i, kNoNode, 0});
    }
    std::vector<std::optional<RedisReply>> out(commands.size());

    std::chrono::milliseconds backoff = options.initial_backoff;
    while (!pending.empty()) {
      bool transient = false;
      std::string last_error;
      ASSIGN_OR_RETURN(pending, Round(commands, slots, std::move(pending), out, transient, last_error));
      if (!transient) continue;  // only redirects: resend at once
      ++stats.transient_errors;
      Clock::time_point now = Clock::now();
      if (now >= deadline) return Status::Unavailable("redis cluster: giving up after retries: " + last_error);
      std::this_thread::sleep_for(std::min<Clock::duration>(backoff, deadline - now));
      backoff = std::min(backoff * 2, options.max_backoff);
      // Failing here is fine: the next round fails too and backs off again.
      LoadSlotMap().IgnoreError();
    }

    std::vector<RedisReply> replies;
    replies.reserve(out.size());
    for (std::optional<RedisReply>& r : out) replies.push_back(std::move(*r));
    return replies;
  }
};

Result<std::unique_ptr<RedisClusterClient>> RedisClusterClient::Connect(RedisClusterOptions options) {
  if (options.seeds.empty()) return Status::InvalidArgument("redis cluster: no seed nodes");
  if (options.max_redirects < 1) return Status::InvalidArgument("redis cluster: max_redirects must be >= 1");
  if (options.initial_backoff.count() <= 0 || options.max_backoff < options.initial_backoff) {
    return Status::InvalidArgument("redis cluster: need 0 < initial_backoff <= max_backoff");
  }
  auto impl = std::make_unique<Impl>();
  for (const std::string& seed : options.seeds) {
    std::optional<HostPort> hp = ParseHostPort(seed);
    if (!hp || hp->host.empty()) return Status::InvalidArgument("redis cluster: bad seed '" + seed + "'");
    impl->NodeIndex(*hp);
  }
  impl->options = std::move(options);
  RETURN_IF_ERROR(impl->LoadSlotMap());
  return std::unique_ptr<RedisClusterClient>(new RedisClusterClient(std::move(impl)));
}

RedisClusterClient::RedisClusterClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RedisClusterClient::~RedisClusterClient() = default;

Result<std::vector<RedisReply>> RedisClusterClient::Execute(const std::vector<RedisCommand>& commands) {
  return impl_->Execute(commands);
}

std::string RedisClusterClient::MasterOf(uint16_t slot) const {
  if (slot >= kSlotCount) return "";
  int node = impl_->slot_owner[slot];
  if (node == kNoNode) return "";
  const HostPort& hp = impl_->nodes[static_cast<size_t>(node)].addr;
  return Address(hp.host, hp.port);
}

const std::vector<RedisSlotRange>& RedisClusterClient::slot_ranges() const { return impl_->ranges; }
const RedisClusterStats& RedisClusterClient::stats() const { return impl_->stats; }

}  // namespace watershed::serve
