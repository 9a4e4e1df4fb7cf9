#include "lake/lake_sink.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <utility>

#include "core/crash_point.h"
#include "core/endian.h"
#include "core/random.h"
#include "lake/file_keys.h"
#include "lake/iceberg_commit.h"
#include "lake/iceberg_maintenance.h"
#include "lake/iceberg_transform.h"
#include "lake/row_set.h"

namespace watershed::lake {
namespace {

constexpr uint32_t kPreparedMagic = 0x4b4c5357;  // "WSLK"
// 2: with the commit flag; 3: with the range's opening time; 4: with the carried buffers (sink_state.h).
// A state without carried buffers is still written as 3, so that a binary
// from before version 4 can restore what a clean stop (a commit) left.
constexpr uint32_t kPreparedVersion = 4;
// A raw_events / events row uncompressed (Parquet plain encoding): event_id
// 16, type and region as strings with their lengths (~14), five 8-byte
// columns, watch_ms 4 (lake-file-size counts these).
constexpr uint64_t kEventRowBytes = 16 + 14 + 5 * 8 + 4 + 8;
constexpr int32_t kBuckets = 16;  // bucket[16](story_id) in every sink table's spec
// The sink's tables, in commit order.
constexpr LakeTableId kSinkTables[] = {LakeTableId::kRawEvents, LakeTableId::kEvents, LakeTableId::kStoryMinute};

int32_t StoryBucket(uint64_t story_id) {
  return iceberg::Bucket(kBuckets, iceberg::HashLong(static_cast<int64_t>(story_id)));
}

// The offset that names a data file of the sink ("<20 digits>-..."): the
// log offset its rows end before, known when it was written.
std::optional<uint64_t> UptoOf(std::string_view name) {
  uint64_t upto = 0;
  auto [p, ec] = std::from_chars(name.data(), name.data() + name.size(), upto);
  if (ec != std::errc() || p != name.data() + 20 || *p != '-') return std::nullopt;
  return upto;
}

// Removes a data file that must not stay. One already gone is no error: a
// former owner may delete the same file meanwhile (a fenced zombie's
// DiscardUnsaved while the new owner's Recover lists the orphans), and
// either way the file is gone, which is all the caller needs.
// Its key sidecar (encrypted files) goes with it.
Status RemoveDataFile(FileSystem* fs, const std::string& path) { return RemoveLakeFile(fs, path); }

// The order of a file's rows: by story_id, then event_time, then offset
// (the table's sort order, so min/max statistics prune; offsets keep it
// total). Returns row indices in that order.
//
// Rows are appended in log order, and one Iceberg partition's event times
// lie within its hour: then a stable LSD radix sort (11-bit digits) by
// event_time - the least, then by story_id - the least, gives that order
// in a few linear passes — a comparison sort of the rows was ~150
// instructions per row, a third of the sink's work outside zstd.
// Otherwise (never seen, but not assumed) the triples are compared.
template <typename Row>
std::vector<uint32_t> SortedOrder(const std::vector<Row>& rows) {
  const size_t n = rows.size();
  std::vector<uint32_t> order(n);
  if (n == 0) return order;
  int64_t least_time = INT64_MAX, most_time = INT64_MIN;
  uint64_t least_story = UINT64_MAX, most_story = 0;
  bool log_order = n <= UINT32_MAX;
  for (size_t i = 0; i < n; ++i) {
    least_time = std::min(least_time, rows[i].event_time_ms);
    most_time = std::max(most_time, rows[i].event_time_ms);
    least_story = std::min(least_story, rows[i].story_id);
    most_story = std::max(most_story, rows[i].story_id);
    if (i > 0 && rows[i].offset <= rows[i - 1].offset) log_order = false;
  }
  if (!log_order) {
    for (size_t i = 0; i < n; ++i) order[i] = static_cast<uint32_t>(i);
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      return std::tie(rows[a].story_id, rows[a].event_time_ms, rows[a].offset) <
             std::tie(rows[b].story_id, rows[b].event_time_ms, rows[b].offset);
    });
    return order;
  }
  struct Item {
    uint64_t story, time;  // less their least values
    uint32_t row;
  };
  std::vector<Item> items(n), scratch(n);
  for (size_t i = 0; i < n; ++i)
    items[i] = Item{rows[i].story_id - least_story,
                    static_cast<uint64_t>(rows[i].event_time_ms) - static_cast<uint64_t>(least_time),
                    static_cast<uint32_t>(i)};
  constexpr int kDigitBits = 11;
  constexpr size_t kDigits = size_t{1} << kDigitBits;
  std::vector<uint32_t> count(kDigits);
  // One stable pass by the digit of `field` at `shift`; skipped when every row has the same digit.
  auto pass = [&](uint64_t Item::*field, int shift) {
    std::fill(count.begin(), count.end(), 0);
    for (const Item& it : items) ++count[(it.*field >> shift) & (kDigits - 1)];
    if (count[(items[0].*field >> shift) & (kDigits - 1)] == n) return;
    uint32_t sum = 0;
    for (uint32_t& c : count) sum += std::exchange(c, sum);
    for (const Item& it : items) scratch[count[(it.*field >> shift) & (kDigits - 1)]++] = it;
    items.swap(scratch);
  };
  const uint64_t time_span = static_cast<uint64_t>(most_time) - static_cast<uint64_t>(least_time);
  for (int shift = 0; shift < 64 && (time_span >> shift) != 0; shift += kDigitBits) pass(&Item::time, shift);
  for (int shift = 0; shift < 64 && ((most_story - least_story) >> shift) != 0; shift += kDigitBits)
    pass(&Item::story, shift);
  for (size_t i = 0; i < n; ++i) order[i] = items[i].row;
  return order;
}

}  // namespace

Result<std::unique_ptr<RegionLake>> RegionLake::Open(FileSystem* fs, std::string root, Region region,
                                                     LakeSinkOptions options) {
  for (LakeTableId id : kSinkTables) {
    auto table = LoadOrCreateLakeTable(fs, TableLocation(root, region, id), id);
    if (!table.ok()) return table.status();
  }
  return std::unique_ptr<RegionLake>(new RegionLake(fs, std::move(root), region, options));
}

PartitionSink::PartitionSink(RegionLake* lake, uint32_t partition, Clock* clock)
    : lake_(lake), partition_(partition), clock_(clock), opened_ms_(clock->NowMs()) {
  // Names files apart from another owner's (a zombie) flushing at the same offset.
  token_ = RandomHex(4);
}
PartitionSink::~PartitionSink() = default;

int64_t PartitionSink::range_age_ms() const { return std::max<int64_t>(0, clock_->NowMs() - opened_ms_); }

std::string PartitionSink::DataDir(LakeTableId table) const {
  char name[24];
  std::snprintf(name, sizeof name, "sink-p%03u", partition_);
  return JoinPath(JoinPath(TableLocation(lake_->root_, lake_->region_, table), "data"), name);
}

std::string PartitionSink::CommitId(uint64_t from, uint64_t to) const {
  return std::string(RegionName(lake_->region_)) + "/p" + std::to_string(partition_) + "/" + std::to_string(from) +
         "-" + std::to_string(to);
}

std::string PartitionSink::GuardKey() const {
  char key[48];
  std::snprintf(key, sizeof key, "watershed.sink.p%03u.next-offset", partition_);
  return key;
}

bool PartitionSink::Accept(Region r) {
  if (r == lake_->region_) return true;
  ++refused_rows_;
  return false;
}

PartitionSink::GroupKey PartitionSink::KeyOf(const Event& e) {
  return {iceberg::HourFromMicros(e.event_time.value * 1000), StoryBucket(e.story_id.value)};
}

PartitionSink::EventRow PartitionSink::RowOf(const Event& e, AppendTimeMs append_time, LogOffset offset) {
  return EventRow{e.event_id,         e.type,     e.story_id.value, e.author_id.value, e.viewer_id.value,
                  e.event_time.value, e.watch_ms, e.region,         append_time.value, offset.value};
}

void PartitionSink::Add(EventBuffer& buffer, const GroupKey& key, const EventRow& row) {
  auto& [cached_key, group] = buffer.recent[EventBuffer::Slot(key)];
  if (group == nullptr || cached_key != key) {
    auto [it, fresh] = buffer.groups.try_emplace(key);
    if (fresh) {
      it->second.from = row.offset;
      it->second.opened_ms = clock_->NowMs();
    }
    cached_key = key;
    group = &it->second;
  }
  group->rows.push_back(row);
  ++buffer.rows;
}

void PartitionSink::AddRaw(const Event& e, AppendTimeMs append_time, LogOffset offset) {
  if (offset.value >= replay_until_ && Accept(e.region)) Add(raw_, KeyOf(e), RowOf(e, append_time, offset));
}

void PartitionSink::AddEvent(const Event& e, AppendTimeMs append_time, LogOffset offset) {
  if (lake_->options_.carry_buffers) distinct_.Set(offset.value);
  if (offset.value >= replay_until_ && Accept(e.region)) Add(events_, KeyOf(e), RowOf(e, append_time, offset));
}

void PartitionSink::AddRecord(const Event& e, AppendTimeMs append_time, LogOffset offset, bool distinct) {
  if (distinct && lake_->options_.carry_buffers) distinct_.Set(offset.value);
  if (offset.value < replay_until_) return;
  if (e.region != lake_->region_) {
    refused_rows_ += distinct ? 2 : 1;
    return;
  }
  const GroupKey key = KeyOf(e);
  const EventRow row = RowOf(e, append_time, offset);
  Add(raw_, key, row);
  if (distinct) Add(events_, key, row);
}

void PartitionSink::Refill(const Event& e, AppendTimeMs append_time, LogOffset offset) {
  if (offset.value < refill_from_ || offset.value < replay_until_ || e.region != lake_->region_) return;
  const GroupKey key = KeyOf(e);
  auto add = [&](EventBuffer& buffer) {
    auto it = buffer.groups.find(key);
    if (it == buffer.groups.end() || offset.value < it->second.from) return;
    // Restored marks first, then rows: the buffer holds what it held at the checkpoint.
    it->second.rows.push_back(RowOf(e, append_time, offset));
    ++buffer.rows;
  };
  add(raw_);
  if (distinct_.Get(offset.value)) add(events_);
}

uint64_t PartitionSink::oldest_buffered_offset(uint64_t none) const {
  uint64_t oldest = none;
  for (const EventBuffer* b : {&raw_, &events_})
    for (const auto& [key, g] : b->groups) oldest = std::min(oldest, g.from);
  return oldest;
}

void PartitionSink::AddMinute(const StoryMinuteRow& row, LogOffset batch_end) {
  if (batch_end.value < replay_until_ || !Accept(row.region)) return;
  const std::pair<int32_t, int32_t> key{iceberg::DayFromMicros(row.minute_ms * 1000), StoryBucket(row.story_id)};
  minutes_.groups[key].push_back(row);
  ++minutes_.rows;
}

Status PartitionSink::WriteFile(LakeTableId table, std::pair<int32_t, int32_t> key, std::vector<ColumnValues>&& columns,
                                size_t rows) {
  char name[96];
  std::snprintf(name, sizeof name, "%020llu-%s-%06u-%d-%d.parquet", static_cast<unsigned long long>(upto_),
                token_.c_str(), file_seq_, key.first, key.second);
  const std::string path = JoinPath(DataDir(table), name);
  ParquetWriterOptions options;
  options.zstd_level = SpecOf(table).zstd_level;
  options.row_group_bytes = lake_->options_.row_group_bytes;
  // WriteDataFile, handing the columns over to the writer (no copy).
  RETURN_IF_ERROR(CreateDirsDurably(lake_->fs_, DirName(path)));
  ASSIGN_OR_RETURN(auto writer, ParquetWriter::Create(lake_->fs_, path, SchemaOf(table), options));
  RETURN_IF_ERROR(writer->Write(std::move(columns), rows));
  ASSIGN_OR_RETURN(uint64_t size, writer->Finish());
  ++file_seq_;
  written_[table].push_back(
      DescribeParquetFile(path, static_cast<int64_t>(size), writer->info(), {key.first, key.second}));
  CrashPoint("lake.after_data_file");
  return Status::Ok();
}

Status PartitionSink::FlushEvents(LakeTableId table, EventBuffer& buffer) {
  while (!buffer.groups.empty()) RETURN_IF_ERROR(FlushGroup(table, buffer, buffer.groups.begin()));
  return Status::Ok();
}

Status PartitionSink::CutGroups(LakeTableId table, EventBuffer& buffer) {
  const LakeSinkOptions& o = lake_->options_;
  const int64_t now = clock_->NowMs();
  const bool commit_due = o.commit_interval_ms > 0 && range_age_ms() >= o.commit_interval_ms;
  for (auto it = buffer.groups.begin(); it != buffer.groups.end();) {
    const EventGroup& g = it->second;
    const bool full = g.rows.size() * kEventRowBytes >= o.file_bytes;
    const bool old = o.file_max_age_ms > 0 && now - g.opened_ms >= o.file_max_age_ms && !commit_due;
    auto next = std::next(it);
    if (full || old) RETURN_IF_ERROR(FlushGroup(table, buffer, it));
    it = next;
  }
  return Status::Ok();
}

Status PartitionSink::FlushGroup(LakeTableId table, EventBuffer& buffer, std::map<GroupKey, EventGroup>::iterator it) {
  const std::vector<EventRow>& rows = it->second.rows;
  EventColumns columns;
  columns.Reserve(rows.size());
  for (uint32_t i : SortedOrder(rows)) {
    const EventRow& r = rows[i];
    columns.Add(r.event_id, r.type, r.story_id, r.author_id, r.viewer_id, r.region, r.event_time_ms, r.watch_ms,
                r.append_time_ms, r.offset);
  }
  RETURN_IF_ERROR(WriteFile(table, it->first, columns.Take(), rows.size()));
  buffer.rows -= rows.size();
  if (auto& cached = buffer.recent[EventBuffer::Slot(it->first)]; cached.second == &it->second) cached = {};
  buffer.groups.erase(it);
  return Status::Ok();
}

Status PartitionSink::FlushMinutes() {
  while (!minutes_.groups.empty()) {
    auto it = minutes_.groups.begin();
    std::vector<StoryMinuteRow>& rows = it->second;
    std::sort(rows.begin(), rows.end(), [](const StoryMinuteRow& a, const StoryMinuteRow& b) {
      return std::tie(a.story_id, a.minute_ms) < std::tie(b.story_id, b.minute_ms);
    });
    RETURN_IF_ERROR(WriteFile(LakeTableId::kStoryMinute, it->first, StoryMinuteColumns(rows), rows.size()));
    minutes_.rows -= rows.size();
    minutes_.groups.erase(it);
  }
  return Status::Ok();
}

Status PartitionSink::MaybeFlush(uint64_t upto) {
  upto_ = upto;
  // A file written now is named by `upto`: never one at or below a
  // checkpoint's offset that the checkpoint does not list (Recover keeps those).
  if (upto <= last_prepare_to_) return Status::Ok();
  const size_t limit = lake_->options_.buffer_rows;
  if (raw_.rows >= limit) RETURN_IF_ERROR(FlushEvents(LakeTableId::kRawEvents, raw_));
  if (events_.rows >= limit) RETURN_IF_ERROR(FlushEvents(LakeTableId::kEvents, events_));
  if (minutes_.rows >= limit) RETURN_IF_ERROR(FlushMinutes());
  RETURN_IF_ERROR(CutGroups(LakeTableId::kRawEvents, raw_));
  RETURN_IF_ERROR(CutGroups(LakeTableId::kEvents, events_));
  return Status::Ok();
}

bool PartitionSink::has_uncommitted_files() const {
  return std::any_of(written_.begin(), written_.end(), [](const auto& t) { return !t.second.empty(); });
}

bool PartitionSink::has_uncommitted() const {
  return has_uncommitted_files() || raw_.rows > 0 || events_.rows > 0 || minutes_.rows > 0;
}

Result<std::string> PartitionSink::Prepare(uint64_t to, bool commit) {
  if (prepared_) return Status::FailedPrecondition("lake sink: the previous commit is still pending");
  upto_ = to;
  last_prepare_to_ = std::max(last_prepare_to_, to);
  const bool carry = lake_->options_.carry_buffers && !commit;
  if (!carry) {
    RETURN_IF_ERROR(FlushEvents(LakeTableId::kRawEvents, raw_));
    RETURN_IF_ERROR(FlushEvents(LakeTableId::kEvents, events_));
    RETURN_IF_ERROR(FlushMinutes());
  }
  if (lake_->options_.carry_buffers) {
    uint64_t oldest_event = to;
    for (const auto& [key, g] : events_.groups) oldest_event = std::min(oldest_event, g.from);
    distinct_.TrimBelow(oldest_event);
  }
  if (to <= from_) return std::string();  // still replaying what was committed
  Prepared p;
  p.commit = commit;
  p.from = from_;
  p.to = to;
  p.commit_id = CommitId(from_, to);
  p.opened_ms = opened_ms_;
  for (LakeTableId id : kSinkTables)
    if (auto it = written_.find(id); it != written_.end() && !it->second.empty()) p.tables.emplace_back(id, it->second);
  if (carry) p.carried = Carry(to);
  if (p.tables.empty() && p.carried.empty()) {  // nothing in the range: it ends here
    from_ = to;
    opened_ms_ = clock_->NowMs();
    file_seq_ = 0;
    return std::string();
  }
  ASSIGN_OR_RETURN(std::string bytes, Serialize(p));
  if (commit) {
    prepared_ = std::move(p);
    written_.clear();
    from_ = to;
    opened_ms_ = clock_->NowMs();
    file_seq_ = 0;
  }
  CrashPoint("lake.after_prepare");
  return bytes;
}

CarriedBuffers PartitionSink::Carry(uint64_t to) const {
  CarriedBuffers c;
  c.bits_from = to;
  for (LakeTableId id : {LakeTableId::kRawEvents, LakeTableId::kEvents}) {
    for (const auto& [key, g] : (id == LakeTableId::kRawEvents ? raw_ : events_).groups) {
      c.groups.push_back(CarriedGroup{id, key.first, key.second, g.from, g.opened_ms});
      if (id == LakeTableId::kEvents) c.bits_from = std::min(c.bits_from, g.from);
    }
  }
  c.bits_to = to;
  c.runs = distinct_.Runs(c.bits_from, to);
  for (const auto& [key, rows] : minutes_.groups) c.minutes.insert(c.minutes.end(), rows.begin(), rows.end());
  return c;
}

Status PartitionSink::Uncarry(const CarriedBuffers& c) {
  RETURN_IF_ERROR(distinct_.SetRuns(c.bits_from, c.bits_to, c.runs));
  for (const CarriedGroup& g : c.groups) {
    EventBuffer& buffer = g.table == LakeTableId::kRawEvents ? raw_ : events_;
    if (!buffer.groups.try_emplace({g.time_part, g.bucket}, EventGroup{{}, g.from, g.opened_ms}).second)
      return Status::Corruption("lake sink state repeats a buffered partition");
  }
  for (const StoryMinuteRow& row : c.minutes) {
    minutes_.groups[{iceberg::DayFromMicros(row.minute_ms * 1000), StoryBucket(row.story_id)}].push_back(row);
    ++minutes_.rows;
  }
  refill_from_ = c.RefillFrom(refill_from_);
  return Status::Ok();
}

void PartitionSink::Abandon() {
  if (!prepared_) return;
  // Its files join the next prepared commit, which starts where this one did.
  for (auto& [id, files] : prepared_->tables) {
    auto& mine = written_[id];
    mine.insert(mine.begin(), files.begin(), files.end());
  }
  from_ = prepared_->from;
  opened_ms_ = prepared_->opened_ms;
  prepared_.reset();
}

Status PartitionSink::Commit() {
  if (!prepared_) return Status::Ok();
  RETURN_IF_ERROR(CommitTables(*prepared_));
  prepared_.reset();
  return Status::Ok();
}

Status PartitionSink::CommitTables(const Prepared& p) {
  const RangeGuard guard{GuardKey(), p.from, p.to};
  for (const auto& [id, files] : p.tables) {
    // A fresh view: the other partitions commit to the same table.
    ASSIGN_OR_RETURN(IcebergTable table,
                     IcebergTable::Load(lake_->fs_, TableLocation(lake_->root_, lake_->region_, id)));
    ASSIGN_OR_RETURN(bool applied, AppendFiles(lake_->fs_, &table, files, p.commit_id, guard));
    if (applied) {
      for (const DataFileInfo& f : files) committed_rows_ += static_cast<uint64_t>(f.record_count);
    } else if (!HasCommitId(table.metadata(), p.commit_id)) {
      // Not a replay: another owner committed this range (a zombie, or one
      // restored from a later checkpoint); these files repeat its rows.
      RETURN_IF_ERROR(RemoveUnreferenced(id, files));
    }
  }
  return Status::Ok();
}

Status PartitionSink::RemoveUnreferenced(LakeTableId id, const std::vector<DataFileInfo>& files) {
  ASSIGN_OR_RETURN(IcebergTable table, IcebergTable::Load(lake_->fs_, TableLocation(lake_->root_, lake_->region_, id)));
  ASSIGN_OR_RETURN(std::set<std::string> referenced, ListReferencedFiles(lake_->fs_, table.metadata()));
  for (const DataFileInfo& f : files)
    if (!referenced.count(f.path)) RETURN_IF_ERROR(RemoveDataFile(lake_->fs_, f.path));
  return Status::Ok();
}

void PartitionSink::Saved() {
  saved_files_.clear();
  for (const auto& [id, files] : written_)
    for (const DataFileInfo& f : files) saved_files_.insert(f.path);
  if (prepared_)
    for (const auto& [id, files] : prepared_->tables)
      for (const DataFileInfo& f : files) saved_files_.insert(f.path);
}

void PartitionSink::DiscardUnsaved() {
  auto discard = [&](const std::vector<DataFileInfo>& files) {
    for (const DataFileInfo& f : files)
      if (!saved_files_.count(f.path)) RemoveLakeFile(lake_->fs_, f.path).IgnoreError();
  };
  for (const auto& [id, files] : written_) discard(files);
  if (prepared_)
    for (const auto& [id, files] : prepared_->tables) discard(files);
  written_.clear();
  prepared_.reset();
  saved_files_.clear();
  raw_ = {};
  events_ = {};
  minutes_ = {};
  distinct_.Clear(0);
}

Status PartitionSink::Recover(std::string_view state, uint64_t next_offset) {
  raw_ = {};
  events_ = {};
  minutes_ = {};
  written_.clear();
  prepared_.reset();
  saved_files_.clear();
  replay_until_ = 0;
  refill_from_ = next_offset;
  last_prepare_to_ = next_offset;
  distinct_.Clear(next_offset);
  opened_ms_ = clock_->NowMs();
  std::optional<Prepared> pending;
  if (!state.empty()) {
    ASSIGN_OR_RETURN(Prepared p, Parse(state));
    if (p.to != next_offset)
      return Status::Corruption("lake commit " + p.commit_id + " disagrees with its checkpoint's offset " +
                                std::to_string(next_offset));
    if (p.commit && !p.carried.empty()) return Status::Corruption("lake commit " + p.commit_id + " carries buffers");
    // A prepared commit the tables refuse (another owner committed part of
    // its range, or removed one of its files) stays in the range like
    // uncommitted files: the partition runs on, its live metrics too, and
    // its lake commits are refused, visibly (see below and docs/lake.md).
    bool landed = false;
    if (p.commit) {
      Status s = CommitTables(p);
      if (!s.ok() && s.code() != StatusCode::kFailedPrecondition) return s;
      landed = s.ok();
    }
    if (!landed) {
      for (const auto& [id, files] : p.tables)
        for (const DataFileInfo& f : files) saved_files_.insert(f.path);
      pending = std::move(p);
    }
  }
  uint64_t covered_by_all = UINT64_MAX;  // the least a table of the pending files says was committed
  // Orphans: files written after the checkpoint (named by an offset past
  // it: a crash came before the next checkpoint). Never at or below what the
  // table says this partition committed, whatever the checkpoint.
  for (LakeTableId id : kSinkTables) {
    ASSIGN_OR_RETURN(IcebergTable table,
                     IcebergTable::Load(lake_->fs_, TableLocation(lake_->root_, lake_->region_, id)));
    ASSIGN_OR_RETURN(const uint64_t committed_end, CommittedRangeEnd(table.metadata(), GuardKey()));
    const uint64_t floor = std::max(next_offset, committed_end);
    replay_until_ = std::max(replay_until_, committed_end);
    if (pending &&
        (std::any_of(pending->tables.begin(), pending->tables.end(), [&](const auto& t) { return t.first == id; }) ||
         std::any_of(pending->carried.groups.begin(), pending->carried.groups.end(),
                     [&](const CarriedGroup& g) { return g.table == id; }) ||
         (id == LakeTableId::kStoryMinute && !pending->carried.minutes.empty())))
      covered_by_all = std::min(covered_by_all, committed_end);
    const std::string dir = DataDir(id);
    if (!lake_->fs_->FileExists(dir)) continue;
    ASSIGN_OR_RETURN(std::vector<std::string> names, lake_->fs_->ListDir(dir));
    for (const std::string& name : names) {
      std::optional<uint64_t> upto = UptoOf(name);
      if (upto && *upto > floor) RETURN_IF_ERROR(RemoveDataFile(lake_->fs_, JoinPath(dir, name)));
    }
  }
  from_ = std::max(next_offset, replay_until_);
  file_seq_ = 0;
  // Files and buffers the checkpoint held uncommitted stay in the range, unless the
  // tables already cover all of it (another owner committed up to the
  // checkpoint or past it): then they repeat its rows and go, unless a
  // snapshot lists them. Covered in part, they stay: their commit will be
  // refused as an overlap — a stalled partition, never a lost or doubled row.
  if (!pending) return Status::Ok();
  if (covered_by_all >= next_offset) {
    for (const auto& [id, files] : pending->tables) RETURN_IF_ERROR(RemoveUnreferenced(id, files));
    saved_files_.clear();
    return Status::Ok();
  }
  for (auto& [id, files] : pending->tables) written_[id] = std::move(files);
  from_ = pending->from;
  // The range goes on: its age too (a state older than version 3 has none).
  if (pending->opened_ms != 0) opened_ms_ = pending->opened_ms;
  // Its buffers too: the caller refills them from the log (refill_from).
  return Uncarry(pending->carried);
}

Result<std::string> PartitionSink::Serialize(const Prepared& p) {
  std::string out(4 + 4 + 1 + 8 + 8 + 8 + 4, '\0');
  char* q = out.data();
  q = PutFixed32(q, kPreparedMagic);
  q = PutFixed32(q, p.carried.empty() ? 3 : kPreparedVersion);
  *q++ = p.commit ? 1 : 0;
  q = PutFixed64(q, p.from);
  q = PutFixed64(q, p.to);
  q = PutFixed64(q, static_cast<uint64_t>(p.opened_ms));
  PutFixed32(q, static_cast<uint32_t>(p.tables.size()));
  for (const auto& [id, files] : p.tables) {
    // The files as a manifest: the encoding the commit writes anyway.
    ASSIGN_OR_RETURN(std::string manifest, WriteManifest(NewLakeTable(id, ""), 0, files));
    char head[5];
    head[0] = static_cast<char>(id);
    PutFixed32(head + 1, static_cast<uint32_t>(manifest.size()));
    out.append(head, 5);
    out += manifest;
  }
  if (!p.carried.empty()) EncodeCarried(p.carried, &out);
  return out;
}

Result<PartitionSink::Prepared> PartitionSink::Parse(std::string_view in) {
  auto bad = [](const std::string& what) { return Status::Corruption("prepared lake commit: " + what); };
  if (in.size() < 29 || GetFixed32(in.data()) != kPreparedMagic) return bad("not one");
  const uint32_t version = GetFixed32(in.data() + 4);
  if (version < 2 || version > kPreparedVersion) return bad("unknown version");
  const size_t head = version == 2 ? 29 : 37;
  if (in.size() < head) return bad("truncated");
  if (static_cast<uint8_t>(in[8]) > 1) return bad("bad commit flag");
  Prepared p;
  p.commit = in[8] == 1;
  p.from = GetFixed64(in.data() + 9);
  p.to = GetFixed64(in.data() + 17);
  p.commit_id = CommitId(p.from, p.to);
  if (version >= 3) p.opened_ms = static_cast<int64_t>(GetFixed64(in.data() + 25));
  uint32_t n = GetFixed32(in.data() + head - 4);
  in.remove_prefix(head);
  for (uint32_t i = 0; i < n; ++i) {
    if (in.size() < 5) return bad("truncated");
    const auto id = static_cast<uint8_t>(in[0]);
    const uint32_t len = GetFixed32(in.data() + 1);
    in.remove_prefix(5);
    if (id >= kLakeTableCount || len > in.size()) return bad("bad table entry");
    ASSIGN_OR_RETURN(std::vector<DataFileInfo> files, ReadManifest(in.substr(0, len)));
    p.tables.emplace_back(static_cast<LakeTableId>(id), std::move(files));
    in.remove_prefix(len);
  }
  if (version >= 4) RETURN_IF_ERROR(DecodeCarried(&in, &p.carried));
  if (!in.empty()) return bad("trailing bytes");
  return p;
}

}  // namespace watershed::lake
