// RedisSlotOf vectors, and RedisClusterClient against real Redis Clusters
// (redis-server processes started per test by testing::LocalRedisCluster):
// routing and pipelining, MOVED after a slot migration, ASK during one, and
// riding through a master failover.

#include "serve/redis_cluster_client.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "serve/redis_client.h"
#include "serve/testing/redis_cluster.h"

namespace watershed::serve {
namespace {

using testing::LocalRedisCluster;
using Type = RedisReply::Type;

TEST(RedisSlotTest, SpecVectors) {
  // CRC16/XMODEM check value; < 16384, so it is also the slot.
  EXPECT_EQ(RedisSlotOf("123456789"), 0x31C3);
  EXPECT_EQ(RedisSlotOf("foo"), 12182);
  EXPECT_EQ(RedisSlotOf("bar"), 5061);
  EXPECT_EQ(RedisSlotOf(""), 0);
}

TEST(RedisSlotTest, HashTags) {
  EXPECT_EQ(RedisSlotOf("{user1000}.following"), RedisSlotOf("user1000"));
  EXPECT_EQ(RedisSlotOf("{user1000}.followers"), RedisSlotOf("user1000"));
  EXPECT_EQ(RedisSlotOf("user1000"), 3443);
  // Empty first tag: the whole key is hashed (CRC16 0xE0AB).
  EXPECT_EQ(RedisSlotOf("foo{}{bar}"), 0xE0AB % 16384);
  EXPECT_NE(RedisSlotOf("foo{}{bar}"), RedisSlotOf("bar"));
  // The tag runs from the first '{' to the first '}' after it.
  EXPECT_EQ(RedisSlotOf("foo{{bar}}zap"), RedisSlotOf("{bar"));
  EXPECT_EQ(RedisSlotOf("{bar"), 4015);
  EXPECT_EQ(RedisSlotOf("foo{bar}zap"), RedisSlotOf("bar"));
  // No closing brace: whole key.
  EXPECT_NE(RedisSlotOf("foo{bar"), RedisSlotOf("bar"));
}

TEST(RedisClusterClientTest, ConnectFailsWithoutReachableSeed) {
  RedisClusterOptions options;
  options.seeds = {"127.0.0.1:1"};
  auto client = RedisClusterClient::Connect(options);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), StatusCode::kUnavailable);

  options.seeds = {"no-port"};
  client = RedisClusterClient::Connect(options);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), StatusCode::kInvalidArgument);
}

RedisCommand Cmd(std::vector<std::string> args) {
  RedisCommand c;
  c.key = args.size() > 1 ? args[1] : "";
  c.args = std::move(args);
  return c;
}

class ClusterTest : public ::testing::Test {
 protected:
  void StartCluster(int replicas_per_master) {
    LocalRedisCluster::Options options;
    options.replicas_per_master = replicas_per_master;
    auto cluster = LocalRedisCluster::Start(options);
    ASSERT_TRUE(cluster.ok()) << cluster.status().ToString();
    cluster_ = std::move(cluster).value();
    RedisClusterOptions client_options;
    client_options.seeds = {cluster_->Address(0)};
    client_options.retry_timeout = std::chrono::seconds(60);  // only a guard against hangs
    auto client = RedisClusterClient::Connect(client_options);
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    client_ = std::move(client).value();
  }

  std::vector<RedisReply> Run(const std::vector<RedisCommand>& commands) {
    auto r = client_->Execute(commands);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return {};
    EXPECT_EQ(r->size(), commands.size());
    return std::move(r).value();
  }

  void ExpectOk(size_t node, const std::vector<std::string>& args) {
    auto r = cluster_->Command(node, args);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->str, "OK") << args[0] << " " << (args.size() > 1 ? args[1] : "") << " on node " << node;
  }

  // Puts `slot` in migration from node `from` to node `to` (spec order:
  // IMPORTING on the target first, then MIGRATING on the source).
  void BeginMigration(uint16_t slot, size_t from, size_t to) {
    ExpectOk(to, {"CLUSTER", "SETSLOT", std::to_string(slot), "IMPORTING", cluster_->NodeId(from)});
    ExpectOk(from, {"CLUSTER", "SETSLOT", std::to_string(slot), "MIGRATING", cluster_->NodeId(to)});
  }
  void MigrateKeys(size_t from, size_t to, const std::vector<std::string>& keys) {
    std::vector<std::string> args = {"MIGRATE", "127.0.0.1", std::to_string(cluster_->port(to)), "", "0", "10000",
                                     "KEYS"};
    args.insert(args.end(), keys.begin(), keys.end());
    ExpectOk(from, args);
  }
  // Assigns the slot to `to` on every master.
  void FinishMigration(uint16_t slot, size_t to, const std::vector<size_t>& masters) {
    ExpectOk(to, {"CLUSTER", "SETSLOT", std::to_string(slot), "NODE", cluster_->NodeId(to)});
    for (size_t m : masters) {
      if (m != to) ExpectOk(m, {"CLUSTER", "SETSLOT", std::to_string(slot), "NODE", cluster_->NodeId(to)});
    }
  }
  std::vector<size_t> Masters() {
    std::set<size_t> masters;
    for (const RedisSlotRange& r : client_->slot_ranges()) masters.insert(cluster_->IndexOf(r.master));
    return {masters.begin(), masters.end()};
  }

  std::unique_ptr<LocalRedisCluster> cluster_;
  std::unique_ptr<RedisClusterClient> client_;
};

TEST_F(ClusterTest, SetGetManyKeysOverAllMasters) {
  ASSERT_NO_FATAL_FAILURE(StartCluster(/*replicas_per_master=*/1));
  ASSERT_EQ(client_->slot_ranges().size(), 3u);
  for (const RedisSlotRange& r : client_->slot_ranges()) EXPECT_EQ(r.replicas.size(), 1u) << r.master;
  std::vector<size_t> masters = Masters();
  ASSERT_EQ(masters.size(), 3u);

  constexpr int kKeys = 3000;
  std::set<uint16_t> slots;
  for (int batch = 0; batch < kKeys; batch += 500) {
    std::vector<RedisCommand> sets;
    for (int i = batch; i < batch + 500; ++i) {
      sets.push_back(Cmd({"SET", "key:" + std::to_string(i), "value-" + std::to_string(i)}));
      slots.insert(RedisSlotOf("key:" + std::to_string(i)));
    }
    for (const RedisReply& r : Run(sets)) ASSERT_EQ(r.str, "OK");
  }
  std::vector<RedisCommand> gets;
  for (int i = 0; i < kKeys; ++i) gets.push_back(Cmd({"GET", "key:" + std::to_string(i)}));
  std::vector<RedisReply> replies = Run(gets);
  ASSERT_EQ(replies.size(), static_cast<size_t>(kKeys));
  for (int i = 0; i < kKeys; ++i) {
    ASSERT_EQ(replies[i].type, Type::kString) << i;
    ASSERT_EQ(replies[i].str, "value-" + std::to_string(i));
  }

  // Each key landed on the master that owns its slot: the masters' key
  // counts add up, and every master got a share.
  int64_t total = 0;
  for (size_t m : masters) {
    auto dbsize = cluster_->Command(m, {"DBSIZE"});
    ASSERT_TRUE(dbsize.ok());
    EXPECT_GT(dbsize->integer, 0) << cluster_->Address(m);
    total += dbsize->integer;
  }
  EXPECT_EQ(total, kKeys);
  EXPECT_EQ(client_->stats().moved, 0u);
  EXPECT_EQ(client_->stats().ask, 0u);

  // Our slot function agrees with the server's.
  for (const std::string key : {"foo", "{user1000}.following", "foo{}{bar}", "foo{{bar}}zap", "a{b}c{d}", "{}"}) {
    auto slot = cluster_->Command(0, {"CLUSTER", "KEYSLOT", key});
    ASSERT_TRUE(slot.ok());
    EXPECT_EQ(slot->integer, RedisSlotOf(key)) << key;
  }
}

TEST_F(ClusterTest, PipelineMixingSlotsKeepsOrder) {
  ASSERT_NO_FATAL_FAILURE(StartCluster(/*replicas_per_master=*/0));
  std::vector<RedisCommand> batch;
  for (int i = 0; i < 60; ++i) {
    batch.push_back(Cmd({"SET", "k" + std::to_string(i), std::to_string(i)}));
    batch.push_back(Cmd({"INCR", "k" + std::to_string(i)}));
    batch.push_back(Cmd({"GET", "k" + std::to_string(i)}));
  }
  batch.push_back(Cmd({"GET", "missing"}));
  batch.push_back(Cmd({"SET", "text", "abc"}));
  batch.push_back(Cmd({"INCR", "text"}));  // an error reply, not a failed batch
  batch.push_back(Cmd({"HSET", "h", "f", "v"}));
  batch.push_back(Cmd({"HGETALL", "h"}));
  std::vector<RedisReply> r = Run(batch);
  ASSERT_EQ(r.size(), batch.size());
  for (int i = 0; i < 60; ++i) {
    EXPECT_EQ(r[3 * i].type, Type::kStatus);
    EXPECT_EQ(r[3 * i + 1].type, Type::kInteger);
    EXPECT_EQ(r[3 * i + 1].integer, i + 1);
    EXPECT_EQ(r[3 * i + 2].str, std::to_string(i + 1));
  }
  EXPECT_EQ(r[180].type, Type::kNil);
  EXPECT_EQ(r[181].str, "OK");
  EXPECT_EQ(r[182].type, Type::kError);
  EXPECT_EQ(r[183].integer, 1);
  ASSERT_EQ(r[184].type, Type::kArray);
  ASSERT_EQ(r[184].elements.size(), 2u);
  EXPECT_EQ(r[184].elements[1].str, "v");
}

TEST_F(ClusterTest, EvalWithSharedHashTag) {
  ASSERT_NO_FATAL_FAILURE(StartCluster(/*replicas_per_master=*/0));
  const std::string script =
      "redis.call('SET', KEYS[1], ARGV[1]); redis.call('SET', KEYS[2], ARGV[2]);"
      "return redis.call('GET', KEYS[1]) .. redis.call('GET', KEYS[2])";
  std::vector<RedisReply> r = Run({
      RedisCommand{"{story:7}:a", {"EVAL", script, "2", "{story:7}:a", "{story:7}:b", "x", "y"}},
      RedisCommand{"{story:7}:b", {"GET", "{story:7}:b"}},
  });
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].str, "xy");
  EXPECT_EQ(r[1].str, "y");

  // Keys in different slots: Redis refuses, and the client passes the error on.
  ASSERT_NE(RedisSlotOf("{t}a"), RedisSlotOf("{u}b"));
  r = Run({RedisCommand{"{t}a", {"EVAL", script, "2", "{t}a", "{u}b", "x", "y"}}});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].type, Type::kError);
  EXPECT_NE(r[0].str.find("CROSSSLOT"), std::string::npos) << r[0].str;
}

TEST_F(ClusterTest, FollowsMovedAfterSlotMigration) {
  ASSERT_NO_FATAL_FAILURE(StartCluster(/*replicas_per_master=*/0));
  const uint16_t slot = RedisSlotOf("{m}");
  std::vector<std::string> keys;
  std::vector<RedisCommand> sets, gets;
  for (int i = 0; i < 20; ++i) {
    keys.push_back("{m}" + std::to_string(i));
    sets.push_back(Cmd({"SET", keys.back(), "v" + std::to_string(i)}));
    gets.push_back(Cmd({"GET", keys.back()}));
  }
  for (const RedisReply& r : Run(sets)) ASSERT_EQ(r.str, "OK");

  size_t from = cluster_->IndexOf(client_->MasterOf(slot));
  ASSERT_LT(from, cluster_->size());
  std::vector<size_t> masters = Masters();
  size_t to = masters[0] == from ? masters[1] : masters[0];
  BeginMigration(slot, from, to);
  MigrateKeys(from, to, keys);
  FinishMigration(slot, to, masters);
  // The client still has the old map.
  ASSERT_EQ(client_->MasterOf(slot), cluster_->Address(from));

  std::vector<RedisReply> r = Run(gets);
  ASSERT_EQ(r.size(), keys.size());
  for (size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(r[i].str, "v" + std::to_string(i));
  EXPECT_GE(client_->stats().moved, 1u);
  EXPECT_EQ(client_->MasterOf(slot), cluster_->Address(to));

  // The next call reloads the whole map; no more redirects for this slot.
  uint64_t loads = client_->stats().slot_map_loads;
  uint64_t moved = client_->stats().moved;
  r = Run(gets);
  EXPECT_EQ(r[0].str, "v0");
  EXPECT_EQ(client_->stats().slot_map_loads, loads + 1);
  EXPECT_EQ(client_->stats().moved, moved);
}

TEST_F(ClusterTest, FollowsAskDuringMigration) {
  ASSERT_NO_FATAL_FAILURE(StartCluster(/*replicas_per_master=*/0));
  const uint16_t slot = RedisSlotOf("{a}");
  for (const RedisReply& r : Run({Cmd({"SET", "{a}moved", "m"}), Cmd({"SET", "{a}stays", "s"})})) {
    ASSERT_EQ(r.str, "OK");
  }
  size_t from = cluster_->IndexOf(client_->MasterOf(slot));
  ASSERT_LT(from, cluster_->size());
  std::vector<size_t> masters = Masters();
  size_t to = masters[0] == from ? masters[1] : masters[0];
  BeginMigration(slot, from, to);
  MigrateKeys(from, to, {"{a}moved"});

  std::vector<RedisReply> r = Run({Cmd({"GET", "{a}moved"}), Cmd({"GET", "{a}stays"})});
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].str, "m");
  EXPECT_EQ(r[1].str, "s");
  EXPECT_GE(client_->stats().ask, 1u);
  EXPECT_EQ(client_->stats().moved, 0u);
  // ASK is one-shot: the map still says the source owns the slot.
  EXPECT_EQ(client_->MasterOf(slot), cluster_->Address(from));

  // A multi-key command whose keys are split by the migration gets
  // -TRYAGAIN; the client retries until its retry_timeout and then reports
  // kUnavailable rather than passing TRYAGAIN on.
  RedisClusterOptions impatient;
  impatient.seeds = {cluster_->Address(0)};
  impatient.retry_timeout = std::chrono::milliseconds(200);
  auto other = RedisClusterClient::Connect(impatient);
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  auto split = (*other)->Execute({RedisCommand{"{a}", {"MGET", "{a}moved", "{a}stays"}}});
  ASSERT_FALSE(split.ok());
  EXPECT_EQ(split.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(split.status().message().find("TRYAGAIN"), std::string::npos) << split.status().ToString();
  EXPECT_GT((*other)->stats().transient_errors, 0u);

  // Finishing the migration turns the ASKs into a MOVED.
  MigrateKeys(from, to, {"{a}stays"});
  FinishMigration(slot, to, masters);
  r = Run({Cmd({"GET", "{a}moved"}), Cmd({"GET", "{a}stays"})});
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].str, "m");
  EXPECT_EQ(r[1].str, "s");
  EXPECT_GE(client_->stats().moved, 1u);
}

TEST_F(ClusterTest, RidesThroughMasterFailover) {
  ASSERT_NO_FATAL_FAILURE(StartCluster(/*replicas_per_master=*/1));
  const uint16_t slot = RedisSlotOf("{victim}");
  size_t victim = cluster_->IndexOf(client_->MasterOf(slot));
  ASSERT_LT(victim, cluster_->size());
  size_t replica = cluster_->ReplicaOf(victim);
  ASSERT_LT(replica, cluster_->size()) << "no replica for " << cluster_->Address(victim);

  std::vector<RedisCommand> sets, gets;
  for (int i = 0; i < 50; ++i) {
    sets.push_back(Cmd({"SET", "{victim}" + std::to_string(i), std::to_string(i)}));
    gets.push_back(Cmd({"GET", "{victim}" + std::to_string(i)}));
  }
  sets.push_back(Cmd({"SET", "elsewhere", "e"}));
  for (const RedisReply& r : Run(sets)) ASSERT_EQ(r.str, "OK");
  // The replica has every write before the master dies (same connection).
  std::vector<RedisReply> wait = Run({RedisCommand{"{victim}", {"WAIT", "1", "10000"}}});
  ASSERT_EQ(wait.size(), 1u);
  ASSERT_EQ(wait[0].integer, 1);

  cluster_->Kill(victim);
  // Straight after the kill: the client must back off, reload the map and
  // end up on the promoted replica, without being recreated.
  std::vector<RedisReply> r = Run(gets);
  ASSERT_EQ(r.size(), gets.size());
  for (size_t i = 0; i < gets.size(); ++i) EXPECT_EQ(r[i].str, std::to_string(i));
  EXPECT_EQ(client_->MasterOf(slot), cluster_->Address(replica));
  EXPECT_GT(client_->stats().transient_errors, 0u);

  // Writes work too, and keys of other slots still read.
  r = Run({Cmd({"SET", "{victim}new", "n"}), Cmd({"GET", "{victim}new"}), Cmd({"GET", "elsewhere"})});
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[1].str, "n");
  EXPECT_EQ(r[2].str, "e");
}

}  // namespace
}  // namespace watershed::serve
