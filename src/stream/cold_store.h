#pragma once
// The cold store of one partition's processor: the state of stories evicted
// for idleness (partition_processor.h), so a story that comes back finds its
// totals and exact unique viewers. An append-only file of CRC-framed
// records beside the checkpoints, plus an in-memory index id → offset.
//
// Record: [u32 payload length][u32 CRC-32C of id and payload][u64 story id]
//         [payload (the processor's encoding of the story)].
// A story evicted again appends a newer record; the older one, and the
// record of a story brought back, are garbage. Garbage is rewritten away
// (compaction) at a Commit once it outweighs the live records.
//
// Checkpoints: Commit() makes every record durable and returns a reference
// {file, length} the checkpoint keeps. Open() with that reference reads that
// file's first `length` bytes only (whatever a crash or a later run appended
// after the checkpoint is replayed from the log and evicted again) and copies
// their live records into a new file of its own: files are named
// p<NNN>.cold.<owner>.<seq>, so an owner never writes a file another owner
// (a zombie, checkpoint.h) may still write. Saved() — after the checkpoint
// holding the reference is durable — deletes the partition's files the
// reference no longer needs, of this owner and older ones only.
//
// Encrypted (a key provider given, encryption = on): each payload is sealed
// (nonce || AES-256-GCM ciphertext || tag, the story id as additional data)
// under the file's data key, whose wrapped form the reference carries
// (inside the sealed checkpoint); every rewrite (Open, compaction) starts a
// fresh key and re-seals the live records. A plaintext reference's records
// are sealed as they are copied at Open.
//
// Memory: the index costs 16-byte slots at load <= 1/2, 32-64 B per cold
// story; the file holds the records. Not thread-safe.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/file_system.h"
#include "core/keyed_hash.h"
#include "keys/key_provider.h"
#include "stream/story_index.h"

namespace watershed::stream {

// Calls fn(id, offset, payload) for each record of `data`, whose first byte
// is at file offset `base`. kCorruption (naming `name` and the byte) at the
// first record that is cut short or fails its checksum. Fuzzed.
Status DecodeColdRecords(std::string_view data, uint64_t base, const std::string& name,
                         const std::function<Status(uint64_t id, uint64_t offset, std::string_view payload)>& fn);

class ColdStore {
 public:
  // Opens partition `partition`'s store in `dir` for `owner` (an epoch from
  // CheckpointStore::Claim, or any number for a single writer) from the
  // reference a checkpoint kept (empty: no cold stories yet). Errors:
  // kCorruption for a damaged record or a reference to a missing or short file.
  // `keys`: seal the records (null: plaintext); outlives the store.
  static Result<std::unique_ptr<ColdStore>> Open(FileSystem* fs, const std::string& dir, uint32_t partition,
                                                 uint64_t owner, std::string_view ref, const HashKey& key,
                                                 keys::KeyProvider* keys = nullptr);
  ~ColdStore();

  bool Contains(uint64_t id) const { return index_.Find(id) != 0; }
  // Adds id's record (replacing any older one).
  Status Put(uint64_t id, std::string_view payload);
  // Reads id's payload and forgets the record. REQUIRES: Contains(id).
  Status Take(uint64_t id, std::string* payload);
  // Forgets id's record, if any.
  // Take and Forget change only the index, not the file: an Open from a
  // reference may find records forgotten before it (unless a compaction
  // dropped them). The processor forgets, at Restore, every story its
  // restored state holds — the only stories whose records it forgot.
  void Forget(uint64_t id);
  // fn(id, payload) for each live record, in file order.
  Status ForEach(const std::function<Status(uint64_t id, std::string_view payload)>& fn);
  // Durable reference for the checkpoint (compacts first when garbage outweighs live records,
  // or always with `compact`: erasure, whose replaced records must not stay in any file).
  // After any I/O error of this store, every call fails with that error.
  Result<std::string> Commit(bool compact = false);
  // The checkpoint with the last Commit()'s reference is saved.
  void Saved();

  // "pNNN.cold.<owner>.<seq>": a store's file name.
  static std::string FileName(uint32_t partition, uint64_t owner, uint64_t seq) {
    return NameOf(partition, owner, seq);
  }

  size_t size() const { return index_.size(); }
  uint64_t file_bytes() const { return file_size_; }
  size_t index_memory_bytes() const { return index_.MemoryBytes(); }

 private:
  ColdStore(FileSystem* fs, std::string dir, uint32_t partition, uint64_t owner, const HashKey& key);
  // "pNNN.cold.<owner>.<seq>"
  static std::string NameOf(uint32_t partition, uint64_t owner, uint64_t seq);
  std::string CurrentPath() const;  // the file being appended to
  // Starts file `seq` holding the live records of `from` (the first `length` bytes of file `from_name`);
  // encrypted, under a fresh data key (the records re-sealed; data_key_ is the source's until then).
  Status Rewrite(const std::string& from_name, uint64_t length, uint64_t seq);
  Status Flush();
  // Deletes the partition's files <owner>.<seq> for which obsolete() is true.
  void RemoveFiles(const std::function<bool(uint64_t owner, uint64_t seq)>& obsolete);
  // Keeps the first I/O error: after one, the file may hold part of a
  // write and the index may not match it, so every later call fails with
  // it (the partition stops and reopens from its last checkpoint; a later
  // Commit must never name bytes that did not reach the disk).
  Status Fail(Status s);
  // Reads [offset, offset + n) of the current file (unflushed bytes included).
  Status ReadAt(uint64_t offset, size_t n, std::string* out);
  // A payload as stored (sealed when encrypted), and back.
  Result<std::string> Stored(uint64_t id, std::string_view payload) const;
  Result<std::string> Plain(uint64_t id, std::string_view stored) const;

  FileSystem* fs_;
  std::string dir_;
  uint32_t partition_;
  uint64_t owner_;
  uint64_t seq_ = 0;
  std::unique_ptr<WritableFile> file_;
  std::unique_ptr<RandomAccessFile> reader_;
  std::string buffer_;          // appended, not yet written to file_
  uint64_t file_size_ = 0;      // written + buffered
  uint64_t synced_size_ = 0;    // durable
  bool new_file_ = false;       // since the last Saved(): older files may be obsolete
  uint64_t live_bytes_ = 0;     // of records the index points at
  KeyedSlots<uint64_t> index_;  // id → offset + 1 (0 is the empty slot)
  Status broken_;               // the first I/O error (Fail)
  std::optional<keys::DataKey> data_key_;  // encrypted stores only
  keys::KeyProvider* keys_ = nullptr;      // with data_key_
};

// Read only (`watershed erase --verify`): fn(id, payload) for every record —
// garbage included — of the file a checkpoint's reference names (its first
// `length` bytes), opened with the reference's data key when encrypted
// (`keys` needed then). *path and *length get the file's path and that
// length (when the reference names a file; else *path is empty).
Status ReadColdRecords(FileSystem* fs, const std::string& dir, uint32_t partition, std::string_view ref,
                       keys::KeyProvider* keys, std::string* path, uint64_t* length,
                       const std::function<Status(uint64_t id, std::string_view payload)>& fn);

// The wrapped data key a checkpoint's cold store reference carries
// (encrypted stores); nullopt for a plaintext store's reference.
std::optional<keys::WrappedKey> ColdStoreDataKey(std::string_view ref);

}  // namespace watershed::stream
