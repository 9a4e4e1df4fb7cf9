#include "log/record_codec.h"

#include "core/crc32c.h"
#include "core/endian.h"
#include "core/event_codec.h"
#include "log/log_format.h"

namespace watershed::log {

using namespace format;

// Appends one framed record to *out.
void AppendRecord(int64_t append_ms, const Event& e, std::string* out) {
  size_t header_at = out->size();
  out->resize(header_at + kRecordHeaderSize + kPayloadPrefixSize);
  char* p = out->data() + header_at + kRecordHeaderSize;
  *p++ = static_cast<char>(kKindEventV1);
  PutFixed64(p, static_cast<uint64_t>(append_ms));
  AppendEventBinary(e, out);
  size_t payload_len = out->size() - header_at - kRecordHeaderSize;
  const char* payload = out->data() + header_at + kRecordHeaderSize;
  char* h = out->data() + header_at;
  PutFixed32(h, static_cast<uint32_t>(payload_len));
  PutFixed32(h + 4, crc32c::Extend(0, payload, payload_len));
}

Frame CheckFrame(std::string_view data, uint32_t* payload_len) {
  if (data.size() < kRecordHeaderSize) return Frame::kIncomplete;
  uint32_t len = GetFixed32(data.data());
  if (len < kPayloadPrefixSize + kEventBinaryFixedSize || len > kMaxPayloadSize) return Frame::kCorrupt;
  if (data.size() < kRecordHeaderSize + len) return Frame::kIncomplete;
  if (crc32c::Extend(0, data.data() + kRecordHeaderSize, len) != GetFixed32(data.data() + 4)) return Frame::kCorrupt;
  *payload_len = len;
  return Frame::kRecord;
}

Status DecodePayload(std::string_view payload, LogRecord* r) {
  if (static_cast<uint8_t>(payload[0]) == kKindSealedV1)
    return Status::Corruption("encrypted log record read without its segment's key");
  if (static_cast<uint8_t>(payload[0]) != kKindEventV1) return Status::Corruption("unknown log record kind");
  r->append_time = AppendTimeMs(static_cast<int64_t>(GetFixed64(payload.data() + 1)));
  return DecodeEventBinary(payload.substr(kPayloadPrefixSize), &r->event);
}

}  // namespace watershed::log
