#pragma once
// Constants of the embedded log's on-disk format (docs/log_format.md).

#include <cstddef>
#include <cstdint>

namespace watershed::log::format {

// Record: [u32 payload length][u32 CRC-32C of payload][payload], little-endian.
inline constexpr size_t kRecordHeaderSize = 8;
// Payload: [u8 kind][i64 append time ms][event binary (event_codec.h)].
inline constexpr uint8_t kKindEventV1 = 1;
inline constexpr size_t kPayloadPrefixSize = 1 + 8;
// Sealed (encryption = on, segment_crypto.h): [u8 kind][i64 append time ms]
// [12-byte nonce][AES-256-GCM of the event binary][16-byte tag].
inline constexpr uint8_t kKindSealedV1 = 2;
inline constexpr size_t kSealOverhead = 12 + 16;
// Larger lengths are corruption (an event record is under 128 bytes, sealed
// or not; the bound leaves room for the seal).
inline constexpr uint32_t kMaxPayloadSize = 4096 + kSealOverhead;
// Smallest accepted segment size (a segment holds at least one group).
inline constexpr uint64_t kMinSegmentBytes = 4096;
// In each log root: "watershed-log v2 partitions=N scheme=S\n" (or v1, the
// legacy scheme), checked at open; log_meta.h.
inline constexpr const char* kMetaFileName = "LOG_META";
// Segment files are named by their first offset, zero-padded to 20 digits.
inline constexpr const char* kSegmentSuffix = ".seg";

}  // namespace watershed::log::format
