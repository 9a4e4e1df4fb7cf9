#pragma once
// Process metrics rendered in the Prometheus text format (version 0.0.4).
// Counters and histograms are lock-free to update; registration happens at
// start-up. A Registry owns its metrics; pointers stay valid for its life.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace watershed {

class Counter {
 public:
  void Add(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t Value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// Fixed buckets in seconds, from 25 µs to 10 s.
class Histogram {
 public:
  Histogram();
  void ObserveSeconds(double s) { ObserveSeconds(s, 1); }
  // `times` observations of the same value (a batch of records of one append time).
  void ObserveSeconds(double s, uint64_t times);
  void ObserveNanos(int64_t ns) { ObserveSeconds(static_cast<double>(ns) * 1e-9); }
  const std::vector<double>& bounds() const { return bounds_; }
  uint64_t BucketCount(size_t i) const { return counts_[i].load(std::memory_order_relaxed); }
  uint64_t Count() const { return count_.load(std::memory_order_relaxed); }
  double Sum() const;
  // Upper bound of the bucket holding quantile q (0 < q <= 1); 0 when empty.
  double Quantile(double q) const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds_.size() + 1 (+Inf)
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_ns_{0};
};

class MetricsRegistry {
 public:
  // `labels` is a Prometheus label set without braces, e.g. `path="/v1/events"`.
  Counter* AddCounter(const std::string& name, const std::string& help, const std::string& labels = "");
  Histogram* AddHistogram(const std::string& name, const std::string& help, const std::string& labels = "");
  // A gauge read at render time.
  void AddGauge(const std::string& name, const std::string& help, std::function<double()> read,
                const std::string& labels = "");
  // A counter read at render time (a total some component keeps, which only
  // grows while that component lives: TYPE counter, so rate() applies).
  void AddCounterFunc(const std::string& name, const std::string& help, std::function<double()> read,
                      const std::string& labels = "");
  // Text format 0.0.4; the samples of one name together under one HELP and
  // TYPE, whatever order they were registered in (kept so as they register).
  std::string RenderPrometheus() const;

 private:
  struct Entry {
    std::string name, help, labels, type;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Histogram> histogram;
    std::function<double()> read;  // gauges and counters read at render time
  };
  void AddRead(const std::string& name, const std::string& help, std::function<double()> read,
               const std::string& labels, const char* type);
  static std::unique_ptr<Entry> NewEntry(const std::string& name, const std::string& help, const std::string& labels,
                                         const char* type);
  void Insert(std::unique_ptr<Entry> e);  // complete, after the last entry of its name

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Entry>> entries_;
};

}  // namespace watershed
