#include "lake/iceberg_commit.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <set>

#include "core/crash_point.h"
#include "core/endian.h"
#include "core/random.h"
#include "lake/file_keys.h"
#include "lake/iceberg_transform.h"

namespace watershed::lake {
namespace {

// Manifests smaller than this are merged into one by every rewrite.
constexpr int64_t kMergeManifestsBelowBytes = 1 << 20;

std::string Le32(int32_t v) {
  char b[4];
  PutFixed32(b, static_cast<uint32_t>(v));
  return std::string(b, 4);
}

// The manifest list entry of a manifest a commit writes. `sequence` is the
// attempt's (a manifest written once for every attempt gets it per attempt).
ManifestFileInfo Summarize(std::string path, int64_t length, int64_t snapshot_id, int64_t sequence,
                           const std::vector<ManifestEntry>& entries, size_t partition_fields) {
  ManifestFileInfo m;
  m.path = std::move(path);
  m.length = length;
  m.added_snapshot_id = snapshot_id;
  m.sequence_number = sequence;
  m.min_sequence_number = sequence;
  std::vector<std::pair<std::optional<int32_t>, std::optional<int32_t>>> range(partition_fields);
  m.partitions.resize(partition_fields);
  for (const ManifestEntry& e : entries) {
    switch (e.status) {
      case EntryStatus::kAdded:
        ++m.added_files_count;
        m.added_rows_count += e.file.record_count;
        break;
      case EntryStatus::kExisting:
        ++m.existing_files_count;
        m.existing_rows_count += e.file.record_count;
        break;
      case EntryStatus::kDeleted:
        ++m.deleted_files_count;
        m.deleted_rows_count += e.file.record_count;
        break;
    }
    if (e.live() && e.sequence_number) m.min_sequence_number = std::min(m.min_sequence_number, *e.sequence_number);
    for (size_t p = 0; p < range.size() && p < e.file.partition.size(); ++p) {
      const auto& v = e.file.partition[p];
      if (!v) {
        m.partitions[p].contains_null = true;
        continue;
      }
      auto& [lo, hi] = range[p];
      lo = lo ? std::min(*lo, *v) : *v;
      hi = hi ? std::max(*hi, *v) : *v;
    }
  }
  for (size_t p = 0; p < range.size(); ++p) {
    if (range[p].first) m.partitions[p].lower_bound = Le32(*range[p].first);
    if (range[p].second) m.partitions[p].upper_bound = Le32(*range[p].second);
  }
  return m;
}

// ADDED entries of `snapshot_id` with inherited sequence numbers.
std::vector<ManifestEntry> AddedEntries(int64_t snapshot_id, const std::vector<DataFileInfo>& files) {
  std::vector<ManifestEntry> entries;
  entries.reserve(files.size());
  for (const DataFileInfo& f : files)
    entries.push_back({EntryStatus::kAdded, snapshot_id, std::nullopt, std::nullopt, f});
  return entries;
}

struct FileTotals {
  int64_t files = 0, records = 0, bytes = 0;
  void Add(const DataFileInfo& f) {
    ++files;
    records += f.record_count;
    bytes += f.file_size_in_bytes;
  }
  FileTotals& operator+=(const FileTotals& o) {
    files += o.files;
    records += o.records;
    bytes += o.bytes;
    return *this;
  }
};

FileTotals TotalsOf(const std::vector<DataFileInfo>& files) {
  FileTotals t;
  for (const DataFileInfo& f : files) t.Add(f);
  return t;
}

// The totals the current snapshot's summary states; a missing or unreadable
// one (another writer's table) counts as 0.
FileTotals CurrentTotals(const TableMetadata& m) {
  std::map<std::string, std::string> summary;
  for (const IcebergSnapshot& snap : m.snapshots)
    if (m.current_snapshot_id && snap.snapshot_id == *m.current_snapshot_id) summary = snap.summary;
  auto total = [&](const char* key) {
    int64_t v = 0;
    if (auto it = summary.find(key); it != summary.end())
      std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
    return v;
  };
  return {total("total-data-files"), total("total-records"), total("total-files-size")};
}

// A snapshot's summary (Iceberg spec, "Snapshot Summary"): what it added,
// what it deleted (rewrites only), the table's totals after it, and our
// commit id. The lake never writes delete files.
std::map<std::string, std::string> SnapshotSummary(const std::string& operation, const std::string& commit_id,
                                                   const FileTotals& added, const std::optional<FileTotals>& deleted,
                                                   const FileTotals& total) {
  std::map<std::string, std::string> s = {{"operation", operation},
                                          {"added-data-files", std::to_string(added.files)},
                                          {"added-records", std::to_string(added.records)},
                                          {"added-files-size", std::to_string(added.bytes)},
                                          {"total-data-files", std::to_string(total.files)},
                                          {"total-records", std::to_string(total.records)},
                                          {"total-files-size", std::to_string(total.bytes)},
                                          {"total-delete-files", "0"},
                                          {"total-position-deletes", "0"},
                                          {"total-equality-deletes", "0"},
                                          {kCommitIdKey, commit_id}};
  if (deleted) {
    s["deleted-data-files"] = std::to_string(deleted->files);
    s["deleted-records"] = std::to_string(deleted->records);
    s["removed-files-size"] = std::to_string(deleted->bytes);
  }
  return s;
}

int64_t NewSnapshotId(const TableMetadata& m) {
  int64_t id = 0;
  do {
    uint64_t r = 0;
    RandomBytes(&r, sizeof r);
    id = static_cast<int64_t>(r >> 1);
  } while (id == 0 || std::any_of(m.snapshots.begin(), m.snapshots.end(),
                                  [&](const IcebergSnapshot& s) { return s.snapshot_id == id; }));
  return id;
}

Result<ManifestFileInfo> WriteNewManifest(FileSystem* fs, const TableMetadata& m, int64_t snapshot_id, int64_t sequence,
                                          const std::vector<ManifestEntry>& entries) {
  ASSIGN_OR_RETURN(std::string bytes, WriteManifestEntries(m, entries));
  const std::string path = JoinPath(JoinPath(m.location, "metadata"), RandomHex(16) + "-m0.avro");
  RETURN_IF_ERROR(WriteFileAtomically(fs, path, bytes));
  return Summarize(path, static_cast<int64_t>(bytes.size()), snapshot_id, sequence, entries, m.partition_spec.size());
}

}  // namespace

bool HasCommitId(const TableMetadata& m, const std::string& commit_id) {
  return std::any_of(m.snapshots.begin(), m.snapshots.end(), [&](const IcebergSnapshot& s) {
    auto it = s.summary.find(kCommitIdKey);
    return it != s.summary.end() && it->second == commit_id;
  });
}

Result<uint64_t> CommittedRangeEnd(const TableMetadata& m, const std::string& key) {
  auto it = m.properties.find(key);
  if (it == m.properties.end()) return uint64_t{0};
  const std::string& v = it->second;
  uint64_t end = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), end);
  if (ec != std::errc() || p != v.data() + v.size() || v.empty())
    return Status::Corruption(m.location + ": table property " + key + " = \"" + v + "\" is not an offset");
  return end;
}

void RemoveUnreferencedFiles(FileSystem* fs, const std::vector<std::string>& paths) {
  for (const std::string& p : paths) RemoveLakeFile(fs, p).IgnoreError();  // with a data file's key sidecar
}

// ---- Append -------------------------------------------------------------------

Result<bool> AppendFiles(FileSystem* fs, IcebergTable* table, const std::vector<DataFileInfo>& files,
                         const std::string& commit_id, const std::optional<RangeGuard>& guard) {
  auto committed = [&](const TableMetadata& m) -> Result<bool> {
    if (HasCommitId(m, commit_id)) return true;
    if (!guard) return false;
    ASSIGN_OR_RETURN(uint64_t end, CommittedRangeEnd(m, guard->key));
    return end >= guard->to;
  };
  ASSIGN_OR_RETURN(bool landed, committed(table->metadata()));
  if (landed) return false;
  // A file removed meanwhile (an owner's recovery after this writer lost its
  // partition) must not be committed: the table would name a missing file.
  for (const DataFileInfo& f : files)
    if (!fs->FileExists(f.path))
      return Status::FailedPrecondition("data file " + f.path + " is gone; commit " + commit_id + " refused");

  // The snapshot id and the files' names derive from the commit id, so a
  // replay after a crash rewrites the same manifest instead of orphaning one,
  // and finds the manifest lists of the crashed attempt by name.
  int64_t snapshot_id = 0;
  for (uint32_t seed = 0;
       snapshot_id == 0 || std::any_of(table->metadata().snapshots.begin(), table->metadata().snapshots.end(),
                                       [&](const IcebergSnapshot& s) { return s.snapshot_id == snapshot_id; });
       seed += 2) {
    snapshot_id = static_cast<int64_t>((uint64_t{iceberg::Murmur3X86_32(commit_id, seed)} << 31) ^
                                       iceberg::Murmur3X86_32(commit_id, seed + 1));
  }
  const std::string metadata_dir = JoinPath(table->metadata().location, "metadata");
  const std::string list_prefix = "snap-" + std::to_string(snapshot_id) + "-";
  const std::string manifest_path = JoinPath(metadata_dir, std::to_string(snapshot_id) + "-m0.avro");
  if (fs->FileExists(manifest_path)) {
    // Either a stale view of a table where the commit landed, or an attempt
    // of it crashed: then drop that attempt's manifest lists.
    ASSIGN_OR_RETURN(*table, IcebergTable::Load(fs, table->metadata().location));
    ASSIGN_OR_RETURN(landed, committed(table->metadata()));
    if (landed) return false;
    ASSIGN_OR_RETURN(std::vector<std::string> names, fs->ListDir(metadata_dir));
    for (const std::string& name : names)
      if (name.starts_with(list_prefix)) RETURN_IF_ERROR(fs->RemoveFile(JoinPath(metadata_dir, name)));
  }
  const std::vector<ManifestEntry> entries = AddedEntries(snapshot_id, files);
  ASSIGN_OR_RETURN(std::string manifest, WriteManifestEntries(table->metadata(), entries));
  RETURN_IF_ERROR(WriteFileAtomically(fs, manifest_path, manifest));
  CrashPoint("iceberg.append.after_manifest");
  const ManifestFileInfo added = Summarize(manifest_path, static_cast<int64_t>(manifest.size()), snapshot_id, 0,
                                           entries, table->metadata().partition_spec.size());
  const FileTotals added_totals = TotalsOf(files);

  bool already = false;
  std::string list_path;  // of the latest attempt; a lost race removes its own
  Status s = table->Commit([&](TableMetadata& m) -> Status {
    if (!list_path.empty()) RETURN_IF_ERROR(fs->RemoveFile(list_path));
    list_path.clear();
    ASSIGN_OR_RETURN(bool landed_meanwhile, committed(m));
    if (landed_meanwhile) {  // a concurrent or earlier attempt of the same commit landed
      already = true;
      return Status::FailedPrecondition("already committed");
    }
    if (guard) {
      ASSIGN_OR_RETURN(uint64_t end, CommittedRangeEnd(m, guard->key));
      if (end > guard->from)
        return Status::FailedPrecondition("commit " + commit_id + " overlaps rows another writer committed to " +
                                          m.location + " (" + guard->key + " = " + std::to_string(end) + ")");
    }
    ASSIGN_OR_RETURN(std::vector<ManifestFileInfo> manifests, CurrentManifests(fs, m));
    const int64_t sequence = m.last_sequence_number + 1;
    ManifestFileInfo mine = added;
    mine.sequence_number = mine.min_sequence_number = sequence;
    manifests.push_back(mine);
    ASSIGN_OR_RETURN(std::string list, WriteManifestList(snapshot_id, m.current_snapshot_id, sequence, manifests));
    // One list per attempt: a retry has another sequence number.
    list_path = JoinPath(metadata_dir, list_prefix + std::to_string(sequence) + ".avro");
    RETURN_IF_ERROR(WriteFileAtomically(fs, list_path, list));
    CrashPoint("iceberg.append.after_manifest_list");

    FileTotals total = CurrentTotals(m);
    total += added_totals;
    if (guard) m.properties[guard->key] = std::to_string(guard->to);
    AddCurrentSnapshot(m, snapshot_id, sequence, list_path,
                       SnapshotSummary("append", commit_id, added_totals, std::nullopt, total));
    return Status::Ok();
  });
  if (already) {
    fs->RemoveFile(manifest_path).IgnoreError();  // never referenced
    return false;
  }
  if (!s.ok()) {
    if (!list_path.empty()) fs->RemoveFile(list_path).IgnoreError();
    return s;
  }
  CrashPoint("iceberg.append.after_publish");
  return true;
}

// ---- Rewrite ------------------------------------------------------------------

Result<std::vector<ManifestEntry>> ListLiveFiles(FileSystem* fs, const TableMetadata& metadata) {
  ASSIGN_OR_RETURN(std::vector<ManifestFileInfo> manifests, CurrentManifests(fs, metadata));
  std::vector<ManifestEntry> out;
  for (const ManifestFileInfo& mf : manifests) {
    ASSIGN_OR_RETURN(std::vector<ManifestEntry> entries, ReadManifestEntries(fs, mf));
    for (ManifestEntry& e : entries)
      if (e.live()) out.push_back(std::move(e));
  }
  return out;
}

Result<bool> RewriteFiles(FileSystem* fs, IcebergTable* table, const std::vector<std::string>& remove,
                          const std::vector<DataFileInfo>& add, const std::string& operation,
                          const std::string& commit_id) {
  if (HasCommitId(table->metadata(), commit_id)) return false;
  const int64_t snapshot_id = NewSnapshotId(table->metadata());
  const std::string metadata_dir = JoinPath(table->metadata().location, "metadata");
  const std::set<std::string> to_remove(remove.begin(), remove.end());
  const FileTotals added_totals = TotalsOf(add);

  // The new files: one manifest of ADDED entries (sequence numbers
  // inherited), written once for every attempt.
  std::optional<ManifestFileInfo> added;
  if (!add.empty()) {
    ASSIGN_OR_RETURN(added, WriteNewManifest(fs, table->metadata(), snapshot_id, 0, AddedEntries(snapshot_id, add)));
  }

  std::vector<std::string> attempt_files, stale_files;
  bool already = false, refused = false;
  Status s = table->Commit([&](TableMetadata& m) -> Status {
    stale_files.insert(stale_files.end(), attempt_files.begin(), attempt_files.end());
    attempt_files.clear();
    if (HasCommitId(m, commit_id)) {  // a concurrent or earlier attempt of the same commit landed
      already = refused = true;
      return Status::FailedPrecondition("already committed");
    }
    auto current = CurrentManifests(fs, m);
    if (!current.ok()) {
      refused = true;
      return current.status();
    }
    const int64_t sequence = m.last_sequence_number + 1;
    std::vector<ManifestFileInfo> next;
    FileTotals total, deleted;
    if (added) {
      ManifestFileInfo mine = *added;
      mine.sequence_number = mine.min_sequence_number = sequence;
      next.push_back(std::move(mine));
    }
    std::set<std::string> found;
    std::vector<ManifestEntry> merged;
    // Each manifest is read (again at a retry: rare) and its entries moved
    // into `merged`, so the table's entries are held once, not twice: a
    // round over an hour of small files lists ~10^5 of them, ~2 KB each.
    for (const ManifestFileInfo& mf : *current) {
      auto read = ReadManifestEntries(fs, mf);
      if (!read.ok()) {
        refused = true;
        return read.status();
      }
      std::vector<ManifestEntry>& entries = *read;
      const bool touched = std::any_of(entries.begin(), entries.end(), [&](const ManifestEntry& e) {
        return e.live() && to_remove.count(e.file.path);
      });
      // Manifests with a removed file, and small ones (each sink commit adds
      // one), are merged into one manifest; large untouched ones are reused.
      const bool merge = touched || mf.length < kMergeManifestsBelowBytes;
      for (ManifestEntry& e : entries) {
        if (!e.live()) continue;  // earlier deletions are dropped when a manifest is rewritten
        if (to_remove.count(e.file.path)) {
          found.insert(e.file.path);
          deleted.Add(e.file);
          e.status = EntryStatus::kDeleted;
          e.snapshot_id = snapshot_id;
          merged.push_back(std::move(e));
          continue;
        }
        total.Add(e.file);
        if (merge) {
          e.status = EntryStatus::kExisting;
          merged.push_back(std::move(e));
        }
      }
      if (!merge) next.push_back(mf);
    }
    if (!merged.empty()) {
      auto written = WriteNewManifest(fs, m, snapshot_id, sequence, merged);
      if (!written.ok()) {
        refused = true;
        return written.status();
      }
      attempt_files.push_back(written->path);
      next.push_back(std::move(written).value());
    }
    if (found.size() != to_remove.size()) {
      refused = true;
      std::string missing;
      for (const std::string& p : to_remove)
        if (!found.count(p)) missing = p;
      return Status::FailedPrecondition(std::to_string(to_remove.size() - found.size()) + " of " +
                                        std::to_string(to_remove.size()) + " files to remove are not live in " +
                                        m.location + " (another maintenance run replaced them?), e.g. " + missing);
    }
    total += added_totals;

    auto list = WriteManifestList(snapshot_id, m.current_snapshot_id, sequence, next);
    if (!list.ok()) {
      refused = true;
      return list.status();
    }
    const std::string list_path =
        JoinPath(metadata_dir, "snap-" + std::to_string(snapshot_id) + "-" + RandomHex(8) + ".avro");
    if (Status w = WriteFileAtomically(fs, list_path, *list); !w.ok()) {
      refused = true;
      return w;
    }
    attempt_files.push_back(list_path);
    AddCurrentSnapshot(m, snapshot_id, sequence, list_path,
                       SnapshotSummary(operation, commit_id, added_totals, deleted, total));
    return Status::Ok();
  });
  // Files of attempts that lost a race are referenced by nothing.
  RemoveUnreferencedFiles(fs, stale_files);
  if (refused) {  // nothing was published: this commit's files are unreferenced
    RemoveUnreferencedFiles(fs, attempt_files);
    if (added) RemoveUnreferencedFiles(fs, {added->path});
    if (already) return false;
  }
  RETURN_IF_ERROR(s);
  return true;
}

}  // namespace watershed::lake
