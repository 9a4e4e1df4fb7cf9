#pragma once
// RedisLiveStore: the LiveStore kept in Redis (one node or a cluster, behind
// RedisClient), so several processes can serve and write the same metrics.
// Answers equal MemoryLiveStore's for the same writes (the conformance suite
// in testing/live_store_conformance.h checks this against a real server).
//
// Key layout (P = Options::prefix, default "ws"; {S} = story id, {A} =
// author id; every key of one story shares the {S} hash tag, so one script
// can touch them all in a cluster):
//   P:{S}:s        hash, per region r (the region's id: its place in
//                  region-names, so processes sharing a Redis share
//                  region-names):
//                    t<r> = "views,uniques,watch_ms,shares,replies" (absolute)
//                    a<r> = author as region r saw it, o<r> = as_of_ms,
//                    n<r> = the highest next_offset of a write applied to
//                    region r's part of the story (20 digits, zero padded)
//   P:{S}:w5s      hash of the story's 5 s windows, P:{S}:w1m of its 1 m
//   P:{S}:w1m      windows: field "<start>:<r>" (start in ms) = region r's
//                    part, "v,u,w,s,r,<final 0|1>".
//   P:{S}:i5s      sorted set indexing the starts of w5s / w1m that have a
//   P:{S}:i1m        part: member = score = start, so GetSeries is a
//                    ZRANGEBYSCORE then one HMGET.
//   P:rank:<metric>  sorted set (metric = views, unique_viewers,
//                    watch_time_ms, shares, replies): score = the story's
//                    summed metric, member = the 20-digit decimal of
//                    UINT64_MAX - story id, so that equal scores list by id
//                    ascending (Redis orders ties by member bytes). Only
//                    stories whose value is above 0 are members.
//   P:stories      sorted set of every story with totals: score 0, member =
//                  the 20-digit decimal story id (bytes order = id order);
//                  where the zero tail of a top list is read from.
//   P:regions      string: region-names as the processes sharing the store
//                  list them (PinRegionNames)
//   P:progress     sorted set, member "<region>:<partition>" (region id),
//                  score = the highest next_offset applied (ZADD GT, exact
//                  below 2^53); what `watershed query` computes lag from.
// A store may hold any subset of the regions: every region's parts are
// fields of their own (t<r>, n<r>, "<start>:<r>", "<r>:<partition>"), reads
// take the regions present, so a region's own Redis (live-store.REGION)
// holds only that region's fields and its rank lists rank that region's
// values; a Redis shared by regions keeps them apart in the same keys
// (docs/live_store.md "One store per region").
// Numbers are decimal strings; the script never does arithmetic on them (Lua
// numbers are doubles), sums are computed here.
//
// Writes never go backwards. Apply runs one script (EVALSHA, EVAL on
// NOSCRIPT) per story the PartitionWrite touches, all pipelined. The script
// compares the write's next_offset with the story's n<r> once: below it the
// whole write of region r to the story is refused; otherwise its parts
// (totals, windows, drops) are applied and n<r> raised. Why one offset per
// story and region is enough: processing is deterministic, so whoever
// computes a partition's state up to offset N computes the same values, and
// each applied write leaves region r's parts of the story equal to the
// state at n<r> (a part a write leaves out did not change since that
// writer's previous write, so its stored value is still the state at the
// new offset). A write below n<r> (a replay after a restore, a zombie
// owner) carries older values for everything, so refusing it whole loses
// nothing; re-applying a write at n<r> rewrites the same absolute values
// (idempotent). The first design kept an offset per part, which took a
// read, a compare and a rewrite per window, and could bring a dropped
// window back while a zombie wrote; this one writes a window with one HSET
// (on the benchmark load: 2.8 → 1.55 KB of Redis memory per story, 44 → 38
// µs per script; bench/RESULTS.md).
// The script returns the story hash; a second pipelined round then raises
// the rank lists with ZADD GT to the new sums (the metrics above 0), adds
// the story to the stories index (ZADD NX) and raises the partition's
// progress (after the story values are stored, so progress never runs ahead
// of what a reader sees; rank lists may trail it by one round). Counts only
// grow, so GT makes concurrent and zombie updates converge; a score is never
// below the story's value once the round is done, which is what reads rely
// on.
//
// Reads: GetStory is one HGETALL; GetStories the same, pipelined 1000 at a
// time; GetSeries a ZRANGEBYSCORE on the index and one HMGET of the parts.
// TopStoriesOverall reads the rank list from the top with a range of
// `limit` members and loads those stories in one pipeline; when the list
// has fewer than `limit` members, the rest are the lowest ids of the
// stories index worth 0. It ranks by the stories' current values, ties by
// id ascending. Cost: at most 2 range reads and 2·limit HGETALLs, whatever
// the number of stories (a list only reads further when scores are above
// values, which happens only if a value went down; counts never do).
// There are no per-author lists: a creator's list comes from the story
// catalogue (docs/api.md).
//
// Limits: window starts and top-list scores are Redis doubles, exact below
// 2^53. The rank lists and the stories index are filled as stories are
// written: a Redis written by a version that kept P:top:<metric> and
// P:a:{A}:top:<metric> lists (member = plain id; those keys are no longer
// read or written) lists only the stories written since.
//
// Errors: kUnavailable when Redis cannot be reached (Apply may be retried
// unchanged); kInternal with Redis' message for a script or protocol error.
//
// Thread safety: all methods are thread-safe. RedisClient is not, so the
// store keeps a small pool: a call takes an idle client (or makes one with
// the factory, up to Options::max_clients; beyond that it waits) and returns
// it afterwards.

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "serve/live_store.h"
#include "serve/redis_client.h"
#include "serve/redis_connection.h"

namespace watershed::serve {

using RedisClientFactory = std::function<Result<std::unique_ptr<RedisClient>>()>;

struct RedisLiveStoreOptions {
  std::string prefix = "ws";
  size_t max_clients = 8;
  // Durability across a Redis failover: with N > 0 every write round ends
  // with WAIT N on each node it wrote to (same connection, same pipeline),
  // and Apply fails with kUnavailable (the processor retries the write,
  // which is idempotent) unless N replicas acknowledged it. Redis replicates
  // asynchronously, so with 0 a master that dies before its replica caught
  // up loses acknowledged writes the processors will not repeat.
  int wait_replicas = 0;
  int wait_timeout_ms = 1000;
};

// Write amplification counters (monotonic, for reports and tests).
struct RedisLiveStoreStats {
  uint64_t applies = 0;        // successful Apply calls
  uint64_t commands = 0;       // commands sent by successful Apply calls
  uint64_t round_trips = 0;    // pipelines sent by successful Apply calls
};

class RedisLiveStore final : public LiveStore {
 public:
  RedisLiveStore(RedisClientFactory factory, RedisLiveStoreOptions options = {});
  ~RedisLiveStore() override;

  Status Apply(const PartitionWrite& write) override;
  Result<std::optional<StoryMetrics>> GetStory(StoryId story) override;
  Result<RegionParts> GetStoryRegions(StoryId story) override;
  Result<std::vector<SeriesPoint>> GetSeries(StoryId story, WindowSize size, int64_t from, int64_t to) override;
  Result<std::vector<std::optional<StoryMetrics>>> GetStories(const std::vector<StoryId>& stories) override;
  Result<std::vector<StoryMetrics>> TopStoriesOverall(TopBy by, size_t limit) override { return Top(by, limit); }
  Result<std::vector<PartitionProgress>> GetProgress() override;

  RedisLiveStoreStats stats() const;
  // The replicas connected to the master that holds ProgressKey
  // (connected_slaves of INFO replication); in a cluster that is one master
  // of several. For checking wait_replicas at start: with fewer replicas
  // every Apply fails until enough connect. kUnavailable when Redis cannot
  // be reached.
  Result<int> ConnectedReplicas();
  // The fields t<r>, n<r>, "<start>:<r>" and "<r>:<partition>" carry region
  // ids, places in region-names: every process sharing this Redis must list
  // the names in the same order. Records `names` ("us,eu,apac") in P:regions
  // when it holds none or a shorter list `names` extends (regions appended);
  // kFailedPrecondition naming both lists when the one stored orders them
  // otherwise (a list that extends `names` is fine: its first ids agree).
  // kUnavailable when Redis cannot be reached.
  Status PinRegionNames(const std::string& names);

  // Key names (exposed for tests and operators).
  std::string StoryKey(StoryId story) const;
  std::string WindowKeyName(StoryId story, WindowSize size) const;
  std::string WindowIndexKeyName(StoryId story, WindowSize size) const;
  std::string RankKey(TopBy by) const;
  std::string StoriesKey() const;
  std::string ProgressKey() const;
  std::string RegionNamesKey() const;

 private:
  class Lease;
  Result<std::unique_ptr<RedisClient>> Acquire();
  void Release(std::unique_ptr<RedisClient> client);
  Result<std::vector<RedisReply>> Run(const std::vector<RedisCommand>& commands);
  // Run for writes: appends the WAITs of Options::wait_replicas and checks them.
  Result<std::vector<RedisReply>> RunWrites(std::vector<RedisCommand> commands);
  Result<std::vector<StoryMetrics>> Top(TopBy by, size_t limit);
  // One HGETALL per story, in one pipeline.
  Result<std::vector<std::optional<StoryMetrics>>> Load(const std::vector<StoryId>& stories);

  RedisClientFactory factory_;
  RedisLiveStoreOptions options_;
  std::mutex mu_;
  std::condition_variable idle_cv_;
  std::vector<std::unique_ptr<RedisClient>> idle_;
  size_t clients_ = 0;  // idle + leased
  std::string sha_;     // of the Apply script once loaded; guarded by mu_
  std::atomic<uint64_t> applies_{0}, commands_{0}, round_trips_{0};
};

// A store over one node (clients made with ConnectRedisNode).
std::unique_ptr<RedisLiveStore> NewRedisNodeLiveStore(std::string host, int port, int timeout_ms,
                                                      RedisLiveStoreOptions options = {}, RedisSecurity auth = {});

}  // namespace watershed::serve
