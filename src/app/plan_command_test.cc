// `watershed plan` and `watershed bench profile` as a user runs them.

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "app/commands.h"
#include "core/testing/temp_dir.h"
#include "plan/capacity_plan.h"

namespace watershed::app {
namespace {

TEST(PlanCommandTest, TheSeedScenarioPrintsAPlanThatTracesItsInputs) {
  ::testing::internal::CaptureStdout();
  const int rc = PlanCommand(
      {"--events-per-second", "10M", "--peak-factor", "3", "--regions", "us,eu,apac", "--retention-days", "90"});
  const std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(rc, 0);
  for (const char* want : {"10,000,000 events/s", "apac     processors", "a month", "a year",
                           "the seed design at this rate: 1,600 cores", "bench/RESULTS.md summary"})
    EXPECT_NE(out.find(want), std::string::npos) << want << "\n" << out;
}

TEST(PlanCommandTest, BadFlagsAreUsageErrors) {
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(PlanCommand({}), 2);
  EXPECT_EQ(PlanCommand({"--events-per-second", "lots"}), 2);
  EXPECT_EQ(PlanCommand({"--events-per-second", "1M", "--regions", "us=0.5,eu=0.4"}), 2);
  EXPECT_EQ(PlanCommand({"--events-per-second", "1M", "--profile", "/nonexistent/profile.json"}), 2);
  EXPECT_EQ(BenchCommand({"nonsense"}), 2);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("--events-per-second is required"), std::string::npos) << err;
  EXPECT_NE(err.find("shares must sum to 1"), std::string::npos) << err;
}

// The measured profile is a file `plan --profile` reads; its measured
// figures say where they come from, the others that they were not measured.
TEST(PlanCommandTest, BenchProfileMeasuresWhatPlanReads) {
  testing::TempDir dir("plan_command_test");
  const std::string path = dir.Path("profile.json");
  ASSERT_EQ(BenchCommand({"profile", "--events", "20000", "--out", path}), 0);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  auto profile = plan::ParseProfileJson(text.str());
  ASSERT_TRUE(profile.ok()) << profile.status().ToString() << text.str();
  EXPECT_GT(profile->processor_events_per_core_s.value, 1'000);
  EXPECT_NE(profile->processor_events_per_core_s.source.find("measured by `watershed bench profile`"),
            std::string::npos);
  EXPECT_EQ(profile->log_record_bytes.value, 72);  // docs/log_format.md: no traceparent in the workload
  EXPECT_GT(profile->lake_bytes_per_event.value, 5);
  EXPECT_LT(profile->lake_bytes_per_event.value, 72);
  EXPECT_NE(profile->ingest_events_per_core_s.source.find("not measured by bench profile"), std::string::npos);
  ::testing::internal::CaptureStdout();
  EXPECT_EQ(PlanCommand({"--events-per-second", "1M", "--profile", path, "--json"}), 0);
  const std::string json = ::testing::internal::GetCapturedStdout();
  EXPECT_NE(json.find("\"yearly_cost\":"), std::string::npos) << json;
}

}  // namespace
}  // namespace watershed::app
