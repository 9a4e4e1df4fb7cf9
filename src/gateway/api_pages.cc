// The dashboard's pages (web/web_files.h) and the development-only token
// endpoint its sign-in form may use (docs/operations.md "Dashboard").

#include <simdjson.h>

#include "gateway/api.h"

namespace watershed::gateway {

using http::HttpRequest;
using http::HttpResponse;
using http::JsonError;

const web::File* Api::PageAt(std::string_view path) const {
  for (const web::File& f : deps_.pages)
    if (f.path == path) return &f;
  return nullptr;
}

HttpResponse Api::Page(const web::File& page, const std::string& method) const {
  if (method != "GET") {
    HttpResponse r = JsonError(405, "method_not_allowed", method + " is not allowed on " + std::string(page.path));
    r.headers.emplace_back("Allow", "GET");
    return r;
  }
  HttpResponse r;
  r.content_type = std::string(page.content_type);
  r.body = std::string(page.body);
  // Scripts and styles only from this origin, in files (no inline script or
  // style), data only from this origin's API, and the pages never framed.
  r.headers.emplace_back("Content-Security-Policy",
                         "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                         "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  // Revalidate every time: a new binary's pages and scripts replace the old
  // ones at once (names are not versioned).
  r.headers.emplace_back("Cache-Control", "no-cache");
  return r;
}

HttpResponse Api::PostDevToken(const HttpRequest& req) const {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  simdjson::dom::object body;
  if (parser.parse(simdjson::padded_string(req.body)).get(doc) != simdjson::SUCCESS ||
      doc.get(body) != simdjson::SUCCESS)
    return JsonError(400, "malformed_body", "the body must be a JSON object {\"creator\": N}");
  uint64_t creator = 0;
  if (body["creator"].get(creator) != simdjson::SUCCESS || creator == 0)
    return JsonError(400, "invalid_creator", "creator must be a positive integer");
  Region region = Region::kUs;
  if (simdjson::dom::element r; body["region"].get(r) == simdjson::SUCCESS) {
    std::string_view name;
    std::optional<Region> parsed;
    if (r.get(name) == simdjson::SUCCESS) parsed = ParseRegion(name);
    if (!parsed) return JsonError(400, "invalid_region", "region must be one of " + RegionNamesText());
    region = *parsed;
  }
  Result<std::string> token = deps_.mint_dev_token(creator, region);
  if (!token.ok()) return JsonError(500, "internal", token.status().message());
  std::string out = "{\"token\":";
  http::AppendJsonString(*token, &out);
  out += ",\"creator\":" + std::to_string(creator) + ",\"region\":\"" + std::string(RegionName(region)) +
         "\",\"roles\":[\"creator\"],\"expires_in\":3600}";
  HttpResponse r;
  r.body = std::move(out);
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

}  // namespace watershed::gateway
