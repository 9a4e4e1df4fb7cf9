#pragma once
// A small asynchronous HTTP/1.1 server (Boost.Beast): keep-alive, request
// body and header limits, idle timeouts against slow clients, optional TLS
// (OpenSSL, TLS 1.2 minimum; off unless a certificate is given). It knows
// nothing of Watershed's API: every parsed request goes to the Handler,
// which answers through the Responder — possibly later, from another thread
// (POST /v1/events answers once the log has made the events durable).

#include <any>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_text.h"
#include "core/metrics.h"
#include "core/status.h"
#include "http/client_address.h"

namespace watershed::http {

struct HttpRequest {
  std::string method;        // "GET", "POST", ...
  std::string target;        // path and query, as sent
  std::string content_type;  // empty when absent
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case
  std::string remote_address;  // ClientAddressKey of the client: the peer, or behind trusted_proxies the forwarded one
  // Whatever the HeaderCheck left for the Handler (e.g. the verified caller),
  // so work done on the header is not repeated; empty when nothing was left.
  std::any context;
  // Set true by the server when the client hangs up while its answer is
  // awaited (a long lake query can stop then: query::ExecLimits::cancel).
  // Best effort: seen as the connection's end of input, so a client that
  // half-closes after its request also counts as gone.
  std::shared_ptr<std::atomic<bool>> client_gone;
  // The first header of that (lower-case) name; empty when absent.
  std::string_view Header(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // Set: the body is produced piece by piece and sent with chunked transfer
  // encoding (`body` is ignored), so a large answer is never one string; to
  // an HTTP/1.0 client unchunked, ended by closing the connection.
  // Called on the connection's I/O thread, one call per piece: appends the
  // next piece to *out (keep it to tens of KiB: the thread serves other
  // connections) and returns false once the body is complete. Destroyed
  // when the body is sent or the connection fails.
  std::function<bool(std::string* out)> stream;
};

// Sends the response for the request it was handed with. Call exactly once,
// from any thread, before the HttpServer is destroyed.
using Responder = std::function<void(HttpResponse)>;
using Handler = std::function<void(HttpRequest&&, Responder)>;
// Called on the I/O thread once a request's header has arrived, before its
// body is read; `head` has everything but the body. A response returned is
// sent at once, the body is never read (what the client still sends is read
// and discarded up to drain_limit) and the connection closes: e.g. a bad
// token costs no body read. nullopt: read the body, then call the Handler
// with `head` (and whatever the check put in head.context); a client that
// sent `Expect: 100-continue` is told to go on only then. Must not block.
using HeaderCheck = std::function<std::optional<HttpResponse>(HttpRequest& head)>;

// Refused connections (over a connection cap) being answered at once, at
// most; past that, a refused connection is closed without an answer: a flood
// over the caps must not hold enough sockets to reach RLIMIT_NOFILE and make
// accept fail for everyone.
inline constexpr int64_t kMaxRefusingConnections = 64;

struct HttpServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 8080;  // 0 = pick a free port (see HttpServer::port())
  int threads = 2;
  uint64_t body_limit = 1 << 20;    // larger bodies get 413
  uint32_t header_limit = 16 << 10; // larger header blocks get 431
  int idle_timeout_ms = 30'000;     // a connection that sends nothing for this long is closed
                                    // (this includes a TLS handshake that does not finish)
  // Connections open at once, all clients (0 = no cap): one more is answered
  // 503 server_busy and closed without reaching the HeaderCheck or Handler.
  int64_t max_connections = 10'000;
  // Connections open at once from one client IP address (0 = no cap): one
  // more is answered 429 too_many_connections and closed. On a TLS port the
  // refused connection is closed without an answer (no handshake is spent).
  int64_t max_connections_per_address = 256;
  // After an early answer (413, 431, or a HeaderCheck's), the bytes the
  // client still sends are read and discarded up to this many, for at most
  // the idle timeout, then the connection closes: a client still sending its
  // body reads the answer instead of a connection reset.
  uint64_t drain_limit = 4 << 20;
  // A connection refused at accept is answered, then what it sends is read
  // and discarded for at most this long (and idle_timeout_ms; 64 KiB at
  // most) before the close.
  int refusal_drain_ms = 1'000;
  HeaderCheck header_check;  // empty: every request goes to the Handler
  // Peers whose X-Forwarded-For is believed (client_address.h): a request
  // arriving from one of them is keyed, in HttpRequest::remote_address, by
  // the client the header names. Empty: every request is keyed by its peer.
  TrustedProxies trusted_proxies;
  // Where the server counts refused connections (null: not counted).
  MetricsRegistry* metrics = nullptr;
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
  // Connections open now (counted against max_connections).
  int64_t open_connections() const;
  // Refused connections being answered now (at most kMaxRefusingConnections).
  int64_t refusing_connections() const;
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
