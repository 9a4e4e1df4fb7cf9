// Post-processing rules: the file (validation with line and column), each rule, their interactions (blocks before pins,
// pins keep their position, caps with pins, deterministic ties) and the reloading holder.

#include "recs/rules.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <thread>

#include "recs/rng.h"

namespace watershed::recs {
namespace {

constexpr int64_t kNow = 1'800'000'000;

Rules Parse(const std::string& text) {
  auto r = ParseRules(text, "rules.toml");
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? *r : Rules{};
}

// Candidates 1..n with scores n..1 (item 1 best), author = item, stale.
std::vector<RuleCandidate> Ranked(size_t n) {
  std::vector<RuleCandidate> c(n);
  for (size_t i = 0; i < n; ++i) {
    c[i].item = i + 1;
    c[i].score = static_cast<double>(n - i);
    c[i].author = i + 1;
    c[i].source = "ann";
    c[i].created_at_s = kNow - 30 * 24 * 3600;
  }
  return c;
}

std::vector<uint64_t> Items(const std::vector<RankedItem>& out, const std::vector<RuleCandidate>& c) {
  std::vector<uint64_t> items;
  for (const RankedItem& r : out) items.push_back(c[r.candidate].item);
  return items;
}

const RankedItem* Of(const std::vector<RankedItem>& out, const std::vector<RuleCandidate>& c, uint64_t item) {
  for (const RankedItem& r : out)
    if (c[r.candidate].item == item) return &r;
  return nullptr;
}

TEST(RulesFile, ReadsEveryRule) {
  const Rules r = Parse(
      "top_k = 10\n"
      "[diversity]\nmmr_lambda = 0.6\nmax_per_author = 2\nmax_per_tag = 3\n"
      "[freshness]\nshare = 0.2\nmax_age_hours = 12\n"
      "[[boost]]\nname = \"originals\"\noriginal = true\nfactor = 1.5\n"
      "[[boost]]\nauthors = [7, 8]\nfactor = 0.5\n"
      "[[pin]]\nitem = 42\nposition = 3\n"
      "[[pin]]\nitem = 41\nposition = 1\n"
      "[block]\nitems = [9]\nauthors = [66, 67]\n");
  EXPECT_EQ(r.top_k, 10u);
  EXPECT_DOUBLE_EQ(r.mmr_lambda, 0.6);
  EXPECT_EQ(r.max_per_author, 2u);
  EXPECT_EQ(r.max_per_tag, 3u);
  EXPECT_DOUBLE_EQ(r.fresh_share, 0.2);
  EXPECT_DOUBLE_EQ(r.fresh_hours, 12);
  ASSERT_EQ(r.boosts.size(), 2u);
  EXPECT_EQ(r.boosts[0].name, "originals");
  EXPECT_TRUE(r.boosts[0].original);
  EXPECT_EQ(r.boosts[1].name, "boost2");
  EXPECT_EQ(r.boosts[1].authors, (std::set<uint64_t>{7, 8}));
  ASSERT_EQ(r.pins.size(), 2u);
  EXPECT_EQ(r.pins[0].item, 41u);  // sorted by position
  EXPECT_EQ(r.blocked_authors.size(), 2u);
  const Rules none = Parse("");
  EXPECT_EQ(none.top_k, 50u);
  EXPECT_DOUBLE_EQ(none.mmr_lambda, 1);
}

TEST(RulesFile, BadFilesAreClearErrors) {
  const std::pair<const char*, const char*> cases[] = {
      {"[diversity]\nmmr_lambda = 1.5\n", "rules.toml:2:14: [diversity] mmr_lambda: must be in [0, 1]"},
      {"[diversity]\nmax_per_autor = 2\n",
       "rules.toml:2:1: [diversity] max_per_autor: unknown key (known: "
       "max_per_author, max_per_tag, mmr_lambda)"},
      {"[freshness]\nshare = 0.2\n", "rules.toml:1:1: [freshness] max_age_hours: is required"},
      {"[boosts]\n",
       "rules.toml:1:1: unknown table [boosts] (known: top-level "
       "keys, [diversity], [freshness], "
       "[[boost]], [[pin]], [block])"},
      {"[[boost]]\nfactor = 2\noriginal = true\ntags = [\"x\"]\n",
       "rules.toml:2:10: [[boost]] factor: a boost needs exactly one of "
       "original, authors, tags, items"},
      {"[[boost]]\nfactor = 0\ntags = [\"x\"]\n", "rules.toml:2:10: [[boost]] factor: must be above 0"},
      {"[[pin]]\nitem = 1\nposition = 2\n[[pin]]\nitem = 3\nposition = 2\n",
       "rules.toml:6:12: [[pin]] position: position 2 has two pins"},
      {"[[pin]]\nitem = 1\nposition = 2\n[[pin]]\nitem = 1\nposition = 3\n",
       "rules.toml:5:8: [[pin]] item: item 1 is pinned twice"},
      {"top_k = 5\n[[pin]]\nitem = 1\nposition = 6\n", "rules.toml: the pin of item 1 at position 6 is beyond top_k 5"},
      {"[block]\nitems = [0]\n",
       "rules.toml:2:10: [block] items: each must be "
       "in [1, 9223372036854775807]"},
      {"top_k = 0\n", "rules.toml:1:9: top_k: must be in [1, 10000]"},
  };
  for (const auto& [text, want] : cases) {
    auto r = ParseRules(text, "rules.toml");
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().message(), want) << text;
  }
}

TEST(ApplyRules, NoRulesIsTheTopKByScoreWithTiesByItemId) {
  auto c = Ranked(8);
  c[5].score = c[2].score;  // items 3 and 6 tie: 3 first
  c[4].score = c[2].score;  // and 5
  std::vector<RuleCandidate> shuffled = c;
  std::reverse(shuffled.begin(), shuffled.end());
  const Rules r = Parse("top_k = 5\n");
  const auto out = ApplyRules(r, c, kNow);
  EXPECT_EQ(Items(out, c), (std::vector<uint64_t>{1, 2, 3, 5, 6}));
  EXPECT_EQ(Items(ApplyRules(r, shuffled, kNow), shuffled), Items(out, c));
  for (const RankedItem& it : out) EXPECT_TRUE(it.rules.empty());
  EXPECT_EQ(out[3].score_rank, 4u);
  EXPECT_EQ(ApplyRules(r, c, kNow, 2).size(), 2u);  // k given
}

TEST(ApplyRules, BlocksRemoveItemsAndAuthorsBeforePins) {
  auto c = Ranked(10);
  c[3].author = 66;  // item 4
  c[6].author = 66;  // item 7
  const Rules r = Parse(
      "top_k = 5\n[block]\nitems = [2]\nauthors = "
      "[66]\n[[pin]]\nitem = 7\nposition = 1\n"
      "[[pin]]\nitem = 9\nposition = 2\n");
  const auto out = ApplyRules(r, c, kNow);
  // 7 is pinned but its author is blocked: blocked, not pinned; 9 keeps position 2.
  EXPECT_EQ(Items(out, c), (std::vector<uint64_t>{1, 9, 3, 5, 6}));
  EXPECT_EQ(Of(out, c, 9)->rules, (std::vector<std::string>{"pin"}));
  EXPECT_EQ(Of(out, c, 3)->score_rank,
            2u);  // ranks count the unblocked candidates
}

TEST(ApplyRules, PinsKeepTheirPositionAndMissingOnesAreSkipped) {
  auto c = Ranked(6);
  const Rules r = Parse(
      "top_k = 4\n[[pin]]\nitem = 6\nposition = "
      "1\n[[pin]]\nitem = 5\nposition = 3\n"
      "[[pin]]\nitem = 999\nposition = 2\n");
  EXPECT_EQ(Items(ApplyRules(r, c, kNow), c), (std::vector<uint64_t>{6, 1, 5, 2}));
  // A list shorter than a pin's position: the pinned item follows the others.
  auto few = Ranked(2);
  const Rules late = Parse("top_k = 10\n[[pin]]\nitem = 2\nposition = 8\n");
  EXPECT_EQ(Items(ApplyRules(late, few, kNow), few), (std::vector<uint64_t>{1, 2}));
  // With k below a pin's position, the pin is left out of the list.
  EXPECT_EQ(Items(ApplyRules(r, c, kNow, 2), c), (std::vector<uint64_t>{6, 1}));
}

TEST(ApplyRules, BoostsMultiplyAndAreRecorded) {
  auto c = Ranked(5);    // scores 5..1
  c[4].original = true;  // item 5: 1 * 6 = 6
  c[3].tags = {"news"};  // item 4: 2 * 0.5 = 1
  c[2].author = 77;      // item 3: 3 * 1.5 = 4.5
  const Rules r = Parse(
      "[[boost]]\nname = \"originals\"\noriginal = true\nfactor = 6\n"
      "[[boost]]\nname = \"news\"\ntags = [\"news\"]\nfactor = 0.5\n"
      "[[boost]]\nname = \"creators\"\nauthors = [77]\nfactor = 1.5\n");
  const auto out = ApplyRules(r, c, kNow);
  EXPECT_EQ(Items(out, c), (std::vector<uint64_t>{5, 1, 3, 2, 4}));
  EXPECT_DOUBLE_EQ(out[0].score, 6);
  EXPECT_EQ(out[0].rules, (std::vector<std::string>{"boost:originals"}));
  EXPECT_EQ(out[0].score_rank, 5u);
  EXPECT_EQ(Of(out, c, 3)->rules, (std::vector<std::string>{"boost:creators"}));
  EXPECT_DOUBLE_EQ(Of(out, c, 4)->score, 1);
}

TEST(ApplyRules, AuthorAndTagCapsAreHardAndCountPins) {
  auto c = Ranked(8);
  for (size_t i = 0; i < 8; ++i) c[i].author = i < 5 ? 1 : 2;  // items 1-5 by author 1, 6-8 by author 2
  const Rules r = Parse(
      "top_k = 5\n[diversity]\nmax_per_author = "
      "2\n[[pin]]\nitem = 8\nposition = 1\n");
  const auto out = ApplyRules(r, c, kNow);
  // The pin (author 2) counts: one more of author 2, two of author 1; then nothing keeps the caps.
  EXPECT_EQ(Items(out, c), (std::vector<uint64_t>{8, 1, 2, 6}));
  EXPECT_EQ(Of(out, c, 6)->rules, (std::vector<std::string>{"diversity:author_cap"}));

  auto tagged = Ranked(6);
  for (size_t i = 0; i < 6; ++i) tagged[i].tags = {i < 4 ? "sport" : "music", "all"};
  const Rules tags = Parse("top_k = 4\n[diversity]\nmax_per_tag = 2\n");
  // "all" is on every item: at most 2 items in all.
  EXPECT_EQ(Items(ApplyRules(tags, tagged, kNow), tagged), (std::vector<uint64_t>{1, 2}));
  const Rules tags3 = Parse("top_k = 4\n[diversity]\nmax_per_tag = 3\n");
  for (auto& t : tagged) t.tags.pop_back();
  const auto out3 = ApplyRules(tags3, tagged, kNow);
  EXPECT_EQ(Items(out3, tagged), (std::vector<uint64_t>{1, 2, 3, 5}));
  EXPECT_EQ(out3[3].rules, (std::vector<std::string>{"diversity:tag_cap"}));
}

TEST(ApplyRules, FreshnessShareIsMetWhenAvailable) {
  auto c = Ranked(20);
  for (uint64_t fresh_item : {12, 15, 18, 19}) c[fresh_item - 1].created_at_s = kNow - 3600;
  c[19].created_at_s = kNow - 5 * 3600;  // item 20: too old for 4 hours
  const Rules r = Parse("top_k = 10\n[freshness]\nshare = 0.3\nmax_age_hours = 4\n");
  const auto out = ApplyRules(r, c, kNow);
  // Three fresh items among ten: the best fresh ones take the last slots.
  EXPECT_EQ(Items(out, c), (std::vector<uint64_t>{1, 2, 3, 4, 5, 6, 7, 12, 15, 18}));
  EXPECT_EQ(out[7].rules, (std::vector<std::string>{"freshness"}));
  // Only one fresh item available: the share asks for no more.
  auto one = Ranked(20);
  one[14].created_at_s = kNow - 60;
  EXPECT_EQ(Items(ApplyRules(r, one, kNow), one), (std::vector<uint64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 15}));
  // A fresh item already high counts.
  auto high = Ranked(20);
  for (uint64_t fresh_item : {1, 2, 3}) high[fresh_item - 1].created_at_s = kNow - 60;
  EXPECT_EQ(Items(ApplyRules(r, high, kNow), high), (std::vector<uint64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
}

TEST(ApplyRules, MmrSpreadsAcrossEmbeddingClusters) {
  // Items 1-4 point one way (best scores), 5-8 another.
  auto c = Ranked(8);
  std::vector<std::vector<float>> emb(8);
  for (size_t i = 0; i < 8; ++i) {
    emb[i] = i < 4 ? std::vector<float>{1, 0.01f * i} : std::vector<float>{0.01f * i, 1};
    c[i].embedding = emb[i];
  }
  const Rules plain = Parse("top_k = 4\n[diversity]\nmmr_lambda = 1\n");
  EXPECT_EQ(Items(ApplyRules(plain, c, kNow), c), (std::vector<uint64_t>{1, 2, 3, 4}));
  const Rules mmr = Parse("top_k = 4\n[diversity]\nmmr_lambda = 0.5\n");
  const auto out = ApplyRules(mmr, c, kNow);
  // 1; then 5 (unlike 1); then 2 (its score outweighs its likeness to 1); then 3, still better than 6 is.
  EXPECT_EQ(Items(out, c), (std::vector<uint64_t>{1, 5, 2, 3}));
  EXPECT_EQ(out[1].rules, (std::vector<std::string>{"diversity:mmr"}));
  EXPECT_TRUE(out[0].rules.empty());
  // Items without embeddings are similar to nothing.
  auto bare = Ranked(4);
  EXPECT_EQ(Items(ApplyRules(mmr, bare, kNow), bare), (std::vector<uint64_t>{1, 2, 3, 4}));
}

TEST(ApplyRules, DeterministicWhateverTheInputOrder) {
  Rng rng(7);
  std::vector<RuleCandidate> c(300);
  std::vector<std::vector<float>> emb(300);
  for (size_t i = 0; i < c.size(); ++i) {
    c[i].item = i + 1;
    c[i].score = rng.Below(20);  // many ties
    c[i].author = rng.Below(15) + 1;
    c[i].tags = {"t" + std::to_string(rng.Below(6))};
    c[i].created_at_s = kNow - static_cast<int64_t>(rng.Below(72)) * 3600;
    c[i].original = rng.Below(10) == 0;
    emb[i] = {static_cast<float>(rng.Unit()), static_cast<float>(rng.Unit()), static_cast<float>(rng.Unit())};
    c[i].embedding = emb[i];
  }
  const Rules r = Parse(
      "top_k = 50\n[diversity]\nmmr_lambda = 0.8\nmax_per_author = "
      "5\nmax_per_tag = 12\n"
      "[freshness]\nshare = 0.25\nmax_age_hours = 6\n[[boost]]\noriginal "
      "= true\nfactor = 1.3\n"
      "[[pin]]\nitem = 300\nposition = 4\n[block]\nauthors = [3]\n");
  const auto out = ApplyRules(r, c, kNow);
  ASSERT_EQ(out.size(), 50u);
  EXPECT_EQ(c[out[3].candidate].item, 300u);
  std::map<uint64_t, int> authors;
  size_t fresh = 0;
  for (const RankedItem& it : out) {
    EXPECT_NE(c[it.candidate].author, 3u);
    ++authors[c[it.candidate].author];
    fresh += kNow - c[it.candidate].created_at_s <= 6 * 3600;
  }
  for (const auto& [a, n] : authors) EXPECT_LE(n, 5) << a;
  EXPECT_GE(fresh, 13u);  // ceil(0.25 * 50)
  for (int round = 0; round < 3; ++round) {
    std::vector<RuleCandidate> shuffled = c;
    for (size_t i = shuffled.size() - 1; i > 0; --i) std::swap(shuffled[i], shuffled[rng.Below(i + 1)]);
    EXPECT_EQ(Items(ApplyRules(r, shuffled, kNow), shuffled), Items(out, c));
  }
}

class RulesHolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/recs_rules_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/rules.toml";
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  void Write(const std::string& text) { ASSERT_TRUE(WriteFileAtomically(FileSystem::Default(), path_, text).ok()); }
  std::string dir_, path_;
};

TEST_F(RulesHolderTest, ReloadsOnChangeAndKeepsTheOldRulesWhenTheNewFileIsBad) {
  EXPECT_FALSE(RulesHolder::Open(FileSystem::Default(), path_).ok());  // missing
  Write("top_k = 10\n");
  auto h = RulesHolder::Open(FileSystem::Default(), path_);
  ASSERT_TRUE(h.ok()) << h.status().message();
  auto before = (*h)->Current();
  EXPECT_EQ(before->top_k, 10u);
  EXPECT_FALSE((*h)->Refresh().value());  // unchanged
  Write("top_k = 20 # new\n");            // another size: a change even within the same
                                          // millisecond
  auto changed = (*h)->Refresh();
  ASSERT_TRUE(changed.ok());
  EXPECT_TRUE(*changed);
  EXPECT_EQ((*h)->Current()->top_k, 20u);
  EXPECT_EQ(before->top_k, 10u);  // a snapshot taken before stays valid
  Write("top_k = 20\n[diversity]\nmmr_lambda = 2\n");
  auto bad = (*h)->Refresh();
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), path_ + ":3:14: [diversity] mmr_lambda: must be in [0, 1]");
  EXPECT_EQ((*h)->last_error(), bad.status().message());
  EXPECT_EQ((*h)->Current()->top_k, 20u);  // the old rules stay
  Write("top_k = 30\n");
  ASSERT_TRUE((*h)->Refresh().ok());
  EXPECT_EQ((*h)->Current()->top_k, 30u);
  EXPECT_EQ((*h)->last_error(), "");
  ASSERT_EQ(::unlink(path_.c_str()), 0);
  EXPECT_FALSE((*h)->Refresh().ok());
  EXPECT_EQ((*h)->Current()->top_k, 30u);
}

TEST_F(RulesHolderTest, ReadersSeeWholeRulesWhileTheyAreSwapped) {
  // Each version sets top_k and max_per_author to the same number: a reader that saw a mix of two files, or a
  // half-built Rules, would see them differ.
  auto version = [](int v) {
    return "top_k = " + std::to_string(v) + "\n[diversity]\nmax_per_author = " + std::to_string(v) + "\n" +
           std::string(static_cast<size_t>(v % 7), '#') + "\n";  // sizes differ: each write is a change
  };
  Write(version(1));
  auto h = RulesHolder::Open(FileSystem::Default(), path_);
  ASSERT_TRUE(h.ok());
  std::atomic<bool> done{false};
  std::atomic<int> mismatches{0}, reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t)
    readers.emplace_back([&] {
      while (!done.load()) {
        auto r = (*h)->Current();
        if (r->top_k != r->max_per_author) ++mismatches;
        ++reads;
      }
    });
  // No ASSERT while the readers run (a return would leave them joinable): failures are collected, the readers
  // stopped and joined, then checked.
  int swaps = 0;
  std::vector<std::string> errors;
  for (int v = 2; v <= 60; ++v) {
    if (Status s = WriteFileAtomically(FileSystem::Default(), path_, version(v)); !s.ok()) {
      errors.push_back("write " + std::to_string(v) + ": " + s.message());
      continue;
    }
    auto changed = (*h)->Refresh();
    if (!changed.ok()) {
      errors.push_back("refresh " + std::to_string(v) + ": " + changed.status().message());
      continue;
    }
    swaps += *changed;
  }
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_TRUE(errors.empty()) << errors.size() << " errors, the first: " << errors.front();
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(swaps, 59);  // consecutive versions differ in size, so each is seen
  EXPECT_EQ((*h)->Current()->top_k, 60u);
}

}  // namespace
}  // namespace watershed::recs
