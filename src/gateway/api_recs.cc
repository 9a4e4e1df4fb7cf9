// GET /v1/users/{id}/recommendations (docs/api.md): who may read whose recommendations and the bounds of the
// request; the answer itself comes from ApiDeps::recommendations (recs/serving.h in `watershed serve`).

#include <charconv>

#include "gateway/api.h"
#include "gateway/query_request.h"

namespace watershed::gateway {

using http::HttpResponse;
using http::JsonError;

HttpResponse Api::Recommendations(const std::string& method, std::optional<uint64_t> user, std::string_view query,
                                  const Caller& caller) {
  using auth::Role;
  if (method != "GET") {
    HttpResponse r = JsonError(405, "method_not_allowed", method + " is not allowed on recommendations");
    r.headers.emplace_back("Allow", "GET");
    return r;
  }
  if (!user || *user == 0) return JsonError(400, "invalid_user_id", "the user id must be an integer in 1..2^64-1");
  // A viewer reads their own recommendations (they show what the viewer watched); an admin anyone's.
  if (caller && !caller->roles.Has(Role::kAdmin)) {
    if (!caller->roles.Has(Role::kViewer)) {
      forbidden_->Add();
      return JsonError(403, "role_required", "recommendations need the viewer or admin role");
    }
    if (caller->user.value != *user) {
      forbidden_->Add();
      return JsonError(403, "not_own_user", "a viewer reads only their own recommendations");
    }
  }
  uint32_t k = kDefaultRecommendations;
  if (auto text = QueryParam(query, "k")) {
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), k);
    if (text->empty() || ec != std::errc() || end != text->data() + text->size() || k < 1 || k > kMaxRecommendations)
      return JsonError(400, "invalid_k", "k must be an integer in 1.." + std::to_string(kMaxRecommendations));
  }
  bool explain = false;
  if (auto text = QueryParam(query, "explain")) {
    if (*text == "true" || *text == "1") {
      explain = true;
    } else if (*text != "false" && *text != "0") {
      return JsonError(400, "invalid_explain", "explain must be true or false");
    }
  }
  if (!deps_.recommendations)
    return JsonError(404, "recs_off", "recommendations are off in this process (its recs-model is empty)");
  Result<std::string> body =
      deps_.recommendations(*user, caller ? std::optional<Region>(caller->region) : std::nullopt, k, explain);
  if (!body.ok()) {
    if (body.status().code() == StatusCode::kUnavailable) {
      HttpResponse r = JsonError(503, "recs_unavailable", body.status().message());
      r.headers.emplace_back("Retry-After", "1");
      return r;
    }
    return JsonError(500, "recs_failed", body.status().message());
  }
  HttpResponse r;
  r.body = std::move(body).value();
  return r;
}

}  // namespace watershed::gateway
