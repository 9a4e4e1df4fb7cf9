// Per-story state at scale (issue #18): one viewer makes N stories with one
// event each (1 ms of log time apart), then 70 minutes of honest traffic on
// 100 stories (100 events/s: longer than the default idle time of 1 h). Prints the processor's memory and a
// checkpoint's time and size, with idle eviction (story-idle-evict = the
// second argument, ms) or without (0: the reference, every story resident
// forever, as before eviction existed). Run each side in its own process,
// so RSS is that side's alone:
//   state_bench 10000000 0; state_bench 10000000 3600000
// The dedup TTL is 5 min on both sides, so the dedup ring (bounded by its
// TTL, not by stories) does not hide the difference; series retention is
// the default (1 h / 24 h).

#include <malloc.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "stream/checkpoint.h"
#include "stream/cold_store.h"
#include "stream/partition_processor.h"

namespace watershed {
namespace {

double RssMiB() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) / 1024.0;
  return 0;
}

// Bytes the heap has handed out and not got back: the live state, whatever
// the allocator keeps for reuse.
double HeapInUseMiB() {
  const struct mallinfo2 m = mallinfo2();
  return static_cast<double>(m.uordblks + m.hblkhd) / (1 << 20);  // small blocks + mmapped large ones
}

double PeakRssMiB() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

log::LogRecord Record(uint64_t offset, int64_t t, uint64_t story, uint64_t viewer, uint64_t n) {
  Event e;
  e.event_id = EventId::FromHiLo(viewer, n);
  e.type = EventType::kView;
  e.story_id = StoryId(story);
  e.author_id = AuthorId(1);
  e.viewer_id = ViewerId(viewer);
  e.event_time = EventTimeMs(t);
  e.watch_ms = 1000;
  e.region = Region::kUs;
  return {LogOffset(offset), AppendTimeMs(t), e};
}

int Run(uint64_t stories, int64_t idle_ms) {
  const char* tmp = std::getenv("TMPDIR");
  const std::string dir = std::string(tmp ? tmp : "/tmp") + "/watershed-state-bench";
  std::filesystem::remove_all(dir);
  stream::CheckpointStore checkpoints(FileSystem::Default(), dir);
  const std::string region_dir = checkpoints.RegionDir(Region::kUs);
  auto cold = stream::ColdStore::Open(FileSystem::Default(), region_dir, 0, 1, "", {1, 2});
  if (!cold.ok()) return std::fprintf(stderr, "%s\n", cold.status().ToString().c_str()), 1;
  stream::ProcessorOptions options;
  options.hash_key = HashKey{1, 2};
  options.dedup_ttl_ms = 300'000;
  options.story_idle_evict_ms = idle_ms;
  stream::PartitionProcessor p(Region::kUs, 0, options);
  if (idle_ms > 0) p.SetColdStore(cold->get());

  const double rss_before = RssMiB();
  const auto start = std::chrono::steady_clock::now();
  constexpr int64_t kT0 = 1'700'000'000'000;
  std::vector<log::LogRecord> batch;
  serve::PartitionWrite w;
  uint64_t offset = 0;
  auto flush = [&] {
    p.ProcessBatch(batch);
    p.TakeWrite(&w);
    batch.clear();
  };
  for (uint64_t i = 0; i < stories; ++i) {
    batch.push_back(Record(offset++, kT0 + static_cast<int64_t>(i), 1'000'000 + i * 7919, 666, i));
    if (batch.size() == 8192) flush();
  }
  flush();
  const double attack_s = Seconds(start);
  const int64_t end = kT0 + static_cast<int64_t>(stories);
  for (int64_t ms = 10; ms <= 4'200'000; ms += 10) {
    batch.push_back(Record(offset, end + ms, 42 + offset % 100, 7 + offset % 1000, offset));
    ++offset;
    if (batch.size() == 8192) flush();
  }
  flush();
  if (!p.status().ok()) return std::fprintf(stderr, "%s\n", p.status().ToString().c_str()), 1;
  const double heap = HeapInUseMiB();
  malloc_trim(0);  // what the process would keep once the allocator returns freed pages
  const double rss = RssMiB();

  const auto ckpt_start = std::chrono::steady_clock::now();
  stream::Checkpoint c;
  c.id = 1;
  c.next_offset = p.next_offset();
  p.Serialize(&c.state);
  if (idle_ms > 0) {
    auto ref = (*cold)->Commit();
    if (!ref.ok()) return std::fprintf(stderr, "%s\n", ref.status().ToString().c_str()), 1;
    c.cold = *ref;
  }
  if (Status s = checkpoints.Save(Region::kUs, 0, c); !s.ok())
    return std::fprintf(stderr, "%s\n", s.ToString().c_str()), 1;
  const double ckpt_s = Seconds(ckpt_start);

  std::printf(
      "stories %llu  story-idle-evict %lld ms\n"
      "  attack: %.1f s (%.2f M events/s)\n"
      "  resident stories %zu, cold stories %zu, cold file %.1f MiB (%.1f B per cold story), cold index %.1f MiB\n"
      "  heap in use after the run %.0f MiB; RSS after malloc_trim %.0f MiB (%.0f MiB above the start), peak %.0f MiB\n"
      "  checkpoint: %.3f s, state %.1f MiB\n",
      static_cast<unsigned long long>(stories), static_cast<long long>(idle_ms), attack_s,
      static_cast<double>(stories) / attack_s / 1e6, p.resident_stories(), (*cold)->size(),
      static_cast<double>((*cold)->file_bytes()) / (1 << 20),
      (*cold)->size() ? static_cast<double>((*cold)->file_bytes()) / static_cast<double>((*cold)->size()) : 0.0,
      static_cast<double>((*cold)->index_memory_bytes()) / (1 << 20), heap, rss, rss - rss_before, PeakRssMiB(), ckpt_s,
      static_cast<double>(c.state.size()) / (1 << 20));
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace watershed

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: state_bench STORIES IDLE_EVICT_MS (0 = never)\n");
    return 2;
  }
  return watershed::Run(std::strtoull(argv[1], nullptr, 10), std::strtoll(argv[2], nullptr, 10));
}
