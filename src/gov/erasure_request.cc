#include "gov/erasure_request.h"

#include <simdjson.h>

#include <algorithm>
#include <optional>

#include "core/json_text.h"

namespace watershed::gov {
namespace {

constexpr size_t kMaxSteps = 4096, kMaxText = 200;

}  // namespace

bool ValidErasureId(std::string_view id) {
  const size_t dash = id.find('-');
  if (dash == std::string_view::npos || dash == 0 || dash > 19 || id.size() != dash + 17) return false;
  for (size_t i = 0; i < id.size(); ++i) {
    const char c = id[i];
    if (i == dash) continue;
    if (i < dash ? !(c >= '0' && c <= '9') : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool ErasureText(std::string_view s) {
  if (s.size() > kMaxText) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

// ---- The request file -------------------------------------------------------

std::string EncodeErasureRequest(const ErasureRequest& r) {
  std::string out = "{\"request_id\":";
  AppendJsonString(r.id, &out);
  out += ",\"viewer_id\":" + std::to_string(r.viewer) + ",\"requested_ms\":" + std::to_string(r.requested_ms) +
         ",\"requested_by\":";
  AppendJsonString(r.requested_by, &out);
  out += ",\"done\":[";
  for (size_t i = 0; i < r.done.size(); ++i) {
    if (i) out += ",";
    AppendJsonString(r.done[i], &out);
  }
  out += "],\"complete\":";
  out += r.complete ? "true" : "false";
  out += "}\n";
  return out;
}

Result<ErasureRequest> ParseErasureRequest(std::string_view text) {
  if (text.size() > kMaxSteps * (kMaxText + 8) + 4096) return Status::Corruption("erasure request: too large");
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  const simdjson::padded_string padded(text);
  if (parser.parse(padded).get(doc) != simdjson::SUCCESS) return Status::Corruption("erasure request: not JSON");
  ErasureRequest r;
  std::string_view id, by;
  int64_t requested = 0;
  uint64_t viewer = 0;
  bool complete = false;
  simdjson::dom::array done;
  if (doc["request_id"].get(id) || doc["viewer_id"].get(viewer) || doc["requested_ms"].get(requested) ||
      doc["requested_by"].get(by) || doc["done"].get(done) || doc["complete"].get(complete))
    return Status::Corruption("erasure request: a field is missing or of the wrong type");
  if (!ValidErasureId(id)) return Status::Corruption("erasure request: bad request_id");
  if (viewer == 0 || viewer > kMaxErasableViewer) return Status::Corruption("erasure request: bad viewer_id");
  if (requested < 0) return Status::Corruption("erasure request: bad requested_ms");
  if (!ErasureText(by)) return Status::Corruption("erasure request: bad requested_by");
  if (done.size() > kMaxSteps) return Status::Corruption("erasure request: too many steps");
  r.id = std::string(id);
  r.viewer = viewer;
  r.requested_ms = requested;
  r.requested_by = std::string(by);
  r.complete = complete;
  for (simdjson::dom::element e : done) {
    std::string_view step;
    if (e.get(step) || !ErasureText(step)) return Status::Corruption("erasure request: bad step");
    r.done.emplace_back(step);
  }
  return r;
}

Result<uint64_t> ParseErasureBody(std::string_view body) {
  if (body.size() > kMaxErasureBodyBytes)
    return Status::InvalidArgument("the body is larger than " + std::to_string(kMaxErasureBodyBytes) + " bytes");
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  const simdjson::padded_string padded(body);
  simdjson::dom::object object;
  if (parser.parse(padded).get(doc) != simdjson::SUCCESS || doc.get(object) != simdjson::SUCCESS)
    return Status::InvalidArgument("the body must be a JSON object: {\"viewer_id\": N}");
  std::optional<uint64_t> viewer;
  for (simdjson::dom::key_value_pair field : object) {
    if (field.key != "viewer_id")
      return Status::InvalidArgument("unknown field '" + std::string(field.key.substr(0, 64)) + "'");
    uint64_t v = 0;
    if (viewer || field.value.get(v) != simdjson::SUCCESS || v == 0 || v > kMaxErasableViewer)
      return Status::InvalidArgument("viewer_id must be one integer in 1..9223372036854775807");
    viewer = v;
  }
  if (!viewer) return Status::InvalidArgument("viewer_id is missing");
  return *viewer;
}

}  // namespace watershed::gov
