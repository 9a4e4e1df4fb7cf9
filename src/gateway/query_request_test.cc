// The lake endpoints' inputs (query_request.h) and LakeQueries' admission.

#include "gateway/query_request.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "gateway/lake_queries.h"

namespace watershed::gateway {
namespace {

TEST(ParseQueryRequestTest, ReadsSqlAndBoundsMaxRows) {
  QueryRequestLimits limits;
  auto r = ParseQueryRequest(R"({"sql": "SELECT 1", "max_rows": 5})", limits);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->sql, "SELECT 1");
  EXPECT_EQ(r->max_rows, 5);
  auto d = ParseQueryRequest(R"({"sql": "SELECT 1"})", limits);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->max_rows, limits.default_rows);
  for (const char* bad :
       {R"({"sql": "x", "max_rows": 0})", R"({"sql": "x", "max_rows": 100001})", R"({"sql": "x", "max_rows": "5"})",
        R"({"sql": "x", "max_rows": 1.5})", R"({"sql": 5})", R"({"max_rows": 5})", R"({"sql": "  "})", R"([1])", "",
        "{", R"({"sql": "x", "maxrows": 5})"}) {
    auto e = ParseQueryRequest(bad, limits);
    ASSERT_FALSE(e.ok()) << bad;
    EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument) << bad;
  }
  auto unknown = ParseQueryRequest(R"({"sql": "x", "maxrows": 5})", limits);
  EXPECT_NE(unknown.status().message().find("'maxrows'"), std::string::npos) << unknown.status().message();
  limits.max_sql_bytes = 10;
  auto big = ParseQueryRequest(R"({"sql": "SELECT 12345678"})", limits);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), StatusCode::kTooLarge);
}

constexpr int64_t kHourUs = 3'600'000'000;
constexpr int64_t kDayUs = 24 * kHourUs;
constexpr int64_t k20261205 = 1'796'428'800'000'000;  // 2026-12-05T00:00:00Z

TEST(ParseHistoryRequestTest, DefaultsToTheLastDayByHour) {
  const int64_t now_ms = k20261205 / 1000 + 90 * 60'000;  // 01:30
  auto r = ParseHistoryRequest("", now_ms);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->granularity, Granularity::kHour);
  EXPECT_EQ(r->to_us, k20261205 + 2 * kHourUs);         // rounded up
  EXPECT_EQ(r->from_us, k20261205 + kHourUs - kDayUs);  // rounded down
}

TEST(ParseHistoryRequestTest, ReadsIsoTimesAndRoundsToTheGranularity) {
  auto r = ParseHistoryRequest("from=2026-12-05T00:00:30Z&to=2026-12-05T00%3A10%3A00Z&granularity=minute", 0);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->from_us, k20261205);
  EXPECT_EQ(r->to_us, k20261205 + 10 * 60'000'000);
  auto d = ParseHistoryRequest("from=2026-12-01&to=2026-12-05&granularity=day", 0);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->to_us - d->from_us, 4 * kDayUs);
}

TEST(ParseHistoryRequestTest, RefusesBadAndOverlongRanges) {
  for (const char* bad :
       {"granularity=week", "from=yesterday", "from=2026-02-30", "from=%ZZ", "from=%2", "to=99999-01-01",
        "from=2026-12-05&to=2026-12-05", "from=2026-12-06&to=2026-12-05",
        "from=2026-01-01&to=2026-03-01&granularity=minute", "from=2026-01-01&to=2026-06-01&granularity=hour",
        "from=2020-01-01&to=2026-01-01&granularity=day", "to=9999-12-31T12:00:00",
        "from=", "from=2026-12-05T00:00:00+01:00", "to=0001-01-01",
        "from=0000000000000000000000000000000000000000000000000000000000000000000000000000"}) {
    auto r = ParseHistoryRequest(bad, k20261205 / 1000);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
    }
  }
  auto r = ParseHistoryRequest("from=2026-01-01&to=2026-03-01&granularity=minute", 0);
  EXPECT_NE(r.status().message().find("31 days"), std::string::npos) << r.status().message();
  EXPECT_TRUE(ParseHistoryRequest("from=2026-01-01&to=2026-02-01&granularity=minute", 0).ok());
}

// Past max_running admitted queries, one more is refused at once; a slot
// kept after the job (an answer being sent) still counts.
TEST(LakeQueriesTest, AdmitsAtMostMaxRunning) {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  // Declared after `queries`, so destroyed before it: its destructor joins
  // the threads, which must be released first whatever assertion ends the test.
  struct Release {
    std::mutex& mu;
    std::condition_variable& cv;
    bool& release;
    ~Release() {
      {
        std::lock_guard lock(mu);
        release = true;
      }
      cv.notify_all();
    }
  };
  std::promise<LakeQueries::Slot> kept;
  LakeQueryOptions options;
  options.max_running = 2;
  LakeQueries queries(options);
  Release on_exit{mu, cv, release};
  auto blocking = [&](LakeQueries::Slot) {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return release; });
  };
  ASSERT_TRUE(queries.TrySubmit(blocking));
  ASSERT_TRUE(queries.TrySubmit([&](LakeQueries::Slot slot) { kept.set_value(slot); }));
  LakeQueries::Slot slot = kept.get_future().get();
  EXPECT_FALSE(queries.TrySubmit([](LakeQueries::Slot) { ADD_FAILURE() << "ran past the cap"; }));
  EXPECT_EQ(queries.admitted(), 2);
  slot.reset();  // the answer is sent; the job's own copy goes when it returns
  while (queries.admitted() == 2) std::this_thread::yield();
  EXPECT_EQ(queries.admitted(), 1);
  std::promise<void> ran;
  ASSERT_TRUE(queries.TrySubmit([&](LakeQueries::Slot) { ran.set_value(); }));
  ran.get_future().wait();
}

}  // namespace
}  // namespace watershed::gateway
