// MemoryLiveStore: what a top list costs as the number of stories grows,
// and what a processor's write costs with the ordered rank lists that make
// top lists O(limit) (issue #18 item 4). Read the ratios: TopOverall at
// 100k stories over TopOverall at 1k (1 when the cost is the limit's, ~100
// when a read scans every story), and Apply against the same binary built
// from the commit before the rank lists (bench/RESULTS.md). WritesThenTop:
// the writes' rank moves deferred to the next read.

#include <benchmark/benchmark.h>
#include <malloc.h>

#include <algorithm>
#include <cstdlib>
#include <memory>

#include "serve/live_store.h"

namespace watershed::serve {
namespace {

// A memory store filled with `stories` stories in writes of 1000; add(id, write) puts story `id` in its write.
template <typename AddStory>
std::unique_ptr<LiveStore> FillStore(int64_t stories, AddStory add) {
  auto store = NewMemoryLiveStore();
  uint64_t offset = 0;
  for (int64_t first = 0; first < stories; first += 1000) {
    PartitionWrite w;
    w.next_offset = ++offset;
    for (int64_t id = first; id < std::min(stories, first + 1000); ++id) add(id, w);
    if (!store->Apply(w).ok()) std::abort();
  }
  return store;
}

// `stories` stories, views in 0..99 (many ties).
std::unique_ptr<LiveStore> Filled(int64_t stories) {
  return FillStore(stories, [](int64_t id, PartitionWrite& w) {
    const uint64_t v = static_cast<uint64_t>(id * 7919 % 100);
    w.stories.push_back(StoryUpdate{StoryId(static_cast<uint64_t>(id)), AuthorId(static_cast<uint64_t>(id % 97)),
                                    Aggregates{v, v / 2, v * 100, v % 7, 0}});
  });
}

// Top 10 by views over range(0) stories.
void BM_TopOverall(benchmark::State& state) {
  auto store = Filled(state.range(0));
  for (auto _ : state) {
    auto top = store->TopStoriesOverall(TopBy::kViews, 10);
    if (!top.ok() || top->size() != 10) std::abort();
    benchmark::DoNotOptimize(top);
  }
}
BENCHMARK(BM_TopOverall)->Arg(1'000)->Arg(100'000);

// A processor's write at `offset`: 50 existing stories of a `stories`-story
// store (from the round-th 50 of a stride through them, or the first 50 when
// `hot`), each with more views, unique viewers and watch time (shares and
// replies as they were: what most events change), so each moves in three
// rank lists.
PartitionWrite Raise50(uint64_t stories, uint64_t round, uint64_t offset, bool hot) {
  PartitionWrite w;
  w.next_offset = offset;
  for (uint64_t i = 0; i < 50; ++i) {
    const uint64_t id = ((hot ? 0 : round * 50) + i) * 2003 % stories;
    const uint64_t v = id * 7919 % 100;
    w.stories.push_back(
        StoryUpdate{StoryId(id), AuthorId(id % 97), Aggregates{v + round, v / 2 + round, v * 100 + round, v % 7, 0}});
  }
  return w;
}

void BM_Apply50(benchmark::State& state) {
  const uint64_t stories = static_cast<uint64_t>(state.range(0));
  auto store = Filled(state.range(0));
  uint64_t offset = 1'000'000, round = 0;
  for (auto _ : state)
    if (!store->Apply(Raise50(stories, ++round, ++offset, false)).ok()) std::abort();
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * 50);
}
BENCHMARK(BM_Apply50)->Arg(2'000)->Arg(100'000);

// Writes, then a top 10 by views; the time is the whole round. A store that
// defers rank moves to the read pays them there. range(1) writes of 50 per
// read; range(2) = 1: the same 50 hot stories each time (a store that moves
// a story once per read instead of once per write shows there).
void BM_WritesThenTop(benchmark::State& state) {
  const uint64_t stories = static_cast<uint64_t>(state.range(0));
  auto store = Filled(state.range(0));
  uint64_t offset = 1'000'000, round = 0;
  for (auto _ : state) {
    for (int64_t write = 0; write < state.range(1); ++write)
      if (!store->Apply(Raise50(stories, ++round, ++offset, state.range(2) == 1)).ok()) std::abort();
    auto top = store->TopStoriesOverall(TopBy::kViews, 10);
    if (!top.ok() || top->size() != 10) std::abort();
    benchmark::DoNotOptimize(top);
  }
}
BENCHMARK(BM_WritesThenTop)
    ->Args({2'000, 1, 0})
    ->Args({100'000, 1, 0})
    ->Args({2'000, 100, 1})
    ->Args({100'000, 100, 1});

// The per-region layout (region names as configuration): `stories` stories of one region, each with a story part,
// 12 five-second windows and a one-minute window, written in writes of 1000 stories. Counter: heap bytes per story
// the store holds after the fill (glibc's mallinfo2), the figure to compare across layouts.
void BM_FillWithWindows(benchmark::State& state) {
  const int64_t stories = state.range(0);
  double per_story = 0;
  for (auto _ : state) {
    state.PauseTiming();  // mallinfo2 walks the heap: not timed
    const size_t before = mallinfo2().uordblks;
    state.ResumeTiming();
    auto store = FillStore(stories, [](int64_t id, PartitionWrite& w) {
      const StoryId story(static_cast<uint64_t>(id));
      w.stories.push_back(StoryUpdate{story, AuthorId(static_cast<uint64_t>(id % 97)), Aggregates{12, 6, 1200, 1, 0}});
      for (int64_t k = 0; k < 12; ++k)
        w.windows.push_back(
            WindowUpdate{WindowKey{story, WindowSize::k5s, k * 5000}, Aggregates{1, 1, 100, 0, 0}, false});
      w.windows.push_back(WindowUpdate{WindowKey{story, WindowSize::k1m, 0}, Aggregates{12, 6, 1200, 1, 0}, false});
    });
    state.PauseTiming();
    per_story = static_cast<double>(mallinfo2().uordblks - before) / static_cast<double>(stories);
    store.reset();
    state.ResumeTiming();
  }
  state.counters["heap_bytes_per_story"] = per_story;
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * stories);
}
BENCHMARK(BM_FillWithWindows)->Arg(20'000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace watershed::serve

BENCHMARK_MAIN();
