#pragma once
// Runs RunMaintenanceRound over some regions' lakes every `interval_ms` on a
// thread of its own, so a long-running writer keeps its lakes compacted and
// its snapshots expired without an operator running `watershed lake`; and,
// every `compact_check_ms` in between, compaction by need
// (CompactRegionIfNeeded): a partition that gathered `compact_min_files`
// small files is compacted without waiting for the round.
// Rounds race the writers' commits safely (iceberg_maintenance.h).
//
// Thread safety: Start and Stop from one thread (the owner's); the reporter
// runs on the scheduler's thread.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/file_system.h"
#include "lake/iceberg_maintenance.h"

namespace watershed::lake {

struct MaintenanceSchedulerOptions {
  FileSystem* fs = FileSystem::Default();
  std::string root;  // the lakes' root: each region's tables under <root>/<region>/
  std::vector<Region> regions;
  int64_t interval_ms = 600'000;  // the first round runs one interval after Start
  MaintenanceSchedule schedule;
  Clock* clock = Clock::Real();  // the rounds' "now"; the waits are real time
  // Compaction by need: checked this often (0: never; only the rounds
  // compact), for partitions holding at least compact_min_files small files.
  int64_t compact_check_ms = 60'000;
  size_t compact_min_files = 32;
  // The thread's nice value at least (Linux: per thread; 0 leaves it as is). A round
  // is background work: at 10 it takes ~10 % of a core that ingestion keeps
  // busy (all of an idle one), so a compaction does not add to the
  // request latency of the threads it shares the cores with. Its I/O goes
  // to the best-effort class's lowest level as well.
  int nice = 10;
  // Called after each region's round. Unset: one line on stderr per round.
  std::function<void(Region, const Result<MaintenanceReport>&)> report;
  // Called after each region's compaction by need that compacted or failed.
  // Unset: one line on stderr then.
  std::function<void(Region, const Result<MaintenanceReport>&)> need_report;
};

class MaintenanceScheduler {
 public:
  explicit MaintenanceScheduler(MaintenanceSchedulerOptions options);
  ~MaintenanceScheduler();  // Stop()
  MaintenanceScheduler(const MaintenanceScheduler&) = delete;
  MaintenanceScheduler& operator=(const MaintenanceScheduler&) = delete;

  void Start();
  // Wakes the thread and joins it after the round in progress, if any, so
  // no round touches the lakes once it returns. Idempotent.
  void Stop();

 private:
  void Run();

  const MaintenanceSchedulerOptions options_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
};

}  // namespace watershed::lake
