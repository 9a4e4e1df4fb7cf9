// Fuzzes the Avro object container reader (src/lake/avro.h), which reads
// Iceberg manifests and manifest lists. Every input is parsed as a whole
// container file with small limits.
// Properties checked (a violation traps):
//  * no input crashes, hangs or trips a sanitizer;
//  * every failure is kCorruption and names an avro cause;
//  * an accepted file, written again by ContainerWriter with its schema
//    text, user metadata and sync marker, reads back to objects with the
//    same encodings (compared as bytes, so NaNs compare equal), and
//    re-encoding every object succeeds (decoded values match their schema).

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "lake/avro.h"

namespace {

using watershed::StatusCode;
namespace avro = watershed::lake::avro;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

std::string EncodeAll(const avro::ContainerFile& f) {
  std::string out;
  for (const avro::AvroValue& v : f.objects) {
    Check(avro::EncodeValue(f.schema, f.schema.root(), v, &out).ok());
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  avro::ReadLimits limits;
  limits.max_depth = 32;
  limits.max_values = 1 << 16;

  watershed::Result<avro::ContainerFile> read = avro::ReadContainer(input, limits);
  if (!read.ok()) {
    Check(read.status().code() == StatusCode::kCorruption);
    Check(read.status().message().starts_with("avro"));
    return 0;
  }
  const avro::ContainerFile& file = read.value();
  Check(!file.block_ends.empty() && file.block_ends.back() == size);
  const std::string encoded = EncodeAll(file);

  avro::Metadata extra;
  std::set<std::string> keys;
  for (const auto& [key, value] : file.metadata) {
    if (!key.starts_with("avro.") && keys.insert(key).second) extra.emplace_back(key, value);
  }
  avro::WriterOptions options;
  options.fixed_sync = true;
  options.sync = file.sync;
  options.objects_per_block = 7;
  watershed::Result<avro::ContainerWriter> writer = avro::ContainerWriter::Make(file.schema.json(), extra, options);
  Check(writer.ok());
  for (const avro::AvroValue& v : file.objects) Check(writer->Append(v).ok());
  const std::string rewritten = writer->Finish();

  watershed::Result<avro::ContainerFile> again = avro::ReadContainer(rewritten, limits);
  Check(again.ok());
  Check(again->schema.json() == file.schema.json());
  Check(again->objects.size() == file.objects.size());
  Check(EncodeAll(again.value()) == encoded);
  for (const auto& [key, value] : extra) Check(again->Find(key) != nullptr && *again->Find(key) == value);
  return 0;
}
