#include "lake/maintenance_scheduler.h"

#include <chrono>
#include <cstdio>

namespace watershed::lake {
namespace {

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
  const std::function<void(Region, const Result<MaintenanceReport>&)> report =
      options_.report ? options_.report : LogRound;
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, std::chrono::milliseconds(options_.interval_ms), [this] { return stop_; })) {
    lock.unlock();
    for (Region region : options_.regions)
      report(region,
             RunMaintenanceRound(options_.fs, options_.root, region, options_.clock->NowMs(), options_.schedule));
    lock.lock();
  }
}

}  // namespace watershed::lake
