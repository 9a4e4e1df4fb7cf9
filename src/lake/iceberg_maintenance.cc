#include "lake/iceberg_maintenance.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <map>
#include <numeric>
#include <set>

#include "core/crash_point.h"
#include "core/random.h"
#include "lake/iceberg_transform.h"

namespace watershed::lake {
namespace {

constexpr int64_t kHourMs = 3'600'000;
constexpr int64_t kDayMs = 24 * kHourMs;
// Rows handed to ParquetWriter::Write at once.
constexpr size_t kWriteChunkRows = 1 << 16;

// 128 bits of FNV-1a (two offset bases) as hex: stable across builds and
// runs, unlike std::hash.
std::string StableHash(const std::vector<std::string>& parts) {
  uint64_t a = 0xcbf29ce484222325ull, b = 0x84222325cbf29ce4ull;
  auto mix = [&](unsigned char c) {
    a = (a ^ c) * 0x100000001b3ull;
    b = (b ^ c) * 0x100000001b3ull;
  };
  for (const std::string& p : parts) {
    for (char c : p) mix(static_cast<unsigned char>(c));
    mix(0);  // separator: {"ab","c"} differs from {"a","bc"}
  }
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(a),
                static_cast<unsigned long long>(b));
  return buf;
}

int64_t ParseInt(const std::map<std::string, std::string>& m, const std::string& key, int64_t fallback) {
  auto it = m.find(key);
  if (it == m.end()) return fallback;
  int64_t v = fallback;
  auto [p, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
  return ec == std::errc() && p == it->second.data() + it->second.size() ? v : fallback;
}

// ---- Rows of several Parquet files, sorted and written back -------------

// The rows of a set of Parquet files with one schema, addressed as
// (source, row); sources are row groups.
class RowSet {
 public:
  Status AddFile(FileSystem* fs, const std::string& path) {
    ASSIGN_OR_RETURN(auto reader, ParquetReader::Open(fs, path));
    const FileInfo& info = reader->info();
    if (schema_.empty()) {
      schema_ = info.schema;
      for (ColumnSpec& c : schema_) c.statistics = true;
    } else if (!SameSchema(info.schema)) {
      return Status::FailedPrecondition(path + " has another schema than the files it is merged with");
    }
    // A column without min/max in any input (personal data) gets none in the output either.
    for (const RowGroupInfo& rg : info.row_groups)
      for (size_t c = 0; c < rg.columns.size() && c < schema_.size(); ++c) {
        const ChunkStatistics& st = rg.columns[c].statistics;
        if (!st.min_value && rg.columns[c].num_values > st.null_count.value_or(0)) schema_[c].statistics = false;
      }
    std::vector<int> all(info.schema.size());
    std::iota(all.begin(), all.end(), 0);
    for (size_t rg = 0; rg < info.row_groups.size(); ++rg) {
      ASSIGN_OR_RETURN(std::vector<ColumnValues> cols, reader->ReadRowGroup(rg, all));
      Source s;
      s.rows = static_cast<size_t>(info.row_groups[rg].num_rows);
      s.index.resize(cols.size());
      for (size_t c = 0; c < cols.size(); ++c) {
        if (!schema_[c].optional) continue;
        std::vector<int32_t>& idx = s.index[c];
        idx.reserve(s.rows);
        int32_t next = 0;
        for (size_t r = 0; r < s.rows; ++r)
          idx.push_back(r < cols[c].present.size() && cols[c].present[r] ? next++ : -1);
      }
      s.columns = std::move(cols);
      const auto source = static_cast<uint32_t>(sources_.size());
      for (size_t r = 0; r < s.rows; ++r) refs_.push_back({source, static_cast<uint32_t>(r)});
      sources_.push_back(std::move(s));
    }
    return Status::Ok();
  }

  const std::vector<ColumnSpec>& schema() const { return schema_; }
  size_t rows() const { return refs_.size(); }
  int ColumnOf(int32_t field_id) const {
    for (size_t c = 0; c < schema_.size(); ++c)
      if (schema_[c].field_id == field_id) return static_cast<int>(c);
    return -1;
  }

  // Value index of row `r` in column `c`, or -1 for null.
  int64_t ValueIndex(size_t r, size_t c) const {
    const Source& s = sources_[refs_[r].source];
    if (!schema_[c].optional) return refs_[r].row;
    return s.index[c][refs_[r].row];
  }
  int64_t Int(size_t r, size_t c) const {
    return sources_[refs_[r].source].columns[c].ints[static_cast<size_t>(ValueIndex(r, c))];
  }
  double Double(size_t r, size_t c) const {
    return sources_[refs_[r].source].columns[c].doubles[static_cast<size_t>(ValueIndex(r, c))];
  }
  std::string_view Bytes(size_t r, size_t c) const {
    return sources_[refs_[r].source].columns[c].ByteValue(schema_[c], static_cast<size_t>(ValueIndex(r, c)));
  }

  // Orders `rows` (indices into this set) by the sort order; stable, so
  // equal keys keep their input order. Non-identity transforms sort by the
  // source value (monotonic for hour/day; the order is a hint to readers).
  void Sort(const std::vector<IcebergSortField>& order, std::vector<size_t>* rows) const {
    std::vector<std::pair<int, const IcebergSortField*>> keys;
    for (const IcebergSortField& f : order)
      if (int c = ColumnOf(f.source_id); c >= 0) keys.emplace_back(c, &f);
    std::stable_sort(rows->begin(), rows->end(), [&](size_t a, size_t b) {
      for (const auto& key : keys) {
        const int c = key.first;
        const IcebergSortField& f = *key.second;
        const bool na = ValueIndex(a, c) < 0, nb = ValueIndex(b, c) < 0;
        if (na || nb) {
          if (na == nb) continue;
          return na == f.nulls_first;
        }
        int cmp = 0;
        switch (schema_[c].type) {
          case PhysicalType::kInt32:
          case PhysicalType::kInt64: {
            const int64_t x = Int(a, c), y = Int(b, c);
            cmp = x < y ? -1 : x > y ? 1 : 0;
            break;
          }
          case PhysicalType::kDouble: {
            const double x = Double(a, c), y = Double(b, c);
            cmp = x < y ? -1 : x > y ? 1 : 0;
            break;
          }
          default: cmp = Bytes(a, c).compare(Bytes(b, c)); break;
        }
        if (cmp != 0) return f.ascending ? cmp < 0 : cmp > 0;
      }
      return false;
    });
  }

  // The columns of `rows` [begin, end), in that order.
  std::vector<ColumnValues> Gather(const std::vector<size_t>& rows, size_t begin, size_t end) const {
    std::vector<ColumnValues> out(schema_.size());
    for (size_t c = 0; c < schema_.size(); ++c) {
      const ColumnSpec& spec = schema_[c];
      ColumnValues& o = out[c];
      for (size_t i = begin; i < end; ++i) {
        const size_t r = rows[i];
        const bool present = ValueIndex(r, c) >= 0;
        if (spec.optional) o.present.push_back(present ? 1 : 0);
        if (!present) continue;
        switch (spec.type) {
          case PhysicalType::kInt32:
          case PhysicalType::kInt64: o.ints.push_back(Int(r, c)); break;
          case PhysicalType::kDouble: o.doubles.push_back(Double(r, c)); break;
          case PhysicalType::kByteArray:
            o.bytes += Bytes(r, c);
            o.ends.push_back(static_cast<uint32_t>(o.bytes.size()));
            break;
          case PhysicalType::kFixedLenByteArray: o.bytes += Bytes(r, c); break;
        }
      }
    }
    return out;
  }

 private:
  struct Source {
    std::vector<ColumnValues> columns;
    std::vector<std::vector<int32_t>> index;  // OPTIONAL columns: row -> value index or -1
    size_t rows = 0;
  };
  struct Ref {
    uint32_t source, row;
  };
  bool SameSchema(const std::vector<ColumnSpec>& other) const {
    if (other.size() != schema_.size()) return false;
    for (size_t c = 0; c < other.size(); ++c)
      if (other[c].name != schema_[c].name || other[c].field_id != schema_[c].field_id ||
          other[c].type != schema_[c].type || other[c].optional != schema_[c].optional ||
          other[c].type_length != schema_[c].type_length)
        return false;
    return true;
  }

  std::vector<ColumnSpec> schema_;
  std::vector<Source> sources_;
  std::vector<Ref> refs_;
};

int ZstdLevel(const TableMetadata& m) {
  return static_cast<int>(ParseInt(m.properties, "write.parquet.compression-level", 3));
}

// Writes `rows` of `set` (in that order) as one data file of `table` at `path`.
Result<DataFileInfo> WriteRows(FileSystem* fs, const RowSet& set, const std::vector<size_t>& rows,
                               const TableMetadata& table, const std::string& path,
                               std::vector<std::optional<int32_t>> partition) {
  RETURN_IF_ERROR(CreateDirsDurably(fs, DirName(path)));
  ParquetWriterOptions options;
  options.codec = Codec::kZstd;
  options.zstd_level = ZstdLevel(table);
  ASSIGN_OR_RETURN(auto writer, ParquetWriter::Create(fs, path, set.schema(), options));
  for (size_t begin = 0; begin < rows.size(); begin += kWriteChunkRows) {
    const size_t end = std::min(rows.size(), begin + kWriteChunkRows);
    RETURN_IF_ERROR(writer->Write(set.Gather(rows, begin, end), end - begin));
  }
  ASSIGN_OR_RETURN(uint64_t size, writer->Finish());
  DataFileInfo d = DescribeParquetFile(path, static_cast<int64_t>(size), writer->info(), std::move(partition));
  if (!table.sort_order.empty()) d.sort_order_id = 1;
  return d;
}

// ---- Snapshot references --------------------------------------------------

// Files a set of snapshots reaches. Manifests are read once per call.
struct References {
  std::set<std::string> lists, manifests, data;
};

// Adds what `snap` references. live_only: data files of DELETED entries
// are not counted. missing_ok: an unreadable manifest list (removed by an
// earlier, interrupted expiry) counts as empty.
Status AddReferences(FileSystem* fs, const IcebergSnapshot& snap, bool live_only, bool missing_ok, References* refs,
                     std::set<std::string>* manifests_seen) {
  refs->lists.insert(snap.manifest_list);
  auto bytes = ReadWholeFile(fs, snap.manifest_list);
  if (!bytes.ok()) {
    if (missing_ok) return Status::Ok();
    return Status(bytes.status().code(),
                  "snapshot " + std::to_string(snap.snapshot_id) + ": " + bytes.status().message());
  }
  auto list = ReadManifestList(*bytes);
  if (!list.ok()) {
    if (missing_ok) return Status::Ok();
    return Status(list.status().code(), snap.manifest_list + ": " + list.status().message());
  }
  for (const ManifestFileInfo& mf : *list) {
    refs->manifests.insert(mf.path);
    if (!manifests_seen->insert(mf.path).second) continue;
    auto entries = ReadManifestEntries(fs, mf);
    if (!entries.ok()) {
      if (missing_ok) continue;
      return entries.status();
    }
    for (const ManifestEntry& e : *entries)
      if (!live_only || e.live()) refs->data.insert(e.file.path);
  }
  return Status::Ok();
}

// The files only `expired` snapshots reach: not listed (live) by any of `kept`.
Result<std::vector<std::string>> FilesOnlyReachedBy(FileSystem* fs, const std::vector<IcebergSnapshot>& expired,
                                                    const std::vector<IcebergSnapshot>& kept) {
  References keep, gone;
  std::set<std::string> seen_keep, seen_gone;
  for (const IcebergSnapshot& s : kept) RETURN_IF_ERROR(AddReferences(fs, s, true, false, &keep, &seen_keep));
  for (const IcebergSnapshot& s : expired) RETURN_IF_ERROR(AddReferences(fs, s, false, true, &gone, &seen_gone));
  std::vector<std::string> out;
  // Data files first, then manifests, then lists: an interrupted run leaves
  // the lists that still lead to what remains.
  for (const std::string& d : gone.data)
    if (!keep.data.count(d)) out.push_back(d);
  for (const std::string& m : gone.manifests)
    if (!keep.manifests.count(m)) out.push_back(m);
  for (const std::string& l : gone.lists)
    if (!keep.lists.count(l)) out.push_back(l);
  return out;
}

// ---- Partition time ------------------------------------------------------

// [start, end) in ms of a file's time partition (the first hour/day field).
std::optional<std::pair<int64_t, int64_t>> PartitionTimeRange(const TableMetadata& m, const DataFileInfo& f) {
  for (size_t p = 0; p < m.partition_spec.size() && p < f.partition.size(); ++p) {
    const std::string& t = m.partition_spec[p].transform;
    const int64_t unit = t == "hour" ? kHourMs : t == "day" ? kDayMs : 0;
    if (unit == 0) continue;
    if (!f.partition[p]) return std::nullopt;
    const int64_t start = static_cast<int64_t>(*f.partition[p]) * unit;
    return std::make_pair(start, start + unit);
  }
  return std::nullopt;
}

// The partition value of `row` for one partition field (transforms our
// tables use: identity, hour, day, bucket[N]).
Result<std::optional<int32_t>> PartitionValue(const RowSet& set, size_t row, const IcebergPartitionField& f) {
  const int c = set.ColumnOf(f.source_id);
  if (c < 0)
    return Status::InvalidArgument("partition source field " + std::to_string(f.source_id) + " not in the data");
  if (set.ValueIndex(row, c) < 0) return std::optional<int32_t>();
  const ColumnSpec& spec = set.schema()[c];
  const bool integer = spec.type == PhysicalType::kInt32 || spec.type == PhysicalType::kInt64;
  if (f.transform == "identity" && integer) return std::optional<int32_t>(static_cast<int32_t>(set.Int(row, c)));
  if (f.transform == "hour" && integer) return std::optional<int32_t>(iceberg::HourFromMicros(set.Int(row, c)));
  if (f.transform == "day" && integer) return std::optional<int32_t>(iceberg::DayFromMicros(set.Int(row, c)));
  if (f.transform.starts_with("bucket[") && f.transform.ends_with("]")) {
    int32_t n = 0;
    const std::string_view digits(f.transform.data() + 7, f.transform.size() - 8);
    std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (n > 0) {
      int32_t hash = 0;
      if (integer) {
        hash = iceberg::HashLong(set.Int(row, c));
      } else if (spec.logical == LogicalType::kString) {
        hash = iceberg::HashString(set.Bytes(row, c));
      } else {
        hash = iceberg::HashBytes(set.Bytes(row, c));
      }
      return std::optional<int32_t>(iceberg::Bucket(n, hash));
    }
  }
  return Status::InvalidArgument("partition transform " + f.transform + " of " + spec.name + " is not supported");
}

}  // namespace

Result<std::set<std::string>> ListReferencedFiles(FileSystem* fs, const TableMetadata& metadata) {
  References refs;
  std::set<std::string> seen;
  for (const IcebergSnapshot& s : metadata.snapshots) RETURN_IF_ERROR(AddReferences(fs, s, false, false, &refs, &seen));
  return std::move(refs.data);
}

int64_t TargetFileSize(const TableMetadata& metadata) {
  const int64_t v = ParseInt(metadata.properties, "write.target-file-size-bytes", kDefaultTargetFileSize);
  return v > 0 ? v : kDefaultTargetFileSize;
}

// ---- Compaction -------------------------------------------------------------

int64_t CompactionHorizonMs(LakeTableId id, int64_t now_ms) {
  return now_ms - (SpecOf(id).keep_days - 1) * kDayMs;
}

Result<CompactionResult> CompactTable(FileSystem* fs, IcebergTable* table, const CompactionOptions& options) {
  const TableMetadata& m = table->metadata();
  const int64_t target = options.target_file_size_bytes.value_or(TargetFileSize(m));
  ASSIGN_OR_RETURN(std::vector<ManifestEntry> live, ListLiveFiles(fs, m));

  std::map<std::vector<std::optional<int32_t>>, std::vector<DataFileInfo>> by_partition;
  for (ManifestEntry& e : live) {
    if (e.file.file_size_in_bytes >= target) continue;
    if (options.skip_ended_before_ms) {
      auto range = PartitionTimeRange(m, e.file);
      if (range && range->second <= *options.skip_ended_before_ms) continue;
    }
    by_partition[e.file.partition].push_back(std::move(e.file));
  }

  CompactionResult result;
  for (auto& entry : by_partition) {
    std::vector<DataFileInfo>& files = entry.second;
    std::sort(files.begin(), files.end(), [](const DataFileInfo& a, const DataFileInfo& b) {
      return a.file_size_in_bytes != b.file_size_in_bytes ? a.file_size_in_bytes > b.file_size_in_bytes
                                                          : a.path < b.path;
    });
    std::vector<CompactionGroup> bins;
    for (DataFileInfo& f : files) {
      auto fit = std::find_if(bins.begin(), bins.end(),
                              [&](const CompactionGroup& g) { return g.input_bytes + f.file_size_in_bytes <= target; });
      if (fit == bins.end()) {
        bins.emplace_back();
        bins.back().partition = entry.first;
        fit = bins.end() - 1;
      }
      fit->input_bytes += f.file_size_in_bytes;
      fit->input_rows += f.record_count;
      fit->inputs.push_back(std::move(f));
    }
    for (CompactionGroup& g : bins)
      if (g.inputs.size() >= 2) result.groups.push_back(std::move(g));
  }
  if (options.dry_run || result.groups.empty()) return result;

  int64_t total = 0, done = 0;
  for (const CompactionGroup& g : result.groups) total += g.input_bytes;
  const std::string run = RandomHex(8);
  std::vector<std::string> outputs, inputs;
  std::vector<DataFileInfo> added;
  auto fail = [&](Status s) {
    RemoveUnreferencedFiles(fs, outputs);
    return s;
  };
  for (size_t i = 0; i < result.groups.size(); ++i) {
    CompactionGroup& g = result.groups[i];
    RowSet rows;
    Status read;
    for (const DataFileInfo& f : g.inputs) {
      read = rows.AddFile(fs, f.path);
      done += f.file_size_in_bytes;
      if (options.progress) options.progress(done, total);
      if (!read.ok()) break;
    }
    if (!read.ok()) {
      // A damaged or missing file: its group stays as it is (the error names
      // the file); the other groups are still compacted.
      if (read.code() != StatusCode::kCorruption && read.code() != StatusCode::kIoError) return fail(read);
      g.error = read.ToString();
      continue;
    }
    for (const DataFileInfo& f : g.inputs) inputs.push_back(f.path);
    std::vector<size_t> order(rows.rows());
    std::iota(order.begin(), order.end(), 0);
    rows.Sort(m.sort_order, &order);
    const std::string path =
        JoinPath(JoinPath(m.location, "data/compacted"), run + "-" + std::to_string(i) + ".parquet");
    outputs.push_back(path);
    auto written = WriteRows(fs, rows, order, m, path, g.partition);
    if (!written.ok()) return fail(written.status());
    g.output = *written;
    added.push_back(std::move(written).value());
  }
  if (added.empty()) return result;  // every group had an unreadable file
  auto committed = RewriteFiles(fs, table, inputs, added, "replace", "compact/" + run);
  if (!committed.ok()) return fail(committed.status());
  result.committed = *committed;
  return result;
}

// ---- Snapshot expiry --------------------------------------------------------

Result<ExpireResult> ExpireSnapshots(FileSystem* fs, IcebergTable* table, const ExpireOptions& options) {
  const TableMetadata& m = table->metadata();
  std::vector<const IcebergSnapshot*> newest_first;
  for (const IcebergSnapshot& s : m.snapshots) newest_first.push_back(&s);
  std::sort(newest_first.begin(), newest_first.end(),
            [](const IcebergSnapshot* a, const IcebergSnapshot* b) { return a->sequence_number > b->sequence_number; });
  std::set<int64_t> expired;
  for (size_t i = 0; i < newest_first.size(); ++i) {
    const IcebergSnapshot& s = *newest_first[i];
    if (static_cast<int64_t>(i) < std::max(options.retain_last, 1)) continue;
    if (m.current_snapshot_id && s.snapshot_id == *m.current_snapshot_id) continue;
    if (s.timestamp_ms >= options.older_than_ms) continue;
    expired.insert(s.snapshot_id);
  }
  ExpireResult result;
  if (expired.empty()) return result;

  auto split = [&](const TableMetadata& md, std::vector<IcebergSnapshot>* gone, std::vector<IcebergSnapshot>* kept) {
    for (const IcebergSnapshot& s : md.snapshots) (expired.count(s.snapshot_id) ? gone : kept)->push_back(s);
  };
  if (options.dry_run) {
    std::vector<IcebergSnapshot> gone, kept;
    split(m, &gone, &kept);
    for (const IcebergSnapshot& s : gone) result.expired_snapshot_ids.push_back(s.snapshot_id);
    ASSIGN_OR_RETURN(result.deleted_files, FilesOnlyReachedBy(fs, gone, kept));
    return result;
  }

  std::vector<IcebergSnapshot> gone;
  RETURN_IF_ERROR(table->Commit([&](TableMetadata& md) -> Status {
    gone.clear();
    std::vector<IcebergSnapshot> kept;
    for (IcebergSnapshot& s : md.snapshots) {
      const bool current = md.current_snapshot_id && *md.current_snapshot_id == s.snapshot_id;
      (expired.count(s.snapshot_id) && !current ? gone : kept).push_back(std::move(s));
    }
    md.snapshots = std::move(kept);
    // The log must stay a history without gaps: keep what follows the last
    // entry of a dropped snapshot.
    std::set<int64_t> remaining;
    for (const IcebergSnapshot& s : md.snapshots) remaining.insert(s.snapshot_id);
    auto last_gone = std::find_if(md.snapshot_log.rbegin(), md.snapshot_log.rend(),
                                  [&](const std::pair<int64_t, int64_t>& e) { return !remaining.count(e.second); });
    md.snapshot_log.erase(md.snapshot_log.begin(), last_gone.base());
    return Status::Ok();
  }));
  for (const IcebergSnapshot& s : gone) result.expired_snapshot_ids.push_back(s.snapshot_id);
  // What the published metadata keeps (including commits that raced ours).
  ASSIGN_OR_RETURN(result.deleted_files, FilesOnlyReachedBy(fs, gone, table->metadata().snapshots));
  for (const std::string& p : result.deleted_files) {
    if (!fs->FileExists(p)) continue;  // an earlier, interrupted run
    RETURN_IF_ERROR(fs->RemoveFile(p));
  }
  return result;
}

// ---- Orphan files -----------------------------------------------------------

namespace {

std::string Normal(const std::string& path) {
  std::string n = std::filesystem::path(path).lexically_normal().string();
  while (n.size() > 1 && n.back() == '/') n.pop_back();
  return n;
}

// Every file under `dir` (recursively); a missing dir has none.
Status ListRecursively(FileSystem* fs, const std::string& dir, std::vector<std::string>* out) {
  auto names = fs->ListDir(dir);
  if (!names.ok()) return fs->FileExists(dir) ? names.status() : Status::Ok();
  for (const std::string& name : *names) {
    const std::string path = JoinPath(dir, name);
    if (fs->ListDir(path).ok()) {
      RETURN_IF_ERROR(ListRecursively(fs, path, out));
    } else {
      out->push_back(path);
    }
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<std::string>> RemoveOrphanFiles(FileSystem* fs, const std::string& table_location,
                                                   const OrphanOptions& options) {
  ASSIGN_OR_RETURN(IcebergTable table, IcebergTable::Load(fs, table_location));
  const TableMetadata& m = table.metadata();
  if (Normal(m.location) != Normal(table_location))
    return Status::FailedPrecondition("table metadata under " + table_location + " names location " + m.location +
                                      ": its file paths would not match the listing");
  References refs;
  std::set<std::string> seen;
  for (const IcebergSnapshot& s : m.snapshots) RETURN_IF_ERROR(AddReferences(fs, s, false, false, &refs, &seen));
  std::set<std::string> keep;
  for (const auto* set : {&refs.lists, &refs.manifests, &refs.data})
    for (const std::string& p : *set) keep.insert(Normal(p));
  keep.insert(Normal(table.MetadataPath(table.version())));
  for (const auto& entry : m.metadata_log) keep.insert(Normal(entry.second));
  keep.insert(Normal(JoinPath(JoinPath(table_location, "metadata"), "version-hint.text")));

  std::vector<std::string> listed;
  RETURN_IF_ERROR(ListRecursively(fs, JoinPath(table_location, "data"), &listed));
  RETURN_IF_ERROR(ListRecursively(fs, JoinPath(table_location, "metadata"), &listed));
  std::set<std::string> listed_normal;
  for (const std::string& p : listed) listed_normal.insert(Normal(p));
  // A listing that misses the current snapshot's own files means paths and
  // directory disagree: every file would look orphaned.
  ASSIGN_OR_RETURN(std::vector<ManifestEntry> live, ListLiveFiles(fs, m));
  for (const ManifestEntry& e : live)
    if (!listed_normal.count(Normal(e.file.path)))
      return Status::FailedPrecondition("live data file " + e.file.path + " is not under " + table_location +
                                        "; refusing to remove orphans");

  std::vector<std::string> orphans;
  for (const std::string& p : listed) {
    const std::string n = Normal(p);
    if (keep.count(n)) continue;
    // The lake sink's own directories: an unreferenced file there belongs to
    // a commit a checkpoint prepared (a partition down for days must still
    // find it) or is a crash leftover its recovery removes (lake_sink.h).
    if (n.find("/data/sink-p") != std::string::npos) continue;
    const std::string name = n.substr(n.find_last_of('/') + 1);
    // A newer metadata version (a commit after our load) is the table's.
    if (name.starts_with("v") && name.ends_with(".metadata.json")) {
      int64_t v = 0;
      const std::string_view digits(name.data() + 1, name.size() - 1 - std::string_view(".metadata.json").size());
      auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
      if (ec == std::errc() && end == digits.data() + digits.size() && v >= table.version()) continue;
    }
    auto mtime = fs->ModifiedTimeMs(p);
    if (!mtime.ok()) continue;  // gone meanwhile
    if (*mtime >= options.older_than_ms) continue;
    orphans.push_back(p);
  }
  std::sort(orphans.begin(), orphans.end());
  if (!options.dry_run)
    for (const std::string& p : orphans)
      if (fs->FileExists(p)) RETURN_IF_ERROR(fs->RemoveFile(p));
  return orphans;
}

// ---- Lifecycle --------------------------------------------------------------

namespace {

// Rewrites `files` (of `source`) into `archive`: rows split by the
// archive's partition spec, sorted by its order, one file per partition.
Result<std::vector<DataFileInfo>> WriteArchive(FileSystem* fs, const std::vector<DataFileInfo>& files,
                                               const TableMetadata& archive, const std::string& name) {
  RowSet rows;
  for (const DataFileInfo& f : files) RETURN_IF_ERROR(rows.AddFile(fs, f.path));
  std::map<std::vector<std::optional<int32_t>>, std::vector<size_t>> by_partition;
  for (size_t r = 0; r < rows.rows(); ++r) {
    std::vector<std::optional<int32_t>> key;
    for (const IcebergPartitionField& p : archive.partition_spec) {
      ASSIGN_OR_RETURN(std::optional<int32_t> v, PartitionValue(rows, r, p));
      key.push_back(v);
    }
    by_partition[key].push_back(r);
  }
  std::vector<DataFileInfo> out;
  std::vector<std::string> written;
  size_t i = 0;
  for (auto& entry : by_partition) {
    rows.Sort(archive.sort_order, &entry.second);
    const std::string path =
        JoinPath(JoinPath(archive.location, "data/lifecycle"), name + "-" + std::to_string(i++) + ".parquet");
    auto d = WriteRows(fs, rows, entry.second, archive, path, entry.first);
    if (!d.ok()) {
      RemoveUnreferencedFiles(fs, written);
      return d.status();
    }
    written.push_back(path);
    out.push_back(std::move(d).value());
  }
  return out;
}

// The data files `commit_id` added to the table (its snapshot's ADDED entries).
Result<std::vector<std::string>> FilesAddedBy(FileSystem* fs, const TableMetadata& m, const std::string& commit_id) {
  std::vector<std::string> out;
  for (const IcebergSnapshot& s : m.snapshots) {
    auto it = s.summary.find(kCommitIdKey);
    if (it == s.summary.end() || it->second != commit_id) continue;
    ASSIGN_OR_RETURN(std::string bytes, ReadWholeFile(fs, s.manifest_list));
    ASSIGN_OR_RETURN(std::vector<ManifestFileInfo> list, ReadManifestList(bytes));
    for (const ManifestFileInfo& mf : list) {
      if (mf.added_snapshot_id != s.snapshot_id) continue;
      ASSIGN_OR_RETURN(std::vector<ManifestEntry> entries, ReadManifestEntries(fs, mf));
      for (const ManifestEntry& e : entries)
        if (e.status == EntryStatus::kAdded && e.snapshot_id == s.snapshot_id) out.push_back(e.file.path);
    }
  }
  return out;
}

}  // namespace

Result<std::vector<LifecycleBatch>> ApplyLifecycle(FileSystem* fs, const std::string& lake_root, Region region,
                                                   int64_t now_ms, const LifecycleOptions& options) {
  std::vector<LifecycleBatch> batches;
  for (int t = 0; t < kLakeTableCount; ++t) {
    const LakeTableId id = static_cast<LakeTableId>(t);
    if (options.only && *options.only != id) continue;
    const LakeTableSpec& spec = SpecOf(id);
    const std::string location = TableLocation(lake_root, region, id);
    if (!LakeTableExists(fs, location)) continue;  // not created yet
    ASSIGN_OR_RETURN(IcebergTable source, IcebergTable::Load(fs, location));
    const int64_t cutoff = now_ms - spec.keep_days * kDayMs;
    ASSIGN_OR_RETURN(std::vector<ManifestEntry> live, ListLiveFiles(fs, source.metadata()));

    if (!spec.archive) {
      LifecycleBatch b{id, std::nullopt, {}, {}, {}, false};
      for (ManifestEntry& e : live) {
        auto range = PartitionTimeRange(source.metadata(), e.file);
        if (range && range->second <= cutoff) b.files.push_back(std::move(e.file));
      }
      if (b.files.empty()) continue;
      std::vector<std::string> paths;
      for (const DataFileInfo& f : b.files) paths.push_back(f.path);
      std::sort(paths.begin(), paths.end());
      b.commit_id = std::string("lifecycle-delete/") + spec.name + "/" + StableHash(paths);
      if (!options.dry_run) {
        auto deleted = RewriteFiles(fs, &source, paths, {}, "delete", b.commit_id);
        if (!deleted.ok()) return deleted.status();
      }
      batches.push_back(std::move(b));
      continue;
    }

    // Whole archive days only: a rerun then sees the same files (no more
    // arrive for a day that has passed keep_days).
    std::map<int64_t, std::vector<DataFileInfo>> by_day;
    for (ManifestEntry& e : live) {
      auto range = PartitionTimeRange(source.metadata(), e.file);
      if (!range) continue;
      const int64_t day = range->first >= 0 ? range->first / kDayMs : (range->first - kDayMs + 1) / kDayMs;
      if ((day + 1) * kDayMs <= cutoff) by_day[day].push_back(std::move(e.file));
    }
    if (by_day.empty()) continue;
    IcebergTable* archive = nullptr;
    std::optional<IcebergTable> archive_table;
    if (!options.dry_run) {
      ASSIGN_OR_RETURN(IcebergTable a,
                       LoadOrCreateLakeTable(fs, TableLocation(lake_root, region, *spec.archive), *spec.archive));
      archive_table.emplace(std::move(a));
      archive = &*archive_table;
    }
    // Runs of at most the archive's target size, in path order (deterministic).
    int64_t target = kDefaultTargetFileSize;
    if (archive) target = TargetFileSize(archive->metadata());
    int64_t total = 0, done = 0;
    for (const auto& day : by_day)
      for (const DataFileInfo& f : day.second) total += f.file_size_in_bytes;
    for (auto& day : by_day) {
      std::vector<DataFileInfo>& files = day.second;
      std::sort(files.begin(), files.end(),
                [](const DataFileInfo& a, const DataFileInfo& b) { return a.path < b.path; });
      std::vector<std::vector<DataFileInfo>> runs(1);
      int64_t run_bytes = 0;
      for (DataFileInfo& f : files) {
        if (!runs.back().empty() && run_bytes + f.file_size_in_bytes > target) {
          runs.emplace_back();
          run_bytes = 0;
        }
        run_bytes += f.file_size_in_bytes;
        runs.back().push_back(std::move(f));
      }
      for (std::vector<DataFileInfo>& run : runs) {
        LifecycleBatch b{id, spec.archive, std::move(run), {}, {}, false};
        std::vector<std::string> paths;
        for (const DataFileInfo& f : b.files) paths.push_back(f.path);
        const std::string hash = StableHash(paths);
        b.commit_id = std::string("lifecycle/") + spec.name + "/" + hash;
        const std::string undo_id = std::string("lifecycle-undo/") + spec.name + "/" + hash;
        if (!options.dry_run) {
          if (HasCommitId(archive->metadata(), undo_id))
            return Status::FailedPrecondition("lifecycle batch " + b.commit_id +
                                              " was archived and undone before; not archiving it again");
          b.archive_already_committed = HasCommitId(archive->metadata(), b.commit_id);
          if (!b.archive_already_committed) {
            ASSIGN_OR_RETURN(b.archived, WriteArchive(fs, b.files, archive->metadata(), hash));
            auto appended = AppendFiles(fs, archive, b.archived, b.commit_id);
            std::vector<std::string> written;
            for (const DataFileInfo& f : b.archived) written.push_back(f.path);
            if (!appended.ok()) {
              RemoveUnreferencedFiles(fs, written);
              return appended.status();
            }
            if (!*appended) {  // landed meanwhile (another run): ours are duplicates
              RemoveUnreferencedFiles(fs, written);
              b.archived.clear();
              b.archive_already_committed = true;
            }
          }
          CrashPoint("lake.lifecycle.after_archive_commit");
          if (options.after_archive_commit) RETURN_IF_ERROR(options.after_archive_commit());
          auto deleted =
              RewriteFiles(fs, &source, paths, {}, "delete", "lifecycle-delete/" + std::string(spec.name) + "/" + hash);
          if (!deleted.ok()) {
            if (deleted.status().code() != StatusCode::kFailedPrecondition) return deleted.status();
            // Some source files were replaced meanwhile (a compaction): their
            // rows live on in other files, so the archive copy would become a
            // duplicate. Take it back; a later run archives the new files.
            ASSIGN_OR_RETURN(std::vector<std::string> added, FilesAddedBy(fs, archive->metadata(), b.commit_id));
            auto undone = RewriteFiles(fs, archive, added, {}, "delete", undo_id);
            if (!undone.ok())
              return Status(undone.status().code(),
                            deleted.status().message() +
                                "; taking back the archive commit failed too: " + undone.status().message());
            return deleted.status();
          }
        }
        for (const DataFileInfo& f : b.files) done += f.file_size_in_bytes;
        if (options.progress) options.progress(done, total);
        batches.push_back(std::move(b));
      }
    }
  }
  return batches;
}

Result<MaintenanceReport> RunMaintenanceRound(FileSystem* fs, const std::string& lake_root, Region region,
                                              int64_t now_ms, const MaintenanceSchedule& schedule) {
  MaintenanceReport report;
  Status first;
  auto note = [&](const Status& s, const std::string& what) {
    if (!s.ok() && first.ok()) first = Status(s.code(), what + ": " + s.message());
  };
  auto each_table = [&](const std::function<Status(LakeTableId, IcebergTable&)>& fn) {
    for (int t = 0; t < kLakeTableCount; ++t) {
      const auto id = static_cast<LakeTableId>(t);
      const std::string location = TableLocation(lake_root, region, id);
      if (!LakeTableExists(fs, location)) continue;
      auto table = IcebergTable::Load(fs, location);
      note(table.ok() ? fn(id, *table) : table.status(), location);
    }
  };
  each_table([&](LakeTableId id, IcebergTable& table) -> Status {
    CompactionOptions c;
    c.skip_ended_before_ms = CompactionHorizonMs(id, now_ms);
    ASSIGN_OR_RETURN(CompactionResult r, CompactTable(fs, &table, c));
    Status unreadable;  // reported after the other groups landed
    for (const CompactionGroup& g : r.groups) {
      if (!g.error.empty()) {
        if (unreadable.ok()) unreadable = Status::Corruption(g.error);
        continue;
      }
      report.compacted_files += static_cast<int64_t>(g.inputs.size());
      ++report.compaction_outputs;
    }
    return unreadable;
  });
  auto batches = ApplyLifecycle(fs, lake_root, region, now_ms, {});
  if (batches.ok()) {
    report.lifecycle_batches = static_cast<int64_t>(batches->size());
  } else {
    note(batches.status(), std::string(RegionName(region)) + " lifecycle");
  }
  each_table([&](LakeTableId, IcebergTable& table) -> Status {
    ASSIGN_OR_RETURN(
        ExpireResult r,
        ExpireSnapshots(fs, &table, {now_ms - schedule.snapshot_retention_ms, schedule.retain_last, false}));
    report.expired_snapshots += static_cast<int64_t>(r.expired_snapshot_ids.size());
    report.deleted_files += static_cast<int64_t>(r.deleted_files.size());
    ASSIGN_OR_RETURN(std::vector<std::string> orphans,
                     RemoveOrphanFiles(fs, table.metadata().location, {now_ms - schedule.orphan_age_ms, false}));
    report.removed_orphans += static_cast<int64_t>(orphans.size());
    return Status::Ok();
  });
  if (!first.ok()) return first;
  return report;
}

}  // namespace watershed::lake
