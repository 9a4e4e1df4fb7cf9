#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "lake/testing/thrift_bytes.h"
#include "lake/thrift_compact.h"

namespace watershed::lake::thrift {
namespace {

using testing::Bytes;
using testing::ExpectCorruption;

// ---- Skip ----

// A struct with every wire type, the ones the writer lacks (set, map, bool
// elements) built by hand with long-form field headers, ending with an i32
// field 26 = 42 that is read, not skipped, to check where Skip stopped.
std::string EveryWireType() {
  std::string out;
  Writer w(&out);
  w.BeginStruct();
  w.FieldBool(1, true);
  w.FieldBool(2, false);
  w.FieldI8(3, 5);
  w.FieldI16(4, -300);
  w.FieldI32(5, 123456);
  w.FieldI64(6, -1);
  w.FieldDouble(7, 0.5);
  w.FieldBinary(8, "skip me");
  w.FieldList(9, Type::kI64, 16);
  for (int i = 0; i < 16; ++i) w.I64(i);
  w.FieldStruct(12);
  w.FieldBool(1, false);
  w.FieldStruct(2);
  w.FieldBinary(1, "deep");
  w.EndStruct();
  w.EndStruct();
  out += Bytes({
      0x0B, 0x28, 0x02, 0x85, 0x01, 'a',  0x02, 0x01, 'b',  0x04,  // 20: map<binary,i32>{a:1, b:2}
      0x0A, 0x2A, 0x26, 0x02, 0x04,                                // 21: set<i64>{1, 2}
      0x09, 0x2C, 0x31, 0x01, 0x02, 0x00,                          // 22: list<bool>, 3 elements, 1 byte each
      0x0B, 0x2E, 0x00,                                            // 23: empty map: size 0, no type byte
      0x0B, 0x30, 0x01, 0x3B, 0x07, 0x01, 0x51, 0x02, 0x01,        // 24: map<i8, map<i32, bool>>{7: {1: true}}
      0x09, 0x32, 0x29, 0x15, 0x02, 0x05,                          // 25: list<list<i32>>{{1}, {}}
      0x09, 0x32, 0x22, 0x01, 0x02,                                // 25 again: bool element type 2, as the spec says
      0x05, 0x34, 0x54,                                            // 26: i32 42 (zigzag 84)
      0x00,
  });
  return out;
}

TEST(ThriftCompactSkip, EveryType) {
  const std::string bytes = EveryWireType();
  Reader r(bytes);
  ASSERT_TRUE(r.BeginStruct().ok());
  std::vector<int16_t> skipped;
  bool saw_26 = false;
  for (;;) {
    Type t;
    int16_t id;
    ASSERT_TRUE(r.FieldHeader(&t, &id).ok()) << r.position();
    if (t == Type::kStop) break;
    if (id == 26) {
      EXPECT_EQ(t, Type::kI32);
      EXPECT_EQ(r.I32().value(), 42);
      saw_26 = true;
      continue;
    }
    const Status s = r.Skip(t);
    ASSERT_TRUE(s.ok()) << "field " << id << ": " << s.ToString();
    skipped.push_back(id);
  }
  ASSERT_TRUE(r.EndStruct().ok());
  EXPECT_TRUE(r.at_end());
  EXPECT_TRUE(saw_26);
  EXPECT_EQ(skipped, (std::vector<int16_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 20, 21, 22, 23, 24, 25, 25}));

  Reader whole(bytes);
  ASSERT_TRUE(whole.Skip(Type::kStruct).ok());
  EXPECT_TRUE(whole.at_end());
}

TEST(ThriftCompactSkip, EveryTruncationFailsCleanly) {
  const std::string full = EveryWireType();
  for (size_t n = 0; n < full.size(); ++n) {
    auto buf = std::make_unique<char[]>(n + 1);
    std::copy(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n), buf.get());
    Reader r(std::string_view(buf.get(), n));
    ExpectCorruption(r.Skip(Type::kStruct));
    EXPECT_LE(r.position(), n);
  }
}

TEST(ThriftCompactSkip, FieldIdDeltaOverflowIsRefusedAsFieldHeaderRefusesIt) {
  // id 32767 (long form), i32 0, then a delta-1 i32 field: id 32768.
  const std::string r_in = Bytes({0x05, 0xFE, 0xFF, 0x03, 0x00, 0x15, 0x00, 0x00});
  Reader r(r_in);
  const Status s = r.Skip(Type::kStruct);
  ExpectCorruption(s);
  EXPECT_NE(s.message().find("at byte 5"), std::string::npos) << s.message();
  // The same fields with a delta that stays in range are skipped.
  const std::string ok_in = Bytes({0x05, 0xFC, 0xFF, 0x03, 0x00, 0x15, 0x00, 0x00});  // id 32766, then 32767
  Reader ok(ok_in);
  EXPECT_TRUE(ok.Skip(Type::kStruct).ok());
  EXPECT_EQ(ok.position(), ok_in.size());
}

TEST(ThriftCompactSkip, BoolFieldHasNoBody) {
  const std::string r_in = Bytes({0x07});
  Reader r(r_in);
  EXPECT_TRUE(r.Skip(Type::kTrue).ok());
  EXPECT_TRUE(r.Skip(Type::kFalse).ok());
  EXPECT_EQ(r.position(), 0u);
}

TEST(ThriftCompactSkip, UnknownTypes) {
  {
    const std::string r_in = Bytes({0x00});
    Reader r(r_in);
    ExpectCorruption(r.Skip(Type::kStop));
  }
  {
    const std::string r_in = Bytes({0x00});
    Reader r(r_in);
    ExpectCorruption(r.Skip(static_cast<Type>(13)));  // uuid: not used by Parquet
  }
  {
    const std::string r_in = Bytes({0x1D, 0x00});
    Reader r(r_in);  // field of type 13
    ExpectCorruption(r.Skip(Type::kStruct));
  }
  {
    const std::string r_in = Bytes({0x01, 0x0C});
    Reader r(r_in);  // map with key type 0
    ExpectCorruption(r.Skip(Type::kMap));
  }
  {
    const std::string r_in = Bytes({0x01, 0x5F, 0x02, 0x00});
    Reader r(r_in);  // map with value type 15
    ExpectCorruption(r.Skip(Type::kMap));
  }
  {
    const std::string r_in = Bytes({0x10});
    Reader r(r_in);  // list element type 0
    ExpectCorruption(r.Skip(Type::kList));
  }
}

TEST(ThriftCompactSkip, OversizedMap) {
  const std::string r_in = Bytes({0x03, 0x55, 0x02, 0x02, 0x04, 0x04});
  Reader r(r_in);  // 3 entries claimed, 4 bytes left: at most 2 fit
  ExpectCorruption(r.Skip(Type::kMap));
  const std::string ok_in = Bytes({0x02, 0x55, 0x02, 0x02, 0x04, 0x04});
  Reader ok(ok_in);
  EXPECT_TRUE(ok.Skip(Type::kMap).ok());
  EXPECT_TRUE(ok.at_end());
  const std::string huge_in = Bytes({0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x55});
  Reader huge(huge_in);
  ExpectCorruption(huge.Skip(Type::kMap));
}

// ---- Malformed input ----

TEST(ThriftCompactReader, FieldHeaderErrors) {
  Type t;
  int16_t id;
  {
    const std::string r_in = Bytes({0x15, 0x00});
    Reader r(r_in);
    EXPECT_EQ(r.FieldHeader(&t, &id).code(), StatusCode::kFailedPrecondition);  // not in a struct
  }
  {
    const std::string r_in = Bytes({0x10});
    Reader r(r_in);  // type stop with a delta: not a stop byte
    ASSERT_TRUE(r.BeginStruct().ok());
    ExpectCorruption(r.FieldHeader(&t, &id));
  }
  {
    const std::string r_in = Bytes({0x1E});
    Reader r(r_in);  // type 14
    ASSERT_TRUE(r.BeginStruct().ok());
    const Status s = r.FieldHeader(&t, &id);
    ExpectCorruption(s);
    EXPECT_NE(s.message().find("at byte 0"), std::string::npos) << s.message();
  }
  {
    const std::string r_in = Bytes({0x05, 0xFE, 0xFF, 0x03, 0x00, 0x15});
    Reader r(r_in);  // id 32767, then delta 1 overflows i16
    ASSERT_TRUE(r.BeginStruct().ok());
    ASSERT_TRUE(r.FieldHeader(&t, &id).ok());
    EXPECT_EQ(id, 32767);
    ASSERT_TRUE(r.I32().ok());
    const Status s = r.FieldHeader(&t, &id);
    ExpectCorruption(s);
    EXPECT_NE(s.message().find("at byte 5"), std::string::npos) << s.message();
  }
  {
    const std::string r_in = Bytes({0x05, 0x80, 0x80, 0x04});
    Reader r(r_in);  // long-form id 65536 does not fit i16
    ASSERT_TRUE(r.BeginStruct().ok());
    ExpectCorruption(r.FieldHeader(&t, &id));
  }
  {
    const std::string r_in = Bytes({});
    Reader r(r_in);
    ASSERT_TRUE(r.BeginStruct().ok());
    ExpectCorruption(r.FieldHeader(&t, &id));
  }
}

TEST(ThriftCompactReader, VarintLimits) {
  // 10 bytes, the last carrying bit 63: fine.
  EXPECT_TRUE(Reader(Bytes({0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01})).I64().ok());
  // The 10th byte carries more than bit 63.
  ExpectCorruption(Reader(Bytes({0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02})).I64());
  // 11 bytes.
  ExpectCorruption(Reader(Bytes({0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x81, 0x00})).I64());
  // Truncated.
  ExpectCorruption(Reader(Bytes({0x80, 0x80})).I64());
  // Wider than the target.
  EXPECT_TRUE(Reader(Bytes({0xFF, 0xFF, 0xFF, 0xFF, 0x0F})).I32().ok());
  ExpectCorruption(Reader(Bytes({0x80, 0x80, 0x80, 0x80, 0x10})).I32());  // 2^32
  EXPECT_TRUE(Reader(Bytes({0xFF, 0xFF, 0x03})).I16().ok());
  ExpectCorruption(Reader(Bytes({0x80, 0x80, 0x04})).I16());  // 2^16
  // Redundant continuation bytes are allowed as long as the value fits.
  auto padded = Reader(Bytes({0x82, 0x80, 0x80, 0x00})).I32();
  ASSERT_TRUE(padded.ok());
  EXPECT_EQ(*padded, 1);
  // Fixed-size reads.
  ExpectCorruption(Reader(Bytes({})).I8());
  ExpectCorruption(Reader(Bytes({1, 2, 3, 4, 5, 6, 7})).Double());
}

TEST(ThriftCompactReader, OversizedBinary) {
  {
    const auto r = Reader(Bytes({0x04, 'a', 'b', 'c'})).Binary();
    ExpectCorruption(r);
    EXPECT_NE(r.status().message().find("at byte 0"), std::string::npos);
  }
  EXPECT_TRUE(Reader(Bytes({0x03, 'a', 'b', 'c'})).Binary().ok());
  // Length 2^64 - 1: must not wrap around in the bounds check.
  ExpectCorruption(Reader(Bytes({0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 'x'})).Binary());
  // The position names the offending value, not the start of the input.
  const std::string r_in = Bytes({0x01, 'x', 0x09, 'y'});
  Reader r(r_in);
  ASSERT_TRUE(r.Binary().ok());
  const auto bad = r.Binary();
  ExpectCorruption(bad);
  EXPECT_NE(bad.status().message().find("at byte 2"), std::string::npos) << bad.status().message();
}

TEST(ThriftCompactReader, OversizedList) {
  Type elem;
  uint32_t n;
  ExpectCorruption(Reader(Bytes({0x35, 0x02, 0x02})).ListHeader(&elem, &n));  // 3 claimed, 2 bytes left
  EXPECT_TRUE(Reader(Bytes({0x35, 0x02, 0x02, 0x02})).ListHeader(&elem, &n).ok());
  EXPECT_EQ(n, 3u);
  ExpectCorruption(Reader(Bytes({0xF5, 0xE8, 0x07})).ListHeader(&elem, &n));  // 1000 claimed, none left
  ExpectCorruption(Reader(Bytes({0xF5, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F})).ListHeader(&elem, &n));  // > int32
  ExpectCorruption(
      Reader(Bytes({0xF5, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01})).ListHeader(&elem, &n));
  ExpectCorruption(Reader(Bytes({0xF5})).ListHeader(&elem, &n));  // long form, size missing
  ExpectCorruption(Reader(Bytes({})).ListHeader(&elem, &n));
  ExpectCorruption(Reader(Bytes({0x0D})).ListHeader(&elem, &n));  // element type 13
  // A long-form header may carry a small size.
  EXPECT_TRUE(Reader(Bytes({0xF8, 0x00})).ListHeader(&elem, &n).ok());
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(elem, Type::kBinary);
  // Both bool element types are accepted (1 as written by implementations, 2 as in the spec).
  EXPECT_TRUE(Reader(Bytes({0x11, 0x01})).ListHeader(&elem, &n).ok());
  EXPECT_EQ(elem, Type::kTrue);
  EXPECT_TRUE(Reader(Bytes({0x12, 0x01})).ListHeader(&elem, &n).ok());
  EXPECT_EQ(elem, Type::kFalse);
}

// ---- Depth limit ----

TEST(ThriftCompactReader, DepthLimitOnBeginStruct) {
  const std::string r_in = Bytes({});
  Reader r(r_in, 3);
  EXPECT_TRUE(r.BeginStruct().ok());
  EXPECT_TRUE(r.BeginStruct().ok());
  EXPECT_TRUE(r.BeginStruct().ok());
  ExpectCorruption(r.BeginStruct());
  EXPECT_TRUE(r.EndStruct().ok());
  EXPECT_TRUE(r.BeginStruct().ok());  // back under the limit
}

std::string NestedStructs(int depth) {
  std::string out;
  Writer w(&out);
  w.BeginStruct();
  for (int i = 1; i < depth; ++i) w.FieldStruct(1);
  w.FieldI32(2, 7);
  for (int i = 0; i < depth; ++i) w.EndStruct();
  return out;
}

TEST(ThriftCompactReader, DepthLimitOnSkip) {
  const std::string four = NestedStructs(4);
  EXPECT_TRUE(Reader(four, 4).Skip(Type::kStruct).ok());
  ExpectCorruption(Reader(four, 3).Skip(Type::kStruct));

  // Structs the caller has open count too.
  Reader r(four, 5);
  ASSERT_TRUE(r.BeginStruct().ok());
  ASSERT_TRUE(r.BeginStruct().ok());
  ExpectCorruption(r.Skip(Type::kStruct));

  // Lists and maps count as nesting levels: list<list<...>> 100000 deep
  // must fail on depth, not overflow the stack.
  const std::string lists(100000, static_cast<char>(0x19));
  ExpectCorruption(Reader(lists).Skip(Type::kList));
  std::string maps;
  for (int i = 0; i < 50000; ++i) maps += Bytes({0x01, 0x3B, 0x00});  // map<i8, map<...>>{0: ...}
  ExpectCorruption(Reader(maps).Skip(Type::kMap));
}

}  // namespace
}  // namespace watershed::lake::thrift
