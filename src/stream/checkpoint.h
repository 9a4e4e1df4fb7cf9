#pragma once
// Checkpoints of one partition's processor: input offset and the whole
// state in one file, replaced atomically (write temp + fdatasync + rename +
// fsync dir). Several processes may share the directory (a consumer group):
// each writes its own temporary, <file>.tmp.<pid>; Load, run by a new owner,
// removes the ones crashed writers left. A partition's state is independent of every other partition's,
// so one file per partition is one atomic step for everything it covers.
//
// File: [u32 magic "WSCP"][u32 version = 3][u64 checkpoint id][u64 next offset]
//       [u64 state length][state][u64 sink length][sink][u64 cold length][cold]
//       [u32 CRC-32C of everything before]. Version 1 files (no sink) and
//       version 2 files (no cold store reference) load.
// Encrypted (a KeyRing given, encryption = on): that file sealed whole as a
// keys/envelope.h message under a fresh data key, its context naming region
// and partition (a checkpoint copied to another partition fails to open).
// A plaintext checkpoint still loads with encryption on (the next save
// seals it); a sealed one without the ring is a clear error.
//
// Ownership (fencing): a process that takes a partition over Claims it
// first and gets an owner epoch, one higher than any before; Save with an
// epoch refuses (kFenced) once a later claim exists, so a zombie — an owner
// the group gave up on that has not noticed yet — cannot overwrite the new
// owner's checkpoints (nor commit the lake after a save: the caller checks
// Owns). Epochs are empty files <dir>/<region>/p<N>.owners/<epoch>, created
// with rename-no-replace (two claimers never get the same epoch); a claim
// removes the older ones. A claim and a save's check-and-rename hold the
// flock of p<N>.owners/lock, so no claim falls between a save's check and
// its rename: a new owner reads either the zombie's last checkpoint or one
// the zombie can no longer replace (on a file system that honours flock).
//
// Hash key: <dir>/<region>/hash.key holds the region's secret for its
// processors' table hashes (core/keyed_hash.h), made from getrandom the
// first time and kept, so every owner and every replay lays its tables out
// alike. File: [u32 magic "WSHK"][u64 k0][u64 k1][u32 CRC-32C of the rest].

#include <optional>
#include <string>

#include "core/event.h"
#include "core/file_system.h"
#include "core/keyed_hash.h"
#include "keys/key_ring.h"

namespace watershed::stream {

struct Checkpoint {
  uint64_t id = 0;        // 1, 2, 3... per partition
  LogOffset next_offset;  // the first record the state does not reflect
  std::string state;      // PartitionProcessor::Serialize
  std::string sink;       // the lake sink's prepared commit and carried buffers (lake/lake_sink.h); empty: none
  std::string cold;       // ColdStore::Commit's reference (cold_store.h); empty: no cold stories
};

class CheckpointStore {
 public:
  // `keys`: seal checkpoints (may be null: plaintext); outlives the store.
  CheckpointStore(FileSystem* fs, std::string dir, const keys::KeyRing* keys = nullptr)
      : fs_(fs), dir_(std::move(dir)), keys_(keys) {}
  // Crash points: "checkpoint.after_temp_sync", "checkpoint.after_rename"
  // (WriteFileAtomically). On failure the previous checkpoint stays.
  // `owner`: the epoch Claim gave; 0 saves unfenced (a single writer).
  Status Save(Region region, uint32_t partition, const Checkpoint& checkpoint, uint64_t owner = 0);
  // Makes the caller the partition's owner: returns its epoch (>= 1).
  Result<uint64_t> Claim(Region region, uint32_t partition);
  // False once a claim later than `owner`'s exists (true for owner 0).
  Result<bool> Owns(Region region, uint32_t partition, uint64_t owner);
  // nullopt when the partition has no checkpoint yet; kCorruption for a damaged file.
  Result<std::optional<Checkpoint>> Load(Region region, uint32_t partition);
  // Load without its cleanup: for readers that do not own the partition
  // (`watershed keys status`), safe while the owner saves.
  Result<std::optional<Checkpoint>> Read(Region region, uint32_t partition) const;
  // The checkpoint whose file holds `data` (already read: `keys status`
  // reads each file once).
  Result<Checkpoint> Decode(Region region, uint32_t partition, std::string data) const;
  std::string PathOf(Region region, uint32_t partition) const;
  // Where the region's cold stores live (beside its checkpoints).
  std::string RegionDir(Region region) const;
  FileSystem* fs() const { return fs_; }
  // The region's key provider when encryption is on (the cold store seals with it); else null.
  keys::KeyProvider* KeysOf(Region region) const { return keys_ ? keys_->For(RegionName(region)) : nullptr; }
  // The region's hash key, created on first use. Processes sharing the
  // directory agree: the file is created with rename-no-replace.
  Result<HashKey> LoadOrCreateHashKey(Region region);

 private:
  std::string OwnersDir(Region region, uint32_t partition) const;
  // The highest epoch claimed so far (0: none).
  Result<uint64_t> NewestOwner(const std::string& owners_dir);

  FileSystem* fs_;
  std::string dir_;
  const keys::KeyRing* keys_;
};

}  // namespace watershed::stream
