#include "log/segment_crypto.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/crc32c.h"
#include "core/endian.h"
#include "core/event_codec.h"
#include "core/hex.h"
#include "log/log_format.h"

namespace watershed::log {

using namespace format;

namespace {
constexpr std::string_view kSidecarMagic = "watershed-segment-key v1\n";
constexpr size_t kMaxSidecarBytes = 64 * 1024;
constexpr size_t kBaseDigits = 20;  // a segment's base offset, zero-padded
// `keys rewrap`'s temporary: "<key file>.rewrap.tmp.<pid>", one per process
// so two rewraps at once never write the same file.
constexpr const char* kRewrapTempSuffix = ".rewrap.tmp";
}  // namespace

std::string SegmentKeyPath(const std::string& segment_path) { return segment_path + kSegmentKeySuffix; }

std::string SegmentPathOfKeyFile(const std::string& key_path) {
  return key_path.substr(0, key_path.size() - std::string_view(kSegmentKeySuffix).size());
}

bool IsSegmentKeyFileName(std::string_view name, uint64_t* base) {
  const std::string suffix = std::string(kSegmentSuffix) + kSegmentKeySuffix;
  if (name.size() != kBaseDigits + suffix.size() || !name.ends_with(suffix) ||
      name.find_first_not_of("0123456789") != kBaseDigits)
    return false;
  if (base) *base = std::stoull(std::string(name.substr(0, kBaseDigits)));
  return true;
}

bool IsStaleSegmentKeyTemp(std::string_view name) {
  const size_t key_name =
      kBaseDigits + std::string_view(kSegmentSuffix).size() + std::string_view(kSegmentKeySuffix).size();
  if (name.size() <= key_name || !IsSegmentKeyFileName(name.substr(0, key_name))) return false;
  std::string_view rest = name.substr(key_name);
  if (rest == ".tmp" || rest == kRewrapTempSuffix) return true;
  if (!rest.starts_with(std::string(kRewrapTempSuffix) + ".")) return false;
  rest.remove_prefix(std::string_view(kRewrapTempSuffix).size() + 1);
  if (rest.empty() || rest.size() > 9 || rest.find_first_not_of("0123456789") != std::string_view::npos) return false;
  const pid_t pid = static_cast<pid_t>(std::stol(std::string(rest)));
  return pid > 0 && kill(pid, 0) != 0 && errno == ESRCH;  // its writer is gone
}

std::string EncodeSegmentKey(const keys::WrappedKey& k) {
  return std::string(kSidecarMagic) + k.key_id + "\n" + LowerHex(k.blob.data(), k.blob.size()) + "\n";
}

Result<keys::WrappedKey> ParseSegmentKey(std::string_view text) {
  if (!text.starts_with(kSidecarMagic)) return Status::Corruption("not a segment key file (bad first line)");
  text.remove_prefix(kSidecarMagic.size());
  const size_t nl = text.find('\n');
  if (nl == std::string_view::npos) return Status::Corruption("segment key file: no key id line");
  keys::WrappedKey k;
  k.key_id = std::string(text.substr(0, nl));
  if (!keys::ValidKeyId(k.key_id)) return Status::Corruption("segment key file: bad key id");
  text.remove_prefix(nl + 1);
  if (!text.ends_with('\n') || text.find('\n') != text.size() - 1)
    return Status::Corruption("segment key file: the wrapped key must be one last line");
  const std::string_view hex = text.substr(0, text.size() - 1);
  // Lower-case only: one spelling per key file, as EncodeSegmentKey writes it.
  auto blob = hex.find_first_not_of("0123456789abcdef") == std::string_view::npos ? FromHex(hex) : std::nullopt;
  if (!blob || blob->empty()) return Status::Corruption("segment key file: the wrapped key is not lower-case hex");
  k.blob = std::move(*blob);
  return k;
}

Status WriteSegmentKey(FileSystem* fs, const std::string& segment_path, const keys::WrappedKey& k) {
  return WriteFileAtomically(fs, SegmentKeyPath(segment_path), EncodeSegmentKey(k));
}

Result<keys::WrappedKey> ReadSegmentKey(FileSystem* fs, const std::string& segment_path) {
  const std::string path = SegmentKeyPath(segment_path);
  // The size first: never read a huge file whole into memory.
  ASSIGN_OR_RETURN(uint64_t size, fs->FileSize(path));
  if (size > kMaxSidecarBytes) return Status::Corruption(path + ": too large for a segment key file");
  ASSIGN_OR_RETURN(std::string text, ReadWholeFile(fs, path));
  if (text.size() > kMaxSidecarBytes) return Status::Corruption(path + ": too large for a segment key file");
  auto k = ParseSegmentKey(text);
  if (!k.ok()) return Status::Corruption(path + ": " + k.status().message());
  return k;
}

Result<keys::SecretKey> LoadSegmentKey(FileSystem* fs, keys::KeyProvider& provider, const std::string& segment_path) {
  ASSIGN_OR_RETURN(keys::WrappedKey w, ReadSegmentKey(fs, segment_path));
  auto key = provider.Unwrap(w);
  if (!key.ok())
    return Status(key.status().code(), "the data key of log segment " + segment_path + " (wrapped under " + w.key_id +
                                           "): " + key.status().message());
  return key;
}

Result<std::vector<std::string>> ListSegmentKeyFiles(FileSystem* fs, const std::string& log_dir) {
  std::vector<std::string> out;
  if (!fs->FileExists(log_dir)) return out;
  ASSIGN_OR_RETURN(std::vector<std::string> parts, fs->ListDir(log_dir));
  for (const std::string& p : parts) {
    if (p.size() < 2 || p[0] != 'p' || p.find_first_not_of("0123456789", 1) != std::string::npos) continue;
    const std::string dir = JoinPath(log_dir, p);
    ASSIGN_OR_RETURN(std::vector<std::string> names, fs->ListDir(dir));
    for (const std::string& n : names)
      if (IsSegmentKeyFileName(n)) out.push_back(JoinPath(dir, n));
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::string> RewrapSegmentKey(FileSystem* fs, keys::KeyProvider& provider, const std::string& key_file) {
  ASSIGN_OR_RETURN(keys::SecretKey key, LoadSegmentKey(fs, provider, SegmentPathOfKeyFile(key_file)));
  ASSIGN_OR_RETURN(keys::WrappedKey wrapped, provider.Wrap(key));
  const std::string temp_suffix = std::string(kRewrapTempSuffix) + "." + std::to_string(getpid());
  RETURN_IF_ERROR(WriteFileAtomically(fs, key_file, EncodeSegmentKey(wrapped), {}, temp_suffix));
  return wrapped.key_id;
}

RecordCipher::RecordCipher(const keys::SecretKey& key, std::string region, uint32_t partition)
    : gcm_(key), aad_("watershed-log-record-v1\n" + region + "\n" + std::string(kAadTail, '\0')) {
  PutFixed32(aad_.data() + aad_.size() - kAadTail, partition);
}

std::string_view RecordCipher::Aad(uint64_t offset, int64_t append_ms) {
  char* tail = aad_.data() + aad_.size() - kAadTail + 4;  // after the partition
  PutFixed64(tail, offset);
  PutFixed64(tail + 8, static_cast<uint64_t>(append_ms));
  return aad_;
}

Status RecordCipher::Append(uint64_t offset, int64_t append_ms, const Event& e, std::string* out) {
  plain_.clear();
  AppendEventBinary(e, &plain_);
  const size_t header_at = out->size();
  const size_t payload_len = kPayloadPrefixSize + keys::kNonceBytes + plain_.size() + keys::kTagBytes;
  out->resize(header_at + kRecordHeaderSize + payload_len);
  char* payload = out->data() + header_at + kRecordHeaderSize;
  payload[0] = static_cast<char>(kKindSealedV1);
  PutFixed64(payload + 1, static_cast<uint64_t>(append_ms));
  // Nonces: a random 96-bit start per cipher, then +1 per record (its low 64
  // bits): distinct within this cipher without a RAND_bytes call per record,
  // and a cipher made again for the same key (a reopened segment) starts
  // elsewhere at random.
  if (nonce_.empty()) nonce_ = keys::RandomNonce();
  PutFixed64(nonce_.data() + 4, GetFixed64(nonce_.data() + 4) + 1);
  std::memcpy(payload + kPayloadPrefixSize, nonce_.data(), nonce_.size());
  Status s = gcm_.SealTo(nonce_, Aad(offset, append_ms), plain_, payload + kPayloadPrefixSize + keys::kNonceBytes);
  if (!s.ok()) {
    out->resize(header_at);
    return s;
  }
  char* h = out->data() + header_at;
  PutFixed32(h, static_cast<uint32_t>(payload_len));
  PutFixed32(h + 4, crc32c::Extend(0, payload, payload_len));
  return Status::Ok();
}

bool SealedPayloadShape(std::string_view payload) {
  return payload.size() >= kPayloadPrefixSize + kSealOverhead + kEventBinaryFixedSize &&
         static_cast<uint8_t>(payload[0]) == kKindSealedV1;
}

Status RecordCipher::Open(uint64_t offset, std::string_view payload, LogRecord* r) {
  if (!SealedPayloadShape(payload)) return Status::Corruption("not a sealed log record");
  const int64_t append_ms = static_cast<int64_t>(GetFixed64(payload.data() + 1));
  const std::string_view nonce = payload.substr(kPayloadPrefixSize, keys::kNonceBytes);
  RETURN_IF_ERROR(
      gcm_.OpenTo(nonce, Aad(offset, append_ms), payload.substr(kPayloadPrefixSize + keys::kNonceBytes), &plain_));
  r->append_time = AppendTimeMs(append_ms);
  return DecodeEventBinary(plain_, &r->event);
}

}  // namespace watershed::log
