// Governance on the whole server (docs/governance.md): events in over HTTP into real Iceberg tables, then
// POST /v1/query under a policy — masked columns, a denied column's 403, every query and refusal audited before
// its answer (fail closed) — and `watershed sql` / `watershed audit` over the same data dir.

#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "app/auth_setup.h"
#include "app/commands.h"
#include "app/config.h"
#include "app/server.h"
#include "app/testing/serve_environment.h"
#include "auth/signer.h"
#include "core/event_codec.h"
#include "core/json_text.h"
#include "core/testing/temp_dir.h"
#include "gov/audit_log.h"
#include "http/http_client.h"

namespace watershed::app {
namespace {

using auth::Role;
using ::watershed::http::HttpClient;
using ::watershed::testing::TempDir;

constexpr char kPolicy[] = R"(version = 1
mask-key-file = "mask.key"

[[role]]
name = "analyst"
tables = ["*"]
deny = ["raw_events.event_id"]
mask-outside-region = ["personal"]

[[role]]
name = "admin"
tables = ["*"]

[audit]
flush-rows = 1000
flush-seconds = 3600
)";

bool IsPseudonym(std::string_view s) {
  return s.size() == 32 && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

class ServerGovernanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::ClearServeEnvironment();
    ASSERT_TRUE(WriteFileAtomically(fs_, dir_.Path("governance.toml"), kPolicy).ok());
    ASSERT_TRUE(CreatePrivateFile(dir_.Path("mask.key"), "00112233445566778899aabbccddeeff\n").ok());
  }

  Result<std::unique_ptr<Server>> Start(const std::string& policy) {
    auto config = Config::Load(
        ServeConfigKeys(),
        {"--data-dir", dir_.path(), "--port", "0", "--partitions", "1", "--checkpoint-interval", "100ms", "--regions",
         "us,eu", "--lake-commit-interval", "200ms", "--auth", "on", "--governance-file", policy});
    if (!config.ok()) return config.status();
    return Server::Start(*config, fs_);
  }

  void StartServer() {
    auto server = Start(dir_.Path("governance.toml"));
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
    auto secret = ReadHs256Secret(fs_, dir_.Path("auth/hs256.secret"));
    ASSERT_TRUE(secret.ok());
    secret_ = *secret;
  }

  std::unique_ptr<HttpClient> As(uint64_t user, Region region, Role role) {
    auth::RoleSet set;
    set.Add(role);
    auto token = auth::SignToken(NewTokenClaims(user, region, set, 3600, "watershed", "watershed"),
                                 auth::SigningKey{.alg = auth::Algorithm::kHs256, .key = secret_, .kid = ""});
    EXPECT_TRUE(token.ok());
    auto client = std::make_unique<HttpClient>("127.0.0.1", server_->port());
    EXPECT_TRUE(client->SetHeader("Authorization", "Bearer " + (token.ok() ? *token : std::string())).ok());
    return client;
  }

  static std::pair<int, std::string> Query(HttpClient& client, const std::string& sql) {
    std::string body = "{\"sql\":";
    AppendJsonString(sql, &body);
    body += "}";
    auto r = client.Request("POST", "/v1/query", body);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::pair{r->status, r->body} : std::pair{0, std::string()};
  }

  // The first column of every row of an answer, as text (numbers printed).
  static std::vector<std::string> FirstColumn(const std::string& body) {
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    std::vector<std::string> out;
    EXPECT_EQ(parser.parse(body).get(root), simdjson::SUCCESS) << body;
    simdjson::dom::array rows;
    if (root["rows"].get(rows) != simdjson::SUCCESS) return out;
    for (simdjson::dom::element row : rows) {
      simdjson::dom::element v = row.at(0).value();
      std::string_view s;
      int64_t i;
      if (v.get(s) == simdjson::SUCCESS)
        out.emplace_back(s);
      else if (v.get(i) == simdjson::SUCCESS)
        out.push_back(std::to_string(i));
    }
    return out;
  }

  std::vector<gov::AuditRecord> Audit() {
    auto r = gov::ReadAudit(fs_, dir_.Path("audit/us"), dir_.Path("lake/us/audit"), {});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<gov::AuditRecord>{};
  }

  // Runs a CLI command and returns (exit code, stdout).
  static std::pair<int, std::string> Cli(int (*command)(const std::vector<std::string>&),
                                         const std::vector<std::string>& args) {
    ::testing::internal::CaptureStdout();
    const int code = command(args);
    std::fflush(stdout);
    return {code, ::testing::internal::GetCapturedStdout()};
  }

  TempDir dir_{"server_governance_test"};
  FileSystem* fs_ = FileSystem::Default();
  std::unique_ptr<Server> server_;
  std::string secret_;
};

TEST_F(ServerGovernanceTest, APolicyWithAnErrorRefusesTheStartNamingFileAndLine) {
  const std::string bad = dir_.Path("bad.toml");
  ASSERT_TRUE(WriteFileAtomically(fs_, bad, "version = 1\n[[role]]\nname = \"analyst\"\ntables = [\"evnts\"]\n").ok());
  auto server = Start(bad);
  ASSERT_FALSE(server.ok());
  EXPECT_NE(server.status().message().find(bad + ":4:11: [[role]] analyst tables: 'evnts': unknown table"),
            std::string::npos)
      << server.status().message();
  auto missing = Start(dir_.Path("none.toml"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("none.toml"), std::string::npos) << missing.status().message();
}

TEST_F(ServerGovernanceTest, QueriesAreMaskedRefusedAndAuditedBeforeTheirAnswer) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  // 40 events of 4 viewers; odd viewers live in us, even ones in eu.
  const int64_t now = Clock::Real()->NowMs();
  std::set<std::string> eu_viewers;
  int64_t eu_events = 0;
  for (uint64_t n = 0; n < 40; ++n) {
    Event e;
    e.event_id = EventId::FromHiLo(0x60f, n);
    e.type = EventType::kView;
    e.story_id = StoryId(500 + n % 3);
    e.viewer_id = ViewerId(4001 + n % 4);
    e.region = e.viewer_id.value % 2 ? Region::kUs : Region::kEu;
    e.event_time = EventTimeMs(now - 5000);
    e.watch_ms = 100;
    if (e.region == Region::kEu) eu_viewers.insert(std::to_string(e.viewer_id.value)), ++eu_events;
    auto client = As(e.viewer_id.value, e.region, Role::kViewer);
    auto r = client->Request("POST", "/v1/events", EncodeEventBatchJson(std::vector<Event>{e}));
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->status, 200) << r->body;
  }
  auto admin = As(1, Region::kUs, Role::kAdmin);
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);;) {
    auto [status, body] = Query(*admin, "SELECT count(*) FROM eu.raw_events");
    if (status == 200 && FirstColumn(body) == std::vector<std::string>{std::to_string(eu_events)}) break;
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << status << " " << body;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }

  // An analyst at home in eu reads eu's viewer ids; one from us sees pseudonyms only, whatever the query.
  auto eu_analyst = As(2, Region::kEu, Role::kAnalyst);
  auto [home_status, home] = Query(*eu_analyst, "SELECT DISTINCT viewer_id FROM eu.raw_events ORDER BY 1");
  ASSERT_EQ(home_status, 200) << home;
  const std::vector<std::string> raw = FirstColumn(home);
  EXPECT_EQ(std::set<std::string>(raw.begin(), raw.end()), eu_viewers);
  auto us_analyst = As(3, Region::kUs, Role::kAnalyst);
  for (const char* sql :
       {"SELECT DISTINCT viewer_id FROM eu.raw_events", "SELECT CAST(viewer_id AS VARCHAR) FROM eu.events",
        "SELECT v FROM (SELECT viewer_id AS v FROM eu.events) AS s"}) {
    auto [status, body] = Query(*us_analyst, sql);
    ASSERT_EQ(status, 200) << sql << ": " << body;
    const std::vector<std::string> seen = FirstColumn(body);
    EXPECT_FALSE(seen.empty()) << sql;
    for (const std::string& v : seen) {
      EXPECT_TRUE(IsPseudonym(v)) << sql << " returned " << v;
      EXPECT_EQ(eu_viewers.count(v), 0u) << sql << " returned a raw id";
    }
  }
  auto [count_status, count] = Query(*us_analyst, "SELECT count(DISTINCT viewer_id) FROM eu.events");
  ASSERT_EQ(count_status, 200) << count;
  EXPECT_EQ(FirstColumn(count), std::vector<std::string>{std::to_string(eu_viewers.size())});

  // A denied column: 403 naming table, column and rule.
  auto [denied_status, denied] = Query(*us_analyst, "SELECT count(DISTINCT event_id) FROM eu.raw_events");
  EXPECT_EQ(denied_status, 403) << denied;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(denied).get(root), simdjson::SUCCESS) << denied;
  simdjson::dom::element error = root["error"].value();
  EXPECT_EQ(std::string(error["code"].get_string().value()), "forbidden");
  EXPECT_EQ(std::string(error["table"].get_string().value()), "eu.raw_events");
  EXPECT_EQ(std::string(error["column"].get_string().value()), "event_id");
  EXPECT_EQ(std::string(error["rule"].get_string().value()),
            dir_.Path("governance.toml") + ":4: [[role]] analyst deny");
  EXPECT_NE(std::string(error["message"].get_string().value()).find("forbidden"), std::string::npos);
  // A viewer has no /v1/query at all: refused, and audited too.
  auto viewer = As(4001, Region::kUs, Role::kViewer);
  EXPECT_EQ(Query(*viewer, "SELECT 1").first, 403);

  // Everything above is in the audit trail (the local log: flush-seconds is an hour), with who, what and verdict.
  std::vector<gov::AuditRecord> trail = Audit();
  std::map<std::string, int> verdicts;
  for (const gov::AuditRecord& r : trail) ++verdicts[r.verdict];
  EXPECT_EQ(verdicts["refused"], 2);
  EXPECT_GE(verdicts["allowed"], 6);
  const gov::AuditRecord* refusal = nullptr;
  for (const gov::AuditRecord& r : trail)
    if (r.verdict == "refused" && r.user == 3) refusal = &r;
  ASSERT_NE(refusal, nullptr);
  EXPECT_EQ(refusal->roles, "analyst");
  EXPECT_EQ(refusal->tables, "eu.raw_events");
  EXPECT_EQ(refusal->interface, "http");
  EXPECT_EQ(refusal->sql, "SELECT count(DISTINCT event_id) FROM eu.raw_events");
  EXPECT_NE(refusal->reason.find("forbidden"), std::string::npos);
  for (const gov::AuditRecord& r : trail)
    if (r.user == 2 && r.verdict == "allowed") {
      EXPECT_EQ(r.rows, static_cast<int64_t>(eu_viewers.size()));
    }

  // Refusals before any SQL (a malformed body), a story's history (a read of story_minute) and its refusals are
  // audited too.
  auto malformed = admin->Request("POST", "/v1/query", "{\"sql\": 42}");
  ASSERT_TRUE(malformed.ok());
  EXPECT_EQ(malformed->status, 400) << malformed->body;
  auto history = admin->Get("/v1/stories/500/history?from=2026-01-01&to=2026-01-02");
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->status, 200) << history->body;
  auto bad_range = admin->Get("/v1/stories/500/history?from=2026-01-02&to=2026-01-01");
  ASSERT_TRUE(bad_range.ok());
  EXPECT_EQ(bad_range->status, 400) << bad_range->body;
  auto creator = As(77, Region::kUs, Role::kCreator);
  auto registered = creator->Request("POST", "/v1/stories", testing::StoriesBody(2, 77));
  ASSERT_TRUE(registered.ok());
  EXPECT_EQ(registered->status, 200) << registered->body;
  auto taken = creator->Request("POST", "/v1/stories", R"({"stories": [{"story_id": 1, "author_id": 78}]})");
  ASSERT_TRUE(taken.ok());
  EXPECT_EQ(taken->status, 403) << taken->body;
  auto not_theirs = creator->Get("/v1/stories/500/history");
  ASSERT_TRUE(not_theirs.ok());
  EXPECT_NE(not_theirs->status, 200) << not_theirs->body;  // not in the catalogue (404) or not theirs (403)
  std::map<std::string, const gov::AuditRecord*> later;
  trail = Audit();
  for (const gov::AuditRecord& r : trail) {
    if (r.user == 1 && r.sql.empty()) later["malformed"] = &r;
    if (r.user == 1 && r.sql == "GET /v1/stories/500/history?from=2026-01-01&to=2026-01-02") later["history"] = &r;
    if (r.user == 1 && r.sql == "GET /v1/stories/500/history?from=2026-01-02&to=2026-01-01") later["range"] = &r;
    if (r.user == 77 && r.sql.starts_with("GET")) later["creator"] = &r;
    if (r.user == 77 && r.sql == "POST /v1/stories: 1,2") later["stories"] = &r;
    if (r.user == 77 && r.sql == "POST /v1/stories") later["takeover"] = &r;
  }
  ASSERT_EQ(later.size(), 6u);
  EXPECT_EQ(later["stories"]->verdict, "allowed");
  EXPECT_EQ(later["stories"]->tables, "catalog");
  EXPECT_EQ(later["stories"]->rows, 2);
  EXPECT_EQ(later["takeover"]->verdict, "refused");
  EXPECT_NE(later["takeover"]->reason.find("not_story_author"), std::string::npos) << later["takeover"]->reason;
  EXPECT_EQ(later["malformed"]->verdict, "failed");
  EXPECT_NE(later["malformed"]->reason.find("sql"), std::string::npos) << later["malformed"]->reason;
  EXPECT_EQ(later["history"]->verdict, "allowed");
  EXPECT_EQ(later["history"]->tables, "us.story_minute,eu.story_minute");
  EXPECT_EQ(later["range"]->verdict, "failed");
  EXPECT_EQ(later["creator"]->roles, "creator");
  EXPECT_EQ(later["creator"]->sql, "GET /v1/stories/500/history");
  EXPECT_NE(later["creator"]->verdict, "allowed");

  // Fail closed: with the audit log unwritable (its directory replaced by a file) no query is answered.
  const std::string audit_dir = dir_.Path("audit/us");
  ASSERT_TRUE(fs_->RenameFile(audit_dir, audit_dir + ".moved").ok());
  ASSERT_TRUE(WriteFileAtomically(fs_, audit_dir, "not a directory").ok());
  auto [closed_status, closed] = Query(*admin, "SELECT count(*) FROM eu.raw_events");
  EXPECT_EQ(closed_status, 503) << closed;
  EXPECT_NE(closed.find("audit_unavailable"), std::string::npos) << closed;
  EXPECT_EQ(closed.find("rows"), std::string::npos) << closed;
  ASSERT_TRUE(fs_->RemoveFile(audit_dir).ok());
  ASSERT_TRUE(fs_->RenameFile(audit_dir + ".moved", audit_dir).ok());
  EXPECT_EQ(Query(*admin, "SELECT count(*) FROM eu.raw_events").first, 200);

  // `watershed sql` under the same policy, as an analyst of us: masked, and audited as "cli".
  const std::vector<std::string> common = {"--data-dir", dir_.path(), "--governance-file",
                                           dir_.Path("governance.toml")};
  std::vector<std::string> sql_args = common;
  for (const char* a : {"--region", "us", "--role", "analyst", "--user", "9", "--format", "csv",
                        "SELECT DISTINCT viewer_id FROM eu.raw_events"})
    sql_args.push_back(a);
  auto [sql_code, sql_out] = Cli(&SqlCommand, sql_args);
  EXPECT_EQ(sql_code, 0) << sql_out;
  for (const std::string& v : eu_viewers) EXPECT_EQ(sql_out.find(v), std::string::npos) << sql_out;
  std::vector<std::string> denied_args = common;
  for (const char* a : {"--region", "us", "--role", "analyst", "--user", "9", "SELECT event_id FROM eu.raw_events"})
    denied_args.push_back(a);
  EXPECT_EQ(Cli(&SqlCommand, denied_args).first, 2);

  // `watershed audit` with its filters; then a stop flushes the log into the Iceberg table and it reads the same.
  auto lines = [](const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); };
  auto audit = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"--data-dir", dir_.path(), "--format", "json"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto [code, out] = Cli(&AuditCommand, args);
    EXPECT_EQ(code, 0) << out;
    return out;
  };
  const int total = lines(audit({}));
  EXPECT_EQ(total, static_cast<int>(Audit().size()));
  EXPECT_EQ(lines(audit({"--verdict", "refused"})), 4);  // two queries and a story takeover over HTTP, one from the CLI
  const std::string cli_user = audit({"--user", "9"});
  EXPECT_EQ(lines(cli_user), 2);
  EXPECT_NE(cli_user.find("\"interface\":\"cli\""), std::string::npos) << cli_user;
  EXPECT_EQ(lines(audit({"--since", "2100-01-01"})), 0);
  EXPECT_EQ(Cli(&AuditCommand, {"--data-dir", dir_.path(), "--verdict", "maybe"}).first, 2);
  ASSERT_TRUE(server_->Stop().ok());
  EXPECT_FALSE(fs_->FileExists(dir_.Path("audit/us/current.log")));
  EXPECT_TRUE(fs_->FileExists(dir_.Path("lake/us/audit/metadata")));
  EXPECT_EQ(lines(audit({})), total);
}

// Admin commands (keys, catalog import, recs models, token) are audited before they run: an action whose record
// cannot be written does not run (fail closed), a failed action adds a record of its failure, and read-only
// actions record nothing.
TEST_F(ServerGovernanceTest, AdminCommandsAreAuditedBeforeTheyRunAndNotRunWithoutTheirRecord) {
  const std::string policy = dir_.Path("governance.toml");
  const std::vector<std::string> common = {"--data-dir", dir_.path(), "--governance-file", policy};
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.end(), common.begin(), common.end());
    return args;
  };
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(Cli(KeysCommand, with({"create", "--region", "us"})).first, 0);
  EXPECT_EQ(Cli(KeysCommand, with({"list"})).first, 0);
  const std::string stories = dir_.Path("stories.csv");
  ASSERT_TRUE(WriteFileAtomically(fs_, stories, "story_id,author_id\n7,70\n").ok());
  EXPECT_EQ(Cli(CatalogCommand, with({"import", stories})).first, 0);
  EXPECT_EQ(Cli(RecsCommand, with({"models", "promote", "nothing@1"})).first, 1);  // no such model: a failure
  ASSERT_TRUE(CreatePrivateFile(dir_.Path("hs256.secret"), std::string(64, 'k') + "\n").ok());
  EXPECT_EQ(Cli(TokenCommand, with({"--sub", "9", "--region", "us", "--roles", "admin", "--auth-secret-file",
                                    dir_.Path("hs256.secret")}))
                .first,
            0);
  ::testing::internal::GetCapturedStderr();

  std::vector<gov::AuditRecord> trail = Audit();
  std::vector<std::string> lines;
  for (const gov::AuditRecord& r : trail) {
    EXPECT_EQ(r.interface, "cli");
    EXPECT_EQ(r.roles, "admin");
    EXPECT_EQ(r.region, "us");
    EXPECT_NE(r.reason.find("os-user "), std::string::npos) << r.reason;
    lines.push_back(r.verdict + " " + r.tables + " " + r.sql.substr(0, r.sql.find(" --data-dir")));
  }
  EXPECT_EQ(lines, (std::vector<std::string>{"allowed keys us watershed keys create --region us",
                                             "allowed catalog watershed catalog import " + stories,
                                             "allowed models watershed recs models promote nothing@1",
                                             "failed models watershed recs models promote nothing@1",
                                             "allowed token watershed token --sub 9 --region us --roles admin "
                                             "--auth-secret-file " +
                                                 dir_.Path("hs256.secret")}));

  // Fail closed: with the audit log unwritable, a rotation is refused and no key is made.
  const std::string audit_dir = dir_.Path("audit/us");
  ASSERT_TRUE(fs_->RenameFile(audit_dir, audit_dir + ".moved").ok());
  ASSERT_TRUE(WriteFileAtomically(fs_, audit_dir, "not a directory").ok());
  auto keys_before = fs_->ListDir(dir_.Path("keys/us"));
  ASSERT_TRUE(keys_before.ok());
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(Cli(KeysCommand, with({"rotate", "--region", "us"})).first, 1);
  const std::string refused = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(refused.find("not run: its audit record could not be written"), std::string::npos) << refused;
  EXPECT_EQ(fs_->ListDir(dir_.Path("keys/us"))->size(), keys_before->size());
}

}  // namespace
}  // namespace watershed::app
