// Issue #20, "a file-count test": an hour of event time through a region's
// processor and lake sink, in compressed time (a ManualClock drives the
// checkpoints and commits; 120,000 events instead of 36 M). Before
// compaction a table holds at most one file per Iceberg partition (hour,
// bucket) and commit — files are cut by commits, never by checkpoints; the
// old behaviour (lake-carry-buffers off) is run too, to show the bound is
// one the code can miss. After compaction to a small target (256 KiB here,
// 128 MiB in production, each bucket's hour holding a bit more than half of
// it; story popularity uniform so the buckets hold about the same), at least
// 90 % of the bytes are in files of at least half the target (none before).

#include <gtest/gtest.h>

#include <future>
#include <map>
#include <set>

#include "core/clock.h"
#include "core/testing/temp_dir.h"
#include "core/testing/wait.h"
#include "lake/iceberg_commit.h"
#include "lake/iceberg_maintenance.h"
#include "lake/lake_sink.h"
#include "log/embedded_log.h"
#include "serve/live_store.h"
#include "stream/region_processor.h"
#include "workload/generator.h"

namespace watershed::stream {
namespace {

constexpr uint32_t kLogPartitions = 8;
constexpr int kBuckets = 16;
constexpr int64_t kHourStartMs = 1'700'002'800'000;  // a whole hour (472,223 h)
constexpr int kTicks = 60;                           // one checkpoint per minute
constexpr int64_t kTickMs = 60'000;
constexpr size_t kEventsPerTick = 2'000;
constexpr int64_t kCommitIntervalMs = 300'000;  // 12 commits in the hour

struct LakeFiles {
  size_t files = 0;
  int64_t bytes = 0;
  std::map<int32_t, size_t> files_per_hour;  // by the time partition's value
  std::set<std::vector<std::optional<int32_t>>> partitions;
  std::vector<int64_t> sizes;
};

LakeFiles LiveFiles(const std::string& root, lake::LakeTableId id) {
  LakeFiles out;
  auto table = lake::IcebergTable::Load(FileSystem::Default(), lake::TableLocation(root, Region::kUs, id));
  EXPECT_TRUE(table.ok()) << table.status().ToString();
  if (!table.ok()) return out;
  auto live = lake::ListLiveFiles(FileSystem::Default(), table->metadata());
  EXPECT_TRUE(live.ok()) << live.status().ToString();
  if (!live.ok()) return out;
  for (const lake::ManifestEntry& e : *live) {
    ++out.files;
    out.bytes += e.file.file_size_in_bytes;
    out.partitions.insert(e.file.partition);
    if (!e.file.partition.empty() && e.file.partition[0]) ++out.files_per_hour[*e.file.partition[0]];
    out.sizes.push_back(e.file.file_size_in_bytes);
  }
  return out;
}

// Runs the hour through one processor; returns the lake root.
std::string RunAnHour(const watershed::testing::TempDir& dir, const std::string& name, bool carry_buffers) {
  log::EmbeddedLogOptions o;
  o.dir = dir.Path(name + "-log");
  o.partitions = kLogPartitions;
  o.fsync = log::FsyncPolicy::kNever;
  auto log = log::EmbeddedLog::Open(o);
  EXPECT_TRUE(log.ok()) << log.status().ToString();
  if (!log.ok()) return "";
  const std::string root = dir.Path(name + "-lake");
  lake::LakeSinkOptions sink;
  sink.carry_buffers = carry_buffers;
  sink.file_max_age_ms = kCommitIntervalMs;  // serve's default: lake-file-max-age = lake-commit-interval
  auto lake = lake::RegionLake::Open(FileSystem::Default(), root, Region::kUs, sink);
  EXPECT_TRUE(lake.ok()) << lake.status().ToString();
  if (!lake.ok()) return "";
  ManualClock clock(kHourStartMs);
  RunnerOptions options;
  options.clock = &clock;
  options.checkpoint_interval_ms = kTickMs;
  options.lake = lake->get();
  options.lake_commit_interval_ms = kCommitIntervalMs;
  CheckpointStore checkpoints(FileSystem::Default(), dir.Path(name + "-ckpt"));
  auto store = serve::NewMemoryLiveStore();
  RegionProcessor p(Region::kUs, log->get(), store.get(), &checkpoints, options);
  EXPECT_TRUE(p.Start().ok());

  workload::WorkloadOptions w;
  w.seed = 20;
  w.stories = 5'000;
  w.zipf_s = 0;  // uniform: every bucket holds about the same bytes
  w.viewers = 100'000;
  w.event_time_rate = static_cast<double>(kEventsPerTick) * 1000 / kTickMs;
  w.base_time_ms = kHourStartMs;
  w.late_fraction = 0;  // every event in the hour
  w.out_of_order_fraction = 0;
  workload::Generator gen(w);
  for (int tick = 0; tick < kTicks; ++tick) {
    std::vector<Event> batch;
    for (size_t i = 0; i < kEventsPerTick; ++i) {
      Event e = gen.Next();
      e.region = Region::kUs;
      batch.push_back(std::move(e));
    }
    std::promise<Status> done;
    auto f = done.get_future();
    (*log)->AppendAsync(batch, [&done](Status s) { done.set_value(std::move(s)); });
    EXPECT_TRUE(f.get().ok());
    EXPECT_TRUE(watershed::testing::WaitUntil([&] { return p.Lag() == 0; }));
    clock.AdvanceMs(kTickMs);
    EXPECT_TRUE(watershed::testing::WaitUntil([&] {
      for (const auto& s : p.GetStatus())
        if (s.checkpoint_offset != s.end_offset) return false;
      return true;
    }));
  }
  EXPECT_TRUE(p.Stop().ok());  // commits what is left
  (*log)->Close();
  return root;
}

TEST(LakeFileCountTest, AnHourMakesAFileperBucketAndCommitAndCompactionMakesThemLarge) {
  watershed::testing::TempDir dir("lake_file_count");
  const std::string carried = RunAnHour(dir, "carried", true);
  const std::string cut = RunAnHour(dir, "cut", false);
  ASSERT_FALSE(carried.empty());
  ASSERT_FALSE(cut.empty());
  // 12 commits in the hour and the one at Stop.
  const size_t bound = kBuckets * (kTicks * kTickMs / kCommitIntervalMs + 1);
  for (lake::LakeTableId id : {lake::LakeTableId::kRawEvents, lake::LakeTableId::kEvents}) {
    LakeFiles now = LiveFiles(carried, id), before = LiveFiles(cut, id);
    const auto hour = static_cast<int32_t>(kHourStartMs / 3'600'000);
    EXPECT_EQ(now.partitions.size(), static_cast<size_t>(kBuckets)) << "one event hour, every bucket";
    EXPECT_LE(now.files_per_hour[hour], bound) << "buckets x commits";
    EXPECT_GT(before.files_per_hour[hour], bound) << "files cut at every checkpoint miss the bound";
    std::printf("table %d: %zu files in the hour (%.1f KiB mean); cut at checkpoints: %zu (%.1f KiB)\n",
                static_cast<int>(id), now.files_per_hour[hour], now.bytes / 1024.0 / static_cast<double>(now.files),
                before.files_per_hour[hour], before.bytes / 1024.0 / static_cast<double>(before.files));
  }

  constexpr int64_t kTarget = 256 << 10;
  auto share_in_large = [&](const LakeFiles& f) {  // of the bytes, in files of at least half the target
    int64_t in_large = 0;
    for (int64_t size : f.sizes)
      if (size >= kTarget / 2) in_large += size;
    return static_cast<double>(in_large) / static_cast<double>(f.bytes);
  };
  const LakeFiles before = LiveFiles(carried, lake::LakeTableId::kRawEvents);
  auto table = lake::IcebergTable::Load(FileSystem::Default(),
                                        lake::TableLocation(carried, Region::kUs, lake::LakeTableId::kRawEvents));
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  lake::CompactionOptions c;
  c.target_file_size_bytes = kTarget;
  auto compacted = lake::CompactTable(FileSystem::Default(), &*table, c);
  ASSERT_TRUE(compacted.ok()) << compacted.status().ToString();
  ASSERT_TRUE(compacted->committed);
  const LakeFiles after = LiveFiles(carried, lake::LakeTableId::kRawEvents);
  std::printf("raw_events compacted to %lld KiB: %zu -> %zu files; bytes in files >= %lld KiB: %.1f %% -> %.1f %%\n",
              static_cast<long long>(kTarget >> 10), before.files, after.files, static_cast<long long>(kTarget >> 11),
              100 * share_in_large(before), 100 * share_in_large(after));
  EXPECT_LT(share_in_large(before), 0.1);
  EXPECT_GE(share_in_large(after), 0.9);
}

}  // namespace
}  // namespace watershed::stream
