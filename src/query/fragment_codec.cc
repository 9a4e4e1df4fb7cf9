#include "query/fragment_codec.h"

#include <simdjson.h>

#include <cmath>
#include <cstdio>

#include "core/hex.h"
#include "core/json_text.h"

namespace watershed::query {
namespace {

constexpr ColumnType kTypes[] = {ColumnType::kBigint,    ColumnType::kDouble, ColumnType::kString,
                                 ColumnType::kTimestamp, ColumnType::kUuid,   ColumnType::kBoolean,
                                 ColumnType::kInterval};

void AppendValue(const Value& v, ColumnType t, std::string* out) {
  if (v.null) {
    *out += "null";
    return;
  }
  switch (t) {
    case ColumnType::kDouble: {
      if (std::isnan(v.d)) {
        *out += "\"nan\"";
      } else if (std::isinf(v.d)) {
        *out += v.d > 0 ? "\"inf\"" : "\"-inf\"";
      } else {
        char buf[40];
        std::snprintf(buf, sizeof buf, "%.17g", v.d);
        *out += buf;
      }
      return;
    }
    case ColumnType::kString:
      AppendJsonString(v.s, out);
      return;
    case ColumnType::kUuid:
      *out += "\"" + LowerHex(v.s.data(), v.s.size()) + "\"";
      return;
    default:
      *out += std::to_string(v.i);
  }
}

Status Bad(const std::string& what) { return Status::InvalidArgument("fragment: " + what); }

Result<Value> ReadValue(simdjson::dom::element e, ColumnType t) {
  Value v;
  if (e.is_null()) {
    v.null = true;
    return v;
  }
  switch (t) {
    case ColumnType::kDouble: {
      double d = 0;
      int64_t i = 0;
      uint64_t u = 0;
      std::string_view s;
      if (e.get_double().get(d) == simdjson::SUCCESS) {
        v.d = d;
      } else if (e.get_int64().get(i) == simdjson::SUCCESS) {
        v.d = static_cast<double>(i);
      } else if (e.get_uint64().get(u) == simdjson::SUCCESS) {
        v.d = static_cast<double>(u);
      } else if (e.get_string().get(s) == simdjson::SUCCESS && (s == "nan" || s == "inf" || s == "-inf")) {
        v.d = s == "nan" ? std::nan("") : s == "inf" ? HUGE_VAL : -HUGE_VAL;
      } else {
        return Bad("a DOUBLE value is not a number");
      }
      return v;
    }
    case ColumnType::kString: {
      std::string_view s;
      if (e.get_string().get(s) != simdjson::SUCCESS) return Bad("a VARCHAR value is not a string");
      v.s = std::string(s);
      return v;
    }
    case ColumnType::kUuid: {
      std::string_view s;
      if (e.get_string().get(s) != simdjson::SUCCESS || s.size() != 32) return Bad("a UUID value is not 32 hex digits");
      auto raw = FromHex(s);
      if (!raw) return Bad("a UUID value is not 32 hex digits");
      v.s = std::move(*raw);
      return v;
    }
    default: {
      int64_t i = 0;
      if (e.get_int64().get(i) != simdjson::SUCCESS) return Bad(std::string(TypeName(t)) + " value is not an integer");
      if (t == ColumnType::kBoolean && i != 0 && i != 1) return Bad("a BOOLEAN value is not 0 or 1");
      v.i = i;
      return v;
    }
  }
}

}  // namespace

std::optional<ColumnType> ParseTypeName(std::string_view name) {
  for (ColumnType t : kTypes)
    if (name == TypeName(t)) return t;
  return std::nullopt;
}

std::string EncodeFragmentRequest(const FragmentRequest& r) {
  std::string out = "{\"sql\":";
  AppendJsonString(r.sql, &out);
  out += ",\"coordinator\":\"" + std::string(RegionName(r.coordinator)) + "\"";
  if (r.caller) out += ",\"caller\":\"" + std::string(RegionName(*r.caller)) + "\"";
  out += ",\"explain\":";
  out += r.explain ? "true}" : "false}";
  return out;
}

Result<FragmentRequest> DecodeFragmentRequest(std::string_view body, const FragmentLimits& limits) {
  if (body.size() > limits.max_sql_bytes + 1024) return Status::TooLarge("fragment: the request is too large");
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS) return Bad("the request is not JSON");
  simdjson::dom::object obj;
  if (root.get_object().get(obj) != simdjson::SUCCESS) return Bad("the request is not an object");
  FragmentRequest r;
  bool have_sql = false, have_coordinator = false;
  for (auto field : obj) {
    if (field.key == "sql") {
      std::string_view s;
      if (field.value.get_string().get(s) != simdjson::SUCCESS) return Bad("sql is not a string");
      if (s.size() > limits.max_sql_bytes) return Status::TooLarge("fragment: sql is too long");
      r.sql = std::string(s);
      have_sql = true;
    } else if (field.key == "coordinator") {
      std::string_view s;
      if (field.value.get_string().get(s) != simdjson::SUCCESS) return Bad("coordinator is not a string");
      auto region = ParseRegion(s);
      if (!region) return Bad("coordinator is not a region");
      r.coordinator = *region;
      have_coordinator = true;
    } else if (field.key == "caller") {
      std::string_view c;
      if (field.value.get_string().get(c) != simdjson::SUCCESS) return Bad("caller is not a string");
      auto region = ParseRegion(c);
      if (!region) return Bad("caller is not a region");
      r.caller = *region;
    } else if (field.key == "explain") {
      if (field.value.get_bool().get(r.explain) != simdjson::SUCCESS) return Bad("explain is not a boolean");
    } else {
      return Bad("unknown field '" + std::string(field.key) + "'");
    }
  }
  if (!have_sql || !have_coordinator) return Bad("the request needs sql and coordinator");
  return r;
}

std::string EncodeFragmentResult(const QueryResult& r) {
  std::string out = "{\"columns\":[";
  for (size_t c = 0; c < r.names.size(); ++c) {
    out += c ? ",{\"name\":" : "{\"name\":";
    AppendJsonString(r.names[c], &out);
    out += ",\"type\":\"" + std::string(TypeName(r.types[c])) + "\"}";
  }
  out += "],\"rows\":[";
  for (size_t i = 0; i < r.rows.size(); ++i) {
    out += i ? ",[" : "[";
    for (size_t c = 0; c < r.rows[i].size() && c < r.types.size(); ++c) {
      if (c) out += ",";
      AppendValue(r.rows[i][c], r.types[c], &out);
    }
    out += "]";
  }
  out += "]}";
  return out;
}

Result<QueryResult> DecodeFragmentResult(std::string_view body, const FragmentLimits& limits) {
  if (body.size() > limits.max_body_bytes) return Status::TooLarge("fragment: the answer is too large");
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS) return Bad("the answer is not JSON");
  simdjson::dom::array columns, rows;
  if (root["columns"].get_array().get(columns) != simdjson::SUCCESS) return Bad("the answer has no columns");
  if (root["rows"].get_array().get(rows) != simdjson::SUCCESS) return Bad("the answer has no rows");
  QueryResult r;
  for (auto c : columns) {
    if (r.names.size() >= limits.max_columns) return Status::TooLarge("fragment: too many columns");
    std::string_view name, type;
    if (c["name"].get_string().get(name) != simdjson::SUCCESS || c["type"].get_string().get(type) != simdjson::SUCCESS)
      return Bad("a column needs a name and a type");
    auto t = ParseTypeName(type);
    if (!t || *t == ColumnType::kInterval) return Bad("unknown column type '" + std::string(type) + "'");
    r.names.emplace_back(name);
    r.types.push_back(*t);
  }
  for (auto row : rows) {
    if (r.rows.size() >= limits.max_rows) return Status::TooLarge("fragment: too many rows");
    simdjson::dom::array values;
    if (row.get_array().get(values) != simdjson::SUCCESS) return Bad("a row is not an array");
    std::vector<Value> out;
    for (auto v : values) {
      if (out.size() >= r.types.size()) return Bad("a row has more values than columns");
      ASSIGN_OR_RETURN(Value x, ReadValue(v, r.types[out.size()]));
      out.push_back(std::move(x));
    }
    if (out.size() != r.types.size()) return Bad("a row has fewer values than columns");
    r.rows.push_back(std::move(out));
  }
  return r;
}

std::string EncodeFragmentEstimate(int64_t rows) { return "{\"estimated_rows\":" + std::to_string(rows) + "}"; }

Result<int64_t> DecodeFragmentEstimate(std::string_view body) {
  if (body.size() > 4096) return Status::TooLarge("fragment: the estimate is too large");
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS) return Bad("the estimate is not JSON");
  int64_t n = 0;
  if (root["estimated_rows"].get_int64().get(n) != simdjson::SUCCESS || n < 0) return Bad("no estimated_rows");
  return n;
}

std::optional<std::string> DecodeFragmentErrorMessage(std::string_view body) {
  if (body.size() > (1 << 20)) return std::nullopt;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS) return std::nullopt;
  std::string_view m;
  if (root["error"]["message"].get_string().get(m) != simdjson::SUCCESS) return std::nullopt;
  return std::string(m);
}

}  // namespace watershed::query
