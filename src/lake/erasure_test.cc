#include "lake/erasure.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <set>
#include <utility>

#include "keys/key_provider.h"
#include "lake/file_keys.h"
#include "lake/iceberg_commit.h"
#include "lake/tables.h"
#include "lake/testing/lake_table_fixture.h"

namespace watershed::lake {
namespace {

using testing::kBaseMs;
using testing::kHourMs;
using testing::StoriesInOneBucket;

// The fixture's files hold viewers 500 .. 500+n-1 (one row each).
class ErasureTest : public testing::LakeTableFixture {
 protected:
  void TearDown() override { SetDefaultFileKeys(nullptr); }

  // Rows of `value` in every .parquet file under the lake root, referenced or not.
  int64_t EverywhereUnderTheRoot(int64_t value) {
    int64_t n = 0;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir_.path()))
      if (e.is_regular_file() && e.path().extension() == ".parquet") {
        auto c = CountValueInFile(fs_, e.path().string(), "viewer_id", value);
        EXPECT_TRUE(c.ok()) << e.path() << ": " << c.status().ToString();
        if (c.ok()) n += *c;
      }
    return n;
  }
  // Viewer ids of the rows a snapshot of the table reads.
  std::multiset<int64_t> ViewersAt(const TableMetadata& m, std::optional<int64_t> snapshot) {
    TableMetadata at = m;
    at.current_snapshot_id = snapshot;
    std::multiset<int64_t> out;
    auto live = ListLiveFiles(fs_, at);
    EXPECT_TRUE(live.ok()) << live.status().ToString();
    if (!live.ok()) return out;
    for (const ManifestEntry& e : *live) {
      auto r = ParquetReader::Open(fs_, e.file.path);
      EXPECT_TRUE(r.ok()) << e.file.path;
      if (!r.ok()) continue;
      for (size_t rg = 0; rg < (*r)->info().row_groups.size(); ++rg) {
        auto columns = (*r)->ReadRowGroup(rg, {(*r)->ColumnIndex("viewer_id")});
        EXPECT_TRUE(columns.ok());
        if (columns.ok()) out.insert((*columns)[0].ints.begin(), (*columns)[0].ints.end());
      }
    }
    return out;
  }
};

TEST_F(ErasureTest, RewritesOnlyFilesHoldingTheViewerAndNoSnapshotCanReturnThem) {
  IcebergTable table = CreateTable(LakeTableId::kEvents);
  const auto stories = StoriesInOneBucket(3);
  const DataFileInfo a = WriteEvents(LakeTableId::kEvents, "a.parquet", stories, kBaseMs, 10, true),
                     b = WriteEvents(LakeTableId::kEvents, "b.parquet", stories, kBaseMs, 3, true),
                     c = WriteEvents(LakeTableId::kEvents, "c.parquet", stories, kBaseMs + kHourMs, 20, true);
  ASSERT_TRUE(AppendFiles(fs_, &table, {a, b}, "c1").value());
  ASSERT_TRUE(AppendFiles(fs_, &table, {c}, "c2").value());
  const std::vector<testing::Row> before = ReadRows(LakeTableId::kEvents);
  std::multiset<int64_t> expected = ViewersAt(table.metadata(), table.metadata().current_snapshot_id);
  ASSERT_EQ(expected.count(505), 2u);
  expected.erase(505);
  EXPECT_EQ(EverywhereUnderTheRoot(505), 2);

  auto rewrite = RewriteWithoutValue(fs_, &table, "viewer_id", 505, "req1");
  ASSERT_TRUE(rewrite.ok()) << rewrite.status().ToString();
  EXPECT_TRUE(rewrite->committed);
  EXPECT_EQ(rewrite->rows_removed, 2);
  EXPECT_EQ(std::set<std::string>(rewrite->removed.begin(), rewrite->removed.end()),
            (std::set<std::string>{a.path, c.path}))
      << "b holds viewers 500..502 only: left as it is";
  ASSERT_EQ(rewrite->added.size(), 2u);
  EXPECT_EQ(rewrite->added[0].partition, a.partition);
  EXPECT_EQ(rewrite->added[1].partition, c.partition);
  EXPECT_EQ(rewrite->added[0].record_count + rewrite->added[1].record_count, 28);

  // The current snapshot: every other row exactly as before.
  table = IcebergTable::Load(fs_, Location(LakeTableId::kEvents)).value();
  EXPECT_EQ(ViewersAt(table.metadata(), table.metadata().current_snapshot_id), expected);
  EXPECT_EQ(ReadRows(LakeTableId::kEvents).size(), before.size() - 2);
  // Old snapshots still reach the viewer until step 2.
  ASSERT_EQ(table.metadata().snapshots.size(), 3u);
  EXPECT_EQ(ViewersAt(table.metadata(), table.metadata().snapshots[1].snapshot_id).count(505), 2u);

  auto expired = ExpireSnapshotsHolding(fs_, &table, "viewer_id", 505);
  ASSERT_TRUE(expired.ok()) << expired.status().ToString();
  EXPECT_EQ(expired->expired_snapshot_ids.size(), 2u);
  EXPECT_FALSE(fs_->FileExists(a.path));
  EXPECT_FALSE(fs_->FileExists(c.path));
  EXPECT_TRUE(fs_->FileExists(b.path));
  table = IcebergTable::Load(fs_, Location(LakeTableId::kEvents)).value();
  ASSERT_EQ(table.metadata().snapshots.size(), 1u);
  for (const IcebergSnapshot& s : table.metadata().snapshots)
    EXPECT_EQ(ViewersAt(table.metadata(), s.snapshot_id).count(505), 0u);
  EXPECT_EQ(EverywhereUnderTheRoot(505), 0);
  EXPECT_EQ(ViewersAt(table.metadata(), table.metadata().current_snapshot_id), expected);

  // Rerun (a resumed request): nothing left to do, nothing changed.
  const auto files = Snapshot();
  auto again = RewriteWithoutValue(fs_, &table, "viewer_id", 505, "req1");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->committed);
  EXPECT_TRUE(again->removed.empty());
  auto expired_again = ExpireSnapshotsHolding(fs_, &table, "viewer_id", 505);
  ASSERT_TRUE(expired_again.ok());
  EXPECT_TRUE(expired_again->expired_snapshot_ids.empty());
  EXPECT_EQ(Snapshot(), files);
}

// Runs `hook` once, when the erasure writes its first rewritten file: a
// commit of another writer then lands between the erasure's listing and its commit.
class RacingFileSystem : public ForwardingFileSystem {
 public:
  RacingFileSystem(FileSystem* base, std::function<void()> hook) : ForwardingFileSystem(base), hook_(std::move(hook)) {}
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    if (hook_ && path.find("/data/erased/") != std::string::npos) std::exchange(hook_, nullptr)();
    return ForwardingFileSystem::NewWritableFile(path);
  }

 private:
  std::function<void()> hook_;
};

// The lake sink appends while the erasure rewrites: its commit is re-applied
// on top, the sink's rows stay, the viewer's go.
TEST_F(ErasureTest, ASinkAppendDuringTheRewriteIsKept) {
  IcebergTable table = CreateTable(LakeTableId::kEvents);
  const auto stories = StoriesInOneBucket(2);
  const DataFileInfo a = WriteEvents(LakeTableId::kEvents, "a.parquet", stories, kBaseMs, 10, true);
  ASSERT_TRUE(AppendFiles(fs_, &table, {a}, "c1").value());
  const DataFileInfo appended = WriteEvents(LakeTableId::kEvents, "b.parquet", stories, kBaseMs + kHourMs, 3, true);
  RacingFileSystem racing(fs_, [&] {
    IcebergTable sink = IcebergTable::Load(fs_, Location(LakeTableId::kEvents)).value();
    ASSERT_TRUE(AppendFiles(fs_, &sink, {appended}, "sink-commit").value());
  });
  auto rewrite = RewriteWithoutValue(&racing, &table, "viewer_id", 505, "race1");
  ASSERT_TRUE(rewrite.ok()) << rewrite.status().ToString();
  EXPECT_TRUE(rewrite->committed);
  table = IcebergTable::Load(fs_, Location(LakeTableId::kEvents)).value();
  const std::multiset<int64_t> now = ViewersAt(table.metadata(), table.metadata().current_snapshot_id);
  EXPECT_EQ(now.count(505), 0u);
  EXPECT_EQ(now.size(), 9u + 3u) << "the appended file's rows are lost";
  EXPECT_EQ(now.count(500), 2u);
}

// A compaction replaces the file the erasure is rewriting: the erasure's
// commit is refused, it starts over from the compacted file, and leaves no
// file of its first attempt behind.
TEST_F(ErasureTest, ACompactionDuringTheRewriteMakesItStartOver) {
  IcebergTable table = CreateTable(LakeTableId::kEvents);
  const auto stories = StoriesInOneBucket(2);
  const DataFileInfo a = WriteEvents(LakeTableId::kEvents, "a.parquet", stories, kBaseMs, 10, true);
  ASSERT_TRUE(AppendFiles(fs_, &table, {a}, "c1").value());
  const DataFileInfo compacted = WriteEvents(LakeTableId::kEvents, "a2.parquet", stories, kBaseMs, 10, true);
  RacingFileSystem racing(fs_, [&] {
    IcebergTable other = IcebergTable::Load(fs_, Location(LakeTableId::kEvents)).value();
    ASSERT_TRUE(RewriteFiles(fs_, &other, {a.path}, {compacted}, "replace", "compaction").value());
  });
  auto rewrite = RewriteWithoutValue(&racing, &table, "viewer_id", 505, "race2");
  ASSERT_TRUE(rewrite.ok()) << rewrite.status().ToString();
  EXPECT_TRUE(rewrite->committed);
  EXPECT_EQ(rewrite->removed, std::vector<std::string>{compacted.path});
  table = IcebergTable::Load(fs_, Location(LakeTableId::kEvents)).value();
  const std::multiset<int64_t> now = ViewersAt(table.metadata(), table.metadata().current_snapshot_id);
  EXPECT_EQ(now.count(505), 0u);
  EXPECT_EQ(now.size(), 9u);
  auto live = ListLiveFiles(fs_, table.metadata()).value();
  ASSERT_EQ(live.size(), 1u);
  for (const auto& e : std::filesystem::directory_iterator(Location(LakeTableId::kEvents) + "/data/erased"))
    EXPECT_EQ(e.path().string(), live[0].file.path) << "a file of the refused attempt was left";
}

TEST_F(ErasureTest, AFileOfOnlyTheViewersRowsIsDeletedWithoutReplacement) {
  IcebergTable table = CreateTable(LakeTableId::kRawEvents);
  const auto stories = StoriesInOneBucket(1);
  const DataFileInfo only = WriteEvents(LakeTableId::kRawEvents, "only.parquet", stories, kBaseMs, 1, true);
  const DataFileInfo other = WriteEvents(LakeTableId::kRawEvents, "other.parquet", stories, kBaseMs + kHourMs, 1, true);
  ASSERT_TRUE(AppendFiles(fs_, &table, {only}, "c1").value());
  ASSERT_TRUE(AppendFiles(fs_, &table, {other}, "c2").value());
  auto rewrite = RewriteWithoutValue(fs_, &table, "viewer_id", 500, "req2");
  ASSERT_TRUE(rewrite.ok()) << rewrite.status().ToString();
  EXPECT_EQ(rewrite->removed.size(), 2u);
  EXPECT_TRUE(rewrite->added.empty());
  table = IcebergTable::Load(fs_, Location(LakeTableId::kRawEvents)).value();
  const IcebergSnapshot& current = table.metadata().snapshots.back();
  EXPECT_EQ(current.summary.at("operation"), "delete");
  EXPECT_TRUE(ListLiveFiles(fs_, table.metadata()).value().empty());
  ASSERT_TRUE(ExpireSnapshotsHolding(fs_, &table, "viewer_id", 500).ok());
  EXPECT_EQ(EverywhereUnderTheRoot(500), 0);
}

TEST_F(ErasureTest, UnreferencedLeftoversAreDeletedButTheSinksFilesAreOnlyReported) {
  CreateTable(LakeTableId::kEvents);
  const auto stories = StoriesInOneBucket(2);
  const DataFileInfo sink = WriteEvents(LakeTableId::kEvents, "pending.parquet", stories, kBaseMs, 10, true);
  const DataFileInfo left = WriteEvents(LakeTableId::kEvents, "left.parquet", stories, kBaseMs, 10, true);
  const DataFileInfo clean = WriteEvents(LakeTableId::kEvents, "clean.parquet", stories, kBaseMs, 2, true);
  const std::string compacted = JoinPath(Location(LakeTableId::kEvents), "data/compacted/left.parquet");
  ASSERT_TRUE(fs_->CreateDirs(DirName(compacted)).ok());
  std::filesystem::rename(left.path, compacted);
  auto r = RemoveUnreferencedHolding(fs_, Location(LakeTableId::kEvents), "viewer_id", 507);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->deleted, std::vector<std::string>{compacted});
  EXPECT_EQ(r->kept_sink_files, std::vector<std::string>{sink.path});
  EXPECT_FALSE(fs_->FileExists(compacted));
  EXPECT_TRUE(fs_->FileExists(sink.path));
  EXPECT_TRUE(fs_->FileExists(clean.path)) << "holds viewers 500, 501 only";
}

// A kill -9 inside the expiry, after its metadata commit and before its
// deletes, leaves the old sink files holding the viewer unreferenced, and no
// snapshot left to expire. The leftovers step deletes those the sink can
// never commit again (named at or below its partition's guard) and keeps
// only those above it, which a checkpoint may have prepared.
TEST_F(ErasureTest, SinkFilesAtOrBelowTheCommittedRangeAreDeletedAsLeftovers) {
  IcebergTable table = CreateTable(LakeTableId::kEvents);
  const auto stories = StoriesInOneBucket(2);
  const DataFileInfo clean =
      WriteEvents(LakeTableId::kEvents, "00000000000000000050-t-000000-1-1.parquet", stories, kBaseMs, 2, true);
  ASSERT_TRUE(AppendFiles(fs_, &table, {clean}, "c1", RangeGuard{"watershed.sink.p000.next-offset", 0, 200}).value());
  const DataFileInfo expired =
      WriteEvents(LakeTableId::kEvents, "00000000000000000200-t-000001-1-1.parquet", stories, kBaseMs, 10, true);
  const DataFileInfo pending =
      WriteEvents(LakeTableId::kEvents, "00000000000000000201-t-000000-1-1.parquet", stories, kBaseMs, 10, true);
  auto r = RemoveUnreferencedHolding(fs_, Location(LakeTableId::kEvents), "viewer_id", 507);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->deleted, std::vector<std::string>{expired.path});
  EXPECT_EQ(r->kept_sink_files, std::vector<std::string>{pending.path});
  EXPECT_FALSE(fs_->FileExists(expired.path));
  EXPECT_TRUE(fs_->FileExists(pending.path));
  EXPECT_TRUE(fs_->FileExists(clean.path));
}

// encryption = on: the rewrite is encrypted under a fresh data key of its
// own (a new sidecar), the old file goes with its sidecar.
TEST_F(ErasureTest, EncryptedFilesAreRewrittenUnderAFreshKeyAndTheirSidecarsGo) {
  const std::string keys_dir = dir_.Path("keys");
  ASSERT_TRUE(keys::LocalKeyStore(keys_dir, "eu").Create(true).ok());
  std::shared_ptr<keys::KeyProvider> provider = keys::NewLocalKeyProvider(keys_dir, "eu");
  SetDefaultFileKeys(NewSidecarFileKeys([provider](const std::string&) { return provider.get(); }));
  IcebergTable table = CreateTable(LakeTableId::kEvents);
  const auto stories = StoriesInOneBucket(2);
  const DataFileInfo a = WriteEvents(LakeTableId::kEvents, "a.parquet", stories, kBaseMs, 10, true);
  ASSERT_TRUE(fs_->FileExists(SidecarPath(a.path)));
  ASSERT_TRUE(AppendFiles(fs_, &table, {a}, "c1").value());
  auto rewrite = RewriteWithoutValue(fs_, &table, "viewer_id", 502, "req3");
  ASSERT_TRUE(rewrite.ok()) << rewrite.status().ToString();
  ASSERT_EQ(rewrite->added.size(), 1u);
  const std::string out = rewrite->added[0].path;
  ASSERT_TRUE(fs_->FileExists(SidecarPath(out)));
  EXPECT_NE(ReadWholeFile(fs_, SidecarPath(out)).value(), ReadWholeFile(fs_, SidecarPath(a.path)).value());
  EXPECT_EQ(ReadWholeFile(fs_, out).value().substr(0, 4), "PARE") << "encrypted footer";
  auto read_without_keys = ParquetReader::Open(fs_, out, NewFixedFileKey(keys::SecretKey::Random()).get());
  EXPECT_FALSE(read_without_keys.ok());
  ASSERT_TRUE(ExpireSnapshotsHolding(fs_, &table, "viewer_id", 502).ok());
  EXPECT_FALSE(fs_->FileExists(a.path));
  EXPECT_FALSE(fs_->FileExists(SidecarPath(a.path)));
  EXPECT_EQ(EverywhereUnderTheRoot(502), 0);
  EXPECT_EQ(CountValueInFile(fs_, out, "viewer_id", 503).value(), 1);
}

TEST_F(ErasureTest, ATableWithoutTheColumnHoldsNothing) {
  const std::string path = dir_.Path("sm.parquet");
  auto w = ParquetWriter::Create(fs_, path, StoryMinuteSchema());
  ASSERT_TRUE(w.ok());
  StoryMinuteRow row;
  row.story_id = 500;
  ASSERT_TRUE((*w)->Write(StoryMinuteColumns({row}), 1).ok());
  ASSERT_TRUE((*w)->Finish().ok());
  EXPECT_EQ(CountValueInFile(fs_, path, "viewer_id", 500).value(), 0);
  EXPECT_FALSE(CountValueInFile(fs_, path, "region", 500).ok()) << "not an INT64 column";
}

}  // namespace
}  // namespace watershed::lake
