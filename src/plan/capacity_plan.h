#pragma once
// `watershed plan`: sizes a deployment from measured per-core figures
// (docs/operations.md, "Capacity and cost plan"). Every input carries where
// it came from, so a plan's numbers trace back to a benchmark, a
// measurement on the user's machine (`watershed bench profile`) or a
// stated assumption.

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace watershed::plan {

struct Figure {
  double value = 0;
  std::string source;  // bench/RESULTS.md row, "measured on HOST ...", or "assumption: ..."
};

// Per-core and per-event figures.
struct Profile {
  Figure ingest_events_per_core_s;     // HTTP ingest into the log, acknowledged
  Figure processor_events_per_core_s;  // dedup + windows + unique viewers + the lake sink
  Figure log_record_bytes;             // one event in the log
  Figure broker_mb_per_core_s;         // log broker throughput (Kafka), replication included
  Figure lake_bytes_per_event;         // raw_events + events + story_minute, compressed
  Figure store_commands_per_event;     // live-store (Redis) commands per event
  Figure store_commands_per_core_s;    // what one Redis core serves
  Figure store_bytes_per_story;        // live-store memory per active story
  Figure query_rows_per_core_s;        // lake rows a query node scans per core-second
  std::string name;                    // "default" or where it was measured
};

// Prices per month (USD unless `currency` says otherwise).
struct Pricing {
  std::string currency = "USD";
  double vcpu_month = 0, memory_gib_month = 0, ssd_gib_month = 0, object_gib_month = 0;
  std::string source;
};

struct Scenario {
  double events_per_second = 0;  // average, all regions
  double peak_factor = 3;
  std::vector<std::pair<std::string, double>> regions;  // name, share of the events (sums to 1)
  double retention_days = 90;                           // events (raw_events: 7 days)
  double log_retention_days = 7;
  double active_stories = 10e6;  // in the live store at once, all regions
  double utilization = 0.6;      // target busy share of a core at peak
  double memory_gib_per_core = 4;
  int log_replication = 3;
  int store_replicas = 1;  // copies beside the primary
  double queries_per_second = 2, rows_per_query = 50e6;
};

struct Component {
  std::string region, name;
  double cores = 0, memory_gib = 0, ssd_gib = 0, object_gib = 0, monthly_cost = 0;
  std::string basis;  // the formula, in words, with the figures used
};

struct Plan {
  Scenario scenario;
  Profile profile;
  Pricing pricing;
  std::vector<Component> components;
  double cores = 0, memory_gib = 0, ssd_gib = 0, object_gib = 0, monthly_cost = 0;
};

// The figures of bench/RESULTS.md (the project's 2-core VM) and stated
// assumptions where this project has no measurement.
Profile DefaultProfile();
// Example on-demand prices (an assumption to replace with your provider's).
Pricing DefaultPricing();

// JSON files: {"name": ..., "figures": {"<field>": {"value": N, "source": "..."}, ...}}
// (fields missing from the file keep the default's), and {"currency", "vcpu_month",
// "memory_gib_month", "ssd_gib_month", "object_gib_month", "source"}.
// kInvalidArgument naming the field for anything else, a non-positive value
// or an unknown field.
Result<Profile> ParseProfileJson(std::string_view json);
Result<Pricing> ParsePricingJson(std::string_view json);
std::string ProfileToJson(const Profile& p);

// kInvalidArgument for a scenario that cannot be sized (no events, shares
// not summing to 1, a non-positive figure).
Result<Plan> MakePlan(const Scenario& scenario, const Profile& profile, const Pricing& pricing);
// A bill of materials per region and component, totals, monthly and yearly
// cost, the comparison with the seed design (1,600 cores, $5 M a year at
// 10 M events/s), and every input with its source.
std::string FormatPlan(const Plan& plan);
std::string PlanToJson(const Plan& plan);

}  // namespace watershed::plan
