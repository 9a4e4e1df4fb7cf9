#pragma once
// Connection flags shared by the client commands (load, query, status):
//   --server HOST:PORT  --tls  --ca-file FILE  --insecure
//   --token TOKEN       bearer token (default: $WATERSHED_TOKEN)

#include <memory>
#include <string>
#include <vector>

#include "app/commands.h"
#include "http/http_client.h"

namespace watershed::app {

// The client commands name the client types unqualified.
using http::ClientOptions;
using http::ClientResponse;
using http::HttpClient;

const std::vector<std::string>& ClientFlagNames();
extern const char* const kClientFlagsHelp;

Result<ClientOptions> ClientOptionsFrom(const Flags& f);
// --token, else $WATERSHED_TOKEN, else "".
std::string BearerTokenFrom(const Flags& f);
// A client with the flags' options, sending `token` (when non-empty) as a bearer token.
Result<std::unique_ptr<HttpClient>> NewClient(const ClientOptions& options, const std::string& token);

}  // namespace watershed::app
