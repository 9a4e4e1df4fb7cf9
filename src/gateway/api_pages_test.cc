// The dashboard's pages served by the API (open, with their security
// headers) and the development-only token endpoint (404 unless configured).

#include "gateway/api_auth_test_fixture.h"

namespace watershed::gateway::api_testing {
namespace {

class ApiPagesTest : public ApiAuthTest {
 protected:
  void Configure(ApiDeps* deps, ApiOptions* options) override {
    ApiAuthTest::Configure(deps, options);
    deps->pages = web::Files();
    if (mint_)
      deps->mint_dev_token = [](uint64_t creator, Region region) -> Result<std::string> {
        return Sign(Claims(creator, region, {Role::kCreator}));
      };
  }
  RawResponse PostDevToken(const std::string& body, const std::string& extra_headers = "") {
    return Call(Request("POST", std::string(kDevTokenPath), body, "application/json", extra_headers));
  }
  bool mint_ = false;
};

class ApiDevMintTest : public ApiPagesTest {
 protected:
  void SetUp() override {
    mint_ = true;
    ApiPagesTest::SetUp();
  }
};

const web::File* FileAt(std::string_view path) {
  for (const web::File& f : web::Files())
    if (f.path == path) return &f;
  return nullptr;
}

TEST_F(ApiPagesTest, EveryPageIsServedWithoutATokenWithItsTypeAndSecurityHeaders) {
  ASSERT_NE(FileAt("/"), nullptr);
  ASSERT_NE(FileAt("/ops"), nullptr);
  ASSERT_NE(FileAt("/assets/dashboard.js"), nullptr);
  for (const web::File& f : web::Files()) {
    RawResponse r = Get(std::string(f.path));
    ASSERT_TRUE(r.complete) << f.path;
    EXPECT_EQ(r.status, 200) << f.path;
    EXPECT_EQ(r.body, f.body) << f.path;
    EXPECT_EQ(r.Header("content-type"), f.content_type) << f.path;
    const std::string csp = r.Header("content-security-policy");
    EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << csp;
    EXPECT_NE(csp.find("script-src 'self';"), std::string::npos) << csp;
    EXPECT_EQ(csp.find("unsafe"), std::string::npos) << csp;
    EXPECT_EQ(r.Header("x-content-type-options"), "nosniff") << f.path;
    EXPECT_EQ(r.Header("cache-control"), "no-cache") << f.path;
  }
  EXPECT_EQ(FileAt("/")->content_type, "text/html; charset=utf-8");
  EXPECT_EQ(FileAt("/assets/dashboard.js")->content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(FileAt("/assets/style.css")->content_type, "text/css; charset=utf-8");
}

// The CSP allows no inline script: every <script> of a page names a file.
TEST_F(ApiPagesTest, PagesHaveNoInlineScriptOrStyle) {
  for (const char* path : {"/", "/ops"}) {
    const std::string_view html = FileAt(path)->body;
    size_t scripts = 0;
    for (size_t at = html.find("<script"); at != std::string_view::npos; at = html.find("<script", at + 1)) {
      ++scripts;
      const std::string_view tag = html.substr(at, html.find('>', at) - at);
      EXPECT_NE(tag.find(" src=\"/assets/"), std::string_view::npos) << path << ": " << tag;
      EXPECT_EQ(html.substr(html.find('>', at) + 1, 9), "</script>") << path;
    }
    EXPECT_GE(scripts, 1u) << path;
    EXPECT_EQ(html.find("<style"), std::string_view::npos) << path;
    EXPECT_EQ(html.find(" style="), std::string_view::npos) << path;
    EXPECT_EQ(html.find(" onclick="), std::string_view::npos) << path;
  }
}

TEST_F(ApiPagesTest, PagesOpenNoDataAndTakeOnlyGet) {
  ExpectError(Get("/v1/status"), 401, "token_missing");
  ExpectError(Get("/assets/nope.js"), 401, "token_missing");  // not a page: needs a token like any path
  RawResponse r = Call(Request("POST", "/", "{}"));
  ExpectError(r, 405, "method_not_allowed");
  EXPECT_EQ(r.Header("allow"), "GET");
}

TEST_F(ApiPagesTest, DevTokenIs404WhenMintingIsOff) {
  ExpectError(PostDevToken("{\"creator\": 7}"), 404, "not_found");
  ExpectError(PostDevToken("{\"creator\": 7}", Bearer(Token(1, Region::kUs, {Role::kAdmin}))), 404, "not_found");
  ExpectError(Get(std::string(kDevTokenPath)), 404, "not_found");
}

TEST_F(ApiDevMintTest, MintsACreatorTokenThatReadsOnlyThatCreatorsStories) {
  SeedStory(500, 77);
  SeedStory(501, 78);
  RawResponse r = PostDevToken("{\"creator\": 77, \"region\": \"eu\"}");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("cache-control"), "no-store");
  Json j(r.body);
  ASSERT_TRUE(j.ok()) << r.body;
  const std::string token = j.Str("/token");
  ASSERT_FALSE(token.empty()) << r.body;
  EXPECT_EQ(j.Str("/region"), "eu");
  EXPECT_EQ(GetAs(token, "/v1/stories/500/metrics").status, 200);
  EXPECT_EQ(GetAs(token, "/v1/creators/77/top").status, 200);
  ExpectError(GetAs(token, "/v1/stories/501/metrics"), 403, "not_story_author");
  ExpectError(GetAs(token, "/v1/creators/78/top"), 403, "not_own_creator");
  ExpectError(GetAs(token, "/v1/status"), 403, "role_required");
}

TEST_F(ApiDevMintTest, BadRequestsAreRefusedWithTheirCode) {
  ExpectError(PostDevToken("nope"), 400, "malformed_body");
  ExpectError(PostDevToken("[1]"), 400, "malformed_body");
  ExpectError(PostDevToken("{}"), 400, "invalid_creator");
  ExpectError(PostDevToken("{\"creator\": 0}"), 400, "invalid_creator");
  ExpectError(PostDevToken("{\"creator\": -3}"), 400, "invalid_creator");
  ExpectError(PostDevToken("{\"creator\": \"7\"}"), 400, "invalid_creator");
  ExpectError(PostDevToken("{\"creator\": 7, \"region\": \"mars\"}"), 400, "invalid_region");
  ExpectError(Get(std::string(kDevTokenPath)), 405, "method_not_allowed");
}

}  // namespace
}  // namespace watershed::gateway::api_testing
