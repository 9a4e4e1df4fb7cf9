// `watershed serve` with cdc-conninfo set, against a real PostgreSQL: the
// server runs the catalogue feed on its own thread, the catalogue gets the
// table's rows and /metrics the feed's counters.

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "app/config.h"
#include "app/server.h"
#include "app/testing/serve_environment.h"
#include "catalog/story_catalog.h"
#include "cdc/testing/pg_fixture.h"
#include "core/testing/temp_dir.h"
#include "core/testing/wait.h"
#include "http/http_client.h"

namespace watershed::app {
namespace {

class ServerCdcTest : public cdc::testing::PgFixture {
 protected:
  void SetUp() override {
    ::watershed::app::testing::ClearServeEnvironment();
    cdc::testing::PgFixture::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    Sql("CREATE TABLE stories (story_id bigint PRIMARY KEY, author_id bigint, created_at timestamptz, title text, "
        "tags text[], language text, is_original bool, deleted bool)");
    Sql("INSERT INTO stories VALUES (1, 10, '2024-01-02 03:04:05+00', 'first', '{a}', 'en', true, false)");
  }

  ::watershed::testing::TempDir dir_{"server_cdc"};
};

TEST_F(ServerCdcTest, TheServerRunsTheFeedIntoTheCatalogueAndReportsIt) {
  std::vector<std::string> args = {"--data-dir",
                                   dir_.path(),
                                   "--port",
                                   "0",
                                   "--auth",
                                   "off",
                                   "--partitions",
                                   "1",
                                   "--cdc-conninfo",
                                   server_.conninfo(),
                                   "--cdc-slot",
                                   "s",
                                   "--cdc-publication",
                                   "p"};
  auto config = Config::Load(ServeConfigKeys(), args);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  auto server = Server::Start(*config);
  ASSERT_TRUE(server.ok()) << server.status().ToString();

  Sql("INSERT INTO stories VALUES (2, 20, NULL, 'second', NULL, NULL, false, false)");
  // The catalogue directory is shared: a reader of its own sees what the feed applied.
  auto catalog = catalog::StoryCatalog::Open(FileSystem::Default(), dir_.Path("catalog"));
  ASSERT_TRUE(catalog.ok()) << catalog.status().ToString();
  EXPECT_TRUE(::watershed::testing::WaitUntil([&] {
    (*catalog)->Refresh().IgnoreError();
    return (*catalog)->AuthorOf(StoryId(2)).has_value();
  })) << server_.Log();
  EXPECT_EQ((*catalog)->AuthorOf(StoryId(1)), AuthorId(10));
  EXPECT_EQ((*catalog)->Get(StoryId(2))->title, "second");

  // The counters are published once the Step that applied the row returns.
  http::HttpClient client("127.0.0.1", (*server)->port());
  std::string body;
  EXPECT_TRUE(::watershed::testing::WaitUntil([&] {
    auto metrics = client.Get("/metrics");
    body = metrics.ok() ? metrics->body : metrics.status().ToString();
    return body.find("watershed_cdc_rows_applied_total 2\n") != std::string::npos;
  })) << body;
  EXPECT_NE(body.find("watershed_cdc_running 1\n"), std::string::npos) << body;
  EXPECT_NE(body.find("watershed_cdc_rows_dead_lettered_total 0\n"), std::string::npos) << body;
  EXPECT_NE(body.find("watershed_cdc_lag_bytes "), std::string::npos) << body;
  auto status = client.Get("/v1/status");
  ASSERT_TRUE(status.ok());
  EXPECT_NE(status->body.find(R"("catalog_feed":{"running":true,"lag_bytes":)"), std::string::npos) << status->body;
  EXPECT_TRUE((*server)->Stop().ok());
}

}  // namespace
}  // namespace watershed::app
