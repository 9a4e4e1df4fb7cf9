#pragma once
// The sending half of `watershed load`: generates the workload, routes each
// event to the connection of its (region, partition) lane, paces it, prints
// a progress line every second and a summary at the end, and optionally
// writes the ground truth of the distinct events.

#include <cstdint>
#include <map>
#include <string>

#include "app/client_flags.h"  // the client types
#include "app/token_minter.h"
#include "core/partitioning.h"
#include "workload/generator.h"

namespace watershed::app {

struct LoadPlan {
  workload::WorkloadOptions workload;
  double rate = 10'000;  // events per second; 0 = as fast as possible
  uint64_t max_events = UINT64_MAX;
  int64_t duration_ms = 30'000;
  uint64_t batch = 100;  // events per request
  uint64_t connections = 4;
  uint32_t partitions = 8;                                       // the server's, per region: they decide the lanes
  PartitionScheme partition_scheme = PartitionScheme::kAligned;  // the server's logs'
  // The server's watermarks when the load starts (from /v1/status; empty for a
  // gateway): the ground truth starts from them (workload::TruthBuilder::StartWatermark).
  std::map<std::pair<Region, uint32_t>, int64_t> start_watermarks;
  int64_t show_top_ms = 0;  // print the top stories this often; 0 = never
  bool protobuf = false;
  bool per_viewer = false;  // one viewer per request (always with a minter)
  std::string truth_path;   // write the ground truth here when non-empty
};

// Runs the plan; requests carry minter's per-viewer tokens when minter is
// set, else `token` when non-empty (which the progress reporter uses too).
// Returns the exit code: 0, or 1 when a batch was refused or the server
// stayed unavailable.
int RunLoad(const LoadPlan& plan, const ClientOptions& options, const TokenMinter* minter, const std::string& token);

}  // namespace watershed::app
