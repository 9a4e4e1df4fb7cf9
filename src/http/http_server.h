#pragma once
// A small asynchronous HTTP/1.1 server (Boost.Beast): keep-alive, request
// body and header limits, idle timeouts against slow clients, optional TLS
// (OpenSSL, TLS 1.2 minimum; off unless a certificate is given). It knows
// nothing of Watershed's API: every parsed request goes to the Handler,
// which answers through the Responder — possibly later, from another thread
// (POST /v1/events answers once the log has made the events durable).

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_text.h"
#include "core/status.h"

namespace watershed::http {

struct HttpRequest {
  std::string method;        // "GET", "POST", ...
  std::string target;        // path and query, as sent
  std::string content_type;  // empty when absent
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case
  // The first header of that (lower-case) name; empty when absent.
  std::string_view Header(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Sends the response for the request it was handed with. Call exactly once,
// from any thread, before the HttpServer is destroyed.
using Responder = std::function<void(HttpResponse)>;
using Handler = std::function<void(HttpRequest&&, Responder)>;

struct HttpServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 8080;  // 0 = pick a free port (see HttpServer::port())
  int threads = 2;
  uint64_t body_limit = 1 << 20;    // larger bodies get 413
  uint32_t header_limit = 16 << 10; // larger header blocks get 431
  int idle_timeout_ms = 30'000;     // a connection that sends nothing for this long is closed
                                    // (this includes a TLS handshake that does not finish)
  // TLS: a PEM certificate chain (leaf first) and its PEM private key
  // (unencrypted). Both empty = plain HTTP; one without the other is an error.
  std::string tls_cert_file;
  std::string tls_key_file;
};

class HttpServer {
 public:
  // Listens and starts serving. kInvalidArgument for a bad address or TLS
  // setup (names the file and OpenSSL's reason: unreadable file, not PEM,
  // key does not match the certificate); kUnavailable when it cannot listen.
  static Result<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options, Handler handler);
  ~HttpServer();
  uint16_t port() const;
  // True when the listener speaks TLS.
  bool tls() const;
  // Re-reads tls_cert_file and tls_key_file (e.g. after a certificate
  // renewal): connections accepted afterwards use them, open ones keep the
  // old. On error the old credentials stay in use. kFailedPrecondition when
  // the server was started without TLS. Thread-safe.
  Status ReloadTls();
  // Stops accepting, closes connections, joins the threads.
  void Stop();

  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// {"error": {"code": ..., "message": ...}} with the given status.
HttpResponse JsonError(int status, std::string_view code, std::string_view message);
// JSON string literals: the one writer, in core.
using ::watershed::AppendJsonString;

}  // namespace watershed::http
