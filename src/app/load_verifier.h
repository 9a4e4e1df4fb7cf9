#pragma once
// `watershed load --verify TRUTH`: waits until the server's lag is 0, then
// compares every story's totals and every window with the ground truth a
// `load --truth` run wrote. Prints at most 20 mismatches and a summary.

#include <cstdint>
#include <string>

#include "app/client_flags.h"  // the client types

namespace watershed::app {

// The exit code: 0 when everything matches, 1 on a mismatch, an error answer
// or when lag does not reach 0 within timeout_ms, 2 when the truth file is
// unreadable. `sent_token`: whether client sends a bearer token.
// windows_within_ms >= 0 compares only the windows the server's series
// retention still holds (workload::KeepRecentWindows); -1 compares all.
int VerifyAgainstTruth(const std::string& truth_path, HttpClient& client, bool sent_token, int64_t timeout_ms,
                       int64_t windows_within_ms = -1);

}  // namespace watershed::app
