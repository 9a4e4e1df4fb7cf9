#include "cdc/pg_source.h"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace watershed::cdc {
namespace {

using Clock = std::chrono::steady_clock;

// Same text form of values on both connections: pgoutput formats values with
// the walsender's settings, the snapshot SELECT with the SQL session's.
constexpr const char* kSessionOptions =
    "-c datestyle=ISO -c intervalstyle=postgres -c extra_float_digits=3 -c timezone=UTC";
constexpr const char* kSnapshotCursor = "watershed_cdc_snapshot";

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, ResultDeleter>;

int64_t NowUnixMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Trimmed(const char* message) {
  std::string s = message ? message : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// Busy slots and lost connections are worth a retry; the rest is configuration.
Status ServerError(const std::string& what, const PGresult* res, PGconn* conn) {
  const char* state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  std::string message = what + ": " + Trimmed(res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
  if (PQstatus(conn) != CONNECTION_OK) return Status::Unavailable(message);
  std::string_view code = state ? state : "";
  if (code == "55006" || code.starts_with("08") || code.starts_with("57P")) return Status::Unavailable(message);
  return Status::FailedPrecondition(message);
}

Result<PgResult> Exec(PGconn* conn, const std::string& sql, ExecStatusType expected,
                      const std::vector<std::string>& params = {}) {
  std::vector<const char*> values;
  for (const std::string& p : params) values.push_back(p.c_str());
  PgResult res(params.empty() ? PQexec(conn, sql.c_str())
                              : PQexecParams(conn, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(),
                                             nullptr, nullptr, 0));
  if (!res || PQresultStatus(res.get()) != expected) return ServerError(sql, res.get(), conn);
  return res;
}

Status Command(PGconn* conn, const std::string& sql) {
  Result<PgResult> res = Exec(conn, sql, PGRES_COMMAND_OK);
  return res.ok() ? Status::Ok() : res.status();
}

Result<PGconn*> Connect(const std::string& conninfo, bool replication) {
  const char* keys[] = {"dbname", "options", "application_name", replication ? "replication" : nullptr, nullptr};
  const char* values[] = {conninfo.c_str(), kSessionOptions, "watershed_cdc", "database", nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (conn == nullptr) return Status::Internal("libpq: out of memory");
  if (PQstatus(conn) != CONNECTION_OK) {
    Status s = Status::Unavailable(std::string(replication ? "replication " : "") +
                                   "connection failed: " + Trimmed(PQerrorMessage(conn)));
    PQfinish(conn);
    return s;
  }
  return conn;
}

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 63) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

// "schema.table" or "table" as a quoted SQL name. Names containing dots or
// quotes themselves are not supported.
Result<std::string> QuotedTable(PGconn* conn, const std::string& table) {
  std::string out;
  size_t start = 0;
  for (;;) {
    size_t dot = table.find('.', start);
    std::string part = table.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty() || part.find('"') != std::string::npos) {
      return Status::InvalidArgument("not a table name: \"" + table + "\"");
    }
    char* quoted = PQescapeIdentifier(conn, part.c_str(), part.size());
    if (quoted == nullptr) return Status::InvalidArgument("not a table name: \"" + table + "\"");
    if (!out.empty()) out += ".";
    out += quoted;
    PQfreemem(quoted);
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return out;
}

}  // namespace

struct PgLogicalSource::SnapshotTable {
  std::string select;  // SELECT <columns> FROM <table>
  std::shared_ptr<const Relation> schema;
};

PgLogicalSource::PgLogicalSource(PgSourceOptions options)
    : options_(std::move(options)), assembler_(options_.max_transaction_bytes) {}

PgLogicalSource::~PgLogicalSource() {
  if (repl_) PQfinish(repl_);
  if (sql_) PQfinish(sql_);
}

Result<std::unique_ptr<PgLogicalSource>> PgLogicalSource::Start(PgSourceOptions options) {
  if (!ValidName(options.slot_name)) {
    return Status::InvalidArgument("slot name must be 1-63 of [a-z0-9_]: \"" + options.slot_name + "\"");
  }
  if (!ValidName(options.publication_name)) {
    return Status::InvalidArgument("publication name must be 1-63 of [a-z0-9_]: \"" + options.publication_name + "\"");
  }
  if (options.snapshot_batch_rows == 0) return Status::InvalidArgument("snapshot_batch_rows must be > 0");
  std::unique_ptr<PgLogicalSource> source(new PgLogicalSource(std::move(options)));
  RETURN_IF_ERROR(source->Init());
  return source;
}

Status PgLogicalSource::Init() {
  ASSIGN_OR_RETURN(sql_, Connect(options_.conninfo, false));
  RETURN_IF_ERROR(EnsurePublication());
  ASSIGN_OR_RETURN(repl_, Connect(options_.conninfo, true));
  ASSIGN_OR_RETURN(PgResult id, Exec(repl_, "IDENTIFY_SYSTEM", PGRES_TUPLES_OK));
  if (PQntuples(id.get()) != 1 || PQnfields(id.get()) < 4) {
    return Status::FailedPrecondition("IDENTIFY_SYSTEM: unexpected result shape");
  }
  system_.system_id = PQgetvalue(id.get(), 0, 0);
  system_.timeline = static_cast<uint32_t>(std::strtoul(PQgetvalue(id.get(), 0, 1), nullptr, 10));
  ASSIGN_OR_RETURN(system_.wal_position, Lsn::Parse(PQgetvalue(id.get(), 0, 2)));
  system_.database = PQgetvalue(id.get(), 0, 3);
  server_wal_end_ = system_.wal_position;
  return OpenOrCreateSlot();
}

Status PgLogicalSource::EnsurePublication() {
  ASSIGN_OR_RETURN(PgResult res, Exec(sql_, "SELECT 1 FROM pg_publication WHERE pubname = $1", PGRES_TUPLES_OK,
                                      {options_.publication_name}));
  if (PQntuples(res.get()) == 1) return Status::Ok();
  if (!options_.create_publication) {
    return Status::FailedPrecondition("publication " + options_.publication_name + " does not exist");
  }
  if (options_.tables.empty()) return Status::InvalidArgument("creating a publication needs tables");
  std::string sql = "CREATE PUBLICATION " + options_.publication_name + " FOR TABLE ";
  for (size_t i = 0; i < options_.tables.size(); ++i) {
    ASSIGN_OR_RETURN(std::string quoted, QuotedTable(sql_, options_.tables[i]));
    sql += (i ? ", " : "") + quoted;
  }
  return Command(sql_, sql);
}

Status PgLogicalSource::OpenOrCreateSlot() {
  ASSIGN_OR_RETURN(PgResult slot, Exec(sql_,
                                       "SELECT slot_type, plugin, database, confirmed_flush_lsn::text "
                                       "FROM pg_replication_slots WHERE slot_name = $1",
                                       PGRES_TUPLES_OK, {options_.slot_name}));
  if (PQntuples(slot.get()) == 1) {
    std::string type = PQgetvalue(slot.get(), 0, 0), plugin = PQgetvalue(slot.get(), 0, 1),
                database = PQgetvalue(slot.get(), 0, 2);
    if (type != "logical" || plugin != "pgoutput" || database != system_.database) {
      return Status::FailedPrecondition("slot " + options_.slot_name + " is a " + type + " slot of plugin \"" + plugin +
                                        "\" in database \"" + database + "\", not pgoutput in \"" + system_.database +
                                        "\"");
    }
    ASSIGN_OR_RETURN(start_lsn_, Lsn::Parse(PQgetvalue(slot.get(), 0, 3)));
    confirmed_ = start_lsn_;
    return StartStreaming();
  }
  if (!options_.create_slot) return Status::FailedPrecondition("slot " + options_.slot_name + " does not exist");
  if (options_.tables.empty()) return Status::InvalidArgument("the initial snapshot of a new slot needs tables");
  // PostgreSQL 15 replaced EXPORT_SNAPSHOT with the option list.
  std::string create = "CREATE_REPLICATION_SLOT " + options_.slot_name + " LOGICAL pgoutput " +
                       (PQserverVersion(repl_) >= 150000 ? "(SNAPSHOT 'export')" : "EXPORT_SNAPSHOT");
  ASSIGN_OR_RETURN(PgResult created, Exec(repl_, create, PGRES_TUPLES_OK));
  if (PQntuples(created.get()) != 1 || PQnfields(created.get()) < 3 || PQgetisnull(created.get(), 0, 2)) {
    return Status::FailedPrecondition("CREATE_REPLICATION_SLOT: unexpected result shape");
  }
  slot_created_ = true;
  Result<Lsn> consistent_point = Lsn::Parse(PQgetvalue(created.get(), 0, 1));
  if (!consistent_point.ok()) return Fail(consistent_point.status());
  start_lsn_ = *consistent_point;
  confirmed_ = start_lsn_;
  return BeginSnapshot(PQgetvalue(created.get(), 0, 2));
}

Status PgLogicalSource::BeginSnapshot(const std::string& snapshot_name) {
  Status s = Command(sql_, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  if (s.ok()) {
    char* literal = PQescapeLiteral(sql_, snapshot_name.c_str(), snapshot_name.size());
    if (literal == nullptr) return Fail(Status::Internal("PQescapeLiteral: " + Trimmed(PQerrorMessage(sql_))));
    s = Command(sql_, std::string("SET TRANSACTION SNAPSHOT ") + literal);
    PQfreemem(literal);
  }
  for (size_t i = 0; s.ok() && i < options_.tables.size(); ++i) {
    Result<SnapshotTable> table = DescribeTable(options_.tables[i]);
    if (table.ok()) {
      snapshot_tables_.push_back(std::move(table).value());
    } else {
      s = table.status();
    }
  }
  if (!s.ok()) return Fail(s);
  snapshot_time_us_ = NowUnixMicros();
  return Status::Ok();
}

Result<PgLogicalSource::SnapshotTable> PgLogicalSource::DescribeTable(const std::string& table) {
  ASSIGN_OR_RETURN(std::string quoted, QuotedTable(sql_, table));
  ASSIGN_OR_RETURN(PgResult rel, Exec(sql_,
                                      "SELECT c.oid, n.nspname, c.relname, c.relreplident FROM pg_class c "
                                      "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1::regclass",
                                      PGRES_TUPLES_OK, {quoted}));
  if (PQntuples(rel.get()) != 1) return Status::NotFound("table " + table + " not found");
  Relation relation;
  std::string oid = PQgetvalue(rel.get(), 0, 0);
  relation.relation_id = static_cast<uint32_t>(std::strtoul(oid.c_str(), nullptr, 10));
  relation.namespace_name = PQgetvalue(rel.get(), 0, 1);
  relation.relation_name = PQgetvalue(rel.get(), 0, 2);
  relation.replica_identity = static_cast<ReplicaIdentity>(PQgetvalue(rel.get(), 0, 3)[0]);
  // The columns pgoutput sends, in its order, with its key flags.
  ASSIGN_OR_RETURN(PgResult cols,
                   Exec(sql_,
                        "SELECT a.attname, a.atttypid, a.atttypmod, "
                        "       c.relreplident = 'f' OR coalesce(a.attnum = ANY(i.indkey), false) "
                        "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                        "LEFT JOIN pg_index i ON i.indrelid = c.oid AND "
                        "  ((c.relreplident = 'd' AND i.indisprimary) OR (c.relreplident = 'i' AND i.indisreplident)) "
                        "WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' "
                        "ORDER BY a.attnum",
                        PGRES_TUPLES_OK, {oid}));
  std::string select = "SELECT ";
  for (int i = 0; i < PQntuples(cols.get()); ++i) {
    RelationColumn column;
    column.name = PQgetvalue(cols.get(), i, 0);
    column.type_oid = static_cast<uint32_t>(std::strtoul(PQgetvalue(cols.get(), i, 1), nullptr, 10));
    column.type_modifier = static_cast<int32_t>(std::strtol(PQgetvalue(cols.get(), i, 2), nullptr, 10));
    column.key = PQgetvalue(cols.get(), i, 3)[0] == 't';
    char* name = PQescapeIdentifier(sql_, column.name.c_str(), column.name.size());
    if (name == nullptr) return Status::Internal("PQescapeIdentifier: " + Trimmed(PQerrorMessage(sql_)));
    select += (i ? ", " : "") + std::string(name);
    PQfreemem(name);
    relation.columns.push_back(std::move(column));
  }
  if (relation.columns.empty()) return Status::FailedPrecondition("table " + table + " has no columns to read");
  return SnapshotTable{select + " FROM " + quoted, std::make_shared<const Relation>(std::move(relation))};
}

Result<Transaction> PgLogicalSource::NextSnapshotBatch() {
  Transaction batch;
  batch.snapshot = true;
  batch.commit_lsn = Lsn(start_lsn_.value() - 1);
  batch.end_lsn = start_lsn_;
  batch.commit_time_us = snapshot_time_us_;
  const std::string batch_rows = std::to_string(options_.snapshot_batch_rows);
  while (batch.changes.empty() && snapshot_table_ < snapshot_tables_.size()) {
    const SnapshotTable& table = snapshot_tables_[snapshot_table_];
    if (!snapshot_cursor_open_) {
      RETURN_IF_ERROR(
          Command(sql_, std::string("DECLARE ") + kSnapshotCursor + " NO SCROLL CURSOR FOR " + table.select));
      snapshot_cursor_open_ = true;
    }
    ASSIGN_OR_RETURN(PgResult rows, Exec(sql_, "FETCH " + batch_rows + " FROM " + kSnapshotCursor, PGRES_TUPLES_OK));
    const Relation& schema = *table.schema;
    int n = PQntuples(rows.get());
    if (PQnfields(rows.get()) != static_cast<int>(schema.columns.size())) {
      return Status::Internal("snapshot of " + schema.QualifiedName() + ": unexpected column count");
    }
    for (int row = 0; row < n; ++row) {
      Change change;
      change.op = ChangeOp::kSnapshot;
      change.relation_id = schema.relation_id;
      change.relation = schema.QualifiedName();
      change.schema = table.schema;
      change.position = Position{batch.commit_lsn, snapshot_index_++};
      change.after.reserve(schema.columns.size());
      for (size_t col = 0; col < schema.columns.size(); ++col) {
        ColumnValue v{schema.columns[col].name, schema.columns[col].type_oid, DatumKind::kNull, {}};
        if (!PQgetisnull(rows.get(), row, static_cast<int>(col))) {
          v.kind = DatumKind::kText;
          v.text.assign(PQgetvalue(rows.get(), row, static_cast<int>(col)),
                        PQgetlength(rows.get(), row, static_cast<int>(col)));
        }
        change.after.push_back(std::move(v));
      }
      batch.changes.push_back(std::move(change));
    }
    if (static_cast<size_t>(n) < options_.snapshot_batch_rows) {
      RETURN_IF_ERROR(Command(sql_, std::string("CLOSE ") + kSnapshotCursor));
      snapshot_cursor_open_ = false;
      ++snapshot_table_;
    }
  }
  if (snapshot_table_ == snapshot_tables_.size()) {
    RETURN_IF_ERROR(Command(sql_, "COMMIT"));
    batch.snapshot_last = true;
    RETURN_IF_ERROR(StartStreaming());
  }
  return batch;
}

Status PgLogicalSource::StartStreaming() {
  std::string start = "START_REPLICATION SLOT " + options_.slot_name + " LOGICAL " + confirmed_.ToString() +
                      " (proto_version '1', publication_names '" + options_.publication_name + "')";
  PgResult res(PQexec(repl_, start.c_str()));
  if (!res || PQresultStatus(res.get()) != PGRES_COPY_BOTH) return ServerError(start, res.get(), repl_);
  streaming_ = true;
  last_status_ = Clock::now();
  return Status::Ok();
}

Result<std::vector<Transaction>> PgLogicalSource::Poll(std::chrono::milliseconds timeout) {
  if (!broken_.ok()) return broken_;
  std::vector<Transaction> out;
  if (!streaming_) {
    Result<Transaction> batch = NextSnapshotBatch();
    if (!batch.ok()) return Fail(batch.status());
    out.push_back(std::move(batch).value());
    return out;
  }
  Status s = PollStream(Clock::now() + timeout, &out);
  if (!s.ok()) return Fail(s);
  return out;
}

Status PgLogicalSource::PollStream(Clock::time_point deadline, std::vector<Transaction>* out) {
  // Bounds one Poll's memory when a backlog is waiting.
  constexpr size_t kMaxTransactionsPerPoll = 1000;
  for (;;) {
    for (;;) {
      char* buf = nullptr;
      int n = PQgetCopyData(repl_, &buf, /*async=*/1);
      if (n > 0) {
        Status s = HandleCopyData(std::string_view(buf, static_cast<size_t>(n)), out);
        PQfreemem(buf);
        RETURN_IF_ERROR(s);
        if (out->size() >= kMaxTransactionsPerPoll) return Status::Ok();
        continue;
      }
      if (n == 0) break;
      if (n == -1) {
        PgResult end(PQgetResult(repl_));
        return Status::Unavailable("the server ended the replication stream: " +
                                   Trimmed(end ? PQresultErrorMessage(end.get()) : PQerrorMessage(repl_)));
      }
      return Status::Unavailable("replication stream: " + Trimmed(PQerrorMessage(repl_)));
    }
    Clock::time_point now = Clock::now();
    if (now - last_status_ >= options_.status_interval) RETURN_IF_ERROR(SendStatus());
    if (!out->empty() || now >= deadline) return Status::Ok();
    auto wait = std::min<Clock::duration>(deadline - now, options_.status_interval);
    pollfd pfd{PQsocket(repl_), POLLIN, 0};
    int rc = ::poll(&pfd, 1, static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(wait).count()) + 1);
    if (rc < 0 && errno != EINTR) return Status::IoError(std::string("poll: ") + std::strerror(errno));
    if (PQconsumeInput(repl_) == 0) return Status::Unavailable("replication stream: " + Trimmed(PQerrorMessage(repl_)));
  }
}

Status PgLogicalSource::HandleCopyData(std::string_view bytes, std::vector<Transaction>* out) {
  ASSIGN_OR_RETURN(CopyDataMessage message, DecodeCopyData(bytes));
  if (auto* keepalive = std::get_if<PrimaryKeepalive>(&message)) {
    server_wal_end_ = std::max(server_wal_end_, keepalive->wal_end);
    return keepalive->reply_requested ? SendStatus() : Status::Ok();
  }
  const XLogData& data = std::get<XLogData>(message);
  server_wal_end_ = std::max(server_wal_end_, data.wal_end);
  ASSIGN_OR_RETURN(PgOutputMessage decoded, DecodePgOutput(data.payload, options_.limits));
  ASSIGN_OR_RETURN(std::optional<Transaction> done, assembler_.Add(std::move(decoded)));
  if (done) out->push_back(std::move(*done));
  return Status::Ok();
}

Status PgLogicalSource::SendStatus() {
  std::string update = EncodeStandbyStatusUpdate(confirmed_, confirmed_, confirmed_, NowUnixMicros(), false);
  if (PQputCopyData(repl_, update.data(), static_cast<int>(update.size())) != 1 || PQflush(repl_) != 0) {
    return Status::Unavailable("sending a standby status update: " + Trimmed(PQerrorMessage(repl_)));
  }
  last_status_ = Clock::now();
  return Status::Ok();
}

Status PgLogicalSource::ConfirmFlushed(Lsn lsn) {
  if (!broken_.ok()) return broken_;
  if (lsn <= confirmed_) return Status::Ok();
  confirmed_ = lsn;
  if (!streaming_) return Status::Ok();
  Status s = SendStatus();
  return s.ok() ? s : Fail(s);
}

Status PgLogicalSource::DropIncompleteSlot() {
  if (!slot_created_ || streaming_ || repl_ == nullptr) return Status::Ok();
  slot_created_ = false;
  return Command(repl_, "DROP_REPLICATION_SLOT " + options_.slot_name);
}

Status PgLogicalSource::Fail(Status status) {
  if (slot_created_ && !streaming_) {
    Status dropped = DropIncompleteSlot();
    status = Status(status.code(),
                    status.message() + (dropped.ok() ? " (the new slot was dropped)"
                                                     : " (dropping the new slot failed: " + dropped.message() + ")"));
  }
  broken_ = status;
  return status;
}

Status PgLogicalSource::Close(std::chrono::milliseconds timeout) {
  if (repl_ == nullptr) return Status::Ok();
  Status result = DropIncompleteSlot();
  if (streaming_ && broken_.ok()) {
    result = SendStatus();
    if (result.ok() && (PQputCopyEnd(repl_, nullptr) != 1 || PQflush(repl_) != 0)) {
      result = Status::Unavailable("ending the replication stream: " + Trimmed(PQerrorMessage(repl_)));
    }
    // Read (and drop: unconfirmed, they come again) what the server sent
    // until it ends the copy, so it has released the slot when we return.
    Clock::time_point deadline = Clock::now() + timeout;
    while (result.ok()) {
      char* buf = nullptr;
      int n = PQgetCopyData(repl_, &buf, /*async=*/1);
      if (n > 0) {
        PQfreemem(buf);
        continue;
      }
      if (n == -1) {
        while (PgResult res{PQgetResult(repl_)}) {
        }
        break;
      }
      if (n == -2 || Clock::now() >= deadline) {
        result = Status::Unavailable("ending the replication stream: " + Trimmed(PQerrorMessage(repl_)));
        break;
      }
      pollfd pfd{PQsocket(repl_), POLLIN, 0};
      ::poll(&pfd, 1, 10);
      if (PQconsumeInput(repl_) == 0) {
        result = Status::Unavailable("ending the replication stream: " + Trimmed(PQerrorMessage(repl_)));
      }
    }
  }
  PQfinish(repl_);
  repl_ = nullptr;
  PQfinish(sql_);
  sql_ = nullptr;
  streaming_ = false;
  if (broken_.ok()) broken_ = Status::FailedPrecondition("the source is closed");
  return result;
}

Status PgLogicalSource::DropSlot(const std::string& conninfo, const std::string& slot_name) {
  ASSIGN_OR_RETURN(PGconn * conn, Connect(conninfo, false));
  std::unique_ptr<PGconn, void (*)(PGconn*)> owned(conn, PQfinish);
  ASSIGN_OR_RETURN(PgResult res, Exec(conn,
                                      "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                                      "WHERE slot_name = $1",
                                      PGRES_TUPLES_OK, {slot_name}));
  if (PQntuples(res.get()) == 0) return Status::NotFound("slot " + slot_name + " does not exist");
  return Status::Ok();
}

}  // namespace watershed::cdc
