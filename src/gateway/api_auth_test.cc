// The HTTP API with auth on: bearer tokens (HS256, RS256, ES256 from a JWKS
// file), identity from the token, role-based reads, per-user rate limits,
// the in-flight cap, protobuf bodies, JWKS rotation — over real sockets.

#include "core/event_proto.h"
#include "gateway/api_auth_test_fixture.h"

namespace watershed::gateway {
namespace {

using namespace api_testing;

// ---- authentication ----

TEST_F(ApiAuthTest, NoTokenIs401WithWwwAuthenticate) {
  for (const char* target : {"/v1/stories/1/metrics", "/v1/status", "/v1/top", "/v1/creators/7/top"}) {
    RawResponse r = Get(target);
    ExpectError(r, 401, "token_missing");
    EXPECT_EQ(r.Header("www-authenticate"), "Bearer realm=\"watershed\"") << target;
  }
  ExpectError(Post(EncodeEventBatchJson(Events(0, 2))), 401, "token_missing");
  ExpectError(Call(Request("GET", "/v1/status", "", "", "Authorization: Basic dXNlcjpwYXNz\r\n")), 401,
              "token_missing");
  EXPECT_EQ(LogRecordCount(), 0u);
  EXPECT_NE(Get("/metrics").body.find("watershed_auth_failures_total{code=\"token_missing\"} 6"), std::string::npos);
}

TEST_F(ApiAuthTest, PublicPathsNeedNoToken) {
  EXPECT_EQ(Get("/healthz").status, 200);
  EXPECT_EQ(Get("/readyz").status, 200);
  EXPECT_EQ(Get("/metrics").status, 200);
}

TEST_F(ApiAuthTest, EveryAlgorithmVerifies) {
  auto claims = Claims(1, Region::kUs, {Role::kAnalyst});
  for (const auto& key : {at::HsKey(), at::RsKey(), at::EsKey()}) {
    RawResponse r = GetAs(Sign(claims, key), "/v1/status");
    EXPECT_EQ(r.status, 200) << auth::AlgorithmName(key.alg) << " " << r.body;
  }
}

TEST_F(ApiAuthTest, RefusedTokensAre401WithTheirCode) {
  auto base = Claims(1, Region::kUs, {Role::kAnalyst});
  const int64_t now = base.claims.exp - 3600;
  auto expired = base;
  expired.claims.exp = now - 3600;
  auto not_yet = base;
  not_yet.claims.nbf = now + 3600;
  auto wrong_aud = base;
  wrong_aud.audience = {"someone-else"};
  auto wrong_iss = base;
  wrong_iss.issuer = "evil";
  const std::string good = Sign(base);
  auto payload_of = [](const std::string& t) { return t.substr(t.find('.') + 1, t.rfind('.') - t.find('.') - 1); };
  const std::string payload = payload_of(good);
  // Tampered: another user's claims under the original header and signature.
  const std::string tampered = good.substr(0, good.find('.') + 1) + payload_of(Sign(Claims(2, Region::kUs, {Role::kAdmin}))) +
                               good.substr(good.rfind('.'));
  // alg "none": header {"alg":"none","typ":"JWT"}, no signature.
  const std::string alg_none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + payload + ".";
  // Algorithm confusion: HS256 "signed" with the RSA public key's JWK text as the HMAC secret.
  auto confusion = auth::SignCompact(R"({"alg":"HS256","typ":"JWT","kid":"rsa-1"})", auth::EncodeClaimsJson(base),
                                     {auth::Algorithm::kHs256, at::Keys().rsa_jwk, ""});
  ASSERT_TRUE(confusion.ok());
  auto unknown_kid = at::RsKey();
  unknown_kid.kid = "rsa-9";
  // An RS256 header naming the EC key.
  auto mismatch = auth::SignCompact(R"({"alg":"RS256","typ":"JWT","kid":"ec-1"})", auth::EncodeClaimsJson(base),
                                    at::RsKey());
  ASSERT_TRUE(mismatch.ok());

  const std::vector<std::pair<std::string, std::string>> cases = {
      {Sign(expired), "token_expired"},
      {Sign(not_yet), "token_not_yet_valid"},
      {Sign(wrong_aud), "token_wrong_audience"},
      {Sign(wrong_iss), "token_wrong_issuer"},
      {tampered, "token_bad_signature"},
      {alg_none, "token_alg_not_allowed"},
      {*confusion, "token_bad_signature"},
      {Sign(base, unknown_kid), "token_unknown_kid"},
      {*mismatch, "token_key_mismatch"},
      {"not-a-token", "token_malformed"},
      {good.substr(0, good.rfind('.')), "token_malformed"},
  };
  for (const auto& [token, code] : cases) {
    SCOPED_TRACE(code);
    RawResponse r = GetAs(token, "/v1/status");
    ExpectError(r, 401, code);
    EXPECT_EQ(r.Header("www-authenticate"), "Bearer realm=\"watershed\", error=\"invalid_token\"");
  }
  EXPECT_EQ(GetAs(good, "/v1/status").status, 200);  // the untampered original passes
}

// ---- identity comes from the token ----

TEST_F(ApiAuthTest, ViewerAndRegionComeFromTheToken) {
  const std::string token = Token(555, Region::kEu, {Role::kViewer});
  // The body names neither viewer nor region: both are the token's.
  std::string body = R"({"events":[{"event_id":"6f1c2a52-0000-4000-8000-000000000001","type":"view","story_id":3,)"
                     R"("author_id":9,"event_time":)" + std::to_string(now_ms_ - 1000) + R"(,"watch_ms":40}]})";
  RawResponse r = PostAs(token, body);
  EXPECT_EQ(r.status, 200) << r.body;
  std::vector<Event> stored = LogContents();
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].viewer_id, ViewerId(555));
  EXPECT_EQ(stored[0].region, Region::kEu);  // and it sits in the EU log (LogContents checks)
}

TEST_F(ApiAuthTest, EventsOfAnotherViewerOrRegionAre403PerEvent) {
  const std::string token = Token(555, Region::kEu, {Role::kViewer});
  std::vector<Event> events = {EventOf(1, 555, Region::kEu), EventOf(2, 556, Region::kEu),
                               EventOf(3, 555, Region::kUs), EventOf(4, 555, Region::kEu)};
  RawResponse r = PostAs(token, EncodeEventBatchJson(events));
  ASSERT_EQ(r.status, 200) << r.body;
  Json j(r.body);
  EXPECT_EQ(j.Int("/accepted"), 2);
  EXPECT_EQ(j.Int("/rejected/0/index"), 1);
  EXPECT_EQ(j.Str("/rejected/0/code"), "identity_mismatch");
  EXPECT_EQ(j.Int("/rejected/1/index"), 2);
  EXPECT_EQ(j.Str("/rejected/1/code"), "identity_mismatch");
  EXPECT_EQ(IdsOf(LogContents()), IdsOf({events[0], events[3]}));

  // Every event someone else's: the whole request is 403 and stores nothing.
  RawResponse all = PostAs(token, EncodeEventBatchJson(std::vector<Event>{EventOf(5, 1, Region::kEu)}));
  ExpectError(all, 403, "identity_mismatch");
  EXPECT_EQ(LogRecordCount(), 2u);
}

TEST_F(ApiAuthTest, ProtobufBodiesGetTheSameRules) {
  const std::string token = Token(555, Region::kEu, {Role::kViewer});
  std::vector<Event> events = {EventOf(1, 555, Region::kEu), EventOf(2, 556, Region::kEu)};
  RawResponse r = PostAs(token, EncodeEventBatchProto(events), "application/x-protobuf");
  ASSERT_EQ(r.status, 200) << r.body;
  Json j(r.body);
  EXPECT_EQ(j.Int("/accepted"), 1);
  EXPECT_EQ(j.Str("/rejected/0/code"), "identity_mismatch");
  ASSERT_EQ(LogContents().size(), 1u);
  EXPECT_EQ(LogContents()[0], events[0]);

  // Truncated: the framing is broken, nothing is stored.
  std::string proto = EncodeEventBatchProto(std::vector<Event>{EventOf(3, 555, Region::kEu)});
  ExpectError(PostAs(token, proto.substr(0, proto.size() - 3), "application/x-protobuf"), 400, "malformed_body");
  // Wrong wire type for story_id (field 3 as a length-delimited string) inside
  // an otherwise good event: that event is rejected, invalid_field.
  std::string event = "\x0a\x24" + EventOf(4, 555, Region::kEu).event_id.ToString() + "\x10\x02" + "\x1a\x01x";
  std::string batch = "\x0a" + std::string(1, static_cast<char>(event.size())) + event;
  RawResponse wrong = PostAs(token, batch, "application/x-protobuf");
  ExpectError(wrong, 400, "all_events_rejected");
  EXPECT_EQ(Json(wrong.body).Str("/rejected/0/code"), "invalid_field");
  EXPECT_EQ(LogRecordCount(), 1u);
}

TEST_F(ApiAuthTest, DeeplyNestedJsonIs400WithAuth) {
  const std::string token = Token(555, Region::kEu, {Role::kViewer});
  std::string body = R"({"events":[)" + std::string(10'000, '[') + std::string(10'000, ']') + "]}";
  ExpectError(PostAs(token, body), 400, "malformed_body");
  EXPECT_EQ(LogRecordCount(), 0u);
}

// ---- authorization of reads ----

TEST_F(ApiAuthTest, CreatorsReadOnlyTheirOwnStories) {
  SeedStory(10, 7);
  SeedStory(11, 8);
  const std::string creator7 = Token(7, Region::kUs, {Role::kCreator});
  EXPECT_EQ(GetAs(creator7, "/v1/stories/10/metrics").status, 200);
  EXPECT_EQ(GetAs(creator7, "/v1/stories/10/series?window=1m").status, 200);
  ExpectError(GetAs(creator7, "/v1/stories/11/metrics"), 403, "not_story_author");
  ExpectError(GetAs(creator7, "/v1/stories/11/series"), 403, "not_story_author");
  ExpectError(GetAs(creator7, "/v1/stories/12/metrics"), 404, "story_not_found");

  RawResponse own = GetAs(creator7, "/v1/creators/7/top");
  EXPECT_EQ(own.status, 200) << own.body;
  EXPECT_EQ(Json(own.body).Int("/stories/0/story_id"), 10);
  ExpectError(GetAs(creator7, "/v1/creators/8/top"), 403, "not_own_creator");
  ExpectError(GetAs(creator7, "/v1/top"), 403, "role_required");
  ExpectError(GetAs(creator7, "/v1/status"), 403, "role_required");
}

// The attack that the catalogue closes: a user with the creator role puts
// their own id as author_id in an event of someone else's story. The event
// counts, but authorship stays the catalogue's.
TEST_F(ApiAuthTest, AnEventsAuthorIdCannotTakeAStoryOver) {
  Register(10, 7);
  const std::string attacker = Token(666, Region::kUs, {Role::kViewer, Role::kCreator});
  Event share = EventOf(1, 666, Region::kUs);
  share.type = EventType::kShare;
  share.watch_ms = 0;
  share.story_id = StoryId(10);
  share.author_id = AuthorId(666);
  RawResponse sent = PostAs(attacker, EncodeEventBatchJson(std::vector<Event>{share}));
  ASSERT_EQ(sent.status, 200) << sent.body;
  EXPECT_EQ(Json(sent.body).Int("/accepted"), 1);
  EXPECT_NE(Get("/metrics").body.find("watershed_ingest_author_hint_mismatches_total 1"), std::string::npos);
  // What the processor writes for that event still carries the hint; the
  // store's author no longer decides anything.
  serve::PartitionWrite w;
  w.region = Region::kUs;
  w.stories.push_back({StoryId(10), AuthorId(666), serve::Aggregates{.shares = 1}});
  Apply(w);

  ExpectError(GetAs(attacker, "/v1/stories/10/metrics"), 403, "not_story_author");
  ExpectError(GetAs(attacker, "/v1/stories/10/series"), 403, "not_story_author");
  EXPECT_EQ(Json(GetAs(attacker, "/v1/creators/666/top").body).Size("/stories"), 0);
  const std::string author = Token(7, Region::kEu, {Role::kCreator});
  RawResponse own = GetAs(author, "/v1/stories/10/metrics");
  ASSERT_EQ(own.status, 200) << own.body;
  EXPECT_EQ(Json(own.body).Int("/author_id"), 7);
  EXPECT_EQ(Json(own.body).Int("/shares"), 1) << "the attacker's event still counts";
  RawResponse top = GetAs(author, "/v1/creators/7/top");
  ASSERT_EQ(Json(top.body).Size("/stories"), 1) << top.body;
  EXPECT_EQ(Json(top.body).Int("/stories/0/story_id"), 10);
}

TEST_F(ApiAuthTest, CreatorsRegisterAndEditOnlyTheirOwnStories) {
  const std::string creator7 = Token(7, Region::kUs, {Role::kCreator});
  const std::string creator8 = Token(8, Region::kUs, {Role::kCreator});
  RawResponse made = PostStoriesAs(creator7, R"({"stories": [{"story_id": 20, "title": "Mine", "tags": ["a"]}]})");
  ASSERT_EQ(made.status, 200) << made.body;
  Json j(made.body);
  EXPECT_EQ(j.Int("/applied"), 1);
  EXPECT_EQ(j.Int("/stories/0/author_id"), 7) << "the author is the token's subject";
  EXPECT_EQ(j.Str("/stories/0/title"), "Mine");
  EXPECT_EQ(j.Int("/stories/0/version"), 1);

  ExpectError(PostStoriesAs(creator8, R"({"stories": [{"story_id": 20, "title": "Taken"}]})"), 403,
              "not_story_author");
  ExpectError(PostStoriesAs(creator8, R"({"stories": [{"story_id": 21, "author_id": 7}]})"), 403,
              "not_story_author");
  ExpectError(PostStoriesAs(creator7, R"({"stories": [{"story_id": 20, "author_id": 8}]})"), 403,
              "not_story_author");
  ExpectError(GetAs(creator8, "/v1/stories/20"), 403, "not_story_author");
  EXPECT_EQ(Json(GetAs(creator7, "/v1/stories/20").body).Str("/title"), "Mine");

  RawResponse edited = PostStoriesAs(creator7, R"({"stories": [{"story_id": 20, "title": "Renamed"}]})");
  ASSERT_EQ(edited.status, 200) << edited.body;
  EXPECT_EQ(Json(edited.body).Str("/stories/0/title"), "Renamed");
  EXPECT_EQ(Json(edited.body).Str("/stories/0/tags/0"), "a") << "omitted fields keep their values";

  // An admin moves the story to creator 8: its metrics follow at once.
  SeedStory(20, 7);
  const std::string admin = Token(1, Region::kUs, {Role::kAdmin});
  ASSERT_EQ(PostStoriesAs(admin, R"({"stories": [{"story_id": 20, "author_id": 8}]})").status, 200);
  ExpectError(GetAs(creator7, "/v1/stories/20/metrics"), 403, "not_story_author");
  EXPECT_EQ(GetAs(creator8, "/v1/stories/20/metrics").status, 200);
  EXPECT_EQ(Json(GetAs(creator7, "/v1/creators/7/top").body).Size("/stories"), 0);
  EXPECT_EQ(Json(GetAs(creator8, "/v1/creators/8/top").body).Int("/stories/0/story_id"), 20);
  // Deleted: gone for its creator, still there for analysts.
  ASSERT_EQ(PostStoriesAs(admin, R"({"stories": [{"story_id": 20, "deleted": true}]})").status, 200);
  ExpectError(GetAs(creator8, "/v1/stories/20/metrics"), 404, "story_not_found");
  EXPECT_EQ(Json(GetAs(creator8, "/v1/creators/8/top").body).Size("/stories"), 0);
  const std::string analyst = Token(2, Region::kUs, {Role::kAnalyst});
  EXPECT_EQ(GetAs(analyst, "/v1/stories/20/metrics").status, 200);
  EXPECT_NE(GetAs(analyst, "/v1/stories/20").body.find("\"deleted\":true"), std::string::npos);
}

TEST_F(ApiAuthTest, BadStoryBatchesAreRefusedWhole) {
  const std::string creator = Token(7, Region::kUs, {Role::kCreator});
  ExpectError(PostStoriesAs(Token(7, Region::kUs, {Role::kViewer}), R"({"stories": []})"), 403, "role_required");
  ExpectError(PostStoriesAs(creator, "{nope"), 400, "malformed_body");
  ExpectError(PostStoriesAs(creator, R"({"stories": [{"story_id": 1}, {"story_id": 1}]})"), 400, "duplicate_story");
  RawResponse bad = PostStoriesAs(
      creator, R"({"stories": [{"story_id": 1}, {"story_id": 2, "title": ")" + std::string(600, 'x') + R"("}]})");
  ExpectError(bad, 400, "invalid_story");
  EXPECT_NE(Json(bad.body).Str("/error/message").find("stories[1]: title"), std::string::npos) << bad.body;
  std::string many = R"({"stories": [)";
  for (int i = 1; i <= 1001; ++i) many += std::string(i > 1 ? "," : "") + R"({"story_id": )" + std::to_string(i) + "}";
  ExpectError(PostStoriesAs(creator, many + "]}"), 413, "batch_too_large");
  EXPECT_EQ(catalog_->size(), 0u) << "nothing of a refused batch is stored";
  ExpectError(GetAs(creator, "/v1/stories/1"), 404, "story_not_found");
}

TEST_F(ApiAuthTest, ViewersReadNoCreatorEndpoints) {
  SeedStory(10, 7);
  const std::string viewer = Token(7, Region::kUs, {Role::kViewer});  // same id as the author: still a viewer
  for (const char* target : {"/v1/stories/10/metrics", "/v1/stories/10/series", "/v1/creators/7/top", "/v1/top",
                             "/v1/status"})
    ExpectError(GetAs(viewer, target), 403, "role_required");
  EXPECT_NE(Get("/metrics").body.find("watershed_forbidden_total 5"), std::string::npos);
}

TEST_F(ApiAuthTest, AnalystsAndAdminsReadEverything) {
  SeedStory(10, 7);
  SeedStory(11, 8);
  for (Role role : {Role::kAnalyst, Role::kAdmin}) {
    const std::string token = Token(99, Region::kApac, {role});
    for (const char* target : {"/v1/stories/10/metrics", "/v1/stories/11/metrics", "/v1/stories/11/series",
                               "/v1/creators/7/top", "/v1/creators/8/top", "/v1/top", "/v1/status"})
      EXPECT_EQ(GetAs(token, target).status, 200) << target;
  }
  // Analysts read; they do not send engagement.
  ExpectError(PostAs(Token(99, Region::kApac, {Role::kAnalyst}), EncodeEventBatchJson(Events(0, 1))), 403,
              "role_required");
}

// ---- rate limits ----

class ApiRateLimitTest : public ApiAuthTest {
 protected:
  void Configure(ApiDeps* deps, ApiOptions* options) override {
    // Low enough that any machine, sanitizers included, floods past it.
    rate_limit_ = {.requests_per_second = 10, .burst = 20};
    ApiAuthTest::Configure(deps, options);
  }
};

TEST_F(ApiRateLimitTest, FloodingUserGets429OthersAreUnaffected) {
  const std::string flooder = Token(1, Region::kUs, {Role::kAnalyst});
  const std::string other = Token(2, Region::kUs, {Role::kAnalyst});
  const auto start = std::chrono::steady_clock::now();
  std::atomic<int> ok{0}, limited{0}, other_ok{0}, other_limited{0};
  std::string retry_after;
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      RawConn c(port_);  // keep-alive: as fast as the server answers
      for (int i = 0; i < 500; ++i) {
        ASSERT_TRUE(c.Send(Request("GET", "/healthz", "", "", "")));  // public: never limited
        RawResponse health = c.ReadResponse();
        ASSERT_EQ(health.status, 200);
        ASSERT_TRUE(c.Send(Request("GET", "/v1/status", "", "", Bearer(flooder))));
        RawResponse r = c.ReadResponse();
        if (r.status == 200) {
          ++ok;
        } else {
          ASSERT_EQ(r.status, 429) << r.body;
          ++limited;
          if (t == 0 && retry_after.empty()) retry_after = r.Header("retry-after");
        }
      }
    });
  // A well-behaved user at the same time, within its own burst.
  threads.emplace_back([&] {
    RawConn c(port_);
    for (int i = 0; i < 15; ++i) {
      ASSERT_TRUE(c.Send(Request("GET", "/v1/status", "", "", Bearer(other))));
      (c.ReadResponse().status == 200 ? other_ok : other_limited)++;
    }
  });
  for (auto& th : threads) th.join();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GT(limited.load(), 0);
  // Never more than the burst plus what the rate refilled meanwhile.
  EXPECT_LE(ok.load(), 20 + static_cast<int>(10 * elapsed) + 1);
  EXPECT_EQ(retry_after, "1");
  EXPECT_EQ(other_limited.load(), 0);
  EXPECT_EQ(other_ok.load(), 15);
  RawResponse one = GetAs(flooder, "/v1/status");
  if (one.status == 429) ExpectError(one, 429, "rate_limited");
  // Operators (rate_limit_exempt: admin by default) are not limited.
  RawConn admin(port_);
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(admin.Send(Request("GET", "/v1/status", "", "", Bearer(Token(3, Region::kUs, {Role::kAdmin})))));
    ASSERT_EQ(admin.ReadResponse().status, 200) << i;
  }
}

class ApiInFlightTest : public ApiAuthTest {
 protected:
  void Configure(ApiDeps* deps, ApiOptions* options) override {
    max_in_flight_ = 1;
    ApiAuthTest::Configure(deps, options);
  }
};

TEST_F(ApiInFlightTest, RequestsOverTheInFlightCapAre429) {
  const std::string token = Token(1, Region::kUs, {Role::kAdmin});
  block_status_ = true;
  RawConn slow(port_);
  ASSERT_TRUE(slow.Send(Request("GET", "/v1/status", "", "", Bearer(token))));
  status_entered_.wait();  // one request in flight, held inside the handler
  RawResponse refused = GetAs(Token(2, Region::kUs, {Role::kAdmin}), "/v1/status");
  ExpectError(refused, 429, "over_capacity");
  EXPECT_EQ(refused.Header("retry-after"), "1");
  EXPECT_EQ(Get("/healthz").status, 200);  // outside /v1/: not counted
  block_status_ = false;
  release_status_.count_down();
  EXPECT_EQ(slow.ReadResponse().status, 200);
  EXPECT_EQ(GetAs(token, "/v1/status").status, 200);  // the slot was given back
}

// ---- before the body (failure storms: api_abuse_test.cc) ----

// A bad token costs no body read: the 401 comes while the announced body is unsent.
TEST_F(ApiAuthTest, BadTokenIsRefusedBeforeTheBody) {
  RawConn c(port_);
  ASSERT_TRUE(c.Send("POST /v1/events HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: " +
                     std::to_string(kBodyLimit) + "\r\n" + Bearer(Forged(1)) + "\r\n"));
  RawResponse r = c.ReadResponse();
  ExpectError(r, 401, "token_bad_signature");
  EXPECT_EQ(r.Header("connection"), "close");
  // A good client is served meanwhile.
  const uint64_t viewer = 2;
  const std::string batch = EncodeEventBatchJson(std::vector<Event>{EventOf(1, viewer, Region::kUs)});
  EXPECT_EQ(PostAs(Token(viewer, Region::kUs, {Role::kViewer}), batch).status, 200);
  EXPECT_EQ(LogRecordCount(), 1u);
}

TEST_F(ApiAuthTest, OversizedTokenIsRefusedWithoutASignatureCheck) {
  const uint64_t checks = verifier_->signature_checks();
  ExpectError(GetAs(std::string(9 << 10, 'a'), "/v1/status"), 401, "token_malformed");
  EXPECT_EQ(verifier_->signature_checks(), checks);
}

// ---- key rotation ----

TEST_F(ApiAuthTest, JwksRotationWithoutRestartKeepsOldKeysOnBadFiles) {
  auto new_pem = auth::GeneratePrivateKeyPem(auth::Algorithm::kEs256);
  ASSERT_TRUE(new_pem.ok());
  auto new_jwks = auth::PublicJwksFromPem(*new_pem, "ec-2");
  ASSERT_TRUE(new_jwks.ok());
  const std::string new_token =
      Sign(Claims(1, Region::kUs, {Role::kAnalyst}), {auth::Algorithm::kEs256, *new_pem, "ec-2"});
  const std::string old_token = Sign(Claims(1, Region::kUs, {Role::kAnalyst}), at::EsKey());
  ExpectError(GetAs(new_token, "/v1/status"), 401, "token_unknown_kid");

  // A broken file at reload: error, old keys still verify, new ones still refused.
  WriteJwks("{\"keys\": [");
  EXPECT_FALSE(jwks_->Reload().ok());
  EXPECT_EQ(GetAs(old_token, "/v1/status").status, 200);
  std::filesystem::remove(jwks_path_);
  EXPECT_FALSE(jwks_->Reload().ok());
  EXPECT_EQ(GetAs(old_token, "/v1/status").status, 200);

  // Rotated: the new key verifies, the retired one no longer does (even though cached).
  WriteJwks(*new_jwks);
  ASSERT_TRUE(jwks_->Reload().ok());
  EXPECT_EQ(GetAs(new_token, "/v1/status").status, 200);
  ExpectError(GetAs(old_token, "/v1/status"), 401, "token_unknown_kid");
}

}  // namespace
}  // namespace watershed::gateway
