#pragma once
// base64url (RFC 4648 §5) without padding, as JWS compact serialization
// uses it (RFC 7515 §2).

#include <string>
#include <string_view>

namespace watershed::auth {

// Appends the base64url text of `bytes` to *out, without '=' padding.
void AppendBase64Url(std::string_view bytes, std::string* out);
std::string Base64UrlEncode(std::string_view bytes);

// Decodes `text` into *out (replacing its contents). Strict: refuses '='
// padding, whitespace, any character outside A-Z a-z 0-9 '-' '_', a length
// of 1 mod 4, and non-zero unused bits in the last character (so every byte
// string has exactly one accepted spelling). Returns false on refusal, with
// *out unspecified. The empty text decodes to no bytes.
[[nodiscard]] bool Base64UrlDecode(std::string_view text, std::string* out);

}  // namespace watershed::auth
