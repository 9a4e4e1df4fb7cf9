#pragma once
// A blocking HTTP/1.1 client over one keep-alive connection (Boost.Beast),
// for the CLI (load, query, status) and tests. Reconnects when the server
// closed the connection. Not thread-safe: one per thread.

#include <memory>
#include <string>

#include "core/status.h"

namespace watershed::app {

struct ClientResponse {
  int status = 0;
  std::string body;
  std::string retry_after;  // the Retry-After header, when present
};

class HttpClient {
 public:
  HttpClient(std::string host, uint16_t port, int timeout_ms = 30'000);
  ~HttpClient();
  // kUnavailable when the server cannot be reached or the connection broke.
  Result<ClientResponse> Request(const std::string& method, const std::string& target, const std::string& body = "",
                                 const std::string& content_type = "application/json");
  Result<ClientResponse> Get(const std::string& target) { return Request("GET", target); }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Splits "host:port" (default port 8080); kInvalidArgument on a bad port.
Status ParseHostPort(const std::string& s, std::string* host, uint16_t* port);

}  // namespace watershed::app
