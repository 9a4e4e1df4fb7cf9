// Fuzzes the embedded feature store's snapshot reader (recs/feature_store.h).
// Each input is decoded twice: as is (the header, length and CRC checks), and
// with its length and CRC fields made to match, so the body parser is reached
// by every input of 24 bytes or more. Properties checked (a violation traps):
//  * no input crashes, leaks or trips a sanitizer;
//  * a snapshot that decodes re-encodes to the very bytes it was read from (the
//  format is canonical);
//  * a decoded store answers queries and takes an event after its watermark.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/crc32c.h"
#include "core/endian.h"
#include "recs/feature_store.h"

namespace {

using watershed::recs::EmbeddedFeatureStore;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

void Decode(const std::string& bytes) {
  auto store = EmbeddedFeatureStore::DecodeSnapshot(bytes, "fuzz");
  if (!store.ok()) {
    Check(store.status().message().rfind("fuzz: ", 0) == 0);
    return;
  }
  EmbeddedFeatureStore& s = **store;
  Check(s.EncodeSnapshot() == bytes);
  const int64_t w = s.watermark();
  if (w == INT64_MAX) return;
  Check(s.Viewer(0, w + 1).ok() && s.Item(0, w + 1).ok());
  const int64_t t = w < 0 ? 0 : w;
  Check(s.Apply({0, 0, t, 1}).ok());
  if (t < INT64_MAX) Check(s.Viewer(0, t + 1).ok() && s.Item(0, t + 1).ok());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  Decode(input);
  if (input.size() >= 24) {
    const std::string_view body = std::string_view(input).substr(24);
    watershed::PutFixed64(input.data() + 12, body.size());
    watershed::PutFixed32(input.data() + 20, watershed::crc32c::Value(body));
    Decode(input);
  }
  return 0;
}
