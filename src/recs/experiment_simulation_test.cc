// The A/B pipeline end to end on simulated users: assignment by the experiments file, exposures through the exposure
// log's encoding, outcomes as view events, the report and the promotion rule. A planted +5 % watch time effect is found
// and promoted; with no effect, promotion acts in at most 5 % of 200 runs (seeds fixed, so the test is deterministic);
// a logging bug that loses treatment exposures is caught as a sample ratio mismatch.

#include <gtest/gtest.h>

#include <cmath>

#include "recs/experiment_simulator.h"
#include "recs/experiment_stats.h"
#include "recs/experiments.h"

namespace watershed::recs {
namespace {

struct Simulation {
  size_t users = 1000;
  double effect = 0;          // relative, on the treatment's watch time
  double lose_treatment = 0;  // share of treatment users whose exposures are not logged
  bool through_log = false;   // exposures go through the log's encoding (slower)
  uint64_t seed = 1;
};

// Each seed salts the assignment too, so runs differ in who is in which arm.
ExperimentReport Simulate(const Simulation& s) {
  const std::string salt = "sim-" + std::to_string(s.seed);
  auto config = ParseExperimentConfig(
      "[[layer]]\nname = \"ranking\"\nsalt = \"" + salt + "\"\n" +
          "[[experiment]]\nname = \"sim\"\nlayer = \"ranking\"\ncontrol = \"control\"\nsalt = \"" + salt + "\"\n" +
          "[[arm]]\nexperiment = \"sim\"\nname = \"control\"\nmodel = \"stories@1\"\n"
          "[[arm]]\nexperiment = \"sim\"\nname = \"treatment\"\nmodel = \"stories@2\"\n",
      "sim.toml");
  EXPECT_TRUE(config.ok()) << config.status().message();
  const Experiment& e = *config->Find("sim");
  SimulatedExperiment sim = SimulateExperiment(
      *config, e, {.users = s.users, .effect = s.effect, .lose_treatment = s.lose_treatment, .seed = s.seed});
  if (s.through_log) {  // as the report reads them
    std::string log;
    for (const Exposure& x : sim.exposures) log += EncodeExposure(x);
    auto decoded = DecodeExposureLog(log, "sim.log");
    EXPECT_TRUE(decoded.ok());
    sim.exposures = std::move(decoded->exposures);
    auto events = ParseEventsCsv(EncodeEventsCsv(sim.events), "events.csv");
    EXPECT_TRUE(events.ok());
    EXPECT_EQ(*events, sim.events);
  }
  return ComputeReport(e, sim.exposures, sim.events);
}

TEST(ExperimentSimulation, APlantedFivePercentEffectIsFoundAndPromoted) {
  // 80,000 users: a standard error of about 1 % of the control's mean, so +5 % is found with ample power (and
  // the lift estimate stays above the +2 % bar) in every seed, not just a lucky one.
  for (uint64_t seed : {1, 2}) {
    const ExperimentReport r = Simulate({.users = 80000, .effect = 0.05, .seed = seed});
    const ArmStats& t = r.arms[1];
    EXPECT_LT(t.vs_control.p, 0.05) << seed;
    EXPECT_LT(t.lift_lo, 0.05) << seed;  // the interval holds the planted effect
    EXPECT_GT(t.lift_hi, 0.05) << seed;
    EXPECT_GT(t.lift, 0.02) << seed;
    EXPECT_FALSE(r.srm) << seed;
    EXPECT_GT(r.events_counted, 0u);
    const PromotionDecision d = DecidePromotion(r);
    EXPECT_TRUE(d.promote) << seed << ": " << d.reasons[0];
    EXPECT_EQ(d.model, "stories@2");
  }
}

TEST(ExperimentSimulation, WithoutAnEffectPromotionActsInAtMostFivePercentOfRuns) {
  int promoted = 0, significant = 0, srm = 0;
  const int runs = 300;
  for (int run = 0; run < runs; ++run) {
    const ExperimentReport r = Simulate({.users = 1000, .effect = 0, .seed = 1000 + static_cast<uint64_t>(run)});
    promoted += DecidePromotion(r).promote;
    significant += r.arms[1].vs_control.p < 0.05;
    srm += r.srm;
  }
  EXPECT_LE(promoted, runs * 5 / 100);
  // The test is calibrated: about 5 % of null runs are significant either way (binomial 300 x 0.05: 15 +- 3.8).
  EXPECT_GE(significant, 5);
  EXPECT_LE(significant, 26);
  EXPECT_LE(srm, 3);
  std::printf("null runs: %d of %d promoted, %d significant, %d with SRM\n", promoted, runs, significant, srm);
}

TEST(ExperimentSimulation, LostTreatmentExposuresAreASampleRatioMismatch) {
  const ExperimentReport r =
      Simulate({.users = 10000, .effect = 0.10, .lose_treatment = 0.1, .through_log = true, .seed = 5});
  EXPECT_TRUE(r.srm);
  EXPECT_LT(r.srm_p, 0.001);
  const PromotionDecision d = DecidePromotion(r);
  EXPECT_FALSE(d.promote);
  EXPECT_EQ(d.reasons[0].rfind("sample ratio mismatch", 0), 0u) << d.reasons[0];
}

}  // namespace
}  // namespace watershed::recs
