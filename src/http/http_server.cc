#include "http/http_server.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>  // first: Boost 1.74's Beast misses it
#include <variant>

#include "http/openssl_error.h"

namespace watershed::http {

namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

std::string_view HttpRequest::Header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return v;
  return {};
}

HttpResponse JsonError(int status, std::string_view code, std::string_view message) {
  HttpResponse r;
  r.status = status;
  r.body = "{\"error\":{\"code\":";
  AppendJsonString(code, &r.body);
  r.body += ",\"message\":";
  AppendJsonString(message, &r.body);
  r.body += "}}";
  return r;
}

namespace {

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// A TLS close_notify exchange waits at most this long (or the idle timeout,
// when shorter) for the peer's answer before the socket is closed anyway.
constexpr int kTlsShutdownTimeoutMs = 1'000;

// Sent in clear to a plain-HTTP client that reached the TLS port.
const std::string& PlainHttpOnTlsPortResponse() {
  static const std::string response = [] {
    std::string body = JsonError(400, "tls_required", "this port speaks HTTPS, not plain HTTP").body;
    return "HTTP/1.1 400 Bad Request\r\nServer: watershed\r\nContent-Type: application/json\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  }();
  return response;
}

// Counts open connections, in all and per client address. An address's
// entry is erased when its count drops to 0, so the map never holds more
// addresses than there are open connections.
class ConnectionTable {
 public:
  enum class Admit { kOk, kServerFull, kAddressFull };
  ConnectionTable(int64_t max_total, int64_t max_per_address) : max_total_(max_total), max_per_(max_per_address) {}

  Admit Enter(const std::string& address) {
    std::lock_guard lock(mu_);
    if (max_total_ > 0 && total_ >= max_total_) return Admit::kServerFull;
    int64_t& n = per_address_[address];
    if (max_per_ > 0 && n >= max_per_) return Admit::kAddressFull;  // n > 0 here: no empty entry is left
    ++n;
    ++total_;
    return Admit::kOk;
  }
  void Leave(const std::string& address) {
    std::lock_guard lock(mu_);
    auto it = per_address_.find(address);
    if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
    --total_;
  }
  int64_t Total() const {
    std::lock_guard lock(mu_);
    return total_;
  }

 private:
  const int64_t max_total_, max_per_;
  mutable std::mutex mu_;
  int64_t total_ = 0;
  std::unordered_map<std::string, int64_t> per_address_;
};

// One admitted connection's place in the table, given back when the session ends.
class ConnectionSlot {
 public:
  ConnectionSlot() = default;
  ConnectionSlot(ConnectionTable* table, std::string address) : table_(table), address_(std::move(address)) {}
  ConnectionSlot(ConnectionSlot&& o) noexcept
      : table_(std::exchange(o.table_, nullptr)), address_(std::move(o.address_)) {}
  ConnectionSlot& operator=(ConnectionSlot&&) = delete;
  ~ConnectionSlot() {
    if (table_) table_->Leave(address_);
  }

 private:
  ConnectionTable* table_ = nullptr;
  std::string address_;
};

// A refused connection (not counted in the table) drains at most this much,
// for at most refusal_drain_ms, so refusals cannot pile up open sockets.
constexpr uint64_t kRefusalDrainBytes = 64 << 10;

// The TCP peer of a connection.
struct Peer {
  IpAddress address;
  std::string key;             // ClientAddressKey(address): what the connection caps count
  bool trusted_proxy = false;  // in HttpServerOptions::trusted_proxies: its X-Forwarded-For is believed
};

IpAddress ToIpAddress(const net::ip::address& a) {
  IpAddress out;
  if (a.is_v4()) {
    const auto b = a.to_v4().to_bytes();
    std::copy(b.begin(), b.end(), out.bytes.begin());
    return out;
  }
  const net::ip::address_v6 v6 = a.to_v6();
  if (v6.is_v4_mapped()) return ToIpAddress(net::ip::make_address_v4(net::ip::v4_mapped, v6));
  const auto b = v6.to_bytes();
  out.v4 = false;
  std::copy(b.begin(), b.end(), out.bytes.begin());
  return out;
}

// One connection. Stream is PlainStream or TlsStream; everything but the
// handshake and the close is shared, and the plain instantiation compiles to
// exactly what a plain-only session would be.
//
// Per request: the header is read first and shown to the HeaderCheck; only
// then is the body read. An early answer (a refused header, a body over the
// limit, a malformed request) is written with Connection: close, then what
// the client still sends is read and discarded (bounded in bytes and time)
// before the socket closes: closing with unread bytes would make the kernel
// send a reset, which can destroy the answer before the client reads it.
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

 public:
  Session(tcp::socket&& socket, Peer peer, ConnectionSlot slot, const HttpServerOptions& options,
          const Handler& handler)
    requires(!kTls)
      : stream_(std::move(socket)), peer_(std::move(peer)), slot_(std::move(slot)), options_(options),
        handler_(handler) {}
  Session(tcp::socket&& socket, std::shared_ptr<net::ssl::context> tls, Peer peer, ConnectionSlot slot,
          const HttpServerOptions& options, const Handler& handler)
    requires kTls
      : tls_(std::move(tls)), stream_(std::move(socket), *tls_), peer_(std::move(peer)), slot_(std::move(slot)),
        options_(options), handler_(handler) {}

  void Run() {
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      if constexpr (kTls)
        self->Handshake();
      else
        self->Read();
    });
  }

  // Answers `resp` to a connection refused at accept, drains briefly, closes.
  void Refuse(HttpResponse resp)
    requires(!kTls)
  {
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this(), resp = std::move(resp)]() mutable {
      self->keep_alive_ = false;
      self->drain_limit_ = kRefusalDrainBytes;
      self->drain_ms_ = std::min(self->options_.idle_timeout_ms, self->options_.refusal_drain_ms);
      self->Write(std::move(resp), true, true);
    });
  }

 private:
  beast::tcp_stream& Tcp() { return beast::get_lowest_layer(stream_); }
  void ExpireAfterIdle() { Tcp().expires_after(std::chrono::milliseconds(options_.idle_timeout_ms)); }

  void Handshake() {
    ExpireAfterIdle();
    stream_.async_handshake(net::ssl::stream_base::server,
                            [self = this->shared_from_this()](beast::error_code ec) { self->OnHandshake(ec); });
  }

  void OnHandshake(beast::error_code ec) {
    if (!ec) return Read();
    if (ec.category() == net::error::get_ssl_category() && ERR_GET_REASON(ec.value()) == SSL_R_HTTP_REQUEST) {
      // Tell a client that forgot TLS what went wrong, in the only language it speaks.
      ExpireAfterIdle();
      net::async_write(Tcp(), net::buffer(PlainHttpOnTlsPortResponse()),
                       [self = this->shared_from_this()](beast::error_code, size_t) {
                         beast::error_code ignored;
                         self->Tcp().socket().shutdown(tcp::socket::shutdown_send, ignored);
                       });
      return;
    }
    Tcp().close();  // timeout, garbage, no shared protocol or cipher, ...
  }

  void Read() {
    parser_.emplace();
    parser_->body_limit(options_.body_limit);
    parser_->header_limit(options_.header_limit);
    ExpireAfterIdle();  // one deadline for the header and the body
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  // Handles a read error: true when the session answered or ended.
  bool ReadFailed(beast::error_code ec) {
    if (!ec) return false;
    if (ec == bhttp::error::end_of_stream || ec == net::error::eof) {
      Close();
      return true;
    }
    if (ec == beast::error::timeout || ec == net::error::operation_aborted || ec == net::error::connection_reset) {
      Abort();
      return true;
    }
    if constexpr (kTls) {
      // A peer that vanished without close_notify, or a broken record: no
      // HTTP answer can be sent over this TLS session any more.
      if (ec == net::ssl::error::stream_truncated || ec.category() == net::error::get_ssl_category()) {
        Abort();
        return true;
      }
    }
    keep_alive_ = false;
    if (ec == bhttp::error::body_limit)
      EarlyAnswer(
          JsonError(413, "body_too_large", "request body exceeds " + std::to_string(options_.body_limit) + " bytes"));
    else if (ec == bhttp::error::header_limit)
      EarlyAnswer(JsonError(431, "headers_too_large", "request headers exceed the limit"));
    else
      EarlyAnswer(JsonError(400, "bad_request", "malformed HTTP request: " + ec.message()));
    return true;
  }

  void OnHeader(beast::error_code ec) {
    if (ReadFailed(ec)) return;
    const auto& h = parser_->get();
    keep_alive_ = h.keep_alive();
    http10_ = h.version() < 11;
    head_ = HttpRequest{};
    head_.method = std::string(h.method_string());
    head_.target = std::string(h.target());
    for (const auto& field : h) {
      std::string name(field.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      head_.headers.emplace_back(std::move(name), std::string(field.value()));
    }
    head_.content_type = std::string(head_.Header("content-type"));
    head_.remote_address = ClientOf(head_);
    const bool parser_done = parser_->is_done();  // the request has no body
    if (options_.header_check) {
      if (std::optional<HttpResponse> refused = options_.header_check(head_)) {
        parser_.reset();
        if (parser_done) return Write(std::move(*refused), false, false);  // no body: the connection stays usable
        keep_alive_ = false;
        return EarlyAnswer(std::move(*refused));
      }
    }
    if (parser_done) return OnBody({});
    if (beast::iequals(head_.Header("expect"), "100-continue")) {
      // The client waits for this before sending its body (RFC 9110 §10.1.1).
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      return net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                              [self = this->shared_from_this()](beast::error_code ec, size_t) {
                                if (ec) return self->Abort();
                                self->ReadBody();
                              });
    }
    ReadBody();
  }

  void ReadBody() {
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnBody(ec); });
  }

  void OnBody(beast::error_code ec) {
    if (ReadFailed(ec)) return;
    head_.body = std::move(parser_->get().body());
    parser_.reset();
    gone_ = std::make_shared<std::atomic<bool>>(false);
    head_.client_gone = gone_;
    handler_(std::move(head_), [self = this->shared_from_this()](HttpResponse resp) {
      net::post(self->stream_.get_executor(),
                [self, resp = std::move(resp)]() mutable { self->Write(std::move(resp), false, false); });
    });
    WatchForHangUp();
  }

  // While the answer is awaited, waits for the socket to become readable: at
  // the end of input (or a reset) the client is gone and the request's flag
  // says so; bytes instead (a pipelined request) end the watch. No data is
  // consumed (MSG_PEEK); Write stops the watch.
  void WatchForHangUp() {
    if (!gone_) return;
    watching_ = true;
    Tcp().socket().async_wait(
        tcp::socket::wait_read, [self = this->shared_from_this(), gone = gone_](beast::error_code ec) {
          self->watching_ = false;
          if (ec) return;  // cancelled: the answer is being written
          char c;
          const ssize_t n = ::recv(self->Tcp().socket().native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
          if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) gone->store(true);
        });
  }
  void StopWatching() {
    gone_.reset();
    if (!watching_) return;
    watching_ = false;
    beast::error_code ignored;
    Tcp().socket().cancel(ignored);  // nothing else is pending on the socket between a request and its answer
  }

  // The key of the request's client (HttpRequest::remote_address): the
  // peer's, or behind a trusted proxy the client its X-Forwarded-For names.
  // Per request: a balancer sends many clients' requests on one connection.
  std::string ClientOf(const HttpRequest& head) const {
    if (!peer_.trusted_proxy) return peer_.key;
    std::vector<std::string_view> forwarded;
    for (const auto& [name, value] : head.headers)
      if (name == "x-forwarded-for") forwarded.push_back(value);
    if (forwarded.empty()) return peer_.key;
    return ClientAddressKey(ResolveClientAddress(peer_.address, forwarded, options_.trusted_proxies));
  }

  // Answers before (or instead of) reading the whole request; then drains.
  void EarlyAnswer(HttpResponse resp) {
    drain_limit_ = options_.drain_limit;
    drain_ms_ = options_.idle_timeout_ms;
    Write(std::move(resp), true, true);
  }

  void Write(HttpResponse resp, bool close, bool drain) {
    StopWatching();
    if (resp.stream) return WriteStreamed(std::move(resp), close);
    res_ = {};
    res_.version(11);
    res_.result(static_cast<bhttp::status>(resp.status));
    res_.set(bhttp::field::server, "watershed");
    res_.set(bhttp::field::content_type, resp.content_type);
    for (auto& [k, v] : resp.headers) res_.set(k, v);
    res_.body() = std::move(resp.body);
    res_.keep_alive(keep_alive_ && !close);
    res_.prepare_payload();
    ExpireAfterIdle();
    bhttp::async_write(stream_, res_, [self = this->shared_from_this(), drain](beast::error_code ec, size_t) {
      if (ec) return self->Abort();
      if (drain) return self->Drain();
      if (!self->res_.keep_alive()) return self->Close();
      self->Read();
    });
  }

  // A body from HttpResponse::stream: the header, then one chunk per piece;
  // to an HTTP/1.0 client, which knows no chunks, the pieces as they are,
  // the end of the body being the end of the connection.
  void WriteStreamed(HttpResponse resp, bool close) {
    streamed_.emplace();
    streamed_->version(11);
    streamed_->result(static_cast<bhttp::status>(resp.status));
    streamed_->set(bhttp::field::server, "watershed");
    streamed_->set(bhttp::field::content_type, resp.content_type);
    for (auto& [k, v] : resp.headers) streamed_->set(k, v);
    streamed_->keep_alive(keep_alive_ && !close && !http10_);
    streamed_->chunked(!http10_);
    produce_ = std::move(resp.stream);
    serializer_.emplace(*streamed_);
    ExpireAfterIdle();
    bhttp::async_write_header(stream_, *serializer_, [self = this->shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->EndStream(false);
      self->WriteChunk();
    });
  }
  void WriteChunk() {
    chunk_.clear();
    bool more = true;
    while (more && chunk_.empty()) more = produce_(&chunk_);
    ExpireAfterIdle();
    const bool chunked = streamed_->chunked();
    auto next = [self = this->shared_from_this(), more, chunked](beast::error_code ec, size_t) {
      if (ec) return self->EndStream(false);
      if (more) return self->WriteChunk();
      if (!chunked) return self->EndStream(true);
      net::async_write(self->stream_, bhttp::make_chunk_last(),
                       [self](beast::error_code ec2, size_t) { self->EndStream(!ec2); });
    };
    if (chunk_.empty()) return next({}, 0);
    if (!chunked) return net::async_write(stream_, net::buffer(chunk_), std::move(next));
    net::async_write(stream_, bhttp::make_chunk(net::buffer(chunk_)), std::move(next));
  }
  void EndStream(bool ok) {
    const bool keep_alive = streamed_->keep_alive();
    produce_ = nullptr;  // frees what the body was made from
    serializer_.reset();
    streamed_.reset();
    chunk_ = std::string();
    if (!ok) return Abort();
    if (!keep_alive) return Close();
    Read();
  }

  // Reads and discards what the client still sends, up to drain_limit_
  // bytes and drain_ms_, then closes.
  // Over TLS the close_notify exchange of Close() stands for it (bounded in
  // time; OpenSSL reads the peer's records while waiting for its close_notify).
  void Drain() {
    if constexpr (kTls) {
      return Close();
    } else {
      beast::error_code ignored;  // the client sees the end of the answer at once
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    }
    Tcp().expires_after(std::chrono::milliseconds(drain_ms_));
    drained_ = buffer_.size();
    buffer_.consume(buffer_.size());
    DrainSome();
  }
  void DrainSome() {
    if (drained_ >= drain_limit_) return EndDrain();
    stream_.async_read_some(buffer_.prepare(16 << 10),
                            [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                              self->drained_ += n;
                              if (ec) return self->EndDrain();
                              self->DrainSome();
                            });
  }
  void EndDrain() {
    buffer_.consume(buffer_.size());
    buffer_.shrink_to_fit();
    Tcp().close();
  }

  // Orderly end: the peer sees end of stream once it has read everything sent.
  void Close() {
    if constexpr (kTls) {
      // close_notify, then the peer's answer for a bounded time.
      Tcp().expires_after(std::chrono::milliseconds(std::min(options_.idle_timeout_ms, kTlsShutdownTimeoutMs)));
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) { self->Tcp().close(); });
    } else {
      beast::error_code ec;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    }
  }

  // The connection is unusable (timed out, reset, broken TLS): drop it.
  void Abort() {
    if constexpr (kTls)
      Tcp().close();
    else
      Close();
  }

  // Declared before stream_: the TLS context outlives the stream using it.
  [[no_unique_address]] std::conditional_t<kTls, std::shared_ptr<net::ssl::context>, std::monostate> tls_;
  Stream stream_;
  const Peer peer_;
  ConnectionSlot slot_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  HttpRequest head_;
  bhttp::response<bhttp::string_body> res_;
  // A streamed answer in progress (WriteStreamed).
  std::optional<bhttp::response<bhttp::empty_body>> streamed_;
  std::optional<bhttp::response_serializer<bhttp::empty_body>> serializer_;
  std::function<bool(std::string*)> produce_;
  std::string chunk_;
  bool http10_ = false;  // the request's version: no chunked answer
  std::shared_ptr<std::atomic<bool>> gone_;  // the awaited request's HttpRequest::client_gone
  bool watching_ = false;                    // a WatchForHangUp wait is pending
  bool keep_alive_ = true;
  uint64_t drain_limit_ = 0, drained_ = 0;
  int drain_ms_ = 0;
  const HttpServerOptions& options_;
  const Handler& handler_;
};

// A server context with the certificate and key of `options` loaded.
Result<std::shared_ptr<net::ssl::context>> MakeServerTlsContext(const HttpServerOptions& options) {
  ERR_clear_error();
  SSL_CTX* raw = SSL_CTX_new(TLS_server_method());
  if (raw == nullptr) return Status::Internal("SSL_CTX_new: " + TakeOpenSslError());
  // Owns raw from here on (asio's constructor throws only for a null handle).
  auto ctx = std::make_shared<net::ssl::context>(raw);
  // TLS 1.3 is negotiated whenever the client has it; OpenSSL's default
  // cipher lists and groups stay.
  SSL_CTX_set_min_proto_version(raw, TLS1_2_VERSION);
  SSL_CTX_set_options(raw, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // An encrypted key must fail to load, not prompt on the terminal.
  SSL_CTX_set_default_passwd_cb(raw, [](char*, int, int, void*) { return 0; });
  if (SSL_CTX_use_certificate_chain_file(raw, options.tls_cert_file.c_str()) != 1)
    return Status::InvalidArgument("cannot load TLS certificate '" + options.tls_cert_file +
                                   "': " + TakeOpenSslError());
  if (SSL_CTX_use_PrivateKey_file(raw, options.tls_key_file.c_str(), SSL_FILETYPE_PEM) != 1)
    return Status::InvalidArgument("cannot load TLS private key '" + options.tls_key_file + "' for certificate '" +
                                   options.tls_cert_file + "': " + TakeOpenSslError());
  if (SSL_CTX_check_private_key(raw) != 1)
    return Status::InvalidArgument("TLS private key '" + options.tls_key_file + "' does not match certificate '" +
                                   options.tls_cert_file + "': " + TakeOpenSslError());
  return ctx;
}

}  // namespace

struct HttpServer::Impl {
  HttpServerOptions options;
  Handler handler;
  // Declared before ioc: sessions destroyed with the io_context still give their slots back.
  std::unique_ptr<ConnectionTable> connections;
  std::unique_ptr<ConnectionTable> refusing;  // refused connections being answered (kMaxRefusingConnections)
  Counter* refused_server = nullptr;
  Counter* refused_unanswered = nullptr;
  Counter* refused_address = nullptr;
  std::mutex tls_mu;
  std::shared_ptr<net::ssl::context> tls;  // null = plain HTTP; guarded by tls_mu
  net::io_context ioc;
  tcp::acceptor acceptor{net::make_strand(ioc)};
  net::steady_timer retry{ioc};
  std::vector<std::thread> threads;

  void Accept() {
    acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
      if (!acceptor.is_open()) return;
      if (ec) {
        // E.g. out of file descriptors: wait a little instead of spinning.
        retry.expires_after(std::chrono::milliseconds(50));
        retry.async_wait([this](beast::error_code) { Accept(); });
        return;
      }
      socket.set_option(tcp::no_delay(true), ec);
      const auto peer = socket.remote_endpoint(ec);
      if (ec) {  // gone already
        socket.close(ec);
        return Accept();
      }
      Peer remote;
      remote.address = ToIpAddress(peer.address());
      remote.key = ClientAddressKey(remote.address);
      remote.trusted_proxy = options.trusted_proxies.Contains(remote.address);
      const bool tls_port = !options.tls_cert_file.empty();
      // Connections are counted by the peer: a proxy's clients are known only once a request's header arrives.
      switch (connections->Enter(remote.key)) {
        case ConnectionTable::Admit::kOk:
          break;
        case ConnectionTable::Admit::kServerFull:
          Refuse(std::move(socket), std::move(remote), tls_port, refused_server,
                 JsonError(503, "server_busy", "the server is at its connection limit; retry shortly"));
          return Accept();
        case ConnectionTable::Admit::kAddressFull:
          Refuse(std::move(socket), std::move(remote), tls_port, refused_address,
                 JsonError(429, "too_many_connections", "too many open connections from this address"));
          return Accept();
      }
      ConnectionSlot slot(connections.get(), remote.key);
      if (!tls_port) {
        std::make_shared<Session<PlainStream>>(std::move(socket), std::move(remote), std::move(slot), options, handler)
            ->Run();
      } else {
        std::shared_ptr<net::ssl::context> ctx;
        {
          std::lock_guard lock(tls_mu);
          ctx = tls;
        }
        std::make_shared<Session<TlsStream>>(std::move(socket), std::move(ctx), std::move(remote), std::move(slot),
                                             options, handler)
            ->Run();
      }
      Accept();
    });
  }

  // Over a cap: a short answer with Connection: close (plain HTTP), or just
  // a close on a TLS port (a handshake would cost more than the connection).
  void Refuse(tcp::socket&& socket, Peer remote, bool tls_port, Counter* counter, HttpResponse resp) {
    if (counter) counter->Add();
    resp.headers.emplace_back("Retry-After", "1");
    if (tls_port || refusing->Enter("") != ConnectionTable::Admit::kOk) {
      if (refused_unanswered) refused_unanswered->Add();
      beast::error_code ignored;
      socket.set_option(net::socket_base::linger(true, 0), ignored);  // a reset: no TIME_WAIT either
      socket.close(ignored);
      return;
    }
    std::make_shared<Session<PlainStream>>(std::move(socket), std::move(remote), ConnectionSlot(refusing.get(), ""),
                                           options, handler)
        ->Refuse(std::move(resp));
  }
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(); }

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options, Handler handler) {
  if (options.tls_cert_file.empty() != options.tls_key_file.empty())
    return Status::InvalidArgument(options.tls_cert_file.empty()
                                       ? "TLS private key '" + options.tls_key_file + "' given without a certificate"
                                       : "TLS certificate '" + options.tls_cert_file + "' given without a private key");
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->handler = std::move(handler);
  impl->connections = std::make_unique<ConnectionTable>(options.max_connections, options.max_connections_per_address);
  impl->refusing = std::make_unique<ConnectionTable>(kMaxRefusingConnections, 0);
  if (options.metrics) {
    const char* help = "Connections refused at accept (answered and closed), by the cap they hit";
    impl->refused_server =
        options.metrics->AddCounter("watershed_http_connections_refused_total", help, "cap=\"server\"");
    impl->refused_address =
        options.metrics->AddCounter("watershed_http_connections_refused_total", help, "cap=\"address\"");
    impl->refused_unanswered = options.metrics->AddCounter(
        "watershed_http_refusals_unanswered_total",
        "Refused connections closed without an answer (a TLS port, or kMaxRefusingConnections answers in progress)");
  }
  if (!options.tls_cert_file.empty()) {
    ASSIGN_OR_RETURN(impl->tls, MakeServerTlsContext(options));
  }
  beast::error_code ec;
  auto address = net::ip::make_address(options.address, ec);
  if (ec) return Status::InvalidArgument("bad listen address '" + options.address + "': " + ec.message());
  tcp::endpoint endpoint(address, options.port);
  auto& acc = impl->acceptor;
  acc.open(endpoint.protocol(), ec);
  if (!ec) acc.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(endpoint, ec);
  if (!ec) acc.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return Status::Unavailable("cannot listen on " + options.address + ":" + std::to_string(options.port) + ": " +
                               ec.message());
  impl->Accept();
  for (int i = 0; i < std::max(1, options.threads); ++i) impl->threads.emplace_back([i = impl.get()] { i->ioc.run(); });
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

uint16_t HttpServer::port() const { return impl_->acceptor.local_endpoint().port(); }

int64_t HttpServer::open_connections() const { return impl_->connections->Total(); }

int64_t HttpServer::refusing_connections() const { return impl_->refusing->Total(); }

bool HttpServer::tls() const { return !impl_->options.tls_cert_file.empty(); }

Status HttpServer::ReloadTls() {
  if (!tls()) return Status::FailedPrecondition("the server was started without TLS");
  ASSIGN_OR_RETURN(std::shared_ptr<net::ssl::context> ctx, MakeServerTlsContext(impl_->options));
  std::lock_guard lock(impl_->tls_mu);
  impl_->tls = std::move(ctx);
  return Status::Ok();
}

void HttpServer::Stop() {
  if (impl_->threads.empty()) return;
  impl_->ioc.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  // No thread runs handlers now: close the listener so new clients are refused
  // at once instead of waiting in the backlog while the server drains.
  beast::error_code ec;
  impl_->acceptor.close(ec);
}

}  // namespace watershed::http
