#pragma once
// A small OTLP/HTTP JSON collector for tests: an http::HttpServer on a free
// port that takes POST /v1/traces and keeps the spans it parsed.

#include <simdjson.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http/http_server.h"

namespace watershed::trace::testing {

struct ReceivedSpan {
  std::string trace_id, span_id, parent_span_id, name, service;
  int kind = 0;
  uint64_t start_ns = 0, end_ns = 0;
  std::map<std::string, std::string> attributes;
};

class OtlpCollector {
 public:
  OtlpCollector() {
    http::HttpServerOptions o;
    o.port = 0;
    o.body_limit = 16 << 20;
    auto s = http::HttpServer::Start(o, [this](http::HttpRequest&& req, http::Responder respond) {
      http::HttpResponse r;
      r.body = "{}";
      r.status = req.method != "POST" || req.target != "/v1/traces" ? 404 : Take(req.body) ? 200 : 400;
      respond(std::move(r));
    });
    if (s.ok()) server_ = std::move(s).value();
  }
  ~OtlpCollector() {
    if (server_) server_->Stop();
  }
  bool running() const { return server_ != nullptr; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }
  std::vector<ReceivedSpan> spans() const {
    std::lock_guard lock(mu_);
    return spans_;
  }
  int bad_requests() const {
    std::lock_guard lock(mu_);
    return bad_;
  }
  // Waits up to `timeout` for at least `n` spans; returns them.
  std::vector<ReceivedSpan> WaitFor(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(20)) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (spans().size() < n && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return spans();
  }

 private:
  // Parses an ExportTraceServiceRequest as OTLP/JSON writes it.
  bool Take(const std::string& body) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    std::lock_guard lock(mu_);
    if (parser.parse(body).get(doc) != simdjson::SUCCESS) return ++bad_, false;
    simdjson::dom::array resources;
    if (doc["resourceSpans"].get(resources) != simdjson::SUCCESS) return ++bad_, false;
    for (auto rs : resources) {
      std::string service;
      simdjson::dom::array attrs;
      if (rs["resource"]["attributes"].get(attrs) == simdjson::SUCCESS)
        for (auto a : attrs)
          if (std::string_view(a["key"].get_string().value_unsafe()) == "service.name")
            service = std::string(a["value"]["stringValue"].get_string().value_unsafe());
      // Each array bound to a variable: a range-for over a temporary's member would dangle.
      simdjson::dom::array scopes;
      if (rs["scopeSpans"].get(scopes) != simdjson::SUCCESS) return ++bad_, false;
      for (auto ss : scopes) {
        simdjson::dom::array spans;
        if (ss["spans"].get(spans) != simdjson::SUCCESS) return ++bad_, false;
        for (auto s : spans) {
          ReceivedSpan r;
          r.service = service;
          r.trace_id = std::string(s["traceId"].get_string().value_unsafe());
          r.span_id = std::string(s["spanId"].get_string().value_unsafe());
          std::string_view parent;
          if (s["parentSpanId"].get(parent) == simdjson::SUCCESS) r.parent_span_id = std::string(parent);
          r.name = std::string(s["name"].get_string().value_unsafe());
          r.kind = static_cast<int>(s["kind"].get_int64().value_unsafe());
          r.start_ns = std::stoull(std::string(s["startTimeUnixNano"].get_string().value_unsafe()));
          r.end_ns = std::stoull(std::string(s["endTimeUnixNano"].get_string().value_unsafe()));
          simdjson::dom::array attributes;
          if (s["attributes"].get(attributes) != simdjson::SUCCESS) return ++bad_, false;
          for (auto a : attributes)
            r.attributes[std::string(a["key"].get_string().value_unsafe())] =
                std::string(a["value"]["stringValue"].get_string().value_unsafe());
          spans_.push_back(std::move(r));
        }
      }
    }
    return true;
  }

  mutable std::mutex mu_;
  std::vector<ReceivedSpan> spans_;
  int bad_ = 0;
  std::unique_ptr<http::HttpServer> server_;
};

}  // namespace watershed::trace::testing
