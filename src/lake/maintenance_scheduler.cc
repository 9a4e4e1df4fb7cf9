#include "lake/maintenance_scheduler.h"

#include <malloc.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <map>

namespace watershed::lake {
namespace {

void LogNeed(Region region, const Result<MaintenanceReport>& r) {
  const std::string name(RegionName(region));
  if (!r.ok()) {
    std::fprintf(stderr, "watershed: lake compaction by need of %s: %s\n", name.c_str(), r.status().ToString().c_str());
  } else if (r->compacted_files > 0) {
    std::fprintf(stderr, "watershed: lake compaction by need of %s: %lld files compacted into %lld\n", name.c_str(),
                 static_cast<long long>(r->compacted_files), static_cast<long long>(r->compaction_outputs));
  }
}

void LogRound(Region region, const Result<MaintenanceReport>& r) {
  const std::string name(RegionName(region));
  if (!r.ok()) {
    std::fprintf(stderr, "watershed: lake maintenance of %s: %s\n", name.c_str(), r.status().ToString().c_str());
    return;
  }
  std::fprintf(stderr,
               "watershed: lake maintenance of %s: %lld files compacted into %lld, %lld lifecycle batches, "
               "%lld snapshots expired, %lld files deleted, %lld orphans removed\n",
               name.c_str(), static_cast<long long>(r->compacted_files), static_cast<long long>(r->compaction_outputs),
               static_cast<long long>(r->lifecycle_batches), static_cast<long long>(r->expired_snapshots),
               static_cast<long long>(r->deleted_files), static_cast<long long>(r->removed_orphans));
}

// Lowers the calling thread's CPU priority to `nice` (never raises it) and
// its I/O priority (best effort: an error leaves the thread as it was).
void LowerThisThreadsPriority(int nice) {
  const auto tid = static_cast<id_t>(syscall(SYS_gettid));
  errno = 0;
  const int current = getpriority(PRIO_PROCESS, tid);
  if (errno == 0 && current >= nice) return;  // already as low (a niced process)
  if (setpriority(PRIO_PROCESS, tid, nice) != 0) {
    std::fprintf(stderr, "watershed: lake maintenance thread keeps its priority (setpriority: %d)\n", errno);
  }
  // ioprio_set(IOPRIO_WHO_PROCESS, tid, best-effort class, level 7): glibc has no wrapper.
  constexpr int kWhoProcess = 1, kClassBestEffort = 2, kClassShift = 13, kLowestLevel = 7;
  syscall(SYS_ioprio_set, kWhoProcess, tid, (kClassBestEffort << kClassShift) | kLowestLevel);
}

}  // namespace

MaintenanceScheduler::MaintenanceScheduler(MaintenanceSchedulerOptions options) : options_(std::move(options)) {}

MaintenanceScheduler::~MaintenanceScheduler() { Stop(); }

void MaintenanceScheduler::Start() {
  if (thread_.joinable()) return;
  thread_ = std::thread(&MaintenanceScheduler::Run, this);
}

void MaintenanceScheduler::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void MaintenanceScheduler::Run() {
  if (options_.nice != 0) LowerThisThreadsPriority(options_.nice);
  using Clock = std::chrono::steady_clock;
  const auto report = options_.report ? options_.report : LogRound;
  const auto need_report = options_.need_report ? options_.need_report : LogNeed;
  const auto interval = std::chrono::milliseconds(options_.interval_ms);
  const auto check = std::chrono::milliseconds(options_.compact_check_ms);
  std::map<Region, std::map<LakeTableId, int64_t>> checked;  // CompactRegionIfNeeded's
  auto next_round = Clock::now() + interval;
  auto next_check = options_.compact_check_ms > 0 ? Clock::now() + check : Clock::time_point::max();
  std::unique_lock lock(mu_);
  while (!cv_.wait_until(lock, std::min(next_round, next_check), [this] { return stop_; })) {
    const auto now = Clock::now();
    if (now < next_round && now < next_check) continue;  // woken early
    lock.unlock();
    // Work allocates and frees tens of MB (manifest entries, a merge's row
    // groups) on this thread's malloc arena, which glibc keeps: the soak saw
    // a server's RSS stay 63 MiB higher after a round, all of it free.
    // Returned to the system after each region's work, so that the regions'
    // peaks do not add up.
    if (now >= next_round) {
      for (Region region : options_.regions) {
        report(region,
               RunMaintenanceRound(options_.fs, options_.root, region, options_.clock->NowMs(), options_.schedule));
        malloc_trim(0);
      }
      next_round = Clock::now() + interval;
    } else {
      for (Region region : options_.regions) {
        auto r = CompactRegionIfNeeded(options_.fs, options_.root, region, options_.clock->NowMs(), options_.schedule,
                                       options_.compact_min_files, &checked[region]);
        need_report(region, r);
        if (!r.ok() || r->compacted_files > 0) malloc_trim(0);
      }
    }
    if (options_.compact_check_ms > 0) next_check = Clock::now() + check;
    lock.lock();
  }
}

}  // namespace watershed::lake
