// POST /v1/admin/erasures (docs/api.md, docs/governance.md "Erasure"): an admin records the erasure of a viewer.

#include "gateway/api.h"
#include "gov/erasure_request.h"

namespace watershed::gateway {

using http::HttpResponse;

HttpResponse Api::PostErasure(const std::string& body, const Caller& caller) {
  const int64_t arrived_us = deps_.clock->NowMs() * 1000;
  auto viewer = gov::ParseErasureBody(body);
  if (!viewer.ok()) {
    if (auto failed = Audit(caller, "ERASE VIEWER ?", arrived_us, {"erasure"}, 0, viewer.status()))
      return std::move(*failed);
    return http::JsonError(400, "invalid_erasure", viewer.status().message());
  }
  const std::string by = caller ? "user " + std::to_string(caller->user.value) : "anonymous";
  auto receipt = deps_.erase(*viewer, by);
  // Audited before the answer (fail closed); the request stays recorded even when the audit fails.
  const std::string sql = "ERASE VIEWER " + std::to_string(*viewer);
  if (auto failed = Audit(caller, sql, arrived_us, {"erasure"}, 0, receipt.ok() ? Status::Ok() : receipt.status()))
    return std::move(*failed);
  if (!receipt.ok()) {
    if (receipt.status().code() == StatusCode::kInvalidArgument)
      return http::JsonError(400, "invalid_erasure", receipt.status().message());
    return http::JsonError(503, "erasure_unavailable", receipt.status().message());
  }
  HttpResponse r;
  r.status = 202;  // recorded; the lake steps run after the answer
  r.body = std::move(receipt).value();
  return r;
}

}  // namespace watershed::gateway
