#pragma once
// Encrypted log segments (encryption = on; docs/encryption.md, "Log
// segments"). Each segment has its own data key; its wrapped form lives in a
// sidecar "<segment>.key", written durably before the segment's first
// record. A sealed record's payload (log_format.h, kKindSealedV1) is
//   [u8 kind 2][i64 append time ms][12-byte nonce][AES-256-GCM(event
//   binary)][16-byte tag]
// and its additional data binds the region, the partition, the offset and
// the append time, so a record copied to another place does not open. The
// record CRC covers the stored bytes, so framing and torn-tail recovery do
// not need the key.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "core/file_system.h"
#include "core/status.h"
#include "keys/aead.h"
#include "keys/key_provider.h"
#include "log/log.h"

namespace watershed::log {

inline constexpr const char* kSegmentKeySuffix = ".key";  // "<base>.seg.key"
std::string SegmentKeyPath(const std::string& segment_path);
// The segment a key file belongs to: "<dir>/<base>.seg.key" -> "<dir>/<base>.seg".
std::string SegmentPathOfKeyFile(const std::string& key_path);
// Whether a file name is a segment key file's ("<20 digits>.seg.key"); if so
// and `base` is given, sets it to the segment's base offset.
bool IsSegmentKeyFileName(std::string_view name, uint64_t* base = nullptr);
// A temporary file a crash left beside a key file: "<key file>.tmp" (the
// log's own, written only by the log's writer) or "<key file>.rewrap.tmp.<pid>"
// of a `keys rewrap` process no longer running (or without a pid, as older
// versions named it).
bool IsStaleSegmentKeyTemp(std::string_view name);

// Sidecar text: "watershed-segment-key v1\n<key id>\n<wrapped blob, hex>\n".
std::string EncodeSegmentKey(const keys::WrappedKey& k);
Result<keys::WrappedKey> ParseSegmentKey(std::string_view text);  // kCorruption when malformed
// Writes the sidecar of `segment_path` durably (temp file, fsync, rename, dir
// fsync).
Status WriteSegmentKey(FileSystem* fs, const std::string& segment_path, const keys::WrappedKey& k);
Result<keys::WrappedKey> ReadSegmentKey(FileSystem* fs, const std::string& segment_path);
// Reads and unwraps; errors name the sidecar.
Result<keys::SecretKey> LoadSegmentKey(FileSystem* fs, keys::KeyProvider& provider, const std::string& segment_path);

// The key files of the segments of the embedded log in `log_dir` (one
// region's: <log_dir>/pNNN/<base>.seg.key), sorted; none when it has none.
Result<std::vector<std::string>> ListSegmentKeyFiles(FileSystem* fs, const std::string& log_dir);
// Rewrites one key file with its data key wrapped under the provider's
// current KEK (atomically; the segment is untouched). Returns the new key id.
Result<std::string> RewrapSegmentKey(FileSystem* fs, keys::KeyProvider& provider, const std::string& key_file);

// Seals and opens the records of one segment: one cached GCM context per
// direction. Not thread-safe (one per writer partition, one per reader).
class RecordCipher {
 public:
  RecordCipher(const keys::SecretKey& key, std::string region, uint32_t partition);
  // Appends the framed sealed record of `e` at `offset` to *out.
  Status Append(uint64_t offset, int64_t append_ms, const Event& e, std::string* out);
  // Decodes a kind-2 payload that CheckFrame accepted; kCorruption when it
  // does not authenticate (a flipped bit, another key, another place).
  Status Open(uint64_t offset, std::string_view payload, LogRecord* r);

 private:
  // "watershed-log-record-v1\n" region "\n" | u32 partition | u64 offset | i64 append time ms
  std::string_view Aad(uint64_t offset, int64_t append_ms);
  static constexpr size_t kAadTail = 4 + 8 + 8;
  keys::GcmCipher gcm_;
  std::string aad_;    // the prefix and partition fixed, the tail rewritten per record
  std::string plain_;  // scratch
  std::string nonce_;  // the last nonce sealed with (empty: none yet)
};

// Whether a kind-2 payload has the shape of a sealed record (recovery's scan
// for valid records after damage, which cannot know their offsets).
bool SealedPayloadShape(std::string_view payload);

}  // namespace watershed::log
