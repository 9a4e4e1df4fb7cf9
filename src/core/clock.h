#pragma once
// Time behind an interface so tests can drive it. The processor never reads
// a clock: its results depend only on the log's contents.

#include <atomic>
#include <cstdint>

namespace watershed {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock milliseconds since the Unix epoch.
  virtual int64_t NowMs() const = 0;
  // Monotonic nanoseconds, for measuring durations only.
  virtual int64_t MonotonicNs() const = 0;
  // The process-wide real clock.
  static Clock* Real();
};

// A clock that moves only when told. Thread-safe.
class ManualClock : public Clock {
 public:
  explicit ManualClock(int64_t now_ms) : now_ms_(now_ms) {}
  int64_t NowMs() const override { return now_ms_.load(); }
  int64_t MonotonicNs() const override { return now_ms_.load() * 1'000'000; }
  void AdvanceMs(int64_t ms) { now_ms_ += ms; }
  void SetMs(int64_t ms) { now_ms_ = ms; }

 private:
  std::atomic<int64_t> now_ms_;
};

}  // namespace watershed
