#include "lake/parquet_encoding.h"

#include <snappy-c.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <type_traits>

#include "core/endian.h"

namespace watershed::lake {
namespace {

void PutVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

bool GetVarint(std::string_view in, size_t* pos, uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*pos >= in.size()) return false;
    const uint8_t b = static_cast<uint8_t>(in[(*pos)++]);
    *v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

// Bit-packs values (LSB first), a multiple of 8 of them, as one run.
void PutBitPacked(const uint32_t* values, size_t count, int bit_width, std::string* out) {
  PutVarint((count / 8) << 1 | 1, out);
  uint64_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < count; ++i) {
    acc |= static_cast<uint64_t>(values[i]) << bits;
    bits += bit_width;
    while (bits >= 8) {
      out->push_back(static_cast<char>(acc & 0xff));
      acc >>= 8;
      bits -= 8;
    }
  }
}

void PutRleRun(uint32_t value, size_t count, int bit_width, std::string* out) {
  PutVarint(static_cast<uint64_t>(count) << 1, out);
  for (int b = 0; b < (bit_width + 7) / 8; ++b) out->push_back(static_cast<char>((value >> (8 * b)) & 0xff));
}

}  // namespace

int BitWidth(uint64_t max_value) {
  int w = 0;
  while (max_value) {
    ++w;
    max_value >>= 1;
  }
  return w;
}

void EncodeRleHybrid(const uint32_t* values, size_t count, int bit_width, std::string* out) {
  // Literals wait in `pending` until a long enough run of equal values
  // follows; they are flushed in groups of 8 (at most 63 groups a run, a
  // one-byte header), borrowing values from the run to fill the last group.
  constexpr size_t kMaxLiteralRun = 63 * 8;
  std::vector<uint32_t> pending;
  auto flush_literals = [&](bool final) {
    size_t done = 0;
    while (pending.size() - done >= 8 || (final && done < pending.size())) {
      size_t n = std::min(kMaxLiteralRun, (pending.size() - done) / 8 * 8);
      if (n == 0) {  // the final, partial group: zero-padded
        pending.resize(done + 8, 0);
        n = 8;
      }
      PutBitPacked(pending.data() + done, n, bit_width, out);
      done += n;
    }
    pending.erase(pending.begin(), pending.begin() + static_cast<ptrdiff_t>(done));
  };
  size_t i = 0;
  while (i < count) {
    size_t run = 1;
    while (i + run < count && values[i + run] == values[i]) ++run;
    const size_t fill = (8 - pending.size() % 8) % 8;
    if (run >= fill + 8) {
      pending.insert(pending.end(), fill, values[i]);
      flush_literals(false);
      PutRleRun(values[i], run - fill, bit_width, out);
    } else {
      pending.insert(pending.end(), run, values[i]);
      if (pending.size() >= kMaxLiteralRun) flush_literals(false);
    }
    i += run;
  }
  flush_literals(true);
}

Status DecodeRleHybrid(std::string_view in, int bit_width, size_t count, std::vector<uint32_t>* out) {
  if (bit_width < 0 || bit_width > 32) return Status::Corruption("rle: bit width " + std::to_string(bit_width));
  out->clear();
  out->reserve(count);
  const uint64_t limit = (uint64_t{1} << bit_width) - 1;
  size_t pos = 0;
  while (out->size() < count) {
    uint64_t header = 0;
    if (!GetVarint(in, &pos, &header)) return Status::Corruption("rle: truncated run header");
    if (header & 1) {  // bit-packed: (header >> 1) groups of 8
      const uint64_t groups = header >> 1;
      if (groups == 0 || groups > (in.size() - pos + 1)) return Status::Corruption("rle: bad bit-packed run");
      const uint64_t bytes = groups * static_cast<uint64_t>(bit_width);  // 8 values × width bits / 8
      if (bytes > in.size() - pos) return Status::Corruption("rle: bit-packed run past the end");
      uint64_t acc = 0;
      int bits = 0;
      size_t p = pos;
      for (uint64_t v = 0; v < groups * 8; ++v) {
        while (bits < bit_width) {
          acc |= static_cast<uint64_t>(static_cast<uint8_t>(in[p++])) << bits;
          bits += 8;
        }
        const uint32_t value = static_cast<uint32_t>(acc & limit);
        acc >>= bit_width;
        bits -= bit_width;
        if (out->size() < count) out->push_back(value);
      }
      pos += bytes;
    } else {  // RLE: (header >> 1) copies of one value
      const uint64_t run = header >> 1;
      const int width_bytes = (bit_width + 7) / 8;
      if (static_cast<size_t>(width_bytes) > in.size() - pos) return Status::Corruption("rle: truncated run value");
      uint64_t value = 0;
      for (int b = 0; b < width_bytes; ++b) value |= static_cast<uint64_t>(static_cast<uint8_t>(in[pos + b])) << (8 * b);
      pos += width_bytes;
      if (value > limit) return Status::Corruption("rle: value wider than the bit width");
      if (run == 0) return Status::Corruption("rle: empty run");
      const size_t take = static_cast<size_t>(std::min<uint64_t>(run, count - out->size()));
      out->insert(out->end(), take, static_cast<uint32_t>(value));
    }
  }
  return Status::Ok();
}

namespace {

constexpr size_t kDeltaBlock = 128;            // values per block (what we write)
constexpr size_t kDeltaMiniblocks = 4;         // miniblocks per block
constexpr uint64_t kMaxDeltaBlock = 1u << 15;  // the largest block size we read

uint64_t ZigZag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1)); }

// Bit-packs 32 values of `width` bits (LSB first) into 4 × width bytes at p.
void PackMiniblock(const uint64_t* v, int width, char* p) {
  uint64_t acc = 0;
  int bits = 0;
  for (size_t k = 0; k < 32; ++k) {
    acc |= v[k] << bits;
    if (bits + width >= 64) {
      PutFixed64(p, acc);
      p += 8;
      acc = bits == 0 ? 0 : v[k] >> (64 - bits);
      bits = bits + width - 64;
    } else {
      bits += width;
    }
  }
  if (bits > 0) PutFixed32(p, static_cast<uint32_t>(acc));  // 32 × odd width: 4 bytes left
}

template <typename T>
void EncodeDelta(const int64_t* values, size_t count, std::string* out) {
  using U = std::make_unsigned_t<T>;
  PutVarint(kDeltaBlock, out);
  PutVarint(kDeltaMiniblocks, out);
  PutVarint(count, out);
  PutVarint(ZigZag(count ? static_cast<T>(values[0]) : 0), out);
  uint64_t deltas[kDeltaBlock];
  for (size_t i = 1; i < count; i += kDeltaBlock) {
    const size_t n = std::min(kDeltaBlock, count - i);
    T min_delta = std::numeric_limits<T>::max();
    for (size_t k = 0; k < n; ++k) {  // wrapping differences in T's width
      const U d = static_cast<U>(static_cast<U>(static_cast<T>(values[i + k])) -
                                 static_cast<U>(static_cast<T>(values[i + k - 1])));
      deltas[k] = d;
      min_delta = std::min(min_delta, static_cast<T>(d));
    }
    for (size_t k = 0; k < n; ++k) deltas[k] = static_cast<U>(static_cast<U>(deltas[k]) - static_cast<U>(min_delta));
    const size_t used = (n + 31) / 32;
    std::fill(deltas + n, deltas + used * 32, 0);  // the last miniblock's padding
    PutVarint(ZigZag(min_delta), out);
    const size_t widths_at = out->size();
    out->append(kDeltaMiniblocks, '\0');  // unused miniblocks: width 0, no body
    for (size_t m = 0; m < used; ++m) {
      uint64_t any = 0;
      for (size_t k = 0; k < 32; ++k) any |= deltas[m * 32 + k];
      const int width = BitWidth(any);
      (*out)[widths_at + m] = static_cast<char>(width);
      if (width == 0) continue;
      const size_t at = out->size();
      out->resize(at + 4 * static_cast<size_t>(width));
      PackMiniblock(deltas + m * 32, width, out->data() + at);
    }
  }
}

template <typename T>
Status DecodeDelta(std::string_view in, size_t count, std::vector<int64_t>* out) {
  using U = std::make_unsigned_t<T>;
  auto bad = [](const std::string& what) { return Status::Corruption("DELTA_BINARY_PACKED: " + what); };
  size_t pos = 0;
  uint64_t block = 0, miniblocks = 0, total = 0, first = 0;
  if (!GetVarint(in, &pos, &block) || !GetVarint(in, &pos, &miniblocks) || !GetVarint(in, &pos, &total) ||
      !GetVarint(in, &pos, &first))
    return bad("truncated header");
  if (block == 0 || block % 128 != 0 || block > kMaxDeltaBlock)
    return bad("block size " + std::to_string(block) + " (a multiple of 128 up to 32768)");
  if (miniblocks == 0 || block % miniblocks != 0 || (block / miniblocks) % 32 != 0)
    return bad(std::to_string(miniblocks) + " miniblocks in a block of " + std::to_string(block));
  if (total != count)
    return bad("the header counts " + std::to_string(total) + " values, the page " + std::to_string(count));
  if (count == 0) return Status::Ok();
  const size_t per_miniblock = block / miniblocks;
  constexpr int kMaxWidth = static_cast<int>(sizeof(T) * 8);
  U value = static_cast<U>(static_cast<T>(UnZigZag(first)));
  out->push_back(static_cast<T>(value));
  size_t left = count - 1;
  std::vector<char> scratch;  // a miniblock's body, + 8 bytes for whole-word loads
  while (left > 0) {
    uint64_t zz = 0;
    if (!GetVarint(in, &pos, &zz)) return bad("truncated block header");
    const U min_delta = static_cast<U>(static_cast<T>(UnZigZag(zz)));
    if (miniblocks > in.size() - pos) return bad("bit widths past the end");
    const size_t widths_at = pos;
    pos += miniblocks;
    for (size_t m = 0; m < miniblocks && left > 0; ++m) {
      const int width = static_cast<uint8_t>(in[widths_at + m]);
      if (width > kMaxWidth) return bad("bit width " + std::to_string(width) + " above " + std::to_string(kMaxWidth));
      const size_t bytes = per_miniblock * static_cast<size_t>(width) / 8;
      if (bytes > in.size() - pos) return bad("miniblock past the end");
      scratch.assign(bytes + 8, 0);
      if (bytes) std::memcpy(scratch.data(), in.data() + pos, bytes);
      pos += bytes;
      const size_t n = std::min(per_miniblock, left);
      const uint64_t mask = width == 64 ? ~uint64_t{0} : (uint64_t{1} << width) - 1;
      for (size_t k = 0; k < n; ++k) {
        uint64_t packed = 0;
        if (width > 0) {
          const size_t bit = k * static_cast<size_t>(width);
          const char* p = scratch.data() + bit / 8;
          const int shift = static_cast<int>(bit % 8);
          packed = GetFixed64(p) >> shift;
          if (shift + width > 64) packed |= static_cast<uint64_t>(static_cast<uint8_t>(p[8])) << (64 - shift);
          packed &= mask;
        }
        value = static_cast<U>(value + min_delta + static_cast<U>(packed));
        out->push_back(static_cast<T>(value));
      }
      left -= n;
    }
  }
  return Status::Ok();
}

}  // namespace

void EncodeDeltaBinaryPacked(const int64_t* values, size_t count, bool int32, std::string* out) {
  if (int32) {
    EncodeDelta<int32_t>(values, count, out);
  } else {
    EncodeDelta<int64_t>(values, count, out);
  }
}

Status DecodeDeltaBinaryPacked(std::string_view in, size_t count, bool int32, std::vector<int64_t>* out) {
  return int32 ? DecodeDelta<int32_t>(in, count, out) : DecodeDelta<int64_t>(in, count, out);
}

std::string_view CodecName(Codec codec) {
  switch (codec) {
    case Codec::kUncompressed: return "UNCOMPRESSED";
    case Codec::kSnappy: return "SNAPPY";
    case Codec::kZstd: return "ZSTD";
  }
  return "UNKNOWN";
}

Status Compress(Codec codec, std::string_view in, int level, std::string* out) {
  switch (codec) {
    case Codec::kUncompressed:
      out->assign(in);
      return Status::Ok();
    case Codec::kSnappy: {
      size_t n = snappy_max_compressed_length(in.size());
      out->resize(n);
      if (snappy_compress(in.data(), in.size(), out->data(), &n) != SNAPPY_OK)
        return Status::Internal("snappy compression failed");
      out->resize(n);
      return Status::Ok();
    }
    case Codec::kZstd: {
      out->resize(ZSTD_compressBound(in.size()));
      const size_t n = ZSTD_compress(out->data(), out->size(), in.data(), in.size(), level);
      if (ZSTD_isError(n)) return Status::Internal(std::string("zstd: ") + ZSTD_getErrorName(n));
      out->resize(n);
      return Status::Ok();
    }
  }
  return Status::InvalidArgument("unknown codec");
}

namespace {

// One released ZSTD context per thread, for the next Compressor: its
// workspace is allocated and sized already. ZSTD_compressCCtx sets every
// parameter on each call, so what a context compressed before never
// changes what it writes next. A large one (high levels: the archive's
// rewrites) is freed, not kept: a thread holds at most kMaxSpareBytes.
constexpr size_t kMaxSpareBytes = 4u << 20;
struct SpareContext {
  ZSTD_CCtx* cctx = nullptr;
  ~SpareContext() { ZSTD_freeCCtx(cctx); }
};
thread_local SpareContext spare_context;

ZSTD_CCtx* TakeContext() {
  ZSTD_CCtx* c = spare_context.cctx;
  spare_context.cctx = nullptr;
  return c ? c : ZSTD_createCCtx();
}

void ReleaseContext(void* c) {
  if (!c) return;
  ZSTD_CCtx* cctx = static_cast<ZSTD_CCtx*>(c);
  if (ZSTD_sizeof_CCtx(cctx) > kMaxSpareBytes) {
    ZSTD_freeCCtx(cctx);
    return;
  }
  ZSTD_freeCCtx(spare_context.cctx);
  spare_context.cctx = cctx;
}

}  // namespace

Compressor::~Compressor() { ReleaseContext(zstd_); }

Compressor& Compressor::operator=(Compressor&& o) noexcept {
  if (this != &o) {
    ReleaseContext(zstd_);
    codec_ = o.codec_;
    level_ = o.level_;
    zstd_ = o.zstd_;
    o.zstd_ = nullptr;
    out_ = std::move(o.out_);
    out_capacity_ = o.out_capacity_;
    o.out_capacity_ = 0;
    other_ = std::move(o.other_);
  }
  return *this;
}

Result<std::string_view> Compressor::Compress(std::string_view in, int level) {
  if (codec_ != Codec::kZstd) {
    RETURN_IF_ERROR(lake::Compress(codec_, in, level, &other_));
    return std::string_view(other_);
  }
  if (!zstd_) zstd_ = TakeContext();
  if (!zstd_) return Status::Internal("zstd: cannot create a context");
  const size_t bound = ZSTD_compressBound(in.size());
  if (bound > out_capacity_) {
    out_capacity_ = std::max(bound, out_capacity_ * 2);
    out_.reset(new char[out_capacity_]);
  }
  const size_t n =
      ZSTD_compressCCtx(static_cast<ZSTD_CCtx*>(zstd_), out_.get(), out_capacity_, in.data(), in.size(), level);
  if (ZSTD_isError(n)) return Status::Internal(std::string("zstd: ") + ZSTD_getErrorName(n));
  return std::string_view(out_.get(), n);
}

Status Decompress(Codec codec, std::string_view in, size_t uncompressed_size, std::string* out) {
  out->resize(uncompressed_size);
  switch (codec) {
    case Codec::kUncompressed:
      if (in.size() != uncompressed_size) return Status::Corruption("page size disagrees with its header");
      out->assign(in);
      return Status::Ok();
    case Codec::kSnappy: {
      size_t n = 0;
      if (snappy_uncompressed_length(in.data(), in.size(), &n) != SNAPPY_OK || n != uncompressed_size)
        return Status::Corruption("snappy: bad block or size");
      if (snappy_uncompress(in.data(), in.size(), out->data(), &n) != SNAPPY_OK || n != uncompressed_size)
        return Status::Corruption("snappy: corrupt block");
      return Status::Ok();
    }
    case Codec::kZstd: {
      const size_t n = ZSTD_decompress(out->data(), out->size(), in.data(), in.size());
      if (ZSTD_isError(n)) return Status::Corruption(std::string("zstd: ") + ZSTD_getErrorName(n));
      if (n != uncompressed_size) return Status::Corruption("zstd: page size disagrees with its header");
      return Status::Ok();
    }
  }
  return Status::Corruption("unsupported codec " + std::to_string(static_cast<int>(codec)));
}

}  // namespace watershed::lake
