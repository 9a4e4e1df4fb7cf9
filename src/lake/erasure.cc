#include "lake/erasure.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <map>
#include <set>

#include "core/crash_point.h"
#include "core/random.h"
#include "lake/file_keys.h"
#include "lake/iceberg_commit.h"
#include "lake/parquet.h"
#include "lake/row_set.h"

namespace watershed::lake {
namespace {

// Whether a row group's min/max (PLAIN INT64, 8 bytes little-endian) exclude `value`.
bool StatisticsExclude(const ColumnChunkInfo& chunk, int64_t value) {
  const auto& s = chunk.statistics;
  if (!s.min_value || !s.max_value || s.min_value->size() != 8 || s.max_value->size() != 8) return false;
  int64_t lo = 0, hi = 0;
  std::memcpy(&lo, s.min_value->data(), 8);
  std::memcpy(&hi, s.max_value->data(), 8);
  return value < lo || value > hi;
}

// Attempts at step 1 when a concurrent compaction removed an input (the
// commit refused with kFailedPrecondition): each starts over from the live files.
constexpr int kRewriteAttempts = 5;

Result<ErasureRewrite> RewriteOnce(FileSystem* fs, IcebergTable* table, const std::string& column, int64_t value,
                                   const std::string& tag) {
  const TableMetadata& m = table->metadata();
  ASSIGN_OR_RETURN(std::vector<ManifestEntry> live, ListLiveFiles(fs, m));
  ErasureRewrite out;
  const std::string run = RandomHex(8);
  std::vector<std::string> written;
  auto fail = [&](Status s) {
    RemoveUnreferencedFiles(fs, written);
    return s;
  };
  for (const ManifestEntry& e : live) {
    auto n = CountValueInFile(fs, e.file.path, column, value);
    if (!n.ok()) return fail(n.status());
    if (*n == 0) continue;
    RowSet set;
    if (Status s = set.AddFile(fs, e.file.path); !s.ok()) return fail(s);
    const int c = [&] {
      for (size_t i = 0; i < set.schema().size(); ++i)
        if (set.schema()[i].name == column) return static_cast<int>(i);
      return -1;
    }();
    std::vector<size_t> keep;
    keep.reserve(set.rows());
    for (size_t r = 0; r < set.rows(); ++r)
      if (c < 0 || set.ValueIndex(r, c) < 0 || set.Int(r, c) != value) keep.push_back(r);
    out.rows_removed += static_cast<int64_t>(set.rows() - keep.size());
    out.removed.push_back(e.file.path);
    if (keep.empty()) continue;
    // The input's order is kept: it was sorted as the table says, and a subset stays so.
    const std::string path =
        JoinPath(JoinPath(m.location, "data/erased"), run + "-" + std::to_string(out.added.size()) + ".parquet");
    written.push_back(path);
    auto w = WriteRows(fs, set, keep, m, path, e.file.partition);
    if (!w.ok()) return fail(w.status());
    w->sort_order_id = e.file.sort_order_id;
    out.added.push_back(std::move(w).value());
  }
  if (out.removed.empty()) return out;
  CrashPoint("erase.after_rewrite");
  auto committed = RewriteFiles(fs, table, out.removed, out.added, out.added.empty() ? "delete" : "overwrite",
                                "erase/" + tag + "/" + run);
  if (!committed.ok()) return fail(committed.status());
  out.committed = *committed;
  CrashPoint("erase.after_commit");
  return out;
}

// Whether an unreferenced file of the lake sink (data/sink-p<NNN>/<upto,
// 20 digits>-...) may still be committed: a sink names a file by an offset
// above what its partition had committed when it wrote it, and never commits
// a range the table's guard (watershed.sink.p<NNN>.next-offset) already
// covers. So a file named at or below the guard was committed once (and is
// unreferenced now: an expiry or compaction cut short by a crash) or repeats
// rows another owner committed: it is never committed again. Names not in
// that form may be pending.
Result<bool> SinkMayCommit(const TableMetadata& m, const std::string& path) {
  const size_t dir = path.rfind("/data/sink-p");
  const size_t slash = path.find('/', dir + 12);
  if (dir == std::string::npos || slash == std::string::npos) return true;
  const std::string_view partition(path.data() + dir + 12, slash - dir - 12);
  const std::string_view name = std::string_view(path).substr(slash + 1);
  uint64_t upto = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), upto);
  if (ec != std::errc() || end != name.data() + 20 || *end != '-' || partition.size() != 3 ||
      !std::all_of(partition.begin(), partition.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return true;
  ASSIGN_OR_RETURN(uint64_t committed,
                   CommittedRangeEnd(m, "watershed.sink.p" + std::string(partition) + ".next-offset"));
  return upto > committed;
}

}  // namespace

Result<int64_t> CountValueInFile(FileSystem* fs, const std::string& path, const std::string& column, int64_t value) {
  ASSIGN_OR_RETURN(auto reader, ParquetReader::Open(fs, path));
  const int c = reader->ColumnIndex(column);
  if (c < 0) return 0;
  const ColumnSpec& spec = reader->info().schema[c];
  if (spec.type != PhysicalType::kInt64) return Status::InvalidArgument(path + ": column " + column + " is not INT64");
  int64_t n = 0;
  for (size_t rg = 0; rg < reader->info().row_groups.size(); ++rg) {
    const RowGroupInfo& g = reader->info().row_groups[rg];
    if (static_cast<size_t>(c) < g.columns.size() && StatisticsExclude(g.columns[c], value)) continue;
    ASSIGN_OR_RETURN(std::vector<ColumnValues> v, reader->ReadRowGroup(rg, {c}));
    for (int64_t x : v[0].ints) n += x == value;
  }
  return n;
}

Result<ErasureRewrite> RewriteWithoutValue(FileSystem* fs, IcebergTable* table, const std::string& column,
                                           int64_t value, const std::string& tag) {
  for (int attempt = 1;; ++attempt) {
    auto r = RewriteOnce(fs, table, column, value, tag);
    if (r.ok() || r.status().code() != StatusCode::kFailedPrecondition || attempt >= kRewriteAttempts) return r;
    // An input went meanwhile (a compaction replaced it): start over from the table as it is now.
    ASSIGN_OR_RETURN(*table, IcebergTable::Load(fs, table->metadata().location));
  }
}

Result<ExpireResult> ExpireSnapshotsHolding(FileSystem* fs, IcebergTable* table, const std::string& column,
                                            int64_t value) {
  const TableMetadata& m = table->metadata();
  // Which data files hold the value: each read once, over every snapshot.
  std::map<std::string, bool> holds;
  auto holding = [&](const std::string& path) -> Result<bool> {
    auto it = holds.find(path);
    if (it != holds.end()) return it->second;
    bool h = false;
    if (fs->FileExists(path)) {
      ASSIGN_OR_RETURN(int64_t n, CountValueInFile(fs, path, column, value));
      h = n > 0;
    }
    holds[path] = h;
    return h;
  };
  std::set<int64_t> doomed;
  for (const IcebergSnapshot& s : m.snapshots) {
    if (m.current_snapshot_id && *m.current_snapshot_id == s.snapshot_id) continue;
    TableMetadata one = m;
    one.current_snapshot_id = s.snapshot_id;
    auto files = ListLiveFiles(fs, one);
    if (!files.ok()) {
      // Its manifest list is gone (an earlier, interrupted expiry): nothing of it is readable; expire it.
      doomed.insert(s.snapshot_id);
      continue;
    }
    for (const ManifestEntry& e : *files) {
      ASSIGN_OR_RETURN(bool h, holding(e.file.path));
      if (h) {
        doomed.insert(s.snapshot_id);
        break;
      }
    }
  }
  if (doomed.empty()) return ExpireResult{};
  ExpireOptions o;
  o.snapshot_ids = doomed;
  return ExpireSnapshots(fs, table, o);
}

Result<UnreferencedResult> RemoveUnreferencedHolding(FileSystem* fs, const std::string& table_location,
                                                     const std::string& column, int64_t value) {
  ASSIGN_OR_RETURN(IcebergTable table, IcebergTable::Load(fs, table_location));
  ASSIGN_OR_RETURN(std::set<std::string> referenced, ListReferencedFiles(fs, table.metadata()));
  std::vector<std::string> listed;
  RETURN_IF_ERROR(ListRecursively(fs, JoinPath(table_location, "data"), &listed));
  UnreferencedResult out;
  for (const std::string& p : listed) {
    if (!p.ends_with(".parquet") || referenced.count(p)) continue;
    auto n = CountValueInFile(fs, p, column, value);
    if (!n.ok()) {
      if (!fs->FileExists(p)) continue;  // gone meanwhile
      return n.status();
    }
    if (*n == 0) continue;
    if (p.find("/data/sink-p") != std::string::npos) {
      ASSIGN_OR_RETURN(bool pending, SinkMayCommit(table.metadata(), p));
      if (pending) {
        out.kept_sink_files.push_back(p);
        continue;
      }
    }
    RETURN_IF_ERROR(RemoveLakeFile(fs, p));
    out.deleted.push_back(p);
  }
  return out;
}

}  // namespace watershed::lake
