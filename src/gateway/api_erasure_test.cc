// POST /v1/admin/erasures (api_erasure.cc): admin only, the body bounded and validated, JSON errors, the request
// handed to ApiDeps::erase with who asked, the receipt answered with 202.

#include <mutex>
#include <vector>

#include "gateway/api_auth_test_fixture.h"

namespace watershed::gateway::api_testing {
namespace {

class ApiErasureTest : public ApiAuthTest {
 protected:
  void Configure(ApiDeps* deps, ApiOptions* options) override {
    ApiAuthTest::Configure(deps, options);
    deps->erase = [this](uint64_t viewer, const std::string& by) -> Result<std::string> {
      std::lock_guard lock(mu_);
      if (viewer == 666) return Status::IoError("disk full");
      calls_.emplace_back(viewer, by);
      return std::string("{\"request_id\":\"1-0123456789abcdef\",\"viewer_id\":" + std::to_string(viewer) + "}");
    };
  }
  RawResponse Erase(const std::string& token, const std::string& body, const std::string& method = "POST") {
    return Call(Request(method, "/v1/admin/erasures", body, "application/json", Bearer(token)));
  }
  std::vector<std::pair<uint64_t, std::string>> Calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }

  std::mutex mu_;
  std::vector<std::pair<uint64_t, std::string>> calls_;
};

TEST_F(ApiErasureTest, AnAdminRecordsAnErasureAndGetsTheReceipt) {
  auto r = Erase(Token(9, Region::kEu, {Role::kAdmin}), R"({"viewer_id": 42})");
  ASSERT_TRUE(r.complete);
  EXPECT_EQ(r.status, 202) << r.body;
  Json j(r.body);
  ASSERT_TRUE(j.ok()) << r.body;
  EXPECT_EQ(j.Str("/request_id"), "1-0123456789abcdef");
  EXPECT_EQ(Calls(), (std::vector<std::pair<uint64_t, std::string>>{{42, "user 9"}}));
}

TEST_F(ApiErasureTest, OnlyAdminsMayAsk) {
  for (Role role : {Role::kViewer, Role::kCreator, Role::kAnalyst})
    ExpectError(Erase(Token(5, Region::kEu, {role}), R"({"viewer_id": 5})"), 403, "role_required");
  auto none = Call(Request("POST", "/v1/admin/erasures", R"({"viewer_id": 5})"));
  EXPECT_EQ(none.status, 401);
  EXPECT_TRUE(Calls().empty());
}

TEST_F(ApiErasureTest, BadBodiesAre400AndRecordNothing) {
  const std::string admin = Token(9, Region::kEu, {Role::kAdmin});
  for (const std::string& body :
       {std::string(""), std::string("{}"), std::string(R"({"viewer_id": 0})"), std::string(R"({"viewer_id": "5"})"),
        std::string(R"({"viewer_id": 5, "x": 1})"), std::string(R"({"viewer_id": 9223372036854775808})"),
        R"({"viewer_id": 5})" + std::string(2000, ' ')})
    ExpectError(Erase(admin, body), 400, "invalid_erasure");
  ExpectError(Erase(admin, "", "GET"), 405, "method_not_allowed");
  EXPECT_TRUE(Calls().empty());
  ExpectError(Erase(admin, R"({"viewer_id": 666})"), 503, "erasure_unavailable");
}

}  // namespace
}  // namespace watershed::gateway::api_testing
