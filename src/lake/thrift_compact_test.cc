#include "lake/thrift_compact.h"

#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "lake/testing/thrift_bytes.h"

namespace watershed::lake::thrift {
namespace {

using testing::Bytes;
using testing::ExpectCorruption;
using testing::Hex;

// ---- Hand-computed encodings ----

TEST(ThriftCompactWriter, FieldIdDeltasShortAndLongForm) {
  std::string out;
  Writer w(&out);
  w.BeginStruct();
  w.FieldI32(1, 0);    // delta 1: 0x15, zigzag(0) = 0
  w.FieldI32(16, 1);   // delta 15, the largest short form: 0xF5, zigzag(1) = 2
  w.FieldI32(32, -1);  // delta 16: long form 0x05, zigzag(32) = 64, zigzag(-1) = 1
  w.FieldI32(-5, 2);   // negative delta: 0x05, zigzag(-5) = 9, zigzag(2) = 4
  w.FieldI32(-4, 3);   // delta 1 from a negative id: 0x15, 6
  w.FieldI16(300, 7);  // 0x04, zigzag(300) = 600 = varint d8 04, zigzag(7) = 14
  w.FieldI32(300, 0);  // delta 0 (same id again) takes the long form too
  w.EndStruct();
  EXPECT_BYTES(out, 0x15, 0x00, 0xF5, 0x02, 0x05, 0x40, 0x01, 0x05, 0x09, 0x04, 0x15, 0x06, 0x04, 0xD8, 0x04, 0x0E,
               0x05, 0xD8, 0x04, 0x00, 0x00);

  Reader r(out);
  ASSERT_TRUE(r.BeginStruct().ok());
  const std::vector<std::pair<int16_t, Type>> want = {{1, Type::kI32},  {16, Type::kI32}, {32, Type::kI32},
                                                      {-5, Type::kI32}, {-4, Type::kI32}, {300, Type::kI16},
                                                      {300, Type::kI32}};
  const std::vector<int32_t> values = {0, 1, -1, 2, 3, 7, 0};
  for (size_t i = 0; i < want.size(); ++i) {
    Type t;
    int16_t id;
    ASSERT_TRUE(r.FieldHeader(&t, &id).ok());
    EXPECT_EQ(id, want[i].first);
    EXPECT_EQ(t, want[i].second);
    if (t == Type::kI16) {
      auto v = r.I16();
      ASSERT_TRUE(v.ok());
      EXPECT_EQ(*v, values[i]);
    } else {
      auto v = r.I32();
      ASSERT_TRUE(v.ok());
      EXPECT_EQ(*v, values[i]);
    }
  }
  Type t;
  int16_t id;
  ASSERT_TRUE(r.FieldHeader(&t, &id).ok());
  EXPECT_EQ(t, Type::kStop);
  ASSERT_TRUE(r.EndStruct().ok());
  EXPECT_TRUE(r.at_end());
}

TEST(ThriftCompactWriter, ZigZagVarints) {
  std::string out;
  Writer w(&out);
  w.I32(0);
  EXPECT_BYTES(out, 0x00);
  out.clear();
  w.I32(-1);
  EXPECT_BYTES(out, 0x01);
  out.clear();
  w.I32(1);
  EXPECT_BYTES(out, 0x02);
  out.clear();
  w.I32(-2);
  EXPECT_BYTES(out, 0x03);
  out.clear();
  w.I32(-64);  // zigzag 127: the largest one-byte varint
  EXPECT_BYTES(out, 0x7F);
  out.clear();
  w.I32(64);  // zigzag 128
  EXPECT_BYTES(out, 0x80, 0x01);
  out.clear();
  w.I32(std::numeric_limits<int32_t>::max());  // zigzag 0xFFFFFFFE
  EXPECT_BYTES(out, 0xFE, 0xFF, 0xFF, 0xFF, 0x0F);
  out.clear();
  w.I32(std::numeric_limits<int32_t>::min());  // zigzag 0xFFFFFFFF
  EXPECT_BYTES(out, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F);
  out.clear();
  w.I64(-25200);  // zigzag 50399, the spec's varint example: df 89 03
  EXPECT_BYTES(out, 0xDF, 0x89, 0x03);
  out.clear();
  w.I64(std::numeric_limits<int64_t>::max());  // zigzag 2^64 - 2
  EXPECT_BYTES(out, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01);
  out.clear();
  w.I64(std::numeric_limits<int64_t>::min());  // zigzag 2^64 - 1
  EXPECT_BYTES(out, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01);
  out.clear();
  w.I64(-1);
  EXPECT_BYTES(out, 0x01);

  const std::string r_in =
      Bytes({0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF,
             0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0xDF, 0x89, 0x03, 0x03});
  Reader r(r_in);
  EXPECT_EQ(r.I64().value(), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(r.I64().value(), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(r.I32().value(), std::numeric_limits<int32_t>::min());
  EXPECT_EQ(r.I64().value(), -25200);
  EXPECT_EQ(r.I16().value(), -2);
  EXPECT_TRUE(r.at_end());
}

TEST(ThriftCompactWriter, SmallIntsBoolsAndDoubles) {
  std::string out;
  Writer w(&out);
  w.BeginStruct();
  w.FieldBool(1, true);                                // 0x11, no body
  w.FieldBool(2, false);                               // 0x12
  w.FieldI8(3, -1);                                    // 0x13, raw byte ff
  w.FieldI16(4, std::numeric_limits<int16_t>::min());  // 0x14, zigzag 65535 = ff ff 03
  w.FieldI16(5, std::numeric_limits<int16_t>::max());  // 0x14, zigzag 65534 = fe ff 03
  w.FieldDouble(6, 1.0);                               // 0x17, 3ff0000000000000 little-endian
  w.FieldDouble(7, -2.5);                              // 0x17, c004000000000000 little-endian
  w.FieldBool(30, true);                               // long form: 0x01, zigzag(30) = 60
  w.EndStruct();
  EXPECT_BYTES(out, 0x11, 0x12, 0x13, 0xFF, 0x14, 0xFF, 0xFF, 0x03, 0x14, 0xFE, 0xFF, 0x03, 0x17, 0x00, 0x00, 0x00,
               0x00, 0x00, 0x00, 0xF0, 0x3F, 0x17, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0xC0, 0x01, 0x3C, 0x00);

  Reader r(out);
  Type t;
  int16_t id;
  ASSERT_TRUE(r.BeginStruct().ok());
  ASSERT_TRUE(r.FieldHeader(&t, &id).ok());
  EXPECT_EQ(t, Type::kTrue);
  ASSERT_TRUE(r.FieldHeader(&t, &id).ok());
  EXPECT_EQ(t, Type::kFalse);
  ASSERT_TRUE(r.FieldHeader(&t, &id).ok());
  EXPECT_EQ(r.I8().value(), -1);
  ASSERT_TRUE(r.FieldHeader(&t, &id).ok());
  EXPECT_EQ(r.I16().value(), std::numeric_limits<int16_t>::min());
  ASSERT_TRUE(r.FieldHeader(&t, &id).ok());
  EXPECT_EQ(r.I16().value(), std::numeric_limits<int16_t>::max());
  ASSERT_TRUE(r.FieldHeader(&t, &id).ok());
  EXPECT_EQ(r.Double().value(), 1.0);
  ASSERT_TRUE(r.FieldHeader(&t, &id).ok());
  EXPECT_EQ(r.Double().value(), -2.5);
  ASSERT_TRUE(r.FieldHeader(&t, &id).ok());
  EXPECT_EQ(t, Type::kTrue);
  EXPECT_EQ(id, 30);
  ASSERT_TRUE(r.FieldHeader(&t, &id).ok());
  EXPECT_EQ(t, Type::kStop);
  ASSERT_TRUE(r.EndStruct().ok());
  EXPECT_TRUE(r.at_end());
}

TEST(ThriftCompactWriter, DoubleBitPatternsSurvive) {
  for (double d : {0.0, -0.0, std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN(),
                   std::numeric_limits<double>::denorm_min(), -1e300}) {
    std::string out;
    Writer w(&out);
    w.BeginStruct();
    w.FieldDouble(1, d);
    w.EndStruct();
    Reader r(out);
    Type t;
    int16_t id;
    ASSERT_TRUE(r.BeginStruct().ok());
    ASSERT_TRUE(r.FieldHeader(&t, &id).ok());
    auto back = r.Double();
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(std::bit_cast<uint64_t>(*back), std::bit_cast<uint64_t>(d));
  }
}

TEST(ThriftCompactWriter, Binary) {
  std::string out;
  Writer w(&out);
  w.BeginStruct();
  w.FieldBinary(1, "abc");  // 0x18, length 3
  w.FieldBinary(2, "");     // 0x18, length 0
  w.EndStruct();
  EXPECT_BYTES(out, 0x18, 0x03, 'a', 'b', 'c', 0x18, 0x00, 0x00);

  out.clear();
  w.Binary(std::string(200, 'x'));  // length 200 = varint c8 01
  ASSERT_EQ(out.size(), 202u);
  EXPECT_EQ(static_cast<uint8_t>(out[0]), 0xC8);
  EXPECT_EQ(static_cast<uint8_t>(out[1]), 0x01);
  Reader r(out);
  auto v = r.Binary();
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, std::string(200, 'x'));
  EXPECT_TRUE(r.at_end());
}

TEST(ThriftCompactWriter, ListHeaders) {
  struct Case {
    uint32_t size;
    std::string header;  // after the field header byte 0x19
  };
  const std::vector<Case> cases = {
      {0, Bytes({0x05})},               // short form, size 0
      {1, Bytes({0x15})},               // short form
      {14, Bytes({0xE5})},              // the largest short form
      {15, Bytes({0xF5, 0x0F})},        // the smallest long form
      {300, Bytes({0xF5, 0xAC, 0x02})}  // 300 = varint ac 02
  };
  for (const Case& c : cases) {
    std::string out;
    Writer w(&out);
    w.BeginStruct();
    w.FieldList(1, Type::kI32, c.size);
    for (uint32_t i = 0; i < c.size; ++i) w.I32(static_cast<int32_t>(i) - 1);
    w.EndStruct();
    EXPECT_EQ(Hex(out.substr(0, 1 + c.header.size())), Hex(Bytes({0x19}) + c.header)) << c.size;

    Reader r(out);
    Type t;
    int16_t id;
    ASSERT_TRUE(r.BeginStruct().ok());
    ASSERT_TRUE(r.FieldHeader(&t, &id).ok());
    EXPECT_EQ(t, Type::kList);
    Type elem;
    uint32_t n;
    ASSERT_TRUE(r.ListHeader(&elem, &n).ok());
    EXPECT_EQ(elem, Type::kI32);
    ASSERT_EQ(n, c.size);
    for (uint32_t i = 0; i < n; ++i) EXPECT_EQ(r.I32().value(), static_cast<int32_t>(i) - 1);
    ASSERT_TRUE(r.FieldHeader(&t, &id).ok());
    EXPECT_EQ(t, Type::kStop);
    EXPECT_TRUE(r.at_end());
  }
}

TEST(ThriftCompactWriter, NestedStructRestoresLastId) {
  std::string out;
  Writer w(&out);
  w.BeginStruct();
  w.FieldI32(3, 1);                  // 0x35 02
  w.FieldStruct(5);                  // 0x2c: delta 2, struct
  w.FieldI32(1, 2);                  // 0x15 04: the nested struct starts at id 0
  w.FieldI32(2, 3);                  // 0x15 06
  w.EndStruct();                     // 00
  w.FieldI32(6, 4);                  // 0x15 08: delta from 5, not from the inner 2
  w.FieldList(7, Type::kStruct, 2);  // 0x19 0x2c
  w.BeginStruct();
  w.FieldI32(4, 5);  // 0x45 0a: list elements start at id 0 too
  w.EndStruct();
  w.BeginStruct();
  w.EndStruct();
  w.FieldI32(8, 6);  // 0x15 0c: delta from 7
  w.EndStruct();
  EXPECT_BYTES(out, 0x35, 0x02, 0x2C, 0x15, 0x04, 0x15, 0x06, 0x00, 0x15, 0x08, 0x19, 0x2C, 0x45, 0x0A, 0x00, 0x00,
               0x15, 0x0C, 0x00);

  Reader r(out);
  Type t;
  int16_t id;
  ASSERT_TRUE(r.BeginStruct().ok());
  ASSERT_TRUE(r.FieldHeader(&t, &id).ok());
  EXPECT_EQ(id, 3);
  EXPECT_EQ(r.I32().value(), 1);
  ASSERT_TRUE(r.FieldHeader(&t, &id).ok());
  EXPECT_EQ(id, 5);
  EXPECT_EQ(t, Type::kStruct);
  ASSERT_TRUE(r.BeginStruct().ok());
  ASSERT_TRUE(r.FieldHeader(&t, &id).ok());
  EXPECT_EQ(id, 1);
  EXPECT_EQ(r.I32().value(), 2);
  ASSERT_TRUE(r.FieldHeader(&t, &id).ok());
  EXPECT_EQ(id, 2);
  EXPECT_EQ(r.I32().value(), 3);
  ASSERT_TRUE(r.FieldHeader(&t, &id).ok());
  EXPECT_EQ(t, Type::kStop);
  ASSERT_TRUE(r.EndStruct().ok());
  ASSERT_TRUE(r.FieldHeader(&t, &id).ok());
  EXPECT_EQ(id, 6);
  EXPECT_EQ(r.I32().value(), 4);
  ASSERT_TRUE(r.FieldHeader(&t, &id).ok());
  EXPECT_EQ(id, 7);
  ASSERT_TRUE(r.Skip(t).ok());  // the list of structs
  ASSERT_TRUE(r.FieldHeader(&t, &id).ok());
  EXPECT_EQ(id, 8);
  EXPECT_EQ(r.I32().value(), 6);
  ASSERT_TRUE(r.FieldHeader(&t, &id).ok());
  EXPECT_EQ(t, Type::kStop);
  ASSERT_TRUE(r.EndStruct().ok());
  EXPECT_TRUE(r.at_end());
}

// ---- Round trip of a struct holding every type the writer has ----

struct Inner {
  int32_t a = 0;
  std::string s;
  bool operator==(const Inner&) const = default;
};

struct Everything {
  bool t = false;
  bool f = true;
  int8_t i8 = 0;
  int16_t i16 = 0;
  int32_t i32 = 0;
  int64_t i64 = 0;
  double d = 0;
  std::string bin;
  std::vector<int32_t> ints;
  std::vector<int64_t> longs;
  std::vector<std::string> strings;
  std::vector<Inner> inners;
  Inner nested;
  int32_t far = 0;       // id 40: long form
  int64_t negative = 0;  // id -3: long form, negative id
  bool operator==(const Everything&) const = default;
};

Everything Sample() {
  Everything e;
  e.t = true;
  e.f = false;
  e.i8 = -128;
  e.i16 = -12345;
  e.i32 = std::numeric_limits<int32_t>::min();
  e.i64 = std::numeric_limits<int64_t>::max();
  e.d = 3.25;
  e.bin = std::string("bin\0ary", 7);
  for (int i = 0; i < 20; ++i) e.ints.push_back(i * 1000 - 7000);
  e.longs = {std::numeric_limits<int64_t>::min(), -1, 0, 1};
  e.strings = {"", "a", std::string(300, 'z')};
  e.inners = {{1, "one"}, {-2, ""}, {3, "three"}};
  e.nested = {99, "nested"};
  e.far = 424242;
  e.negative = -9;
  return e;
}

void Encode(const Everything& e, std::string* out) {
  Writer w(out);
  w.BeginStruct();
  w.FieldBool(1, e.t);
  w.FieldBool(2, e.f);
  w.FieldI8(3, e.i8);
  w.FieldI16(4, e.i16);
  w.FieldI32(5, e.i32);
  w.FieldI64(6, e.i64);
  w.FieldDouble(7, e.d);
  w.FieldBinary(8, e.bin);
  w.FieldList(9, Type::kI32, static_cast<uint32_t>(e.ints.size()));
  for (int32_t v : e.ints) w.I32(v);
  w.FieldList(10, Type::kI64, static_cast<uint32_t>(e.longs.size()));
  for (int64_t v : e.longs) w.I64(v);
  w.FieldList(11, Type::kBinary, static_cast<uint32_t>(e.strings.size()));
  for (const std::string& s : e.strings) w.Binary(s);
  w.FieldList(12, Type::kStruct, static_cast<uint32_t>(e.inners.size()));
  for (const Inner& in : e.inners) {
    w.BeginStruct();
    w.FieldI32(1, in.a);
    w.FieldBinary(2, in.s);
    w.EndStruct();
  }
  w.FieldStruct(13);
  w.FieldI32(1, e.nested.a);
  w.FieldBinary(2, e.nested.s);
  w.EndStruct();
  w.FieldI32(40, e.far);
  w.FieldI64(-3, e.negative);
  w.EndStruct();
}

Status DecodeInner(Reader& r, Inner* in) {
  RETURN_IF_ERROR(r.BeginStruct());
  for (;;) {
    Type t;
    int16_t id;
    RETURN_IF_ERROR(r.FieldHeader(&t, &id));
    if (t == Type::kStop) break;
    if (id == 1 && t == Type::kI32) {
      ASSIGN_OR_RETURN(in->a, r.I32());
    } else if (id == 2 && t == Type::kBinary) {
      ASSIGN_OR_RETURN(std::string_view s, r.Binary());
      in->s = std::string(s);
    } else {
      RETURN_IF_ERROR(r.Skip(t));
    }
  }
  return r.EndStruct();
}

template <typename T, typename Read>
Status DecodeList(Reader& r, Type want, std::vector<T>* out, Read read) {
  Type elem;
  uint32_t n;
  RETURN_IF_ERROR(r.ListHeader(&elem, &n));
  if (elem != want) return Status::Corruption("wrong element type");
  for (uint32_t i = 0; i < n; ++i) {
    T v{};
    RETURN_IF_ERROR(read(&v));
    out->push_back(std::move(v));
  }
  return Status::Ok();
}

Status Decode(Reader& r, Everything* e) {
  RETURN_IF_ERROR(r.BeginStruct());
  for (;;) {
    Type t;
    int16_t id;
    RETURN_IF_ERROR(r.FieldHeader(&t, &id));
    if (t == Type::kStop) break;
    switch (id) {
      case 1:
        e->t = t == Type::kTrue;
        break;
      case 2:
        e->f = t == Type::kTrue;
        break;
      case 3: {
        ASSIGN_OR_RETURN(e->i8, r.I8());
        break;
      }
      case 4: {
        ASSIGN_OR_RETURN(e->i16, r.I16());
        break;
      }
      case 5: {
        ASSIGN_OR_RETURN(e->i32, r.I32());
        break;
      }
      case 6: {
        ASSIGN_OR_RETURN(e->i64, r.I64());
        break;
      }
      case 7: {
        ASSIGN_OR_RETURN(e->d, r.Double());
        break;
      }
      case 8: {
        ASSIGN_OR_RETURN(std::string_view s, r.Binary());
        e->bin = std::string(s);
        break;
      }
      case 9:
        RETURN_IF_ERROR(DecodeList(r, Type::kI32, &e->ints, [&](int32_t* v) -> Status {
          ASSIGN_OR_RETURN(*v, r.I32());
          return Status::Ok();
        }));
        break;
      case 10:
        RETURN_IF_ERROR(DecodeList(r, Type::kI64, &e->longs, [&](int64_t* v) -> Status {
          ASSIGN_OR_RETURN(*v, r.I64());
          return Status::Ok();
        }));
        break;
      case 11:
        RETURN_IF_ERROR(DecodeList(r, Type::kBinary, &e->strings, [&](std::string* v) -> Status {
          ASSIGN_OR_RETURN(std::string_view s, r.Binary());
          *v = std::string(s);
          return Status::Ok();
        }));
        break;
      case 12:
        RETURN_IF_ERROR(DecodeList(r, Type::kStruct, &e->inners, [&](Inner* v) { return DecodeInner(r, v); }));
        break;
      case 13:
        RETURN_IF_ERROR(DecodeInner(r, &e->nested));
        break;
      case 40: {
        ASSIGN_OR_RETURN(e->far, r.I32());
        break;
      }
      case -3: {
        ASSIGN_OR_RETURN(e->negative, r.I64());
        break;
      }
      default:
        RETURN_IF_ERROR(r.Skip(t));
    }
  }
  return r.EndStruct();
}

TEST(ThriftCompactRoundTrip, EveryType) {
  const Everything e = Sample();
  std::string out;
  Encode(e, &out);
  Reader r(out);
  Everything back;
  ASSERT_TRUE(Decode(r, &back).ok());
  EXPECT_TRUE(r.at_end());
  EXPECT_TRUE(back == e);

  Reader skipper(out);
  ASSERT_TRUE(skipper.Skip(Type::kStruct).ok());
  EXPECT_TRUE(skipper.at_end());
}

TEST(ThriftCompactRoundTrip, EveryTruncationFailsCleanly) {
  std::string full;
  Encode(Sample(), &full);
  for (size_t n = 0; n < full.size(); ++n) {
    // An exact-size heap copy, so a read past the prefix is an overflow
    // that a sanitizer build reports.
    auto buf = std::make_unique<char[]>(n + 1);
    std::copy(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n), buf.get());
    const std::string_view prefix(buf.get(), n);

    Reader r(prefix);
    Everything e;
    const Status s = Decode(r, &e);
    ExpectCorruption(s);
    EXPECT_LE(r.position(), n);

    Reader skipper(prefix);
    ExpectCorruption(skipper.Skip(Type::kStruct));
    EXPECT_LE(skipper.position(), n);
  }
}

// ---- Writer edge cases ----

TEST(ThriftCompactWriter, UnbalancedEndStructDoesNotCrash) {
  std::string out;
  Writer w(&out);
  w.EndStruct();
  w.FieldI32(1, 1);
  EXPECT_BYTES(out, 0x00, 0x15, 0x02);
}

}  // namespace
}  // namespace watershed::lake::thrift
