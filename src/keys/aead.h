#pragma once
// AES-256-GCM through OpenSSL EVP: the one cipher of encryption at rest
// (issue #13). Data keys and key-encryption keys are both 32 random bytes.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace watershed::keys {

inline constexpr size_t kKeyBytes = 32;
inline constexpr size_t kNonceBytes = 12;
inline constexpr size_t kTagBytes = 16;

// 32 key bytes, wiped (OPENSSL_cleanse) when destroyed.
class SecretKey {
 public:
  SecretKey() = default;
  explicit SecretKey(std::string_view bytes);  // REQUIRES: bytes.size() == kKeyBytes
  SecretKey(const SecretKey&) = default;
  SecretKey& operator=(const SecretKey&) = default;
  ~SecretKey();
  static SecretKey Random();
  const uint8_t* data() const { return bytes_.data(); }
  std::string_view view() const { return {reinterpret_cast<const char*>(bytes_.data()), bytes_.size()}; }
  bool operator==(const SecretKey& o) const { return bytes_ == o.bytes_; }

 private:
  std::array<uint8_t, kKeyBytes> bytes_{};
};

// Standard base64 with padding: how a data key is handed to other tools
// (DuckDB's PRAGMA add_parquet_key takes a 32-byte key as 44 characters).
std::string Base64(std::string_view bytes);

// A fresh random nonce. GCM's limit: 2^32 messages per key with random
// nonces; every file gets its own data key, so a key seals few messages.
std::string RandomNonce();

// ciphertext || 16-byte tag of `plaintext` under (key, nonce), authenticating
// `aad` too. REQUIRES: nonce.size() == kNonceBytes.
Result<std::string> Seal(const SecretKey& key, std::string_view nonce, std::string_view aad,
                         std::string_view plaintext);
// The plaintext of Seal's output; kCorruption when the tag does not match
// (wrong key, wrong aad, or any flipped bit).
Result<std::string> Open(const SecretKey& key, std::string_view nonce, std::string_view aad, std::string_view sealed);

// One key's AES-256-GCM contexts, set up once and reused per message: for
// many small messages under one key (a log segment's records, a Parquet
// file's pages), where Seal and Open would redo the key schedule each
// time. Not thread-safe.
class GcmCipher {
 public:
  explicit GcmCipher(const SecretKey& key);
  ~GcmCipher();
  GcmCipher(const GcmCipher&) = delete;
  GcmCipher& operator=(const GcmCipher&) = delete;
  // Writes ciphertext || tag (plaintext.size() + kTagBytes bytes) to `out`.
  Status SealTo(std::string_view nonce, std::string_view aad, std::string_view plaintext, char* out);
  // Replaces *out with the plaintext; kCorruption when the tag does not match.
  Status OpenTo(std::string_view nonce, std::string_view aad, std::string_view sealed, std::string* out);

 private:
  SecretKey key_;
  void* enc_ = nullptr;  // EVP_CIPHER_CTX, keyed on first use
  void* dec_ = nullptr;
};

}  // namespace watershed::keys
