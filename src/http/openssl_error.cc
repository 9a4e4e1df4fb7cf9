#include "http/openssl_error.h"

#include <openssl/err.h>

#include <system_error>

namespace watershed::http {

std::string TakeOpenSslError() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    if (!out.empty()) continue;
    if (ERR_SYSTEM_ERROR(e)) {
      out = std::generic_category().message(ERR_GET_REASON(e));
    } else if (ERR_GET_REASON(e) & ERR_RFLAG_COMMON) {
      continue;  // "system lib", "PEM lib": a layer that passed an error on
    } else if (const char* reason = ERR_reason_error_string(e)) {
      out = reason;
    }
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

}  // namespace watershed::http
