#pragma once
// Checkpoints of one partition's processor: input offset and the whole
// state in one file, replaced atomically (write temp + fdatasync + rename +
// fsync dir). Several processes may share the directory (a consumer group):
// each writes its own temporary, <file>.tmp.<pid>; Load, run by a new owner,
// removes the ones crashed writers left. A partition's state is independent of every other partition's,
// so one file per partition is one atomic step for everything it covers.
//
// File: [u32 magic "WSCP"][u32 version = 2][u64 checkpoint id][u64 next offset]
//       [u64 state length][state][u64 sink length][sink]
//       [u32 CRC-32C of everything before]. Version 1 files (no sink) load.

#include <optional>
#include <string>

#include "core/event.h"
#include "core/file_system.h"

namespace watershed::stream {

struct Checkpoint {
  uint64_t id = 0;        // 1, 2, 3... per partition
  LogOffset next_offset;  // the first record the state does not reflect
  std::string state;      // PartitionProcessor::Serialize
  std::string sink;       // the lake sink's prepared commit (lake/lake_sink.h); empty: none
};

class CheckpointStore {
 public:
  CheckpointStore(FileSystem* fs, std::string dir) : fs_(fs), dir_(std::move(dir)) {}
  // Crash points: "checkpoint.after_temp_sync", "checkpoint.after_rename"
  // (WriteFileAtomically). On failure the previous checkpoint stays.
  Status Save(Region region, uint32_t partition, const Checkpoint& checkpoint);
  // nullopt when the partition has no checkpoint yet; kCorruption for a damaged file.
  Result<std::optional<Checkpoint>> Load(Region region, uint32_t partition);
  std::string PathOf(Region region, uint32_t partition) const;

 private:
  FileSystem* fs_;
  std::string dir_;
};

}  // namespace watershed::stream
