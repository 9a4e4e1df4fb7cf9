#include "log/kafka_group.h"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/testing/wait.h"
#include "log/testing/kafka_mock.h"

namespace watershed::log {
namespace {

constexpr const char* kTopic = "watershed.eu";
constexpr uint32_t kPartitions = 6;
// Bounds how long a test waits for the group to settle; reaching it is a
// failure, never a measured duration.
constexpr auto kPatience = std::chrono::seconds(90);

using testing::MockCluster;

// The callbacks' view of who owns what, across all members. Records every
// moment a partition is held by two members at once.
class Ledger {
 public:
  void Assigned(int member, const std::vector<uint32_t>& ps) {
    std::lock_guard lock(mu_);
    for (uint32_t p : ps) {
      if (p >= kPartitions) errors_.push_back("unknown partition " + std::to_string(p));
      auto [it, fresh] = owner_.emplace(p, member);
      if (!fresh)
        errors_.push_back("partition " + std::to_string(p) + " given to member " + std::to_string(member) +
                          " while member " + std::to_string(it->second) + " holds it");
    }
  }
  void Revoked(int member, const std::vector<uint32_t>& ps) {
    std::lock_guard lock(mu_);
    revocations_[member] += ps.size();
    for (uint32_t p : ps) {
      auto it = owner_.find(p);
      if (it == owner_.end() || it->second != member)
        errors_.push_back("member " + std::to_string(member) + " lost partition " + std::to_string(p) +
                          " it did not hold");
      else
        owner_.erase(it);
    }
  }
  // A member that died without a callback: its partitions are free again.
  void Forget(int member) {
    std::lock_guard lock(mu_);
    std::erase_if(owner_, [&](const auto& kv) { return kv.second == member; });
  }
  std::set<uint32_t> Of(int member) const {
    std::lock_guard lock(mu_);
    std::set<uint32_t> out;
    for (const auto& [p, m] : owner_)
      if (m == member) out.insert(p);
    return out;
  }
  size_t Revocations(int member) const {
    std::lock_guard lock(mu_);
    auto it = revocations_.find(member);
    return it == revocations_.end() ? 0 : it->second;
  }
  size_t Total() const {
    std::lock_guard lock(mu_);
    return owner_.size();
  }
  std::vector<std::string> Errors() const {
    std::lock_guard lock(mu_);
    return errors_;
  }

 private:
  mutable std::mutex mu_;
  std::map<uint32_t, int> owner_;
  std::map<int, size_t> revocations_;  // partitions revoked, per member
  std::vector<std::string> errors_;
};

bool WaitFor(const std::function<bool()>& done) { return watershed::testing::WaitUntil(done, kPatience); }

std::set<uint32_t> All() {
  std::set<uint32_t> all;
  for (uint32_t p = 0; p < kPartitions; ++p) all.insert(p);
  return all;
}

class KafkaGroupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(mock_.get(), nullptr);
    ASSERT_EQ(rd_kafka_mock_topic_create(mock_.get(), kTopic, kPartitions, 3), RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  void TearDown() override {
    for (auto& m : members_)
      if (m) {
        EXPECT_TRUE(m->Close().ok());
      }
    members_.clear();
    EXPECT_EQ(ledger_.Errors(), std::vector<std::string>{});
  }

  // Starts member number members_.size().
  KafkaGroup* Join() {
    const int id = static_cast<int>(members_.size());
    KafkaGroupOptions o;
    o.brokers = mock_.bootstraps();
    o.group_id = "watershed.processor.eu";
    o.topic = kTopic;
    o.session_timeout_ms = 6'000;
    o.heartbeat_interval_ms = 500;
    o.poll_interval_ms = 20;
    o.extra_config = {{"log_level", "2"}, {"reconnect.backoff.ms", "10"}, {"retry.backoff.ms", "10"}};
    auto g = KafkaGroup::Start(
        o, [this, id](const std::vector<uint32_t>& ps) { ledger_.Assigned(id, ps); },
        [this, id](const std::vector<uint32_t>& ps) { ledger_.Revoked(id, ps); });
    EXPECT_TRUE(g.ok()) << g.status().ToString();
    members_.push_back(g.ok() ? std::move(g).value() : nullptr);
    return members_.back().get();
  }

  // Every partition held by exactly one of `members`, each of which holds some.
  bool SplitAmong(const std::vector<int>& members) const {
    std::set<uint32_t> all;
    for (int m : members) {
      auto own = ledger_.Of(m);
      if (own.empty()) return false;
      all.insert(own.begin(), own.end());
    }
    return all == All() && ledger_.Total() == kPartitions;
  }

  MockCluster mock_{3};
  Ledger ledger_;
  std::vector<std::unique_ptr<KafkaGroup>> members_;
};

TEST_F(KafkaGroupTest, OneMemberGetsEveryPartition) {
  KafkaGroup* a = Join();
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(WaitFor([&] { return ledger_.Of(0) == All(); })) << ledger_.Of(0).size();
  const auto owned = a->Owned();
  EXPECT_EQ(std::set<uint32_t>(owned.begin(), owned.end()), All());
  // Close revokes everything through the callback.
  ASSERT_TRUE(a->Close().ok());
  EXPECT_EQ(ledger_.Total(), 0u);
  EXPECT_TRUE(a->Owned().empty());
}

TEST_F(KafkaGroupTest, SecondMemberTakesAShareThenEverythingWhenTheFirstLeaves) {
  ASSERT_NE(Join(), nullptr);
  ASSERT_TRUE(WaitFor([&] { return ledger_.Of(0) == All(); }));
  ASSERT_NE(Join(), nullptr);
  ASSERT_TRUE(WaitFor([&] { return SplitAmong({0, 1}); }))
      << ledger_.Of(0).size() << " + " << ledger_.Of(1).size();
  // Sticky: an even split of 6; cooperative: only the moved half was revoked.
  EXPECT_EQ(ledger_.Of(0).size(), kPartitions / 2);
  EXPECT_EQ(ledger_.Of(1).size(), kPartitions / 2);
  EXPECT_EQ(members_[0]->RebalanceProtocol(), "COOPERATIVE");
  EXPECT_EQ(ledger_.Revocations(0), kPartitions / 2);
  EXPECT_EQ(ledger_.Revocations(1), 0u);

  ASSERT_TRUE(members_[0]->Close().ok());
  EXPECT_TRUE(ledger_.Of(0).empty());
  ASSERT_TRUE(WaitFor([&] { return ledger_.Of(1) == All(); })) << ledger_.Of(1).size();
}

TEST_F(KafkaGroupTest, DeadMemberLosesItsPartitionsAfterTheSessionTimeout) {
  ASSERT_NE(Join(), nullptr);
  ASSERT_NE(Join(), nullptr);
  ASSERT_TRUE(WaitFor([&] { return SplitAmong({0, 1}); }))
      << ledger_.Of(0).size() << " + " << ledger_.Of(1).size();
  const std::set<uint32_t> survivor_had = ledger_.Of(1);
  const size_t survivor_revocations = ledger_.Revocations(1);

  // The process dies: no callback, no LeaveGroup; its partitions are free
  // only once the coordinator gives up on it.
  members_[0]->AbandonForTest();
  members_[0].reset();
  ledger_.Forget(0);
  ASSERT_TRUE(WaitFor([&] { return ledger_.Of(1) == All(); })) << ledger_.Of(1).size();
  // The survivor kept what it had throughout (cooperative: nothing revoked).
  for (uint32_t p : survivor_had) EXPECT_TRUE(ledger_.Of(1).count(p));
  EXPECT_EQ(ledger_.Revocations(1), survivor_revocations);
}

}  // namespace
}  // namespace watershed::log
