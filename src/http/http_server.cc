#include <utility>  // first: Boost 1.74's Beast misses it
#include "http/http_server.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

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
#include <algorithm>
#include <cctype>
#include <mutex>
#include <optional>

#include "http/openssl_error.h"
#include <system_error>
#include <thread>
#include <type_traits>
#include <variant>

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

// One connection. Stream is PlainStream or TlsStream; everything but the
// handshake and the close is shared, and the plain instantiation compiles to
// exactly what a plain-only session would be.
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

 public:
  Session(tcp::socket&& socket, const HttpServerOptions& options, const Handler& handler)
    requires(!kTls)
      : stream_(std::move(socket)), options_(options), handler_(handler) {}
  Session(tcp::socket&& socket, std::shared_ptr<net::ssl::context> tls, const HttpServerOptions& options,
          const Handler& handler)
    requires kTls
      : tls_(std::move(tls)), stream_(std::move(socket), *tls_), options_(options), handler_(handler) {}

  void Run() {
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      if constexpr (kTls)
        self->Handshake();
      else
        self->Read();
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
    ExpireAfterIdle();
    bhttp::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec == bhttp::error::end_of_stream || ec == net::error::eof) return Close();
    if (ec == beast::error::timeout || ec == net::error::operation_aborted || ec == net::error::connection_reset)
      return Abort();
    if constexpr (kTls) {
      // A peer that vanished without close_notify, or a broken record: no
      // HTTP answer can be sent over this TLS session any more.
      if (ec == net::ssl::error::stream_truncated || ec.category() == net::error::get_ssl_category())
        return Abort();
    }
    if (ec == bhttp::error::body_limit)
      return Write(JsonError(413, "body_too_large",
                             "request body exceeds " + std::to_string(options_.body_limit) + " bytes"),
                   true);
    if (ec == bhttp::error::header_limit)
      return Write(JsonError(431, "headers_too_large", "request headers exceed the limit"), true);
    if (ec) return Write(JsonError(400, "bad_request", "malformed HTTP request: " + ec.message()), true);

    bhttp::request<bhttp::string_body> req = parser_->release();
    keep_alive_ = req.keep_alive();
    HttpRequest r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    for (const auto& field : req) {
      std::string name(field.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.headers.emplace_back(std::move(name), std::string(field.value()));
    }
    r.content_type = std::string(r.Header("content-type"));
    r.body = std::move(req.body());
    handler_(std::move(r), [self = this->shared_from_this()](HttpResponse resp) {
      net::post(self->stream_.get_executor(),
                [self, resp = std::move(resp)]() mutable { self->Write(std::move(resp), false); });
    });
  }

  void Write(HttpResponse resp, bool close) {
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
    bhttp::async_write(stream_, res_, [self = this->shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->Abort();
      if (!self->res_.keep_alive()) return self->Close();
      self->Read();
    });
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
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bhttp::response<bhttp::string_body> res_;
  bool keep_alive_ = true;
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
      if (options.tls_cert_file.empty()) {
        std::make_shared<Session<PlainStream>>(std::move(socket), options, handler)->Run();
      } else {
        std::shared_ptr<net::ssl::context> ctx;
        {
          std::lock_guard lock(tls_mu);
          ctx = tls;
        }
        std::make_shared<Session<TlsStream>>(std::move(socket), std::move(ctx), options, handler)->Run();
      }
      Accept();
    });
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
