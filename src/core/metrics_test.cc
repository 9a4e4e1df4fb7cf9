#include "core/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

namespace watershed {
namespace {

bool Contains(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

std::vector<std::string> LinesStartingWith(const std::string& text, const std::string& prefix) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0) out.push_back(line);
  }
  return out;
}

uint64_t TrailingNumber(const std::string& line) { return std::stoull(line.substr(line.rfind(' ') + 1)); }

TEST(Metrics, CounterRendering) {
  MetricsRegistry reg;
  Counter* plain = reg.AddCounter("ws_events_total", "Events accepted.");
  Counter* labelled = reg.AddCounter("ws_requests_total", "HTTP requests.", "path=\"/v1/events\"");
  plain->Add();
  plain->Add(41);
  labelled->Add(3);
  EXPECT_EQ(plain->Value(), 42u);

  std::string text = reg.RenderPrometheus();
  EXPECT_TRUE(Contains(text, "# HELP ws_events_total Events accepted.")) << text;
  EXPECT_TRUE(Contains(text, "# TYPE ws_events_total counter")) << text;
  EXPECT_TRUE(Contains(text, "ws_events_total 42")) << text;
  EXPECT_TRUE(Contains(text, "ws_requests_total{path=\"/v1/events\"} 3")) << text;
  // HELP comes before TYPE, which comes before the sample.
  EXPECT_LT(text.find("# HELP ws_events_total"), text.find("# TYPE ws_events_total"));
  EXPECT_LT(text.find("# TYPE ws_events_total"), text.find("ws_events_total 42"));
}

TEST(Metrics, SameNameWithDifferentLabelsIsDescribedOnce) {
  MetricsRegistry reg;
  reg.AddCounter("ws_http_total", "Requests.", "code=\"200\"")->Add(5);
  reg.AddCounter("ws_http_total", "Requests.", "code=\"400\"")->Add(2);
  std::string text = reg.RenderPrometheus();
  EXPECT_EQ(LinesStartingWith(text, "# HELP ws_http_total").size(), 1u) << text;
  EXPECT_EQ(LinesStartingWith(text, "# TYPE ws_http_total").size(), 1u) << text;
  EXPECT_TRUE(Contains(text, "ws_http_total{code=\"200\"} 5")) << text;
  EXPECT_TRUE(Contains(text, "ws_http_total{code=\"400\"} 2")) << text;
}

TEST(Metrics, GaugeReadAtRenderTime) {
  MetricsRegistry reg;
  double lag = 7;
  reg.AddGauge("ws_lag_events", "Events not yet visible.", [&] { return lag; }, "region=\"eu\"");
  std::string text = reg.RenderPrometheus();
  EXPECT_TRUE(Contains(text, "# TYPE ws_lag_events gauge")) << text;
  EXPECT_TRUE(Contains(text, "ws_lag_events{region=\"eu\"} 7")) << text;
  lag = 0.5;
  text = reg.RenderPrometheus();
  EXPECT_TRUE(Contains(text, "ws_lag_events{region=\"eu\"} 0.5")) << text;
  lag = -INFINITY;
  EXPECT_TRUE(Contains(reg.RenderPrometheus(), "ws_lag_events{region=\"eu\"} -Inf"));
  lag = 0.1;
  EXPECT_TRUE(Contains(reg.RenderPrometheus(), "ws_lag_events{region=\"eu\"} 0.1"));
}

TEST(Metrics, CounterReadAtRenderTimeIsACounter) {
  MetricsRegistry reg;
  double processed = 12;
  reg.AddCounterFunc("ws_processed_total", "Records processed.", [&] { return processed; });
  std::string text = reg.RenderPrometheus();
  EXPECT_TRUE(Contains(text, "# TYPE ws_processed_total counter")) << text;
  EXPECT_TRUE(Contains(text, "ws_processed_total 12")) << text;
  processed = 13;
  EXPECT_TRUE(Contains(reg.RenderPrometheus(), "ws_processed_total 13"));
}

// The text format wants one group per name: samples registered apart
// (a name, another name, the first again) come out together.
TEST(Metrics, SamplesOfOneNameAreGroupedWhateverTheRegistrationOrder) {
  MetricsRegistry reg;
  reg.AddCounter("ws_a_total", "A.", "region=\"us\"")->Add(1);
  reg.AddGauge("ws_b", "B.", [] { return 2.0; });
  reg.AddCounter("ws_a_total", "A.", "region=\"eu\"")->Add(3);
  const std::string text = reg.RenderPrometheus();
  EXPECT_EQ(text,
            "# HELP ws_a_total A.\n# TYPE ws_a_total counter\nws_a_total{region=\"us\"} 1\n"
            "ws_a_total{region=\"eu\"} 3\n# HELP ws_b B.\n# TYPE ws_b gauge\nws_b 2\n");
}

TEST(Metrics, HistogramObservesManyOfOneValueAtOnce) {
  MetricsRegistry reg;
  Histogram* h = reg.AddHistogram("ws_visible_seconds", "Latency.");
  h->ObserveSeconds(0.003, 5);
  h->ObserveSeconds(2.0);
  EXPECT_EQ(h->Count(), 6u);
  EXPECT_NEAR(h->Sum(), 2.015, 1e-9);
  EXPECT_EQ(h->Quantile(0.8), 5e-3);
  EXPECT_EQ(h->Quantile(1.0), 2.5);
}

TEST(Metrics, HistogramRendering) {
  MetricsRegistry reg;
  Histogram* h = reg.AddHistogram("ws_latency_seconds", "Request latency.", "op=\"get\"");
  h->ObserveSeconds(0.0008);  // in le=0.001
  h->ObserveSeconds(0.001);   // exactly on a bound: still in le=0.001
  h->ObserveNanos(3'000'000);  // 3 ms: le=0.005
  h->ObserveSeconds(20);       // past the last bound: only +Inf
  EXPECT_EQ(h->Count(), 4u);
  EXPECT_NEAR(h->Sum(), 0.0008 + 0.001 + 0.003 + 20, 1e-9);

  std::string text = reg.RenderPrometheus();
  EXPECT_TRUE(Contains(text, "# HELP ws_latency_seconds Request latency.")) << text;
  EXPECT_TRUE(Contains(text, "# TYPE ws_latency_seconds histogram")) << text;
  EXPECT_TRUE(Contains(text, "ws_latency_seconds_bucket{op=\"get\",le=\"0.001\"} 2")) << text;
  EXPECT_TRUE(Contains(text, "ws_latency_seconds_bucket{op=\"get\",le=\"0.005\"} 3")) << text;
  EXPECT_TRUE(Contains(text, "ws_latency_seconds_bucket{op=\"get\",le=\"10\"} 3")) << text;
  EXPECT_TRUE(Contains(text, "ws_latency_seconds_bucket{op=\"get\",le=\"+Inf\"} 4")) << text;
  EXPECT_TRUE(Contains(text, "ws_latency_seconds_count{op=\"get\"} 4")) << text;

  auto sum = LinesStartingWith(text, "ws_latency_seconds_sum{op=\"get\"} ");
  ASSERT_EQ(sum.size(), 1u) << text;
  EXPECT_NEAR(std::stod(sum[0].substr(sum[0].rfind(' ') + 1)), 20.0048, 1e-9);

  // One line per bound plus +Inf, cumulative and never decreasing.
  auto buckets = LinesStartingWith(text, "ws_latency_seconds_bucket");
  ASSERT_EQ(buckets.size(), h->bounds().size() + 1);
  uint64_t prev = 0;
  for (const std::string& line : buckets) {
    uint64_t v = TrailingNumber(line);
    EXPECT_GE(v, prev) << line;
    prev = v;
  }
  EXPECT_EQ(prev, h->Count());
}

TEST(Metrics, HistogramWithoutLabels) {
  MetricsRegistry reg;
  reg.AddHistogram("ws_commit_seconds", "Commit time.")->ObserveSeconds(2);
  std::string text = reg.RenderPrometheus();
  EXPECT_TRUE(Contains(text, "ws_commit_seconds_bucket{le=\"1\"} 0")) << text;
  EXPECT_TRUE(Contains(text, "ws_commit_seconds_bucket{le=\"2.5\"} 1")) << text;
  EXPECT_TRUE(Contains(text, "ws_commit_seconds_bucket{le=\"+Inf\"} 1")) << text;
  EXPECT_TRUE(Contains(text, "ws_commit_seconds_sum 2")) << text;
  EXPECT_TRUE(Contains(text, "ws_commit_seconds_count 1")) << text;
}

TEST(Metrics, EmptyHistogram) {
  Histogram h;
  EXPECT_EQ(h.Count(), 0u);
  EXPECT_EQ(h.Sum(), 0.0);
  EXPECT_EQ(h.Quantile(0.5), 0.0);
  EXPECT_EQ(h.Quantile(1.0), 0.0);
}

TEST(Metrics, Quantile) {
  Histogram h;
  // 90 fast (<= 1 ms), 9 medium (<= 50 ms), 1 slow (past 10 s).
  for (int i = 0; i < 90; ++i) h.ObserveSeconds(0.0009);
  for (int i = 0; i < 9; ++i) h.ObserveSeconds(0.04);
  h.ObserveSeconds(30);
  EXPECT_DOUBLE_EQ(h.Quantile(0.5), 1e-3);
  EXPECT_DOUBLE_EQ(h.Quantile(0.9), 1e-3);
  EXPECT_DOUBLE_EQ(h.Quantile(0.91), 50e-3);
  EXPECT_DOUBLE_EQ(h.Quantile(0.99), 50e-3);
  EXPECT_TRUE(std::isinf(h.Quantile(1.0)));
}

TEST(Metrics, QuantileOfSingleBucket) {
  Histogram h;
  h.ObserveSeconds(0);  // at or below the first bound
  EXPECT_DOUBLE_EQ(h.Quantile(0.5), h.bounds().front());
  EXPECT_DOUBLE_EQ(h.Quantile(1.0), h.bounds().front());
  EXPECT_EQ(h.BucketCount(0), 1u);
}

}  // namespace
}  // namespace watershed
