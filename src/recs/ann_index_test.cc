// The HNSW index of the ann candidates (recs/ann_index.h): answers against exact search, the file round trip and
// its errors, online insertion under concurrent queries, and the registry's open-or-build.

#include "recs/ann_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <random>
#include <set>
#include <thread>

#include "core/crc32c.h"
#include "core/endian.h"
#include "core/testing/temp_dir.h"
#include "recs/bpr.h"
#include "recs/planted_fixture.h"
#include "recs/stored_model.h"

namespace watershed::recs {
namespace {

// n items of dim floats around `clusters` random centres, biases in [-0.5, 0.5], ids 1000 + i.
struct Items {
  uint32_t dim = 0;
  std::vector<uint64_t> ids;
  std::vector<float> vectors, bias;
};
Items Clustered(size_t n, uint32_t dim, uint32_t clusters, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal;
  std::uniform_real_distribution<float> unit(-0.5f, 0.5f);
  std::vector<float> centres(size_t{clusters} * dim);
  for (float& x : centres) x = normal(rng);
  Items it;
  it.dim = dim;
  for (size_t i = 0; i < n; ++i) {
    const size_t c = rng() % clusters;
    it.ids.push_back(1000 + i);
    for (uint32_t f = 0; f < dim; ++f) it.vectors.push_back(centres[c * dim + f] + 0.5f * normal(rng));
    it.bias.push_back(unit(rng));
  }
  return it;
}

// The k best by bias + <q, v>, as a set of ids.
std::vector<AnnHit> Exact(const Items& it, std::span<const float> q, size_t k) {
  std::vector<AnnHit> all;
  for (size_t i = 0; i < it.ids.size(); ++i) {
    float s = it.bias[i];
    for (uint32_t f = 0; f < it.dim; ++f) s += q[f] * it.vectors[i * it.dim + f];
    all.push_back({it.ids[i], s});
  }
  std::partial_sort(all.begin(), all.begin() + k, all.end(), [](auto& a, auto& b) { return a.score > b.score; });
  all.resize(k);
  return all;
}

std::vector<std::vector<float>> Queries(size_t n, uint32_t dim, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<std::vector<float>> qs(n, std::vector<float>(dim));
  for (auto& q : qs)
    for (float& x : q) x = normal(rng);
  return qs;
}

TEST(AnnIndex, FindsTheExactTopKWithItsScores) {
  const Items it = Clustered(4000, 16, 20, 1);
  auto index = AnnIndex::Build(it.dim, it.ids, it.vectors, it.bias, 7);
  ASSERT_TRUE(index.ok()) << index.status().message();
  EXPECT_EQ((*index)->size(), 4000u);
  size_t found = 0, total = 0;
  for (const auto& q : Queries(50, 16, 2)) {
    auto hits = (*index)->Query(q, 50);
    ASSERT_TRUE(hits.ok());
    ASSERT_EQ(hits->size(), 50u);
    const auto exact = Exact(it, q, 50);
    std::set<uint64_t> truth;
    for (const auto& h : exact) truth.insert(h.item);
    for (size_t i = 0; i < hits->size(); ++i) {
      const AnnHit& h = (*hits)[i];
      if (i > 0) {
        EXPECT_GE((*hits)[i - 1].score, h.score);
      }
      found += truth.count(h.item);
      // The score is the model's: bias + <q, item>.
      const size_t row = h.item - 1000;
      float s = it.bias[row];
      for (uint32_t f = 0; f < 16; ++f) s += q[f] * it.vectors[row * 16 + f];
      EXPECT_NEAR(h.score, s, 1e-3f * std::max(1.f, std::abs(s)));
    }
    total += 50;
  }
  EXPECT_GE(static_cast<double>(found) / total, 0.95);
  // More than the index holds: all of them.
  auto all = (*index)->Query(Queries(1, 16, 3)[0], 10'000);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 4000u);
  EXPECT_EQ((*index)->Query(std::vector<float>(15), 5).status().code(), StatusCode::kInvalidArgument);
}

TEST(AnnIndex, BadInputIsRefused) {
  const Items it = Clustered(10, 4, 2, 1);
  EXPECT_FALSE(AnnIndex::Build(4, it.ids, std::span(it.vectors).first(39), it.bias, 0).ok());
  std::vector<uint64_t> dup = it.ids;
  dup[3] = dup[4];
  EXPECT_FALSE(AnnIndex::Build(4, dup, it.vectors, it.bias, 0).ok());
  std::vector<float> nan = it.vectors;
  nan[5] = std::nanf("");
  EXPECT_FALSE(AnnIndex::Build(4, it.ids, nan, it.bias, 0).ok());
  EXPECT_FALSE(AnnIndex::Build(0, {}, {}, {}, 0).ok());
  auto empty = AnnIndex::Build(4, {}, {}, {}, 0);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE((*empty)->Query(std::vector<float>(4), 5)->empty());
  auto again = AnnIndex::Decode((*empty)->Encode(), "empty");
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ((*again)->size(), 0u);
}

TEST(AnnIndex, ARoundTripGivesTheSameBytesAndAnswers) {
  const Items it = Clustered(1500, 8, 10, 4);
  const AnnConfig config{.norm_headroom = 4};  // room for the item added below
  auto index = AnnIndex::Build(it.dim, it.ids, it.vectors, it.bias, 0xabcdef, config);
  ASSERT_TRUE(index.ok());
  const std::string bytes = (*index)->Encode();
  // One thread: the same input gives the same graph.
  EXPECT_EQ(AnnIndex::Build(it.dim, it.ids, it.vectors, it.bias, 0xabcdef, config).value()->Encode(), bytes);
  auto back = AnnIndex::Decode(bytes, "mem");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ((*back)->Encode(), bytes);
  EXPECT_EQ((*back)->fingerprint(), 0xabcdefu);
  for (const auto& q : Queries(20, 8, 5)) {
    auto a = (*index)->Query(q, 30), b = (*back)->Query(q, 30);
    ASSERT_EQ(a->size(), b->size());
    for (size_t i = 0; i < a->size(); ++i) EXPECT_EQ((*a)[i].item, (*b)[i].item);
  }
  // A loaded index keeps growing online.
  ASSERT_TRUE((*back)->Add(1, std::vector<float>(8, 4.f), 0).ok());
  EXPECT_EQ((*back)->Query(std::vector<float>(8, 1.f), 1).value()[0].item, 1u);

  ::watershed::testing::TempDir dir("ann_index");
  FileSystem* fs = FileSystem::Default();
  const std::string path = dir.Path("ann.hnsw");
  EXPECT_EQ(AnnIndex::Load(fs, path, 0xabcdef).status().code(), StatusCode::kNotFound);
  ASSERT_TRUE((*index)->Save(fs, path).ok());
  auto loaded = AnnIndex::Load(fs, path, 0xabcdef);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ((*loaded)->Encode(), bytes);
  auto foreign = AnnIndex::Load(fs, path, 0x123);
  EXPECT_EQ(foreign.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(foreign.status().message().find("fingerprint"), std::string::npos) << foreign.status().message();
}

// Sets the header's length and CRC for a changed body, so the body's own checks are reached.
std::string FixUp(std::string bytes) {
  const std::string_view body = std::string_view(bytes).substr(24);
  PutFixed64(bytes.data() + 16, body.size());
  PutFixed32(bytes.data() + 12, crc32c::Value(body));
  return bytes;
}

TEST(AnnIndex, DamagedOrCraftedFilesAreErrorsNamingTheFile) {
  const Items it = Clustered(300, 4, 3, 6);
  const std::string good = AnnIndex::Build(it.dim, it.ids, it.vectors, it.bias, 1, {.m = 4}).value()->Encode();
  auto message = [](const std::string& bytes) {
    auto r = AnnIndex::Decode(bytes, "f.hnsw");
    EXPECT_FALSE(r.ok());
    if (r.ok()) return std::string();
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
    EXPECT_EQ(r.status().message().rfind("f.hnsw: ann index ", 0), 0u) << r.status().message();
    return r.status().message();
  };
  for (size_t cut = 0; cut < good.size(); cut += 97) message(good.substr(0, cut));
  for (size_t at = 0; at < good.size(); at += 61) {
    std::string bad = good;
    bad[at] ^= 0x10;
    message(bad);
  }
  EXPECT_NE(message("XXANNIDX" + good.substr(8)).find("magic"), std::string::npos);
  std::string v2 = good;
  PutFixed32(v2.data() + 8, 2);
  EXPECT_NE(message(v2).find("format version 2"), std::string::npos);
  std::string flipped = good;
  flipped.back() ^= 1;
  EXPECT_NE(message(flipped).find("CRC"), std::string::npos);

  // With the CRC fixed up: the graph's own checks. Body: 36 fixed bytes, then elements of 4 + 8m + 4(dim + 2) + 8.
  const size_t body = 24, level0 = body + 36, s0 = 4 + 8 * 4 + 4 * 6 + 8;
  std::string link = good;
  PutFixed32(link.data() + level0 + 4, 300);  // element 0's first link: to element 300 of 300
  EXPECT_NE(message(FixUp(link)).find("element 0 has a bad level-0 link list"), std::string::npos);
  std::string count = good;
  PutFixed32(count.data() + level0 + s0, 9);  // element 1 with 9 level-0 links, 2m = 8 at most
  EXPECT_NE(message(FixUp(count)).find("element 1 has a bad level-0"), std::string::npos);
  std::string label = good;
  std::memcpy(label.data() + level0 + s0 + s0 - 8, label.data() + level0 + s0 - 8, 8);  // element 1 takes 0's id
  EXPECT_NE(message(FixUp(label)).find("repeats an id"), std::string::npos);
  std::string entry = good;
  PutFixed32(entry.data() + body + 32, 300);
  EXPECT_NE(message(FixUp(entry)).find("entry point"), std::string::npos);
  std::string dim = good;
  PutFixed32(dim.data() + body, 0);
  EXPECT_NE(message(FixUp(dim)).find("dim 0"), std::string::npos);
  EXPECT_NE(message(FixUp(good + "x")).find("follow the graph"), std::string::npos);
  // An upper-level link to an element that has no such level: found by finding an element with level >= 1 and
  // pointing its level-1 list at an element of level 0.
  const size_t n = 300, uppers = level0 + n * s0;
  std::vector<size_t> level_at(n), offset(n);
  size_t pos = uppers;
  for (size_t i = 0; i < n; ++i) {
    level_at[i] = GetFixed32(good.data() + pos);
    offset[i] = pos + 4;
    pos += 4 + level_at[i] * (4 + 4 * 4);
  }
  const size_t high = std::find_if(level_at.begin(), level_at.end(), [](size_t l) { return l >= 1; }) - level_at.begin();
  const size_t low = std::find(level_at.begin(), level_at.end(), 0u) - level_at.begin();
  ASSERT_LT(high, n);
  std::string upper = good;
  PutFixed32(upper.data() + offset[high], 1);
  PutFixed32(upper.data() + offset[high] + 4, static_cast<uint32_t>(low));
  EXPECT_NE(message(FixUp(upper)).find("bad level-1 link list"), std::string::npos);
}

TEST(AnnIndex, ItemsAddedOnlineAreFoundWhileQueriesRun) {
  const Items it = Clustered(2000, 8, 8, 7);
  // Points are lifted to 4x the longest item's norm, so longer items can come online.
  std::shared_ptr<AnnIndex> index = AnnIndex::Build(it.dim, it.ids, it.vectors, it.bias, 0, {.norm_headroom = 4}).value();
  // New items along the axes, beyond every built one: each is the best answer to a query along its axis.
  std::atomic<bool> stop{false};
  std::atomic<size_t> queries{0}, bad{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t)
    readers.emplace_back([&, t] {
      const auto qs = Queries(64, 8, 100 + t);
      for (size_t i = 0; !stop.load(); ++i) {
        auto hits = index->Query(qs[i % qs.size()], 20);
        if (!hits.ok() || hits->size() != 20) ++bad;
        queries.fetch_add(1);
      }
    });
  for (uint64_t j = 0; j < 3000; ++j) {
    std::vector<float> v(8, 0.f);
    v[j % 8] = 10.f + 0.001f * static_cast<float>(j);
    ASSERT_TRUE(index->Add(1'000'000 + j, v, 0).ok());
  }
  while (queries.load() < 50) std::this_thread::yield();
  stop = true;
  for (auto& r : readers) r.join();
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_EQ(index->size(), 5000u);  // the capacity of 2000 grew on the way
  for (uint32_t axis = 0; axis < 8; ++axis) {
    std::vector<float> q(8, 0.f);
    q[axis] = 1.f;
    auto hits = index->Query(q, 1);
    ASSERT_TRUE(hits.ok());
    EXPECT_EQ((*hits)[0].item, 1'000'000u + 2992 + axis) << "axis " << axis;  // the last and largest on the axis
  }
  EXPECT_TRUE(index->Contains(1'000'000 + 2999));
  // An indexed item is immutable: adding its id again is refused and changes nothing.
  const std::string before = index->Encode();
  EXPECT_EQ(index->Add(1'000'000 + 2999, std::vector<float>(8, -4.f), 0).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(index->size(), 5000u);
  EXPECT_EQ(index->Encode(), before);
  EXPECT_EQ(index->Add(5, std::vector<float>(7), 0).code(), StatusCode::kInvalidArgument);
  // Longer than the bound: refused (its score could not be served exactly), the index unchanged.
  EXPECT_EQ(index->Add(6, std::vector<float>(8, 1000.f), 0).code(), StatusCode::kFailedPrecondition);
  EXPECT_FALSE(index->Contains(6));
}

TEST(AnnIndex, TheRegistryVersionsIndexIsBuiltOnceAndRebuiltWhenDamagedOrForeign) {
  ::watershed::testing::TempDir dir("ann_registry");
  FileSystem* fs = FileSystem::Default();
  ModelRegistry registry(fs, dir.Path("models"));
  const Bench b = Planted(0.8);
  BprConfig bc;
  bc.training.max_epochs = 2;
  for (uint64_t seed : {1, 2}) {
    bc.training.seed = seed;
    const BprModel bpr = BprModel::Train(b.data.num_users(), b.data.num_items(), b.split.train, bc);
    ModelManifest m;
    m.name = "stories";
    m.model = "bpr";
    m.users = b.data.num_users();
    m.items = b.data.num_items();
    m.dim = bc.factors;
    ASSERT_TRUE(registry.Save(&m, ExportBpr(b.data, bpr)).ok());
  }
  auto v1 = registry.Load({"stories", 1});
  auto v2 = registry.Load({"stories", 2});
  ASSERT_TRUE(v1.ok() && v2.ok());
  auto first = OpenOrBuildAnnIndex(fs, registry.root(), *v1);
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_TRUE(first->rebuilt);
  EXPECT_EQ(first->reason, "");
  EXPECT_EQ(first->index->size(), b.data.num_items());
  // Labels are the data's item ids.
  EXPECT_TRUE(first->index->Contains(std::stoull(b.data.items.Name(0))));
  const std::string p1 = AnnIndexPath(registry.root(), "stories", 1), p2 = AnnIndexPath(registry.root(), "stories", 2);
  ASSERT_TRUE(fs->FileExists(p1));
  auto again = OpenOrBuildAnnIndex(fs, registry.root(), *v1);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->rebuilt);
  EXPECT_EQ(again->index->Encode(), first->index->Encode());

  // Damaged: rebuilt, saying why.
  std::string bytes = ReadWholeFile(fs, p1).value();
  bytes[bytes.size() / 2] ^= 0x40;
  ASSERT_TRUE(WriteFileAtomically(fs, p1, bytes).ok());
  auto damaged = OpenOrBuildAnnIndex(fs, registry.root(), *v1);
  ASSERT_TRUE(damaged.ok());
  EXPECT_TRUE(damaged->rebuilt);
  EXPECT_NE(damaged->reason.find("CRC"), std::string::npos) << damaged->reason;
  EXPECT_EQ(ReadWholeFile(fs, p1).value(), first->index->Encode());  // the rebuilt index replaced the damaged file

  // Version 1's file copied into version 2: another model's index, rebuilt.
  ASSERT_TRUE(WriteFileAtomically(fs, p2, ReadWholeFile(fs, p1).value()).ok());
  auto foreign = OpenOrBuildAnnIndex(fs, registry.root(), *v2);
  ASSERT_TRUE(foreign.ok());
  EXPECT_TRUE(foreign->rebuilt);
  EXPECT_NE(foreign->reason.find("fingerprint"), std::string::npos) << foreign->reason;
  EXPECT_EQ(foreign->index->fingerprint(), v2->manifest.weights_crc32c);
}

}  // namespace
}  // namespace watershed::recs
