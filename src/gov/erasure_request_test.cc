#include "gov/erasure_request.h"

#include <gtest/gtest.h>

namespace watershed::gov {
namespace {

ErasureRequest Sample() {
  ErasureRequest r;
  r.id = "1796428800000-0123456789abcdef";
  r.viewer = 42;
  r.requested_ms = 1'796'428'800'000;
  r.requested_by = "user 7";
  r.done = {"lake eu/events rewrite", "lake eu/events expire"};
  return r;
}

TEST(ErasureRequestTest, RoundTrips) {
  ErasureRequest r = Sample();
  EXPECT_EQ(ParseErasureRequest(EncodeErasureRequest(r)).value(), r);
  r.complete = true;
  r.done.clear();
  r.viewer = kMaxErasableViewer;
  EXPECT_EQ(ParseErasureRequest(EncodeErasureRequest(r)).value(), r);
}

TEST(ErasureRequestTest, RefusesWhatItDoesNotWrite) {
  const std::string good = EncodeErasureRequest(Sample());
  auto with = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    s.replace(s.find(from), from.size(), to);
    return ParseErasureRequest(s).status().code();
  };
  EXPECT_EQ(with("\"viewer_id\":42", "\"viewer_id\":0"), StatusCode::kCorruption);
  EXPECT_EQ(with("\"viewer_id\":42", "\"viewer_id\":9223372036854775808"), StatusCode::kCorruption);
  EXPECT_EQ(with("\"viewer_id\":42", "\"viewer_id\":\"42\""), StatusCode::kCorruption);
  EXPECT_EQ(with("0123456789abcdef", "0123456789ABCDEF"), StatusCode::kCorruption);
  EXPECT_EQ(with("1796428800000-", "../x-"), StatusCode::kCorruption) << "an id names a file";
  EXPECT_EQ(with("user 7", "user\\n7"), StatusCode::kCorruption);
  EXPECT_EQ(with("user 7", std::string(201, 'a')), StatusCode::kCorruption);
  EXPECT_EQ(with("\"requested_ms\":1796428800000", "\"requested_ms\":-1"), StatusCode::kCorruption);
  EXPECT_EQ(with("\"complete\":false", "\"complete\":0"), StatusCode::kCorruption);
  EXPECT_EQ(with("\"lake eu/events expire\"", "7"), StatusCode::kCorruption);
  EXPECT_FALSE(ParseErasureRequest(good.substr(0, good.size() / 2)).ok());
  EXPECT_FALSE(ParseErasureRequest("[]").ok());
  EXPECT_FALSE(ParseErasureRequest("").ok());
}

TEST(ErasureRequestTest, IdsAreBounded) {
  EXPECT_TRUE(ValidErasureId("0-0123456789abcdef"));
  EXPECT_FALSE(ValidErasureId("-0123456789abcdef"));
  EXPECT_FALSE(ValidErasureId("12345678901234567890-0123456789abcdef"));
  EXPECT_FALSE(ValidErasureId("1-0123456789abcde"));
  EXPECT_FALSE(ValidErasureId("1-0123456789abcdef0"));
  EXPECT_FALSE(ValidErasureId("1-0123456789abcdeg"));
}

TEST(ErasureBodyTest, AcceptsOneViewerIdInRange) {
  EXPECT_EQ(ParseErasureBody(R"({"viewer_id": 17})").value(), 17u);
  EXPECT_EQ(ParseErasureBody(R"({"viewer_id": 9223372036854775807})").value(), kMaxErasableViewer);
  for (const char* bad :
       {"", "17", "[]", "{}", R"({"viewer_id": 0})", R"({"viewer_id": -3})", R"({"viewer_id": 9223372036854775808})",
        R"({"viewer_id": "17"})", R"({"viewer_id": 1.5})", R"({"viewer_id": 17, "viewer_id": 18})",
        R"({"viewer_id": 17, "region": "eu"})", R"({"viewer_id": 17)"}) {
    auto r = ParseErasureBody(bad);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_FALSE(r.status().message().empty());
  }
  EXPECT_EQ(ParseErasureBody(R"({"viewer_id": 17})" + std::string(kMaxErasureBodyBytes, ' ')).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace watershed::gov
