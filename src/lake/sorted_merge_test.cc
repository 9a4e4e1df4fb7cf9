#include "lake/sorted_merge.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "lake/parquet.h"
#include "lake/testing/lake_table_fixture.h"

namespace watershed::lake {
namespace {

using testing::kBaseMs;
using testing::Row;

// Counts the files open for reading, and the most open at once.
class OpenFileCounter : public ForwardingFileSystem {
 public:
  using ForwardingFileSystem::ForwardingFileSystem;
  Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(const std::string& path) override {
    ASSIGN_OR_RETURN(auto file, ForwardingFileSystem::NewRandomAccessFile(path));
    max_open = std::max(max_open, ++open);
    return std::unique_ptr<RandomAccessFile>(new Counted(std::move(file), &open));
  }
  int open = 0, max_open = 0;

 private:
  struct Counted : RandomAccessFile {
    Counted(std::unique_ptr<RandomAccessFile> f, int* open) : file(std::move(f)), open(open) {}
    ~Counted() override { --*open; }
    Result<size_t> Read(uint64_t offset, size_t n, char* scratch) const override {
      return file->Read(offset, n, scratch);
    }
    std::unique_ptr<RandomAccessFile> file;
    int* open;
  };
};

class SortedMergeTest : public testing::LakeTableFixture {
 protected:
  // A file of `keys` (story, event time in ms) in the given order, in row
  // groups of 300 rows; every row's event id is unique.
  std::string WriteFile(const std::string& name, const std::vector<std::pair<int64_t, int64_t>>& keys) {
    const std::string path = JoinPath(dir_.path(), name);
    ParquetWriterOptions small_groups;
    small_groups.row_group_bytes = 4 << 10;  // checked after each Write: one group per slice
    auto w = ParquetWriter::Create(fs_, path, EventTableSchema(), small_groups);
    EXPECT_TRUE(w.ok());
    for (size_t begin = 0; begin < keys.size(); begin += 300) {
      EventColumns columns;
      for (size_t i = begin; i < std::min(keys.size(), begin + 300); ++i) {
        Event e;
        e.event_id = EventId::FromHiLo(7, static_cast<uint64_t>(++events_));
        e.story_id = StoryId(static_cast<uint64_t>(keys[i].first));
        e.author_id = AuthorId(3);
        e.viewer_id = ViewerId(9);
        e.event_time = EventTimeMs(keys[i].second);
        columns.Add(e, AppendTimeMs(keys[i].second), LogOffset(events_));
      }
      EXPECT_TRUE((*w)->Write(columns.columns(), columns.rows()).ok());
    }
    EXPECT_TRUE((*w)->Finish().ok());
    return path;
  }

  // Sorted keys with repeats (equal keys within and across files).
  std::vector<std::pair<int64_t, int64_t>> SortedKeys(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<std::pair<int64_t, int64_t>> keys;
    for (size_t i = 0; i < n; ++i) keys.emplace_back(rng() % 40, kBaseMs + rng() % 5 * 1000);
    std::sort(keys.begin(), keys.end());
    return keys;
  }

  uint64_t events_ = 0;
};

TEST_F(SortedMergeTest, MergesSortedFilesIntoOneSortedFileKeepingInputOrderOnTies) {
  const TableMetadata table = NewLakeTable(LakeTableId::kEvents, "5f0c4a38-2f6e-4a7b-9d8e-1c2b3a4d5e6f");
  std::vector<std::string> inputs;
  std::vector<Row> expected;
  for (uint32_t i = 0; i < 4; ++i) {
    inputs.push_back(WriteFile("in" + std::to_string(i) + ".parquet", SortedKeys(1500 + 300 * i, i)));
    auto r = ParquetReader::Open(fs_, inputs.back());
    ASSERT_TRUE(r.ok());
    ASSERT_GT((*r)->info().row_groups.size(), 3u) << "the inputs must span several row groups";
    const std::vector<Row> rows = ReadFile(inputs.back());
    expected.insert(expected.end(), rows.begin(), rows.end());
  }
  // Ground truth: a stable sort by (story, time) of the inputs in order.
  std::stable_sort(expected.begin(), expected.end(), [](const Row& a, const Row& b) {
    return std::tie(std::get<0>(a), std::get<1>(a)) < std::tie(std::get<0>(b), std::get<1>(b));
  });
  const std::string out = JoinPath(dir_.path(), "out/merged.parquet");
  auto merged = MergeSortedFiles(fs_, inputs, table, out, {std::nullopt, 3});
  ASSERT_TRUE(merged.ok()) << merged.status().ToString();
  EXPECT_EQ(ReadFile(out), expected);
  EXPECT_EQ(merged->record_count, static_cast<int64_t>(expected.size()));
  EXPECT_EQ(merged->sort_order_id, 1);
  EXPECT_EQ(merged->partition, (std::vector<std::optional<int32_t>>{std::nullopt, 3}));
  // viewer_id is personal data: no min/max in the inputs, none in the output.
  auto r = ParquetReader::Open(fs_, out);
  ASSERT_TRUE(r.ok());
  const int viewer = (*r)->ColumnIndex("viewer_id");
  for (const RowGroupInfo& rg : (*r)->info().row_groups) EXPECT_FALSE(rg.columns[viewer].statistics.min_value);
}

TEST_F(SortedMergeTest, MergesMoreInputsThanItMayOpenInPassesKeepingInputOrderOnTies) {
  const TableMetadata table = NewLakeTable(LakeTableId::kEvents, "5f0c4a38-2f6e-4a7b-9d8e-1c2b3a4d5e6f");
  std::vector<std::string> inputs;
  std::vector<Row> expected;
  for (uint32_t i = 0; i < 11; ++i) {  // 11 inputs, 3 open at most: 4 merges, 1, then the last
    inputs.push_back(WriteFile("in" + std::to_string(i) + ".parquet", SortedKeys(200 + 50 * i, 10 + i)));
    const std::vector<Row> rows = ReadFile(inputs.back());
    expected.insert(expected.end(), rows.begin(), rows.end());
  }
  std::stable_sort(expected.begin(), expected.end(), [](const Row& a, const Row& b) {
    return std::tie(std::get<0>(a), std::get<1>(a)) < std::tie(std::get<0>(b), std::get<1>(b));
  });
  OpenFileCounter counting(fs_);
  const std::string out_dir = JoinPath(dir_.path(), "out");
  auto merged = MergeSortedFiles(&counting, inputs, table, JoinPath(out_dir, "merged.parquet"), {}, 3);
  ASSERT_TRUE(merged.ok()) << merged.status().ToString();
  EXPECT_EQ(ReadFile(JoinPath(out_dir, "merged.parquet")), expected);
  EXPECT_EQ(merged->record_count, static_cast<int64_t>(expected.size()));
  EXPECT_EQ(counting.max_open, 3);
  EXPECT_EQ(counting.open, 0);
  auto left = fs_->ListDir(out_dir);  // the intermediate files are gone
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(*left, std::vector<std::string>{"merged.parquet"});
}

TEST_F(SortedMergeTest, RefusesAnInputThatIsNotSorted) {
  const TableMetadata table = NewLakeTable(LakeTableId::kEvents, "5f0c4a38-2f6e-4a7b-9d8e-1c2b3a4d5e6f");
  const std::string sorted = WriteFile("sorted.parquet", SortedKeys(800, 1));
  // Sorted within a row group but not across: the second half starts over.
  std::vector<std::pair<int64_t, int64_t>> restarts = SortedKeys(900, 2);  // restarts at a group boundary
  const std::vector<std::pair<int64_t, int64_t>> again = restarts;
  restarts.insert(restarts.end(), again.begin(), again.end());
  std::vector<std::pair<int64_t, int64_t>> reversed = SortedKeys(800, 3);
  std::reverse(reversed.begin(), reversed.end());
  for (const auto& [name, keys] : {std::pair{"restarts.parquet", restarts}, std::pair{"reversed.parquet", reversed}}) {
    const std::string bad = WriteFile(name, keys);
    auto merged = MergeSortedFiles(fs_, {sorted, bad}, table, JoinPath(dir_.path(), "out.parquet"), {});
    ASSERT_FALSE(merged.ok()) << name;
    EXPECT_EQ(merged.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(merged.status().message().find(name), std::string::npos) << merged.status().ToString();
    EXPECT_FALSE(fs_->FileExists(JoinPath(dir_.path(), "out.parquet")));
  }
}

}  // namespace
}  // namespace watershed::lake
