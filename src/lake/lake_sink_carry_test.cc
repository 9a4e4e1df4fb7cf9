// The lake sink with buffers carried across checkpoints (lake_sink.h,
// "Buffers across checkpoints"): refills from the log, size and age cuts,
// and the dedup bits' encoding.

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/endian.h"
#include "core/testing/sample_events.h"
#include "core/testing/temp_dir.h"
#include "lake/iceberg_maintenance.h"
#include "lake/lake_sink.h"
#include "lake/parquet.h"

namespace watershed::lake {
namespace {

constexpr uint64_t kRowBytes = 82;  // lake_sink.cc's estimate of a row's uncompressed bytes
constexpr size_t kLogOffsetColumn = 9;

struct Record {
  Event event;
  uint64_t offset = 0;
};

// A partition's log, made without the sink: 6 stories over two hours of
// event time (6 Iceberg partitions at most), every 25th record a re-sent
// earlier one (a duplicate), every 97th of another region (refused).
std::vector<Record> MakeLog(size_t n) {
  std::vector<Record> log;
  for (uint64_t i = 0; i < n; ++i) {
    Event e = watershed::testing::SampleEvent(EventType::kView, 1000 + i);
    e.story_id = StoryId(1 + i % 6);
    e.event_time = EventTimeMs(watershed::testing::kSampleNow - static_cast<int64_t>(i % 2 == 0 ? 0 : 3'600'000));
    e.region = i % 97 == 0 ? Region::kUs : Region::kEu;
    if (i % 25 == 24) e = log[i - 20].event;  // a re-send
    log.push_back({e, i});
  }
  return log;
}

// The ground truth, from the log alone: the dedup decision per record
// (first time its (viewer, event id) is seen) and what each table must hold.
struct Truth {
  std::vector<bool> distinct;
  std::multiset<uint64_t> raw, events;  // log offsets
};
Truth TruthOf(const std::vector<Record>& log) {
  Truth t;
  std::set<std::pair<uint64_t, EventId>> seen;
  for (const Record& r : log) {
    const bool d = seen.insert({r.event.viewer_id.value, r.event.event_id}).second;
    t.distinct.push_back(d);
    if (r.event.region != Region::kEu) continue;
    t.raw.insert(r.offset);
    if (d) t.events.insert(r.offset);
  }
  return t;
}

// Event i of one story and hour: one Iceberg partition.
Event OneStory(uint64_t i) {
  Event e = watershed::testing::SampleEvent(EventType::kView, 5);
  e.event_id = EventId::FromHiLo(i, 1);
  return e;
}

StoryMinuteRow MinuteOf(uint64_t batch) {
  StoryMinuteRow m;
  m.story_id = 1 + batch % 40;
  m.author_id = 9;
  m.region = Region::kEu;
  m.minute_ms = (watershed::testing::kSampleNow / 60'000 - static_cast<int64_t>(batch)) * 60'000;
  m.views = batch;
  return m;
}

class LakeSinkCarryTest : public ::testing::Test {
 protected:
  LakeSinkCarryTest() : dir_("lake_sink_carry"), log_(MakeLog(2000)), truth_(TruthOf(log_)) {}

  std::unique_ptr<RegionLake> Open(const std::string& name, uint64_t file_rows, int64_t max_age_ms = 0,
                                   int64_t commit_interval_ms = 0) {
    LakeSinkOptions o;
    o.carry_buffers = true;
    o.buffer_rows = 1 << 20;
    o.file_bytes = file_rows * kRowBytes;
    o.file_max_age_ms = max_age_ms;
    o.commit_interval_ms = commit_interval_ms;
    auto lake = RegionLake::Open(fs_, dir_.Path(name), Region::kEu, o);
    EXPECT_TRUE(lake.ok()) << lake.status().ToString();
    return std::move(lake).value();
  }

  // Feeds records [from, to) in batches of 50 as the region processor does
  // (a minute row closed every 4th batch), with a checkpoint that does not
  // commit every 300 records; returns the last checkpoint's sink state.
  std::string Feed(PartitionSink& sink, uint64_t from, uint64_t to, uint64_t* checkpoint) {
    std::string state;
    for (uint64_t b = from; b < to; b += 50) {
      for (uint64_t i = b; i < b + 50; ++i) {
        const Record& r = log_[i];
        sink.AddRaw(r.event, AppendTimeMs(watershed::testing::kSampleNow), LogOffset(i));
        if (truth_.distinct[i]) sink.AddEvent(r.event, AppendTimeMs(watershed::testing::kSampleNow), LogOffset(i));
      }
      if (b / 50 % 4 == 3) sink.AddMinute(MinuteOf(b / 50), LogOffset(b + 49));
      EXPECT_TRUE(sink.MaybeFlush(b + 50).ok());
      if ((b + 50) % 300 == 0) {
        auto prepared = sink.Prepare(b + 50, /*commit=*/false);
        EXPECT_TRUE(prepared.ok()) << prepared.status().ToString();
        sink.Saved();
        state = *prepared;
        *checkpoint = b + 50;
      }
    }
    return state;
  }

  // Per committed file of `id`: the log offsets of its rows.
  std::multiset<std::multiset<uint64_t>> Files(const std::string& name, LakeTableId id) {
    std::multiset<std::multiset<uint64_t>> out;
    auto table = IcebergTable::Load(fs_, TableLocation(dir_.Path(name), Region::kEu, id));
    EXPECT_TRUE(table.ok()) << table.status().ToString();
    auto live = ListLiveFiles(fs_, table->metadata());
    EXPECT_TRUE(live.ok()) << live.status().ToString();
    for (const auto& f : *live) {
      auto reader = ParquetReader::Open(fs_, f.file.path);
      EXPECT_TRUE(reader.ok()) << reader.status().ToString();
      std::multiset<uint64_t> offsets;
      for (size_t g = 0; g < (*reader)->info().row_groups.size(); ++g) {
        auto cols = (*reader)->ReadRowGroup(g, {kLogOffsetColumn});
        EXPECT_TRUE(cols.ok());
        for (int64_t v : (*cols)[0].ints) offsets.insert(static_cast<uint64_t>(v));
      }
      out.insert(offsets);
    }
    return out;
  }
  static std::multiset<uint64_t> Rows(const std::multiset<std::multiset<uint64_t>>& files) {
    std::multiset<uint64_t> all;
    for (const auto& f : files) all.insert(f.begin(), f.end());
    return all;
  }
  int64_t MinuteRows(const std::string& name) {
    auto table = IcebergTable::Load(fs_, TableLocation(dir_.Path(name), Region::kEu, LakeTableId::kStoryMinute));
    auto live = ListLiveFiles(fs_, table->metadata());
    EXPECT_TRUE(live.ok());
    int64_t rows = 0;
    for (const auto& f : *live) rows += f.file.record_count;
    return rows;
  }
  size_t DataFilesOnDisk(const std::string& name, LakeTableId id) {
    const std::string dir = JoinPath(TableLocation(dir_.Path(name), Region::kEu, id), "data/sink-p003");
    return fs_->FileExists(dir) ? fs_->ListDir(dir).value().size() : 0;
  }

  FileSystem* fs_ = FileSystem::Default();
  watershed::testing::TempDir dir_;
  std::vector<Record> log_;
  Truth truth_;
};

// One sink never stops; another crashes after a checkpoint taken in the
// middle of its buffers (having cut files past it), and its successor
// refills from the log — without the dedup decisions, which the checkpoint
// carries — and goes on. Both commit exactly the same files, holding
// exactly the ground truth.
TEST_F(LakeSinkCarryTest, ARestartInTheMiddleOfABufferWritesTheSameFilesAsNoRestart) {
  ManualClock clock(1'000'000);
  auto straight_lake = Open("straight", /*file_rows=*/40);
  PartitionSink straight(straight_lake.get(), 3, &clock);
  ASSERT_TRUE(straight.Recover("", 0).ok());
  uint64_t checkpoint = 0;
  Feed(straight, 0, 2000, &checkpoint);
  ASSERT_TRUE(straight.Prepare(2000).ok());
  ASSERT_TRUE(straight.Commit().ok());

  auto lake = Open("restarted", /*file_rows=*/40);
  std::string state;
  {
    PartitionSink a(lake.get(), 3, &clock);
    ASSERT_TRUE(a.Recover("", 0).ok());
    state = Feed(a, 0, 1050, &checkpoint);  // the last checkpoint at 900; files cut up to 1050
    ASSERT_EQ(checkpoint, 900u);
  }
  ASSERT_EQ(GetFixed32(state.data() + 4), 4u);  // the sink state's version: with carried buffers
  const size_t files_before = DataFilesOnDisk("restarted", LakeTableId::kRawEvents);
  PartitionSink b(lake.get(), 3, &clock);
  ASSERT_TRUE(b.Recover(state, 900).ok());
  EXPECT_LT(DataFilesOnDisk("restarted", LakeTableId::kRawEvents), files_before);  // the orphans past 900 went
  // The checkpoint fell inside buffers, which began after earlier cuts.
  ASSERT_LT(b.refill_from(), 900u);
  EXPECT_GT(b.refill_from(), 0u);
  for (uint64_t i = b.refill_from(); i < 900; ++i)
    b.Refill(log_[i].event, AppendTimeMs(watershed::testing::kSampleNow), LogOffset(i));
  EXPECT_EQ(b.oldest_buffered_offset(900), b.refill_from());
  uint64_t unused = 0;
  Feed(b, 900, 2000, &unused);
  ASSERT_TRUE(b.Prepare(2000).ok());
  ASSERT_TRUE(b.Commit().ok());

  for (LakeTableId id : {LakeTableId::kRawEvents, LakeTableId::kEvents}) {
    const auto files = Files("restarted", id);
    EXPECT_EQ(Rows(files), id == LakeTableId::kRawEvents ? truth_.raw : truth_.events);
    EXPECT_EQ(files, Files("straight", id));
    EXPECT_GT(files.size(), 2u);
    EXPECT_EQ(DataFilesOnDisk("restarted", id), files.size());  // no orphan left
  }
  EXPECT_EQ(MinuteRows("restarted"), 2000 / 50 / 4);
  EXPECT_EQ(MinuteRows("straight"), 2000 / 50 / 4);
}

// A checkpoint that does not commit writes no file; an Iceberg partition's
// buffer is cut when it reaches file_bytes, and a commit cuts the rest.
TEST_F(LakeSinkCarryTest, FilesAreCutBySizeNotByCheckpoints) {
  auto lake = Open("size", /*file_rows=*/10);
  PartitionSink a(lake.get(), 3);
  ASSERT_TRUE(a.Recover("", 0).ok());
  for (uint64_t i = 0; i < 35; ++i) {
    a.AddRaw(OneStory(i), AppendTimeMs(1), LogOffset(i));
    ASSERT_TRUE(a.MaybeFlush(i + 1).ok());
    if (i % 4 == 3) {  // a checkpoint
      ASSERT_TRUE(a.Prepare(i + 1, /*commit=*/false).ok());
      a.Saved();
    }
  }
  EXPECT_EQ(DataFilesOnDisk("size", LakeTableId::kRawEvents), 3u);  // rows 0-9, 10-19, 20-29
  EXPECT_EQ(a.oldest_buffered_offset(35), 30u);
  ASSERT_TRUE(a.Prepare(35).ok());
  ASSERT_TRUE(a.Commit().ok());
  std::multiset<std::multiset<uint64_t>> want;
  for (uint64_t f = 0; f < 4; ++f) {
    std::multiset<uint64_t> rows;
    for (uint64_t i = f * 10; i < std::min<uint64_t>(35, f * 10 + 10); ++i) rows.insert(i);
    want.insert(rows);
  }
  EXPECT_EQ(Files("size", LakeTableId::kRawEvents), want);
}

// A buffer is cut file_max_age_ms after its first row arrived, a checkpoint
// in between notwithstanding, and its age survives a restart.
TEST_F(LakeSinkCarryTest, FilesAreCutByAgeAcrossARestart) {
  auto lake = Open("age", /*file_rows=*/1'000'000, /*max_age_ms=*/60'000);
  ManualClock clock(1'000'000);
  std::string state;
  {
    PartitionSink a(lake.get(), 3, &clock);
    ASSERT_TRUE(a.Recover("", 0).ok());
    for (uint64_t i = 0; i < 10; ++i) a.AddRaw(OneStory(i), AppendTimeMs(1), LogOffset(i));
    ASSERT_TRUE(a.MaybeFlush(10).ok());
    clock.AdvanceMs(40'000);
    auto prepared = a.Prepare(10, /*commit=*/false);
    ASSERT_TRUE(prepared.ok());
    state = *prepared;
  }
  EXPECT_EQ(DataFilesOnDisk("age", LakeTableId::kRawEvents), 0u);
  PartitionSink b(lake.get(), 3, &clock);
  ASSERT_TRUE(b.Recover(state, 10).ok());
  ASSERT_EQ(b.refill_from(), 0u);
  for (uint64_t i = 0; i < 10; ++i) b.Refill(OneStory(i), AppendTimeMs(1), LogOffset(i));
  b.AddRaw(OneStory(10), AppendTimeMs(1), LogOffset(10));
  clock.AdvanceMs(19'000);
  ASSERT_TRUE(b.MaybeFlush(11).ok());
  EXPECT_EQ(DataFilesOnDisk("age", LakeTableId::kRawEvents), 0u);  // 59 s old
  b.AddRaw(OneStory(11), AppendTimeMs(1), LogOffset(11));
  clock.AdvanceMs(1'000);
  ASSERT_TRUE(b.MaybeFlush(12).ok());
  EXPECT_EQ(DataFilesOnDisk("age", LakeTableId::kRawEvents), 1u);
  EXPECT_EQ(b.oldest_buffered_offset(12), 12u);
  ASSERT_TRUE(b.Prepare(12).ok());
  ASSERT_TRUE(b.Commit().ok());
  std::multiset<uint64_t> want;
  for (uint64_t i = 0; i < 12; ++i) want.insert(i);
  EXPECT_EQ(Rows(Files("age", LakeTableId::kRawEvents)), want);
}

// With the age equal to the commit interval (the default), a buffer that
// comes of age once the range is due for its commit is left to the commit
// (at the next checkpoint): no file split a few seconds before it.
TEST_F(LakeSinkCarryTest, NoAgeCutOnceTheCommitIsDue) {
  for (const int64_t commit_interval : {int64_t{0}, int64_t{60'000}}) {
    const std::string name = "due" + std::to_string(commit_interval);
    auto lake = Open(name, /*file_rows=*/1'000'000, /*max_age_ms=*/60'000, commit_interval);
    ManualClock clock(1'000'000);
    PartitionSink a(lake.get(), 3, &clock);
    ASSERT_TRUE(a.Recover("", 0).ok());  // the range opens
    clock.AdvanceMs(30'000);
    a.AddRaw(OneStory(0), AppendTimeMs(1), LogOffset(0));  // the buffer opens
    ASSERT_TRUE(a.MaybeFlush(1).ok());
    clock.AdvanceMs(60'000);  // the buffer is 60 s old, the range 90 s
    a.AddRaw(OneStory(1), AppendTimeMs(1), LogOffset(1));
    ASSERT_TRUE(a.MaybeFlush(2).ok());
    EXPECT_EQ(DataFilesOnDisk(name, LakeTableId::kRawEvents), commit_interval == 0 ? 1u : 0u) << commit_interval;
  }
}

// Two owners restored from one carrying checkpoint (a zombie and its
// successor) rebuild the same buffers; whichever commits first lands, the
// other's commit is recognised as covered: each row once.
TEST_F(LakeSinkCarryTest, TwoOwnersRestoredFromOneCheckpointCommitEachRowOnce) {
  auto lake = Open("handover", /*file_rows=*/40);
  uint64_t checkpoint = 0;
  std::string state;
  {
    PartitionSink a(lake.get(), 3);
    ASSERT_TRUE(a.Recover("", 0).ok());
    state = Feed(a, 0, 600, &checkpoint);
  }
  PartitionSink zombie(lake.get(), 3), owner(lake.get(), 3);
  for (PartitionSink* s : {&zombie, &owner}) {
    ASSERT_TRUE(s->Recover(state, 600).ok());
    for (uint64_t i = s->refill_from(); i < 600; ++i)
      s->Refill(log_[i].event, AppendTimeMs(watershed::testing::kSampleNow), LogOffset(i));
  }
  uint64_t unused = 0;
  Feed(owner, 600, 1000, &unused);
  Feed(zombie, 600, 800, &unused);
  ASSERT_TRUE(owner.Prepare(1000).ok());
  ASSERT_TRUE(zombie.Prepare(800).ok());
  ASSERT_TRUE(owner.Commit().ok());
  ASSERT_TRUE(zombie.Commit().ok());
  EXPECT_EQ(zombie.committed_rows(), 0u);
  std::multiset<uint64_t> want;
  for (uint64_t o : truth_.events)
    if (o < 1000) want.insert(o);
  EXPECT_EQ(Rows(Files("handover", LakeTableId::kEvents)), want);
  EXPECT_EQ(DataFilesOnDisk("handover", LakeTableId::kEvents), Files("handover", LakeTableId::kEvents).size());
}

TEST(DistinctBitsTest, RunsRoundTripAndTrim) {
  DistinctBits bits;
  bits.Clear(1000);
  const std::set<uint64_t> set = {1000, 1001, 1063, 1064, 1200, 1201, 1202, 1399};
  for (uint64_t o : set) bits.Set(o);
  const std::vector<uint32_t> runs = bits.Runs(1000, 1400);
  EXPECT_EQ(runs, (std::vector<uint32_t>{0, 2, 61, 2, 135, 3, 196, 1}));
  DistinctBits back;
  ASSERT_TRUE(back.SetRuns(1000, 1400, runs).ok());
  for (uint64_t o = 990; o < 1410; ++o) EXPECT_EQ(back.Get(o), set.count(o) == 1) << o;
  EXPECT_EQ(back.SetRuns(1000, 1400, {0, 2}).code(), StatusCode::kCorruption);
  bits.TrimBelow(1130);  // keeps the word holding 1130 and after
  EXPECT_FALSE(bits.Get(1001));
  EXPECT_TRUE(bits.Get(1200));
  EXPECT_EQ(bits.Runs(1150, 1150), std::vector<uint32_t>{0});
}

TEST(CarriedBuffersTest, EncodingRoundTripsAndRefusesDamage) {
  CarriedBuffers c;
  c.groups = {{LakeTableId::kRawEvents, 473'000, 3, 10, 77}, {LakeTableId::kEvents, 473'001, 15, 12, 78}};
  c.bits_from = 12;
  c.bits_to = 40;
  c.runs = {0, 5, 23};
  c.minutes = {MinuteOf(3), MinuteOf(4)};
  std::string bytes;
  EncodeCarried(c, &bytes);
  std::string_view in = bytes;
  CarriedBuffers back;
  ASSERT_TRUE(DecodeCarried(&in, &back).ok());
  EXPECT_TRUE(in.empty());
  EXPECT_EQ(back.groups, c.groups);
  EXPECT_EQ(back.runs, c.runs);
  EXPECT_EQ(back.minutes, c.minutes);
  EXPECT_EQ(back.RefillFrom(100), 10u);
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    std::string_view part(bytes.data(), cut);
    EXPECT_EQ(DecodeCarried(&part, &back).code(), StatusCode::kCorruption) << cut;
  }
  std::string bad_runs = bytes;
  bad_runs[4 + 2 * 25 + 16 + 4 + 8] = 9;  // the last run: no longer sums to bits_to - bits_from
  in = bad_runs;
  EXPECT_EQ(DecodeCarried(&in, &back).code(), StatusCode::kCorruption);
}

}  // namespace
}  // namespace watershed::lake
