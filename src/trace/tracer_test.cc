#include "trace/tracer.h"

#include <gtest/gtest.h>

#include <set>

#include "trace/testing/otlp_collector.h"

namespace watershed::trace {
namespace {

constexpr char kSampled[] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

TEST(TraceContextTest, ParsesAndFormatsVersion00) {
  auto c = ParseTraceparent(kSampled);
  ASSERT_TRUE(c.has_value());
  EXPECT_TRUE(c->sampled());
  EXPECT_EQ(LowerHex(c->trace_id.data(), 16), "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(LowerHex(c->span_id.data(), 8), "b7ad6b7169203331");
  EXPECT_EQ(FormatTraceparent(*c), kSampled);
  auto unsampled = ParseTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00");
  ASSERT_TRUE(unsampled.has_value());
  EXPECT_FALSE(unsampled->sampled());
}

TEST(TraceContextTest, RefusesAnythingElse) {
  for (const char* bad : {"", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0",      // short
                          "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",         // version
                          "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",         // upper case
                          "00-00000000000000000000000000000000-b7ad6b7169203331-01",         // zero trace
                          "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",         // zero span
                          "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",         // separator
                          "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0g",         // flags
                          "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra"})  // long
    EXPECT_FALSE(ParseTraceparent(bad).has_value()) << bad;
}

TEST(TracerTest, RefusesEndpointsItCannotPostTo) {
  for (const char* e : {"", "localhost:4318", "https://collector:4318", "http://collector:4318/v1/traces", "http://"}) {
    TracerOptions o;
    o.endpoint = e;
    EXPECT_EQ(Tracer::Start(o).status().code(), StatusCode::kInvalidArgument) << e;
  }
  TracerOptions o;
  o.endpoint = "http://127.0.0.1:4318";
  o.sampling_ratio = 1.5;
  EXPECT_EQ(Tracer::Start(o).status().code(), StatusCode::kInvalidArgument);
}

TEST(TracerTest, FollowsTheCallersSampledFlagAndSamplesNewTracesAtTheRatio) {
  for (double ratio : {0.0, 1.0}) {
    TracerOptions o;
    o.endpoint = "http://127.0.0.1:1";
    o.sampling_ratio = ratio;
    auto t = Tracer::Start(o);
    ASSERT_TRUE(t.ok());
    EXPECT_TRUE((*t)->Join(kSampled).sampled());  // the caller decided
    EXPECT_EQ(LowerHex((*t)->Join(kSampled).trace_id.data(), 16), "0af7651916cd43dd8448eb211c80319c");
    EXPECT_FALSE((*t)->Join("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00").sampled());
    std::set<std::string> ids;
    for (int i = 0; i < 100; ++i) {
      TraceContext c = (*t)->Join("not a traceparent");
      EXPECT_EQ(c.sampled(), ratio == 1.0);
      ids.insert(LowerHex(c.trace_id.data(), 16));
    }
    EXPECT_EQ(ids.size(), 100u);  // a new trace each time
  }
  TracerOptions o;
  o.endpoint = "http://127.0.0.1:1";
  o.sampling_ratio = 0.25;
  auto t = Tracer::Start(o);
  ASSERT_TRUE(t.ok());
  int sampled = 0;
  for (int i = 0; i < 20000; ++i) sampled += (*t)->Join("").sampled();
  EXPECT_NEAR(sampled, 5000, 400);  // 6 standard deviations
}

TEST(TracerTest, SpansReachACollectorAsOtlpJson) {
  testing::OtlpCollector collector;
  ASSERT_TRUE(collector.running());
  TracerOptions o;
  o.endpoint = collector.endpoint();
  o.service_name = "watershed-test";
  o.flush_interval_ms = 50;
  auto t = Tracer::Start(o);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  const TraceContext c = (*t)->Join(kSampled);
  Span root;
  root.name = "watershed.ingest";
  root.trace_id = c.trace_id;
  root.span_id = (*t)->NewSpanId();
  root.parent_id = c.span_id;
  root.kind = 2;
  root.start_unix_ns = 1'000;
  root.end_unix_ns = 5'000;
  root.attributes = {{"http.route", "/v1/events"}, {"quote", "a \"b\"\n"}};
  Span child = root;
  child.name = "watershed.log.append";
  child.span_id = (*t)->NewSpanId();
  child.parent_id = root.span_id;
  child.kind = 1;
  child.error = true;
  (*t)->Export(root);
  (*t)->Export(child);
  auto spans = collector.WaitFor(2);
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(collector.bad_requests(), 0);
  EXPECT_EQ(spans[0].service, "watershed-test");
  EXPECT_EQ(spans[0].trace_id, "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(spans[0].parent_span_id, "b7ad6b7169203331");
  EXPECT_EQ(spans[0].name, "watershed.ingest");
  EXPECT_EQ(spans[0].kind, 2);
  EXPECT_EQ(spans[0].start_ns, 1'000u);
  EXPECT_EQ(spans[0].end_ns, 5'000u);
  EXPECT_EQ(spans[0].attributes["quote"], "a \"b\"\n");
  EXPECT_EQ(spans[1].parent_span_id, spans[0].span_id);
  EXPECT_EQ(spans[1].span_id.size(), 16u);
  EXPECT_NE(spans[1].span_id, spans[0].span_id);
  // Delivered: counted once the collector took them.
  for (int i = 0; i < 100 && (*t)->exported() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ((*t)->exported(), 2u);
  EXPECT_EQ((*t)->dropped(), 0u);
}

TEST(TracerTest, ACollectorDownCostsDroppedSpansNotABlockedCaller) {
  TracerOptions o;
  o.endpoint = "http://127.0.0.1:1";  // nothing listens there
  o.max_queued_spans = 10;
  o.flush_interval_ms = 10;
  auto t = Tracer::Start(o);
  ASSERT_TRUE(t.ok());
  Span s;
  s.name = "x";
  for (int i = 0; i < 1000; ++i) (*t)->Export(s);        // returns at once, queue full or not
  EXPECT_GE((*t)->dropped(), 900u);                      // at most a few flushes' worth were queued
  (*t)->Shutdown();                                      // posts what is queued (and fails), then stops
  EXPECT_EQ((*t)->dropped() + (*t)->exported(), 1000u);  // every span accounted for, none delivered
  EXPECT_EQ((*t)->exported(), 0u);
}

}  // namespace
}  // namespace watershed::trace
