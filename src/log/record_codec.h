#pragma once
// Framing of one log record (docs/log_format.md), shared by the embedded log,
// its readers and the benchmarks that parse an in-memory log.

#include <cstdint>
#include <string>
#include <string_view>

#include "core/event.h"
#include "core/status.h"
#include "log/log.h"

namespace watershed::log {

// Appends [len][crc][kind, append time, event] to *out.
void AppendRecord(int64_t append_ms, const Event& e, std::string* out);

enum class Frame { kRecord, kIncomplete, kCorrupt };
// Looks at the front of `data`: a whole valid record (its payload length in
// *payload_len), too few bytes for one, or bytes that cannot be a record.
Frame CheckFrame(std::string_view data, uint32_t* payload_len);

// Decodes a plaintext payload that CheckFrame accepted; fills append_time and
// event. A sealed payload (kind 2) needs its segment's RecordCipher.
Status DecodePayload(std::string_view payload, LogRecord* r);

}  // namespace watershed::log
