// CatalogFeed against a real PostgreSQL (testing/pg_test_server.h): the
// snapshot and the stream into the catalogue and the lake's cdc tables, dead
// letters, ADD COLUMN, and crashes at every step between the lake commit and
// the confirmation, after which every change is in the cdc table exactly once
// and the catalogue equals the PostgreSQL table.

#include "cdc/catalog_feed.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "catalog/story_catalog.h"
#include "cdc/testing/pg_fixture.h"
#include "core/testing/temp_dir.h"
#include "lake/iceberg_commit.h"
#include "lake/parquet.h"

namespace watershed::cdc {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// One row of a cdc table as read back from its live Parquet files.
struct CdcRow {
  std::string op;
  int64_t commit_lsn = 0, change_index = 0;
  std::optional<std::string> before, after;
  std::string reason;
  // "op:story" (the story_id of after, else before), e.g. "insert:4".
  std::string Describe() const {
    static const std::regex id("\"story_id\":\"([0-9]+)\"");
    std::smatch m;
    const std::string& image = after ? *after : before ? *before : reason;
    return op + ":" + (std::regex_search(image, m, id) ? m[1].str() : "?");
  }
};

class CatalogFeedTest : public testing::PgFixture {
 protected:
  void SetUp() override {
    testing::PgFixture::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    Sql("CREATE TABLE stories (story_id bigint PRIMARY KEY, author_id bigint, created_at timestamptz, title text, "
        "tags text[], language text, is_original bool, deleted bool)");
    Sql("INSERT INTO stories VALUES "
        "(1, 10, '2024-01-02 03:04:05+00', 'first', '{a,b}', NULL, true, false), "
        "(2, 20, '2024-02-03 04:05:06.789+00', 'second', '{\"c d\",\"e\\\"f\"}', 'en', false, false), "
        "(3, 30, NULL, NULL, NULL, 'fr', NULL, NULL)");
    auto catalog = catalog::StoryCatalog::Open(fs_, dir_.Path("catalog"));
    ASSERT_TRUE(catalog.ok()) << catalog.status().ToString();
    catalog_ = std::move(catalog).value();
  }

  CatalogFeedOptions Options() {
    CatalogFeedOptions o;
    o.conninfo = server_.conninfo();
    o.slot = "s";
    o.publication = "p";
    o.state_dir = dir_.Path("catalog/cdc");
    return o;
  }

  // A slot is busy for a moment after its previous walsender's client went away.
  std::unique_ptr<CatalogFeed> StartFeed(const CatalogFeedOptions& options) {
    auto deadline = std::chrono::steady_clock::now() + seconds(30);
    for (;;) {
      Result<std::unique_ptr<CatalogFeed>> feed = CatalogFeed::Start(options, catalog_.get(), fs_, dir_.Path("lake"));
      if (feed.ok()) return std::move(feed).value();
      if (feed.status().code() != StatusCode::kUnavailable || std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << feed.status().ToString() << "\n" << server_.Log();
        return nullptr;
      }
      std::this_thread::sleep_for(milliseconds(100));
    }
  }

  // Steps until `done` holds (then true) or a Step fails or 30 s pass (false).
  bool StepUntil(CatalogFeed& feed, const std::function<bool()>& done, Status* error = nullptr) {
    auto deadline = std::chrono::steady_clock::now() + seconds(30);
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "timed out";
        return false;
      }
      Status s = feed.Step(milliseconds(200));
      if (!s.ok()) {
        if (error) {
          *error = s;
        } else {
          ADD_FAILURE() << s.ToString();
        }
        return false;
      }
    }
    return true;
  }
  bool HasStory(uint64_t id) { return catalog_->Get(StoryId(id)).has_value(); }

  std::vector<CdcRow> ReadTable(const std::string& location, bool dead_letter) {
    std::vector<CdcRow> out;
    auto table = lake::IcebergTable::Load(fs_, location);
    EXPECT_TRUE(table.ok()) << table.status().ToString();
    if (!table.ok()) return out;
    auto live = lake::ListLiveFiles(fs_, table->metadata());
    EXPECT_TRUE(live.ok()) << live.status().ToString();
    if (!live.ok()) return out;
    for (const lake::ManifestEntry& e : *live) {
      auto reader = lake::ParquetReader::Open(fs_, e.file.path);
      EXPECT_TRUE(reader.ok()) << reader.status().ToString();
      if (!reader.ok()) continue;
      const auto& schema = (*reader)->info().schema;
      std::vector<int> columns = {0, 1, 2, 6, 7};
      if (dead_letter) columns.push_back(8);
      for (size_t rg = 0; rg < (*reader)->info().row_groups.size(); ++rg) {
        auto cols = (*reader)->ReadRowGroup(rg, columns);
        EXPECT_TRUE(cols.ok()) << cols.status().ToString();
        if (!cols.ok()) continue;
        const auto rows = static_cast<size_t>((*reader)->info().row_groups[rg].num_rows);
        size_t before_i = 0, after_i = 0;
        for (size_t r = 0; r < rows; ++r) {
          CdcRow row;
          row.op = std::string((*cols)[0].ByteValue(schema[0], r));
          row.commit_lsn = (*cols)[1].ints[r];
          row.change_index = (*cols)[2].ints[r];
          if ((*cols)[3].present[r]) row.before = std::string((*cols)[3].ByteValue(schema[6], before_i++));
          if ((*cols)[4].present[r]) row.after = std::string((*cols)[4].ByteValue(schema[7], after_i++));
          if (dead_letter) row.reason = std::string((*cols)[5].ByteValue(schema[8], r));
          out.push_back(std::move(row));
        }
      }
    }
    std::sort(out.begin(), out.end(), [](const CdcRow& a, const CdcRow& b) {
      return std::tie(a.commit_lsn, a.change_index) < std::tie(b.commit_lsn, b.change_index);
    });
    return out;
  }

  // The rows' descriptions, after checking no position appears twice.
  std::vector<std::string> History(const std::vector<CdcRow>& rows) {
    std::vector<std::string> out;
    std::set<std::pair<int64_t, int64_t>> seen;
    for (const CdcRow& r : rows) {
      EXPECT_TRUE(seen.insert({r.commit_lsn, r.change_index}).second)
          << "position (" << r.commit_lsn << ", " << r.change_index << ") twice: " << r.Describe();
      out.push_back(r.Describe());
    }
    return out;
  }

  // Every row of the PostgreSQL table is the catalogue's record of that
  // story, field by field (NULLs as the feed maps them); every catalogue
  // story missing from the table is marked deleted.
  void ExpectCatalogEqualsTable(uint64_t max_id) {
    PGresult* res = PQexec(conn_,
                           "SELECT story_id, author_id, (extract(epoch FROM created_at) * 1000)::bigint, "
                           "coalesce(title, ''), coalesce(array_to_string(tags, '|'), ''), coalesce(language, ''), "
                           "coalesce(is_original, false), coalesce(deleted, false) FROM stories ORDER BY story_id");
    ASSERT_EQ(PQresultStatus(res), PGRES_TUPLES_OK) << PQresultErrorMessage(res);
    std::set<uint64_t> in_table;
    for (int i = 0; i < PQntuples(res); ++i) {
      const uint64_t id = std::stoull(PQgetvalue(res, i, 0));
      in_table.insert(id);
      std::optional<catalog::StoryRecord> r = catalog_->Get(StoryId(id));
      ASSERT_TRUE(r.has_value()) << "story " << id << " is not in the catalogue";
      EXPECT_EQ(r->author.value, std::stoull(PQgetvalue(res, i, 1))) << id;
      if (!PQgetisnull(res, i, 2)) {
        EXPECT_EQ(r->created_at_ms, std::stoll(PQgetvalue(res, i, 2))) << id;
      }
      EXPECT_EQ(r->title, PQgetvalue(res, i, 3)) << id;
      std::string tags;
      for (const std::string& t : r->tags) tags += (tags.empty() ? "" : "|") + t;
      EXPECT_EQ(tags, PQgetvalue(res, i, 4)) << id;
      EXPECT_EQ(r->language, PQgetvalue(res, i, 5)) << id;
      EXPECT_EQ(r->is_original, PQgetvalue(res, i, 6)[0] == 't') << id;
      EXPECT_EQ(r->deleted, PQgetvalue(res, i, 7)[0] == 't') << id;
    }
    PQclear(res);
    for (uint64_t id = 1; id <= max_id; ++id) {
      if (in_table.count(id)) continue;
      std::optional<catalog::StoryRecord> r = catalog_->Get(StoryId(id));
      if (r) {
        EXPECT_TRUE(r->deleted) << "story " << id << " is gone from the table but not deleted";
      }
    }
  }

  watershed::testing::TempDir dir_{"catfeed"};
  FileSystem* fs_ = FileSystem::Default();
  std::unique_ptr<catalog::StoryCatalog> catalog_;
};

TEST_F(CatalogFeedTest, SnapshotThenStreamedChanges) {
  std::unique_ptr<CatalogFeed> feed = StartFeed(Options());
  ASSERT_NE(feed, nullptr);
  ASSERT_TRUE(StepUntil(*feed, [&] { return HasStory(3); }));
  ExpectCatalogEqualsTable(3);
  EXPECT_EQ(catalog_->Get(StoryId(2))->tags, (std::vector<std::string>{"c d", "e\"f"}));
  EXPECT_EQ(catalog_->Get(StoryId(2))->created_at_ms, 1706933106789);

  Sql("INSERT INTO stories VALUES (4, 40, '2024-04-05 06:07:08+00', 'fourth', '{x}', 'de', false, false)");
  Sql("UPDATE stories SET title = 'first, edited', tags = '{}' WHERE story_id = 1");
  Sql("UPDATE stories SET author_id = 21 WHERE story_id = 2");  // the author changes
  Sql("DELETE FROM stories WHERE story_id = 3");
  Sql("BEGIN; INSERT INTO stories VALUES (99, 9, NULL, 'never', NULL, NULL, NULL, NULL); ROLLBACK");
  Sql("BEGIN; INSERT INTO stories VALUES (5, 50, NULL, 'fifth', NULL, NULL, true, false); "
      "UPDATE stories SET title = 'fifth, twice' WHERE story_id = 5; COMMIT");
  Sql("ALTER TABLE stories ADD COLUMN mood text");
  Sql("INSERT INTO stories VALUES (6, 60, NULL, 'sixth', '{y,z}', 'en', false, false, 'happy')");
  Sql("UPDATE stories SET deleted = true WHERE story_id = 4");
  Sql("INSERT INTO stories VALUES (100, 1, NULL, 'sentinel', NULL, NULL, NULL, NULL, NULL)");
  ASSERT_TRUE(StepUntil(*feed, [&] { return HasStory(100); }));

  ExpectCatalogEqualsTable(100);
  EXPECT_FALSE(HasStory(99));
  EXPECT_TRUE(catalog_->Get(StoryId(3))->deleted);
  EXPECT_EQ(catalog_->Get(StoryId(3))->title, "");  // its other fields are kept (it had none)
  EXPECT_EQ(catalog_->AuthorOf(StoryId(2)), AuthorId(21));
  EXPECT_TRUE(catalog_->StoriesOf(AuthorId(20)).empty());
  EXPECT_EQ(catalog_->AuthorOf(StoryId(4)), std::nullopt);  // deleted

  std::vector<CdcRow> rows = ReadTable(feed->table_location(), false);
  EXPECT_EQ(History(rows),
            (std::vector<std::string>{"snapshot:1", "snapshot:2", "snapshot:3", "insert:4", "update:1", "update:2",
                                      "delete:3", "insert:5", "update:5", "insert:6", "update:4", "insert:100"}));
  // ADD COLUMN: the later rows carry the new column as one more key.
  ASSERT_EQ(rows.size(), 12u);
  EXPECT_EQ(rows[0].after->find("mood"), std::string::npos);
  EXPECT_NE(rows[9].after->find("\"mood\":\"happy\""), std::string::npos) << *rows[9].after;
  EXPECT_EQ(*rows[6].before, "{\"story_id\":\"3\"}");  // a delete's old key
  EXPECT_FALSE(rows[6].after.has_value());
  EXPECT_FALSE(rows[0].before.has_value());
  EXPECT_NE(rows[1].after->find("\"tags\":\"{\\\"c d\\\",\\\"e\\\\\\\"f\\\"}\""), std::string::npos) << *rows[1].after;
  EXPECT_NE(rows[2].after->find("\"title\":null"), std::string::npos) << *rows[2].after;
  EXPECT_TRUE(ReadTable(feed->dead_letter_location(), true).empty());
  EXPECT_EQ(feed->counters().rows_dead_lettered.load(), 0u);
  EXPECT_EQ(feed->counters().rows_landed.load(), 12u);
  EXPECT_EQ(catalog_->SourcePositionOf("pg:public.stories").major, static_cast<uint64_t>(rows.back().commit_lsn));
  EXPECT_TRUE(feed->Stop().ok());
}

TEST_F(CatalogFeedTest, BadRowsAreDeadLetteredAndTheStreamGoesOn) {
  std::unique_ptr<CatalogFeed> feed = StartFeed(Options());
  ASSERT_NE(feed, nullptr);
  ASSERT_TRUE(StepUntil(*feed, [&] { return HasStory(3); }));
  Sql("INSERT INTO stories VALUES (7, NULL, NULL, 'no author', NULL, NULL, NULL, NULL)");     // new, no author
  Sql("INSERT INTO stories VALUES (8, 80, NULL, 'null tag', '{a,NULL}', NULL, NULL, NULL)");  // unmappable tags
  Sql("UPDATE stories SET created_at = 'infinity' WHERE story_id = 1");                       // bad timestamp
  Sql("UPDATE stories SET title = repeat('x', 600) WHERE story_id = 2");                      // ValidateStory
  Sql("INSERT INTO stories VALUES (9, 90, NULL, 'fine', NULL, NULL, NULL, NULL)");
  Sql("UPDATE stories SET author_id = 70 WHERE story_id = 7");
  Sql("UPDATE stories SET tags = '{a}' WHERE story_id = 8");
  Sql("UPDATE stories SET created_at = '2025-01-01 00:00:00+00' WHERE story_id = 1");
  Sql("UPDATE stories SET title = 'second' WHERE story_id = 2");
  Sql("INSERT INTO stories VALUES (100, 1, NULL, 'sentinel', NULL, NULL, NULL, NULL)");
  ASSERT_TRUE(StepUntil(*feed, [&] { return HasStory(100); }));

  ExpectCatalogEqualsTable(100);
  std::vector<CdcRow> dead = ReadTable(feed->dead_letter_location(), true);
  ASSERT_EQ(History(dead), (std::vector<std::string>{"insert:7", "insert:8", "update:1", "update:2"}));
  EXPECT_NE(dead[0].reason.find("without author_id"), std::string::npos) << dead[0].reason;
  EXPECT_NE(dead[1].reason.find("NULL element"), std::string::npos) << dead[1].reason;
  EXPECT_NE(dead[2].reason.find("created_at"), std::string::npos) << dead[2].reason;
  EXPECT_NE(dead[3].reason.find("title"), std::string::npos) << dead[3].reason;
  EXPECT_EQ(History(ReadTable(feed->table_location(), false)).size(), 3u + 10u);
  EXPECT_EQ(feed->counters().rows_dead_lettered.load(), 4u);
}

TEST_F(CatalogFeedTest, TruncateLandsInTheCdcTableAndIsDeadLetteredNotApplied) {
  std::unique_ptr<CatalogFeed> feed = StartFeed(Options());
  ASSERT_NE(feed, nullptr);
  ASSERT_TRUE(StepUntil(*feed, [&] { return HasStory(3); }));
  Sql("TRUNCATE stories");
  Sql("INSERT INTO stories VALUES (100, 1, NULL, 'sentinel', NULL, NULL, NULL, NULL)");
  ASSERT_TRUE(StepUntil(*feed, [&] { return HasStory(100); }));
  EXPECT_FALSE(catalog_->Get(StoryId(1))->deleted);  // the catalogue keeps what a truncate removed
  EXPECT_EQ(History(ReadTable(feed->table_location(), false)),
            (std::vector<std::string>{"snapshot:1", "snapshot:2", "snapshot:3", "truncate:?", "insert:100"}));
  std::vector<CdcRow> dead = ReadTable(feed->dead_letter_location(), true);
  ASSERT_EQ(History(dead), (std::vector<std::string>{"truncate:?"}));
  EXPECT_EQ(dead[0].reason, "truncate is not applied to the catalogue");
}

TEST_F(CatalogFeedTest, MappedColumnMissingIsAnError) {
  CatalogFeedOptions o = Options();
  o.columns.title = "headline";
  Result<std::unique_ptr<CatalogFeed>> bad = CatalogFeed::Start(o, catalog_.get(), fs_, dir_.Path("lake"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kFailedPrecondition) << bad.status().ToString();
  EXPECT_NE(bad.status().message().find("headline"), std::string::npos);

  // At a schema change: the column goes while the feed runs.
  std::unique_ptr<CatalogFeed> feed = StartFeed(Options());
  ASSERT_NE(feed, nullptr);
  ASSERT_TRUE(StepUntil(*feed, [&] { return HasStory(3); }));
  Sql("ALTER TABLE stories DROP COLUMN language");
  Sql("INSERT INTO stories VALUES (4, 40, NULL, 'fourth', NULL, false, false)");
  Status error;
  EXPECT_FALSE(StepUntil(
      *feed, [&] { return HasStory(4); }, &error));
  EXPECT_EQ(error.code(), StatusCode::kFailedPrecondition) << error.ToString();
  EXPECT_FALSE(HasStory(4));
  EXPECT_EQ(History(ReadTable(feed->table_location(), false)).size(), 3u);  // nothing of the refused transaction
}

// A feed dies (destroyed without confirming) at `point`; a new one on the same
// slot, catalogue and lake finishes the work.
class CatalogFeedCrashTest : public CatalogFeedTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(CatalogFeedCrashTest, EveryChangeExactlyOnce) {
  const std::string point = GetParam();
  const bool in_snapshot = point.starts_with("snapshot.");
  // A bad row in the snapshot too, and several batches of it.
  Sql("INSERT INTO stories VALUES (50, NULL, NULL, 'no author yet', NULL, NULL, NULL, NULL)");
  auto workload = [&] {
    Sql("INSERT INTO stories VALUES (4, 40, NULL, 'fourth', NULL, NULL, NULL, NULL)");
    Sql("INSERT INTO stories VALUES (7, NULL, NULL, 'no author', NULL, NULL, NULL, NULL)");  // dead letter
    Sql("BEGIN; UPDATE stories SET title = 'first, edited' WHERE story_id = 1; "
        "UPDATE stories SET author_id = 22 WHERE story_id = 2; DELETE FROM stories WHERE story_id = 3; COMMIT");
  };
  int fired = 0;
  CatalogFeedOptions o = Options();
  o.snapshot_batch_rows = 2;
  o.test_hook = [&](std::string_view p) {
    if (p != point || fired++ > 0) return Status::Ok();
    return Status::Internal("crash at " + std::string(p));
  };
  {
    std::unique_ptr<CatalogFeed> feed = StartFeed(o);
    ASSERT_NE(feed, nullptr);
    if (!in_snapshot) {
      ASSERT_TRUE(StepUntil(*feed, [&] { return HasStory(3); }));
      workload();
    }
    Status error;
    EXPECT_FALSE(StepUntil(
        *feed, [&] { return false; }, &error));
    EXPECT_EQ(error.message(), "crash at " + point);
    // Destroyed here without Stop: nothing more is confirmed.
  }
  EXPECT_EQ(fired, 1);
  std::unique_ptr<CatalogFeed> feed = StartFeed(Options());
  ASSERT_NE(feed, nullptr);
  if (in_snapshot) {
    // Before the catalogue apply, the new feed takes a new snapshot; after,
    // it finishes the prepared commit at Start. The workload follows it.
    if (point == "snapshot.after_catalog_apply") {
      ASSERT_TRUE(StepUntil(*feed, [&] { return feed->counters().transactions.load() >= 1; }));
    }
    workload();
  }
  Sql("UPDATE stories SET author_id = 70 WHERE story_id = 7");
  Sql("UPDATE stories SET author_id = 500 WHERE story_id = 50");
  Sql("INSERT INTO stories VALUES (100, 1, NULL, 'sentinel', NULL, NULL, NULL, NULL)");
  ASSERT_TRUE(StepUntil(*feed, [&] { return HasStory(100); }));

  ExpectCatalogEqualsTable(100);
  EXPECT_EQ(History(ReadTable(feed->table_location(), false)),
            (std::vector<std::string>{"snapshot:1", "snapshot:2", "snapshot:3", "snapshot:50", "insert:4", "insert:7",
                                      "update:1", "update:2", "delete:3", "update:7", "update:50", "insert:100"}));
  EXPECT_EQ(History(ReadTable(feed->dead_letter_location(), true)),
            (std::vector<std::string>{"snapshot:50", "insert:7"}));
  EXPECT_TRUE(feed->Stop().ok());
}

INSTANTIATE_TEST_SUITE_P(Points, CatalogFeedCrashTest,
                         ::testing::Values("snapshot.after_catalog_apply", "snapshot.after_prepare",
                                           "snapshot.after_lake_commit", "stream.after_dead_letter_commit",
                                           "stream.after_lake_commit", "stream.after_catalog_apply"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           std::string name = info.param;
                           for (char& c : name)
                             if (c == '.') c = '_';
                           return name;
                         });

}  // namespace
}  // namespace watershed::cdc
