// DELTA_BINARY_PACKED (Encodings.md): the spec's example, round trips at
// the block and miniblock edges and extreme values, and hostile input.
#include <gtest/gtest.h>

#include <limits>
#include <random>

#include "lake/parquet_encoding.h"

namespace watershed::lake {
namespace {

constexpr int64_t kMin64 = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax64 = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin32 = std::numeric_limits<int32_t>::min();
constexpr int64_t kMax32 = std::numeric_limits<int32_t>::max();

std::string Encode(const std::vector<int64_t>& v, bool int32) {
  std::string out;
  EncodeDeltaBinaryPacked(v.data(), v.size(), int32, &out);
  return out;
}

std::vector<int64_t> RoundTrip(const std::vector<int64_t>& v, bool int32) {
  std::vector<int64_t> out = {42};  // decoding appends
  Status s = DecodeDeltaBinaryPacked(Encode(v, int32), v.size(), int32, &out);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(out.at(0), 42);
  out.erase(out.begin());
  return out;
}

// The header of a stream of `count` values whose first is `first_zigzag`.
std::string Header(uint8_t count, uint8_t first_zigzag) {
  return std::string("\x80\x01\x04", 3) + char(count) + char(first_zigzag);
}

TEST(DeltaBinaryPackedTest, MatchesTheSpecExample) {
  // Encodings.md, example 1: 1..5 → first value 1, one block of min delta 1
  // and four miniblocks of width 0 (no bodies).
  EXPECT_EQ(Encode({1, 2, 3, 4, 5}, false), Header(5, 2) + std::string("\x02\x00\x00\x00\x00", 5));
  // Example 2: 7, 5, 3, 1, 2, 3, 4, 5 → deltas -2 -2 -2 1 1 1 1, min -2,
  // so 0 0 0 3 3 3 3 in 2 bits, LSB first, padded to 32 values (8 bytes).
  EXPECT_EQ(Encode({7, 5, 3, 1, 2, 3, 4, 5}, false), Header(8, 14) + std::string("\x03\x02\x00\x00\x00", 5) +
                                                         std::string("\xc0\x3f\x00\x00\x00\x00\x00\x00", 8));
}

TEST(DeltaBinaryPackedTest, RoundTripsAtTheBlockAndMiniblockEdges) {
  std::mt19937_64 rng(5);
  for (bool int32 : {false, true}) {
    for (size_t count : {0, 1, 2, 31, 32, 33, 127, 128, 129, 130, 256, 257, 1000, 4097}) {
      std::vector<int64_t> sorted(count), noisy(count);
      int64_t t = 1'700'000'000'000'000 % (int32 ? kMax32 : kMax64);
      for (size_t i = 0; i < count; ++i) {
        t += static_cast<int64_t>(rng() % 5000);
        sorted[i] = t;
        noisy[i] = static_cast<int64_t>(rng() % 2000) - 1000;  // negative and positive deltas
      }
      EXPECT_EQ(RoundTrip(sorted, int32), sorted) << count << (int32 ? " int32" : " int64");
      EXPECT_EQ(RoundTrip(noisy, int32), noisy) << count << (int32 ? " int32" : " int64");
    }
  }
}

TEST(DeltaBinaryPackedTest, ExtremesNeedTheFullWidthAndWrap) {
  // 0, max, min, 0, ...: deltas max, 1 (wrapped) and min, so (delta - min
  // delta) spans every 64 bits: a miniblock of width 64.
  std::vector<int64_t> v;
  for (int i = 0; i < 130; ++i) v.push_back(i % 3 == 1 ? kMax64 : i % 3 == 2 ? kMin64 : 0);
  v.push_back(-1);
  EXPECT_EQ(RoundTrip(v, false), v);
  // The first width byte follows 6 header bytes and the 10-byte zigzag min delta.
  EXPECT_EQ(Encode(v, false)[16], '\x40');
  // INT32: the same at 32 bits (the writer's INT32 columns hold int32 values only).
  std::vector<int64_t> w;
  for (int i = 0; i < 130; ++i) w.push_back(i % 3 == 1 ? kMax32 : i % 3 == 2 ? kMin32 : 0);
  EXPECT_EQ(RoundTrip(w, true), w);
  EXPECT_EQ(Encode(w, true)[11], '\x20');                      // after a 5-byte min delta
  EXPECT_LT(Encode(w, true).size(), Encode(w, false).size());  // 32-bit deltas: fewer bits
  // A constant column: width 0 everywhere, no miniblock bodies.
  const std::vector<int64_t> constant(300, kMin64);
  EXPECT_EQ(RoundTrip(constant, false), constant);
  EXPECT_LT(Encode(constant, false).size(), 40u);
}

TEST(DeltaBinaryPackedTest, EveryWidthFrom0To64RoundTrips) {
  for (int width = 0; width <= 64; ++width) {
    std::vector<int64_t> v = {0};
    const uint64_t delta = width == 0 ? 0 : width == 64 ? ~uint64_t{0} : (uint64_t{1} << width) - 1;
    for (int i = 0; i < 40; ++i)
      v.push_back(static_cast<int64_t>(static_cast<uint64_t>(v.back()) + (i % 2 ? delta : 0)));
    EXPECT_EQ(RoundTrip(v, false), v) << "width " << width;
  }
}

TEST(DeltaBinaryPackedTest, HostileInputIsCorruptionNotACrash) {
  std::vector<int64_t> out;
  auto decode = [&](const std::string& in, size_t count, bool int32 = false) {
    out = std::vector<int64_t>();
    return DecodeDeltaBinaryPacked(in, count, int32, &out).code();
  };
  std::vector<int64_t> v(200);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<int64_t>(i * i);
  const std::string good = Encode(v, false);
  ASSERT_EQ(decode(good, v.size()), StatusCode::kOk);
  for (size_t n = 0; n < good.size(); ++n) EXPECT_EQ(decode(good.substr(0, n), v.size()), StatusCode::kCorruption) << n;
  EXPECT_EQ(decode(good, v.size() + 1), StatusCode::kCorruption);  // the header counts another number
  EXPECT_EQ(decode(good, v.size() - 1), StatusCode::kCorruption);
  auto with_block = [&](const std::string& block_and_miniblocks) { return block_and_miniblocks + good.substr(3); };
  EXPECT_EQ(decode(with_block(std::string("\x00\x04", 2)), v.size()), StatusCode::kCorruption);          // block 0
  EXPECT_EQ(decode(with_block(std::string("\x64\x04", 2)), v.size()), StatusCode::kCorruption);          // 100
  EXPECT_EQ(decode(with_block(std::string("\x80\x80\x40\x04", 4)), v.size()), StatusCode::kCorruption);  // 2^20
  EXPECT_EQ(decode(with_block(std::string("\x80\x01\x00", 3)), v.size()), StatusCode::kCorruption);      // 0 miniblocks
  EXPECT_EQ(decode(with_block(std::string("\x80\x01\x03", 3)), v.size()), StatusCode::kCorruption);      // 128 / 3
  EXPECT_EQ(decode(with_block(std::string("\x80\x01\x08", 3)), v.size()), StatusCode::kCorruption);  // 16 per miniblock
  // Widths above the type's: 65 for INT64, 33 for INT32.
  const std::string wide = Header(3, 0) + std::string("\x00\x41\x00\x00\x00", 5) + std::string(8 * 65, '\xff');
  EXPECT_EQ(decode(wide, 3), StatusCode::kCorruption);
  const std::string wide32 = Header(3, 0) + std::string("\x00\x21\x00\x00\x00", 5) + std::string(8 * 33, '\xff');
  EXPECT_EQ(decode(wide32, 3, true), StatusCode::kCorruption);
  // A header claiming 2^24 values over a few bytes fails at the first
  // missing block, having grown the output by what it decoded (one value).
  const std::string huge = std::string("\x80\x01\x04\x80\x80\x80\x08\x00", 8);
  EXPECT_EQ(decode(huge, size_t{1} << 24), StatusCode::kCorruption);
  EXPECT_LE(out.capacity(), 16u);
  // Widths of miniblocks past the last value are ignored, as the spec says.
  const std::string unused = Header(2, 0) + std::string("\x02\x00\xff\xff\xff", 5);
  ASSERT_EQ(decode(unused, 2), StatusCode::kOk);
  EXPECT_EQ(out, (std::vector<int64_t>{0, 1}));
}

}  // namespace
}  // namespace watershed::lake
