#include "trace/tracer.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>

#include "core/json_text.h"
#include "core/random.h"
#include "http/http_client.h"

namespace watershed::trace {
namespace {

// Per thread: span ids need to be unique, not secret.
uint64_t NextRandom() {
  thread_local std::mt19937_64 rng = [] {
    uint64_t seed = 0;
    RandomBytes(&seed, sizeof seed);
    return std::mt19937_64(seed);
  }();
  return rng();
}

template <size_t N>
void FillNonZero(std::array<uint8_t, N>* id) {
  do {
    for (size_t i = 0; i < N; i += 8) {
      const uint64_t r = NextRandom();
      std::memcpy(id->data() + i, &r, std::min<size_t>(8, N - i));
    }
  } while (std::all_of(id->begin(), id->end(), [](uint8_t b) { return b == 0; }));
}

template <size_t N>
bool IsZero(const std::array<uint8_t, N>& id) {
  return std::all_of(id.begin(), id.end(), [](uint8_t b) { return b == 0; });
}

void AppendKeyValue(std::string_view key, std::string_view value, std::string* out) {
  *out += "{\"key\":";
  AppendJsonString(key, out);
  *out += ",\"value\":{\"stringValue\":";
  AppendJsonString(value, out);
  *out += "}}";
}

}  // namespace

int64_t UnixNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string EncodeOtlpJson(const std::vector<Span>& spans, std::string_view service_name) {
  std::string out = "{\"resourceSpans\":[{\"resource\":{\"attributes\":[";
  AppendKeyValue("service.name", service_name, &out);
  out += "]},\"scopeSpans\":[{\"scope\":{\"name\":\"watershed\"},\"spans\":[";
  for (size_t i = 0; i < spans.size(); ++i) {
    const Span& s = spans[i];
    if (i) out += ',';
    out += "{\"traceId\":\"" + LowerHex(s.trace_id.data(), s.trace_id.size()) + "\",\"spanId\":\"" +
           LowerHex(s.span_id.data(), s.span_id.size()) + "\"";
    if (!IsZero(s.parent_id)) out += ",\"parentSpanId\":\"" + LowerHex(s.parent_id.data(), s.parent_id.size()) + "\"";
    out += ",\"name\":";
    AppendJsonString(s.name, &out);
    out += ",\"kind\":" + std::to_string(s.kind) + ",\"startTimeUnixNano\":\"" + std::to_string(s.start_unix_ns) +
           "\",\"endTimeUnixNano\":\"" + std::to_string(s.end_unix_ns) + "\",\"attributes\":[";
    for (size_t a = 0; a < s.attributes.size(); ++a) {
      if (a) out += ',';
      AppendKeyValue(s.attributes[a].first, s.attributes[a].second, &out);
    }
    out += "],\"status\":{\"code\":" + std::string(s.error ? "2" : "1") + "}}";
  }
  out += "]}]}]}";
  return out;
}

Result<std::unique_ptr<Tracer>> Tracer::Start(TracerOptions options) {
  if (!(options.sampling_ratio >= 0 && options.sampling_ratio <= 1))
    return Status::InvalidArgument("otlp-sampling-ratio must be between 0 and 1");
  std::string_view e = options.endpoint;
  if (!e.starts_with("http://"))
    return Status::InvalidArgument(
        "otlp-endpoint must be http://HOST[:PORT] (the collector's OTLP/HTTP receiver), not '" + options.endpoint +
        "'");
  e.remove_prefix(7);
  while (!e.empty() && e.back() == '/') e.remove_suffix(1);
  if (e.empty() || e.find('/') != std::string_view::npos)
    return Status::InvalidArgument("otlp-endpoint must be http://HOST[:PORT] without a path, not '" + options.endpoint +
                                   "'");
  std::string hostport(e);
  if (hostport.find(':') == std::string::npos) hostport += ":4318";  // OTLP/HTTP's default port
  std::unique_ptr<Tracer> t(new Tracer(std::move(options)));
  RETURN_IF_ERROR(http::ParseHostPort(hostport, &t->host_, &t->port_));
  t->thread_ = std::thread([p = t.get()] { p->Run(); });
  return t;
}

Tracer::Tracer(TracerOptions options) : options_(std::move(options)) {}

Tracer::~Tracer() { Shutdown(); }

void Tracer::Shutdown() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

TraceContext Tracer::Join(std::string_view traceparent) {
  if (auto c = ParseTraceparent(traceparent)) return *c;
  TraceContext c;
  FillNonZero(&c.trace_id);
  // Top 53 bits as a fraction in [0, 1).
  const double u = static_cast<double>(NextRandom() >> 11) * 0x1.0p-53;
  c.flags = u < options_.sampling_ratio ? 1 : 0;
  return c;
}

SpanId Tracer::NewSpanId() {
  SpanId id;
  FillNonZero(&id);
  return id;
}

void Tracer::Export(Span span) {
  std::lock_guard lock(mu_);
  if (stop_ || queue_.size() >= options_.max_queued_spans) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  queue_.push_back(std::move(span));
  if (queue_.size() >= options_.batch_spans) cv_.notify_one();
}

void Tracer::Run() {
  http::HttpClient client(host_, port_, 5'000);
  std::vector<Span> batch;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(options_.flush_interval_ms),
                   [&] { return stop_ || queue_.size() >= options_.batch_spans; });
      if (queue_.empty() && stop_) return;
      const size_t n = std::min(queue_.size(), options_.batch_spans);
      batch.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.begin() + n));
      queue_.erase(queue_.begin(), queue_.begin() + n);
    }
    if (batch.empty()) continue;
    auto r = client.Request("POST", "/v1/traces", EncodeOtlpJson(batch, options_.service_name));
    if (r.ok() && r->status / 100 == 2) {
      exported_.fetch_add(batch.size(), std::memory_order_relaxed);
    } else {
      dropped_.fetch_add(batch.size(), std::memory_order_relaxed);  // telemetry: not retried
      // Stopping with the collector failing: drop the rest rather than
      // hold the server's shutdown for a timeout per batch.
      std::lock_guard lock(mu_);
      if (stop_) {
        dropped_.fetch_add(queue_.size(), std::memory_order_relaxed);
        queue_.clear();
      }
    }
    batch.clear();
  }
}

}  // namespace watershed::trace
