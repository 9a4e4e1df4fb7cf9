#include "core/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace watershed {

Histogram::Histogram() {
  for (double b : {25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3,
                   250e-3, 500e-3, 1.0, 2.5, 5.0, 10.0})
    bounds_.push_back(b);
  counts_ = std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i] = 0;
}

void Histogram::ObserveSeconds(double s, uint64_t times) {
  size_t i = 0;
  while (i < bounds_.size() && s > bounds_[i]) ++i;
  counts_[i].fetch_add(times, std::memory_order_relaxed);
  count_.fetch_add(times, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<uint64_t>(std::llround(std::max(s, 0.0) * 1e9)) * times, std::memory_order_relaxed);
}

double Histogram::Sum() const { return static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) * 1e-9; }

double Histogram::Quantile(double q) const {
  uint64_t total = Count();
  if (total == 0) return 0;
  auto rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(total)));
  uint64_t seen = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    seen += BucketCount(i);
    if (seen >= rank) return i < bounds_.size() ? bounds_[i] : INFINITY;
  }
  return INFINITY;
}

std::unique_ptr<MetricsRegistry::Entry> MetricsRegistry::NewEntry(const std::string& name, const std::string& help,
                                                                   const std::string& labels, const char* type) {
  auto e = std::make_unique<Entry>();
  e->name = name, e->help = help, e->labels = labels, e->type = type;
  return e;
}

void MetricsRegistry::Insert(std::unique_ptr<Entry> e) {
  std::lock_guard lock(mu_);
  // After the last sample of its name, so a family renders as one group.
  auto same = std::find_if(entries_.rbegin(), entries_.rend(), [&](const auto& x) { return x->name == e->name; });
  entries_.insert(same == entries_.rend() ? entries_.end() : same.base(), std::move(e));
}

Counter* MetricsRegistry::AddCounter(const std::string& name, const std::string& help, const std::string& labels) {
  auto e = NewEntry(name, help, labels, "counter");
  e->counter = std::make_unique<Counter>();
  Counter* c = e->counter.get();
  Insert(std::move(e));
  return c;
}

Histogram* MetricsRegistry::AddHistogram(const std::string& name, const std::string& help,
                                         const std::string& labels) {
  auto e = NewEntry(name, help, labels, "histogram");
  e->histogram = std::make_unique<Histogram>();
  Histogram* h = e->histogram.get();
  Insert(std::move(e));
  return h;
}

void MetricsRegistry::AddRead(const std::string& name, const std::string& help, std::function<double()> read,
                              const std::string& labels, const char* type) {
  auto e = NewEntry(name, help, labels, type);
  e->read = std::move(read);
  Insert(std::move(e));
}

void MetricsRegistry::AddGauge(const std::string& name, const std::string& help, std::function<double()> read,
                               const std::string& labels) {
  AddRead(name, help, std::move(read), labels, "gauge");
}

void MetricsRegistry::AddCounterFunc(const std::string& name, const std::string& help, std::function<double()> read,
                                     const std::string& labels) {
  AddRead(name, help, std::move(read), labels, "counter");
}

namespace {
std::string Num(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  // Shortest text that reads back as v: le="0.005", not le="0.0050000000000000001".
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, ec == std::errc() ? end : buf);
}
std::string WithLabels(const std::string& labels, const std::string& extra = "") {
  std::string all = labels;
  if (!extra.empty()) all += (all.empty() ? "" : ",") + extra;
  return all.empty() ? "" : "{" + all + "}";
}
}  // namespace

std::string MetricsRegistry::RenderPrometheus() const {
  std::lock_guard lock(mu_);
  std::string out;
  const std::string* described = nullptr;
  for (const auto& e : entries_) {  // a name's samples are adjacent (Insert)
    if (described == nullptr || *described != e->name) {
      out += "# HELP " + e->name + " " + e->help + "\n";
      out += "# TYPE " + e->name + " " + e->type + "\n";
      described = &e->name;
    }
    if (e->counter) {
      out += e->name + WithLabels(e->labels) + " " + std::to_string(e->counter->Value()) + "\n";
    } else if (e->read) {
      out += e->name + WithLabels(e->labels) + " " + Num(e->read()) + "\n";
    } else {
      const Histogram& h = *e->histogram;
      uint64_t cumulative = 0;
      for (size_t i = 0; i <= h.bounds().size(); ++i) {
        cumulative += h.BucketCount(i);
        std::string le = i < h.bounds().size() ? Num(h.bounds()[i]) : "+Inf";
        out += e->name + "_bucket" + WithLabels(e->labels, "le=\"" + le + "\"") + " " +
               std::to_string(cumulative) + "\n";
      }
      out += e->name + "_sum" + WithLabels(e->labels) + " " + Num(h.Sum()) + "\n";
      out += e->name + "_count" + WithLabels(e->labels) + " " + std::to_string(cumulative) + "\n";
    }
  }
  return out;
}

}  // namespace watershed
