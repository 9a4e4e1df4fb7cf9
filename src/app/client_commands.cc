// `watershed query` and `watershed status`: thin HTTP clients of the API.

#include <simdjson.h>

#include <cstdio>

#include "app/client_flags.h"
#include "app/commands.h"

namespace watershed::app {

namespace {

// GETs target and prints the body; non-2xx answers go to stderr with exit 1.
int GetAndPrint(const Flags& f, const std::string& target) {
  auto options = ClientOptionsFrom(f);
  if (!options.ok()) return Fail("query", options.status().message(), 2);
  const std::string token = BearerTokenFrom(f);
  auto client = NewClient(*options, token);
  if (!client.ok()) return Fail("query", client.status().message(), 2);
  auto r = (*client)->Get(target);
  if (!r.ok()) return Fail("query", r.status().message());
  if (r->status / 100 != 2) return Fail("query", DescribeAnswer(*r, !token.empty()));
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
  auto parsed = Flags::Parse(args, WithClientFlags({"window", "from", "to", "by", "limit", "help!"}));
  if (!parsed.ok()) return Fail("query", parsed.status().message() + "\n" + kHelp + kClientFlagsHelp, 2);
  const Flags& f = *parsed;
  if (f.Has("help")) {
    std::printf("%s%s", kHelp, kClientFlagsHelp);
    return 0;
  }
  const auto& pos = f.positional();
  if (pos.empty()) return Fail("query", std::string("what to query?\n") + kHelp, 2);
  const std::string& what = pos[0];
  if (what != "metrics" && what != "series" && what != "top" && what != "top-all")
    return Fail("query", "unknown query '" + what + "': expected metrics, series, top or top-all\n" + kHelp, 2);
  // The id each query takes (top-all takes none).
  const std::string id_name = what == "top" ? "CREATOR" : what == "top-all" ? "" : "STORY";
  const size_t need = id_name.empty() ? 1 : 2;
  if (pos.size() < need) return Fail("query", "query " + what + " needs " + id_name + " (a decimal id)\n" + kHelp, 2);
  if (pos.size() > need) return Fail("query", "unexpected argument '" + pos[need] + "'\n" + kHelp, 2);
  if (!id_name.empty()) {
    if (auto id = ParseNumber<uint64_t>("query " + what + " " + id_name, pos[1]); !id.ok())
      return Fail("query", id.status().message(), 2);
  }
  if (what == "metrics") return GetAndPrint(f, "/v1/stories/" + pos[1] + "/metrics");
  if (what == "series") {
    std::string target = "/v1/stories/" + pos[1] + "/series?window=" + f.Get("window", "5s");
    if (f.Has("from")) target += "&from=" + f.Get("from");
    if (f.Has("to")) target += "&to=" + f.Get("to");
    return GetAndPrint(f, target);
  }
  const std::string top_query = "?by=" + f.Get("by", "views") + "&limit=" + f.Get("limit", "10");
  if (what == "top") return GetAndPrint(f, "/v1/creators/" + pos[1] + "/top" + top_query);
  return GetAndPrint(f, "/v1/top" + top_query);
}

int StatusCommand(const std::vector<std::string>& args) {
  static const char* kHelp =
      "usage: watershed status [--json]\n\n"
      "Shows, per region and partition, the log end offset, the processed and\n"
      "checkpointed offsets, the watermark and counters, and the total lag.\n";
  auto parsed = Flags::Parse(args, WithClientFlags({"json!", "help!"}));
  if (!parsed.ok()) return Fail("status", parsed.status().message() + "\n" + kHelp + kClientFlagsHelp, 2);
  const Flags& f = *parsed;
  if (!f.positional().empty())
    return Fail("status", "unexpected argument '" + f.positional()[0] + "'\n" + kHelp + kClientFlagsHelp, 2);
  if (f.Has("help")) {
    std::printf("%s%s", kHelp, kClientFlagsHelp);
    return 0;
  }
  auto options = ClientOptionsFrom(f);
  if (!options.ok()) return Fail("status", options.status().message(), 2);
  const std::string token = BearerTokenFrom(f);
  auto client = NewClient(*options, token);
  if (!client.ok()) return Fail("status", client.status().message(), 2);
  auto r = (*client)->Get("/v1/status");
  if (!r.ok()) return Fail("status", r.status().message());
  if (r->status != 200) return Fail("status", DescribeAnswer(*r, !token.empty()));
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
