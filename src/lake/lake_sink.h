#pragma once
// The lake sink: a processor partition's rows, exactly once, into its
// region's tables (<lake root>/<region>/raw_events, events, story_minute).
//
// Rows arrive as the processor makes them and are buffered per Iceberg
// partition (hour or day, bucket); a full buffer is written out as data
// files at once ("continuously"), each named by the log offset its rows end
// before. Nothing is visible to readers before the commit, which is tied to
// the processor's checkpoints in two phases:
//
//   1. Prepare(to, commit): writes what is still buffered (without `commit`
//      and with carry_buffers, nothing: see "Buffers across checkpoints"
//      below). With `commit`, it
//      returns the prepared commit — its id "<region>/p<N>/<from>-<to>" (the
//      log range it covers) and, per table, a manifest of its data files —
//      as bytes the caller puts into the checkpoint of offset `to`; without,
//      the same bytes list the files written so far as still uncommitted
//      (the range goes on: checkpoints are frequent, commits need not be —
//      each one is a snapshot per table).
//   2. the caller saves that checkpoint durably;
//   3. Commit(): one append snapshot per table, tagged with the commit id and
//      guarded by the table property watershed.sink.p<NNN>.next-offset
//      (lake::RangeGuard), so a replay is recognised and an overlap refused.
//
// Recovery (Recover, when a partition is assigned, then Refill): the checkpoint's prepared
// commit is committed (a no-op when it had landed: the snapshot summaries
// and the guard say so) or its uncommitted files taken back into the range,
// and the partition's data files written after that checkpoint — named by
// an offset past the checkpoint's — are deleted: they are the orphans of a
// crash before the next checkpoint, whose rows the replay writes again.
//
// A crash at any step therefore leaves each row exactly once in the tables
// and no data file unreferenced (tools/crash_test.sh, crash points
// "lake.after_data_file", "lake.after_prepare", "lake.after_checkpoint" and
// "iceberg.append.after_*"). Not thread-safe: the partition's worker owns it.
//
// Residency: the sink of a region refuses rows of another region (they are
// counted in refused_rows() and not written).
//
// Buffers across checkpoints (LakeSinkOptions::carry_buffers). Without it,
// every Prepare writes out every buffer, so no file holds more than one
// checkpoint interval (thousands of ~8 KB files). With it, a checkpoint that
// does not commit writes nothing: files are cut by size (file_bytes of
// uncompressed rows in one Iceberg partition's buffer), by age (file_max_age_ms
// since the buffer's first row arrived), by the total cap (buffer_rows per
// table), and at a commit — every lake-commit-interval, Revoke and Stop —
// which still writes out everything, so a commit's range [from, to) keeps its
// meaning (every row of those records is in the committed files or earlier
// ones) and the guard, replay_until and zombie handling above are unchanged.
// Design:
//  * What the checkpoint records (sink_state.h, state version 4): per
//    buffered Iceberg partition of raw_events and events, the offset of its
//    first buffered row and when that row arrived; one bit per record for
//    the processor's dedup decision over [first events offset, checkpoint
//    offset), as alternating runs (duplicates are rare: a few runs per
//    re-sent batch); the closed minute rows themselves (few: one per story
//    and minute, and they depend on the processor's state, which a refill
//    does not rebuild).
//  * What is replayed: after Recover, refill_from() is the least first
//    offset (the checkpoint's offset when nothing is buffered); the caller
//    re-reads the log from there up to the checkpoint's offset and hands each
//    record to Refill, NOT to the processor (whose state is at the
//    checkpoint's offset). A record goes back into the buffer of its Iceberg
//    partition iff that buffer was carried and its first offset is at or
//    below the record's — a buffer is only ever written out whole, so it
//    holds exactly its partition's rows from its first offset on — and, for
//    events, iff its bit says distinct. Region refusal and replay_until apply
//    as when the rows first came. The buffers then hold the very rows they
//    held when the checkpoint was taken, so the files later cut from them are
//    the same whether or not the process stopped (by size; an age cut depends
//    on the wall clock, which only moves where files split, never which rows
//    are in the range).
//  * Retention: the log must keep refill_from() / oldest_buffered_offset():
//    the caller sets the log's retention floor at the lower of it and the
//    checkpoint's offset. A Kafka topic's time retention must exceed
//    lake-commit-interval (the oldest buffered row is at most that old).
//  * Crashes: files cut after the checkpoint are named by an offset past it
//    and deleted at Recover (orphans), as before; their rows are refilled or
//    replayed. Files cut at or before it are listed in it.
//  * Handover: the next owner Claims (fencing the old one) and restores the
//    latest checkpoint, refills and goes on; the zombie's unsaved files are
//    deleted by DiscardUnsaved, its buffers dropped, its saves and commits
//    refused. Two owners restored from one checkpoint rebuild the same
//    buffers; their commits cover ranges as before (one lands, the other is
//    recognised as covered or refused as an overlap).
//  * Memory: ~80 bytes per buffered row (EventRow), twice per distinct
//    record (raw_events and events), plus a bit per record of the buffered
//    span; bounded by buffer_rows per table.

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/event.h"
#include "core/file_system.h"
#include "lake/iceberg_manifest.h"
#include "lake/sink_state.h"
#include "lake/tables.h"

namespace watershed::lake {

struct LakeSinkOptions {
  // Rows buffered per table before all of its buffers are written out as
  // data files (the memory bound).
  size_t buffer_rows = 256 * 1024;
  uint64_t row_group_bytes = 64ull << 20;
  // Buffers survive checkpoints that do not commit (see above); off: every
  // checkpoint writes out every buffer (format 3 states only).
  bool carry_buffers = false;
  // One Iceberg partition's buffer is written out as a file once its rows
  // reach this many uncompressed bytes (lake-file-size)...
  uint64_t file_bytes = 128ull << 20;
  // ...or this long after its first row arrived (lake-file-max-age; 0: no
  // age cut). The serve command defaults it to lake-commit-interval.
  int64_t file_max_age_ms = 300'000;
  // The processor's lake-commit-interval (0: unknown). Once the range is
  // that old, its commit comes at the next checkpoint and writes every
  // buffer out: an age cut just before it would only split files.
  int64_t commit_interval_ms = 0;
};

// One region's lake root: creates the tables on first use.
class RegionLake {
 public:
  // Opens (creating when missing) raw_events, events and story_minute under
  // <root>/<region>/.
  static Result<std::unique_ptr<RegionLake>> Open(FileSystem* fs, std::string root, Region region,
                                                  LakeSinkOptions options = {});
  Region region() const { return region_; }
  const std::string& root() const { return root_; }

 private:
  friend class PartitionSink;
  RegionLake(FileSystem* fs, std::string root, Region region, LakeSinkOptions options)
      : fs_(fs), root_(std::move(root)), region_(region), options_(options) {}
  FileSystem* fs_;
  std::string root_;
  Region region_;
  LakeSinkOptions options_;
};

class PartitionSink {
 public:
  // `clock` dates the ranges (range_age_ms); the processor passes its own.
  PartitionSink(RegionLake* lake, uint32_t partition, Clock* clock = Clock::Real());
  ~PartitionSink();

  // Takes the checkpoint's sink state (empty: none): finishes its prepared
  // commit, or takes its uncommitted files back into the range (so does a
  // prepared commit the tables refuse: its later commits are refused too,
  // visibly); files another owner's commit covers entirely are deleted
  // unless a snapshot lists them. Removes the
  // partition's data files written past `next_offset` (the checkpoint's; 0
  // without one) or past the end of what the tables say this partition
  // committed, whichever is higher. kCorruption when a table's guard
  // property (watershed.sink.p<NNN>.next-offset) is not an offset.
  Status Recover(std::string_view state, uint64_t next_offset);

  // Every record read (raw_events) and the distinct ones (events).
  void AddRaw(const Event& e, AppendTimeMs append_time, LogOffset offset);
  void AddEvent(const Event& e, AppendTimeMs append_time, LogOffset offset);
  // AddRaw, then AddEvent when `distinct`: the same rows, the row built once.
  void AddRecord(const Event& e, AppendTimeMs append_time, LogOffset offset, bool distinct);
  // A 1-minute window the watermark closed (its values are final) while
  // processing the batch ending at `batch_end`.
  void AddMinute(const StoryMinuteRow& row, LogOffset batch_end);
  // Offsets below this were committed already by an earlier owner whose
  // checkpoint this one did not see (lost checkpoints, or a zombie's last
  // commit): rows of records below it are dropped, so the replay adds
  // nothing twice. The processor ends a batch exactly here, so that windows
  // closed below it are told apart from those closed at or after it.
  uint64_t replay_until() const { return replay_until_; }
  // Writes out as data files (still uncommitted) the tables whose buffers
  // reached options.buffer_rows, and the Iceberg partitions' buffers that
  // reached file_bytes or file_max_age_ms; `upto` is the offset the rows
  // added so far end before. On error the rows stay buffered and a later
  // call retries.
  Status MaybeFlush(uint64_t upto);

  // After Recover: the log must be re-read from here up to Recover's
  // `next_offset`, each record handed to Refill (the checkpoint's offset
  // when it carried no buffers).
  uint64_t refill_from() const { return refill_from_; }
  // One record of [refill_from(), next_offset), in log order: back into the
  // buffer it was in when the checkpoint was taken, if it was.
  void Refill(const Event& e, AppendTimeMs append_time, LogOffset offset);
  // The least offset whose rows are buffered (a carrying checkpoint needs
  // the log from there); `none` when nothing is buffered.
  uint64_t oldest_buffered_offset(uint64_t none) const;

  // Phase 1 (see above). REQUIRES: no prepared commit pending (Commit()
  // succeeded). Returns "" when the range has no rows.
  Result<std::string> Prepare(uint64_t to, bool commit = true);
  // Data files written and not yet in a prepared commit.
  bool has_uncommitted_files() const;
  // Those, or rows still buffered (which a commit writes out).
  bool has_uncommitted() const;
  // The checkpoint meant to hold Prepare's bytes was not saved: the files
  // of the prepared commit go back into the range being buffered (the next
  // Prepare covers them, from the same first offset).
  void Abandon();
  // The checkpoint holding Prepare's bytes is durable: the files it lists
  // are known to whoever restores it.
  void Saved();
  // This owner was fenced (another took the partition over, see
  // stream/checkpoint.h): deletes the data files written since the last
  // saved checkpoint — nobody else knows them — and forgets the rest.
  void DiscardUnsaved();
  // Phase 3, after the checkpoint holding Prepare's bytes is durable. No-op
  // without a pending commit; on error the commit stays pending (retry).
  Status Commit();
  bool commit_pending() const { return prepared_.has_value(); }

  // How long ago the range being buffered opened (wall clock, ≥ 0): at the
  // last commit, or when the partition was first assigned with nothing
  // uncommitted. Checkpoints carry it with the range's files, so it survives
  // restarts and handovers: the processor commits when it exceeds the commit
  // interval, however often the process restarts. Only the timing of commits
  // depends on it, never which rows they hold.
  int64_t range_age_ms() const;

  uint64_t refused_rows() const { return refused_rows_; }
  uint64_t committed_rows() const { return committed_rows_; }

 private:
  struct EventRow {
    EventId event_id;
    EventType type;
    uint64_t story_id, author_id, viewer_id;
    int64_t event_time_ms;
    uint32_t watch_ms;
    Region region;
    int64_t append_time_ms;
    uint64_t offset;
  };
  // Rows of one Iceberg partition (time part, bucket) of one table.
  struct EventGroup {
    std::vector<EventRow> rows;
    uint64_t from = 0;      // offset of its first row
    int64_t opened_ms = 0;  // when that row arrived
  };
  using GroupKey = std::pair<int32_t, int32_t>;
  struct EventBuffer {
    std::map<GroupKey, EventGroup> groups;
    size_t rows = 0;
    // Groups found lately, direct-mapped by key (a map node stays put until
    // erased): most rows skip the map's search.
    std::array<std::pair<GroupKey, EventGroup*>, 64> recent{};
    static size_t Slot(const GroupKey& k) { return static_cast<size_t>(k.first * 16 + k.second) & 63; }
  };
  struct MinuteBuffer {
    std::map<std::pair<int32_t, int32_t>, std::vector<StoryMinuteRow>> groups;
    size_t rows = 0;
  };
  struct Prepared {
    bool commit = true;  // false: the files of a range still open
    std::string commit_id;
    uint64_t from = 0, to = 0;
    int64_t opened_ms = 0;  // when the range opened (wall clock; 0: unknown, an older state)
    std::vector<std::pair<LakeTableId, std::vector<DataFileInfo>>> tables;
    CarriedBuffers carried;  // version 4; empty for commits
  };

  bool Accept(Region r);
  static GroupKey KeyOf(const Event& e);  // its Iceberg partition (hour, bucket)
  static EventRow RowOf(const Event& e, AppendTimeMs append_time, LogOffset offset);
  void Add(EventBuffer& buffer, const GroupKey& key, const EventRow& row);
  Status FlushEvents(LakeTableId table, EventBuffer& buffer);
  // Writes out one Iceberg partition's buffer and forgets it.
  Status FlushGroup(LakeTableId table, EventBuffer& buffer, std::map<GroupKey, EventGroup>::iterator it);
  // The size and age cuts (MaybeFlush).
  Status CutGroups(LakeTableId table, EventBuffer& buffer);
  // What a checkpoint at `to` needs to rebuild the buffers.
  CarriedBuffers Carry(uint64_t to) const;
  // Takes back the carried buffers' marks and minutes (Recover).
  Status Uncarry(const CarriedBuffers& c);
  Status FlushMinutes();
  // Writes one data file of `table` for partition values `key`.
  Status WriteFile(LakeTableId table, std::pair<int32_t, int32_t> key, std::vector<ColumnValues>&& columns,
                   size_t rows);
  std::string DataDir(LakeTableId table) const;
  std::string CommitId(uint64_t from, uint64_t to) const;
  std::string GuardKey() const;
  Result<std::string> Serialize(const Prepared& p);
  Result<Prepared> Parse(std::string_view bytes);
  Status CommitTables(const Prepared& p);
  // Deletes those of `files` that no snapshot of table `id` lists: their
  // rows are in the table through another owner's commit of the same range.
  Status RemoveUnreferenced(LakeTableId id, const std::vector<DataFileInfo>& files);

  RegionLake* lake_;
  uint32_t partition_;
  std::string token_;  // in the names of this sink's files
  uint64_t upto_ = 0;  // names the files written now
  uint64_t from_ = 0;  // first offset of the range being buffered
  Clock* clock_;
  int64_t opened_ms_ = 0;  // when that range opened (range_age_ms)
  uint64_t replay_until_ = 0;
  uint64_t refill_from_ = 0;
  uint64_t last_prepare_to_ = 0;  // no cut names a file at or below a checkpoint's offset
  DistinctBits distinct_;         // carry_buffers: per record since the oldest buffered events row
  uint32_t file_seq_ = 0;         // data files written in this range
  EventBuffer raw_, events_;
  MinuteBuffer minutes_;
  // Data files written in this range, per table (raw_events, events, story_minute).
  std::map<LakeTableId, std::vector<DataFileInfo>> written_;
  std::optional<Prepared> prepared_;
  std::set<std::string> saved_files_;                            // paths a saved checkpoint lists
  std::map<LakeTableId, std::unique_ptr<IcebergTable>> tables_;  // loaded lazily
  uint64_t refused_rows_ = 0;
  uint64_t committed_rows_ = 0;
};

}  // namespace watershed::lake
