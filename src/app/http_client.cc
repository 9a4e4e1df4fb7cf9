#include <utility>  // first: Boost 1.74's Beast misses it
#include "app/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <optional>

namespace watershed::app {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

struct HttpClient::Impl {
  std::string host;
  uint16_t port;
  int timeout_ms;
  net::io_context ioc;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;

  Status Connect() {
    stream.emplace(ioc);
    beast::error_code ec;
    tcp::resolver resolver(ioc);
    auto results = resolver.resolve(host, std::to_string(port), ec);
    if (ec) return Status::Unavailable("resolve " + host + ": " + ec.message());
    stream->expires_after(std::chrono::milliseconds(timeout_ms));
    stream->connect(results, ec);
    if (ec) {
      stream.reset();
      return Status::Unavailable("connect " + host + ":" + std::to_string(port) + ": " + ec.message());
    }
    stream->socket().set_option(tcp::no_delay(true), ec);
    buffer.clear();
    return Status::Ok();
  }
};

HttpClient::HttpClient(std::string host, uint16_t port, int timeout_ms) : impl_(std::make_unique<Impl>()) {
  impl_->host = std::move(host);
  impl_->port = port;
  impl_->timeout_ms = timeout_ms;
}

HttpClient::~HttpClient() = default;

Result<ClientResponse> HttpClient::Request(const std::string& method, const std::string& target,
                                           const std::string& body, const std::string& content_type) {
  // One retry on a fresh connection: a kept-alive connection may have been closed by the server.
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool reused = impl_->stream.has_value();
    if (!reused) RETURN_IF_ERROR(impl_->Connect());
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, impl_->host);
    req.keep_alive(true);
    if (!body.empty() || method == "POST") {
      req.set(http::field::content_type, content_type);
      req.body() = body;
      req.prepare_payload();
    }
    beast::error_code ec;
    impl_->stream->expires_after(std::chrono::milliseconds(impl_->timeout_ms));
    http::write(*impl_->stream, req, ec);
    http::response_parser<http::string_body> parser;
    parser.body_limit(256ull << 20);
    if (!ec) http::read(*impl_->stream, impl_->buffer, parser, ec);
    if (ec) {
      impl_->stream.reset();
      if (reused && attempt == 0) continue;
      return Status::Unavailable(method + " " + target + ": " + ec.message());
    }
    auto res = parser.release();
    ClientResponse out;
    out.status = static_cast<int>(res.result_int());
    out.body = std::move(res.body());
    if (auto it = res.find(http::field::retry_after); it != res.end()) out.retry_after = std::string(it->value());
    if (!res.keep_alive()) impl_->stream.reset();
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

}  // namespace watershed::app
