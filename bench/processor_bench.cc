// Processor throughput from an in-memory log: the cost of
// dedup + event-time windows + exact aggregates per event, side by side with
// the reference loop that only parses the same records and counts.
//
// Both benchmarks walk the same buffer of framed log records (CRC check and
// decode included) of one partition, built from the standard workload
// (Zipf stories, 2% re-sent batches, out-of-order and late events).

#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <filesystem>
#include <memory>
#include <vector>

#include "keys/key_provider.h"
#include "lake/file_keys.h"
#include "log/record_codec.h"
#include "stream/cold_store.h"
#include "stream/partition_processor.h"
#include "stream/region_processor.h"
#include "workload/generator.h"

namespace watershed {
namespace {

// Records in the log: 2 M, or $WATERSHED_BENCH_EVENTS (the 10 M-event file count of bench/RESULTS.md).
const size_t kEvents = [] {
  const char* n = std::getenv("WATERSHED_BENCH_EVENTS");
  return n && std::atoll(n) > 0 ? static_cast<size_t>(std::atoll(n)) : size_t{2'000'000};
}();

// The log of one partition, as bytes: events re-sent in 2% of batches of 100.
const std::string& InMemoryLog() {
  static const std::string log = [] {
    workload::WorkloadOptions w;
    w.base_time_ms = 1'700'000'000'000;
    w.event_time_rate = 20'000;
    workload::Generator gen(w);
    std::string out;
    std::vector<Event> batch;
    int64_t append_ms = w.base_time_ms;
    size_t n = 0, batch_index = 0;
    while (n < kEvents) {
      batch.clear();
      for (int i = 0; i < 100; ++i) batch.push_back(gen.Next());
      const int copies = workload::IsRetriedBatch(w, batch_index++) ? 2 : 1;
      for (int c = 0; c < copies; ++c)
        for (const Event& e : batch) {
          log::AppendRecord(append_ms, e, &out);
          ++n;
        }
      append_ms += 5;  // 20 000 events/s of log time
    }
    return out;
  }();
  return log;
}

// Calls fn(record) for every record of the buffer, in order.
template <typename Fn>
void ForEachRecord(const std::string& log, Fn&& fn) {
  std::string_view rest = log;
  log::LogRecord r;
  uint64_t offset = 0;
  uint32_t len = 0;
  while (log::CheckFrame(rest, &len) == log::Frame::kRecord) {
    if (!log::DecodePayload(rest.substr(8, len), &r).ok()) std::abort();
    r.offset = LogOffset(offset++);
    fn(r);
    rest.remove_prefix(8 + len);
  }
}

void ReportRss(benchmark::State& state) {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  state.counters["peak_rss_MiB"] = static_cast<double>(u.ru_maxrss) / 1024.0;
}

// Reference: parse every record and count views per story in a flat array.
void BM_ParseAndCount(benchmark::State& state) {
  const std::string& log = InMemoryLog();
  for (auto _ : state) {
    std::vector<uint64_t> views(10'001);
    uint64_t records = 0;
    ForEachRecord(log, [&](const log::LogRecord& r) {
      views[r.event.story_id.value % views.size()] += r.event.type == EventType::kView;
      ++records;
    });
    benchmark::DoNotOptimize(views.data());
    state.SetItemsProcessed(state.items_processed() + static_cast<int64_t>(records));
  }
  ReportRss(state);
}
BENCHMARK(BM_ParseAndCount)->Unit(benchmark::kMillisecond)->UseRealTime();

// Watershed: parse + PartitionProcessor (dedup, 5 s and 1 min windows, exact
// unique viewers, story totals), a live-store write every 8192 records.
// BM_ProcessorEvicting: the same with story-idle-evict = 20 s of this log's
// 100 s and a cold store under $TMPDIR. No story is both idle and closed in
// so short a log (a 1-minute window closes 2 min after it opens), so its
// ratio to BM_Processor is the cost of the eviction bookkeeping per event;
// state_bench measures evicting and reloading.
void RunProcessor(benchmark::State& state, int64_t idle_ms) {
  const std::string& log = InMemoryLog();
  size_t dedup_entries = 0, dedup_bytes = 0;
  const char* tmp = std::getenv("TMPDIR");
  const std::string cold_dir = std::string(tmp ? tmp : "/tmp") + "/watershed-processor-bench-cold";
  uint64_t evicted = 0, reloaded = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::filesystem::remove_all(cold_dir);
    auto cold = stream::ColdStore::Open(FileSystem::Default(), cold_dir, 0, 1, "", HashKey{1, 2});
    if (!cold.ok()) std::abort();
    state.ResumeTiming();
    stream::ProcessorOptions options;
    options.story_idle_evict_ms = idle_ms;
    stream::PartitionProcessor p(Region::kUs, 0, options);
    if (idle_ms > 0) p.SetColdStore(cold->get());
    serve::PartitionWrite write;
    std::vector<log::LogRecord> chunk;
    uint64_t records = 0;
    // As the region processor does: a chunk of records, then one live-store write.
    ForEachRecord(log, [&](const log::LogRecord& r) {
      chunk.push_back(r);
      if (chunk.size() == 8192) {
        p.ProcessBatch(chunk);
        p.TakeWrite(&write);
        records += chunk.size();
        chunk.clear();
      }
    });
    p.ProcessBatch(chunk);
    p.TakeWrite(&write);
    records += chunk.size();
    benchmark::DoNotOptimize(write.stories.data());
    dedup_entries = p.dedup_entries();
    dedup_bytes = p.dedup_memory_bytes();
    evicted = p.evicted_total();
    reloaded = p.reloaded_total();
    state.SetItemsProcessed(state.items_processed() + static_cast<int64_t>(records));
  }
  state.counters["dedup_bytes_per_entry"] = static_cast<double>(dedup_bytes) / static_cast<double>(dedup_entries);
  if (idle_ms > 0) state.counters["evicted"] = static_cast<double>(evicted);
  if (idle_ms > 0) state.counters["reloaded"] = static_cast<double>(reloaded);
  std::filesystem::remove_all(cold_dir);
  ReportRss(state);
}
void BM_Processor(benchmark::State& state) { RunProcessor(state, 0); }
BENCHMARK(BM_Processor)->Unit(benchmark::kMillisecond)->UseRealTime();
void BM_ProcessorEvicting(benchmark::State& state) { RunProcessor(state, 20'000); }
BENCHMARK(BM_ProcessorEvicting)->Unit(benchmark::kMillisecond)->UseRealTime();

// BM_Processor plus the lake sink as the region processor runs it: raw,
// distinct events and closed minutes buffered, and every 200 000 records
// (10 s of this log) a checkpoint's Prepare. Arg 1 (lake-commit-interval 0):
// each checkpoint also commits (an Iceberg append per table). Arg 0 (the
// default 5 min interval, longer than this 100 s log): the checkpoints only
// carry the sink's state and the one commit is at the end. Arg 2: as arg 0
// with `lake-carry-buffers off`, the sink before issue #20 (every checkpoint
// writes out every buffer, so files are cut at checkpoints). Files are sorted,
// encoded, zstd-compressed and fsynced. The lake lives under $TMPDIR
// (default /tmp); the ratio to BM_Processor is the sink's cost; `files` and
// `mean_file_KiB` count the Parquet files the run left. Arg 3: arg 0 with
// every lake file encrypted (Parquet modular encryption, issue #13); the
// ratio 3 / 0 is encryption's cost.
void BM_ProcessorWithLake(benchmark::State& state) {
  const std::string& log = InMemoryLog();
  const char* tmp = std::getenv("TMPDIR");
  const std::string root = std::string(tmp ? tmp : "/tmp") + "/watershed-processor-bench-lake";
  const bool commit_every_checkpoint = state.range(0) == 1;
  // Arg 3: as arg 0 with `encryption = on` (every file under a fresh data
  // key wrapped by a local KEK, its sidecar written beside it).
  std::shared_ptr<keys::KeyProvider> kek;
  if (state.range(0) == 3) {
    const std::string keys_dir = root + "-keys";
    std::filesystem::remove_all(keys_dir);
    if (!keys::LocalKeyStore(keys_dir, "us").Create(true).ok()) std::abort();
    kek = keys::NewLocalKeyProvider(keys_dir, "us");
    lake::SetDefaultFileKeys(lake::NewLakeFileKeys(root, [kek](std::string_view) { return kek.get(); }));
  }
  uint64_t lake_bytes = 0, files = 0, file_bytes = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::filesystem::remove_all(root);
    lake::LakeSinkOptions options;
    options.carry_buffers = state.range(0) != 2;  // as `watershed serve` runs it (lake-carry-buffers = on)
    auto lake = lake::RegionLake::Open(FileSystem::Default(), root, Region::kUs, options);
    if (!lake.ok()) std::abort();
    state.ResumeTiming();
    stream::PartitionProcessor p(Region::kUs, 0, stream::ProcessorOptions{});
    lake::PartitionSink sink(lake->get(), 0);
    if (!sink.Recover("", 0).ok()) std::abort();
    serve::PartitionWrite write;
    std::vector<log::LogRecord> chunk;
    std::vector<uint8_t> distinct;
    uint64_t records = 0, last_checkpoint = 0;
    auto step = [&] {
      p.ProcessBatch(chunk, &distinct);
      p.TakeWrite(&write);
      stream::FeedLakeSink(sink, Region::kUs, /*catalog=*/nullptr, chunk, distinct, write);
      if (!sink.MaybeFlush(records + chunk.size()).ok()) std::abort();
      records += chunk.size();
      chunk.clear();
      if (records - last_checkpoint >= 200'000 || records == kEvents) {
        const bool commit = commit_every_checkpoint || records == kEvents;
        if (!sink.Prepare(records, commit).ok()) std::abort();
        sink.Saved();
        if (commit && !sink.Commit().ok()) std::abort();
        last_checkpoint = records;
      }
    };
    ForEachRecord(log, [&](const log::LogRecord& r) {
      chunk.push_back(r);
      if (chunk.size() == 8192) step();
    });
    step();
    state.SetItemsProcessed(state.items_processed() + static_cast<int64_t>(records));
    state.PauseTiming();
    lake_bytes = files = file_bytes = 0;
    for (const auto& f : std::filesystem::recursive_directory_iterator(root)) {
      if (!f.is_regular_file()) continue;
      lake_bytes += f.file_size();
      if (f.path().extension() == ".parquet") ++files, file_bytes += f.file_size();
    }
    state.ResumeTiming();
  }
  state.counters["lake_bytes_per_event"] = static_cast<double>(lake_bytes) / static_cast<double>(kEvents);
  state.counters["files"] = static_cast<double>(files);
  state.counters["mean_file_KiB"] = files ? static_cast<double>(file_bytes) / 1024.0 / static_cast<double>(files) : 0;
  std::filesystem::remove_all(root);
  if (kek) {
    lake::SetDefaultFileKeys(nullptr);
    std::filesystem::remove_all(root + "-keys");
  }
  ReportRss(state);
}
BENCHMARK(BM_ProcessorWithLake)->Arg(0)->Arg(1)->Arg(2)->Arg(3)->Unit(benchmark::kMillisecond)->UseRealTime();

// One checkpoint save of a 256 KiB state (temporary, fdatasync, rename,
// directory fsync), unfenced (arg 0: the reference) and fenced (arg 1: the
// owner epoch is listed just before the rename, as RegionProcessor saves).
void BM_CheckpointSave(benchmark::State& state) {
  const char* tmp = std::getenv("TMPDIR");
  const std::string dir = std::string(tmp ? tmp : "/tmp") + "/watershed-processor-bench-ckpt";
  std::filesystem::remove_all(dir);
  stream::CheckpointStore store(FileSystem::Default(), dir);
  uint64_t owner = 0;
  if (state.range(0) == 1) {
    auto claimed = store.Claim(Region::kUs, 0);
    if (!claimed.ok()) std::abort();
    owner = *claimed;
  }
  stream::Checkpoint c;
  c.state.assign(256 << 10, 'x');
  for (auto _ : state) {
    ++c.id;
    if (!store.Save(Region::kUs, 0, c, owner).ok()) std::abort();
  }
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_CheckpointSave)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
}  // namespace watershed

BENCHMARK_MAIN();
