#include "app/flags.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace watershed::app {
namespace {

TEST(ParseNumberTest, TakesWholeNumbersInRange) {
  EXPECT_EQ(ParseNumber<uint64_t>("--batch", "100").value(), 100u);
  EXPECT_EQ(ParseNumber<int>("--brokers", "16", 1, 16).value(), 16);
  EXPECT_DOUBLE_EQ(ParseNumber<double>("--rate", "2.5e3").value(), 2500);
  EXPECT_EQ(ParseNumber<uint64_t>("--events", "18446744073709551615").value(), UINT64_MAX);
}

TEST(ParseNumberTest, ErrorsNameTheFlagAndWhatWasExpected) {
  auto expect_error = [](const Status& s, const std::string& want) {
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(s.message(), want);
  };
  expect_error(ParseNumber<uint64_t>("query metrics STORY", "abc").status(),
               "query metrics STORY must be a whole number >= 0, got 'abc'");
  expect_error(ParseNumber<uint64_t>("--batch", "-5").status(), "--batch must be a whole number >= 0, got '-5'");
  expect_error(ParseNumber<uint64_t>("--batch", "12x").status(), "--batch must be a whole number >= 0, got '12x'");
  expect_error(ParseNumber<uint64_t>("--batch", "").status(), "--batch must be a whole number >= 0, got ''");
  expect_error(ParseNumber<uint64_t>("--batch", " 1").status(), "--batch must be a whole number >= 0, got ' 1'");
  expect_error(ParseNumber<int>("--brokers", "17", 1, 16).status(), "--brokers must be in 1..16, got '17'");
  expect_error(ParseNumber<double>("--late-fraction", "1.5", 0, 1).status(),
               "--late-fraction must be in 0..1, got '1.5'");
  expect_error(ParseNumber<double>("--rate", "fast").status(), "--rate must be a number, got 'fast'");
  expect_error(ParseNumber<uint64_t>("--events", "99999999999999999999").status(), "--events is out of range");
}

TEST(FlagsTest, ParsesValuesBooleansAndPositionals) {
  auto f = Flags::Parse({"metrics", "--rate", "5", "--json", "--by=views", "42", "--rate=7"}, {"rate", "json!", "by"});
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->Get("rate"), "7");  // the last one wins
  EXPECT_TRUE(f->Has("json"));
  EXPECT_FALSE(f->Has("verbose"));
  EXPECT_EQ(f->Get("missing", "fallback"), "fallback");
  EXPECT_EQ(f->positional(), (std::vector<std::string>{"metrics", "42"}));
  EXPECT_EQ(f->GetNumber<int>("rate", 0).value(), 7);
  EXPECT_EQ(f->GetNumber<int>("absent", 3).value(), 3);
  EXPECT_EQ(f->GetNumber<int>("by", 0).status().message(), "--by must be a whole number, got 'views'");
}

TEST(FlagsTest, RefusesUnknownFlagsAndMissingOrStrayValues) {
  EXPECT_EQ(Flags::Parse({"--bogus", "1"}, {"rate"}).status().message(), "unknown flag --bogus");
  EXPECT_EQ(Flags::Parse({"--rate"}, {"rate"}).status().message(), "flag --rate needs a value");
  EXPECT_EQ(Flags::Parse({"--json=yes"}, {"json!"}).status().message(), "flag --json takes no value");
}

}  // namespace
}  // namespace watershed::app
