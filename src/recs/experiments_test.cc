// A/B experiments: the experiments file, the salted-hash assignment (weights, layers exclusive within and overlapping
// across), and the exposure log (checksummed lines, a torn tail ignored and cut, corruption named).

#include "recs/experiments.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>

namespace watershed::recs {
namespace {

constexpr const char* kConfig =
    "# two layers\n"
    "[[layer]]\nname = \"ranking\"\nsalt = \"r-2026\"\n"
    "[[layer]]\nname = \"rules\"\n"
    "[[experiment]]\nname = \"ranker-v2\"\nlayer = \"ranking\"\ntraffic = "
    "0.5\ncontrol = \"control\"\n"
    "window_hours = 12\n"
    "[[arm]]\nexperiment = \"ranker-v2\"\nname = \"control\"\nweight = "
    "1\nmodel = \"stories@3\"\n"
    "[[arm]]\nexperiment = \"ranker-v2\"\nname = \"treatment\"\nweight = "
    "3\nmodel = \"stories@4\"\n"
    "[[experiment]]\nname = \"other\"\nlayer = \"ranking\"\ntraffic = "
    "0.5\ncontrol = \"a\"\n"
    "[[arm]]\nexperiment = \"other\"\nname = \"a\"\n"
    "[[arm]]\nexperiment = \"other\"\nname = \"b\"\n"
    "[[experiment]]\nname = \"mmr\"\nlayer = \"rules\"\ntraffic = 0.4\ncontrol "
    "= \"off\"\n"
    "[[arm]]\nexperiment = \"mmr\"\nname = \"off\"\n"
    "[[arm]]\nexperiment = \"mmr\"\nname = \"on\"\nparams.mmr_lambda = "
    "0.7\nparams.note = \"x\"\n";

ExperimentConfig Config() {
  auto c = ParseExperimentConfig(kConfig, "exp.toml");
  EXPECT_TRUE(c.ok()) << c.status().message();
  return c.ok() ? *c : ExperimentConfig{};
}

TEST(ExperimentConfig, ReadsLayersExperimentsAndArms) {
  const ExperimentConfig c = Config();
  ASSERT_EQ(c.layers.size(), 2u);
  EXPECT_EQ(c.layers[0].salt, "r-2026");
  EXPECT_EQ(c.layers[1].salt, "rules");  // default: the name
  ASSERT_EQ(c.experiments.size(), 3u);
  const Experiment* e = c.Find("ranker-v2");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->window_s, 12 * 3600);
  EXPECT_EQ(e->salt, "ranker-v2");
  EXPECT_EQ(e->first_bucket, 0u);
  EXPECT_EQ(e->end_bucket, 5000u);
  EXPECT_EQ(c.Find("other")->first_bucket, 5000u);
  EXPECT_EQ(c.Find("other")->end_bucket, 10000u);
  EXPECT_EQ(e->arms[1].model, "stories@4");
  EXPECT_DOUBLE_EQ(e->TotalWeight(), 4);
  EXPECT_EQ(c.Find("mmr")->arms[1].params.at("mmr_lambda"), "0.69999999999999996");
  EXPECT_EQ(c.Find("mmr")->arms[1].params.at("note"), "x");
}

TEST(ExperimentConfig, BadFilesAreClearErrors) {
  const std::string layer = "[[layer]]\nname = \"l\"\n";
  const std::string exp = layer + "[[experiment]]\nname = \"e\"\nlayer = \"l\"\ncontrol = \"c\"\n";
  const std::string arms =
      "[[arm]]\nexperiment = \"e\"\nname = "
      "\"c\"\n[[arm]]\nexperiment = \"e\"\nname = \"t\"\n";
  const std::pair<std::string, std::string> cases[] = {
      {layer + "[[experiment]]\nname = \"e\"\nlayer = \"x\"\ncontrol = \"c\"\n",
       "exp.toml:5:9: [[experiment]] layer: no [[layer]] named 'x' precedes "
       "it"},
      {exp + "[[experiment]]\nname = \"f\"\nlayer = \"l\"\ncontrol = "
             "\"c\"\ntraffic = 0.5\n",
       "exp.toml:11:11: [[experiment]] traffic: the experiments of layer 'l' "
       "take more than all of its traffic"},
      {exp + arms + "[[arm]]\nexperiment = \"nope\"\nname = \"c\"\n",
       "exp.toml:14:14: [[arm]] experiment: no [[experiment]] named 'nope' "
       "precedes it"},
      {exp + "[[arm]]\nexperiment = \"e\"\nname = \"c\"\n", "exp.toml:3:1: experiment 'e' needs at least two [[arm]]s"},
      {exp + arms + "[[arm]]\nexperiment = \"e\"\nname = \"c\"\n",
       "exp.toml:15:8: [[arm]] name: arm 'c' is defined twice"},
      {exp + arms + "[[arm]]\nexperiment = \"e\"\nname = \"d\"\nmodel = \"stories\"\n",
       "exp.toml:16:9: [[arm]] model: must be NAME@VERSION, not 'stories'"},
      {exp + arms + "[[arm]]\nexperiment = \"e\"\nname = \"d\"\nwieght = 2\n",
       "exp.toml:16:1: [[arm]] wieght: unknown key (known: experiment, model, "
       "name, weight)"},
      {exp + arms + "[[arm]]\nexperiment = \"e\"\nname = \"a b\"\n",
       "exp.toml:15:8: [[arm]] name: 'a b' must be 1-64 letters, digits, '_', "
       "'-' or '.', not starting with '.'"},
      {layer + "[[experiment]]\nname = \"e\"\nlayer = \"l\"\ncontrol = \"z\"\n" + arms,
       "exp.toml:3:1: experiment 'e': its control 'z' is no arm"},
      {"[layer]\n",
       "exp.toml:1:1: unknown table [layer] (known: [[layer]], "
       "[[experiment]], [[arm]])"},
  };
  for (const auto& [text, want] : cases) {
    auto c = ParseExperimentConfig(text, "exp.toml");
    ASSERT_FALSE(c.ok()) << text;
    EXPECT_EQ(c.status().message(), want) << text;
  }
}

TEST(Assignment, DeterministicWeightedAndLayered) {
  const ExperimentConfig c = Config();
  const ExperimentConfig again = Config();
  size_t ranker = 0, treatment = 0, other = 0, mmr = 0, both = 0;
  const size_t n = 100000;
  for (uint64_t user = 1; user <= n; ++user) {
    const auto a = Assign(c, user);
    const auto b = Assign(again, user);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].experiment->name, b[i].experiment->name);
      EXPECT_EQ(a[i].arm->name, b[i].arm->name);
    }
    bool in_ranking = false, in_rules = false;
    size_t in_layer_ranking = 0;
    for (const Assignment& x : a) {
      if (x.experiment->layer == "ranking") ++in_layer_ranking, in_ranking = x.experiment->name == "ranker-v2";
      if (x.experiment->name == "ranker-v2") ++ranker, treatment += x.arm->name == "treatment";
      if (x.experiment->name == "other") ++other;
      if (x.experiment->name == "mmr") ++mmr, in_rules = true;
    }
    EXPECT_EQ(in_layer_ranking, 1u);  // the layer's traffic is all taken:
                                      // exactly one of its two experiments
    both += in_ranking && in_rules;
  }
  auto near = [](double got, double want) { return std::abs(got - want) < 0.01; };
  EXPECT_EQ(ranker + other, n);
  EXPECT_TRUE(near(static_cast<double>(ranker) / n, 0.5)) << ranker;
  EXPECT_TRUE(near(static_cast<double>(treatment) / ranker, 0.75)) << treatment;
  EXPECT_TRUE(near(static_cast<double>(mmr) / n, 0.4)) << mmr;
  // Layers overlap independently: P(ranker-v2 and mmr) = 0.5 * 0.4.
  EXPECT_TRUE(near(static_cast<double>(both) / n, 0.2)) << both;
  // The arm depends on the salt and the user only.
  EXPECT_EQ(SaltedHash("ranker-v2", 42), SaltedHash("ranker-v2", 42));
  EXPECT_NE(SaltedHash("ranker-v2", 42), SaltedHash("ranker-v3", 42));
}

class ExposureLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/recs_exposures_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = std::string(tmpl) + "/recs/exposures";
  }
  void TearDown() override { std::system(("rm -rf " + DirName(DirName(dir_))).c_str()); }
  static Exposure Make(int i) {
    return {"req-" + std::to_string(i),      static_cast<uint64_t>(100 + i), "ranker-v2",
            i % 2 ? "treatment" : "control", 1'700'000'000'000 + i,          {static_cast<uint64_t>(i), 7, 8}};
  }
  std::string dir_;
};

TEST_F(ExposureLogTest, RoundTripsAndIgnoresThenCutsATornTail) {
  FileSystem* fs = FileSystem::Default();
  {
    auto w = ExposureWriter::Open(fs, dir_, "ranker-v2");
    ASSERT_TRUE(w.ok()) << w.status().message();
    for (int i = 0; i < 3; ++i) ASSERT_TRUE((*w)->Append(Make(i)).ok());
    Exposure none = Make(3);
    none.items.clear();
    ASSERT_TRUE((*w)->Append(none).ok());
    Exposure bad = Make(4);
    bad.request_id = "has\ttab";
    EXPECT_FALSE((*w)->Append(bad).ok());
    ASSERT_TRUE((*w)->Sync().ok());
  }
  const std::string path = ExposureLogPath(dir_, "ranker-v2");
  auto text = ReadWholeFile(fs, path);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(text->substr(9, text->find('\n') - 9), "req-0\t100\tranker-v2\tcontrol\t1700000000000\t0,7,8");
  // A torn write: half a record at the end.
  const std::string half = EncodeExposure(Make(9)).substr(0, 20);
  ASSERT_TRUE(WriteFileAtomically(fs, path, *text + half).ok());
  auto log = ReadExposures(fs, dir_, "ranker-v2");
  ASSERT_TRUE(log.ok()) << log.status().message();
  ASSERT_EQ(log->exposures.size(), 4u);
  EXPECT_EQ(log->torn_bytes, half.size());
  EXPECT_EQ(log->exposures[1].arm, "treatment");
  EXPECT_EQ(log->exposures[2].items, (std::vector<uint64_t>{2, 7, 8}));
  EXPECT_TRUE(log->exposures[3].items.empty());
  // The next writer cuts the tail, so its records start on a line of their own.
  {
    auto w = ExposureWriter::Open(fs, dir_, "ranker-v2");
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Append(Make(5)).ok());
  }
  log = ReadExposures(fs, dir_, "ranker-v2");
  ASSERT_TRUE(log.ok()) << log.status().message();
  ASSERT_EQ(log->exposures.size(), 5u);
  EXPECT_EQ(log->torn_bytes, 0u);
  EXPECT_EQ(log->exposures[4].request_id, "req-5");
  // No log yet: no exposures.
  auto empty = ReadExposures(fs, dir_, "mmr");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->exposures.empty());
}

// Erasure rewrites only the logs holding the user, without their records (and without a torn tail).
TEST_F(ExposureLogTest, ErasingAUserRewritesTheLogsThatHoldThem) {
  FileSystem* fs = FileSystem::Default();
  for (const char* experiment : {"ranker-v2", "mmr"}) {
    auto w = ExposureWriter::Open(fs, dir_, experiment);
    ASSERT_TRUE(w.ok());
    for (int i = 0; i < 4; ++i) {
      Exposure e = Make(i);
      e.experiment = experiment;
      if (std::string(experiment) == "mmr") e.user = 900;  // no record of the erased user
      ASSERT_TRUE((*w)->Append(e).ok());
    }
    Exposure again = Make(1);
    again.experiment = experiment;
    again.request_id = "req-again";
    if (std::string(experiment) == "ranker-v2") ASSERT_TRUE((*w)->Append(again).ok());
  }
  const std::string path = ExposureLogPath(dir_, "ranker-v2");
  {
    auto torn = fs->NewAppendableFile(path);
    ASSERT_TRUE(torn.ok());
    ASSERT_TRUE((*torn)->Append(EncodeExposure(Make(7)).substr(0, 12)).ok());  // a torn tail
    ASSERT_TRUE((*torn)->Close().ok());
  }
  EXPECT_EQ(CountUserExposures(fs, dir_, 101).value(), 2u);
  EXPECT_EQ(CountUserExposures(fs, dir_, 900).value(), 4u);
  auto removed = EraseUserExposures(fs, dir_, 101);
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_EQ(*removed, 2u);
  EXPECT_EQ(CountUserExposures(fs, dir_, 101).value(), 0u);
  auto log = ReadExposures(fs, dir_, "ranker-v2");
  ASSERT_TRUE(log.ok()) << log.status().message();
  ASSERT_EQ(log->exposures.size(), 3u);
  EXPECT_EQ(log->torn_bytes, 0u);
  EXPECT_EQ(log->exposures[0].request_id, "req-0");
  EXPECT_EQ(log->exposures[2].request_id, "req-3");
  EXPECT_EQ(ReadExposures(fs, dir_, "mmr")->exposures.size(), 4u);
  EXPECT_EQ(EraseUserExposures(fs, dir_, 101).value(), 0u);  // again: nothing to do
  EXPECT_EQ(EraseUserExposures(fs, dir_ + "/none", 101).value(), 0u);
  // A damaged log is named and left as it is.
  ASSERT_TRUE(WriteFileAtomically(fs, ExposureLogPath(dir_, "bad"), "not a record\n").ok());
  auto damaged = EraseUserExposures(fs, dir_, 900);
  EXPECT_EQ(damaged.status().code(), StatusCode::kCorruption);
  EXPECT_NE(damaged.status().message().find("bad.log:1"), std::string::npos) << damaged.status().message();
}

TEST_F(ExposureLogTest, ATornTailLongerThanTheReadChunkIsCut) {
  FileSystem* fs = FileSystem::Default();
  std::string log;
  for (int i = 0; i < 2000; ++i) log += EncodeExposure(Make(i));  // ~130 KB
  Exposure huge = Make(7);
  huge.items.assign(20000, 123456);  // a record of ~140 KB, torn before its newline
  const std::string torn = EncodeExposure(huge).substr(0, 100000);
  ASSERT_TRUE(CreateDirsDurably(fs, dir_).ok());
  const std::string path = ExposureLogPath(dir_, "ranker-v2");
  ASSERT_TRUE(WriteFileAtomically(fs, path, log + torn).ok());
  {
    auto w = ExposureWriter::Open(fs, dir_, "ranker-v2");
    ASSERT_TRUE(w.ok()) << w.status().message();
    ASSERT_TRUE((*w)->Append(Make(2000)).ok());
  }
  EXPECT_EQ(ReadWholeFile(fs, path).value(), log + EncodeExposure(Make(2000)));
  // A log that is all torn: cut to nothing.
  ASSERT_TRUE(WriteFileAtomically(fs, path, torn).ok());
  ASSERT_TRUE(ExposureWriter::Open(fs, dir_, "ranker-v2").ok());
  EXPECT_EQ(fs->FileSize(path).value(), 0u);
}

TEST_F(ExposureLogTest, CorruptionIsNamedByLine) {
  std::string a = EncodeExposure(Make(0)), b = EncodeExposure(Make(1)), c = EncodeExposure(Make(2));
  b[12] = b[12] == '1' ? '2' : '1';  // a flipped byte in the middle record
  auto log = DecodeExposureLog(a + b + c, "x.log");
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().message(), "x.log:2: checksum mismatch");
  EXPECT_EQ(DecodeExposureLog("zz\n", "x.log").status().message(), "x.log:1: no checksum");
  // Only the encoder's own text is a record: an upper-case checksum is not
  // (found by recs_rules_fuzz: it decoded, and re-encoded differently).
  std::string upper = a;
  for (size_t i = 0; i < 8; ++i) upper[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(upper[i])));
  ASSERT_NE(upper, a);  // Make(0)'s checksum has a hex letter
  EXPECT_EQ(DecodeExposureLog(upper + c, "x.log").status().message(), "x.log:1: no checksum");
  Exposure other = Make(0);
  other.experiment = "mmr";
  FileSystem* fs = FileSystem::Default();
  ASSERT_TRUE(CreateDirsDurably(fs, dir_).ok());
  ASSERT_TRUE(WriteFileAtomically(fs, ExposureLogPath(dir_, "ranker-v2"), a + EncodeExposure(other)).ok());
  auto mixed = ReadExposures(fs, dir_, "ranker-v2");
  ASSERT_FALSE(mixed.ok());
  EXPECT_EQ(mixed.status().message(), ExposureLogPath(dir_, "ranker-v2") + ":2: a record of experiment 'mmr'");
}

}  // namespace
}  // namespace watershed::recs
