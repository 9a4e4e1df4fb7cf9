// The model registry: train -> save -> list -> promote -> rollback -> load gives bit-identical scores; damaged
// and truncated files are errors naming the file; the array file and dataset file round trips.

#include "recs/registry.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <tuple>

#include "core/crc32c.h"
#include "core/testing/temp_dir.h"
#include "recs/dataset_file.h"
#include "recs/planted_fixture.h"
#include "recs/stored_model.h"

namespace watershed::recs {
namespace {

// Every user's scores of `a` and `b` as bytes.
void ExpectSameScores(const Scorer& a, const Scorer& b, size_t users, size_t items) {
  std::vector<float> x(items), y(items);
  for (uint32_t u = 0; u < users; ++u) {
    a.Score(u, x);
    b.Score(u, y);
    ASSERT_EQ(std::memcmp(x.data(), y.data(), items * sizeof(float)), 0) << "user " << u;
  }
}

ModelManifest Manifest(const std::string& model, const Dataset& d, uint32_t dim) {
  ModelManifest m;
  m.name = "stories";
  m.model = model;
  m.users = d.num_users();
  m.items = d.num_items();
  m.dim = dim;
  m.config = {{"seed", "42"}};
  m.data = {{"path", "planted"}, {"split", "stratified:0.75"}};
  m.metrics = {{"ndcg@10", 0.5}, {"auc", std::numeric_limits<double>::quiet_NaN()}};
  return m;
}

class RegistryTest : public ::testing::Test {
 protected:
  ::watershed::testing::TempDir dir_{"recs_registry"};
  FileSystem* fs_ = FileSystem::Default();
  ModelRegistry registry_{fs_, dir_.Path("models")};
};

TEST_F(RegistryTest, TrainListPromoteRollbackLoadGivesBitIdenticalScores) {
  const Bench b = Planted(0.8);
  const Dataset& d = b.data;
  const PopularityModel pop(d.num_items(), b.split.train);
  BprConfig bc;
  bc.training.max_epochs = 3;
  const BprModel bpr = BprModel::Train(d.num_users(), d.num_items(), b.split.train, bc);
  TwoTowerConfig tc;
  tc.training.max_epochs = 2;
  tc.batch = 64;
  const TwoTowerModel tt = TwoTowerModel::Train(d.num_users(), d.num_items(), b.split.train, TwoTowerFeatures(d), tc);

  ModelManifest m1 = Manifest("popularity", d, 0), m2 = Manifest("bpr", d, bc.factors),
                m3 = Manifest("two-tower", d, tc.dim);
  for (auto [m, weights, version] :
       {std::tuple{&m1, ExportPopularity(d, pop), 1u}, std::tuple{&m2, ExportBpr(d, bpr), 2u},
        std::tuple{&m3, ExportTwoTower(d, tt), 3u}}) {
    auto saved = registry_.Save(m, weights);
    ASSERT_TRUE(saved.ok()) << saved.status().message();
    EXPECT_EQ(*saved, version);
  }

  // List: three versions, the first one current (the first version of a name
  // becomes current).
  auto versions = registry_.Versions("stories");
  ASSERT_TRUE(versions.ok()) << versions.status().message();
  ASSERT_EQ(versions->size(), 3u);
  EXPECT_TRUE((*versions)[0].current);
  EXPECT_EQ((*versions)[2].manifest.value().model, "two-tower");
  EXPECT_EQ((*versions)[1].manifest.value().metrics.at("ndcg@10"), 0.5);
  EXPECT_EQ((*versions)[1].manifest.value().metrics.count("auc"),
            0u);  // NaN left out
  EXPECT_EQ(registry_.Names().value(), std::vector<std::string>{"stories"});

  // Promote 3, then 2; roll back to 3, then 1; no earlier one after that.
  ASSERT_TRUE(registry_.Promote("stories", 3).ok());
  ASSERT_TRUE(registry_.Promote("stories", 2).ok());
  EXPECT_EQ(registry_.CurrentHistory("stories").value(), (std::vector<uint32_t>{2, 3, 1}));
  EXPECT_EQ(registry_.Load({"stories", std::nullopt}).value().manifest.model, "bpr");
  EXPECT_EQ(registry_.Rollback("stories").value(), 3u);
  EXPECT_EQ(registry_.Load({"stories", std::nullopt}).value().manifest.model, "two-tower");
  EXPECT_EQ(registry_.Rollback("stories").value(), 1u);
  auto none = registry_.Rollback("stories");
  EXPECT_EQ(none.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(registry_.Promote("stories", 7).code(), StatusCode::kNotFound);

  // Loaded models score exactly as the trained ones.
  const std::pair<uint32_t, const Scorer*> trained[] = {{1, &pop}, {2, &bpr}, {3, &tt}};
  for (const auto& [version, model] : trained) {
    auto loaded = registry_.Load({"stories", version});
    ASSERT_TRUE(loaded.ok()) << loaded.status().message();
    EXPECT_EQ(loaded->manifest.version, version);
    auto scorer = ScorerFromStored(*loaded, d, b.split.train);
    ASSERT_TRUE(scorer.ok()) << scorer.status().message();
    ExpectSameScores(*model, **scorer, d.num_users(), d.num_items());
  }
  // A name nobody saved, and bad names.
  EXPECT_EQ(registry_.Load({"other", std::nullopt}).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(ParseModelRef("../x").ok());
  EXPECT_FALSE(ParseModelRef("stories@0").ok());
  EXPECT_FALSE(ParseModelRef("stories@x").ok());
  EXPECT_EQ(ParseModelRef("stories@12").value().version, 12u);
}

TEST_F(RegistryTest, DamagedOrTruncatedFilesAreErrorsNamingTheFile) {
  const Bench b = Planted(0.8);
  const Dataset& d = b.data;
  BprConfig bc;
  bc.training.max_epochs = 1;
  bc.factors = 4;
  const BprModel bpr = BprModel::Train(d.num_users(), d.num_items(), b.split.train, bc);
  ModelManifest m = Manifest("bpr", d, 4);
  auto saved = registry_.Save(&m, ExportBpr(d, bpr));
  ASSERT_TRUE(saved.ok()) << saved.status().message();
  const std::string vdir = dir_.Path("models/stories/1");
  const std::string weights = vdir + "/weights.bin", manifest = vdir + "/manifest.json";
  const std::string good = ReadWholeFile(fs_, weights).value(), good_manifest = ReadWholeFile(fs_, manifest).value();
  auto load_error = [&] {
    auto r = registry_.Load({"stories", 1});
    return r.ok() ? std::string("loaded") : r.status().message();
  };
  auto expect = [&](const std::string& path, const std::string& what) {
    const std::string e = load_error();
    EXPECT_EQ(e.rfind(path + ": ", 0), 0u) << e;
    EXPECT_NE(e.find(what), std::string::npos) << e;
  };
  // The weights file cut or with a byte flipped: the manifest's size or CRC
  // catches it.
  for (size_t cut : {size_t{0}, size_t{10}, good.size() / 2, good.size() - 1}) {
    ASSERT_TRUE(WriteFileAtomically(fs_, weights, good.substr(0, cut)).ok());
    expect(weights, "bytes, the manifest says");
  }
  for (size_t at : {size_t{0}, size_t{13}, size_t{30}, good.size() - 1}) {
    std::string bad = good;
    bad[at] ^= 0x20;
    ASSERT_TRUE(WriteFileAtomically(fs_, weights, bad).ok());
    expect(weights, "CRC-32C does not match the manifest");
  }
  ASSERT_TRUE(WriteFileAtomically(fs_, weights, good).ok());
  EXPECT_EQ(load_error(), "loaded");

  // Weights that pass the manifest's checks but not the model's: a wrong shape,
  // a NaN.
  auto replace_weights = [&](const ArrayFile& f) {
    const std::string bytes = EncodeArrayFile(f);
    ModelManifest mm = DecodeManifest(good_manifest, manifest).value();
    mm.weights_bytes = bytes.size();
    mm.weights_crc32c = crc32c::Value(bytes);
    ASSERT_TRUE(WriteFileAtomically(fs_, weights, bytes).ok());
    ASSERT_TRUE(WriteFileAtomically(fs_, manifest, EncodeManifest(mm)).ok());
  };
  ArrayFile f = DecodeArrayFile(good, weights).value();
  f.arrays["item_bias"].f32.pop_back();
  replace_weights(f);
  expect(weights, "array 'item_bias' has " + std::to_string(d.num_items() - 1) + " values, expected " +
                      std::to_string(d.num_items()));
  f = DecodeArrayFile(good, weights).value();
  f.arrays["user_vectors"].f32[5] = std::numeric_limits<float>::quiet_NaN();
  replace_weights(f);
  expect(weights, "array 'user_vectors' holds a non-finite value");
  f = DecodeArrayFile(good, weights).value();
  f.arrays.erase("item_ids");
  replace_weights(f);
  expect(weights, "has no array 'item_ids'");

  // The manifest: malformed, a field missing, another model's name.
  ASSERT_TRUE(WriteFileAtomically(fs_, manifest, good_manifest.substr(0, good_manifest.size() / 2)).ok());
  expect(manifest, "malformed JSON");
  std::string no_model = good_manifest;
  no_model.replace(no_model.find("\"model\""), 7, "\"modal\"");
  ASSERT_TRUE(WriteFileAtomically(fs_, manifest, no_model).ok());
  expect(manifest, "\"model\" must be a string");
  ModelManifest other = DecodeManifest(good_manifest, manifest).value();
  other.version = 2;
  ASSERT_TRUE(WriteFileAtomically(fs_, manifest, EncodeManifest(other)).ok());
  expect(manifest, "names stories@2, not stories@1");

  // The current pointer naming a version that is not there.
  ASSERT_TRUE(WriteFileAtomically(fs_, dir_.Path("models/stories/current"), "9\n").ok());
  auto current = registry_.Load({"stories", std::nullopt});
  ASSERT_FALSE(current.ok());
  EXPECT_NE(current.status().message().find("current:1: '9' is not a version of stories"), std::string::npos)
      << current.status().message();
}

TEST(ArrayFile, RoundTripsAndEveryCutOrFlippedByteIsAnError) {
  ArrayFile f;
  f.kind = "model";
  f.Put("a", std::vector<float>{1.5f, -2});
  f.Put("b", std::vector<uint32_t>{7});
  f.Put("c", std::vector<int64_t>{-3, 1LL << 40});
  f.Put("d", std::vector<std::string>{"x", "", "yz"});
  const std::string bytes = EncodeArrayFile(f);
  auto back = DecodeArrayFile(bytes, "f.bin");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(EncodeArrayFile(*back), bytes);
  EXPECT_EQ(back->F32("a", 2).value()->at(1), -2.0f);
  EXPECT_EQ(back->Strings("d", 3).value()->at(2), "yz");
  EXPECT_EQ(back->F32("b", 1).status().message(), "f.bin: array 'b' holds u32, not f32");
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    auto r = DecodeArrayFile(bytes.substr(0, cut), "f.bin");
    ASSERT_FALSE(r.ok()) << cut;
    EXPECT_EQ(r.status().message().rfind("f.bin: model/array file is truncated", 0), 0u) << r.status().message();
  }
  for (size_t at = 0; at < bytes.size(); ++at) {
    std::string bad = bytes;
    bad[at] ^= 0x01;
    EXPECT_FALSE(DecodeArrayFile(bad, "f.bin").ok()) << at;
  }
  std::string v2 = bytes;
  v2[8] = 2;
  EXPECT_EQ(DecodeArrayFile(v2, "f.bin").status().message(),
            "f.bin: model/array file has version 2 (this build reads version 1)");
}

TEST(DatasetFile, RoundTripsTheImportedDataset) {
  const Bench b = Planted(0.8);
  const std::map<std::string, std::string> source = {{"format", "movielens-1m"}, {"ratings.sha256", "ab"}};
  const std::string bytes = EncodeArrayFile(EncodeDataset(b.data, source));
  auto file = DecodeArrayFile(bytes, "d.bin");
  ASSERT_TRUE(file.ok());
  std::map<std::string, std::string> got;
  auto d = DecodeDataset(*file, &got);
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(got, source);
  EXPECT_EQ(EncodeArrayFile(EncodeDataset(*d, got)), bytes);
  ASSERT_EQ(d->interactions.size(), b.data.interactions.size());
  EXPECT_EQ(d->interactions[17].timestamp, b.data.interactions[17].timestamp);
  EXPECT_EQ(d->features[3].tags, b.data.features[3].tags);
  // An interaction naming an item past the list, a pair twice: errors naming
  // the file.
  ArrayFile bad = *file;
  bad.arrays["interaction.item"].u32[0] = static_cast<uint32_t>(b.data.num_items());
  EXPECT_EQ(DecodeDataset(bad).status().message(), "d.bin: interaction 0 names a user or item beyond the lists");
  bad = *file;
  bad.arrays["interaction.item"].u32[1] = bad.arrays["interaction.item"].u32[0];
  bad.arrays["interaction.user"].u32[1] = bad.arrays["interaction.user"].u32[0];
  EXPECT_EQ(DecodeDataset(bad).status().message(), "d.bin: interaction 1 repeats a user-item pair");
  bad = *file;  // an offset past the tags, caught before it is used
  bad.arrays["item.tag_offsets"].u32[1] = 1000000;
  EXPECT_EQ(DecodeDataset(bad).status().message(), "d.bin: item.tag_offsets decrease at item 1");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_F(RegistryTest, GcKeepsCurrentPreviousAndNewestAndNeverTheCurrentOne) {
  const Bench b = Planted(0.8);
  const Dataset& d = b.data;
  const PopularityModel pop(d.num_items(), b.split.train);
  for (int k = 0; k < 6; ++k) {
    ModelManifest m = Manifest("popularity", d, 0);
    ASSERT_TRUE(registry_.Save(&m, ExportPopularity(d, pop)).ok());
  }
  ASSERT_TRUE(registry_.Promote("stories", 2).ok());
  ASSERT_TRUE(registry_.Promote("stories", 4).ok());  // current 4, then 2, then 1
  const auto versions = [&] {
    std::vector<uint32_t> out;
    const auto listed = registry_.Versions("stories");
    for (const auto& v : listed.value()) out.push_back(v.version);
    return out;
  };
  using V = std::vector<uint32_t>;

  // Dry run: the plan, nothing deleted.
  auto plan = registry_.Gc("stories", 2, /*dry_run=*/true);
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_EQ(plan->kept, (V{2, 4, 5, 6}));  // current 4, previous 2, newest two 5 and 6
  EXPECT_EQ(plan->removed, (V{1, 3}));
  EXPECT_EQ(versions(), (V{1, 2, 3, 4, 5, 6}));

  plan = registry_.Gc("stories", 2, false);
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_EQ(plan->removed, (V{1, 3}));
  EXPECT_EQ(versions(), (V{2, 4, 5, 6}));
  EXPECT_FALSE(fs_->FileExists(dir_.Path("models/stories/1")));
  EXPECT_FALSE(fs_->FileExists(dir_.Path("models/stories/.deleting-1")));
  // `current` no longer names the deleted 1; rollback still reaches 2, which
  // loads.
  EXPECT_EQ(registry_.CurrentHistory("stories").value(), (V{4, 2}));
  EXPECT_EQ(registry_.Rollback("stories").value(), 2u);
  EXPECT_TRUE(registry_.Load({"stories", std::nullopt}).ok());

  // --keep 0 keeps the current version only (no earlier current one is left
  // after the rollback): every other version goes, the current one never does.
  plan = registry_.Gc("stories", 0, false);
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_EQ(plan->kept, (V{2}));
  EXPECT_EQ(plan->removed, (V{4, 5, 6}));
  EXPECT_EQ(versions(), (V{2}));
  auto loaded = registry_.Load({"stories", std::nullopt});
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->manifest.version, 2u);
  // A deleted number is never given again.
  ModelManifest m = Manifest("popularity", d, 0);
  EXPECT_EQ(registry_.Save(&m, ExportPopularity(d, pop)).value(), 7u);

  // A crashed collection's leftover goes on the next run; an unreadable
  // `current` stops it before any deletion.
  ASSERT_TRUE(fs_->CreateDirs(dir_.Path("models/stories/.deleting-5")).ok());
  ASSERT_TRUE(WriteFileAtomically(fs_, dir_.Path("models/stories/.deleting-5/weights.bin"), "x").ok());
  ASSERT_TRUE(registry_.Gc("stories", 5, false).ok());
  EXPECT_FALSE(fs_->FileExists(dir_.Path("models/stories/.deleting-5")));
  ASSERT_TRUE(WriteFileAtomically(fs_, dir_.Path("models/stories/current"), "9\n").ok());
  auto bad = registry_.Gc("stories", 0, false);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("current:1"), std::string::npos) << bad.status().message();
  EXPECT_TRUE(fs_->FileExists(dir_.Path("models/stories/2")));  // nothing deleted
  EXPECT_TRUE(fs_->FileExists(dir_.Path("models/stories/7")));
}

}  // namespace
}  // namespace watershed::recs
