#include "plan/capacity_plan.h"

#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "core/json_text.h"

namespace watershed::plan {
namespace {

// The profile's fields by their JSON names, in output order.
std::vector<std::pair<const char*, Figure Profile::*>> ProfileFields() {
  return {{"ingest_events_per_core_s", &Profile::ingest_events_per_core_s},
          {"processor_events_per_core_s", &Profile::processor_events_per_core_s},
          {"log_record_bytes", &Profile::log_record_bytes},
          {"broker_mb_per_core_s", &Profile::broker_mb_per_core_s},
          {"lake_bytes_per_event", &Profile::lake_bytes_per_event},
          {"store_commands_per_event", &Profile::store_commands_per_event},
          {"store_commands_per_core_s", &Profile::store_commands_per_core_s},
          {"store_bytes_per_story", &Profile::store_bytes_per_story},
          {"query_rows_per_core_s", &Profile::query_rows_per_core_s}};
}

std::string Num(double v, int decimals = 0) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  // Thousands separators on the integer part.
  std::string s = buf;
  size_t end = s.find('.');
  if (end == std::string::npos) end = s.size();
  for (ptrdiff_t i = static_cast<ptrdiff_t>(end) - 3; i > (s[0] == '-' ? 1 : 0); i -= 3)
    s.insert(static_cast<size_t>(i), ",");
  return s;
}

constexpr double kGiB = 1024.0 * 1024 * 1024;
constexpr double kSecondsPerDay = 86'400;
constexpr double kRawEventsDays = 7;  // raw_events' retention (docs/lake.md)

}  // namespace

Profile DefaultProfile() {
  Profile p;
  p.name = "default (bench/RESULTS.md, the project's 2-core AMD EPYC VM)";
  p.ingest_events_per_core_s = {130'000,
                                "bench/RESULTS.md summary, HTTP ingest: ~260-300 k events/s with fsync'd group commit "
                                "on 2 cores shared with the load generator, counted as 2 server cores"};
  p.processor_events_per_core_s = {1'280'000,
                                   "bench/RESULTS.md summary, processor with the lake sink: 1,563 ms CPU per 2 M "
                                   "records"};
  p.log_record_bytes = {72, "docs/log_format.md: 8-byte frame + 9-byte header + 55-byte event (no traceparent)"};
  p.broker_mb_per_core_s = {50, "assumption: Kafka broker produce + replication per core; not measured here"};
  p.lake_bytes_per_event = {13.6,
                            "bench/RESULTS.md summary, processor with the lake sink: 13.62 bytes per event in all "
                            "tables (raw_events and events about half each)"};
  p.store_commands_per_event = {1.5, "bench/RESULTS.md summary, Redis live store cost: ~1.5 commands per event"};
  p.store_commands_per_core_s = {100'000,
                                 "assumption: one Redis core's rate for small pipelined commands; not measured "
                                 "here"};
  p.store_bytes_per_story = {1'550, "bench/RESULTS.md summary, Redis live store cost: ~1.55 KB per story"};
  p.query_rows_per_core_s = {50e6, "assumption until the SQL benchmark (issue #11): a lake column scan per query core"};
  return p;
}

Pricing DefaultPricing() {
  Pricing p;
  p.vcpu_month = 25;
  p.memory_gib_month = 3;
  p.ssd_gib_month = 0.08;
  p.object_gib_month = 0.02;
  p.source = "assumption: round on-demand cloud list prices; replace with yours (--pricing FILE)";
  return p;
}

Result<Profile> ParseProfileJson(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(json.data(), json.size()).get(root) != simdjson::SUCCESS || !root.is_object())
    return Status::InvalidArgument("profile: not a JSON object");
  Profile p = DefaultProfile();
  std::string_view name;
  if (root["name"].get(name) == simdjson::SUCCESS) p.name = std::string(name);
  simdjson::dom::object figures;
  if (root["figures"].get(figures) != simdjson::SUCCESS)
    return Status::InvalidArgument("profile: \"figures\" must be an object");
  const auto fields = ProfileFields();
  for (auto [figure_key, value] : figures) {
    const std::string_view key = figure_key;  // (a lambda cannot capture a structured binding in C++20)
    auto it = std::find_if(fields.begin(), fields.end(), [&](const auto& f) { return key == f.first; });
    if (it == fields.end()) return Status::InvalidArgument("profile: unknown figure '" + std::string(key) + "'");
    Figure& f = p.*(it->second);
    double v = 0;
    std::string_view source;
    if (value["value"].get(v) != simdjson::SUCCESS || !std::isfinite(v) || v <= 0)
      return Status::InvalidArgument("profile: " + std::string(key) + ".value must be a number > 0");
    if (value["source"].get(source) != simdjson::SUCCESS || source.empty())
      return Status::InvalidArgument("profile: " + std::string(key) + ".source must say where the figure comes from");
    f = {v, std::string(source)};
  }
  return p;
}

Result<Pricing> ParsePricingJson(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(json.data(), json.size()).get(root) != simdjson::SUCCESS || !root.is_object())
    return Status::InvalidArgument("pricing: not a JSON object");
  Pricing p;
  const std::map<std::string_view, double Pricing::*> prices = {{"vcpu_month", &Pricing::vcpu_month},
                                                                {"memory_gib_month", &Pricing::memory_gib_month},
                                                                {"ssd_gib_month", &Pricing::ssd_gib_month},
                                                                {"object_gib_month", &Pricing::object_gib_month}};
  simdjson::dom::object fields;
  if (root.get(fields) != simdjson::SUCCESS) return Status::InvalidArgument("pricing: not a JSON object");
  for (auto [key, value] : fields) {
    std::string_view s;
    if (key == "currency" || key == "source") {
      if (value.get(s) != simdjson::SUCCESS)
        return Status::InvalidArgument("pricing: " + std::string(key) + " must be a string");
      (key == "currency" ? p.currency : p.source) = std::string(s);
      continue;
    }
    auto it = prices.find(key);
    if (it == prices.end()) return Status::InvalidArgument("pricing: unknown field '" + std::string(key) + "'");
    double v = 0;
    if (value.get(v) != simdjson::SUCCESS || !std::isfinite(v) || v < 0)
      return Status::InvalidArgument("pricing: " + std::string(key) + " must be a number >= 0");
    p.*(it->second) = v;
  }
  for (const auto& [key, field] : prices)
    if (p.*field == 0 && key != "ssd_gib_month" && key != "object_gib_month")
      return Status::InvalidArgument("pricing: " + std::string(key) + " is missing");
  if (p.source.empty()) p.source = "pricing file";
  return p;
}

std::string ProfileToJson(const Profile& p) {
  std::string out = "{\"name\":";
  AppendJsonString(p.name, &out);
  out += ",\"figures\":{";
  bool first = true;
  for (const auto& [key, field] : ProfileFields()) {
    const Figure& f = p.*field;
    char value[64];
    std::snprintf(value, sizeof value, "%.6g", f.value);
    out += std::string(first ? "" : ",") + "\n  \"" + key + "\":{\"value\":" + value + ",\"source\":";
    AppendJsonString(f.source, &out);
    out += "}";
    first = false;
  }
  out += "\n}}\n";
  return out;
}

Result<Plan> MakePlan(const Scenario& s, const Profile& profile, const Pricing& pricing) {
  if (!(s.events_per_second > 0)) return Status::InvalidArgument("--events-per-second must be > 0");
  if (!(s.peak_factor >= 1)) return Status::InvalidArgument("--peak-factor must be >= 1");
  if (!(s.utilization > 0 && s.utilization <= 1)) return Status::InvalidArgument("--utilization must be in (0, 1]");
  if (s.regions.empty()) return Status::InvalidArgument("--regions names no region");
  double shares = 0;
  for (const auto& [name, share] : s.regions) {
    if (!(share > 0)) return Status::InvalidArgument("region " + name + ": its share must be > 0");
    shares += share;
  }
  if (std::abs(shares - 1) > 1e-6) return Status::InvalidArgument("region shares must sum to 1");
  for (const auto& [key, field] : ProfileFields())
    if (!((profile.*field).value > 0)) return Status::InvalidArgument(std::string("profile: ") + key + " must be > 0");
  Plan plan{s, profile, pricing, {}, 0, 0, 0, 0, 0};
  const Profile& p = profile;
  auto cores = [&](double load, double per_core) { return std::ceil(load / per_core / s.utilization); };
  for (const auto& [region_name, share] : s.regions) {
    const std::string& region = region_name;  // (captured below)
    const double avg = s.events_per_second * share, peak = avg * s.peak_factor;
    auto add = [&](std::string name, double c, double mem, double ssd, double object, std::string basis) {
      Component x{region, std::move(name), c, mem, ssd, object, 0, std::move(basis)};
      x.monthly_cost = c * pricing.vcpu_month + mem * pricing.memory_gib_month + ssd * pricing.ssd_gib_month +
                       object * pricing.object_gib_month;
      plan.components.push_back(std::move(x));
    };
    const double gw = cores(peak, p.ingest_events_per_core_s.value);
    add("gateways", gw, gw * s.memory_gib_per_core, 0, 0,
        "peak " + Num(peak) + " ev/s / " + Num(p.ingest_events_per_core_s.value) + " per core");
    const double log_mb_s = peak * p.log_record_bytes.value * s.log_replication / 1e6;
    const double brokers = cores(log_mb_s, p.broker_mb_per_core_s.value);
    const double log_gib =
        avg * kSecondsPerDay * s.log_retention_days * p.log_record_bytes.value * s.log_replication / kGiB;
    add("log brokers", brokers, brokers * s.memory_gib_per_core, log_gib, 0,
        Num(log_mb_s) + " MB/s with " + std::to_string(s.log_replication) + " replicas / " +
            Num(p.broker_mb_per_core_s.value) + " per core; " + Num(s.log_retention_days) + " days kept");
    const double procs = cores(peak, p.processor_events_per_core_s.value);
    add("processors", procs, procs * s.memory_gib_per_core, 0, 0,
        "peak / " + Num(p.processor_events_per_core_s.value) + " per core (lake sink included)");
    const double commands = peak * p.store_commands_per_event.value;
    const double store = cores(commands, p.store_commands_per_core_s.value) * (1 + s.store_replicas);
    const double store_mem = s.active_stories * share * p.store_bytes_per_story.value * (1 + s.store_replicas) / kGiB;
    add("live store", store, store_mem, 0, 0,
        Num(commands) + " commands/s / " + Num(p.store_commands_per_core_s.value) + " per core, x" +
            std::to_string(1 + s.store_replicas) + " copies; " + Num(s.active_stories * share) + " stories");
    const double per_event_day = avg * kSecondsPerDay * p.lake_bytes_per_event.value / 2;
    const double lake_gib = per_event_day * (s.retention_days + kRawEventsDays) / kGiB;
    add("lake storage", 0, 0, 0, lake_gib,
        "events " + Num(s.retention_days) + " days + raw_events 7 days at " + Num(p.lake_bytes_per_event.value, 1) +
            " bytes per event");
    const double queries = cores(s.queries_per_second * share * s.rows_per_query, p.query_rows_per_core_s.value);
    add("query nodes", queries, queries * s.memory_gib_per_core, 0, 0,
        Num(s.queries_per_second * share, 2) + " queries/s x " + Num(s.rows_per_query) + " rows / " +
            Num(p.query_rows_per_core_s.value) + " rows per core-second");
  }
  for (const Component& c : plan.components) {
    plan.cores += c.cores;
    plan.memory_gib += c.memory_gib;
    plan.ssd_gib += c.ssd_gib;
    plan.object_gib += c.object_gib;
    plan.monthly_cost += c.monthly_cost;
  }
  return plan;
}

std::string FormatPlan(const Plan& plan) {
  const Scenario& s = plan.scenario;
  std::string out = "Watershed capacity plan: " + Num(s.events_per_second) + " events/s on average, peak x" +
                    Num(s.peak_factor, 1) + ", " + std::to_string(s.regions.size()) + " regions, events kept " +
                    Num(s.retention_days) + " days, cores at most " + Num(s.utilization * 100) + " % busy at peak\n\n";
  char line[512];
  std::snprintf(line, sizeof line, "%-8s %-13s %10s %12s %12s %14s %14s\n", "region", "component", "cores",
                "memory GiB", "SSD GiB", "object GiB", "per month");
  out += line;
  for (const Component& c : plan.components) {
    std::snprintf(line, sizeof line, "%-8s %-13s %10s %12s %12s %14s %14s\n", c.region.c_str(), c.name.c_str(),
                  Num(c.cores).c_str(), Num(c.memory_gib).c_str(), Num(c.ssd_gib).c_str(), Num(c.object_gib).c_str(),
                  Num(c.monthly_cost).c_str());
    out += line;
  }
  std::snprintf(line, sizeof line, "%-22s %10s %12s %12s %14s %14s\n", "total", Num(plan.cores).c_str(),
                Num(plan.memory_gib).c_str(), Num(plan.ssd_gib).c_str(), Num(plan.object_gib).c_str(),
                Num(plan.monthly_cost).c_str());
  out += line;
  const std::string& cur = plan.pricing.currency;
  out += "\ncost: " + Num(plan.monthly_cost) + " " + cur + " a month, " + Num(plan.monthly_cost * 12) + " " + cur +
         " a year\n";
  // The seed design: 10 M events/s on 1,600 cores for under $5 M a year.
  const double scale = s.events_per_second / 10e6;
  out += "the seed design at this rate: " + Num(1600 * scale) + " cores, " + Num(5e6 * scale) +
         " USD a year; this plan: " + Num(plan.cores / (1600 * scale), 2) + "x the cores, " +
         Num(plan.monthly_cost * 12 / (5e6 * scale), 2) + "x the cost\n";
  out += "\nhow each line is sized:\n";
  for (const Component& c : plan.components) out += "  " + c.region + " " + c.name + ": " + c.basis + "\n";
  out += "\ninputs (profile: " + plan.profile.name + "):\n";
  for (const auto& [key, field] : ProfileFields()) {
    const Figure& f = plan.profile.*field;
    out += "  " + std::string(key) + " = " + Num(f.value, f.value < 100 ? 2 : 0) + "  [" + f.source + "]\n";
  }
  out += "  prices per month: vCPU " + Num(plan.pricing.vcpu_month, 2) + ", memory GiB " +
         Num(plan.pricing.memory_gib_month, 2) + ", SSD GiB " + Num(plan.pricing.ssd_gib_month, 3) + ", object GiB " +
         Num(plan.pricing.object_gib_month, 3) + " " + cur + "  [" + plan.pricing.source + "]\n";
  out += "  memory " + Num(s.memory_gib_per_core) + " GiB per compute core, log replicas " +
         std::to_string(s.log_replication) + ", live-store copies " + std::to_string(1 + s.store_replicas) +
         ", active stories " + Num(s.active_stories) + ", queries " + Num(s.queries_per_second, 2) + "/s of " +
         Num(s.rows_per_query) + " rows  [scenario flags]\n";
  return out;
}

std::string PlanToJson(const Plan& plan) {
  auto n = [](double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    return std::string(buf);
  };
  std::string out = "{\"components\":[";
  for (size_t i = 0; i < plan.components.size(); ++i) {
    const Component& c = plan.components[i];
    out += std::string(i ? "," : "") + "{\"region\":";
    AppendJsonString(c.region, &out);
    out += ",\"component\":";
    AppendJsonString(c.name, &out);
    out += ",\"cores\":" + n(c.cores) + ",\"memory_gib\":" + n(c.memory_gib) + ",\"ssd_gib\":" + n(c.ssd_gib) +
           ",\"object_gib\":" + n(c.object_gib) + ",\"monthly_cost\":" + n(c.monthly_cost) + ",\"basis\":";
    AppendJsonString(c.basis, &out);
    out += "}";
  }
  out += "],\"total\":{\"cores\":" + n(plan.cores) + ",\"memory_gib\":" + n(plan.memory_gib) +
         ",\"ssd_gib\":" + n(plan.ssd_gib) + ",\"object_gib\":" + n(plan.object_gib) +
         ",\"monthly_cost\":" + n(plan.monthly_cost) + ",\"yearly_cost\":" + n(plan.monthly_cost * 12) +
         "},\"currency\":";
  AppendJsonString(plan.pricing.currency, &out);
  out += "}\n";
  return out;
}

}  // namespace watershed::plan
