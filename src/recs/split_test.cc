#include "recs/split.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "recs/rng.h"

namespace watershed::recs {
namespace {

// 30 users with 1..20 interactions each, distinct items, random times.
std::vector<Interaction> Sample() {
  Rng rng(3);
  std::vector<Interaction> xs;
  for (uint32_t u = 0; u < 30; ++u)
    for (uint32_t k = 0; k <= u % 20; ++k) xs.push_back({u, k, 1, 1000 + rng.Below(1000)});
  return xs;
}

SplitSpec Spec(const char* text) { return ParseSplit(text).value(); }

std::map<uint32_t, size_t> PerUser(const std::vector<Interaction>& xs) {
  std::map<uint32_t, size_t> n;
  for (const Interaction& x : xs) ++n[x.user];
  return n;
}

bool SameInteractions(const std::vector<Interaction>& a, const std::vector<Interaction>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const Interaction& x, const Interaction& y) {
    return x.user == y.user && x.item == y.item && x.timestamp == y.timestamp;
  });
}

TEST(Split, ParsesItsSyntaxAndRefusesTheRest) {
  EXPECT_DOUBLE_EQ(ParseSplit("stratified")->ratio, 0.75);
  EXPECT_DOUBLE_EQ(ParseSplit("stratified:0.8")->ratio, 0.8);
  EXPECT_EQ(ParseSplit("leave-last-out")->kind, SplitSpec::Kind::kLeaveLastOut);
  EXPECT_DOUBLE_EQ(ParseSplit("temporal:0.9")->fraction, 0.9);
  EXPECT_EQ(ParseSplit("temporal:@1500")->cut_time, 1500);
  for (const char* bad : {"stratified:1", "stratified:0", "stratified:x", "temporal", "temporal:1.5", "temporal:@x",
                          "leave-last-out:1", "random"})
    EXPECT_FALSE(ParseSplit(bad).ok()) << bad;
  EXPECT_NE(ParseSplit("random").status().message().find("stratified[:R]"), std::string::npos);
}

TEST(Split, StratifiedKeepsTheRatioPerUserAndIsDeterministic) {
  const auto xs = Sample();
  const Split s = SplitInteractions(xs, 30, Spec("stratified:0.75"), 42);
  EXPECT_EQ(s.train.size() + s.test.size(), xs.size());
  auto all = PerUser(xs), train = PerUser(s.train), test = PerUser(s.test);
  for (const auto& [u, n] : all) {
    const size_t want =
        n < 2 ? n : std::clamp<size_t>(static_cast<size_t>(std::llround(0.75 * static_cast<double>(n))), 1, n);
    EXPECT_EQ(train[u], want) << "user " << u;
    EXPECT_EQ(train[u] + test[u], n);
  }
  const Split again = SplitInteractions(xs, 30, Spec("stratified:0.75"), 42);
  EXPECT_TRUE(SameInteractions(s.test, again.test));
  const Split other = SplitInteractions(xs, 30, Spec("stratified:0.75"), 43);
  EXPECT_FALSE(SameInteractions(s.test, other.test));
}

TEST(Split, LeaveLastOutTestsEachUsersLatest) {
  const auto xs = Sample();
  const Split s = SplitInteractions(xs, 30, Spec("leave-last-out"), 1);
  std::map<uint32_t, int64_t> latest;
  for (const Interaction& x : xs) latest[x.user] = std::max(latest[x.user], x.timestamp);
  size_t users_with_two = 0;
  for (const auto& [u, n] : PerUser(xs)) users_with_two += n >= 2;
  ASSERT_EQ(s.test.size(), users_with_two);
  for (const Interaction& x : s.test) EXPECT_EQ(x.timestamp, latest[x.user]);
  for (const Interaction& x : s.train)
    for (const Interaction& t : s.test)
      if (t.user == x.user) {
        EXPECT_LE(x.timestamp, t.timestamp);
      }
}

TEST(Split, TemporalCutsAllUsersAtOneTime) {
  const auto xs = Sample();
  for (const char* spec : {"temporal:0.8", "temporal:@1500"}) {
    const Split s = SplitInteractions(xs, 30, Spec(spec), 1);
    ASSERT_FALSE(s.train.empty());
    ASSERT_FALSE(s.test.empty());
    for (const Interaction& x : s.train) EXPECT_LT(x.timestamp, s.cut_time) << spec;
    for (const Interaction& x : s.test) EXPECT_GE(x.timestamp, s.cut_time) << spec;
  }
  EXPECT_EQ(SplitInteractions(xs, 30, Spec("temporal:@1500"), 1).cut_time, 1500);
}

TEST(Split, ValidationTakesOneInteractionOfEligibleUsers) {
  const auto xs = Sample();
  const Split v = HoldOutValidation(xs, 30, 10, 5);
  EXPECT_EQ(v.test.size(), 10u);
  auto held = PerUser(v.test);
  for (const auto& [u, n] : held) {
    EXPECT_EQ(n, 1u);
    EXPECT_GE(PerUser(xs)[u], 3u);
  }
  EXPECT_EQ(v.train.size() + v.test.size(), xs.size());
}

}  // namespace
}  // namespace watershed::recs
