#pragma once
// Parquet modular encryption (parquet-format Encryption.md) as our writer
// and reader use it; internal to src/lake. Uniform encryption: one key for
// the footer and every column, AES_GCM_V1, encrypted footer ("PARE" at both
// ends), in the layout DuckDB writes and reads: every module (page header,
// page, the footer) is
//   u32 LE length | 12-byte random nonce | AES-GCM ciphertext | 16-byte tag
// with no additional authenticated data (no aad_file_unique), and a page
// header's compressed_page_size is the page's plaintext size. The tail is
//   FileCryptoMetaData | footer module | u32 LE length of both | "PARE".

#include <string>
#include <string_view>

#include "core/status.h"
#include "keys/aead.h"

namespace watershed::lake {

inline constexpr std::string_view kEncryptedMagic = "PARE";
// Length prefix, nonce and tag around a module's ciphertext.
inline constexpr size_t kModuleOverhead = 4 + keys::kNonceBytes + keys::kTagBytes;
// FileCryptoMetaData{encryption_algorithm: AES_GCM_V1{}} in the compact protocol.
inline constexpr std::string_view kFileCryptoMetaData("\x1c\x1c\x00\x00\x00", 5);

// Appends Module(plaintext) to *out (a fresh random nonce).
Status AppendModule(keys::GcmCipher& cipher, std::string_view plaintext, std::string* out);
// Reads the module at the front of *in (by its own length prefix), removes
// it from *in and puts its plaintext in *out. kCorruption for a cut module or
// a tag that does not match (wrong key, flipped bit).
Status NextModule(keys::GcmCipher& cipher, std::string_view* in, std::string* out);
// The length of the FileCryptoMetaData at the front of `tail`.
// kFailedPrecondition for what we do not read: another algorithm than AES_GCM_V1,
// or AAD (aad_prefix / aad_file_unique: Arrow's layout).
Result<size_t> ParseFileCryptoMetaData(std::string_view tail);

}  // namespace watershed::lake
