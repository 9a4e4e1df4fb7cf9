#pragma once
// The root cause among OpenSSL's queued errors, for TLS error messages of
// the server and the client.

#include <string>

namespace watershed::http {

// "No such file or directory", "key values mismatch", "no start line", ...;
// empties this thread's OpenSSL error queue.
std::string TakeOpenSslError();

}  // namespace watershed::http
