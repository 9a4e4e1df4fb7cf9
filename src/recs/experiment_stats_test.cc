// The experiments' statistics: outcomes joined to exposures (window, latest exposure, one count per event), the t and
// chi-square distributions and Welch's test against SciPy (tests/recs/welch_oracle.py) and hand-computed values, and
// the promotion rule's reasons.

#include "recs/experiment_stats.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "core/testing/python_script.h"
#include "recs/rng.h"

namespace watershed::recs {
namespace {

Experiment TwoArms(const std::string& control_model = "stories@1", const std::string& treatment_model = "stories@2") {
  Experiment e;
  e.name = "exp";
  e.layer = "l";
  e.control = "control";
  e.window_s = 3600;
  e.arms = {{"control", 1, control_model, {}}, {"treatment", 1, treatment_model, {}}};
  return e;
}

constexpr int64_t kT = 1'700'000'000'000;

EngagementEvent View(uint64_t user, uint64_t story, uint32_t watch_ms, int64_t t) {
  return {user, story, EventType::kView, watch_ms, t};
}

TEST(ExperimentReport, JoinsViewsToExposuresWithinTheWindow) {
  const Experiment e = TwoArms();
  const std::vector<Exposure> x = {
      {"r1", 1, "exp", "control", kT, {10, 11}}, {"r2", 1, "exp", "control", kT + 1000, {11, 12}},
      {"r3", 2, "exp", "treatment", kT, {20}},   {"r4", 3, "exp", "treatment", kT, {30}},
      {"r5", 3, "exp", "control", kT, {30}},  // user 3 in both arms: left out
      {"r6", 4, "exp", "gone", kT, {40}},     // an arm no longer in the file
      {"r7", 5, "exp", "treatment", kT, {50}},
  };
  const std::vector<EngagementEvent> ev = {
      View(1, 11, 4000,
           kT + 2000),                         // both r1 and r2 hold 11: counts once, for r2 (the latest)
      View(1, 10, 1000, kT + 3600 * 1000),     // r1's window, at its very end
      View(1, 10, 9000, kT + 3601 * 1000),     // after r1's window
      View(1, 12, 9000, kT + 500),             // before r2
      View(1, 99, 9000, kT + 2000),            // not recommended
      {1, 10, EventType::kShare, 0, kT + 10},  // not a view
      View(2, 20, 6000, kT + 5),
      View(2, 20, 2000, kT + 6),
      View(3, 30, 5000, kT + 5),  // mixed user
      View(9, 20, 5000, kT + 5),  // never exposed
  };
  const ExperimentReport r = ComputeReport(e, x, ev);
  EXPECT_EQ(r.mixed_users, 1u);
  EXPECT_EQ(r.unknown_arm, 1u);
  EXPECT_EQ(r.events_counted, 4u);
  const ArmStats& c = r.arms[0];
  const ArmStats& t = r.arms[1];
  EXPECT_TRUE(c.control);
  EXPECT_EQ(c.users, 1u);
  EXPECT_EQ(c.exposures, 2u);
  EXPECT_EQ(c.clicked, 2u);
  EXPECT_EQ(c.views, 2u);
  EXPECT_DOUBLE_EQ(c.watch_s_per_user, 5.0);
  EXPECT_EQ(t.users, 2u);  // users 2 and 5
  EXPECT_EQ(t.exposures, 2u);
  EXPECT_DOUBLE_EQ(t.ctr, 0.5);
  EXPECT_DOUBLE_EQ(t.watch_s_per_user, 4.0);  // (8 + 0) / 2
  EXPECT_DOUBLE_EQ(t.watch_s_sd, std::sqrt(32.0));
  // One control user: no test.
  EXPECT_DOUBLE_EQ(t.vs_control.p, 1);
  EXPECT_DOUBLE_EQ(t.vs_control.diff, -1);
  // SRM: 1 vs 2 users expected 1.5 each.
  EXPECT_NEAR(r.srm_chi2, 1.0 / 3, 1e-12);
}

TEST(ExperimentStats, HandComputedDistributionValues) {
  EXPECT_NEAR(StudentTQuantile(0.975, 10), 2.2281388519649385, 1e-9);
  EXPECT_NEAR(StudentTQuantile(0.975, 1), 12.706204736174698, 1e-7);
  EXPECT_NEAR(StudentTQuantile(0.025, 1e6), -1.959966, 1e-5);
  EXPECT_NEAR(StudentTCdf(0, 3), 0.5, 1e-15);
  // df = 1 is Cauchy: P(T <= t) = 1/2 + atan(t)/pi. df = 2: 1/2 + t / (2 sqrt(2 + t^2)).
  for (double t : {-30.0, -2.0, -0.3, 0.7, 5.0}) {
    EXPECT_NEAR(StudentTCdf(t, 1), 0.5 + std::atan(t) / M_PI, 1e-12) << t;
    EXPECT_NEAR(StudentTCdf(t, 2), 0.5 + t / (2 * std::sqrt(2 + t * t)), 1e-12) << t;
  }
  // Chi-square with 2 degrees of freedom: P(X >= x) = exp(-x / 2); 1 degree: erfc(sqrt(x / 2)).
  for (double x : {0.01, 1.0, 7.5, 40.0}) {
    EXPECT_NEAR(ChiSquareSurvival(x, 2), std::exp(-x / 2), 1e-13 * std::max(1.0, 1 / std::exp(-x / 2))) << x;
    EXPECT_NEAR(ChiSquareSurvival(x, 1), std::erfc(std::sqrt(x / 2)), 1e-12) << x;
  }
  EXPECT_NEAR(ChiSquareSurvival(10.827566170662733, 1), 0.001, 1e-12);
  // Welch by hand: a = {1, 2, 3, 4} (mean 2.5, var 5/3), b = {2, 4, 6, 8, 10} (mean 6, var 10).
  const WelchResult w = WelchTest(2.5, 5.0 / 3, 4, 6, 10, 5);
  const double se2 = 5.0 / 12 + 2;
  EXPECT_DOUBLE_EQ(w.diff, 3.5);
  EXPECT_NEAR(w.se, std::sqrt(se2), 1e-12);
  EXPECT_NEAR(w.df, se2 * se2 / ((5.0 / 12) * (5.0 / 12) / 3 + 4.0 / 4), 1e-12);
  EXPECT_NEAR(w.t, 3.5 / std::sqrt(se2), 1e-12);
}

TEST(ExperimentStats, AgreeWithSciPy) {
  Rng rng(11);
  std::ostringstream cases;
  struct Mine {
    WelchResult w;
  };
  std::vector<WelchResult> mine;
  for (int c = 0; c < 12; ++c) {
    const size_t na = 2 + rng.Below(c < 6 ? 10 : 400), nb = 2 + rng.Below(c < 6 ? 10 : 400);
    const double scale_b = 0.2 + 3 * rng.Unit(), shift_b = rng.Unit() - 0.3;
    std::vector<double> a(na), b(nb);
    for (double& v : a) v = -std::log(1 - rng.Unit()) * 30;
    for (double& v : b) v = -std::log(1 - rng.Unit()) * 30 * scale_b + shift_b * 30;
    auto moments = [](const std::vector<double>& s, double* mean, double* var) {
      double sum = 0, sq = 0;
      for (double v : s) sum += v;
      *mean = sum / static_cast<double>(s.size());
      for (double v : s) sq += (v - *mean) * (v - *mean);
      *var = sq / static_cast<double>(s.size() - 1);
    };
    double ma, va, mb, vb;
    moments(a, &ma, &va);
    moments(b, &mb, &vb);
    mine.push_back(WelchTest(ma, va, static_cast<double>(na), mb, vb, static_cast<double>(nb)));
    cases << "welch ";
    char buf[40];
    for (size_t i = 0; i < na; ++i) std::snprintf(buf, sizeof buf, "%s%.17g", i ? "," : "", a[i]), cases << buf;
    cases << " ";
    for (size_t i = 0; i < nb; ++i) std::snprintf(buf, sizeof buf, "%s%.17g", i ? "," : "", b[i]), cases << buf;
    cases << "\n";
  }
  const std::vector<std::pair<double, double>> tcdf = {{-3.1, 2.5}, {0.4, 7}, {2.1, 30.5}, {-1.2, 400}, {6, 3}};
  const std::vector<std::pair<double, double>> tq = {{0.975, 1.5}, {0.975, 12.25}, {0.995, 60}, {0.6, 4}};
  const std::vector<std::pair<double, double>> chi2 = {{0.5, 1}, {3.2, 3}, {25, 4}, {13.8, 1}, {120, 9}};
  for (auto [t, df] : tcdf) cases << "tcdf " << t << " " << df << "\n";
  for (auto [p, df] : tq) cases << "tq " << p << " " << df << "\n";
  for (auto [x, df] : chi2) cases << "chi2 " << x << " " << df << "\n";

  const std::string path = ::testing::TempDir() + "/recs_welch_cases_" + std::to_string(::getpid());
  std::ofstream(path) << cases.str();
  std::istringstream out(watershed::testing::RunPythonScript("tests/recs/welch_oracle.py", path));
  auto rel = [](double got, double want) { return std::fabs(got - want) <= 1e-9 * std::max(1.0, std::fabs(want)); };
  for (size_t i = 0; i < mine.size(); ++i) {
    double t, df, p, lo, hi;
    ASSERT_TRUE(out >> t >> df >> p >> lo >> hi) << i;
    EXPECT_TRUE(rel(mine[i].t, t)) << i << ": " << mine[i].t << " vs " << t;
    EXPECT_TRUE(rel(mine[i].df, df)) << i << ": " << mine[i].df << " vs " << df;
    EXPECT_NEAR(mine[i].p, p, 1e-10) << i;
    // SciPy's t.ppf (cdflib's stdtrit) is a root search good to about 1e-9: the interval is compared at 1e-8.
    EXPECT_NEAR(mine[i].lo, lo, 1e-8 * std::max(1.0, std::fabs(lo))) << i;
    EXPECT_NEAR(mine[i].hi, hi, 1e-8 * std::max(1.0, std::fabs(hi))) << i;
  }
  for (auto [t, df] : tcdf) {
    double want;
    ASSERT_TRUE(out >> want);
    EXPECT_NEAR(StudentTCdf(t, df), want, 1e-11) << t << " " << df;
  }
  for (auto [p, df] : tq) {
    double want;
    ASSERT_TRUE(out >> want);
    EXPECT_NEAR(StudentTQuantile(p, df), want, 1e-8 * std::fabs(want)) << p << " " << df;
    EXPECT_NEAR(StudentTCdf(StudentTQuantile(p, df), df), p,
                1e-14);  // and our own inverse is exact
  }
  for (auto [x, df] : chi2) {
    double want;
    ASSERT_TRUE(out >> want);
    EXPECT_NEAR(ChiSquareSurvival(x, df), want, 1e-12 + 1e-9 * want) << x << " " << df;
  }
  std::remove(path.c_str());
}

ExperimentReport Report(double c_mean, double t_mean, uint64_t c_users, uint64_t t_users, double p,
                        const std::string& treatment_model = "stories@2") {
  ExperimentReport r;
  r.experiment = "exp";
  r.arms.resize(2);
  r.arms[0].name = "control";
  r.arms[0].model = "stories@1";
  r.arms[0].control = true;
  r.arms[0].users = c_users;
  r.arms[0].watch_s_per_user = c_mean;
  r.arms[1].name = "treatment";
  r.arms[1].model = treatment_model;
  r.arms[1].users = t_users;
  r.arms[1].watch_s_per_user = t_mean;
  r.arms[1].vs_control.p = p;
  r.arms[1].lift = t_mean / c_mean - 1;
  r.arms[1].lift_lo = r.arms[1].lift - 0.01;
  r.arms[1].lift_hi = r.arms[1].lift + 0.01;
  r.srm_chi2 = static_cast<double>((c_users - t_users) * (c_users - t_users)) / static_cast<double>(c_users + t_users);
  r.srm_p = ChiSquareSurvival(r.srm_chi2, 1);
  return r;
}

TEST(Promotion, ActsOnlyOnASignificantLiftOfTwoPercentWithoutSrm) {
  PromotionDecision d = DecidePromotion(Report(100, 104, 5000, 5010, 0.001));
  EXPECT_TRUE(d.promote);
  EXPECT_EQ(d.arm, "treatment");
  EXPECT_EQ(d.model, "stories@2");
  d = DecidePromotion(Report(100, 104, 5000, 5010, 0.2));
  EXPECT_FALSE(d.promote);
  ASSERT_EQ(d.reasons.size(), 1u);
  EXPECT_EQ(d.reasons[0],
            "arm treatment: watch time per user +4.00 % (95 % CI +3.00 % … "
            "+5.00 %), p = 0.2: not significant at 95 %");
  d = DecidePromotion(Report(100, 101.5, 5000, 5010, 0.001));
  EXPECT_FALSE(d.promote);
  EXPECT_NE(d.reasons[0].find("+1.50 %"), std::string::npos);
  EXPECT_NE(d.reasons[0].find(": below the required +2.00 %"), std::string::npos) << d.reasons[0];
  d = DecidePromotion(Report(100, 110, 5000, 5400, 0.001));  // chi-square 15.4, p 8.7e-5
  EXPECT_FALSE(d.promote);
  EXPECT_EQ(d.reasons[0].rfind("sample ratio mismatch: chi-square 15.38, p = "
                               "8.77e-05 < 0.001 (users per arm: "
                               "control 5000 treatment 5400)",
                               0),
            0u)
      << d.reasons[0];
  d = DecidePromotion(Report(100, 110, 5000, 5000, 0.001, ""));
  EXPECT_FALSE(d.promote);
  EXPECT_NE(d.reasons[0].find("names no model version"), std::string::npos);
  d = DecidePromotion(Report(100, 110, 0, 0, 1));
  EXPECT_FALSE(d.promote);
  EXPECT_EQ(d.reasons[0], "no exposed users: nothing to compare");
}

TEST(EventsCsv, ReadsAndNamesBadLines) {
  auto ev = ParseEventsCsv(
      "viewer,story,type,watch_ms,event_time_ms\n1,2,view,"
      "3000,1700000000000\n4,5,share,0,7\n",
      "e.csv");
  ASSERT_TRUE(ev.ok()) << ev.status().message();
  ASSERT_EQ(ev->size(), 2u);
  EXPECT_EQ((*ev)[0], View(1, 2, 3000, 1700000000000));
  EXPECT_EQ((*ev)[1].type, EventType::kShare);
  EXPECT_EQ(ParseEventsCsv("1,2,like,0,1\n", "e.csv").status().message(), "e.csv:1: type must be view, share or reply");
  EXPECT_EQ(ParseEventsCsv("1,2,view,0\n", "e.csv").status().message(),
            "e.csv:1: expected viewer,story,type,watch_ms,event_time_ms");
  EXPECT_EQ(ParseEventsCsv("\n-1,2,view,0,1\n", "e.csv").status().message(),
            "e.csv:2: viewer must be an unsigned integer");
}

}  // namespace
}  // namespace watershed::recs
