// Avro binary encoding and container files (src/lake/avro.h): encodings
// computed by hand from the Avro 1.11 spec's examples, round trips of every
// type, a manifest-shaped schema whose field-id attributes must survive
// verbatim, truncation at every byte, and the independent check: Debian's
// python3-avro (tests/lake/avro_interop.py) reads our files, and writes one
// that we read.

#include "lake/avro.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>

#include "core/testing/temp_dir.h"

namespace watershed::lake::avro {
namespace {

std::string Hex(std::string_view s) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (char c : s) {
    out += kDigits[static_cast<uint8_t>(c) >> 4];
    out += kDigits[static_cast<uint8_t>(c) & 15];
  }
  return out;
}

std::string Bytes(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

Schema MustParse(std::string_view json) {
  Result<Schema> s = Schema::Parse(json);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return std::move(s).value();
}

std::string Encode(const Schema& schema, const AvroValue& v) {
  std::string out;
  Status s = EncodeValue(schema, schema.root(), v, &out);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

AvroValue Decode(const Schema& schema, std::string_view bytes) {
  Decoder in(bytes);
  Result<AvroValue> v = DecodeValue(schema, schema.root(), in);
  EXPECT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_TRUE(in.at_end());
  return v.ok() ? std::move(v).value() : AvroValue{};
}

// ---- Binary encoding, by hand from the spec ----

TEST(AvroEncoding, ZigZagExamplesFromTheSpec) {
  const std::pair<int64_t, std::string> cases[] = {
      {0, "00"},
      {-1, "01"},
      {1, "02"},
      {-2, "03"},
      {2, "04"},
      {-64, "7f"},
      {64, "8001"},
      {std::numeric_limits<int64_t>::max(), "feffffffffffffffff01"},
      {std::numeric_limits<int64_t>::min(), "ffffffffffffffffff01"},
  };
  for (const auto& [value, hex] : cases) {
    std::string out;
    Encoder(&out).Long(value);
    EXPECT_EQ(Hex(out), hex) << value;
    Decoder in(out);
    Result<int64_t> back = in.Long();
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(back.value(), value);
    EXPECT_TRUE(in.at_end());
  }
}

TEST(AvroEncoding, PrimitivesByHand) {
  std::string out;
  Encoder e(&out);
  e.Boolean(true);
  e.Boolean(false);
  e.String("foo");  // spec: 06 66 6f 6f
  e.Float(1.0f);    // 0x3f800000 little-endian
  e.Double(-2.0);   // 0xc000000000000000 little-endian
  e.Bytes("");
  e.Fixed("ab");
  EXPECT_EQ(Hex(out),
            "0100"
            "06666f6f"
            "0000803f"
            "00000000000000c0"
            "00"
            "6162");
}

TEST(AvroEncoding, ComplexExamplesFromTheSpec) {
  // record {a: long = 27, b: string = "foo"} -> 36 06 66 6f 6f
  Schema rec = MustParse(R"({"type":"record","name":"test","fields":[
      {"name":"a","type":"long"},{"name":"b","type":"string"}]})");
  EXPECT_EQ(Hex(Encode(rec, AvroValue::Record({AvroValue::Long(27), AvroValue::String("foo")}))), "3606666f6f");
  // array<long> [3, 27] -> 04 06 36 00
  Schema arr = MustParse(R"({"type":"array","items":"long"})");
  EXPECT_EQ(Hex(Encode(arr, AvroValue::Array({AvroValue::Long(3), AvroValue::Long(27)}))), "04063600");
  EXPECT_EQ(Hex(Encode(arr, AvroValue::Array({}))), "00");
  // union ["null","string"]: null -> 00, "a" -> 02 02 61
  Schema uni = MustParse(R"(["null","string"])");
  EXPECT_EQ(Hex(Encode(uni, AvroValue::Union(0, AvroValue::Null()))), "00");
  EXPECT_EQ(Hex(Encode(uni, AvroValue::Union(1, AvroValue::String("a")))), "020261");
  // map<int> {"k": 1} -> 02 02 6b 02 00
  Schema map = MustParse(R"({"type":"map","values":"int"})");
  EXPECT_EQ(Hex(Encode(map, AvroValue::Map({{"k", AvroValue::Int(1)}}))), "02026b0200");
  // fixed(3)
  Schema fixed = MustParse(R"({"type":"fixed","name":"f3","size":3})");
  EXPECT_EQ(Hex(Encode(fixed, AvroValue::Fixed("xyz"))), "78797a");
}

TEST(AvroEncoding, ReadsNegativeBlockCountsWithSizes) {
  Schema arr = MustParse(R"({"type":"array","items":"long"})");
  // count -2 (03), byte size 2 (04), items 3 and 27, end.
  AvroValue v = Decode(arr, Bytes({0x03, 0x04, 0x06, 0x36, 0x00}));
  EXPECT_EQ(v, AvroValue::Array({AvroValue::Long(3), AvroValue::Long(27)}));
  // Two blocks, the first in the sized form.
  v = Decode(arr, Bytes({0x01, 0x02, 0x06, 0x02, 0x36, 0x00}));
  EXPECT_EQ(v, AvroValue::Array({AvroValue::Long(3), AvroValue::Long(27)}));
  // A block size that does not match its items.
  const std::string mismatched = Bytes({0x03, 0x06, 0x06, 0x36, 0x00, 0x00, 0x00});
  Decoder in(mismatched);
  Result<AvroValue> bad = DecodeValue(arr, arr.root(), in);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kCorruption);
}

TEST(AvroEncoding, DecoderRejectsMalformedScalars) {
  auto corrupt = [](std::string bytes, auto read) {
    Decoder in(bytes);
    auto r = read(in);
    EXPECT_FALSE(r.ok()) << Hex(bytes);
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
      EXPECT_NE(r.status().message().find("at byte"), std::string::npos);
    }
  };
  auto long_ = [](Decoder& d) { return d.Long(); };
  corrupt("", long_);
  corrupt(Bytes({0x80}), long_);
  corrupt(Bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}),
          long_);  // 65 bits
  corrupt(Bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x81, 0x00}), long_);
  corrupt(Bytes({0x80, 0x80, 0x80, 0x80, 0x10}), [](Decoder& d) { return d.Int(); });  // 2^31
  corrupt(Bytes({0x02}), [](Decoder& d) { return d.Boolean(); });
  corrupt(Bytes({0x00, 0x00, 0x80}), [](Decoder& d) { return d.Float(); });
  corrupt(Bytes({0x06, 0x61}), [](Decoder& d) { return d.Bytes(); });
  corrupt(Bytes({0x01}), [](Decoder& d) { return d.Bytes(); });  // length -1
}

// ---- Round trips ----

constexpr std::string_view kAllTypes =
    R"({"type":"record","name":"all","namespace":"ws","fields":[
  {"name":"n","type":"null"},
  {"name":"b","type":"boolean"},
  {"name":"i","type":"int"},
  {"name":"l","type":{"type":"long","logicalType":"timestamp-micros"}},
  {"name":"f","type":"float"},
  {"name":"d","type":"double"},
  {"name":"by","type":"bytes"},
  {"name":"s","type":"string"},
  {"name":"fx","type":{"type":"fixed","name":"uuid16","size":16,"logicalType":"uuid"}},
  {"name":"a","type":{"type":"array","items":["null","int"]}},
  {"name":"m","type":{"type":"map","values":{"type":"array","items":"string"}}},
  {"name":"u","type":["null","uuid16","ws.all"]}
]})";

AvroValue AllTypesValue(int k, int depth) {
  std::vector<AvroValue> items;
  for (int j = 0; j < k; ++j)
    items.push_back(j % 2 ? AvroValue::Union(1, AvroValue::Int(-j)) : AvroValue::Union(0, {}));
  std::vector<std::pair<std::string, AvroValue>> entries;
  for (int j = 0; j < k; ++j) {
    entries.emplace_back("key" + std::to_string(j), AvroValue::Array({AvroValue::String(std::string(j, 'v'))}));
  }
  AvroValue u = depth > 0 ? AvroValue::Union(2, AllTypesValue(k + 1, depth - 1))
                : k % 2   ? AvroValue::Union(1, AvroValue::Fixed(std::string(16, 'u')))
                          : AvroValue::Union(0, {});
  return AvroValue::Record({
      AvroValue::Null(),
      AvroValue::Boolean(k % 2 == 1),
      AvroValue::Int(k % 2 ? std::numeric_limits<int32_t>::min() : std::numeric_limits<int32_t>::max()),
      AvroValue::Long(int64_t{-1} << (k % 63)),
      AvroValue::Float(k % 2 ? -0.0f : 3.25f),
      AvroValue::Double(k % 2 ? 1e-300 : -std::numeric_limits<double>::infinity()),
      AvroValue::Bytes(std::string("\0\xff\x80", 3) + std::string(static_cast<size_t>(k) * 50, 'x')),
      AvroValue::String("h\xc3\xa9llo " + std::to_string(k)),
      AvroValue::Fixed(std::string(16, static_cast<char>('a' + k))),
      AvroValue::Array(std::move(items)),
      AvroValue::Map(std::move(entries)),
      std::move(u),
  });
}

TEST(AvroValues, RoundTripEveryType) {
  Schema schema = MustParse(kAllTypes);
  for (int k = 0; k < 5; ++k) {
    const AvroValue v = AllTypesValue(k, k % 3);
    const std::string bytes = Encode(schema, v);
    EXPECT_EQ(Decode(schema, bytes), v) << k;
  }
}

TEST(AvroValues, EncodeRejectsValuesNotMatchingTheSchema) {
  Schema schema = MustParse(kAllTypes);
  auto rejects = [&](const AvroValue& v) {
    std::string out = "keep";
    Status s = EncodeValue(schema, schema.root(), v, &out);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
    EXPECT_EQ(out, "keep");  // nothing appended on failure
  };
  AvroValue good = AllTypesValue(1, 0);
  rejects(AvroValue::Long(1));
  AvroValue v = good;
  v.items.pop_back();
  rejects(v);  // field count
  v = good;
  v.items[2] = AvroValue::Long(1);
  rejects(v);  // long for int
  v = good;
  v.items[2].i = int64_t{1} << 40;
  rejects(v);  // out of int range
  v = good;
  v.items[8] = AvroValue::Fixed("short");
  rejects(v);
  v = good;
  v.items[11] = AvroValue::Union(3, AvroValue::Null());
  rejects(v);
  v = good;
  v.items[11] = AvroValue::Union(1, AvroValue::String("not fixed"));
  rejects(v);
}

TEST(AvroSchema, NamesNamespacesAndReferences) {
  Schema s = MustParse(R"({"type":"record","name":"outer","namespace":"a.b","fields":[
      {"name":"x","type":{"type":"fixed","name":"f4","size":4}},
      {"name":"y","type":"f4"},
      {"name":"z","type":"a.b.f4"},
      {"name":"w","type":{"type":"record","name":"c.inner","fields":[{"name":"v","type":"int"}]}},
      {"name":"v","type":"c.inner"},
      {"name":"self","type":["null","outer"]}]})");
  const SchemaNode& root = s.node(s.root());
  EXPECT_EQ(root.name, "a.b.outer");
  ASSERT_EQ(root.children.size(), 6u);
  EXPECT_EQ(root.children[0], root.children[1]);
  EXPECT_EQ(root.children[0], root.children[2]);
  EXPECT_EQ(s.node(root.children[0]).name, "a.b.f4");
  EXPECT_EQ(s.node(root.children[3]).name, "c.inner");
  EXPECT_EQ(root.children[3], root.children[4]);
  EXPECT_EQ(s.node(root.children[5]).children[1], s.root());  // recursive
  EXPECT_EQ(root.field_names[5], "self");

  for (std::string_view bad :
       {"", "{", "\"nosuch\"", "[]", R"(["null",["int"]])", R"({"type":"enum","name":"e","symbols":["A"]})",
        R"({"type":"record","name":"r"})", R"({"type":"fixed","name":"f"})", R"({"type":"array"})", "42"}) {
    Result<Schema> r = Schema::Parse(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
  }
  std::string deep;
  for (int k = 0; k < 100; ++k) deep += R"({"type":"array","items":)";
  deep += "\"int\"" + std::string(100, '}');
  EXPECT_EQ(Schema::Parse(deep).status().code(), StatusCode::kInvalidArgument);
}

// ---- Container files ----

// Iceberg's manifest entry (v2), cut down, with its field-id attributes,
// plus a real map to cover every complex type.
constexpr std::string_view kManifestSchema =
    R"({"type":"record","name":"manifest_entry","fields":[)"
    R"({"name":"status","type":"int","field-id":0},)"
    R"({"name":"snapshot_id","type":["null","long"],"default":null,"field-id":1},)"
    R"({"name":"sequence_number","type":["null","long"],"default":null,"field-id":3},)"
    R"({"name":"data_file","type":{"type":"record","name":"r2","fields":[)"
    R"({"name":"content","type":"int","doc":"Contents of the file","field-id":134},)"
    R"({"name":"file_path","type":"string","field-id":100},)"
    R"({"name":"file_format","type":"string","field-id":101},)"
    R"({"name":"partition","type":{"type":"record","name":"r102","fields":[)"
    R"({"name":"event_hour","type":["null","int"],"default":null,"field-id":1000}]},"field-id":102},)"
    R"({"name":"record_count","type":"long","field-id":103},)"
    R"({"name":"column_sizes","type":["null",{"type":"array","items":{"type":"record","name":"k117_v118",)"
    R"("fields":[{"name":"key","type":"int","field-id":117},{"name":"value","type":"long","field-id":118}]},)"
    R"("logicalType":"map"}],"default":null,"field-id":108},)"
    R"({"name":"lower_bounds","type":["null",{"type":"array","items":{"type":"record","name":"k126_v127",)"
    R"("fields":[{"name":"key","type":"int","field-id":126},{"name":"value","type":"bytes","field-id":127}]},)"
    R"("logicalType":"map"}],"default":null,"field-id":125},)"
    R"({"name":"split_offsets","type":["null",{"type":"array","items":"long","element-id":133}],)"
    R"("default":null,"field-id":132},)"
    R"({"name":"properties","type":{"type":"map","values":"string","key-id":201,"value-id":202},"field-id":200},)"
    R"({"name":"file_size_in_bytes","type":"double","field-id":104},)"
    R"({"name":"ratio","type":"float","field-id":105},)"
    R"({"name":"has_nulls","type":"boolean","field-id":106},)"
    R"({"name":"checksum","type":{"type":"fixed","name":"md5","size":16},"field-id":107}]},"field-id":2}]})";

AvroValue ManifestEntry(int k) {
  auto kv = [](int key, AvroValue v) { return AvroValue::Record({AvroValue::Int(key), std::move(v)}); };
  std::vector<AvroValue> sizes, bounds, offsets;
  for (int j = 0; j < k; ++j) {
    sizes.push_back(kv(j + 1, AvroValue::Long(1000 * j + k)));
    bounds.push_back(kv(j + 1, AvroValue::Bytes(std::string(static_cast<size_t>(j), static_cast<char>(j)))));
    offsets.push_back(AvroValue::Long(4 + 100000 * j));
  }
  auto opt = [](bool present, AvroValue v) {
    return present ? AvroValue::Union(1, std::move(v)) : AvroValue::Union(0, {});
  };
  AvroValue data_file = AvroValue::Record({
      AvroValue::Int(0),
      AvroValue::String("s3://lake/events/data/hour=" + std::to_string(470000 + k) + "/part-" + std::to_string(k) +
                        ".parquet"),
      AvroValue::String("PARQUET"),
      AvroValue::Record({opt(k != 2, AvroValue::Int(470000 + k))}),
      AvroValue::Long(int64_t{1} << (10 + k)),
      opt(k % 2 == 0, AvroValue::Array(std::move(sizes))),
      opt(true, AvroValue::Array(std::move(bounds))),
      opt(k != 1, AvroValue::Array(std::move(offsets))),
      AvroValue::Map({{"writer", AvroValue::String("watershed")}, {"k", AvroValue::String(std::to_string(k))}}),
      AvroValue::Double(1234.5 * k),
      AvroValue::Float(0.25f * static_cast<float>(k)),
      AvroValue::Boolean(k % 3 == 0),
      AvroValue::Fixed(std::string(16, static_cast<char>(k))),
  });
  return AvroValue::Record({
      AvroValue::Int(1 + k % 2),
      opt(k % 2 == 1, AvroValue::Long(int64_t{7'000'000'000'000'000'000} + k)),
      opt(k == 0, AvroValue::Long(-k)),
      std::move(data_file),
  });
}

const Metadata kIcebergHeader = {
    {"schema", R"({"type":"struct","schema-id":0,"fields":[]})"},
    {"partition-spec", R"([{"name":"event_hour","transform":"hour","source-id":5,"field-id":1000}])"},
    {"partition-spec-id", "0"},
    {"format-version", "2"},
    {"content", "data"},
};

std::string WriteManifest(int n, size_t per_block, SyncMarker sync = {}) {
  WriterOptions options;
  options.objects_per_block = per_block;
  options.fixed_sync = true;
  options.sync = sync;
  Result<ContainerWriter> w = ContainerWriter::Make(kManifestSchema, kIcebergHeader, options);
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  for (int k = 0; k < n; ++k) {
    Status s = w->Append(ManifestEntry(k));
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  return w->Finish();
}

TEST(AvroContainer, HeaderLayoutByHand) {
  SyncMarker sync;
  for (size_t k = 0; k < kSyncSize; ++k) sync[k] = static_cast<uint8_t>(0xa0 + k);
  WriterOptions options;
  options.fixed_sync = true;
  options.sync = sync;
  const std::string schema = R"("long")";
  Result<ContainerWriter> w = ContainerWriter::Make(schema, {{"k", "v"}}, options);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(w->Append(AvroValue::Long(-64)).ok());
  ASSERT_TRUE(w->Append(AvroValue::Long(64)).ok());
  const std::string file = w->Finish();
  std::string expect = "Obj\x01";
  expect += Bytes({0x06});  // 3 entries
  expect += Bytes({0x16}) + "avro.schema" + Bytes({0x0c}) + schema;
  expect += Bytes({0x14}) + "avro.codec" + Bytes({0x08}) + "null";
  expect += Bytes({0x02}) + "k" + Bytes({0x02}) + "v";
  expect += Bytes({0x00});  // end of map
  const std::string marker(reinterpret_cast<const char*>(sync.data()), kSyncSize);
  expect += marker;
  expect += Bytes({0x04, 0x06, 0x7f, 0x80, 0x01}) + marker;  // 2 objects, 3 bytes
  EXPECT_EQ(Hex(file), Hex(expect));
}

TEST(AvroContainer, ManifestRoundTripKeepsTheSchemaVerbatim) {
  const std::string file = WriteManifest(7, 3);
  Result<ContainerFile> r = ReadContainer(file);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->schema.json(), kManifestSchema);
  ASSERT_NE(r->Find("avro.schema"), nullptr);
  EXPECT_EQ(*r->Find("avro.schema"), kManifestSchema);
  EXPECT_NE(r->Find("avro.schema")->find(R"("field-id":1000)"), std::string::npos);
  EXPECT_EQ(*r->Find("avro.codec"), "null");
  ASSERT_EQ(r->metadata.size(), 2 + kIcebergHeader.size());
  for (size_t k = 0; k < kIcebergHeader.size(); ++k) EXPECT_EQ(r->metadata[2 + k], kIcebergHeader[k]);
  ASSERT_EQ(r->objects.size(), 7u);
  for (int k = 0; k < 7; ++k) EXPECT_EQ(r->objects[static_cast<size_t>(k)], ManifestEntry(k)) << k;
  EXPECT_EQ(r->block_ends.size(), 1u + 3u);  // header, blocks of 3, 3, 1
  EXPECT_EQ(r->block_ends.back(), file.size());
}

TEST(AvroContainer, RandomSyncMarkersDiffer) {
  Result<ContainerWriter> a = ContainerWriter::Make(R"("int")");
  Result<ContainerWriter> b = ContainerWriter::Make(R"("int")");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->sync(), b->sync());
}

TEST(AvroContainer, EmptyFileAndWriterErrors) {
  Result<ContainerWriter> w = ContainerWriter::Make(kManifestSchema, kIcebergHeader);
  ASSERT_TRUE(w.ok());
  Result<ContainerFile> r = ReadContainer(w->Finish());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->objects.empty());

  EXPECT_EQ(ContainerWriter::Make("{").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ContainerWriter::Make(R"("int")", {{"avro.codec", "deflate"}}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ContainerWriter::Make(R"("int")", {{"a", "1"}, {"a", "2"}}).status().code(), StatusCode::kInvalidArgument);
  Result<ContainerWriter> ints = ContainerWriter::Make(R"("int")");
  ASSERT_TRUE(ints.ok());
  EXPECT_EQ(ints->Append(AvroValue::String("x")).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(ints->Append(AvroValue::Int(5)).ok());
  r = ReadContainer(ints->Finish());
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->objects.size(), 1u);  // the rejected value left nothing behind
  EXPECT_EQ(r->objects[0], AvroValue::Int(5));
}

TEST(AvroContainer, StreamingHandsOverEachObjectInOrderAndStopsAtAnError) {
  Result<ContainerWriter> w = ContainerWriter::Make(R"("int")", {}, WriterOptions{.objects_per_block = 3});
  ASSERT_TRUE(w.ok());
  for (int32_t k = 0; k < 10; ++k) ASSERT_TRUE(w->Append(AvroValue::Int(k)).ok());
  const std::string file = w->Finish();
  std::vector<int64_t> seen;
  Result<ContainerFile> r = StreamContainer(file, [&](const Schema& s, AvroValue&& v) {
    EXPECT_EQ(s.node(s.root()).type, Type::kInt);
    seen.push_back(v.i);
    return Status::Ok();
  });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->objects.empty()) << "streaming keeps no object";
  EXPECT_EQ(r->block_ends.size(), 5u);  // header + 4 blocks
  EXPECT_EQ(seen, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));

  seen.clear();
  r = StreamContainer(file, [&](const Schema&, AvroValue&& v) {
    seen.push_back(v.i);
    return v.i == 4 ? Status::InvalidArgument("stop at 4") : Status::Ok();
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "stop at 4");
  EXPECT_EQ(seen.size(), 5u);
}

TEST(AvroContainer, TruncationAtEveryByteFailsCleanly) {
  const std::string file = WriteManifest(5, 2);
  Result<ContainerFile> full = ReadContainer(file);
  ASSERT_TRUE(full.ok());
  const std::vector<size_t>& ends = full->block_ends;
  size_t blocks_seen = 0;
  for (size_t n = 0; n < file.size(); ++n) {
    Result<ContainerFile> r = ReadContainer(std::string_view(file).substr(0, n));
    const auto boundary = std::find(ends.begin(), ends.end(), n);
    if (boundary == ends.end()) {
      ASSERT_FALSE(r.ok()) << n;
      EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << n;
    } else {
      // A prefix ending at a block boundary is itself a valid, shorter file.
      ASSERT_TRUE(r.ok()) << n << " " << r.status().ToString();
      ASSERT_LE(r->objects.size(), full->objects.size());
      EXPECT_TRUE(std::equal(r->objects.begin(), r->objects.end(), full->objects.begin()));
      ++blocks_seen;
    }
  }
  EXPECT_EQ(blocks_seen, ends.size() - 1);  // all but the full length
}

TEST(AvroContainer, CorruptInputsAreRejected) {
  const std::string file = WriteManifest(3, 10);
  const size_t header_end = ReadContainer(file)->block_ends[0];
  auto corrupt = [](std::string bytes, std::string_view expect) {
    Result<ContainerFile> r = ReadContainer(bytes);
    ASSERT_FALSE(r.ok()) << expect;
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
    EXPECT_NE(r.status().message().find(expect), std::string::npos) << r.status().message();
  };
  std::string bad = file;
  bad[3] = '\2';
  corrupt(bad, "magic");
  bad = file;
  bad.back() ^= 1;
  corrupt(bad, "sync marker");
  bad = file + "x";
  corrupt(bad, "");
  // Object count far beyond what the block's bytes can hold.
  bad = file.substr(0, header_end) + Bytes({0xfe, 0xff, 0xff, 0xff, 0x0f, 0x02, 0x00}) + file.substr(file.size() - 16);
  corrupt(bad, "object count");
  // A block whose objects do not fill its byte size.
  bad = file.substr(0, header_end) + Bytes({0x02, 0x06, 0x00, 0x00, 0x00}) + file.substr(file.size() - 16);
  corrupt(bad, "");

  auto header = [](std::string_view schema, std::string_view codec) {
    std::string h = "Obj\x01";
    Encoder e(&h);
    e.BlockCount(codec.empty() ? 1 : 2);
    e.String("avro.schema");
    e.Bytes(schema);
    if (!codec.empty()) {
      e.String("avro.codec");
      e.Bytes(codec);
    }
    e.EndBlocks();
    h += std::string(16, 's');
    return h;
  };
  corrupt(header(R"("int")", "deflate"), "unsupported codec deflate");
  corrupt(header(R"({"type":"enum","name":"e","symbols":["A"]})", "null"), "enum");
  corrupt(header(R"("int")", "").substr(0, 20), "");
  EXPECT_TRUE(ReadContainer(header(R"("int")", "")).ok());  // no codec means null

  // Values nested past max_depth: a recursive list, 100 deep.
  std::string deep = header(R"({"type":"record","name":"node","fields":[{"name":"next","type":["null","node"]}]})", "");
  std::string objects;
  for (int k = 0; k < 100; ++k) objects += Bytes({0x02});
  objects += Bytes({0x00});
  Encoder e(&deep);
  e.Long(1);
  e.Long(static_cast<int64_t>(objects.size()));
  deep += objects + std::string(16, 's');
  corrupt(deep, "nested too deeply");  // record and union per level: 200 > 64
  ReadLimits limits;
  limits.max_depth = 250;
  EXPECT_TRUE(ReadContainer(deep, limits).ok());

  // Many zero-byte objects are bounded by max_values, not the bytes left.
  std::string nulls = header(R"("null")", "");
  Encoder(&nulls).Long(int64_t{1} << 40);
  Encoder(&nulls).Long(0);
  nulls += std::string(16, 's');
  corrupt(nulls, "too many values");

  // More values than max_values, each costing a byte: a big manifest is not
  // refused.
  std::string ints = header(R"("int")", "");
  Encoder(&ints).Long(3'000'000);
  Encoder(&ints).Long(3'000'000);
  ints += std::string(3'000'000, '\x02') + std::string(16, 's');  // zigzag 1, one byte each
  ReadLimits few;
  few.max_values = 1'000'000;
  auto read = ReadContainer(ints, few);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->objects.size(), 3'000'000u);
}

// ---- python3-avro, the independent implementation ----

std::string InteropScript() { return std::string(WATERSHED_SOURCE_DIR) + "/tests/lake/avro_interop.py"; }

// Runs the helper; returns stdout, failing the test on a nonzero exit.
std::string RunPython(const std::string& args, const testing::TempDir& dir) {
  const std::string err = dir.Path("python.err");
  const std::string cmd = "/usr/bin/python3 " + InteropScript() + " " + args + " 2>" + err;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) {
    ADD_FAILURE() << "popen failed: " << cmd;
    return "";
  }
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  const int rc = ::pclose(p);
  std::ifstream e(err);
  std::stringstream stderr_text;
  stderr_text << e.rdbuf();
  EXPECT_EQ(rc, 0) << cmd << "\n" << stderr_text.str();
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// The helper's canonical JSON for a value (see tests/lake/avro_interop.py).
std::string Canon(const Schema& schema, int index, const AvroValue& v) {
  const SchemaNode& node = schema.node(index);
  switch (node.type) {
    case Type::kNull:
      return "null";
    case Type::kBoolean:
      return v.b ? "true" : "false";
    case Type::kInt:
    case Type::kLong:
      return std::to_string(v.i);
    case Type::kFloat:
    case Type::kDouble:
      return "\"d:" + std::to_string(std::bit_cast<int64_t>(v.d)) + "\"";
    case Type::kString:
      return "\"s:" + Hex(v.s) + "\"";
    case Type::kBytes:
    case Type::kFixed:
      return "\"b:" + Hex(v.s) + "\"";
    case Type::kUnion:
      return Canon(schema, node.children[static_cast<size_t>(v.i)], v.items[0]);
    case Type::kArray: {
      std::string out = "[";
      for (size_t k = 0; k < v.items.size(); ++k) out += (k ? "," : "") + Canon(schema, node.children[0], v.items[k]);
      return out + "]";
    }
    case Type::kRecord:
    case Type::kMap: {
      std::vector<std::pair<std::string, std::string>> pairs;
      if (node.type == Type::kRecord) {
        for (size_t k = 0; k < v.items.size(); ++k) {
          pairs.emplace_back(Hex(node.field_names[k]), Canon(schema, node.children[k], v.items[k]));
        }
      } else {
        for (const auto& [key, value] : v.entries) pairs.emplace_back(Hex(key), Canon(schema, node.children[0], value));
      }
      std::sort(pairs.begin(), pairs.end());
      std::string out = "[";
      for (size_t k = 0; k < pairs.size(); ++k)
        out += (k ? ",[\"" : "[\"") + pairs[k].first + "\"," + pairs[k].second + "]";
      return out + "]";
    }
  }
  return "?";
}

std::string CanonFile(const ContainerFile& f) {
  std::vector<std::pair<std::string, std::string>> meta;
  for (const auto& [k, v] : f.metadata) meta.emplace_back(Hex(k), Hex(v));
  std::sort(meta.begin(), meta.end());
  std::string out = "{\"meta\":[";
  for (size_t k = 0; k < meta.size(); ++k)
    out += (k ? "," : "") + ("[\"" + meta[k].first + "\",\"" + meta[k].second + "\"]");
  out += "],\"objects\":[";
  for (size_t k = 0; k < f.objects.size(); ++k) out += (k ? "," : "") + Canon(f.schema, f.schema.root(), f.objects[k]);
  return out + "]}";
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
  ASSERT_TRUE(out.good());
}

TEST(AvroPythonInterop, PythonReadsOurManifest) {
  testing::TempDir dir("avro_py");
  const std::string file = WriteManifest(6, 4);
  const std::string path = dir.Path("manifest.avro");
  WriteFile(path, file);
  Result<ContainerFile> ours = ReadContainer(file);
  ASSERT_TRUE(ours.ok());
  const std::string theirs = RunPython("read " + path, dir);
  EXPECT_EQ(theirs, CanonFile(ours.value()));
  // The header's schema, field ids included, is the text we were given.
  EXPECT_NE(theirs.find(Hex(kManifestSchema)), std::string::npos);
}

TEST(AvroPythonInterop, PythonReadsEveryType) {
  testing::TempDir dir("avro_py");
  WriterOptions options;
  options.objects_per_block = 2;
  Result<ContainerWriter> w = ContainerWriter::Make(kAllTypes, {{"origin", "watershed"}}, options);
  ASSERT_TRUE(w.ok());
  for (int k = 0; k < 5; ++k) ASSERT_TRUE(w->Append(AllTypesValue(k, k % 3)).ok());
  const std::string file = w->Finish();
  const std::string path = dir.Path("all.avro");
  WriteFile(path, file);
  Result<ContainerFile> ours = ReadContainer(file);
  ASSERT_TRUE(ours.ok());
  EXPECT_EQ(RunPython("read " + path, dir), CanonFile(ours.value()));
}

TEST(AvroPythonInterop, WeReadPythonsFile) {
  testing::TempDir dir("avro_py");
  const std::string path = dir.Path("py.avro");
  RunPython("write " + path, dir);
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  Result<ContainerFile> r = ReadContainer(bytes.str());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->block_ends.size(), 3u);  // header and two blocks
  ASSERT_NE(r->Find("origin"), nullptr);
  EXPECT_EQ(*r->Find("origin"), "python3-avro");
  ASSERT_EQ(r->objects.size(), 3u);
  // Python's own reading of its file is the reference.
  EXPECT_EQ(CanonFile(r.value()), RunPython("read " + path, dir));
  // Spot checks against the values in the script.
  const AvroValue& second = r->objects[1];
  EXPECT_EQ(second.items[0], AvroValue::Long(-1));
  EXPECT_EQ(second.items[5], AvroValue::String("caf\xc3\xa9"));
  EXPECT_EQ(second.items[10], AvroValue::Union(1, AvroValue::String("hi")));
  const AvroValue& third = r->objects[2];
  EXPECT_EQ(third.items[0], AvroValue::Long(int64_t{1} << 62));
  EXPECT_EQ(third.items[1], AvroValue::Int(std::numeric_limits<int32_t>::min()));
  EXPECT_EQ(third.items[8].items.size(), 70u);
  EXPECT_EQ(third.items[10], AvroValue::Union(2, AvroValue::Fixed("wxyz")));
  EXPECT_EQ(third.items[9], AvroValue::Map({{"only", AvroValue::Long(std::numeric_limits<int64_t>::max())}}));

  // And it is rejected cleanly when truncated anywhere but a block boundary.
  const std::string file = bytes.str();
  for (size_t n = 0; n < file.size(); ++n) {
    Result<ContainerFile> t = ReadContainer(std::string_view(file).substr(0, n));
    const bool boundary = std::find(r->block_ends.begin(), r->block_ends.end(), n) != r->block_ends.end();
    EXPECT_EQ(t.ok(), boundary) << n;
    if (!t.ok()) {
      EXPECT_EQ(t.status().code(), StatusCode::kCorruption);
    }
  }
}

}  // namespace
}  // namespace watershed::lake::avro
