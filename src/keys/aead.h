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

// One key's AES-256-GCM context reused for many messages (a Parquet file's
// pages): the key schedule is computed once per direction, each message only
// sets its nonce. Not thread-safe; one per file reader or writer.
class GcmCipher {
 public:
  explicit GcmCipher(const SecretKey& key);
  ~GcmCipher();
  GcmCipher(const GcmCipher&) = delete;
  GcmCipher& operator=(const GcmCipher&) = delete;
  // Appends ciphertext || tag of `plaintext` under `nonce` (no additional data) to *out.
  Status SealAppend(std::string_view nonce, std::string_view plaintext, std::string* out);
  // Replaces *out with the plaintext of `sealed` (ciphertext || tag);
  // kCorruption when the tag does not match (wrong key or any flipped bit).
  Status OpenTo(std::string_view nonce, std::string_view sealed, std::string* out);

 private:
  Status Init(bool encrypt);
  SecretKey key_;
  void* ctx_ = nullptr;  // EVP_CIPHER_CTX
  int mode_ = -1;        // 1 encrypt, 0 decrypt, -1 neither yet
};

}  // namespace watershed::keys
