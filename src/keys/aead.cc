#include "keys/aead.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstring>
#include <memory>

namespace watershed::keys {
namespace {

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using Ctx = std::unique_ptr<EVP_CIPHER_CTX, CtxFree>;

const unsigned char* U(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

// EVP takes int lengths: bound every input (our messages are file chunks).
bool Fits(std::string_view s) { return s.size() <= (size_t{1} << 30); }

}  // namespace

SecretKey::SecretKey(std::string_view bytes) {
  if (bytes.size() == kKeyBytes) std::copy(bytes.begin(), bytes.end(), bytes_.begin());
}

SecretKey::~SecretKey() { OPENSSL_cleanse(bytes_.data(), bytes_.size()); }

SecretKey SecretKey::Random() {
  SecretKey k;
  if (RAND_bytes(k.bytes_.data(), static_cast<int>(k.bytes_.size())) != 1) std::abort();  // no entropy: never go on
  return k;
}

std::string Base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), U(bytes), static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string RandomNonce() {
  std::string n(kNonceBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(n.data()), static_cast<int>(n.size())) != 1) std::abort();
  return n;
}

Result<std::string> Seal(const SecretKey& key, std::string_view nonce, std::string_view aad,
                         std::string_view plaintext) {
  if (nonce.size() != kNonceBytes || !Fits(aad) || !Fits(plaintext))
    return Status::InvalidArgument("AES-GCM: bad nonce or oversized input");
  Ctx ctx(EVP_CIPHER_CTX_new());
  std::string out(plaintext.size() + kTagBytes, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  int n = 0, tail = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), U(nonce)) != 1 ||
      (!aad.empty() && EVP_EncryptUpdate(ctx.get(), nullptr, &n, U(aad), static_cast<int>(aad.size())) != 1) ||
      EVP_EncryptUpdate(ctx.get(), o, &n, U(plaintext), static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), o + n, &tail) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes, o + plaintext.size()) != 1) {
    return Status::Internal("AES-GCM encryption failed (OpenSSL)");
  }
  return out;
}

Result<std::string> Open(const SecretKey& key, std::string_view nonce, std::string_view aad, std::string_view sealed) {
  if (nonce.size() != kNonceBytes || sealed.size() < kTagBytes || !Fits(aad) || !Fits(sealed))
    return Status::Corruption("AES-GCM: sealed data too short or malformed");
  const size_t len = sealed.size() - kTagBytes;
  Ctx ctx(EVP_CIPHER_CTX_new());
  std::string out(len, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  std::string tag(sealed.substr(len));
  int n = 0, tail = 0;
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), U(nonce)) != 1 ||
      (!aad.empty() && EVP_DecryptUpdate(ctx.get(), nullptr, &n, U(aad), static_cast<int>(aad.size())) != 1) ||
      EVP_DecryptUpdate(ctx.get(), o, &n, U(sealed), static_cast<int>(len)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data()) != 1) {
    return Status::Internal("AES-GCM decryption failed (OpenSSL)");
  }
  if (EVP_DecryptFinal_ex(ctx.get(), o + n, &tail) != 1) {
    OPENSSL_cleanse(out.data(), out.size());
    return Status::Corruption("AES-GCM authentication failed: wrong key or corrupted data");
  }
  return out;
}

GcmCipher::GcmCipher(const SecretKey& key) : key_(key) {}

GcmCipher::~GcmCipher() {
  EVP_CIPHER_CTX_free(static_cast<EVP_CIPHER_CTX*>(enc_));
  EVP_CIPHER_CTX_free(static_cast<EVP_CIPHER_CTX*>(dec_));
}

Status GcmCipher::SealTo(std::string_view nonce, std::string_view aad, std::string_view plaintext, char* out) {
  if (nonce.size() != kNonceBytes || !Fits(aad) || !Fits(plaintext))
    return Status::InvalidArgument("AES-GCM: bad nonce or oversized input");
  if (!enc_) {
    enc_ = EVP_CIPHER_CTX_new();
    if (!enc_ ||
        EVP_EncryptInit_ex(static_cast<EVP_CIPHER_CTX*>(enc_), EVP_aes_256_gcm(), nullptr, key_.data(), nullptr) != 1)
      return Status::Internal("AES-GCM setup failed (OpenSSL)");
  }
  auto* ctx = static_cast<EVP_CIPHER_CTX*>(enc_);
  auto* o = reinterpret_cast<unsigned char*>(out);
  int n = 0, tail = 0;
  if (EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, U(nonce)) != 1 ||
      (!aad.empty() && EVP_EncryptUpdate(ctx, nullptr, &n, U(aad), static_cast<int>(aad.size())) != 1) ||
      EVP_EncryptUpdate(ctx, o, &n, U(plaintext), static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx, o + n, &tail) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, kTagBytes, o + plaintext.size()) != 1)
    return Status::Internal("AES-GCM encryption failed (OpenSSL)");
  return Status::Ok();
}

Status GcmCipher::OpenTo(std::string_view nonce, std::string_view aad, std::string_view sealed, std::string* out) {
  if (nonce.size() != kNonceBytes || sealed.size() < kTagBytes || !Fits(aad) || !Fits(sealed))
    return Status::Corruption("AES-GCM: sealed data too short or malformed");
  if (!dec_) {
    dec_ = EVP_CIPHER_CTX_new();
    if (!dec_ ||
        EVP_DecryptInit_ex(static_cast<EVP_CIPHER_CTX*>(dec_), EVP_aes_256_gcm(), nullptr, key_.data(), nullptr) != 1)
      return Status::Internal("AES-GCM setup failed (OpenSSL)");
  }
  auto* ctx = static_cast<EVP_CIPHER_CTX*>(dec_);
  const size_t len = sealed.size() - kTagBytes;
  out->resize(len);
  auto* o = reinterpret_cast<unsigned char*>(out->data());
  unsigned char tag[kTagBytes];
  std::memcpy(tag, sealed.data() + len, kTagBytes);
  int n = 0, tail = 0;
  if (EVP_DecryptInit_ex(ctx, nullptr, nullptr, nullptr, U(nonce)) != 1 ||
      (!aad.empty() && EVP_DecryptUpdate(ctx, nullptr, &n, U(aad), static_cast<int>(aad.size())) != 1) ||
      EVP_DecryptUpdate(ctx, o, &n, U(sealed), static_cast<int>(len)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, kTagBytes, tag) != 1)
    return Status::Internal("AES-GCM decryption failed (OpenSSL)");
  if (EVP_DecryptFinal_ex(ctx, o + n, &tail) != 1) {
    OPENSSL_cleanse(out->data(), out->size());
    out->clear();
    return Status::Corruption("AES-GCM authentication failed: wrong key or corrupted data");
  }
  return Status::Ok();
}

}  // namespace watershed::keys
