#include "app/client_flags.h"

#include <simdjson.h>

#include <algorithm>
#include <cstdlib>

namespace watershed::app {

std::vector<std::string> WithClientFlags(std::vector<std::string> names) {
  names.insert(names.end(), {"server", "tls!", "ca-file", "insecure!", "token"});
  return names;
}

const char* const kClientFlagsHelp =
    "  --server ADDRESS    HOST:PORT or http(s)://HOST:PORT (default: $WATERSHED_SERVER, else\n"
    "                      127.0.0.1:$WATERSHED_PORT, else 127.0.0.1:8080)\n"
    "  --tls               HTTPS; --ca-file FILE trusts that CA (default: system store),\n"
    "                      --insecure skips certificate checks (development only)\n"
    "  --token TOKEN       bearer token (default: $WATERSHED_TOKEN; see `watershed token`)\n";

namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

}  // namespace

Result<ClientOptions> ClientOptionsFrom(const Flags& f) {
  ClientOptions o;
  std::string address = f.Get("server"), source = "--server";
  if (address.empty() && !Env("WATERSHED_SERVER").empty()) {
    address = Env("WATERSHED_SERVER");
    source = "WATERSHED_SERVER";
  }
  if (address.empty() && !Env("WATERSHED_PORT").empty()) {
    ASSIGN_OR_RETURN(uint16_t port, ParseNumber<uint16_t>("WATERSHED_PORT", Env("WATERSHED_PORT"), 1));
    address = "127.0.0.1:" + std::to_string(port);
    source = "WATERSHED_PORT";
  }
  if (address.empty()) address = "127.0.0.1:8080";
  bool https = false;
  if (address.starts_with("https://")) {
    https = true;
    address = address.substr(8);
  } else if (address.starts_with("http://")) {
    address = address.substr(7);
  }
  while (address.ends_with("/")) address.pop_back();
  if (address.empty() || address.find_first_of("/ ") != std::string::npos)
    return Status::InvalidArgument(source + " must be HOST:PORT or http(s)://HOST:PORT, got '" +
                                   (source == "--server" ? f.Get("server") : Env(source.c_str())) + "'");
  if (Status s = http::ParseHostPort(address, &o.host, &o.port); !s.ok())
    return Status::InvalidArgument(source + ": " + s.message());
  o.tls = https || f.Has("tls") || f.Has("ca-file") || f.Has("insecure");
  o.ca_file = f.Get("ca-file");
  o.insecure_skip_verify = f.Has("insecure");
  return o;
}

std::string BearerTokenFrom(const Flags& f) {
  if (f.Has("token")) return f.Get("token");
  return Env("WATERSHED_TOKEN");
}

Result<std::unique_ptr<HttpClient>> NewClient(const ClientOptions& options, const std::string& token) {
  auto client = std::make_unique<HttpClient>(options);
  if (!token.empty()) RETURN_IF_ERROR(client->SetHeader("Authorization", "Bearer " + token));
  return client;
}

int64_t RetryAfterMs(const ClientResponse& r, int64_t at_least_ms) {
  auto seconds = ParseNumber<int64_t>("Retry-After", r.retry_after, 0, 3600);
  return std::max(at_least_ms, seconds.ok() ? *seconds * 1000 : 0);
}

std::string DescribeAnswer(const ClientResponse& r, bool sent_token) {
  std::string out = "HTTP " + std::to_string(r.status);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  std::string_view code, message;
  if (parser.parse(r.body).get(doc) == simdjson::SUCCESS && doc["error"]["code"].get(code) == simdjson::SUCCESS &&
      doc["error"]["message"].get(message) == simdjson::SUCCESS) {
    out += " " + std::string(code) + ": " + std::string(message);
  } else if (!r.body.empty()) {
    out += ": " + r.body;
  }
  if (r.status == 401 && !sent_token)
    out +=
        "\n(no token was sent: give one with --token TOKEN or $WATERSHED_TOKEN; "
        "`watershed token --sub ID --region R --roles admin` signs one)";
  return out;
}

}  // namespace watershed::app
