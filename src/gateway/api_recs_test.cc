// GET /v1/users/{id}/recommendations through the HTTP API with auth on, answered by a real RecsService over the
// planted benchmark (recs/testing/serving_world.h): who may read whose, the bounds of k and explain, the answer's
// fields, and personalised answers.

#include "gateway/api_auth_test_fixture.h"
#include "recs/testing/serving_world.h"

namespace watershed::gateway::api_testing {
namespace {

namespace rt = recs::testing;

class ApiRecsTest : public ApiAuthTest {
 protected:
  static void SetUpTestSuite() {
    world_ = rt::Make(0.8).release();
    auto s = recs::RecsService::Open(FileSystem::Default(), world_->Options(), world_->locked.get(), nullptr, rt::kNow);
    ASSERT_TRUE(s.ok()) << s.status().message();
    service_ = s->release();
  }
  static void TearDownTestSuite() {
    delete service_;
    delete world_;
  }
  void Configure(ApiDeps* deps, ApiOptions* options) override {
    ApiAuthTest::Configure(deps, options);
    deps->recommendations = [](uint64_t user, std::optional<Region> region, uint32_t k,
                               bool explain) -> Result<std::string> {
      const uint8_t r = region ? static_cast<uint8_t>(*region) : recs::kAllRegions;
      ASSIGN_OR_RETURN(recs::Recommendations answer, service_->Recommend(user, r, k, rt::kNow));
      return recs::RecommendationsJson(answer, explain);
    };
  }
  static uint64_t User(uint32_t dense) { return rt::Ext(world_->b.data.users, dense); }
  static std::string Path(uint64_t user, const std::string& query = "") {
    return "/v1/users/" + std::to_string(user) + "/recommendations" + query;
  }

  static inline rt::World* world_ = nullptr;
  static inline recs::RecsService* service_ = nullptr;
};

TEST_F(ApiRecsTest, AViewerReadsTheirOwnAnAdminAnyoneAndOthersAre403) {
  const uint64_t me = User(3), other = User(4);
  const std::string viewer = Token(me, Region::kEu, {Role::kViewer});
  RawResponse own = GetAs(viewer, Path(me));
  ASSERT_EQ(own.status, 200) << own.body;
  Json j(own.body);
  EXPECT_EQ(j.Int("/user_id"), static_cast<int64_t>(me));
  EXPECT_EQ(j.Str("/model"), "stories@1");
  EXPECT_EQ(j.Str("/request_id").size(), 16u);
  EXPECT_EQ(j.Size("/items"), int64_t{kDefaultRecommendations});

  ExpectError(GetAs(viewer, Path(other)), 403, "not_own_user");
  ExpectError(GetAs(Token(me, Region::kEu, {Role::kCreator, Role::kAnalyst}), Path(me)), 403, "role_required");
  RawResponse admin = GetAs(Token(1, Region::kUs, {Role::kAdmin}), Path(other, "?k=7"));
  ASSERT_EQ(admin.status, 200) << admin.body;
  EXPECT_EQ(Json(admin.body).Size("/items"), 7);
  ExpectError(Get(Path(me)), 401, "token_missing");
}

TEST_F(ApiRecsTest, BadKExplainOrIdAre400) {
  const std::string admin = Token(1, Region::kUs, {Role::kAdmin});
  for (const char* k : {"?k=0", "?k=201", "?k=-1", "?k=abc", "?k=", "?k=5x", "?k=99999999999"})
    ExpectError(GetAs(admin, Path(User(3), k)), 400, "invalid_k");
  EXPECT_EQ(GetAs(admin, Path(User(3), "?k=200")).status, 200);
  EXPECT_EQ(GetAs(admin, Path(User(3), "?k=1")).status, 200);
  ExpectError(GetAs(admin, Path(User(3), "?explain=yes")), 400, "invalid_explain");
  ExpectError(GetAs(admin, "/v1/users/abc/recommendations"), 400, "invalid_user_id");
  ExpectError(GetAs(admin, "/v1/users/0/recommendations"), 400, "invalid_user_id");
  ExpectError(Call(Request("POST", Path(User(3)), "{}", "application/json", Bearer(admin))), 405, "method_not_allowed");
}

TEST_F(ApiRecsTest, ExplainAddsTheRulesAndEveryItemNamesItsSources) {
  const std::string admin = Token(1, Region::kUs, {Role::kAdmin});
  Json plain(GetAs(admin, Path(User(5), "?k=10")).body);
  Json explained(GetAs(admin, Path(User(5), "?k=10&explain=true")).body);
  ASSERT_EQ(explained.Size("/items"), 10);
  for (int i = 0; i < 10; ++i) {
    const std::string item = "/items/" + std::to_string(i);
    EXPECT_GT(explained.Int(item + "/story_id"), 0);
    EXPECT_GE(explained.Size(item + "/sources"), 1) << item;
    EXPECT_GE(explained.Size(item + "/rules"), 0) << item;
    EXPECT_FALSE(plain.Has(item + "/rules")) << item;
    EXPECT_EQ(plain.Int(item + "/story_id"), explained.Int(item + "/story_id"));
  }
  // An unknown user (no history, no embedding): the cold-start answer, trending and popular only.
  Json cold(GetAs(admin, Path(999'999'999, "?k=10")).body);
  EXPECT_TRUE(cold.Bool("/cold_start"));
  ASSERT_EQ(cold.Size("/items"), 10);
  for (int i = 0; i < 10; ++i) {
    const std::string source = cold.Str("/items/" + std::to_string(i) + "/sources/0");
    EXPECT_TRUE(source == "trending" || source == "popular") << source;
  }
}

TEST_F(ApiRecsTest, UsersOfAPlantedTasteClusterGetMostlyThatClustersItemsOverHttp) {
  size_t in = 0, all = 0;
  for (uint32_t u = 0; u < world_->b.data.num_users(); u += 10) {
    RawResponse r = GetAs(Token(User(u), Region::kUs, {Role::kViewer}), Path(User(u), "?k=10"));
    ASSERT_EQ(r.status, 200) << r.body;
    Json j(r.body);
    for (int i = 0; i < j.Size("/items"); ++i) {
      in += world_->HasTag(static_cast<uint64_t>(j.Int("/items/" + std::to_string(i) + "/story_id")), world_->Genre(u));
      ++all;
    }
  }
  EXPECT_GT(all, 0u);
  EXPECT_GE(static_cast<double>(in) / static_cast<double>(all), 0.7);
}

// Without a service (recs-model empty) the endpoint says so, after the same checks.
TEST_F(ApiAuthTest, RecommendationsAreOffWithoutAModel) {
  const std::string viewer = Token(3, Region::kUs, {Role::kViewer});
  ExpectError(GetAs(viewer, "/v1/users/3/recommendations"), 404, "recs_off");
  ExpectError(GetAs(viewer, "/v1/users/4/recommendations"), 403, "not_own_user");
}

}  // namespace
}  // namespace watershed::gateway::api_testing
