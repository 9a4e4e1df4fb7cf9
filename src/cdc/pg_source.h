#pragma once
// PgLogicalSource: the committed row changes of a set of PostgreSQL tables,
// read from a logical replication slot with the pgoutput plugin (protocol
// version 1, text values) over libpq. docs/cdc.md has the server settings.
//
// Start:
//   * makes sure the publication exists (CREATE PUBLICATION ... FOR TABLE
//     options.tables over a normal connection) unless told it does;
//   * connects for replication (replication=database), IDENTIFY_SYSTEM;
//   * with an existing slot: streams from its confirmed flush LSN;
//   * without one: creates it, exporting a snapshot, and first delivers
//     every row of options.tables as of the slot's consistent point (read
//     in one REPEATABLE READ transaction that imports that snapshot), then
//     streams the transactions that commit after it. Nothing is lost or seen
//     twice between snapshot and stream. An exported snapshot dies with its
//     connection: a source that fails or is closed during the snapshot
//     drops the slot it created; a consumer that crashes before it has
//     stored the whole snapshot must drop the slot (DropSlot) and start again.
//
// Delivery: Poll returns whole committed transactions in commit order
// (TransactionAssembler). The slot only moves when the caller says so:
// ConfirmFlushed(lsn) sends a Standby Status Update with that LSN as
// written, flushed and applied; keepalives that ask for a reply, and a
// periodic status every options.status_interval, repeat the last confirmed
// LSN and nothing newer. A new source on the slot (after a crash, or after
// Close) gets again every transaction whose commit LSN is at or after the
// confirmed LSN: at-least-once. Confirm Transaction::end_lsn (the end of its
// commit record) once the transaction is durable on your side; a smaller
// LSN, such as its commit_lsn, may redeliver it. Consumers dedup by
// Change::position.
//
// Errors: a lost connection or a busy slot ("active for PID", while a
// previous walsender is still exiting) is kUnavailable: start a new source.
// After any error from Poll the source is broken and every later call
// returns that error; make a new one, which resumes from the slot.
//
// Not thread-safe: one thread calls every method.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cdc/pgoutput.h"
#include "cdc/transaction_assembler.h"
#include "core/status.h"

typedef struct pg_conn PGconn;

namespace watershed::cdc {

struct PgSourceOptions {
  // libpq connection string or URI of the database, without `replication`.
  // The source overrides `options` (it sets DateStyle ISO, TimeZone UTC,
  // IntervalStyle postgres, extra_float_digits 3 on both connections, so
  // snapshot and streamed values have the same text form).
  std::string conninfo;
  std::string slot_name;         // [a-z0-9_], at most 63 characters
  std::string publication_name;  // same rule
  // "table" or "schema.table": what CREATE PUBLICATION publishes and what the
  // initial snapshot reads. May be empty when the publication exists and
  // the slot exists (then there is no snapshot).
  std::vector<std::string> tables;
  bool create_publication = true;  // false: a missing publication is kFailedPrecondition
  bool create_slot = true;         // false: a missing slot is kFailedPrecondition
  size_t snapshot_batch_rows = 10'000;
  std::chrono::milliseconds status_interval{10'000};
  DecodeLimits limits;
  size_t max_transaction_bytes = size_t{1} << 30;
};

struct SystemIdentity {
  std::string system_id;
  uint32_t timeline = 0;
  Lsn wal_position;  // the server's flush position at IDENTIFY_SYSTEM
  std::string database;
};

struct ReplicationLag {
  Lsn server_wal_end;   // the newest end of WAL the server reported (keepalives, XLogData)
  Lsn confirmed_flush;  // the last LSN confirmed to the server
  // How much WAL the server keeps for this slot beyond what the consumer
  // has made durable (0 if the server has reported nothing newer).
  uint64_t bytes() const {
    return server_wal_end > confirmed_flush ? server_wal_end.value() - confirmed_flush.value() : 0;
  }
};

class PgLogicalSource {
 public:
  // Connects and prepares as described above. Errors: kInvalidArgument for
  // bad options, kUnavailable when the server cannot be reached or the slot
  // is busy, kFailedPrecondition when the server refuses (permissions,
  // wal_level, a slot of another plugin or database, a missing
  // publication/slot that may not be created).
  static Result<std::unique_ptr<PgLogicalSource>> Start(PgSourceOptions options);

  // Closes the connections without confirming anything (what a crash does).
  ~PgLogicalSource();
  PgLogicalSource(const PgLogicalSource&) = delete;
  PgLogicalSource& operator=(const PgLogicalSource&) = delete;

  // Waits up to `timeout` for data and returns the transactions completed
  // meanwhile (snapshot batches first, while there are any); returns as
  // soon as there is at least one, or empty after `timeout`.
  Result<std::vector<Transaction>> Poll(std::chrono::milliseconds timeout);

  // Tells the server every transaction with end_lsn <= lsn is durable at the
  // consumer; the slot may release that WAL. An LSN below the last confirmed
  // one is ignored (the slot never moves back). During the snapshot it is
  // remembered and sent once streaming starts.
  Status ConfirmFlushed(Lsn lsn);

  // Ends streaming cleanly: sends the last confirmed LSN, ends the copy and
  // waits (up to `timeout`) for the server to finish, so the slot is free
  // for a new source at once. Closed during the initial snapshot, it drops
  // the slot it created (a snapshot cannot be resumed). The destructor
  // after Close does nothing more.
  Status Close(std::chrono::milliseconds timeout = std::chrono::seconds(5));

  ReplicationLag lag() const { return ReplicationLag{server_wal_end_, confirmed_}; }
  const SystemIdentity& system() const { return system_; }
  bool slot_created() const { return slot_created_; }
  // The created slot's consistent point; the existing slot's confirmed LSN.
  Lsn start_lsn() const { return start_lsn_; }
  bool streaming() const { return streaming_; }
  const RelationCache& relations() const { return assembler_.relations(); }

  // Drops a logical replication slot over a normal connection (e.g. after a
  // snapshot that was not stored completely). kNotFound if it does not exist.
  static Status DropSlot(const std::string& conninfo, const std::string& slot_name);

 private:
  struct SnapshotTable;
  explicit PgLogicalSource(PgSourceOptions options);
  Status Init();
  Status EnsurePublication();
  Status OpenOrCreateSlot();
  Status BeginSnapshot(const std::string& snapshot_name);
  Result<SnapshotTable> DescribeTable(const std::string& table);
  Result<Transaction> NextSnapshotBatch();
  Status StartStreaming();
  Status PollStream(std::chrono::steady_clock::time_point deadline, std::vector<Transaction>* out);
  Status HandleCopyData(std::string_view bytes, std::vector<Transaction>* out);
  Status SendStatus();
  // A slot this source created whose snapshot was not delivered completely
  // must not be resumed (a new source would stream without the snapshot):
  // drops it while the replication connection is idle, so the next Start
  // takes a new snapshot.
  Status DropIncompleteSlot();
  Status Fail(Status status);

  PgSourceOptions options_;
  PGconn* sql_ = nullptr;   // normal connection: catalog, publication, snapshot
  PGconn* repl_ = nullptr;  // replication connection
  SystemIdentity system_;
  bool slot_created_ = false;
  Lsn start_lsn_;
  Lsn confirmed_;
  Lsn server_wal_end_;
  bool streaming_ = false;
  std::vector<SnapshotTable> snapshot_tables_;
  size_t snapshot_table_ = 0;
  bool snapshot_cursor_open_ = false;
  uint64_t snapshot_index_ = 0;
  int64_t snapshot_time_us_ = 0;
  TransactionAssembler assembler_;
  std::chrono::steady_clock::time_point last_status_;
  Status broken_;
};

}  // namespace watershed::cdc
