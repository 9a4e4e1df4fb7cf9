#include "lake/parquet_encoding.h"

#include <snappy-c.h>
#include <zstd.h>

#include <algorithm>

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

Result<std::string_view> Compressor::Compress(std::string_view in) {
  if (codec_ != Codec::kZstd) {
    RETURN_IF_ERROR(lake::Compress(codec_, in, level_, &other_));
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
      ZSTD_compressCCtx(static_cast<ZSTD_CCtx*>(zstd_), out_.get(), out_capacity_, in.data(), in.size(), level_);
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
