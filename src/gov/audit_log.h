#pragma once
// The audit trail of lake queries (docs/governance.md "Audit"): every query and refusal, appended BEFORE its
// answer is sent — fail closed: when the append fails, the caller gets an error, not data.
//
// Durability: a record is appended to a local log (<dir>/current.log: framed records, length + CRC32C) and
// fdatasync'ed before Append returns; a commit per query would make one tiny Parquet file per query. Flush moves
// the log into the region's `audit` Iceberg table in batches (every flush-rows records or flush-seconds): under
// the directory's LOCK (a moment) it renames current.log to sealed-<id>.log; then, holding only FLUSH (flushes
// take turns; appends go on), it writes the sealed file as one Parquet data file and appends
// it in one snapshot whose commit id is the sealed file's name — so a flush cut short by a crash is finished by
// the next one (the commit id is recognised, never applied twice) — then removes the sealed file. A log with a
// corrupt record before its end (not a torn tail) is never deleted nor cut: its whole records before the
// corruption are committed, and the file is kept as corrupt-<name>.log, reported as an error. Processes
// sharing the directory (`watershed serve`, `watershed sql`) serialise on its LOCK and FLUSH files (flock); LOCK
// is held to append, to seal, to rename or delete a log file, and by ReadAudit only while it reads the local
// files and the table's metadata, never across a Parquet write, commit or read. A torn record at
// the end of the log (a crash mid-append: its query got no answer) is cut off before the next append.

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/file_system.h"
#include "core/status.h"
#include "lake/parquet.h"
#include "query/value.h"

namespace watershed::gov {

struct AuditRecord {
  int64_t time_us = 0;    // when the query arrived, µs since the epoch (UTC)
  uint64_t user = 0;      // the token's sub; 0 when auth is off or for the CLI's default
  std::string roles;      // "analyst,admin"
  std::string region;     // the region whose lake answered
  std::string interface;  // "http" or "cli"
  std::string sql;
  std::string tables;   // tables touched, "eu.events,eu.raw_events"
  int64_t rows = 0;     // rows returned
  std::string verdict;  // "allowed", "refused" (a governance rule) or "failed" (a bad query, an error)
  std::string reason;   // why refused or failed
  int64_t duration_ms = 0;
  bool operator==(const AuditRecord&) const = default;
};

// The audit table's columns (Iceberg field ids 1..11, in AuditRecord's order; `user` is a long).
const std::vector<lake::ColumnSpec>& AuditSchema();
// The one mapping between a record and its fields in AuditSchema() order (`i` of the longs, `s` of the strings;
// `user` as a long) — for the Parquet columns, reading them back, and `watershed audit`'s output.
std::vector<query::Value> AuditRow(const AuditRecord& r);
AuditRecord AuditRecordOf(const std::vector<query::Value>& row);
// Wall-clock µs since the epoch (UTC): an audit record's time.
int64_t NowUs();
// <lake root>/<region>/audit
std::string AuditTableLocation(const std::string& lake_root, const std::string& region);

struct AuditLogOptions {
  std::string dir;             // the local log's directory
  std::string table_location;  // the Iceberg table's
  int64_t flush_rows = 1000;
  int64_t flush_ms = 60'000;
};

class AuditLog {
 public:
  // Creates the directory; reads the log's state (nothing is flushed here).
  static Result<std::unique_ptr<AuditLog>> Open(FileSystem* fs, AuditLogOptions options);

  // Appends `r` durably (fsync) — Ok only then. Thread-safe.
  Status Append(const AuditRecord& r);
  // Whether flush-rows records wait in the log, or the oldest is flush-seconds old (as of this process's last
  // append: it counts what other processes appended too).
  bool FlushDue(int64_t now_us) const;
  // Moves every record logged so far into the Iceberg table (docs above). Thread-safe.
  Status Flush();

 private:
  AuditLog(FileSystem* fs, AuditLogOptions o) : fs_(fs), o_(std::move(o)) {}
  Status FlushSealed(const std::string& name);
  // Renames log file `name` of the directory to corrupt-<...>.log (durably, reported on stderr); its new path.
  Result<std::string> SetAside(const std::string& name) const;

  FileSystem* fs_;
  AuditLogOptions o_;
  std::mutex flush_mu_;          // one Flush at a time in this process (FLUSH orders processes)
  mutable std::mutex mu_;        // the fields below and current.log; held only briefly by Flush (the sealing)
  bool sealed_waiting_ = false;  // a sealed file may wait for its commit (a flush failed or is under way)
  uint64_t known_size_ = 0;      // current.log's size after our last append (a record boundary)
  int64_t pending_rows_ = 0;     // in current.log as of our last append
  int64_t oldest_pending_us_ = 0;
};

// Filters of `watershed audit`.
struct AuditFilter {
  std::optional<int64_t> since_us;
  std::optional<uint64_t> user;
  std::optional<std::string> verdict;
  bool Accepts(const AuditRecord& r) const;
};

// The table's records (its current snapshot), then those of the local log not flushed yet, filtered. `dir` may be
// empty (the table only).
Result<std::vector<AuditRecord>> ReadAudit(FileSystem* fs, const std::string& dir, const std::string& table_location,
                                           const AuditFilter& filter);

// The records of one local log file's bytes, stopping at the first torn or corrupt one; *valid_end (optional)
// is where it stops.
std::vector<AuditRecord> DecodeAuditLog(std::string_view bytes, uint64_t* valid_end = nullptr);
std::string EncodeAuditRecord(const AuditRecord& r);
// Whether the bytes after valid_end are a torn tail — fewer than a header, or a record whose length runs past
// the end (a crash mid-append) — rather than a corrupt record (which whole records may follow).
bool IsTornTail(std::string_view bytes, uint64_t valid_end);
// `r` with each text field over 64 KiB cut there, at a character boundary, plus "…[truncated N bytes]": what
// Append logs, so every record fits the log's record bound.
AuditRecord BoundedAuditRecord(const AuditRecord& r);

}  // namespace watershed::gov
