#include "plan/capacity_plan.h"

#include <gtest/gtest.h>

#include <cmath>

namespace watershed::plan {
namespace {

// Round figures, so every line can be computed by hand.
Profile HandProfile() {
  Profile p;
  p.name = "hand";
  p.ingest_events_per_core_s = {100'000, "t"};
  p.processor_events_per_core_s = {1'000'000, "t"};
  p.log_record_bytes = {100, "t"};
  p.broker_mb_per_core_s = {50, "t"};
  p.lake_bytes_per_event = {20, "t"};
  p.store_commands_per_event = {2, "t"};
  p.store_commands_per_core_s = {100'000, "t"};
  p.store_bytes_per_story = {1'000, "t"};
  p.query_rows_per_core_s = {10e6, "t"};
  return p;
}

const Component& Find(const Plan& plan, const std::string& region, const std::string& name) {
  for (const Component& c : plan.components)
    if (c.region == region && c.name == name) return c;
  ADD_FAILURE() << region << " " << name;
  return plan.components.front();
}

TEST(CapacityPlanTest, EachLineIsItsFormulaOverTheFigures) {
  Scenario s;
  s.events_per_second = 1e6;
  s.peak_factor = 2;
  s.regions = {{"us", 0.75}, {"eu", 0.25}};
  s.utilization = 0.5;
  s.retention_days = 30;
  s.log_retention_days = 1;
  s.active_stories = 4e6;
  s.memory_gib_per_core = 4;
  s.log_replication = 3;
  s.store_replicas = 1;
  s.queries_per_second = 4;
  s.rows_per_query = 10e6;
  Pricing price{"USD", 10, 1, 0.1, 0.01, "t"};
  auto plan = MakePlan(s, HandProfile(), price);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  // us: 750 k/s average, 1.5 M/s peak, cores at 50 %.
  EXPECT_EQ(Find(*plan, "us", "gateways").cores, 30);     // 1.5 M / 100 k / 0.5
  EXPECT_EQ(Find(*plan, "us", "processors").cores, 3);    // 1.5 M / 1 M / 0.5 = 3
  EXPECT_EQ(Find(*plan, "us", "log brokers").cores, 18);  // 1.5 M × 100 B × 3 = 450 MB/s / 50 / 0.5
  EXPECT_NEAR(Find(*plan, "us", "log brokers").ssd_gib, 750e3 * 86'400 * 100 * 3 / std::pow(1024, 3), 1e-6);
  EXPECT_EQ(Find(*plan, "us", "live store").cores, 120);  // 3 M commands / 100 k / 0.5 = 60, × 2 copies
  EXPECT_NEAR(Find(*plan, "us", "live store").memory_gib, 3e6 * 1'000 * 2 / std::pow(1024, 3), 1e-6);
  EXPECT_NEAR(Find(*plan, "us", "lake storage").object_gib, 750e3 * 86'400 * 10 * 37 / std::pow(1024, 3), 1e-3);
  EXPECT_EQ(Find(*plan, "us", "query nodes").cores, 6);  // 3 q/s × 10 M rows / 10 M / 0.5
  EXPECT_EQ(Find(*plan, "eu", "gateways").cores, 10);
  const Component& gw = Find(*plan, "us", "gateways");
  EXPECT_EQ(gw.memory_gib, 120);
  EXPECT_EQ(gw.monthly_cost, 30 * 10 + 120 * 1);
  double cores = 0, cost = 0;
  for (const Component& c : plan->components) cores += c.cores, cost += c.monthly_cost;
  EXPECT_EQ(plan->cores, cores);
  EXPECT_NEAR(plan->monthly_cost, cost, 1e-6);
  const std::string text = FormatPlan(*plan);
  EXPECT_NE(text.find("us       gateways"), std::string::npos) << text;
  EXPECT_NE(text.find("a year"), std::string::npos);
  EXPECT_NE(text.find("the seed design at this rate"), std::string::npos);
}

TEST(CapacityPlanTest, TheSeedScenarioNamesEveryInputsSource) {
  Scenario s;
  s.events_per_second = 10e6;
  s.regions = {{"us", 1.0 / 3}, {"eu", 1.0 / 3}, {"apac", 1.0 / 3}};
  auto plan = MakePlan(s, DefaultProfile(), DefaultPricing());
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->components.size(), 18u);
  EXPECT_GT(plan->cores, 0);
  const std::string text = FormatPlan(*plan);
  for (const char* source :
       {"bench/RESULTS.md summary, HTTP ingest", "processor with the lake sink", "assumption:", "docs/log_format.md"})
    EXPECT_NE(text.find(source), std::string::npos) << source;
  EXPECT_NE(PlanToJson(*plan).find("\"yearly_cost\":"), std::string::npos);
}

TEST(CapacityPlanTest, RefusesScenariosItCannotSize) {
  Scenario s;
  s.regions = {{"us", 1}};
  EXPECT_EQ(MakePlan(s, DefaultProfile(), DefaultPricing()).status().code(), StatusCode::kInvalidArgument);
  s.events_per_second = 1e6;
  s.regions = {{"us", 0.5}, {"eu", 0.4}};
  EXPECT_EQ(MakePlan(s, DefaultProfile(), DefaultPricing()).status().code(), StatusCode::kInvalidArgument);
  s.regions = {{"us", 1}};
  Profile p = DefaultProfile();
  p.processor_events_per_core_s.value = 0;
  EXPECT_EQ(MakePlan(s, p, DefaultPricing()).status().code(), StatusCode::kInvalidArgument);
}

TEST(CapacityPlanTest, AProfileRoundTripsThroughItsJsonAndBadFilesNameTheField) {
  Profile p = HandProfile();
  p.lake_bytes_per_event = {12.5, "measured \"here\""};
  auto back = ParseProfileJson(ProfileToJson(p));
  ASSERT_TRUE(back.ok()) << back.status().ToString() << "\n" << ProfileToJson(p);
  EXPECT_EQ(back->lake_bytes_per_event.value, 12.5);
  EXPECT_EQ(back->lake_bytes_per_event.source, "measured \"here\"");
  EXPECT_EQ(back->ingest_events_per_core_s.value, 100'000);
  // A file with one figure keeps the default's others.
  auto partial = ParseProfileJson(R"({"figures": {"log_record_bytes": {"value": 80, "source": "x"}}})");
  ASSERT_TRUE(partial.ok());
  EXPECT_EQ(partial->log_record_bytes.value, 80);
  EXPECT_EQ(partial->processor_events_per_core_s.value, DefaultProfile().processor_events_per_core_s.value);
  for (const char* bad : {"", "[]", "{}", R"({"figures": {"nope": {"value": 1, "source": "x"}}})",
                          R"({"figures": {"log_record_bytes": {"value": 0, "source": "x"}}})",
                          R"({"figures": {"log_record_bytes": {"value": 80}}})"}) {
    auto r = ParseProfileJson(bad);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_NE(ParseProfileJson(R"({"figures": {"nope": {"value": 1, "source": "x"}}})").status().message().find("nope"),
            std::string::npos);
}

TEST(CapacityPlanTest, PricingFilesAreCheckedField) {
  auto p = ParsePricingJson(R"({"currency": "EUR", "vcpu_month": 20, "memory_gib_month": 2.5, "object_gib_month": 0.02,
                                "source": "my provider"})");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->currency, "EUR");
  EXPECT_EQ(p->vcpu_month, 20);
  EXPECT_EQ(p->ssd_gib_month, 0);
  for (const char* bad : {"{", R"({"vcpu_month": -1, "memory_gib_month": 1})", R"({"memory_gib_month": 1})",
                          R"({"vcpu_month": 1, "memory_gib_month": 1, "gpu": 3})", R"({"vcpu_month": "1"})"})
    EXPECT_EQ(ParsePricingJson(bad).status().code(), StatusCode::kInvalidArgument) << bad;
}

}  // namespace
}  // namespace watershed::plan
