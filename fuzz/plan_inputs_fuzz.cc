// Fuzzes the inputs of `watershed plan`: the profile and pricing JSON files.
// Input: the first byte chooses the parser, the rest is the file.
// Properties checked (a violation traps):
//  * no input crashes, leaks or trips a sanitizer;
//  * a profile that parses has every figure > 0 with a source, prints back
//    to JSON that parses to the same figures, and sizes a plan whose totals
//    are finite and not negative;
//  * a pricing file that parses has every price >= 0.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "plan/capacity_plan.h"

namespace {

using namespace watershed::plan;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

bool Same(const Figure& a, const Figure& b) {
  return a.source == b.source && std::abs(a.value - b.value) <= 1e-5 * std::abs(a.value);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) {
    auto pricing = ParsePricingJson(text);
    if (pricing.ok())
      Check(pricing->vcpu_month >= 0 && pricing->memory_gib_month >= 0 && pricing->ssd_gib_month >= 0 &&
            pricing->object_gib_month >= 0);
    return 0;
  }
  auto profile = ParseProfileJson(text);
  if (!profile.ok()) return 0;
  auto back = ParseProfileJson(ProfileToJson(*profile));
  Check(back.ok());
  for (Figure Profile::*f :
       {&Profile::ingest_events_per_core_s, &Profile::processor_events_per_core_s, &Profile::log_record_bytes,
        &Profile::broker_mb_per_core_s, &Profile::lake_bytes_per_event, &Profile::store_commands_per_event,
        &Profile::store_commands_per_core_s, &Profile::store_bytes_per_story, &Profile::query_rows_per_core_s}) {
    Check(((*profile).*f).value > 0 && !((*profile).*f).source.empty());
    Check(Same((*profile).*f, (*back).*f));
  }
  Scenario s;
  s.events_per_second = 1e6;
  s.regions = {{"us", 1}};
  auto plan = MakePlan(s, *profile, DefaultPricing());
  Check(plan.ok());
  Check(std::isfinite(plan->monthly_cost) && plan->monthly_cost >= 0 && plan->cores >= 0);
  return 0;
}
