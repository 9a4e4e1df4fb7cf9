#pragma once
// The statistics of an A/B experiment (docs/recs.md, "Experiments"): outcomes joined to exposures, per-arm users / CTR
// / watch time per user, Welch's t-test of each arm against the control, the sample-ratio-mismatch chi-square test, and
// the promotion rule.
//
// Outcomes: a `view` event of user U on story S at time T counts for U's exposure E when S is among E's items and
// E.time <= T <= E.time + the experiment's window (the latest such exposure when several match; each event counts
// once). An exposure is clicked when at least one view counts for it. Per arm: users (exposed users whose exposures all
// name that arm; a user seen in two arms is left out and counted), exposures, CTR = clicked exposures / exposures, and
// watch time per user = the mean over its users of the seconds of the views that count (0 for a user with none).

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "recs/experiments.h"
#include "recs/lake_interactions.h"

namespace watershed::recs {

// Student's t distribution: P(T <= t) for df > 0 degrees of freedom, and its inverse for p in (0, 1).
double StudentTCdf(double t, double df);
double StudentTQuantile(double p, double df);
// P(X >= x) for X chi-square with df degrees of freedom.
double ChiSquareSurvival(double x, double df);

struct WelchResult {
  double diff = 0;  // mean_b - mean_a
  double se = 0, df = 0, t = 0;
  double p = 1;           // two-sided
  double lo = 0, hi = 0;  // the confidence interval of diff
};
// Welch's unequal-variance t-test of sample b against sample a (sample variances, n - 1). With n < 2 in either sample
// or no variance at all: p = 1, an unbounded interval.
WelchResult WelchTest(double mean_a, double var_a, double n_a, double mean_b, double var_b, double n_b,
                      double confidence = 0.95);

struct ArmStats {
  std::string name, model;
  double weight = 0;
  bool control = false;
  uint64_t users = 0, exposures = 0, clicked = 0, views = 0;
  double ctr = 0;
  double watch_s_per_user = 0, watch_s_sd = 0;
  WelchResult vs_control;                     // the difference in watch time per user (unset for the control)
  double lift = 0, lift_lo = 0, lift_hi = 0;  // the same relative to the control's mean
};

struct ExperimentReport {
  std::string experiment;
  std::vector<ArmStats> arms;  // in the file's order
  double srm_chi2 = 0, srm_p = 1;
  bool srm = false;             // srm_p < 0.001
  uint64_t mixed_users = 0;     // seen in more than one arm, left out
  uint64_t unknown_arm = 0;     // exposures naming an arm the file no longer has, left out
  uint64_t events_counted = 0;  // views joined to an exposure
};

ExperimentReport ComputeReport(const Experiment& e, std::span<const Exposure> exposures,
                               std::span<const EngagementEvent> events);

struct PromotionRule {
  double min_lift = 0.02;    // of watch time per user over the control
  double alpha = 0.05;       // significance of the difference
  double srm_alpha = 0.001;  // an SRM p below this blocks any promotion
};
struct PromotionDecision {
  bool promote = false;
  std::string arm,
      model;                         // the winning arm and its model (NAME@VERSION) when promote
  std::vector<std::string> reasons;  // why not (one per arm), or why
};
// The best arm (by lift) that is significant at 1 - alpha with a lift >= min_lift, when there is no SRM and the arm has
// a model version; otherwise no promotion, with every reason.
PromotionDecision DecidePromotion(const ExperimentReport& r, const PromotionRule& rule = {});

// Events for tests and offline runs: CSV lines `viewer,story,type,watch_ms,event_time_ms` (type view, share or reply;
// an optional header line starting with "viewer"). Errors: "PATH:LINE: reason".
Result<std::vector<EngagementEvent>> ParseEventsCsv(std::string_view text, const std::string& path);

}  // namespace watershed::recs
