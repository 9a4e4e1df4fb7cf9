#include "recs/experiment_simulator.h"

#include <cmath>

#include "recs/rng.h"

namespace watershed::recs {

SimulatedExperiment SimulateExperiment(const ExperimentConfig& config, const Experiment& e,
                                       const SimulationOptions& o) {
  SimulatedExperiment out;
  Rng rng(MixSeed(o.seed, 77));
  uint64_t request = 0;
  const std::string prefix = "sim-" + std::to_string(o.seed) + "-";
  for (size_t n = 0; n < o.users; ++n) {
    const uint64_t user = 1 + (rng.Next() >> 24);
    const Arm* arm = nullptr;
    for (const Assignment& a : Assign(config, user))
      if (a.experiment == &e) arm = a.arm;
    if (!arm) continue;
    const bool treatment = arm->name != e.control;
    const bool logged = !(treatment && rng.Unit() < o.lose_treatment);
    const double engagement = 0.3 + 0.3 * rng.Unit();  // users differ
    const int visits = 1 + static_cast<int>(rng.Below(3));
    for (int v = 0; v < visits; ++v) {
      Exposure x;
      x.request_id = prefix + std::to_string(++request);
      x.user = user;
      x.experiment = e.name;
      x.arm = arm->name;
      x.time_ms = o.start_ms + static_cast<int64_t>(rng.Below(7 * 24 * 3600)) * 1000;
      x.items.reserve(10);
      for (int i = 0; i < 10; ++i) x.items.push_back(1 + rng.Below(5000));
      while (rng.Unit() < engagement) {
        const double exp2 = -std::log(1 - rng.Unit()) - std::log(1 - rng.Unit());  // gamma(2, 1)
        const double watch_s = exp2 * 10 * (treatment ? 1 + o.effect : 1);
        const int64_t at = x.time_ms + static_cast<int64_t>(rng.Below(23 * 3600)) * 1000;
        out.events.push_back(
            {user, x.items[rng.Below(10)], EventType::kView, static_cast<uint32_t>(watch_s * 1000), at});
      }
      // Noise that must not count: a story not recommended, or a view after the window.
      if (rng.Below(2))
        out.events.push_back({user, 100000 + rng.Below(1000), EventType::kView, 30000, x.time_ms + 1000});
      else
        out.events.push_back({user, x.items[0], EventType::kView, 30000, x.time_ms + e.window_s * 1000 + 3600 * 1000});
      if (logged) out.exposures.push_back(std::move(x));
    }
  }
  return out;
}

std::string EncodeEventsCsv(const std::vector<EngagementEvent>& events) {
  std::string out = "viewer,story,type,watch_ms,event_time_ms\n";
  for (const EngagementEvent& e : events)
    out += std::to_string(e.viewer) + "," + std::to_string(e.story) + "," + std::string(EventTypeName(e.type)) + "," +
           std::to_string(e.watch_ms) + "," + std::to_string(e.event_time_ms) + "\n";
  return out;
}

}  // namespace watershed::recs
