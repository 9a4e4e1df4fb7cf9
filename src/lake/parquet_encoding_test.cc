#include "lake/parquet_encoding.h"

#include <gtest/gtest.h>

#include <random>

namespace watershed::lake {
namespace {

std::string Encode(const std::vector<uint32_t>& v, int width) {
  std::string out;
  EncodeRleHybrid(v.data(), v.size(), width, &out);
  return out;
}

std::vector<uint32_t> Decode(std::string_view in, int width, size_t count) {
  std::vector<uint32_t> out;
  Status s = DecodeRleHybrid(in, width, count, &out);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

TEST(RleHybridTest, BitPackedGroupMatchesTheSpecExample) {
  // Encodings.md: 0..7 with bit width 3 pack LSB first into 10001000
  // 11000110 11111010; header = (1 group << 1) | 1.
  EXPECT_EQ(Encode({0, 1, 2, 3, 4, 5, 6, 7}, 3), std::string("\x03\x88\xc6\xfa", 4));
}

TEST(RleHybridTest, LongRunsAreRleRuns) {
  // Ten 4s, width 3: header varint(10 << 1) = 0x14, value in one byte.
  EXPECT_EQ(Encode(std::vector<uint32_t>(10, 4), 3), std::string("\x14\x04", 2));
  // Width 9 takes two value bytes, little-endian.
  EXPECT_EQ(Encode(std::vector<uint32_t>(300, 258), 9), std::string("\xd8\x04\x02\x01", 4));
}

TEST(RleHybridTest, LiteralsBeforeARunAreAlignedToEight) {
  // 3 literals then 20 equal values: the literals borrow 5 of the run to
  // make a group of 8; the other 15 form an RLE run.
  std::vector<uint32_t> v = {1, 2, 3};
  v.insert(v.end(), 20, 7);
  const std::string e = Encode(v, 3);
  EXPECT_EQ(static_cast<uint8_t>(e[0]), 0x03);                // one bit-packed group
  EXPECT_EQ(e.substr(4), std::string("\x1e\x07", 2));          // 15 × 7
  EXPECT_EQ(Decode(e, 3, v.size()), v);
}

TEST(RleHybridTest, RoundTripsRandomValuesAtEveryWidth) {
  std::mt19937 rng(7);
  for (int width = 1; width <= 32; ++width) {
    for (size_t count : {size_t{1}, size_t{7}, size_t{8}, size_t{9}, size_t{100}, size_t{1000}, size_t{5000}}) {
      std::vector<uint32_t> v(count);
      const uint64_t limit = (uint64_t{1} << width) - 1;
      for (auto& x : v) {
        // Mix runs and noise.
        x = rng() % 3 == 0 && &x != v.data() ? *(&x - 1) : static_cast<uint32_t>(rng() & limit);
      }
      ASSERT_EQ(Decode(Encode(v, width), width, count), v) << "width " << width << " count " << count;
    }
  }
}

TEST(RleHybridTest, MalformedInputIsCorruption) {
  std::vector<uint32_t> out;
  const std::string e = Encode({0, 1, 2, 3, 4, 5, 6, 7}, 3);
  for (size_t n = 0; n < e.size(); ++n)
    EXPECT_EQ(DecodeRleHybrid(e.substr(0, n), 3, 8, &out).code(), StatusCode::kCorruption) << n;
  EXPECT_EQ(DecodeRleHybrid(std::string("\x14\x09", 2), 3, 10, &out).code(), StatusCode::kCorruption);  // 9 > 3 bits
  EXPECT_EQ(DecodeRleHybrid(std::string("\x00\x01", 2), 3, 1, &out).code(), StatusCode::kCorruption);   // empty run
  EXPECT_EQ(DecodeRleHybrid("", 33, 1, &out).code(), StatusCode::kCorruption);
  // A run claiming more groups than bytes remain.
  EXPECT_EQ(DecodeRleHybrid(std::string("\xff\x01", 2), 8, 8, &out).code(), StatusCode::kCorruption);
}

TEST(CompressionTest, EveryCodecRoundTripsAndRefusesLies) {
  std::string text;
  for (int i = 0; i < 1000; ++i) text += "story " + std::to_string(i % 17) + ";";
  for (Codec c : {Codec::kUncompressed, Codec::kSnappy, Codec::kZstd}) {
    std::string packed, back;
    ASSERT_TRUE(Compress(c, text, 3, &packed).ok()) << CodecName(c);
    if (c != Codec::kUncompressed) {
      EXPECT_LT(packed.size(), text.size() / 4) << CodecName(c);
    }
    ASSERT_TRUE(Decompress(c, packed, text.size(), &back).ok()) << CodecName(c);
    EXPECT_EQ(back, text);
    EXPECT_EQ(Decompress(c, packed, text.size() + 1, &back).code(), StatusCode::kCorruption) << CodecName(c);
    if (c != Codec::kUncompressed) {
      EXPECT_EQ(Decompress(c, packed.substr(0, packed.size() / 2), text.size(), &back).code(), StatusCode::kCorruption)
          << CodecName(c);
    }
  }
}

TEST(CompressionTest, AReusedCompressorGivesIndependentFrames) {
  for (Codec c : {Codec::kUncompressed, Codec::kSnappy, Codec::kZstd}) {
    Compressor first(c, 3);
    Compressor compressor = std::move(first);  // the context moves with it
    for (int i = 0; i < 5; ++i) {
      const std::string text = std::string(1000 + i * 37, static_cast<char>('a' + i)) + std::to_string(i);
      auto packed = compressor.Compress(text);
      ASSERT_TRUE(packed.ok()) << CodecName(c);
      std::string back;
      ASSERT_TRUE(Decompress(c, *packed, text.size(), &back).ok()) << CodecName(c) << " " << i;
      EXPECT_EQ(back, text);
    }
  }
}

// A zstd context left by one Compressor (at another level) for the next
// one of the thread: the next writes what a fresh context writes.
TEST(CompressionTest, AContextHandedOnWritesWhatAFreshOneWrites) {
  std::string text;
  for (int i = 0; i < 3000; ++i) text += std::to_string(i * 7919 % 1000) + ",";
  std::string fresh;
  ASSERT_TRUE(Compress(Codec::kZstd, text, 3, &fresh).ok());
  {
    Compressor before(Codec::kZstd, 19);
    ASSERT_TRUE(before.Compress(text + text).ok());
  }  // its context waits for the next Compressor of this thread
  Compressor next(Codec::kZstd, 3);
  auto packed = next.Compress(text);
  ASSERT_TRUE(packed.ok());
  EXPECT_EQ(std::string(*packed), fresh);
  auto again = next.Compress(text);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(std::string(*again), fresh);
}

TEST(BitWidthTest, Values) {
  EXPECT_EQ(BitWidth(0), 0);
  EXPECT_EQ(BitWidth(1), 1);
  EXPECT_EQ(BitWidth(7), 3);
  EXPECT_EQ(BitWidth(8), 4);
  EXPECT_EQ(BitWidth(UINT32_MAX), 32);
}

}  // namespace
}  // namespace watershed::lake
