#include "gov/audit_log.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "core/crc32c.h"
#include "core/random.h"
#include "lake/iceberg_commit.h"
#include "lake/row_set.h"
#include "lake/tables.h"

namespace watershed::gov {
namespace {

constexpr char kCurrent[] = "current.log";
constexpr char kSealedPrefix[] = "sealed-";
constexpr char kCorruptPrefix[] = "corrupt-";
constexpr char kLock[] = "LOCK";        // held to append, to seal current.log, to rename or delete a log file
constexpr char kFlushLock[] = "FLUSH";  // held by the one process flushing
constexpr uint32_t kMaxRecordBytes = 16u << 20;
// Each text field is cut to this (with a marker) before it is logged, so a record of 7 of them always fits in
// kMaxRecordBytes: a 16 MiB `watershed sql -f` statement is logged by its first 64 KiB.
constexpr size_t kMaxFieldBytes = 64u << 10;

// `s` cut to kMaxFieldBytes at a UTF-8 character boundary, with "…[truncated N bytes]" naming what was left out.
std::string Bounded(const std::string& s) {
  if (s.size() <= kMaxFieldBytes) return s;
  size_t keep = kMaxFieldBytes;
  while (keep > 0 && (static_cast<uint8_t>(s[keep]) & 0xC0) == 0x80) --keep;  // not inside a character
  return s.substr(0, keep) + "\u2026[truncated " + std::to_string(s.size() - keep) + " bytes]";
}

void PutU32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}
void PutU64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}
void PutStr(std::string* out, const std::string& s) {
  PutU32(out, static_cast<uint32_t>(s.size()));
  out->append(s);
}

struct Cursor {
  std::string_view s;
  bool ok = true;
  uint64_t U(int bytes) {
    if (s.size() < static_cast<size_t>(bytes)) return ok = false, 0;
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= uint64_t{static_cast<uint8_t>(s[i])} << (8 * i);
    s.remove_prefix(bytes);
    return v;
  }
  std::string Str() {
    const uint64_t n = U(4);
    if (!ok || s.size() < n) return ok = false, std::string();
    std::string v(s.substr(0, n));
    s.remove_prefix(n);
    return v;
  }
};

lake::ColumnSpec Col(const char* name, int32_t id, lake::PhysicalType t, lake::LogicalType l) {
  lake::ColumnSpec c;
  c.name = name;
  c.field_id = id;
  c.type = t;
  c.logical = l;
  return c;
}

// The records as the audit table's columns.
std::vector<lake::ColumnValues> Columns(const std::vector<AuditRecord>& rs) {
  const auto& spec = AuditSchema();
  std::vector<lake::ColumnValues> cols(spec.size());
  for (const AuditRecord& r : rs) {
    const std::vector<query::Value> row = AuditRow(r);
    for (size_t c = 0; c < spec.size(); ++c) {
      if (spec[c].type == lake::PhysicalType::kInt64) {
        cols[c].ints.push_back(row[c].i);
      } else {
        cols[c].bytes += row[c].s;
        cols[c].ends.push_back(static_cast<uint32_t>(cols[c].bytes.size()));
      }
    }
  }
  return cols;
}

// Sealed names sort in sealing order: the time, then a random tie-breaker.
std::string StampedName(const std::string& prefix) {
  char stamp[32];
  std::snprintf(stamp, sizeof stamp, "%020lld", static_cast<long long>(NowUs()));
  return prefix + stamp + "-" + RandomHex(4) + ".log";
}

Result<std::string> ReadIfExists(FileSystem* fs, const std::string& path) {
  if (!fs->FileExists(path)) return std::string();
  return ReadWholeFile(fs, path);
}

}  // namespace

const std::vector<lake::ColumnSpec>& AuditSchema() {
  using P = lake::PhysicalType;
  using L = lake::LogicalType;
  static const std::vector<lake::ColumnSpec> kSchema = {
      Col("time", 1, P::kInt64, L::kTimestampMicrosUtc), Col("user", 2, P::kInt64, L::kInt64),
      Col("roles", 3, P::kByteArray, L::kString),        Col("region", 4, P::kByteArray, L::kString),
      Col("interface", 5, P::kByteArray, L::kString),    Col("sql", 6, P::kByteArray, L::kString),
      Col("tables", 7, P::kByteArray, L::kString),       Col("rows", 8, P::kInt64, L::kInt64),
      Col("verdict", 9, P::kByteArray, L::kString),      Col("reason", 10, P::kByteArray, L::kString),
      Col("duration_ms", 11, P::kInt64, L::kInt64),
  };
  return kSchema;
}

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::vector<query::Value> AuditRow(const AuditRecord& r) {
  std::vector<query::Value> row(11);
  row[0].i = r.time_us;
  row[1].i = static_cast<int64_t>(r.user);
  row[2].s = r.roles;
  row[3].s = r.region;
  row[4].s = r.interface;
  row[5].s = r.sql;
  row[6].s = r.tables;
  row[7].i = r.rows;
  row[8].s = r.verdict;
  row[9].s = r.reason;
  row[10].i = r.duration_ms;
  return row;
}

AuditRecord AuditRecordOf(const std::vector<query::Value>& row) {
  AuditRecord r;
  r.time_us = row[0].i;
  r.user = static_cast<uint64_t>(row[1].i);
  r.roles = row[2].s;
  r.region = row[3].s;
  r.interface = row[4].s;
  r.sql = row[5].s;
  r.tables = row[6].s;
  r.rows = row[7].i;
  r.verdict = row[8].s;
  r.reason = row[9].s;
  r.duration_ms = row[10].i;
  return r;
}

std::string AuditTableLocation(const std::string& lake_root, const std::string& region) {
  return JoinPath(JoinPath(lake_root, region), "audit");
}

std::string EncodeAuditRecord(const AuditRecord& r) {
  std::string p;
  PutU64(&p, static_cast<uint64_t>(r.time_us));
  PutU64(&p, r.user);
  PutU64(&p, static_cast<uint64_t>(r.rows));
  PutU64(&p, static_cast<uint64_t>(r.duration_ms));
  for (const std::string* s : {&r.roles, &r.region, &r.interface, &r.sql, &r.tables, &r.verdict, &r.reason})
    PutStr(&p, *s);
  std::string out;
  PutU32(&out, static_cast<uint32_t>(p.size()));
  PutU32(&out, crc32c::Value(p));
  return out + p;
}

std::vector<AuditRecord> DecodeAuditLog(std::string_view bytes, uint64_t* valid_end) {
  std::vector<AuditRecord> out;
  size_t at = 0;
  while (bytes.size() - at >= 8) {
    Cursor head{bytes.substr(at, 8)};
    const uint64_t n = head.U(4), crc = head.U(4);
    if (n > kMaxRecordBytes || bytes.size() - at - 8 < n) break;
    const std::string_view payload = bytes.substr(at + 8, n);
    if (crc32c::Value(payload) != crc) break;
    Cursor c{payload};
    AuditRecord r;
    r.time_us = static_cast<int64_t>(c.U(8));
    r.user = c.U(8);
    r.rows = static_cast<int64_t>(c.U(8));
    r.duration_ms = static_cast<int64_t>(c.U(8));
    for (std::string* s : {&r.roles, &r.region, &r.interface, &r.sql, &r.tables, &r.verdict, &r.reason}) *s = c.Str();
    if (!c.ok || !c.s.empty()) break;
    out.push_back(std::move(r));
    at += 8 + n;
  }
  if (valid_end) *valid_end = at;
  return out;
}

Result<std::unique_ptr<AuditLog>> AuditLog::Open(FileSystem* fs, AuditLogOptions options) {
  RETURN_IF_ERROR(CreateDirsDurably(fs, options.dir));
  return std::unique_ptr<AuditLog>(new AuditLog(fs, std::move(options)));
}

bool IsTornTail(std::string_view bytes, uint64_t valid_end) {
  if (valid_end >= bytes.size()) return false;
  const uint64_t left = bytes.size() - valid_end;
  if (left < 8) return true;
  Cursor head{bytes.substr(valid_end, 4)};
  return head.U(4) > left - 8;  // the record's length runs past the end of the file
}

AuditRecord BoundedAuditRecord(const AuditRecord& r) {
  AuditRecord b = r;
  for (std::string* s : {&b.roles, &b.region, &b.interface, &b.sql, &b.tables, &b.verdict, &b.reason})
    if (s->size() > kMaxFieldBytes) *s = Bounded(*s);
  return b;
}

Result<std::string> AuditLog::SetAside(const std::string& name) const {
  const std::string to = JoinPath(o_.dir, kCorruptPrefix + (name == kCurrent ? StampedName("") : name));
  RETURN_IF_ERROR(fs_->RenameFile(JoinPath(o_.dir, name), to));
  RETURN_IF_ERROR(fs_->SyncDir(o_.dir));
  std::fprintf(stderr, "watershed: audit log %s has a corrupt record before its end; kept as %s\n",
               JoinPath(o_.dir, name).c_str(), to.c_str());
  return to;
}

Status AuditLog::Append(const AuditRecord& r) {
  const std::string record = EncodeAuditRecord(BoundedAuditRecord(r));
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(std::unique_ptr<FileLock> dir_lock, fs_->LockFile(JoinPath(o_.dir, kLock)));
  const std::string path = JoinPath(o_.dir, kCurrent);
  uint64_t size = 0;
  if (fs_->FileExists(path)) {
    ASSIGN_OR_RETURN(size, fs_->FileSize(path));
  }
  if (size != known_size_) {
    // Another process appended or flushed, or a crash left a torn record: cut the log at its last whole record.
    ASSIGN_OR_RETURN(std::string bytes, ReadIfExists(fs_, path));
    uint64_t valid = 0;
    std::vector<AuditRecord> waiting = DecodeAuditLog(bytes, &valid);
    size = valid;
    if (valid < bytes.size() && IsTornTail(bytes, valid)) {
      RETURN_IF_ERROR(fs_->Truncate(path, valid));
    } else if (valid < bytes.size()) {
      // Whole records may follow a corrupt one: nothing is cut; the log is set aside whole (its records are out of
      // `watershed audit` until a human restores them) and a fresh one started.
      ASSIGN_OR_RETURN(std::string kept, SetAside(kCurrent));
      waiting.clear();
      size = 0;
    }
    pending_rows_ = static_cast<int64_t>(waiting.size());  // every process's rows count towards a batch
    if (!waiting.empty()) oldest_pending_us_ = waiting.front().time_us;
  }
  ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> f, fs_->NewAppendableFile(path));
  Status s = f->Append(record);
  if (s.ok()) s = f->Sync();
  if (s.ok()) s = f->Close();
  if (!s.ok()) {
    // Nothing half-written may stay before the next record; the next append cuts it off otherwise.
    fs_->Truncate(path, size).IgnoreError();
    known_size_ = size;
    return Status(s.code(), "audit log " + path + ": " + s.message());
  }
  if (size == 0) RETURN_IF_ERROR(fs_->SyncDir(o_.dir));  // a new current.log: its name must survive too
  known_size_ = size + record.size();
  if (pending_rows_++ == 0) oldest_pending_us_ = NowUs();
  return Status::Ok();
}

bool AuditLog::FlushDue(int64_t now_us) const {
  std::lock_guard<std::mutex> lock(mu_);
  return sealed_waiting_ || pending_rows_ >= o_.flush_rows ||
         (pending_rows_ > 0 && now_us - oldest_pending_us_ >= o_.flush_ms * 1000);
}

Status AuditLog::FlushSealed(const std::string& name) {
  const std::string path = JoinPath(o_.dir, name);
  ASSIGN_OR_RETURN(std::string bytes, ReadWholeFile(fs_, path));
  uint64_t valid = 0;
  const std::vector<AuditRecord> records = DecodeAuditLog(bytes, &valid);
  // Only a torn tail (a crash mid-append, its query unanswered) may be dropped; a corrupt record followed by
  // more keeps the file (as corrupt-<name>) once the whole records before it are committed.
  const bool corrupt = valid < bytes.size() && !IsTornTail(bytes, valid);
  if (!records.empty()) {
    lake::TableMetadata initial;
    initial.schema = lake::IcebergSchemaOf(AuditSchema());
    initial.properties = {{"write.format.default", "parquet"}, {"write.parquet.compression-codec", "zstd"}};
    ASSIGN_OR_RETURN(lake::IcebergTable table, lake::LoadOrCreateTable(fs_, o_.table_location, initial));
    const std::string commit_id = "audit-" + name;
    if (!lake::HasCommitId(table.metadata(), commit_id)) {
      const std::string file =
          JoinPath(JoinPath(o_.table_location, "data"), name.substr(0, name.size() - 4) + ".parquet");
      ASSIGN_OR_RETURN(lake::DataFileInfo info, lake::WriteDataFile(fs_, file, AuditSchema(), Columns(records),
                                                                    records.size(), lake::ParquetWriterOptions{}, {}));
      auto committed = lake::AppendFiles(fs_, &table, {info}, commit_id);
      if (!committed.ok()) return committed.status();
    }
  }
  // Renames and deletes take the directory's lock: ReadAudit sees the sealed file and the table consistently.
  ASSIGN_OR_RETURN(std::unique_ptr<FileLock> dir_lock, fs_->LockFile(JoinPath(o_.dir, kLock)));
  if (corrupt) {
    ASSIGN_OR_RETURN(std::string kept, SetAside(name));
    return Status::Corruption("audit log " + path + " has a corrupt record at byte " + std::to_string(valid) +
                              " (not a torn tail): the " + std::to_string(records.size()) +
                              " records before it are in the table; the file is kept as " + kept);
  }
  RETURN_IF_ERROR(fs_->RemoveFile(path));
  return fs_->SyncDir(o_.dir);
}

Status AuditLog::Flush() {
  // Flushes take turns (threads on flush_mu_, processes on FLUSH): the Parquet write and the commit run under
  // these only, so appends — and every query waiting on one — are held off just for the rename below.
  std::lock_guard<std::mutex> flushing(flush_mu_);
  ASSIGN_OR_RETURN(std::unique_ptr<FileLock> flush_lock, fs_->LockFile(JoinPath(o_.dir, kFlushLock)));
  {
    std::lock_guard<std::mutex> lock(mu_);
    ASSIGN_OR_RETURN(std::unique_ptr<FileLock> dir_lock, fs_->LockFile(JoinPath(o_.dir, kLock)));
    const std::string current = JoinPath(o_.dir, kCurrent);
    if (fs_->FileExists(current)) {
      ASSIGN_OR_RETURN(uint64_t size, fs_->FileSize(current));
      if (size > 0) {
        RETURN_IF_ERROR(fs_->RenameFile(current, JoinPath(o_.dir, StampedName(kSealedPrefix))));
        RETURN_IF_ERROR(fs_->SyncDir(o_.dir));
      }
    }
    known_size_ = 0;
    pending_rows_ = 0;
    sealed_waiting_ = true;
  }
  ASSIGN_OR_RETURN(std::vector<std::string> names, fs_->ListDir(o_.dir));
  std::sort(names.begin(), names.end());
  for (const std::string& n : names)
    if (n.rfind(kSealedPrefix, 0) == 0 && n.size() > 4 && n.ends_with(".log")) RETURN_IF_ERROR(FlushSealed(n));
  std::lock_guard<std::mutex> lock(mu_);
  sealed_waiting_ = false;  // a failed flush leaves it set: FlushDue retries
  return Status::Ok();
}

bool AuditFilter::Accepts(const AuditRecord& r) const {
  return (!since_us || r.time_us >= *since_us) && (!user || r.user == *user) && (!verdict || r.verdict == *verdict);
}

Result<std::vector<AuditRecord>> ReadAudit(FileSystem* fs, const std::string& dir, const std::string& table_location,
                                           const AuditFilter& filter) {
  std::vector<AuditRecord> out;
  // Under the directory's lock, only for a moment: the local files' bytes and the table's metadata. Sealing,
  // renames and deletes take that lock and a commit never removes a sealed file, so a sealed file read here
  // either has its commit in this metadata (skipped) or not (read here); Parquet files are read after.
  const bool local = !dir.empty() && fs->FileExists(dir);
  std::vector<std::pair<std::string, std::string>> logs;  // name, bytes
  lake::TableMetadata metadata;
  std::vector<lake::ManifestEntry> files;
  {
    std::unique_ptr<FileLock> dir_lock;
    if (local) {
      ASSIGN_OR_RETURN(dir_lock, fs->LockFile(JoinPath(dir, kLock)));
      ASSIGN_OR_RETURN(std::vector<std::string> names, fs->ListDir(dir));
      std::sort(names.begin(), names.end());
      for (const std::string& n : names)
        if (n.rfind(kSealedPrefix, 0) == 0 && n.ends_with(".log")) logs.emplace_back(n, "");
      logs.emplace_back(kCurrent, "");
      for (auto& [n, bytes] : logs) {
        ASSIGN_OR_RETURN(bytes, ReadIfExists(fs, JoinPath(dir, n)));
      }
    }
    if (lake::LakeTableExists(fs, table_location)) {
      ASSIGN_OR_RETURN(lake::IcebergTable table, lake::IcebergTable::Load(fs, table_location));
      metadata = table.metadata();
      ASSIGN_OR_RETURN(files, lake::ListLiveFiles(fs, metadata));
    }
  }
  for (const lake::ManifestEntry& e : files) {
    ASSIGN_OR_RETURN(std::unique_ptr<lake::ParquetReader> r, lake::ParquetReader::Open(fs, e.file.path));
    std::vector<int> cols;
    for (const lake::ColumnSpec& c : AuditSchema()) {
      const int idx = r->ColumnIndex(c.name);
      if (idx < 0) return Status::Corruption(e.file.path + " has no column " + c.name);
      cols.push_back(idx);
    }
    for (size_t g = 0; g < r->info().row_groups.size(); ++g) {
      ASSIGN_OR_RETURN(std::vector<lake::ColumnValues> v, r->ReadRowGroup(g, cols));
      const size_t n = static_cast<size_t>(r->info().row_groups[g].num_rows);
      const auto& spec = AuditSchema();
      for (size_t i = 0; i < n; ++i) {
        std::vector<query::Value> row(spec.size());
        for (size_t c = 0; c < spec.size(); ++c) {
          if (spec[c].type == lake::PhysicalType::kInt64)
            row[c].i = v[c].ints[i];
          else
            row[c].s = v[c].ByteValue(spec[c], i);
        }
        AuditRecord a = AuditRecordOf(row);
        if (filter.Accepts(a)) out.push_back(std::move(a));
      }
    }
  }
  // Not flushed yet: sealed files (a flush cut short or under way; skipped when their commit landed) in sealing
  // order, then the current log.
  for (const auto& [n, bytes] : logs) {
    if (n != kCurrent && lake::HasCommitId(metadata, "audit-" + n)) continue;
    for (AuditRecord& r : DecodeAuditLog(bytes))
      if (filter.Accepts(r)) out.push_back(std::move(r));
  }
  return out;
}

}  // namespace watershed::gov
