#pragma once
// A blocking HTTP/1.1 client over one keep-alive connection (Boost.Beast),
// plain or TLS, for the CLI (load, query, status) and tests. Reconnects when
// the server closed the connection. Not thread-safe: one per thread.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace watershed::http {

struct ClientResponse {
  int status = 0;
  std::string body;
  std::string retry_after;  // the Retry-After header, when present
  std::vector<std::pair<std::string, std::string>> headers;  // all of them, names lower-case
  // The first header of that (lower-case) name; empty when absent.
  std::string_view Header(std::string_view name) const;
};

struct ClientOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  int timeout_ms = 30'000;  // bounds each connect, TLS handshake, request write and response read
  // A response body longer than this fails the request (kUnavailable: "body limit exceeded").
  uint64_t max_response_bytes = 256ull << 20;
  bool tls = false;
  // PEM file of the certificates to trust; empty = the system's default
  // trust store. The server's certificate must also name `host` (DNS name
  // or IP address in subjectAltName).
  std::string ca_file;
  // Encrypts without checking who answers. Development only (self-signed
  // certificates you have no CA file for).
  bool insecure_skip_verify = false;
};

class HttpClient {
 public:
  explicit HttpClient(ClientOptions options);
  HttpClient(std::string host, uint16_t port, int timeout_ms = 30'000);
  ~HttpClient();

  // Sends `name: value` with every later request, replacing an earlier value
  // of that name (case-insensitive); an empty value stops sending it.
  // kInvalidArgument for a name that is not an HTTP token or a value with
  // control characters (CR, LF, NUL, ...).
  Status SetHeader(std::string name, std::string value);

  // kUnavailable when the server cannot be reached or the connection broke;
  // kInvalidArgument when the TLS setup is unusable (unreadable ca_file);
  // kFailedPrecondition when the TLS handshake fails (server certificate not
  // trusted or not for `host`, no common protocol version) — the message
  // says why.
  Result<ClientResponse> Request(const std::string& method, const std::string& target, const std::string& body = "",
                                 const std::string& content_type = "application/json");
  Result<ClientResponse> Get(const std::string& target) { return Request("GET", target); }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Splits "host:port" (default port 8080); kInvalidArgument on a bad port.
Status ParseHostPort(const std::string& s, std::string* host, uint16_t* port);

}  // namespace watershed::http
