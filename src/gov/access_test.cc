// The policy enforced by the query engine over a real eu.events table (query/engine_test_util.h): table and
// column refusals, and masking that no query shape can see through.

#include "gov/access.h"

#include <gtest/gtest.h>

#include <set>

#include "gov/policy.h"
#include "query/engine_test_util.h"

namespace watershed::gov {
namespace {

constexpr char kPolicy[] = R"(mask-key-file = "unused"
[[role]]
name = "analyst"
tables = ["events", "story_minute"]
deny = ["events.event_id"]
mask-outside-region = ["personal"]
[[role]]
name = "creator"
tables = ["story_minute"]
[[role]]
name = "admin"
tables = ["*"]
)";

class AccessTest : public query::EngineTest {
 protected:
  void SetUp() override {
    query::EngineTest::SetUp();
    auto p = ParsePolicy(kPolicy, "gov.toml");
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    policy_ = std::move(*p);
    policy_.mask_key = HashKey{0x0123456789abcdefull, 0xfedcba9876543210ull};
  }
  Result<query::SqlOutput> As(auth::Role role, Region home, const std::string& sql) {
    auth::RoleSet roles;
    roles.Add(role);
    Access access(policy_, Caller{7, roles, home});
    query::Catalog catalog(fs_, dir_.path(), Region::kEu);
    catalog.set_access(&access);
    return query::RunSql(sql, catalog);
  }
  std::vector<std::vector<query::Value>> RowsAs(auth::Role role, Region home, const std::string& sql) {
    auto r = As(role, home, sql);
    EXPECT_TRUE(r.ok()) << sql << ": " << r.status().ToString();
    return r.ok() ? r->result.rows : std::vector<std::vector<query::Value>>{};
  }
  query::Denial DenialOf(auth::Role role, const std::string& sql) {
    auto r = As(role, Region::kUs, sql);
    EXPECT_FALSE(r.ok()) << sql;
    if (r.ok()) return {};
    EXPECT_EQ(r.status().code(), StatusCode::kPermissionDenied) << sql << ": " << r.status().ToString();
    auto d = query::ParseDenial(r.status().message());
    EXPECT_TRUE(d.has_value()) << r.status().message();
    return d.value_or(query::Denial{});
  }
  std::string Pseudonym(uint64_t viewer) const {
    std::string raw;
    for (int b = 0; b < 8; ++b) raw.push_back(static_cast<char>(viewer >> (8 * b)));
    return query::MaskedText(*policy_.mask_key, raw);
  }
  std::set<std::string> AllPseudonyms() const {
    std::set<std::string> s;
    for (const query::Planted& p : rows_) s.insert(Pseudonym(static_cast<uint64_t>(p.viewer)));
    return s;
  }
  Policy policy_;
};

TEST_F(AccessTest, AdminAndHomeRegionAnalystReadRawValues) {
  auto admin = RowsAs(auth::Role::kAdmin, Region::kUs, "SELECT min(viewer_id), max(viewer_id) FROM events");
  ASSERT_EQ(admin.size(), 1u);
  EXPECT_EQ(admin[0][0].i, 1000);
  EXPECT_EQ(admin[0][1].i, 1036);
  auto home = RowsAs(auth::Role::kAnalyst, Region::kEu, "SELECT count(*) FROM events WHERE viewer_id = 1005");
  ASSERT_EQ(home.size(), 1u);
  EXPECT_GT(home[0][0].i, 0);
}

TEST_F(AccessTest, OutsideItsRegionAnAnalystSeesOnlyPseudonyms) {
  const std::set<std::string> all = AllPseudonyms();
  auto rows = RowsAs(auth::Role::kAnalyst, Region::kUs, "SELECT viewer_id, count(*) FROM events GROUP BY viewer_id");
  ASSERT_EQ(rows.size(), 37u);  // grouping works on pseudonyms: one group per viewer
  for (const auto& r : rows) EXPECT_TRUE(all.count(r[0].s)) << r[0].s;
  auto distinct = RowsAs(auth::Role::kAnalyst, Region::kUs, "SELECT count(DISTINCT viewer_id) FROM events");
  ASSERT_EQ(distinct.size(), 1u);
  EXPECT_EQ(distinct[0][0].i, 37);
}

// A policy without its key (ParsePolicy alone, or a caller that skipped LoadPolicy) must never mask under a key
// anyone could guess: a masked column is refused, neither a raw value nor a guessable pseudonym returned.
TEST_F(AccessTest, WithoutAMaskKeyAMaskedColumnIsRefused) {
  policy_.mask_key.reset();
  const query::Denial d = DenialOf(auth::Role::kAnalyst, "SELECT viewer_id FROM events LIMIT 5");
  EXPECT_EQ(d.column, "viewer_id");
  EXPECT_NE(d.rule.find("no mask key loaded"), std::string::npos) << d.rule;
  // The home region reads it raw: no mask, so no key needed.
  EXPECT_FALSE(RowsAs(auth::Role::kAnalyst, Region::kEu, "SELECT viewer_id FROM events LIMIT 5").empty());
}

// "Most permissive role wins" over the roles the query endpoint admits only: a creator entry that reads events
// unmasked does not unmask them for a token holding creator + analyst.
TEST_F(AccessTest, OnlyTheQueryEndpointsRolesCount) {
  for (RolePolicy& r : policy_.roles)
    if (r.role == auth::Role::kCreator) r.tables = {ColumnPattern{std::nullopt, std::nullopt, "*"}};
  auth::RoleSet both;
  both.Add(auth::Role::kCreator);
  both.Add(auth::Role::kAnalyst);
  const auto rule = [&](auth::RoleSet roles) {
    return Access(policy_, Caller{7, roles, Region::kUs}).Column(Region::kEu, lake::LakeTableId::kEvents, "viewer_id");
  };
  EXPECT_EQ(rule(both).verdict, query::AccessControl::Verdict::kRead);  // the creator entry would unmask
  const auth::RoleSet admitted = QueryEndpointRoles(both);
  EXPECT_FALSE(admitted.Has(auth::Role::kCreator));
  EXPECT_TRUE(admitted.Has(auth::Role::kAnalyst));
  EXPECT_EQ(rule(admitted).verdict, query::AccessControl::Verdict::kMask);
}

TEST_F(AccessTest, NoExpressionUnmasksAColumn) {
  const std::set<std::string> all = AllPseudonyms();
  // Every query shape that reads viewer_id gets the pseudonym, never a raw id: expressions, casts, a subquery,
  // a self-join on it, ORDER BY, MIN/MAX, DISTINCT, CASE.
  for (const char* sql : {
           "SELECT CAST(viewer_id AS VARCHAR) FROM events LIMIT 50",
           "SELECT v FROM (SELECT viewer_id AS v FROM events) AS s LIMIT 50",
           "SELECT a.viewer_id FROM events a JOIN events b ON a.viewer_id = b.viewer_id LIMIT 50",
           "SELECT DISTINCT viewer_id FROM events ORDER BY viewer_id",
           "SELECT min(viewer_id) FROM events",
           "SELECT max(viewer_id) FROM events",
           "SELECT COALESCE(viewer_id, 'x') FROM events LIMIT 5",
           "SELECT CASE WHEN story_id > 0 THEN viewer_id ELSE NULL END FROM events LIMIT 5",
       }) {
    auto rows = RowsAs(auth::Role::kAnalyst, Region::kUs, sql);
    EXPECT_FALSE(rows.empty()) << sql;
    for (const auto& r : rows) EXPECT_TRUE(all.count(r[0].s)) << sql << " returned " << r[0].s;
  }
  // A raw id compared with the masked column: a type error (it is VARCHAR) or no match — never the raw rows.
  auto typed = As(auth::Role::kAnalyst, Region::kUs, "SELECT count(*) FROM events WHERE viewer_id = 1005");
  ASSERT_FALSE(typed.ok());
  EXPECT_EQ(typed.status().code(), StatusCode::kInvalidArgument);
  for (const char* sql : {"SELECT count(*) FROM events WHERE viewer_id = '1005'",
                          "SELECT count(*) FROM events WHERE CAST(viewer_id AS VARCHAR) = '1005'",
                          "SELECT count(*) FROM events WHERE viewer_id IN ('1000', '1001', '1002')",
                          "SELECT count(*) FROM events WHERE viewer_id LIKE '10%5'"}) {
    auto rows = RowsAs(auth::Role::kAnalyst, Region::kUs, sql);
    ASSERT_EQ(rows.size(), 1u) << sql;
    EXPECT_EQ(rows[0][0].i, 0) << sql;
  }
  // A range on the raw values would say something about them: compared on the pseudonym, after the scan.
  auto range = RowsAs(auth::Role::kAnalyst, Region::kUs, "SELECT count(*) FROM events WHERE viewer_id < '8'");
  int64_t below = 0;
  for (const query::Planted& p : rows_) below += Pseudonym(static_cast<uint64_t>(p.viewer)) < "8";
  ASSERT_EQ(range.size(), 1u);
  EXPECT_EQ(range[0][0].i, below);
  auto plan = As(auth::Role::kAnalyst, Region::kUs, "EXPLAIN SELECT count(*) FROM events WHERE viewer_id = 'ab'");
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->plan_text.find("pushed into pruning"), std::string::npos) << plan->plan_text;
  // The pseudonym is what an analyst may filter on: it finds that viewer's rows.
  const std::string p1005 = Pseudonym(1005);
  auto mine =
      RowsAs(auth::Role::kAnalyst, Region::kUs, "SELECT count(*) FROM events WHERE viewer_id = '" + p1005 + "'");
  int64_t of1005 = 0;
  for (const query::Planted& p : rows_) of1005 += p.viewer == 1005;
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_EQ(mine[0][0].i, of1005);
}

TEST_F(AccessTest, ADeniedColumnIsRefusedWhereverItIsNamed) {
  for (const char* sql :
       {"SELECT event_id FROM events", "SELECT count(DISTINCT event_id) FROM events",
        "SELECT count(*) FROM events WHERE event_id IS NOT NULL",
        "SELECT story_id FROM events ORDER BY event_id LIMIT 1", "SELECT count(*) FROM events GROUP BY event_id",
        "SELECT x FROM (SELECT event_id AS x FROM events) AS s",
        "SELECT count(*) FROM events a JOIN events b ON a.event_id = b.event_id",
        "SELECT count(*) FROM events a JOIN events b ON a.story_id = b.story_id "
        "WHERE b.event_id IS NULL"}) {
    const query::Denial d = DenialOf(auth::Role::kAnalyst, sql);
    EXPECT_EQ(d.table, "eu.events") << sql;
    EXPECT_EQ(d.column, "event_id") << sql;
    EXPECT_EQ(d.rule, "gov.toml:2: [[role]] analyst deny") << sql;
  }
  // SELECT * leaves it out rather than refusing.
  auto star = As(auth::Role::kAnalyst, Region::kUs, "SELECT * FROM events LIMIT 1");
  ASSERT_TRUE(star.ok()) << star.status().ToString();
  for (const std::string& n : star->result.names) EXPECT_NE(n, "event_id");
  EXPECT_EQ(star->result.names.size(), 9u);
  auto describe = RowsAs(auth::Role::kAnalyst, Region::kUs, "DESCRIBE events");
  EXPECT_EQ(describe.size(), 9u);
}

TEST_F(AccessTest, ATableOutsideTheRolesIsRefusedAndNotListed) {
  const query::Denial d = DenialOf(auth::Role::kCreator, "SELECT count(*) FROM events");
  EXPECT_EQ(d.table, "eu.events");
  EXPECT_EQ(d.column, "");
  EXPECT_EQ(d.rule, "gov.toml:7: [[role]] creator tables");
  EXPECT_EQ(DenialOf(auth::Role::kCreator, "DESCRIBE eu.events").table, "eu.events");
  EXPECT_EQ(DenialOf(auth::Role::kViewer, "SELECT 1 FROM events").rule, "gov.toml: no [[role]] for viewer");
  EXPECT_TRUE(RowsAs(auth::Role::kCreator, Region::kUs, "SHOW TABLES").empty());
  EXPECT_EQ(RowsAs(auth::Role::kAdmin, Region::kUs, "SHOW TABLES").size(), 1u);
}

}  // namespace
}  // namespace watershed::gov
