#pragma once
// Writing JSON text by hand (the answers and files we produce are small and
// fixed in shape, so no DOM): string literals with the escapes RFC 8259
// requires.

#include <string>
#include <string_view>

namespace watershed {

// Appends `s` as a JSON string literal: quotes, backslashes and control
// characters escaped; other bytes (UTF-8) as they are.
void AppendJsonString(std::string_view s, std::string* out);

}  // namespace watershed
