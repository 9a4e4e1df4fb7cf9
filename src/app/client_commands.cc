// `watershed query` and `watershed status`: thin HTTP clients of the API.

#include <simdjson.h>

#include <cstdio>

#include "app/client_flags.h"
#include "app/commands.h"

namespace watershed::app {

bool Flags::Parse(const std::vector<std::string>& args, const std::vector<std::string>& known, Flags* out,
                  std::string* error) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (!a.starts_with("--")) {
      out->positional_.push_back(a);
      continue;
    }
    std::string key = a.substr(2), value;
    bool has_value = false;
    if (auto eq = key.find('='); eq != std::string::npos) {
      value = key.substr(eq + 1);
      key = key.substr(0, eq);
      has_value = true;
    }
    bool is_bool = false, found = false;
    for (const auto& k : known) {
      if (k == key || k == key + "!") {
        found = true;
        is_bool = k.back() == '!';
      }
    }
    if (!found) {
      *error = "unknown flag --" + key;
      return false;
    }
    if (!is_bool && !has_value) {
      if (i + 1 >= args.size()) {
        *error = "flag --" + key + " needs a value";
        return false;
      }
      value = args[++i];
    }
    out->values_.emplace_back(key, is_bool ? "1" : value);
  }
  return true;
}

std::string Flags::Get(const std::string& key, const std::string& fallback) const {
  for (auto it = values_.rbegin(); it != values_.rend(); ++it)
    if (it->first == key) return it->second;
  return fallback;
}

bool Flags::Has(const std::string& key) const {
  for (const auto& [k, v] : values_)
    if (k == key) return true;
  return false;
}

namespace {

int Fail(const char* command, const std::string& message, int code = 1) {
  std::fprintf(stderr, "watershed %s: %s\n", command, message.c_str());
  return code;
}

std::vector<std::string> With(std::vector<std::string> names) {
  names.insert(names.end(), ClientFlagNames().begin(), ClientFlagNames().end());
  return names;
}

// GETs target and prints the body; non-2xx answers go to stderr with exit 1.
int GetAndPrint(const Flags& f, const std::string& target) {
  auto options = ClientOptionsFrom(f);
  if (!options.ok()) return Fail("query", options.status().message(), 2);
  auto client = NewClient(*options, BearerTokenFrom(f));
  if (!client.ok()) return Fail("query", client.status().message(), 2);
  auto r = (*client)->Get(target);
  if (!r.ok()) return Fail("query", r.status().message());
  if (r->status / 100 != 2) return Fail("query", "HTTP " + std::to_string(r->status) + ": " + r->body);
  std::printf("%s\n", r->body.c_str());
  return 0;
}

}  // namespace

int QueryCommand(const std::vector<std::string>& args) {
  static const char* kHelp =
      "usage: watershed query WHAT ID [options]\n\n"
      "  metrics STORY                         running totals of a story\n"
      "  series STORY [--window 5s|1m] [--from MS] [--to MS]\n"
      "                                        windowed points of a story\n"
      "  top CREATOR [--by views] [--limit 10] a creator's top stories\n"
      "  top-all [--by views] [--limit 10]     top stories over all creators\n\n"
      "Prints the API's JSON answer; exits 1 on an error answer.\n"
      "(`watershed query serve` runs the query server of a split deployment.)\n";
  Flags f;
  std::string error;
  if (!Flags::Parse(args, With({"window", "from", "to", "by", "limit", "help!"}), &f, &error))
    return Fail("query", error + "\n" + kHelp + kClientFlagsHelp, 2);
  if (f.Has("help")) {
    std::printf("%s%s", kHelp, kClientFlagsHelp);
    return 0;
  }
  const auto& pos = f.positional();
  auto id_ok = [&](size_t need) { return pos.size() == need && pos.back().find_first_not_of("0123456789") == std::string::npos; };
  if (pos.empty()) return Fail("query", std::string("what to query?\n") + kHelp, 2);
  const std::string& what = pos[0];
  if (what == "metrics" && id_ok(2)) return GetAndPrint(f, "/v1/stories/" + pos[1] + "/metrics");
  if (what == "series" && id_ok(2)) {
    std::string target = "/v1/stories/" + pos[1] + "/series?window=" + f.Get("window", "5s");
    if (f.Has("from")) target += "&from=" + f.Get("from");
    if (f.Has("to")) target += "&to=" + f.Get("to");
    return GetAndPrint(f, target);
  }
  std::string top_query = "?by=" + f.Get("by", "views") + "&limit=" + f.Get("limit", "10");
  if (what == "top" && id_ok(2)) return GetAndPrint(f, "/v1/creators/" + pos[1] + "/top" + top_query);
  if (what == "top-all" && pos.size() == 1) return GetAndPrint(f, "/v1/top" + top_query);
  return Fail("query", "bad arguments\n" + std::string(kHelp), 2);
}

int StatusCommand(const std::vector<std::string>& args) {
  static const char* kHelp =
      "usage: watershed status [--json]\n\n"
      "Shows, per region and partition, the log end offset, the processed and\n"
      "checkpointed offsets, the watermark and counters, and the total lag.\n";
  Flags f;
  std::string error;
  if (!Flags::Parse(args, With({"json!", "help!"}), &f, &error) || !f.positional().empty())
    return Fail("status", (error.empty() ? "unexpected argument" : error) + "\n" + kHelp + kClientFlagsHelp, 2);
  if (f.Has("help")) {
    std::printf("%s%s", kHelp, kClientFlagsHelp);
    return 0;
  }
  auto options = ClientOptionsFrom(f);
  if (!options.ok()) return Fail("status", options.status().message(), 2);
  auto client = NewClient(*options, BearerTokenFrom(f));
  if (!client.ok()) return Fail("status", client.status().message(), 2);
  auto r = (*client)->Get("/v1/status");
  if (!r.ok()) return Fail("status", r.status().message());
  if (r->status != 200) return Fail("status", "HTTP " + std::to_string(r->status) + ": " + r->body);
  if (f.Has("json")) {
    std::printf("%s\n", r->body.c_str());
    return 0;
  }
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(r->body).get(doc) != simdjson::SUCCESS) return Fail("status", "unreadable answer: " + r->body);
  std::printf("%-6s %4s %12s %12s %12s %8s %15s %10s %8s\n", "region", "part", "log_end", "processed", "checkpoint",
              "ckpt_id", "watermark", "duplicates", "late_5s");
  for (auto p : doc["partitions"].get_array()) {
    std::string_view region = p["region"].get_string().value_unsafe();
    // A query server reports null for what only the processors know: "-".
    auto field = [&p](const char* name) {
      simdjson::dom::element v = p[name].value_unsafe();
      if (v.is_null()) return std::string("-");
      int64_t n = 0;
      return v.get(n) == simdjson::SUCCESS ? std::to_string(n) : std::to_string(v.get_uint64().value_unsafe());
    };
    std::printf("%-6.*s %4s %12s %12s %12s %8s %15s %10s %8s\n", static_cast<int>(region.size()), region.data(),
                field("partition").c_str(), field("log_end_offset").c_str(), field("processed_offset").c_str(),
                field("checkpoint_offset").c_str(), field("checkpoint_id").c_str(), field("watermark").c_str(),
                field("duplicates").c_str(), field("late_events_5s").c_str());
    if (!p["error"].is_null()) std::printf("       error: %s\n", std::string(p["error"].get_string().value_unsafe()).c_str());
  }
  std::printf("lag: %lu\n", static_cast<unsigned long>(doc["lag"].get_uint64().value_unsafe()));
  return 0;
}

}  // namespace watershed::app
