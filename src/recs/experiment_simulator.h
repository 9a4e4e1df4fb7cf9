#pragma once
// Simulated users of an experiment (docs/recs.md, "Experiments"): for the simulation test, and for `watershed
// recs experiment simulate`, which writes what serving would (exposures) and what users would do (view events)
// so that report and promote can be tried end to end.
//
// Users (random ids) are assigned by the experiments file; those not in the experiment are skipped. Each makes
// 1-3 visits over a week, an exposure of 10 random stories each; a user's engagement e is uniform in [0.3, 0.6)
// and each exposure is followed by a geometric number of views (continuing with probability e) of its stories
// within 23 hours, watch time gamma-distributed (shape 2) with a mean of 20 s, times (1 + effect) in every arm
// but the control. One view per exposure that must not count is added: of a story not recommended, or after the
// window. `lose_treatment` drops that share of the treatment users' exposures from the log (a logging bug, to
// show the sample-ratio-mismatch check). Deterministic for a seed.

#include <cstdint>
#include <string>
#include <vector>

#include "recs/experiments.h"
#include "recs/lake_interactions.h"

namespace watershed::recs {

struct SimulationOptions {
  size_t users = 1000;
  double effect = 0;
  double lose_treatment = 0;
  uint64_t seed = 1;
  int64_t start_ms = 1'750'000'000'000;
};

struct SimulatedExperiment {
  std::vector<Exposure> exposures;
  std::vector<EngagementEvent> events;
};

SimulatedExperiment SimulateExperiment(const ExperimentConfig& config, const Experiment& e, const SimulationOptions& o);

// The CSV that ParseEventsCsv reads, with its header.
std::string EncodeEventsCsv(const std::vector<EngagementEvent>& events);

}  // namespace watershed::recs
