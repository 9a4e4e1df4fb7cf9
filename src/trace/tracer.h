#pragma once
// Spans of Watershed's own work, exported as OTLP/HTTP JSON (the
// OpenTelemetry protocol's JSON encoding, POST <endpoint>/v1/traces) to a
// collector named by `otlp-endpoint` (docs/operations.md, "Tracing"):
//   watershed.ingest      POST /v1/events, receipt to answer (kind server)
//   watershed.log.append  the batch's append and fsync, child of ingest
//   watershed.process     processing of the batch holding the event, to the
//                         live-store write, child of the event's context
//   watershed.visible     from the event's append to that write (freshness)
// Sampling is parent-based: a request's traceparent is followed as its
// sampled flag says; a request without one starts a trace sampled at
// `sampling_ratio`. Export never blocks the caller: spans wait in a bounded
// queue that one thread posts in batches; a full queue or a failing
// collector drops spans, counted in dropped().

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "core/status.h"
#include "core/trace_context.h"

namespace watershed::trace {

using TraceId = std::array<uint8_t, 16>;
using SpanId = std::array<uint8_t, 8>;

struct Span {
  std::string name;
  TraceId trace_id{};
  SpanId span_id{};
  SpanId parent_id{};  // all zero: a root span
  int kind = 1;        // OTLP SpanKind: 1 internal, 2 server
  int64_t start_unix_ns = 0, end_unix_ns = 0;
  std::vector<std::pair<std::string, std::string>> attributes;  // string values
  bool error = false;
};

struct TracerOptions {
  std::string endpoint;  // http://host:port of the collector's OTLP/HTTP receiver
  double sampling_ratio = 0.01;
  std::string service_name = "watershed";
  size_t max_queued_spans = 8192;
  int64_t flush_interval_ms = 1000;
  size_t batch_spans = 512;
};

// Time since the Unix epoch, for span times.
int64_t UnixNowNs();

class Tracer {
 public:
  // kInvalidArgument for an endpoint that is not http://host[:port] or a
  // ratio outside [0, 1].
  static Result<std::unique_ptr<Tracer>> Start(TracerOptions options);
  ~Tracer();  // Shutdown()
  // Posts what is queued, then stops the export thread; later spans are
  // dropped. Idempotent.
  void Shutdown();

  // The trace a request joins: its traceparent when valid (sampled as its
  // flags say), else a new trace sampled at the ratio. span_id is the
  // caller's span (zero for a new trace).
  TraceContext Join(std::string_view traceparent);
  SpanId NewSpanId();
  void Export(Span span);
  uint64_t exported() const { return exported_.load(std::memory_order_relaxed); }
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  const TracerOptions& options() const { return options_; }

 private:
  explicit Tracer(TracerOptions options);
  void Run();

  TracerOptions options_;
  std::string host_;
  uint16_t port_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Span> queue_;
  bool stop_ = false;
  std::atomic<uint64_t> exported_{0}, dropped_{0};
  std::thread thread_;  // last: starts once the rest is initialised
};

// The OTLP/JSON ExportTraceServiceRequest of `spans` (ids as lower-case hex,
// times as decimal strings, attribute values as strings).
std::string EncodeOtlpJson(const std::vector<Span>& spans, std::string_view service_name);

}  // namespace watershed::trace
