#pragma once
// Tests only: what the live store holds, as plain maps, so that a processor's
// output or a store's contents can be compared with workload::Truth.

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <utility>

#include "serve/live_store.h"
#include "workload/truth.h"

namespace watershed::stream::testing {

// Story totals (with the author) and windows (with their final flag), keyed
// like workload::Truth.
struct StoreModel {
  std::map<uint64_t, std::pair<uint64_t, serve::Aggregates>> stories;
  std::map<workload::WindowKey, std::pair<serve::Aggregates, bool>> windows;
  bool operator==(const StoreModel&) const = default;

  // Absolute values overwrite, as the live store does.
  void Apply(const serve::PartitionWrite& w) {
    for (const auto& s : w.stories) stories[s.story.value] = {s.author.value, s.totals};
    for (const auto& u : w.windows)
      windows[{u.key.story.value, serve::WindowMs(u.key.size), u.key.start}] = {u.agg, u.final};
    for (const auto& k : w.dropped_windows) windows.erase({k.story.value, serve::WindowMs(k.size), k.start});
  }
};

inline serve::Aggregates Convert(const workload::Aggregates& a) {
  return {a.views, a.unique_viewers, a.watch_time_ms, a.shares, a.replies};
}

inline StoreModel FromTruth(const workload::Truth& t) {
  StoreModel m;
  for (const auto& [id, s] : t.stories) m.stories[id] = {s.author_id, Convert(s.totals)};
  for (const auto& [key, w] : t.windows) m.windows[key] = {Convert(w.agg), w.final};
  return m;
}

// What the live store answers, over every story it knows (with totals).
// Include from a GoogleTest file only.
inline StoreModel Dump(serve::LiveStore& store) {
  StoreModel d;
  auto all = store.TopStoriesOverall(serve::TopBy::kViews, SIZE_MAX);
  EXPECT_TRUE(all.ok());
  if (!all.ok()) return d;
  for (const auto& m : all.value()) {
    auto one = store.GetStory(m.story);
    EXPECT_TRUE(one.ok() && one.value().has_value());
    if (!one.ok() || !one.value()) continue;
    d.stories[m.story.value] = {one.value()->author.value, one.value()->totals};
    for (serve::WindowSize size : {serve::WindowSize::k5s, serve::WindowSize::k1m}) {
      auto series = store.GetSeries(m.story, size, 0, INT64_MAX);
      EXPECT_TRUE(series.ok());
      if (!series.ok()) continue;
      for (const auto& p : series.value())
        d.windows[{m.story.value, serve::WindowMs(size), p.start}] = {p.agg, p.final};
    }
  }
  return d;
}

// First difference between two models, for readable failures; "" when equal.
inline std::string Diff(const StoreModel& got, const StoreModel& want) {
  if (got.stories.size() != want.stories.size())
    return "story count " + std::to_string(got.stories.size()) + " vs " + std::to_string(want.stories.size());
  for (const auto& [id, s] : want.stories) {
    auto it = got.stories.find(id);
    if (it == got.stories.end()) return "missing story " + std::to_string(id);
    if (it->second != s)
      return "story " + std::to_string(id) + " views " + std::to_string(it->second.second.views) + " vs " +
             std::to_string(s.second.views) + " uv " + std::to_string(it->second.second.unique_viewers) + " vs " +
             std::to_string(s.second.unique_viewers);
  }
  if (got.windows.size() != want.windows.size())
    return "window count " + std::to_string(got.windows.size()) + " vs " + std::to_string(want.windows.size());
  for (const auto& [k, w] : want.windows) {
    auto it = got.windows.find(k);
    const std::string name = std::to_string(std::get<0>(k)) + "/" + std::to_string(std::get<1>(k)) + "/" +
                             std::to_string(std::get<2>(k));
    if (it == got.windows.end()) return "missing window " + name;
    if (it->second.first != w.first) return "window " + name + " aggregates differ";
    if (it->second.second != w.second) return "window " + name + " final " + std::to_string(it->second.second);
  }
  return "";
}

}  // namespace watershed::stream::testing
