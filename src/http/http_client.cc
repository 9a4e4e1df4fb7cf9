#include <utility>  // first: Boost 1.74's Beast misses it
#include "http/http_client.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <charconv>
#include <optional>
#include <system_error>

#include "http/openssl_error.h"

namespace watershed::http {

namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (!std::isalnum(c) && std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) == std::string_view::npos)
      return false;
  return true;
}

Status MakeClientTlsContext(const ClientOptions& o, std::optional<net::ssl::context>* out) {
  ERR_clear_error();
  SSL_CTX* raw = SSL_CTX_new(TLS_client_method());
  if (raw == nullptr) return Status::Internal("SSL_CTX_new: " + TakeOpenSslError());
  out->emplace(raw);  // owns raw from here on
  SSL_CTX_set_min_proto_version(raw, TLS1_2_VERSION);
  SSL_CTX_set_options(raw, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  if (o.insecure_skip_verify) {
    SSL_CTX_set_verify(raw, SSL_VERIFY_NONE, nullptr);
    return Status::Ok();
  }
  if (!o.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(raw, o.ca_file.c_str(), nullptr) != 1)
      return Status::InvalidArgument("cannot load TLS CA file '" + o.ca_file + "': " + TakeOpenSslError());
  } else if (SSL_CTX_set_default_verify_paths(raw) != 1) {
    return Status::InvalidArgument("cannot load the system's trusted certificates: " + TakeOpenSslError());
  }
  SSL_CTX_set_verify(raw, SSL_VERIFY_PEER, nullptr);
  return Status::Ok();
}

}  // namespace

std::string_view ClientResponse::Header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return v;
  return {};
}

struct HttpClient::Impl {
  ClientOptions opt;
  Status setup;                                // why TLS cannot be used; Ok otherwise
  std::optional<net::ssl::context> tls_ctx;    // when opt.tls; outlives the streams
  std::vector<std::pair<std::string, std::string>> headers;  // sent with every request
  net::io_context ioc;
  // At most one is engaged: the open connection.
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer;

  bool connected() const { return plain.has_value() || secure.has_value(); }
  beast::tcp_stream& Tcp() { return secure ? beast::get_lowest_layer(*secure) : *plain; }
  void ExpireAfterTimeout() { Tcp().expires_after(std::chrono::milliseconds(opt.timeout_ms)); }
  // Drops the connection without a TLS close_notify: nothing more is read
  // from it, and waiting for the server's answer could block.
  void Disconnect() {
    secure.reset();
    plain.reset();
  }

  // Runs the asynchronous operation that `start` launches to completion.
  // Asynchronous, because only those obey the stream's expiry (Beast's
  // blocking calls have no timeout).
  template <class Start>
  beast::error_code Await(Start start) {
    beast::error_code result = net::error::operation_aborted;
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    ioc.restart();
    ioc.run();
    return result;
  }

  // SNI and the name the certificate must carry.
  Status PrepareTls() {
    SSL* ssl = secure->native_handle();
    beast::error_code not_ip;
    net::ip::make_address(opt.host, not_ip);
    if (not_ip) {
      // SNI carries DNS names only.
      if (SSL_set_tlsext_host_name(ssl, opt.host.c_str()) != 1)
        return Status::InvalidArgument("bad TLS server name '" + opt.host + "': " + TakeOpenSslError());
      if (!opt.insecure_skip_verify && SSL_set1_host(ssl, opt.host.c_str()) != 1)
        return Status::InvalidArgument("bad TLS host name '" + opt.host + "': " + TakeOpenSslError());
    } else if (!opt.insecure_skip_verify && X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), opt.host.c_str()) != 1) {
      return Status::InvalidArgument("bad TLS host address '" + opt.host + "': " + TakeOpenSslError());
    }
    return Status::Ok();
  }

  Status HandshakeError(beast::error_code ec) {
    std::string where = "TLS handshake with " + opt.host + ":" + std::to_string(opt.port) + " failed: ";
    if (ec.category() != net::error::get_ssl_category() ||
        ERR_GET_REASON(ec.value()) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
      return Status::Unavailable(where + ec.message());  // timeout, reset, closed: may pass
    std::string why = ec.message();
    long verify = SSL_get_verify_result(secure->native_handle());
    if (verify != X509_V_OK) {
      why += " (" + std::string(X509_verify_cert_error_string(verify)) + ")";
    } else if (ERR_GET_REASON(ec.value()) == SSL_R_WRONG_VERSION_NUMBER) {
      why += " (does the server speak TLS?)";
    }
    return Status::FailedPrecondition(where + why);
  }

  Status Connect() {
    RETURN_IF_ERROR(setup);
    Disconnect();
    buffer.clear();
    beast::error_code ec;
    tcp::resolver resolver(ioc);
    auto results = resolver.resolve(opt.host, std::to_string(opt.port), ec);
    if (ec) return Status::Unavailable("resolve " + opt.host + ": " + ec.message());
    if (opt.tls) {
      secure.emplace(ioc, *tls_ctx);
      if (Status s = PrepareTls(); !s.ok()) {
        Disconnect();
        return s;
      }
    } else {
      plain.emplace(ioc);
    }
    ExpireAfterTimeout();
    ec = Await([&](auto handler) { Tcp().async_connect(results, std::move(handler)); });
    if (ec) {
      Disconnect();
      return Status::Unavailable("connect " + opt.host + ":" + std::to_string(opt.port) + ": " + ec.message());
    }
    Tcp().socket().set_option(tcp::no_delay(true), ec);
    if (secure) {
      ERR_clear_error();
      ExpireAfterTimeout();
      ec = Await([&](auto handler) { secure->async_handshake(net::ssl::stream_base::client, std::move(handler)); });
      if (ec) {
        Status s = HandshakeError(ec);
        Disconnect();
        return s;
      }
    }
    return Status::Ok();
  }

  beast::error_code RoundTrip(bhttp::request<bhttp::string_body>& req,
                              bhttp::response_parser<bhttp::string_body>& parser) {
    auto exchange = [&](auto& stream) {
      ExpireAfterTimeout();
      beast::error_code ec = Await([&](auto handler) { bhttp::async_write(stream, req, std::move(handler)); });
      if (ec) return ec;
      ExpireAfterTimeout();
      return Await([&](auto handler) { bhttp::async_read(stream, buffer, parser, std::move(handler)); });
    };
    return secure ? exchange(*secure) : exchange(*plain);
  }
};

HttpClient::HttpClient(ClientOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->opt = std::move(options);
  if (impl_->opt.tls) impl_->setup = MakeClientTlsContext(impl_->opt, &impl_->tls_ctx);
}

namespace {
ClientOptions PlainOptions(std::string host, uint16_t port, int timeout_ms) {
  ClientOptions o;
  o.host = std::move(host);
  o.port = port;
  o.timeout_ms = timeout_ms;
  return o;
}
}  // namespace

HttpClient::HttpClient(std::string host, uint16_t port, int timeout_ms)
    : HttpClient(PlainOptions(std::move(host), port, timeout_ms)) {}

HttpClient::~HttpClient() = default;

Status HttpClient::SetHeader(std::string name, std::string value) {
  if (!IsToken(name)) return Status::InvalidArgument("bad HTTP header name '" + name + "'");
  for (unsigned char c : value)
    if ((c < 0x20 && c != '\t') || c == 0x7f)
      return Status::InvalidArgument("HTTP header " + name + " has a control character in its value");
  auto& headers = impl_->headers;
  std::erase_if(headers, [&](const auto& h) { return beast::iequals(h.first, name); });
  if (!value.empty()) headers.emplace_back(std::move(name), std::move(value));
  return Status::Ok();
}

Result<ClientResponse> HttpClient::Request(const std::string& method, const std::string& target,
                                           const std::string& body, const std::string& content_type) {
  // One retry on a fresh connection: a kept-alive connection may have been closed by the server.
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool reused = impl_->connected();
    if (!reused) RETURN_IF_ERROR(impl_->Connect());
    bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(method), target, 11};
    req.set(bhttp::field::host, impl_->opt.host);
    req.keep_alive(true);
    for (const auto& [name, value] : impl_->headers) req.set(name, value);
    if (!body.empty() || method == "POST") {
      req.set(bhttp::field::content_type, content_type);
      req.body() = body;
      req.prepare_payload();
    }
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(impl_->opt.max_response_bytes);
    beast::error_code ec = impl_->RoundTrip(req, parser);
    if (ec) {
      impl_->Disconnect();
      if (reused && attempt == 0) continue;
      return Status::Unavailable(method + " " + target + ": " + ec.message());
    }
    auto res = parser.release();
    ClientResponse out;
    out.status = static_cast<int>(res.result_int());
    out.body = std::move(res.body());
    for (const auto& field : res) out.headers.emplace_back(Lower(field.name_string()), std::string(field.value()));
    out.retry_after = std::string(out.Header("retry-after"));
    if (!res.keep_alive()) impl_->Disconnect();
    return out;
  }
  return Status::Unavailable("unreachable");
}

Status ParseHostPort(const std::string& s, std::string* host, uint16_t* port) {
  auto colon = s.rfind(':');
  *host = colon == std::string::npos ? s : s.substr(0, colon);
  *port = 8080;
  if (colon == std::string::npos) return Status::Ok();
  std::string p = s.substr(colon + 1);
  unsigned v = 0;
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
  if (ec != std::errc() || end != p.data() + p.size() || v == 0 || v > 65535)
    return Status::InvalidArgument("bad port in '" + s + "'");
  *port = static_cast<uint16_t>(v);
  return Status::Ok();
}

}  // namespace watershed::http
