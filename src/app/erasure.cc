#include "app/erasure.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <optional>
#include <set>

#include "app/serve_settings.h"
#include "core/crash_point.h"
#include "core/endian.h"
#include "core/json_text.h"
#include "core/random.h"
#include "lake/erasure.h"
#include "lake/iceberg_maintenance.h"
#include "lake/tables.h"
#include "log/log_format.h"
#include "log/record_codec.h"
#include "recs/experiments.h"
#include "recs/feature_store.h"
#include "stream/checkpoint.h"
#include "stream/cold_store.h"
#include "stream/partition_processor.h"

namespace watershed::app {
namespace {

constexpr const char kViewerColumn[] = "viewer_id";

// The lake tables of a region that hold viewer ids (those whose schema has the column).
std::vector<lake::LakeTableId> ViewerTables() {
  std::vector<lake::LakeTableId> out;
  for (int t = 0; t < lake::kLakeTableCount; ++t) {
    const auto id = static_cast<lake::LakeTableId>(t);
    for (const lake::ColumnSpec& c : lake::SchemaOf(id))
      if (c.name == kViewerColumn) out.push_back(id);
  }
  return out;
}

std::string TableName(Region region, lake::LakeTableId id) {
  return std::string(RegionName(region)) + "/" + lake::SpecOf(id).name;
}

// The segments of one log partition directory, by base offset.
std::vector<std::string> Segments(FileSystem* fs, const std::string& dir) {
  std::vector<std::string> out;
  auto names = fs->ListDir(dir);
  if (!names.ok()) return out;
  for (const std::string& n : *names)
    if (n.size() == 24 && n.ends_with(log::format::kSegmentSuffix)) out.push_back(n);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> PartitionDirs(FileSystem* fs, const std::string& region_dir) {
  std::vector<std::string> out;
  auto names = fs->ListDir(region_dir);
  if (!names.ok()) return out;
  for (const std::string& n : *names)
    if (n.size() >= 4 && n[0] == 'p' &&
        std::all_of(n.begin() + 1, n.end(), [](char c) { return c >= '0' && c <= '9'; }))
      out.push_back(JoinPath(region_dir, n));
  std::sort(out.begin(), out.end());
  return out;
}

struct SegmentScan {
  int64_t first_append_ms = 0;
  int64_t holding = 0;  // plaintext records of the viewer
  int64_t sealed = 0;   // records that could not be read (encrypted)
};

SegmentScan ScanSegment(const std::string& data, uint64_t viewer) {
  SegmentScan s;
  size_t pos = 0;
  uint32_t len = 0;
  bool first = true;
  while (log::CheckFrame(std::string_view(data).substr(pos), &len) == log::Frame::kRecord) {
    const std::string_view payload(data.data() + pos + log::format::kRecordHeaderSize, len);
    if (first && len >= log::format::kPayloadPrefixSize)
      s.first_append_ms = static_cast<int64_t>(GetFixed64(payload.data() + 1));
    first = false;
    log::LogRecord r;
    if (log::DecodePayload(payload, &r).ok()) {
      s.holding += r.event.viewer_id.value == viewer;
    } else {
      ++s.sealed;
    }
    pos += log::format::kRecordHeaderSize + len;
  }
  return s;
}

// The partition a checkpoint file (p<N>.ckpt) or a crashed writer's temporary of one (p<N>.ckpt.tmp.<pid>) is of.
std::optional<uint32_t> CheckpointFilePartition(std::string_view n, bool* temporary) {
  const size_t at = n.find(".ckpt");
  if (n.size() < 7 || n[0] != 'p' || at == std::string_view::npos) return std::nullopt;
  *temporary = n.size() != at + 5;
  if (*temporary && n.substr(at + 5, 5) != ".tmp.") return std::nullopt;
  uint32_t p = 0;
  auto [end, ec] = std::from_chars(n.data() + 1, n.data() + at, p);
  if (ec != std::errc() || end != n.data() + at) return std::nullopt;
  return p;
}

// The partitions of a region's checkpoint directory with a checkpoint or a temporary of one.
std::vector<uint32_t> CheckpointPartitions(FileSystem* fs, const std::string& dir) {
  std::set<uint32_t> out;
  auto names = fs->ListDir(dir);
  if (!names.ok()) return {};
  bool temporary = false;
  for (const std::string& n : *names)
    if (auto p = CheckpointFilePartition(n, &temporary)) out.insert(*p);
  return {out.begin(), out.end()};
}

// The erasure of `viewer` from one partition's checkpoint and cold store,
// as a new owner (the claim fences any former one): restore, erase, save.
// Idempotent: a second run finds nothing and saves the same state.
Result<stream::PartitionProcessor::ErasedViewer> EraseFromCheckpoint(stream::CheckpointStore* store, Region region,
                                                                     uint32_t partition, uint64_t viewer) {
  ASSIGN_OR_RETURN(uint64_t owner, store->Claim(region, partition));
  ASSIGN_OR_RETURN(auto checkpoint, store->Load(region, partition));  // also removes crashed writers' temporaries
  if (!checkpoint) return stream::PartitionProcessor::ErasedViewer{};
  stream::ProcessorOptions options;  // the hash key decides memory layout only; Restore keeps everything
  ASSIGN_OR_RETURN(options.hash_key, store->LoadOrCreateHashKey(region));
  stream::PartitionProcessor processor(region, partition, options);
  std::unique_ptr<stream::ColdStore> cold;
  if (!checkpoint->cold.empty()) {
    ASSIGN_OR_RETURN(cold, stream::ColdStore::Open(store->fs(), store->RegionDir(region), partition, owner,
                                                   checkpoint->cold, *options.hash_key, store->KeysOf(region)));
    processor.SetColdStore(cold.get());
  }
  RETURN_IF_ERROR(processor.Restore(checkpoint->state));
  ASSIGN_OR_RETURN(auto erased, processor.EraseViewer(ViewerId(viewer)));
  stream::Checkpoint out = *checkpoint;
  out.state.clear();
  processor.Serialize(&out.state);
  if (cold) {
    ASSIGN_OR_RETURN(out.cold, cold->Commit(/*compact=*/true));  // no replaced record stays in a file
  }
  CrashPoint("erase.before_checkpoint_save");
  RETURN_IF_ERROR(store->Save(region, partition, out, owner));
  if (cold) cold->Saved();  // the files the old reference named go
  return erased;
}

std::string ErasedText(const stream::PartitionProcessor::ErasedViewer& e) {
  return std::to_string(e.sets) + " viewer sets (id replaced by a random stand-in), " +
         std::to_string(e.dedup_entries) + " dedup entries, " + std::to_string(e.cold_stories) +
         " cold stories rewritten";
}

std::string DurationText(int64_t ms) {
  if (ms % 86'400'000 == 0) return std::to_string(ms / 86'400'000) + "d";
  if (ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  return std::to_string(ms / 1000) + "s";
}

// The recommendations' files may be rewritten by this process only while no server owns them: an exclusive hold of
// the ProcessorsLock in recs_dir (the file's own directory when unset).
Result<std::unique_ptr<ProcessorsLock>> LockRecsFiles(const ErasurePaths& paths, const std::string& file) {
  const std::string dir = paths.recs_dir.empty() ? DirName(file) : paths.recs_dir;
  ASSIGN_OR_RETURN(std::unique_ptr<ProcessorsLock> lock, ProcessorsLock::TryExclusive(dir));
  if (!lock)
    return Status::FailedPrecondition(
        file +
        " is owned by a running `watershed serve`: request the erasure from it (POST /v1/admin/erasures), "
        "or stop it and run `watershed erase --resume`");
  return lock;
}

// The viewer out of the embedded feature store's snapshot; true when it held them.
Result<bool> EraseFromFeatureSnapshot(FileSystem* fs, const ErasurePaths& paths, uint64_t viewer) {
  ASSIGN_OR_RETURN(std::unique_ptr<ProcessorsLock> lock, LockRecsFiles(paths, paths.feature_snapshot));
  auto store = recs::EmbeddedFeatureStore::Restore(fs, paths.feature_snapshot);
  if (!store.ok()) return store.status().code() == StatusCode::kNotFound ? Result<bool>(false) : store.status();
  ASSIGN_OR_RETURN(bool held, (*store)->EraseViewer(viewer));
  if (held) RETURN_IF_ERROR((*store)->SaveSnapshot(fs, paths.feature_snapshot));
  return held;
}

}  // namespace

std::string UtcTime(int64_t ms) {
  const time_t t = static_cast<time_t>(ms / 1000);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

ErasurePaths ErasurePathsOf(const ServeSettings& s) {
  ErasurePaths p;
  p.data_dir = s.data_dir;
  p.lake_root = s.lake.root;
  p.checkpoint_dir = s.processor.checkpoint_dir;
  if (!s.log.kafka) p.log_root = s.log.embedded_root;
  p.regions = s.regions;
  p.log_retention_ms = s.log.embedded.retention_ms;
  if (s.recs_features.kind == RecsFeatureSettings::Kind::kEmbedded) p.feature_snapshot = s.recs_features.snapshot_path;
  p.exposures_dir = s.recs_serve.exposures_dir;
  p.recs_dir = JoinPath(s.data_dir, "recs");
  return p;
}

// ---- The processors' lock ---------------------------------------------------

namespace {
Result<int> OpenLockFile(const std::string& region_dir) {
  RETURN_IF_ERROR(CreateDirsDurably(FileSystem::Default(), region_dir));
  const std::string path = JoinPath(region_dir, "processors.lock");
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IoError(path + ": " + std::strerror(errno));
  return fd;
}
}  // namespace

Result<std::unique_ptr<ProcessorsLock>> ProcessorsLock::Shared(const std::string& region_dir) {
  ASSIGN_OR_RETURN(int fd, OpenLockFile(region_dir));
  int rc;
  do rc = ::flock(fd, LOCK_SH);
  while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    const int err = errno;
    ::close(fd);
    return Status::IoError(JoinPath(region_dir, "processors.lock") + ": flock: " + std::strerror(err));
  }
  return std::unique_ptr<ProcessorsLock>(new ProcessorsLock(fd));
}

Result<std::unique_ptr<ProcessorsLock>> ProcessorsLock::TryExclusive(const std::string& region_dir) {
  ASSIGN_OR_RETURN(int fd, OpenLockFile(region_dir));
  int rc;
  do rc = ::flock(fd, LOCK_EX | LOCK_NB);
  while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) return std::unique_ptr<ProcessorsLock>();
    return Status::IoError(JoinPath(region_dir, "processors.lock") + ": flock: " + std::strerror(err));
  }
  return std::unique_ptr<ProcessorsLock>(new ProcessorsLock(fd));
}

ProcessorsLock::~ProcessorsLock() { ::close(fd_); }

// ---- The store --------------------------------------------------------------

ErasureStore::ErasureStore(FileSystem* fs, std::string data_dir) : fs_(fs), dir_(JoinPath(data_dir, "erasures")) {}

Status ErasureStore::Save(const ErasureRequest& r) {
  RETURN_IF_ERROR(CreateDirsDurably(fs_, dir_));
  return WriteFileAtomically(fs_, JoinPath(dir_, r.id + ".json"), EncodeErasureRequest(r));
}

Result<std::vector<ErasureRequest>> ErasureStore::List() const {
  std::vector<ErasureRequest> out;
  auto names = fs_->ListDir(dir_);
  if (!names.ok()) return fs_->FileExists(dir_) ? names.status() : Result<std::vector<ErasureRequest>>(out);
  for (const std::string& n : *names) {
    if (!n.ends_with(".json") || !gov::ValidErasureId(std::string_view(n).substr(0, n.size() - 5))) continue;
    const std::string path = JoinPath(dir_, n);
    ASSIGN_OR_RETURN(std::string text, ReadWholeFile(fs_, path));
    auto r = gov::ParseErasureRequest(text);
    if (!r.ok()) return Status::Corruption(path + ": " + r.status().message());
    if (r->id + ".json" != n) return Status::Corruption(path + ": names request " + r->id);
    out.push_back(std::move(r).value());
  }
  std::sort(out.begin(), out.end(), [](const ErasureRequest& a, const ErasureRequest& b) {
    return a.requested_ms != b.requested_ms ? a.requested_ms < b.requested_ms : a.id < b.id;
  });
  return out;
}

Result<ErasureRequest> ErasureStore::Create(uint64_t viewer, const std::string& by, int64_t now_ms) {
  if (viewer == 0 || viewer > kMaxErasableViewer)
    return Status::InvalidArgument("viewer id must be an integer in 1..9223372036854775807");
  if (!gov::ErasureText(by)) return Status::InvalidArgument("requested_by: at most 200 printable ASCII characters");
  // The check and the write under one flock: `serve` and the CLI never make two requests for one viewer.
  RETURN_IF_ERROR(CreateDirsDurably(fs_, dir_));
  ASSIGN_OR_RETURN(std::unique_ptr<FileLock> lock, fs_->LockFile(JoinPath(dir_, ".create.lock")));
  ASSIGN_OR_RETURN(std::vector<ErasureRequest> all, List());
  for (const ErasureRequest& r : all)
    if (r.viewer == viewer && !r.complete) return r;
  ErasureRequest r;
  r.id = std::to_string(std::max<int64_t>(now_ms, 0)) + "-" + RandomHex(8);
  r.viewer = viewer;
  r.requested_ms = now_ms;
  r.requested_by = by;
  RETURN_IF_ERROR(Save(r));
  return r;
}

// ---- The receipt ------------------------------------------------------------

ErasureReceipt MakeReceipt(FileSystem* fs, const ErasurePaths& paths, const ErasureRequest& r, int64_t now_ms) {
  ErasureReceipt out;
  out.request_id = r.id;
  out.viewer = r.viewer;
  out.requested_ms = r.requested_ms;
  out.complete = r.complete;
  for (Region region : paths.regions)
    for (lake::LakeTableId id : ViewerTables())
      out.removes.push_back("lake " + TableName(region, id) +
                            ": the viewer's rows, from the current snapshot and every older one (old files deleted)");
  // Log segments are immutable: the newest one that may hold the viewer's
  // events is each partition's active segment, deleted log-retention after
  // the partition rolls past it (and its processor checkpointed past it) —
  // at the earliest log-retention from now.
  const std::string retention = DurationText(paths.log_retention_ms);
  for (Region region : paths.regions) {
    ErasureReceipt::Remaining rem;
    rem.store = "log";
    rem.what = std::string(RegionName(region)) + " log segments (immutable): deleted " + retention +
               " after each partition's active segment rolls (segment-bytes) and is checkpointed";
    if (paths.log_root.empty()) rem.what = std::string(RegionName(region)) + " Kafka topic: the topic's retention";
    rem.expires_ms = now_ms + paths.log_retention_ms;
    out.remains.push_back(std::move(rem));
  }
  if (!paths.checkpoint_dir.empty())
    for (Region region : paths.regions) {
      const std::string name(RegionName(region));
      if (std::find(r.done.begin(), r.done.end(), "checkpoints " + name) != r.done.end()) {
        out.removes.push_back("processor state " + name +
                              ": the viewer's id in every checkpoint and cold store (viewer sets: replaced by random "
                              "stand-ins, so counts already published stay as anonymous aggregates; dedup entries)");
      } else {
        out.remains.push_back({"processor state",
                               name + " checkpoints and cold stores: the viewer's id in viewer sets and dedup "
                                      "entries; not erased yet: `watershed erase --resume` with the server stopped",
                               std::nullopt});
      }
    }
  const bool erased_features = std::find(r.done.begin(), r.done.end(), "feature-store") != r.done.end();
  const std::string features = paths.feature_store ? paths.feature_store->name : paths.feature_snapshot;
  if (erased_features) {
    out.removes.push_back(
        "feature store: the viewer's history, affinities and activity (what their events added "
        "to items' popularity and trending stays, as anonymous counts)");
  } else if (paths.feature_store || (!paths.feature_snapshot.empty() && fs->FileExists(paths.feature_snapshot))) {
    out.remains.push_back({"feature store", features + ": the viewer's features (not erased yet)", {}});
  }
  if (std::find(r.done.begin(), r.done.end(), "exposures") != r.done.end()) {
    out.removes.push_back("recommendation exposures: the viewer's records in every experiment's log");
  } else if (paths.erase_exposures || (!paths.exposures_dir.empty() && fs->FileExists(paths.exposures_dir))) {
    out.remains.push_back({"exposures", paths.exposures_dir + ": recommendation exposures (not erased yet)", {}});
  }
  for (const auto& rem : out.remains) {
    if (!rem.expires_ms) {
      out.last_copy_expires_ms.reset();
      break;
    }
    out.last_copy_expires_ms = std::max(out.last_copy_expires_ms.value_or(0), *rem.expires_ms);
  }
  return out;
}

std::string ReceiptJson(const ErasureReceipt& receipt) {
  std::string out = "{\"request_id\":";
  AppendJsonString(receipt.request_id, &out);
  out += ",\"viewer_id\":" + std::to_string(receipt.viewer) + ",\"requested_at\":";
  AppendJsonString(UtcTime(receipt.requested_ms), &out);
  out += ",\"complete\":";
  out += receipt.complete ? "true" : "false";
  out += ",\"removes\":[";
  for (size_t i = 0; i < receipt.removes.size(); ++i) {
    if (i) out += ",";
    AppendJsonString(receipt.removes[i], &out);
  }
  out += "],\"remains\":[";
  for (size_t i = 0; i < receipt.remains.size(); ++i) {
    const auto& r = receipt.remains[i];
    if (i) out += ",";
    out += "{\"store\":";
    AppendJsonString(r.store, &out);
    out += ",\"what\":";
    AppendJsonString(r.what, &out);
    out += ",\"expires\":";
    if (r.expires_ms) {
      AppendJsonString(UtcTime(*r.expires_ms), &out);
    } else {
      out += "null";
    }
    out += "}";
  }
  out += "],\"last_copy_expires\":";
  if (receipt.last_copy_expires_ms) {
    AppendJsonString(UtcTime(*receipt.last_copy_expires_ms), &out);
  } else {
    out += "null";
  }
  out += "}";
  return out;
}

std::string ReceiptText(const ErasureReceipt& receipt) {
  std::string out = "erasure " + receipt.request_id + " of viewer " + std::to_string(receipt.viewer) + " (requested " +
                    UtcTime(receipt.requested_ms) + ")" + (receipt.complete ? ": complete\n" : ": recorded\n");
  for (const std::string& r : receipt.removes) out += "  removes " + r + "\n";
  for (const auto& r : receipt.remains)
    out += "  remains " + r.store + ": " + r.what + "; expires " + (r.expires_ms ? UtcTime(*r.expires_ms) : "never") +
           "\n";
  out += "  last copy expires: " +
         (receipt.last_copy_expires_ms ? UtcTime(*receipt.last_copy_expires_ms) : std::string("never")) + "\n";
  return out;
}

// ---- The steps --------------------------------------------------------------

Status RunErasure(FileSystem* fs, const ErasurePaths& paths, ErasureStore* store, ErasureRequest* r,
                  const std::function<void(const std::string&)>& log, const std::function<bool()>& stop) {
  if (r->complete) return Status::Ok();
  // One run at a time over the requests (serve's thread and `watershed erase`
  // may both resume one): the holder's steps are read back before going on.
  RETURN_IF_ERROR(CreateDirsDurably(fs, store->dir()));
  ASSIGN_OR_RETURN(std::unique_ptr<FileLock> run_lock, fs->LockFile(JoinPath(store->dir(), ".lock")));
  {
    ASSIGN_OR_RETURN(std::vector<ErasureRequest> all, store->List());
    for (ErasureRequest& now : all)
      if (now.id == r->id) *r = std::move(now);
    if (r->complete) return Status::Ok();
  }
  CrashPoint("erase.after_request");
  const int64_t viewer = static_cast<int64_t>(r->viewer);
  auto done = [&](const std::string& step) { return std::find(r->done.begin(), r->done.end(), step) != r->done.end(); };
  auto record = [&](const std::string& step, const std::string& what) -> Status {
    r->done.push_back(step);
    RETURN_IF_ERROR(store->Save(*r));
    log(step + ": " + what);
    if (stop && stop()) return Status::Unavailable("stopped after " + step + "; the request resumes at the next run");
    return Status::Ok();
  };
  // In serve: the running processors' state first — its checkpoint commits the lake's buffered rows of the
  // viewer, which the lake steps then rewrite.
  if (paths.erase_processor_state)
    for (Region region : paths.regions) {
      const std::string name(RegionName(region));
      const std::string step = "checkpoints " + name;
      if (done(step)) continue;
      auto e = paths.erase_processor_state(region, r->viewer);
      if (!e.ok() && e.status().code() == StatusCode::kFailedPrecondition) {
        // Not this server's alone (a consumer group): the other steps run; the checkpoint-file step below says why
        // this one waits.
        log(step + ": " + e.status().message());
        continue;
      }
      if (!e.ok()) return Status(e.status().code(), step + ": " + e.status().message());
      // The rows it committed: the region's lake steps (done before, e.g. by the CLI) run again after it.
      const std::string lake_prefix = "lake " + name + "/";
      std::erase_if(r->done, [&](const std::string& d) { return d.starts_with(lake_prefix); });
      RETURN_IF_ERROR(record(step, ErasedText(*e) + "; every partition checkpointed, its lake rows committed"));
    }
  for (Region region : paths.regions) {
    for (lake::LakeTableId id : ViewerTables()) {
      const std::string name = TableName(region, id);
      const std::string location = lake::TableLocation(paths.lake_root, region, id);
      if (!lake::LakeTableExists(fs, location)) continue;
      const std::string rewrite = "lake " + name + " rewrite", expire = "lake " + name + " expire",
                        leftovers = "lake " + name + " leftovers";
      if (!done(rewrite)) {
        ASSIGN_OR_RETURN(lake::IcebergTable table, lake::IcebergTable::Load(fs, location));
        auto w = lake::RewriteWithoutValue(fs, &table, kViewerColumn, viewer, r->id);
        if (!w.ok()) return Status(w.status().code(), name + ": " + w.status().message());
        RETURN_IF_ERROR(record(rewrite, std::to_string(w->rows_removed) + " rows removed from " +
                                            std::to_string(w->removed.size()) + " files, " +
                                            std::to_string(w->added.size()) + " files written"));
      }
      if (!done(expire)) {
        ASSIGN_OR_RETURN(lake::IcebergTable table, lake::IcebergTable::Load(fs, location));
        auto e = lake::ExpireSnapshotsHolding(fs, &table, kViewerColumn, viewer);
        if (!e.ok()) return Status(e.status().code(), name + ": " + e.status().message());
        CrashPoint("erase.after_expire");
        RETURN_IF_ERROR(record(expire, std::to_string(e->expired_snapshot_ids.size()) + " snapshots expired, " +
                                           std::to_string(e->deleted_files.size()) + " files deleted"));
      }
      if (!done(leftovers)) {
        auto u = lake::RemoveUnreferencedHolding(fs, location, kViewerColumn, viewer);
        if (!u.ok()) return Status(u.status().code(), name + ": " + u.status().message());
        std::string what = std::to_string(u->deleted.size()) + " unreferenced files deleted";
        for (const std::string& p : u->kept_sink_files) what += "; the lake sink's uncommitted file " + p + " kept";
        RETURN_IF_ERROR(record(leftovers, what));
      }
    }
  }
  // The recommendations' state: the viewer's features, then their exposures (before the checkpoint files, which a
  // running server keeps).
  const bool snapshot = !paths.feature_snapshot.empty() && fs->FileExists(paths.feature_snapshot);
  if (!done("feature-store") && (paths.feature_store || snapshot)) {
    auto held =
        paths.feature_store ? paths.feature_store->erase(r->viewer) : EraseFromFeatureSnapshot(fs, paths, r->viewer);
    if (!held.ok()) return Status(held.status().code(), "feature store: " + held.status().message());
    RETURN_IF_ERROR(record("feature-store", *held ? "the viewer's features removed" : "no features of the viewer"));
  }
  const bool exposure_files = !paths.exposures_dir.empty() && fs->FileExists(paths.exposures_dir);
  if (!done("exposures") && (paths.erase_exposures || exposure_files)) {
    Result<uint64_t> removed = uint64_t{0};
    if (paths.erase_exposures) {
      removed = paths.erase_exposures(r->viewer);
    } else if (auto lock = LockRecsFiles(paths, paths.exposures_dir); !lock.ok()) {
      removed = lock.status();
    } else {
      removed = recs::EraseUserExposures(fs, paths.exposures_dir, r->viewer);
    }
    if (!removed.ok()) return Status(removed.status().code(), "exposure logs: " + removed.status().message());
    RETURN_IF_ERROR(record("exposures", std::to_string(*removed) + " exposure records removed"));
  }
  // Processor state: every checkpoint and cold store of a region, only while no server runs its processors
  // (ProcessorsLock).
  std::unique_ptr<stream::CheckpointStore> checkpoints;
  if (!paths.checkpoint_dir.empty())
    for (Region region : paths.regions) {
      const std::string step = "checkpoints " + std::string(RegionName(region));
      if (done(step)) continue;
      const std::string region_dir = JoinPath(paths.checkpoint_dir, std::string(RegionName(region)));
      ASSIGN_OR_RETURN(std::unique_ptr<ProcessorsLock> lock, ProcessorsLock::TryExclusive(region_dir));
      if (!lock)
        return Status::FailedPrecondition(
            "processor checkpoints under " + region_dir +
            " not erased yet: a running `watershed serve` holds them (its processors own the state); stop it and "
            "run `watershed erase --resume` (the lake steps are done)");
      if (!checkpoints)
        checkpoints = std::make_unique<stream::CheckpointStore>(fs, paths.checkpoint_dir, paths.checkpoint_keys);
      const std::vector<uint32_t> parts =
          CheckpointPartitions(fs, JoinPath(paths.checkpoint_dir, std::string(RegionName(region))));
      // A step each keeps the request file within its bound (4096 steps) for up to 1024 partitions a region (the
      // log's maximum); past that they are redone at a resume, which changes nothing.
      const bool each = parts.size() <= 1024;
      for (uint32_t p : parts) {
        const std::string one = step + " p" + std::to_string(p);
        if (done(one)) continue;
        auto e = EraseFromCheckpoint(checkpoints.get(), region, p, r->viewer);
        if (!e.ok()) return Status(e.status().code(), one + ": " + e.status().message());
        const std::string what = ErasedText(*e);
        if (each) {
          RETURN_IF_ERROR(record(one, what));
        } else {
          log(one + ": " + what);
        }
      }
      RETURN_IF_ERROR(record(step, "every checkpoint and cold store of the region"));
    }
  r->complete = true;
  RETURN_IF_ERROR(store->Save(*r));
  return Status::Ok();
}

// ---- In serve ---------------------------------------------------------------

ErasureRunner::ErasureRunner(FileSystem* fs, ErasurePaths paths, Clock* clock)
    : fs_(fs), paths_(std::move(paths)), clock_(clock), store_(fs, paths_.data_dir) {
  thread_ = std::thread([this] { Loop(); });
}

ErasureRunner::~ErasureRunner() { Stop(); }

void ErasureRunner::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Result<std::string> ErasureRunner::Request(uint64_t viewer, const std::string& by) {
  ErasureRequest r;
  {
    std::lock_guard lock(mu_);  // Create's check for an unfinished request of the viewer, then its write
    ASSIGN_OR_RETURN(r, store_.Create(viewer, by, clock_->NowMs()));
    pending_ = true;
  }
  wake_.notify_all();
  return ReceiptJson(MakeReceipt(fs_, paths_, r, clock_->NowMs()));
}

void ErasureRunner::Loop() {
  bool retry = false;  // a run stopped by something passing (kUnavailable): tried again after a while
  for (;;) {
    {
      std::unique_lock lock(mu_);
      if (retry) {
        wake_.wait_for(lock, std::chrono::seconds(30), [&] { return stopping_ || pending_; });
      } else {
        wake_.wait(lock, [&] { return stopping_ || pending_; });
      }
      if (stopping_) return;
      pending_ = false;
      retry = false;
    }
    auto all = store_.List();
    if (!all.ok()) {
      std::fprintf(stderr, "watershed: erasure: %s\n", all.status().ToString().c_str());
      continue;
    }
    for (ErasureRequest& r : *all) {
      if (r.complete) continue;
      Status s = RunErasure(
          fs_, paths_, &store_, &r,
          [&](const std::string& line) {
            std::fprintf(stderr, "watershed: erasure %s: %s\n", r.id.c_str(), line.c_str());
          },
          [&] {
            std::lock_guard lock(mu_);
            return stopping_;
          });
      if (!s.ok()) {
        // Left unfinished: retried at the next request or start (`watershed erase --resume` also finishes it), and
        // after a while when what stopped it may pass (processors catching up, a lake commit conflict).
        std::fprintf(stderr, "watershed: erasure %s: %s\n", r.id.c_str(), s.ToString().c_str());
        retry = retry || s.code() == StatusCode::kUnavailable;
        std::lock_guard lock(mu_);
        if (stopping_) return;
      }
    }
  }
}

// ---- Verify -----------------------------------------------------------------

Result<std::vector<Occurrence>> FindViewer(FileSystem* fs, const ErasurePaths& paths, uint64_t viewer, int64_t now_ms) {
  std::vector<Occurrence> out;
  // The lake: every Parquet file under the root, referenced or not.
  std::set<std::string> referenced;
  for (Region region : paths.regions)
    for (int t = 0; t < lake::kLakeTableCount; ++t) {
      const std::string location = lake::TableLocation(paths.lake_root, region, static_cast<lake::LakeTableId>(t));
      if (!lake::LakeTableExists(fs, location)) continue;
      auto table = lake::IcebergTable::Load(fs, location);
      if (!table.ok()) return table.status();
      ASSIGN_OR_RETURN(std::set<std::string> files, lake::ListReferencedFiles(fs, table->metadata()));
      referenced.insert(files.begin(), files.end());
    }
  std::vector<std::string> files;
  RETURN_IF_ERROR(lake::ListRecursively(fs, paths.lake_root, &files));
  std::sort(files.begin(), files.end());
  for (const std::string& p : files) {
    if (!p.ends_with(".parquet")) continue;
    const std::string where = referenced.count(p) ? "referenced by a snapshot" : "referenced by no snapshot";
    auto n = lake::CountValueInFile(fs, p, kViewerColumn, static_cast<int64_t>(viewer));
    if (!n.ok()) {
      out.push_back({"lake", p, -1, std::nullopt, where + "; unreadable: " + n.status().ToString()});
    } else if (*n > 0) {
      out.push_back({"lake", p, *n, std::nullopt, where});
    }
  }
  // Log segments: immutable until retention deletes them.
  if (!paths.log_root.empty())
    for (Region region : paths.regions)
      for (const std::string& part : PartitionDirs(fs, JoinPath(paths.log_root, std::string(RegionName(region))))) {
        const std::vector<std::string> segs = Segments(fs, part);
        std::vector<SegmentScan> scans;
        for (const std::string& s : segs) {
          auto data = ReadWholeFile(fs, JoinPath(part, s));
          scans.push_back(data.ok() ? ScanSegment(*data, viewer) : SegmentScan{});
        }
        for (size_t i = 0; i < segs.size(); ++i) {
          if (scans[i].holding == 0 && scans[i].sealed == 0) continue;
          Occurrence o;
          o.store = "log";
          o.path = JoinPath(part, segs[i]);
          o.rows = scans[i].sealed > 0 ? -1 : scans[i].holding;
          // A sealed segment goes once the next one's first record is older
          // than log-retention; the active one, at the earliest, that long after it rolls.
          if (i + 1 < segs.size() && scans[i + 1].first_append_ms > 0) {
            o.expires_ms = scans[i + 1].first_append_ms + paths.log_retention_ms;
            o.note = "sealed segment";
          } else {
            o.expires_ms = now_ms + paths.log_retention_ms;
            o.note = "active segment: goes log-retention after the partition rolls past it (at the earliest then)";
          }
          if (scans[i].sealed > 0) o.note += "; encrypted records not scanned: may hold the viewer";
          out.push_back(std::move(o));
        }
      }
  // Checkpoints and cold stores: each restored (read only) and asked whether a viewer set or dedup entry holds
  // the id; sealed ones need the keys (encryption = on), else they are listed as not scanned.
  if (!paths.checkpoint_dir.empty()) {
    stream::CheckpointStore store(fs, paths.checkpoint_dir, paths.checkpoint_keys);
    for (Region region : paths.regions) {
      const std::string dir = JoinPath(paths.checkpoint_dir, std::string(RegionName(region)));
      stream::ProcessorOptions options;
      options.hash_key = HashKey{1, 2};  // slots only
      stream::PartitionProcessor reader(region, 0, options);
      std::set<std::string> cold_read;  // cold files read whole through a checkpoint's reference (sealed: opened)
      for (uint32_t p : CheckpointPartitions(fs, dir)) {
        const std::string path = store.PathOf(region, p);
        if (!fs->FileExists(path)) continue;  // a temporary only: listed below
        auto c = store.Read(region, p);
        if (!c.ok()) {
          out.push_back(
              {"checkpoint", path, -1, std::nullopt, "not scanned (" + c.status().ToString() + "): may hold the id"});
          continue;
        }
        if (!*c) continue;
        stream::PartitionProcessor state(region, p, options);
        if (Status s = state.Restore((*c)->state); !s.ok()) {
          out.push_back({"checkpoint", path, -1, std::nullopt, "not scanned (" + s.ToString() + "): may hold the id"});
        } else if (state.HoldsViewer(ViewerId(viewer))) {
          out.push_back({"checkpoint", path, -1, std::nullopt,
                         "processor state holds the id (viewer sets, dedup entries): `watershed erase --resume` with "
                         "the server stopped"});
        }
        // Its cold store as the checkpoint names it (sealed: with the reference's data key). A file that failed,
        // or holds bytes past the reference, is scanned below as a file of its own.
        std::string cold_path;
        uint64_t length = 0;
        int64_t holding = 0;
        Status s =
            stream::ReadColdRecords(fs, dir, p, (*c)->cold, store.KeysOf(region), &cold_path, &length,
                                    [&](uint64_t, std::string_view payload) -> Status {
                                      ASSIGN_OR_RETURN(bool h, reader.ColdRecordHolds(payload, ViewerId(viewer)));
                                      holding += h;
                                      return Status::Ok();
                                    });
        auto size = cold_path.empty() ? Result<uint64_t>(uint64_t{0}) : fs->FileSize(cold_path);
        if (cold_path.empty() || !s.ok() || !size.ok() || *size != length) continue;
        cold_read.insert(cold_path);
        if (holding > 0)
          out.push_back({"checkpoint", cold_path, holding, std::nullopt,
                         "cold store: stories whose viewer set holds the id: `watershed erase --resume` with the "
                         "server stopped"});
      }
      auto names = fs->ListDir(dir);
      if (!names.ok()) continue;
      std::sort(names->begin(), names->end());
      for (const std::string& n : *names) {
        bool temporary = false;
        if (CheckpointFilePartition(n, &temporary) && temporary) {
          out.push_back({"checkpoint", JoinPath(dir, n), -1, std::nullopt,
                         "temporary of a crashed checkpoint writer, not scanned: may hold the id (removed when the "
                         "partition is next loaded: `watershed erase --resume` with the server stopped)"});
          continue;
        }
        if (n.find(".cold.") == std::string::npos) continue;
        const std::string path = JoinPath(dir, n);
        if (cold_read.count(path)) continue;
        auto data = ReadWholeFile(fs, path);
        if (!data.ok()) continue;  // removed meanwhile
        int64_t holding = 0;
        Status s = stream::DecodeColdRecords(*data, 0, path, [&](uint64_t, uint64_t, std::string_view payload) {
          ASSIGN_OR_RETURN(bool h, reader.ColdRecordHolds(payload, ViewerId(viewer)));
          holding += h;
          return Status::Ok();
        });
        if (!s.ok()) {
          out.push_back({"checkpoint", path, -1, std::nullopt,
                         "cold store not scanned (sealed, or " + s.ToString() + "): may hold the id"});
        } else if (holding > 0) {
          out.push_back({"checkpoint", path, holding, std::nullopt,
                         "cold store: stories whose viewer set holds the id: `watershed erase --resume` with the "
                         "server stopped"});
        }
      }
    }
  }
  // The recommendations' feature store and exposure logs.
  Result<bool> features = false;
  std::string features_name = paths.feature_snapshot;
  if (paths.feature_store) {
    features = paths.feature_store->holds(viewer);
    features_name = paths.feature_store->name;
  } else if (!paths.feature_snapshot.empty()) {
    auto store = recs::EmbeddedFeatureStore::Restore(fs, paths.feature_snapshot);
    if (store.ok()) {
      features = (*store)->HoldsViewer(viewer);
    } else if (store.status().code() != StatusCode::kNotFound) {
      features = store.status();
    }
  }
  if (!features.ok()) {
    out.push_back({"feature-store", features_name, -1, std::nullopt,
                   "not scanned (" + features.status().ToString() + "): may hold the viewer"});
  } else if (*features) {
    out.push_back(
        {"feature-store", features_name, 1, std::nullopt,
         "the viewer's features: `watershed erase --resume` (with the server stopped for an embedded store)"});
  }
  if (!paths.exposures_dir.empty()) {
    auto n = recs::CountUserExposures(fs, paths.exposures_dir, viewer);
    if (!n.ok()) {
      out.push_back({"exposures", paths.exposures_dir, -1, std::nullopt,
                     "not scanned (" + n.status().ToString() + "): may hold the viewer"});
    } else if (*n > 0) {
      out.push_back({"exposures", paths.exposures_dir, static_cast<int64_t>(*n), std::nullopt,
                     "recommendation exposures of the viewer"});
    }
  }
  return out;
}

}  // namespace watershed::app
