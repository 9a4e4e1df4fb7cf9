// The A/B pipeline end to end on simulated users: assignment by the experiments
// file, exposures through the exposure log's encoding, outcomes as view events,
// the report and the promotion rule. A planted +5 % watch time effect is found
// and promoted; with no effect, promotion acts in at most 5 % of 200 runs
// (seeds fixed, so the test is deterministic); a logging bug that loses
// treatment exposures is caught as a sample ratio mismatch.

#include <gtest/gtest.h>

#include <cmath>

#include "recs/experiment_stats.h"
#include "recs/experiments.h"
#include "recs/rng.h"

namespace watershed::recs {
namespace {

constexpr int64_t kStart = 1'750'000'000'000;

struct Simulation {
  size_t users = 2000;
  double effect = 0;          // relative, on the treatment's watch time
  double lose_treatment = 0;  // share of treatment users whose exposures are not logged
  bool through_log = false;   // exposures go through the log's encoding (slower)
  uint64_t seed = 1;
};

ExperimentReport Simulate(const Simulation& s) {
  const std::string salt = "sim-" + std::to_string(s.seed);
  auto config = ParseExperimentConfig("[[layer]]\nname = \"ranking\"\nsalt = \"" + salt +
                                          "\"\n"
                                          "[[experiment]]\nname = \"sim\"\nlayer = \"ranking\"\ncontrol = "
                                          "\"control\"\nsalt = \"" +
                                          salt +
                                          "\"\n"
                                          "window_hours = 24\n"
                                          "[[arm]]\nexperiment = \"sim\"\nname = \"control\"\nmodel = "
                                          "\"stories@1\"\n"
                                          "[[arm]]\nexperiment = \"sim\"\nname = \"treatment\"\nmodel = "
                                          "\"stories@2\"\n",
                                      "sim.toml");
  EXPECT_TRUE(config.ok()) << config.status().message();
  const Experiment& e = *config->Find("sim");
  Rng rng(MixSeed(s.seed, 77));
  std::vector<Exposure> exposures;
  std::vector<EngagementEvent> events;
  uint64_t request = 0;
  for (size_t n = 0; n < s.users; ++n) {
    const uint64_t user = 1 + rng.Below(1u << 30);
    const auto assigned = Assign(*config, user);
    EXPECT_EQ(assigned.size(), 1u);
    const bool treatment = assigned[0].arm->name == "treatment";
    const bool logged = !(treatment && rng.Unit() < s.lose_treatment);
    const double engagement = rng.Unit() * 0.8;  // users differ a lot
    const int visits = 1 + static_cast<int>(rng.Below(3));
    for (int v = 0; v < visits; ++v) {
      Exposure x;
      x.request_id = "r" + std::to_string(++request);
      x.user = user;
      x.experiment = "sim";
      x.arm = assigned[0].arm->name;
      x.time_ms = kStart + static_cast<int64_t>(rng.Below(7 * 24 * 3600)) * 1000;
      for (int i = 0; i < 10; ++i) x.items.push_back(1 + rng.Below(5000));
      if (logged && s.through_log) {  // as the report reads them
        const std::string line = EncodeExposure(x);
        auto decoded = DecodeExposure(std::string_view(line).substr(0, line.size() - 1));
        EXPECT_TRUE(decoded.ok());
        exposures.push_back(std::move(*decoded));
      } else if (logged) {
        exposures.push_back(x);
      }
      while (rng.Unit() < engagement) {
        const double watch_s = -std::log(1 - rng.Unit()) * 20 * (treatment ? 1 + s.effect : 1);
        const int64_t at = x.time_ms + static_cast<int64_t>(rng.Below(23 * 3600)) * 1000;
        events.push_back({user, x.items[rng.Below(10)], EventType::kView, static_cast<uint32_t>(watch_s * 1000), at});
      }
      // Noise that must not count: items not recommended, and views after the
      // window.
      events.push_back({user, 100000 + rng.Below(1000), EventType::kView, 30000, x.time_ms + 1000});
      events.push_back({user, x.items[0], EventType::kView, 30000, x.time_ms + 25 * 3600 * 1000});
    }
  }
  return ComputeReport(e, exposures, events);
}

TEST(ExperimentSimulation, APlantedFivePercentEffectIsFoundAndPromoted) {
  const ExperimentReport r = Simulate({.users = 30000, .effect = 0.05, .through_log = true, .seed = 1});
  const ArmStats& t = r.arms[1];
  EXPECT_LT(t.vs_control.p, 0.05);
  EXPECT_LT(t.lift_lo, 0.05);  // the interval holds the planted effect
  EXPECT_GT(t.lift_hi, 0.05);
  EXPECT_GT(t.lift, 0.02);
  EXPECT_FALSE(r.srm);
  const PromotionDecision d = DecidePromotion(r);
  EXPECT_TRUE(d.promote) << d.reasons[0];
  EXPECT_EQ(d.model, "stories@2");
}

TEST(ExperimentSimulation, WithoutAnEffectPromotionActsInAtMostFivePercentOfRuns) {
  int promoted = 0, significant = 0, srm = 0;
  const int runs = 200;
  for (int run = 0; run < runs; ++run) {
    const ExperimentReport r = Simulate({.users = 1000, .effect = 0, .seed = 1000 + static_cast<uint64_t>(run)});
    promoted += DecidePromotion(r).promote;
    significant += r.arms[1].vs_control.p < 0.05;
    srm += r.srm;
  }
  EXPECT_LE(promoted, runs * 5 / 100);
  // The test is calibrated: about 5 % of null runs are significant either way
  // (binomial 200 x 0.05: 2..20).
  EXPECT_GE(significant, 2);
  EXPECT_LE(significant, 20);
  EXPECT_LE(srm, 2);
  std::printf("null runs: %d of %d promoted, %d significant, %d with SRM\n", promoted, runs, significant, srm);
}

TEST(ExperimentSimulation, LostTreatmentExposuresAreASampleRatioMismatch) {
  const ExperimentReport r = Simulate({.users = 10000, .effect = 0.10, .lose_treatment = 0.1, .seed = 5});
  EXPECT_TRUE(r.srm);
  EXPECT_LT(r.srm_p, 0.001);
  const PromotionDecision d = DecidePromotion(r);
  EXPECT_FALSE(d.promote);
  EXPECT_EQ(d.reasons[0].rfind("sample ratio mismatch", 0), 0u) << d.reasons[0];
}

}  // namespace
}  // namespace watershed::recs
