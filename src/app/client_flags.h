#pragma once
// Connection flags shared by the client commands (load, query, status):
//   --server [http[s]://]HOST[:PORT]  --tls  --ca-file FILE  --insecure
//   --token TOKEN
// and how those commands describe an answer they did not want.

#include <memory>
#include <string>
#include <vector>

#include "app/flags.h"
#include "http/http_client.h"

namespace watershed::app {

// The client commands name the client types unqualified.
using http::ClientOptions;
using http::ClientResponse;
using http::HttpClient;

// `names` (a command's own flags, as Flags::Parse takes them) plus the connection flags.
std::vector<std::string> WithClientFlags(std::vector<std::string> names);
extern const char* const kClientFlagsHelp;

// The server is --server, else $WATERSHED_SERVER, else 127.0.0.1 on
// $WATERSHED_PORT (the port `serve` listens on when that is set), else
// 127.0.0.1:8080. An https:// address implies --tls.
Result<ClientOptions> ClientOptionsFrom(const Flags& f);
// --token, else $WATERSHED_TOKEN, else "".
std::string BearerTokenFrom(const Flags& f);
// A client with the flags' options, sending `token` (when non-empty) as a bearer token.
Result<std::unique_ptr<HttpClient>> NewClient(const ClientOptions& options, const std::string& token);

// How long a 429 or 503 answer asks to wait (its Retry-After seconds), at
// least at_least_ms.
int64_t RetryAfterMs(const ClientResponse& r, int64_t at_least_ms);

// "HTTP 404 not_found: <message>" from the API's JSON error body (the raw
// body when it is not one). A 401 to a request without a token also says how
// to give one.
std::string DescribeAnswer(const ClientResponse& r, bool sent_token);

}  // namespace watershed::app
