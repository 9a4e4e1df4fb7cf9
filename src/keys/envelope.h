#pragma once
// A sealed message: one plaintext (a checkpoint, a log segment's record
// batch) encrypted under a fresh data key that the region's KEK wraps
// (docs/encryption.md, "Envelope"). Layout, integers little-endian:
//   "WSE1" | u16 key-id length | key id | u16 blob length | wrapped blob |
//   12-byte nonce | ciphertext | 16-byte tag
// The tag authenticates the ciphertext together with "WSE1" and the
// caller's `context` (e.g. which file it is), so a sealed message moved to
// another role fails to open. The wrapped key is outside the tag: rewrapping
// under a new KEK rewrites only the header (a swapped key fails the tag).

#include <string>
#include <string_view>

#include "core/status.h"
#include "keys/key_provider.h"

namespace watershed::keys {

bool IsSealed(std::string_view data);
Result<std::string> SealMessage(KeyProvider& provider, std::string_view context, std::string_view plaintext);
// kCorruption for a damaged or foreign message (never garbage plaintext).
Result<std::string> OpenMessage(KeyProvider& provider, std::string_view context, std::string_view sealed);
// The wrapped data key of a sealed message (`keys status`, `keys rewrap`).
Result<WrappedKey> SealedKey(std::string_view sealed);
// The same message with its data key rewrapped under the provider's current
// KEK; the ciphertext is untouched.
Result<std::string> RewrapMessage(KeyProvider& provider, std::string_view sealed);

}  // namespace watershed::keys
