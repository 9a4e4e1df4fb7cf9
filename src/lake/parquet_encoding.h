#pragma once
// Parquet's value encodings and page compression (Encodings.md and
// Compression.md of the Parquet format), the subset our writer uses and our
// reader accepts:
//  - the RLE / bit-packing hybrid (definition levels, dictionary indices);
//  - PLAIN for INT32, INT64, DOUBLE, BYTE_ARRAY, FIXED_LEN_BYTE_ARRAY;
//  - DELTA_BINARY_PACKED for INT32 and INT64;
//  - codecs UNCOMPRESSED, SNAPPY (raw snappy block) and ZSTD (one frame).
// Decoders check every length against the input and fail with
// kCorruption; they never read outside it or allocate more than the output
// they were told to expect.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace watershed::lake {

enum class Codec : int32_t { kUncompressed = 0, kSnappy = 1, kZstd = 6 };

// Number of bits needed for values up to max_value (0 for 0).
int BitWidth(uint64_t max_value);

// RLE / bit-packing hybrid of `values` with `bit_width` (1..32) bits each:
// runs of 8 or more equal values as RLE runs, the rest bit-packed in groups
// of 8 (the last group zero-padded). Appends to *out, no length prefix.
void EncodeRleHybrid(const uint32_t* values, size_t count, int bit_width, std::string* out);
// Decodes exactly `count` values (padding of the last bit-packed group is
// ignored). kCorruption when the input ends early or a value needs more
// than bit_width bits.
Status DecodeRleHybrid(std::string_view in, int bit_width, size_t count, std::vector<uint32_t>* out);

// DELTA_BINARY_PACKED of `count` integers: blocks of 128 values in 4
// miniblocks of 32, each block a zigzag ULEB128 min delta, the 4 bit widths
// (0..64) and the bit-packed (delta - min delta) of its miniblocks. `int32`:
// the column is INT32 (values in int32 range; deltas wrap at 32 bits, widths
// up to 32), as Encodings.md asks. Appends to *out.
void EncodeDeltaBinaryPacked(const int64_t* values, size_t count, bool int32, std::string* out);
// Decodes a page's values, appending exactly `count` of them to *out; the
// header's value count must be `count`. Bounds every field from the input:
// block sizes (multiples of 128, at most 32768), miniblock counts, widths
// (at most 64, or 32 for INT32) and bodies; kCorruption otherwise. *out
// grows only by values decoded from bytes present.
Status DecodeDeltaBinaryPacked(std::string_view in, size_t count, bool int32, std::vector<int64_t>* out);

// Compression of a page body. `level` applies to ZSTD only.
Status Compress(Codec codec, std::string_view in, int level, std::string* out);

// The same, keeping one ZSTD context across calls (a context per page cost
// ~a third of the writer's zstd time) and across Compressors of a thread (a
// released context waits in a per-thread slot for the next one: the sink
// writes many files). Not thread-safe; movable.
class Compressor {
 public:
  Compressor() = default;
  Compressor(Codec codec, int level) : codec_(codec), level_(level) {}
  ~Compressor();
  Compressor(Compressor&& o) noexcept { *this = std::move(o); }
  Compressor& operator=(Compressor&& o) noexcept;
  // Compresses into a buffer the Compressor owns (valid until the next
  // call): no zero-fill of the output bound per page.
  Result<std::string_view> Compress(std::string_view in) { return Compress(in, level_); }
  // The same at another ZSTD level (one context serves every level).
  Result<std::string_view> Compress(std::string_view in, int level);

 private:
  Codec codec_ = Codec::kUncompressed;
  int level_ = 3;
  void* zstd_ = nullptr;  // ZSTD_CCtx*, made on first use
  std::unique_ptr<char[]> out_;
  size_t out_capacity_ = 0;
  std::string other_;  // the output of the other codecs
};
// `uncompressed_size` comes from the page header; a result of another size
// is kCorruption.
Status Decompress(Codec codec, std::string_view in, size_t uncompressed_size, std::string* out);
std::string_view CodecName(Codec codec);

}  // namespace watershed::lake
