// The process's region table (core/event.h): names as configuration.

#include <gtest/gtest.h>

#include "core/event.h"

namespace watershed {
namespace {

class RegionTableTest : public testing::Test {
 protected:
  void TearDown() override { ASSERT_TRUE(SetRegionNames("us,eu,apac").ok()); }
};

TEST_F(RegionTableTest, TheDefaultIsUsEuApac) {
  EXPECT_EQ(RegionCount(), 3);
  EXPECT_EQ(RegionName(Region::kUs), "us");
  EXPECT_EQ(RegionName(Region::kEu), "eu");
  EXPECT_EQ(RegionName(Region::kApac), "apac");
  EXPECT_EQ(RegionNamesText(), "us, eu, apac");
  EXPECT_EQ(ParseRegion("apac"), Region::kApac);
  EXPECT_EQ(ParseRegion("EU"), std::nullopt);
}

TEST_F(RegionTableTest, NamesComeFromConfiguration) {
  ASSERT_TRUE(SetRegionNames("eu-west-1, us-east-1,ap-south-1,me-central-1").ok());
  EXPECT_EQ(RegionCount(), 4);
  EXPECT_EQ(ParseRegion("eu-west-1"), Region{0});
  EXPECT_EQ(ParseRegion("me-central-1"), Region{3});
  EXPECT_EQ(RegionName(Region{1}), "us-east-1");
  EXPECT_EQ(RegionName(Region{4}), "unknown");
  EXPECT_EQ(ParseRegion("us"), std::nullopt);  // the default names are gone
  EXPECT_EQ(RegionNamesText(","), "eu-west-1,us-east-1,ap-south-1,me-central-1");
}

TEST_F(RegionTableTest, ANameKeepsItsViewWhenTheTableIsReplaced) {
  const std::string_view us = RegionName(Region::kUs);
  ASSERT_TRUE(SetRegionNames("us,eu").ok());
  EXPECT_EQ(us, "us");
  EXPECT_EQ(RegionCount(), 2);
}

TEST_F(RegionTableTest, BadTablesAreRefusedAndLeaveTheTableAlone) {
  for (const char* bad : {"", "us,", "US", "eu west", "us,us", "-eu", "eu_west", "é", "global", "us,global",
                          "a123456789012345678901234567890123456789012345678901234567890123"}) {
    const Status s = SetRegionNames(bad);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("region-names"), std::string::npos) << s.message();
    EXPECT_EQ(RegionNamesText(), "us, eu, apac") << bad;
  }
  std::vector<std::string> seventeen;
  for (int i = 0; i < kMaxRegions + 1; ++i) seventeen.push_back("r" + std::to_string(i));
  EXPECT_EQ(SetRegionNames(seventeen).code(), StatusCode::kInvalidArgument);
  seventeen.pop_back();
  EXPECT_TRUE(SetRegionNames(seventeen).ok());
  EXPECT_EQ(RegionCount(), kMaxRegions);
  // 63 characters is the longest name.
  EXPECT_TRUE(SetRegionNames(std::string(63, 'a')).ok());
}

}  // namespace
}  // namespace watershed
