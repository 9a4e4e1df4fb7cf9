#pragma once
// Envelope encryption's key side (issue #13, docs/encryption.md): every file
// or segment gets a random data key; a region's key-encryption key (KEK)
// wraps it, and only the wrapped form is stored beside the data. A provider
// serves one region and never reads another region's keys.

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "keys/aead.h"

namespace watershed::keys {

// A data key as stored: which KEK wrapped it and the provider's opaque blob.
struct WrappedKey {
  std::string key_id;
  std::string blob;
};

class KeyProvider {
 public:
  virtual ~KeyProvider() = default;
  virtual const std::string& region() const = 0;
  // Wraps under the region's current KEK.
  virtual Result<WrappedKey> Wrap(const SecretKey& data_key) = 0;
  // kNotFound for an unknown or retired key id; kCorruption when the blob
  // does not authenticate (another region's, or damaged).
  virtual Result<SecretKey> Unwrap(const WrappedKey& wrapped) = 0;
  // The key id Wrap uses now, when the provider can tell without wrapping
  // (local files); "" when it cannot (a KMS command). Holders of long-lived
  // wrapped keys compare it to theirs to re-wrap after a rotation.
  virtual Result<std::string> CurrentKeyId() { return std::string(); }
};

// A fresh data key and its wrapped form.
struct DataKey {
  SecretKey key;
  WrappedKey wrapped;
};
Result<DataKey> NewDataKey(KeyProvider& provider);

// Region names as the lake and config spell them: [a-z0-9-], 1..63.
Status CheckRegionName(const std::string& region);
// Key ids become file names and reach a KMS command's line: 1..128 of
// letters, digits, '-', '_', '.', not starting with '-' or '.'.
bool ValidKeyId(const std::string& id);

// KEKs in files: <keys-dir>/<region>/<key-id>.key (64 hex digits, 0600) and
// <keys-dir>/<region>/current naming the KEK that wraps new data keys.
class LocalKeyStore {
 public:
  LocalKeyStore(std::string keys_dir, std::string region);

  struct KeyInfo {
    std::string id;
    bool current = false;
  };
  // Creates a KEK (ids sort by creation time); makes it current when
  // `make_current` or when the region has none.
  Result<std::string> Create(bool make_current);
  Result<std::vector<KeyInfo>> List() const;
  Result<std::string> Current() const;
  Status SetCurrent(const std::string& id);
  Result<SecretKey> Load(const std::string& id) const;
  // Moves a key to <region>/retired/ (it no longer unwraps anything);
  // refuses the current key. The caller checks nothing else depends on it.
  Status Retire(const std::string& id);

  const std::string& region() const { return region_; }
  std::string dir() const;

 private:
  std::string keys_dir_, region_;
};

// Wraps with AES-256-GCM under the KEK of a LocalKeyStore. Blob: nonce ||
// sealed key || tag, the additional data binding region and key id.
std::unique_ptr<KeyProvider> NewLocalKeyProvider(const std::string& keys_dir, const std::string& region);

// Runs `command` (through /bin/sh -c) to wrap and unwrap, how a cloud KMS
// CLI is plugged in; the protocol (docs/encryption.md):
//   <command> wrap <region>           stdin: data key (64 hex)  stdout: "<key-id> <blob hex>"
//   <command> unwrap <region> <key-id> stdin: blob hex          stdout: data key (64 hex)
// A non-zero exit, more than 64 KiB of output or more than `timeout_ms`
// is an error that quotes the command's stderr.
std::unique_ptr<KeyProvider> NewExecKeyProvider(const std::string& command, const std::string& region,
                                                int timeout_ms = 10'000);

}  // namespace watershed::keys
