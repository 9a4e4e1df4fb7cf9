#include "app/client_flags.h"

#include <cstdlib>

namespace watershed::app {

const std::vector<std::string>& ClientFlagNames() {
  static const std::vector<std::string> names = {"server", "tls!", "ca-file", "insecure!", "token"};
  return names;
}

const char* const kClientFlagsHelp =
    "  --server HOST:PORT  (127.0.0.1:8080)\n"
    "  --tls               HTTPS; --ca-file FILE trusts that CA (default: system store),\n"
    "                      --insecure skips certificate checks (development only)\n"
    "  --token TOKEN       bearer token (default: $WATERSHED_TOKEN; see `watershed token`)\n";

Result<ClientOptions> ClientOptionsFrom(const Flags& f) {
  ClientOptions o;
  RETURN_IF_ERROR(http::ParseHostPort(f.Get("server", "127.0.0.1:8080"), &o.host, &o.port));
  o.tls = f.Has("tls") || f.Has("ca-file") || f.Has("insecure");
  o.ca_file = f.Get("ca-file");
  o.insecure_skip_verify = f.Has("insecure");
  return o;
}

std::string BearerTokenFrom(const Flags& f) {
  if (f.Has("token")) return f.Get("token");
  const char* env = std::getenv("WATERSHED_TOKEN");
  return env ? env : "";
}

Result<std::unique_ptr<HttpClient>> NewClient(const ClientOptions& options, const std::string& token) {
  auto client = std::make_unique<HttpClient>(options);
  if (!token.empty()) RETURN_IF_ERROR(client->SetHeader("Authorization", "Bearer " + token));
  return client;
}

}  // namespace watershed::app
