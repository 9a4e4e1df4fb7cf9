#pragma once
// Tests only: events and helpers shared by the tests of every Log
// implementation (embedded, Kafka).

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <vector>

#include "core/event.h"
#include "log/log.h"

namespace watershed::log::testing {

inline constexpr int64_t kT0 = 1'700'000'000'000;

// Event `seq` of `story`: all three types, traceparent on every other one.
inline Event MakeEvent(uint64_t story, uint64_t seq) {
  Event e;
  e.event_id = EventId::FromHiLo(story, seq);
  e.type = seq % 3 == 0 ? EventType::kView : (seq % 3 == 1 ? EventType::kShare : EventType::kReply);
  e.story_id = StoryId(story);
  e.author_id = AuthorId(story * 7 + 1);
  e.viewer_id = ViewerId(1000 + seq);
  e.event_time = EventTimeMs(kT0 - 5000 + static_cast<int64_t>(seq));
  e.watch_ms = e.type == EventType::kView ? static_cast<uint32_t>(seq % 60'000) : 0;
  e.region = Region::kEu;
  if (seq % 2 == 0) e.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  return e;
}

// Appends and waits (at most `patience`) for the callback; *calls (if
// given) counts its invocations.
inline Status AppendAndWait(Log& log, std::vector<Event> events, std::shared_ptr<std::atomic<int>> calls = nullptr,
                            std::chrono::seconds patience = std::chrono::seconds(30)) {
  auto promise = std::make_shared<std::promise<Status>>();
  auto future = promise->get_future();
  if (!calls) calls = std::make_shared<std::atomic<int>>(0);
  log.AppendAsync(std::move(events), [promise, calls](Status s) {
    if (calls->fetch_add(1) == 0) promise->set_value(std::move(s));
  });
  if (future.wait_for(patience) != std::future_status::ready) return Status::Internal("append callback never ran");
  return future.get();
}

}  // namespace watershed::log::testing
