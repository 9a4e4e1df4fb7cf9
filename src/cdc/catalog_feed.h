#pragma once
// CatalogFeed: a PostgreSQL table of stories (PgLogicalSource) into the story
// catalogue and into the lake's raw zone, each change exactly once.
//
// Every transaction of the source table lands as rows of the Iceberg table
// `<lake root>/cdc_<table>` (one row per change: op, commit_lsn,
// change_index, commit_time, xid, relation, before and after as JSON objects
// of column name -> PostgreSQL text value or null). Its mapped fields are
// applied to the catalogue under source "pg:<schema.table>" at source
// position (commit_lsn, change_index). A change that cannot be mapped (NULL
// or bad story_id, a value that does not parse, a record ValidateStory
// refuses, a new story without author, a delete of an unknown story, a
// truncate) is written with its reason to `<lake root>/cdc_<table>_dead_letter`
// instead, and the stream goes on.
//
// Step() polls once and, for what it got, in this order:
//   streamed transactions: (1) data files of the dead letters and the rows,
//     (2) append to the dead-letter table, (3) append to the cdc table, both
//     guarded by the range property watershed.cdc.<slot>.end-lsn (lake
//     RangeGuard over end LSNs: a transaction at or below the committed end
//     is not written again), (4) the catalogue's Apply (source positions
//     skip what was applied), (5) ConfirmFlushed(last end_lsn).
//   the initial snapshot (several batches): data files per batch; at the
//     last batch (1) the catalogue's Apply, (2) the state file records the
//     prepared lake commit (its files), (3) one append per table with range
//     [committed end, consistent point), (4) the state file says "stored",
//     (5) ConfirmFlushed(consistent point).
// A crash (or an error) at any step loses nothing and doubles nothing: the
// slot redelivers what was not confirmed, the guards and positions skip
// what was stored; docs/cdc.md has the argument. At Start, a prepared
// snapshot commit in the state file is finished; an existing slot whose
// snapshot the state file does not call stored is dropped and a new
// snapshot taken.
//
// Not thread-safe: one thread calls Start/Step/Stop; the counters may be read
// from any thread.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/story_catalog.h"
#include "cdc/pg_source.h"
#include "core/file_system.h"
#include "core/status.h"
#include "lake/iceberg_manifest.h"
#include "lake/parquet.h"

namespace watershed::cdc {

// Source column names of the catalogue's fields. story_id must be mapped;
// an empty name leaves that field unmapped (never written by the feed).
struct CatalogColumnMapping {
  std::string story_id = "story_id";
  std::string author_id = "author_id";
  std::string created_at = "created_at";
  std::string title = "title";
  std::string tags = "tags";
  std::string language = "language";
  std::string is_original = "is_original";
  std::string deleted = "deleted";
};

// Parses "field=column,field=column" (fields as in CatalogColumnMapping;
// unnamed fields keep their default). kInvalidArgument names the bad entry.
Result<CatalogColumnMapping> ParseColumnMapping(std::string_view text);

struct CatalogFeedOptions {
  std::string conninfo;
  std::string slot = "watershed_stories";
  std::string publication = "watershed_stories";
  std::string table = "public.stories";  // "schema.table"
  CatalogColumnMapping columns;
  // Where the state file <state_dir>/<slot>.state lives: next to the
  // catalogue (<catalog dir>/cdc), so both move together.
  std::string state_dir;
  size_t snapshot_batch_rows = 10'000;
  // Tests only: called at each named point of Step (see catalog_feed.cc,
  // "snapshot.after_catalog_apply", "snapshot.after_prepare",
  // "snapshot.after_lake_commit", "stream.after_dead_letter_commit",
  // "stream.after_lake_commit", "stream.after_catalog_apply"); an error
  // ends the Step there, like a crash (nothing after it happens).
  std::function<Status(std::string_view point)> test_hook;
};

// The Iceberg schemas of the feed's tables: op STRING(1), commit_lsn
// LONG(2), change_index LONG(3), commit_time TIMESTAMPTZ(4), xid LONG(5),
// relation STRING(6), before STRING(7, optional), after STRING(8,
// optional); the dead-letter table adds reason STRING(9).
const std::vector<lake::ColumnSpec>& CdcTableSchema();
const std::vector<lake::ColumnSpec>& CdcDeadLetterSchema();
// "cdc_stories" for "public.stories" (the part after the last dot).
std::string CdcTableName(std::string_view table);

struct CatalogFeedCounters {
  std::atomic<uint64_t> transactions{0};  // stored and confirmed
  std::atomic<uint64_t> rows_landed{0};   // rows committed to the cdc table
  std::atomic<uint64_t> rows_applied{0};  // catalogue changes applied
  std::atomic<uint64_t> rows_dead_lettered{0};
  std::atomic<uint64_t> lag_bytes{0};  // PgLogicalSource::lag().bytes() after the last Step
};

class CatalogFeed {
 public:
  // Validates the options, finishes a prepared snapshot commit, opens the
  // tables (creating them) and the source (dropping a slot whose snapshot is
  // not stored), and checks the mapped columns against the table.
  // kFailedPrecondition when a mapped column is missing.
  static Result<std::unique_ptr<CatalogFeed>> Start(CatalogFeedOptions options, catalog::StoryCatalog* catalog,
                                                    FileSystem* fs, std::string lake_root);
  // Without Stop: closes the connections without confirming (a crash).
  ~CatalogFeed();

  // Polls up to `timeout`, stores what came and confirms it. After an error
  // the feed is broken (every later call returns it): destroy it and Start
  // a new one, which resumes from the slot.
  Status Step(std::chrono::milliseconds timeout);
  // Closes the source cleanly (the slot is free at once).
  Status Stop();

  const CatalogFeedCounters& counters() const { return counters_; }
  uint64_t lag() const { return counters_.lag_bytes.load(); }
  const std::string& source_name() const { return source_name_; }  // "pg:<schema.table>"
  const std::string& table_location() const { return table_location_; }
  const std::string& dead_letter_location() const { return dead_letter_location_; }

 private:
  struct Pending;
  CatalogFeed(CatalogFeedOptions options, catalog::StoryCatalog* catalog, FileSystem* fs, std::string lake_root);
  Status Init();
  Status CheckColumns(const Relation& relation) const;
  Status Hook(std::string_view point);
  Status HandleSnapshotBatch(Transaction batch);
  Status HandleStream(std::vector<Transaction> txns);
  // Appends the rows of `t` (cdc table) and its dead letters (when
  // `dead_letters`), and its catalogue changes not yet applied, to `p`.
  // `current` overlays the catalogue with the changes made earlier in `p`.
  Status Map(const Transaction& t, bool rows, bool dead_letters, Pending* p);
  Result<lake::DataFileInfo> WriteFile(bool dead_letter, const std::vector<lake::ColumnValues>& columns, size_t rows,
                                       uint64_t to);
  Status WriteState(int phase, uint64_t to, const std::vector<lake::DataFileInfo>& rows,
                    const std::vector<lake::DataFileInfo>& dead);
  Status FinishPreparedSnapshot();
  Status Commit(bool dead_letter, const std::vector<lake::DataFileInfo>& files, uint64_t from, uint64_t to);
  std::string StatePath() const;
  std::string GuardKey() const;
  Status Fail(Status s);

  CatalogFeedOptions options_;
  catalog::StoryCatalog* catalog_;
  FileSystem* fs_;
  std::string lake_root_;
  std::string source_name_, table_location_, dead_letter_location_;
  std::string token_;  // in the names of this feed's data files
  uint32_t file_seq_ = 0;
  std::unique_ptr<PgLogicalSource> source_;
  const Relation* checked_ = nullptr;  // the relation definition whose columns were checked
  // The initial snapshot being received.
  std::unique_ptr<Pending> snapshot_;
  std::vector<lake::DataFileInfo> snapshot_rows_, snapshot_dead_;
  CatalogFeedCounters counters_;
  Status broken_;
};

// PostgreSQL text forms (output of a server with DateStyle ISO, TimeZone
// UTC), parsed strictly; anything else is kInvalidArgument.
// bigint: optional '-', 1-19 digits, in range.
Result<int64_t> ParsePgInt64(std::string_view text);
// boolean: "t" or "f".
Result<bool> ParsePgBool(std::string_view text);
// timestamptz: "YYYY-MM-DD HH:MM:SS[.f{1,6}]+HH[:MM[:SS]]" (or '-'); years
// 0001-9999 AD. Returns microseconds since the Unix epoch, UTC.
Result<int64_t> ParsePgTimestamptz(std::string_view text);
// A one-dimensional array literal, e.g. {a,b,"c d","e\"f",NULL}: elements
// unquoted (surrounding white space dropped, backslash escapes) or
// double-quoted; unquoted NULL (any case) is a null element. "{}" is
// empty. Multi-dimensional arrays and dimension decorations are refused.
Result<std::vector<std::optional<std::string>>> ParsePgTextArray(std::string_view text);

}  // namespace watershed::cdc
