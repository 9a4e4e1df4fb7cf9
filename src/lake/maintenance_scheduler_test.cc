#include "lake/maintenance_scheduler.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

#include "core/testing/temp_dir.h"
#include "lake/iceberg_commit.h"
#include "lake/lake_sink.h"
#include "lake/testing/event_data_files.h"

namespace watershed::lake {
namespace {

using ::watershed::testing::TempDir;

struct Rounds {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Region> regions;
  std::vector<Status> statuses;
  std::vector<int> nice;  // of the thread that reported
};

MaintenanceSchedulerOptions OptionsFor(const std::string& root, int64_t interval_ms, Rounds* rounds) {
  MaintenanceSchedulerOptions o;
  o.root = root;
  o.regions = {Region::kEu, Region::kApac};
  o.interval_ms = interval_ms;
  o.report = [rounds](Region region, const Result<MaintenanceReport>& r) {
    std::lock_guard lock(rounds->mu);
    rounds->regions.push_back(region);
    rounds->statuses.push_back(r.ok() ? Status::Ok() : r.status());
    rounds->nice.push_back(getpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid))));
    rounds->cv.notify_all();
  };
  return o;
}

TEST(MaintenanceSchedulerTest, RunsARoundOverEachRegionEveryInterval) {
  TempDir dir("maintenance_scheduler");
  for (Region region : {Region::kEu, Region::kApac})
    ASSERT_TRUE(RegionLake::Open(FileSystem::Default(), dir.Path("lake"), region).ok());
  Rounds rounds;
  const auto tid = static_cast<id_t>(syscall(SYS_gettid));
  const int callers_nice = getpriority(PRIO_PROCESS, tid);
  MaintenanceScheduler scheduler(OptionsFor(dir.Path("lake"), 10, &rounds));
  scheduler.Start();
  {
    std::unique_lock lock(rounds.mu);
    // The deadline only guards against a hang.
    ASSERT_TRUE(rounds.cv.wait_for(lock, std::chrono::seconds(60), [&] { return rounds.regions.size() >= 4; }));
  }
  scheduler.Stop();
  std::lock_guard lock(rounds.mu);
  EXPECT_EQ(rounds.regions[0], Region::kEu);
  EXPECT_EQ(rounds.regions[1], Region::kApac);
  EXPECT_EQ(rounds.regions[2], Region::kEu);
  for (const Status& s : rounds.statuses) EXPECT_TRUE(s.ok()) << s.ToString();
  // Rounds run in the background: at nice 10 or lower (the caller's is untouched).
  for (int n : rounds.nice) EXPECT_GE(n, std::max(10, callers_nice));
  EXPECT_EQ(getpriority(PRIO_PROCESS, tid), callers_nice);
}

TEST(MaintenanceSchedulerTest, CompactsByNeedBetweenRounds) {
  TempDir dir("maintenance_scheduler");
  FileSystem* fs = FileSystem::Default();
  ASSERT_TRUE(RegionLake::Open(fs, dir.Path("lake"), Region::kEu).ok());
  const std::string location = TableLocation(dir.Path("lake"), Region::kEu, LakeTableId::kEvents);
  auto table = IcebergTable::Load(fs, location);
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  std::vector<DataFileInfo> files;
  for (int i = 0; i < 3; ++i)
    files.push_back(testing::WriteEventsDataFile(fs, dir.Path("f" + std::to_string(i) + ".parquet"), 100, 50));
  auto appended = AppendFiles(fs, &*table, files, "c1");
  ASSERT_TRUE(appended.ok() && *appended) << appended.status().ToString();

  Rounds rounds, needs;
  ManualClock clock(1'795'000'000'000 + 3'600'000);  // the files' hour is recent
  MaintenanceSchedulerOptions o = OptionsFor(dir.Path("lake"), 3'600'000, &rounds);
  o.regions = {Region::kEu};
  o.clock = &clock;
  o.compact_check_ms = 10;
  o.compact_min_files = 3;
  o.need_report = [&needs](Region region, const Result<MaintenanceReport>& r) {
    std::lock_guard lock(needs.mu);
    needs.regions.push_back(region);
    needs.statuses.push_back(r.ok() ? Status::Ok() : r.status());
    if (r.ok()) {
      EXPECT_EQ(r->compacted_files, 3);
    }
    needs.cv.notify_all();
  };
  MaintenanceScheduler scheduler(o);
  scheduler.Start();
  {
    std::unique_lock lock(needs.mu);
    // The deadline only guards against a hang.
    ASSERT_TRUE(needs.cv.wait_for(lock, std::chrono::seconds(60), [&] { return !needs.regions.empty(); }));
  }
  scheduler.Stop();
  std::lock_guard lock(rounds.mu);
  EXPECT_TRUE(rounds.regions.empty()) << "no round was due";
  EXPECT_TRUE(needs.statuses[0].ok()) << needs.statuses[0].ToString();
  auto live = ListLiveFiles(fs, IcebergTable::Load(fs, location)->metadata());
  ASSERT_TRUE(live.ok());
  EXPECT_EQ(live->size(), 1u) << "the three small files became one";
}

TEST(MaintenanceSchedulerTest, StopDoesNotWaitForTheNextRound) {
  TempDir dir("maintenance_scheduler");
  Rounds rounds;
  MaintenanceScheduler scheduler(OptionsFor(dir.Path("lake"), 3'600'000, &rounds));
  scheduler.Start();
  const auto start = std::chrono::steady_clock::now();
  scheduler.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  scheduler.Stop();  // idempotent
  std::lock_guard lock(rounds.mu);
  EXPECT_TRUE(rounds.regions.empty());
}

}  // namespace
}  // namespace watershed::lake
