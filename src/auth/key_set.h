#pragma once
// Verification keys: an optional HS256 shared secret plus the public keys
// of a JWKS document (RFC 7517), and the machinery that publishes a new key
// set to verifiers when the JWKS file is rotated.
//
// JWKS rules (README.md in this folder has the full list): kty "RSA" (n, e;
// modulus 2048..8192 bits) and kty "EC" with crv "P-256" (x, y: 32 bytes
// each, point on the curve) are loaded; every loaded key needs a unique,
// non-empty "kid". Keys with "use":"enc", other kty values (including "oct")
// and other curves are skipped. A key's optional "alg" is kept and must
// equal the token's alg when the key is used. A key carrying private
// material ("d") or a weak/invalid key fails the whole document, so a
// rotation mistake is reported instead of silently dropping keys.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/file_system.h"
#include "core/status.h"

namespace watershed::auth {

inline constexpr size_t kMinHs256SecretBytes = 32;
inline constexpr size_t kMaxJwksBytes = 1 << 20;
inline constexpr size_t kMaxJwksKeys = 100;
inline constexpr int kMinRsaBits = 2048;
inline constexpr int kMaxRsaBits = 8192;

enum class KeyType : uint8_t { kRsa, kEcP256 };

namespace internal {
struct KeySetData;  // key_set_internal.h
}  // namespace internal

// An immutable set of verification keys. Thread-safe (all methods const).
// Each KeySet gets a process-unique generation number at creation; the
// token cache ties its entries to it.
class KeySet {
 public:
  // Internal: use ParseJwks or KeySetFromSecret.
  explicit KeySet(std::unique_ptr<internal::KeySetData> data);
  ~KeySet();
  KeySet(const KeySet&) = delete;
  KeySet& operator=(const KeySet&) = delete;

  uint64_t generation() const { return generation_; }
  bool has_hs256_secret() const;
  size_t public_key_count() const;
  // The kids of the public keys, in document order (for logs).
  std::vector<std::string> kids() const;
  // For the auth component's own use.
  const internal::KeySetData& data() const { return *data_; }

 private:
  std::unique_ptr<internal::KeySetData> data_;
  uint64_t generation_;
};

// Builds a key set from a JWKS document and an optional HS256 secret (raw
// bytes; empty = HS256 disabled; otherwise at least kMinHs256SecretBytes).
// Fails (kInvalidArgument) on malformed JSON, a refused key, or when the
// result would hold no key at all.
Result<std::shared_ptr<const KeySet>> ParseJwks(std::string_view jwks_json, std::string_view hs256_secret = {});

// A key set with only the HS256 secret (at least kMinHs256SecretBytes).
Result<std::shared_ptr<const KeySet>> KeySetFromSecret(std::string_view hs256_secret);

// The current key set, readable by any number of threads while one thread
// replaces it. Get() is an atomic shared_ptr load (no allocation).
class KeySetHolder {
 public:
  // REQUIRES: keys != nullptr
  explicit KeySetHolder(std::shared_ptr<const KeySet> keys);

  std::shared_ptr<const KeySet> Get() const { return keys_.load(std::memory_order_acquire); }
  // Generation of the key set last Set(); a plain atomic load, cheaper than Get().
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  // REQUIRES: keys != nullptr
  void Set(std::shared_ptr<const KeySet> keys);

 private:
  std::atomic<std::shared_ptr<const KeySet>> keys_;
  std::atomic<uint64_t> generation_;
};

// A JWKS file (plus the configured HS256 secret) kept loaded. Thread-safe.
class JwksFile {
 public:
  // Loads `path` once; fails when it is missing, larger than kMaxJwksBytes
  // or refused by ParseJwks. `fs` must outlive the JwksFile.
  static Result<std::unique_ptr<JwksFile>> Open(std::string path, std::string hs256_secret,
                                               FileSystem* fs = FileSystem::Default());
  ~JwksFile();

  // Rereads the file. Changed and valid: publishes a new KeySet (a new
  // generation: cached verifications end) and returns Ok. Byte-identical to
  // the last good load: keeps the current KeySet and returns Ok. Missing,
  // unreadable or refused: keeps the previous keys, records the error in
  // last_status() and returns it. Meant to be called periodically from one
  // background thread; concurrent calls are serialised.
  Status Reload();
  // Result of the last Reload() (Ok before the first one).
  Status last_status() const;

  // What verifiers read; lives as long as any holder of the pointer.
  const std::shared_ptr<KeySetHolder>& holder() const { return holder_; }
  std::shared_ptr<const KeySet> current() const { return holder_->Get(); }
  const std::string& path() const { return path_; }

 private:
  JwksFile(std::string path, std::string secret, FileSystem* fs, std::string content,
           std::shared_ptr<const KeySet> keys);

  const std::string path_;
  const std::string secret_;
  FileSystem* const fs_;
  const std::shared_ptr<KeySetHolder> holder_;
  mutable std::mutex mu_;
  std::string content_;  // GUARDED_BY(mu_): bytes of the last good load
  Status last_status_;   // GUARDED_BY(mu_)
};

}  // namespace watershed::auth
