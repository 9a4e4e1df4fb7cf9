// The federated planner over a real eu.events table (EngineTest): a global query's fragments run with
// RunFragment and merged with MergeGlobal give the answer of the same query over the one region; residency
// refusals name table, column, region and rule; the fragment codec round-trips.
#include "query/federation.h"

#include <gtest/gtest.h>

#include "query/engine_test_util.h"
#include "query/fragment_codec.h"
#include "query/hll.h"
#include "query/parser.h"

namespace watershed::query {
namespace {

// The rows and columns, not the scan counters.
std::string Answer(const QueryResult& r) {
  QueryResult copy = r;
  copy.stats = {};
  return FormatJson(copy);
}

class FederationTest : public EngineTest {
 protected:
  Residency residency_;

  // The global query with eu as its only region, seen from a coordinator in `coordinator`.
  Result<QueryResult> Global(const std::string& sql, Region coordinator = Region::kUs, int copies = 1,
                             DistinctViewers distinct = DistinctViewers::kSum) {
    ASSIGN_OR_RETURN(Statement st, Parse(sql));
    ASSIGN_OR_RETURN(GlobalPlan plan, PlanGlobal(st, coordinator, {Region::kEu}, residency_, distinct));
    Catalog catalog(fs_, dir_.path(), Region::kEu);
    std::vector<QueryResult> parts;
    GlobalPlan doubled;
    for (int i = 0; i < copies; ++i) {
      auto wire = RunFragment(plan.fragments[0].sql, coordinator, Region::kEu, catalog, residency_, {}, 100'000);
      if (!wire.ok()) return wire.status();
      // Through the wire format, as a peer answers.
      ASSIGN_OR_RETURN(QueryResult back, DecodeFragmentResult(EncodeFragmentResult(*wire)));
      parts.push_back(std::move(back));
      if (i > 0) plan.fragments.push_back(plan.fragments[0]);
    }
    return MergeGlobal(plan, std::move(parts), {});
  }
  std::string GlobalError(const std::string& sql, Region coordinator = Region::kUs) {
    auto r = Global(sql, coordinator);
    EXPECT_FALSE(r.ok()) << sql;
    return r.ok() ? "" : r.status().ToString();
  }
};

TEST_F(FederationTest, AggregatesMergeToTheOneRegionAnswer) {
  residency_.personal[static_cast<size_t>(lake::LakeTableId::kEvents)] = {"viewer_id", "event_id"};
  residency_.regions[static_cast<size_t>(Region::kEu)].k = 5;
  const std::string tail = " GROUP BY type HAVING count(*) > 3 ORDER BY type";
  const std::string items =
      "SELECT type, count(*) AS n, sum(watch_ms), min(story_id), max(event_time), avg(watch_ms) AS a, "
      "count(DISTINCT viewer_id) AS viewers, count(story_id) + 1 FROM ";
  auto global = Global(items + "global.events WHERE story_id <= 40" + tail);
  ASSERT_TRUE(global.ok()) << global.status().ToString();
  QueryResult local = Rows(items + "eu.events WHERE story_id <= 40" + tail);
  EXPECT_EQ(Answer(*global), Answer(local));
  EXPECT_EQ(global->names, local.names);
  ASSERT_EQ(global->rows.size(), 3u);

  // Two regions answering the same partials: every count and sum doubles, min and max stay.
  auto twice = Global("SELECT count(*), sum(watch_ms), min(story_id) FROM global.events", Region::kUs, 2);
  ASSERT_TRUE(twice.ok()) << twice.status().ToString();
  QueryResult once = Rows("SELECT count(*), sum(watch_ms), min(story_id) FROM eu.events");
  EXPECT_EQ(twice->rows[0][0].i, 2 * once.rows[0][0].i);
  EXPECT_EQ(twice->rows[0][1].i, 2 * once.rows[0][1].i);
  EXPECT_EQ(twice->rows[0][2].i, once.rows[0][2].i);
}

TEST_F(FederationTest, HavingOrderByLimitAndExpressionsRunAfterTheMerge) {
  residency_.regions[static_cast<size_t>(Region::kEu)].k = 5;
  for (const std::string& tail : {
           std::string(" GROUP BY type HAVING count(*) > 3 ORDER BY sum(watch_ms) DESC"),
           std::string(" GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 2 OFFSET 1"),
           std::string(" GROUP BY author_id HAVING max(watch_ms) - min(watch_ms) > 10 ORDER BY author_id"),
       }) {
    const std::string items = tail.find("author_id") != std::string::npos
                                  ? "SELECT author_id, avg(watch_ms) * 2 AS twice, count(*) FROM "
                                  : "SELECT type, count(*) AS n FROM ";
    auto global = Global(items + "global.events" + tail);
    ASSERT_TRUE(global.ok()) << tail << ": " << global.status().ToString();
    EXPECT_EQ(Answer(*global), Answer(Rows(items + "eu.events" + tail))) << tail;
  }
  // Rows (the coordinator's own region): ORDER BY ... LIMIT n OFFSET m goes down as LIMIT n + m.
  auto st = Parse("SELECT story_id, watch_ms FROM global.events ORDER BY watch_ms DESC, story_id LIMIT 5 OFFSET 2");
  ASSERT_TRUE(st.ok());
  auto plan = PlanGlobal(*st, Region::kEu, {Region::kEu}, residency_);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_NE(plan->fragments[0].sql.find("ORDER BY watch_ms DESC, story_id LIMIT 7"), std::string::npos)
      << plan->fragments[0].sql;
  auto rows = Global("SELECT story_id, watch_ms FROM global.events ORDER BY watch_ms DESC, story_id LIMIT 5 OFFSET 2",
                     Region::kEu);
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_EQ(Answer(*rows),
            Answer(Rows("SELECT story_id, watch_ms FROM eu.events ORDER BY watch_ms DESC, story_id LIMIT 5 OFFSET 2")));
}

TEST_F(FederationTest, DistinctViewersTravelAsSketchesUnlessPinned) {
  const std::string q = "SELECT type, count(DISTINCT viewer_id) AS v, approx_count_distinct(story_id) AS s FROM ";
  auto sketched = Global(q + "global.events GROUP BY type ORDER BY type", Region::kUs, 1, DistinctViewers::kSketch);
  ASSERT_TRUE(sketched.ok()) << sketched.status().ToString();
  // One region's sketch merged is that region's own estimate.
  QueryResult approx = Rows(
      "SELECT type, approx_count_distinct(viewer_id) AS v, approx_count_distinct(story_id) AS s "
      "FROM eu.events GROUP BY type ORDER BY type");
  EXPECT_EQ(Answer(*sketched), Answer(approx));
  // Two regions with the same viewers: sketches merge to the same count, sums would double it.
  auto twice = Global("SELECT count(DISTINCT viewer_id) FROM global.events", Region::kUs, 2, DistinctViewers::kSketch);
  ASSERT_TRUE(twice.ok()) << twice.status().ToString();
  EXPECT_EQ(twice->rows[0][0].i, Rows("SELECT approx_count_distinct(viewer_id) FROM eu.events").rows[0][0].i);
  EXPECT_NEAR(static_cast<double>(twice->rows[0][0].i), 37.0, 1.0);
  auto summed = Global("SELECT count(DISTINCT viewer_id) FROM global.events", Region::kUs, 2, DistinctViewers::kSum);
  ASSERT_TRUE(summed.ok());
  EXPECT_EQ(summed->rows[0][0].i, 74);
}

TEST(HyperLogLogTest, SketchesRoundTripSparseAndDenseAndBadOnesAreRefused) {
  HyperLogLog few, many;
  for (int i = 0; i < 100; ++i) few.Add(HashBytes(std::to_string(i)));
  for (int i = 0; i < 100'000; ++i) many.Add(HashBytes(std::to_string(i)));
  for (const HyperLogLog* h : {&few, &many}) {
    const std::string text = h->Serialize();
    auto back = HyperLogLog::Parse(text);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(back->Serialize(), text);
    EXPECT_EQ(back->Estimate(), h->Estimate());
  }
  EXPECT_EQ(few.Serialize().substr(0, 5), "hll1s");
  EXPECT_EQ(many.Serialize().substr(0, 5), "hll1d");
  EXPECT_LT(few.Serialize().size(), 700u);
  for (const char* bad : {"", "hll1", "hll1x", "hll1s00010", "hll1sffff01", "hll1s000040", "hll1s0000zz", "hll1d00"})
    EXPECT_FALSE(HyperLogLog::Parse(bad).has_value()) << bad;
}

TEST_F(FederationTest, RowsStayHomeUnlessExportRows) {
  residency_.personal[static_cast<size_t>(lake::LakeTableId::kEvents)] = {"viewer_id", "event_id"};
  residency_.regions[static_cast<size_t>(Region::kEu)].rule = "gov.toml:7: [[region]] eu";
  std::string e = GlobalError("SELECT viewer_id FROM global.events");
  EXPECT_NE(e.find("residency_violation: table 'eu.events' column 'viewer_id' region 'eu' rule 'gov.toml:7: "
                   "[[region]] eu'"),
            std::string::npos)
      << e;
  auto v = ParseViolation(e);
  ASSERT_TRUE(v.has_value()) << e;
  EXPECT_EQ(v->table, "eu.events");
  EXPECT_EQ(v->column, "viewer_id");
  EXPECT_EQ(v->region, "eu");
  EXPECT_EQ(v->rule, "gov.toml:7: [[region]] eu");
  EXPECT_NE(GlobalError("SELECT max(viewer_id) FROM global.events").find("column 'viewer_id'"), std::string::npos);
  EXPECT_NE(GlobalError("SELECT viewer_id, count(*) FROM global.events GROUP BY 1").find("column 'viewer_id'"),
            std::string::npos);
  EXPECT_NE(GlobalError("SELECT story_id FROM global.events").find("rows may not leave"), std::string::npos);
  // The coordinator's own region: rows are fine.
  auto home = Global("SELECT story_id, viewer_id FROM global.events ORDER BY story_id, viewer_id LIMIT 3", Region::kEu);
  ASSERT_TRUE(home.ok()) << home.status().ToString();
  EXPECT_EQ(Answer(*home),
            Answer(Rows("SELECT story_id, viewer_id FROM eu.events ORDER BY story_id, viewer_id LIMIT 3")));
  // export = rows lets them out; export = none nothing.
  residency_.regions[static_cast<size_t>(Region::kEu)].kind = ExportRule::Kind::kRows;
  auto rows = Global("SELECT viewer_id FROM global.events WHERE story_id = 3 ORDER BY 1");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_EQ(rows->rows.size(), 60u);
  residency_.regions[static_cast<size_t>(Region::kEu)].kind = ExportRule::Kind::kNone;
  EXPECT_NE(GlobalError("SELECT count(*) FROM global.events").find("export = none"), std::string::npos);
}

TEST_F(FederationTest, GroupsUnderKAreRefusedByTheRegion) {
  residency_.regions[static_cast<size_t>(Region::kEu)].k = 10;
  // 37 viewers over all; one story and hour has 20 events of at most 20 viewers, one minute only one.
  EXPECT_TRUE(Global("SELECT type, count(*) FROM global.events GROUP BY type").ok());
  std::string e = GlobalError("SELECT event_time, count(*) FROM global.events WHERE story_id = 1 GROUP BY 1");
  EXPECT_NE(e.find("fewer than k = 10 distinct viewers"), std::string::npos) << e;
  EXPECT_NE(e.find("column 'viewer_id'"), std::string::npos) << e;
}

// A personal column crosses only as the bare argument of a count: an expression over it inside a count, or a
// filter over it, would answer questions about single viewers (is id X in the group, how many ids are below X).
TEST_F(FederationTest, PersonalColumnsCrossOnlyAsBareCounts) {
  residency_.personal[static_cast<size_t>(lake::LakeTableId::kEvents)] = {"viewer_id", "event_id"};
  for (const char* q : {"SELECT type, count(CASE WHEN viewer_id = 1005 THEN 1 END) FROM global.events GROUP BY type",
                        "SELECT count(viewer_id + 0) FROM global.events",
                        "SELECT approx_count_distinct(CAST(viewer_id AS VARCHAR)) FROM global.events",
                        "SELECT count(*) FROM global.events WHERE viewer_id <> 1005",
                        "SELECT type, count(DISTINCT viewer_id) FROM global.events WHERE viewer_id < 1020 GROUP BY 1",
                        "SELECT count(*) FROM global.events e WHERE e.viewer_id IN (1001, 1002)"}) {
    EXPECT_NE(GlobalError(q).find("column 'viewer_id'"), std::string::npos) << q;
  }
  // The peer refuses the same when a fragment is not the planner's shape.
  Catalog catalog(fs_, dir_.path(), Region::kEu);
  for (const char* f : {"SELECT count(DISTINCT CASE WHEN viewer_id < 1020 THEN viewer_id END) FROM eu.events",
                        "SELECT type, count(*) FROM eu.events WHERE viewer_id BETWEEN 1 AND 1020 GROUP BY type",
                        "SELECT type, count(*) FROM eu.events GROUP BY type HAVING count(CASE WHEN viewer_id = 1005 "
                        "THEN 1 END) > 0"}) {
    auto r = RunFragment(f, Region::kUs, Region::kEu, catalog, residency_, {}, 100);
    EXPECT_EQ(r.status().code(), StatusCode::kPermissionDenied) << f;
  }
  // Bare counts still cross; at home anything goes.
  EXPECT_TRUE(Global("SELECT type, count(viewer_id), count(DISTINCT viewer_id) FROM global.events GROUP BY 1").ok());
  EXPECT_TRUE(Global("SELECT count(*) FROM global.events WHERE viewer_id <> 1005", Region::kEu).ok());
}

// ORDER BY <name> means the select item when an alias shadows a column: the fragments must order (and cut at
// LIMIT + OFFSET) by the same thing as the merge, else the regions send the wrong rows.
TEST_F(FederationTest, OrderByAnAliasThatShadowsAColumn) {
  for (const char* q :
       {"SELECT -watch_ms AS watch_ms FROM %s ORDER BY watch_ms LIMIT 3",
        "SELECT story_id, -watch_ms AS watch_ms FROM %s ORDER BY watch_ms, story_id LIMIT 3 OFFSET 2",
        "SELECT type, count(*) AS story_id FROM %s GROUP BY type ORDER BY story_id DESC, type LIMIT 2"}) {
    std::string g = q, l = q;
    g.replace(g.find("%s"), 2, "global.events");
    l.replace(l.find("%s"), 2, "eu.events");
    auto home = Global(g, Region::kEu);
    ASSERT_TRUE(home.ok()) << home.status().ToString();
    EXPECT_EQ(Answer(*home), Answer(Rows(l))) << g;
  }
}

// The merge's edges at the coordinator's own region (no k): MIN/MAX of strings, empty inputs (NULL AVG, 0 counts),
// DISTINCT, HAVING/ORDER BY/LIMIT/OFFSET after re-aggregation, NULLS LAST, an OFFSET past the end.
TEST_F(FederationTest, MergeEdgesMatchTheOneRegionAnswer) {
  for (const char* q : {
           "SELECT min(type), max(type) FROM %s",
           "SELECT avg(watch_ms), count(*), count(watch_ms), sum(watch_ms), min(type) FROM %s WHERE story_id = -1",
           "SELECT DISTINCT type FROM %s ORDER BY type",
           "SELECT type, count(*) FROM %s GROUP BY type HAVING count(*) > 10 ORDER BY 2 DESC, 1 LIMIT 1 OFFSET 1",
           "SELECT story_id % 3 AS b, count(*) FROM %s GROUP BY b ORDER BY b",
           "SELECT count(*) FROM %s LIMIT 0",
           "SELECT story_id, watch_ms FROM %s ORDER BY 2 DESC NULLS LAST, 1 LIMIT 5 OFFSET 3",
           "SELECT count(*) AS n FROM %s GROUP BY type ORDER BY n",
           "SELECT sum(watch_ms) / count(*), avg(watch_ms) FROM %s",
           "SELECT type FROM %s GROUP BY type ORDER BY count(*) DESC, type",
           "SELECT type, avg(story_id), max(event_time) FROM %s GROUP BY 1 ORDER BY 1",
           "SELECT DISTINCT story_id % 5 AS m FROM %s ORDER BY m DESC LIMIT 2",
           "SELECT count(*) FROM %s WHERE watch_ms IS NULL",
           "SELECT story_id FROM %s ORDER BY story_id DESC LIMIT 3 OFFSET 1000000",
       }) {
    std::string g = q, l = q;
    g.replace(g.find("%s"), 2, "global.events");
    l.replace(l.find("%s"), 2, "eu.events");
    auto home = Global(g, Region::kEu);
    ASSERT_TRUE(home.ok()) << g << home.status().ToString();
    EXPECT_EQ(Answer(*home), Answer(Rows(l))) << g;
  }
}

TEST_F(FederationTest, WhatCannotBeSplitIsRefusedByName) {
  EXPECT_NE(GlobalError("SELECT count(*) FROM global.events e JOIN eu.raw_events r ON e.event_id = r.event_id")
                .find("JOIN with a global table"),
            std::string::npos);
  EXPECT_NE(GlobalError("SELECT n FROM (SELECT count(*) AS n FROM global.events) AS s").find("subquery"),
            std::string::npos);
  EXPECT_NE(GlobalError("SELECT count(DISTINCT story_id) FROM global.events").find("count(DISTINCT story_id)"),
            std::string::npos);
  EXPECT_NE(GlobalError("SELECT sum(DISTINCT watch_ms) FROM global.events").find("not supported"), std::string::npos);
  EXPECT_NE(GlobalError("SELECT count(*) FROM global.nope").find("unknown table"), std::string::npos);
}

TEST_F(FederationTest, ARegionWithoutTheTableAddsNothing) {
  auto st = Parse("SELECT count(*), sum(watch_ms) FROM global.events");
  ASSERT_TRUE(st.ok());
  auto plan = PlanGlobal(*st, Region::kUs, {Region::kUs, Region::kEu}, residency_);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  Catalog catalog(fs_, dir_.path(), Region::kUs);  // us.events was never created here
  auto us = RunFragment(plan->fragments[0].sql, Region::kUs, Region::kUs, catalog, residency_, {}, 10);
  ASSERT_TRUE(us.ok()) << us.status().ToString();
  EXPECT_TRUE(us->names.empty() && us->rows.empty());
  auto eu = RunFragment(plan->fragments[1].sql, Region::kUs, Region::kEu, catalog, residency_, {}, 10);
  ASSERT_TRUE(eu.ok()) << eu.status().ToString();
  auto both = MergeGlobal(*plan, {*us, *eu}, {});
  ASSERT_TRUE(both.ok()) << both.status().ToString();
  EXPECT_EQ(Answer(*both), Answer(Rows("SELECT count(*), sum(watch_ms) FROM eu.events")));
  auto none = MergeGlobal(*plan, {*us, *us}, {});
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
}

TEST_F(FederationTest, FragmentsMustReadTheirOwnRegion) {
  Catalog catalog(fs_, dir_.path(), Region::kEu);
  auto r = RunFragment("SELECT count(*) FROM us.events", Region::kUs, Region::kEu, catalog, residency_, {}, 10);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  r = RunFragment("SELECT count(*) FROM (SELECT * FROM eu.events) AS s", Region::kUs, Region::kEu, catalog, residency_,
                  {}, 10);
  EXPECT_FALSE(r.ok());
  r = RunFragment("SELECT story_id, count(*) FROM eu.events GROUP BY 1", Region::kEu, Region::kEu, catalog, residency_,
                  {}, 10);
  EXPECT_EQ(r.status().code(), StatusCode::kTooLarge);
}

TEST_F(FederationTest, ExplainShowsWhatCrossesEachBorder) {
  auto st = Parse("EXPLAIN SELECT type, count(*), avg(watch_ms) FROM global.events GROUP BY type");
  ASSERT_TRUE(st.ok());
  auto plan = PlanGlobal(*st, Region::kUs, {Region::kUs, Region::kEu, Region::kApac}, residency_);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_TRUE(plan->explain);
  const std::string text = ExplainGlobal(*plan, Region::kUs, {-1, 3, 7});
  EXPECT_NE(text.find("Border eu -> us: columns [_g0 = type, _a0 = count(*), _a1 = sum(watch_ms), _a2 = "
                      "count(watch_ms)], estimated rows <= 3"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("Border apac -> us"), std::string::npos) << text;
  EXPECT_NE(text.find("Local us"), std::string::npos) << text;
  Catalog catalog(fs_, dir_.path(), Region::kEu);
  auto est = EstimateFragment(plan->fragments[1].sql, catalog);
  ASSERT_TRUE(est.ok()) << est.status().ToString();
  EXPECT_EQ(*est, 3 * 64 * 20);
}

TEST(FragmentCodecTest, RequestsAndAnswersRoundTripAndBadOnesAreRefused) {
  auto r = DecodeFragmentRequest(EncodeFragmentRequest({"SELECT 1 FROM eu.events", Region::kApac, Region::kEu, true}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->caller, Region::kEu);
  EXPECT_FALSE(DecodeFragmentRequest(EncodeFragmentRequest({"SELECT 1", Region::kApac, std::nullopt, false}))
                   ->caller.has_value());
  EXPECT_FALSE(DecodeFragmentRequest("{\"sql\":\"x\",\"coordinator\":\"us\",\"caller\":\"mars\"}").ok());
  EXPECT_EQ(r->sql, "SELECT 1 FROM eu.events");
  EXPECT_EQ(r->coordinator, Region::kApac);
  EXPECT_TRUE(r->explain);
  EXPECT_FALSE(DecodeFragmentRequest("{\"sql\":\"x\"}").ok());
  EXPECT_FALSE(DecodeFragmentRequest("{\"sql\":\"x\",\"coordinator\":\"mars\"}").ok());
  EXPECT_FALSE(DecodeFragmentRequest("{\"sql\":1,\"coordinator\":\"us\"}").ok());
  EXPECT_FALSE(DecodeFragmentRequest("{\"sql\":\"x\",\"coordinator\":\"us\",\"extra\":1}").ok());
  FragmentLimits small;
  small.max_sql_bytes = 4;
  EXPECT_EQ(DecodeFragmentRequest("{\"sql\":\"SELECT\",\"coordinator\":\"us\"}", small).status().code(),
            StatusCode::kTooLarge);

  QueryResult q;
  q.names = {"a", "b", "c", "d"};
  q.types = {ColumnType::kBigint, ColumnType::kDouble, ColumnType::kString, ColumnType::kUuid};
  Value a, b, c, d, n;
  a.i = -7;
  b.d = 0.1;
  c.s = "he said \"hi\"\n";
  d.s = std::string("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10", 16);
  n.null = true;
  q.rows = {{a, b, c, d}, {n, n, n, n}};
  auto back = DecodeFragmentResult(EncodeFragmentResult(q));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(FormatJson(*back), FormatJson(q));
  EXPECT_FALSE(DecodeFragmentResult("{\"columns\":[{\"name\":\"a\",\"type\":\"BIGINT\"}],\"rows\":[[\"x\"]]}").ok());
  EXPECT_FALSE(DecodeFragmentResult("{\"columns\":[{\"name\":\"a\",\"type\":\"BIGINT\"}],\"rows\":[[1,2]]}").ok());
  EXPECT_FALSE(DecodeFragmentResult("{\"columns\":[{\"name\":\"a\",\"type\":\"NOPE\"}],\"rows\":[]}").ok());
  FragmentLimits one;
  one.max_rows = 1;
  EXPECT_EQ(DecodeFragmentResult(EncodeFragmentResult(q), one).status().code(), StatusCode::kTooLarge);
}

}  // namespace
}  // namespace watershed::query
