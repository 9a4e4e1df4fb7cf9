// Fuzzes the lake's readers above the Avro container: Iceberg table
// metadata JSON (src/lake/iceberg_metadata.h), manifest entries and
// manifest lists (src/lake/iceberg_manifest.h), and the lake sink's state
// in a checkpoint (src/lake/lake_sink.h) with its carried buffers
// (src/lake/sink_state.h). The first byte picks the reader.
// Properties checked (a violation traps):
//  * no input crashes, hangs or trips a sanitizer;
//  * every failure is kCorruption (or kInvalidArgument from the Avro layer's
//    callers, never anything else);
//  * accepted table metadata serializes and parses back to the same value;
//  * the sink never accepts a state whose range disagrees with the
//    checkpoint offset it is given;
//  * accepted carried buffers encode back to the very bytes they came from.

#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/endian.h"
#include "lake/iceberg_manifest.h"
#include "lake/iceberg_metadata.h"
#include "lake/lake_sink.h"
#include "lake/sink_state.h"

namespace {

using watershed::StatusCode;
namespace lake = watershed::lake;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

void CheckError(const watershed::Status& s) {
  Check(s.code() == StatusCode::kCorruption || s.code() == StatusCode::kInvalidArgument);
}

// One lake in a temporary directory for the whole run: Recover only parses
// when the state's offset disagrees with the checkpoint's (it then fails
// before touching a table).
lake::RegionLake* Lake() {
  static lake::RegionLake* lake = [] {
    static char dir[] = "/tmp/watershed_lake_fuzz_XXXXXX";
    Check(::mkdtemp(dir) != nullptr);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    });
    auto opened = lake::RegionLake::Open(watershed::FileSystem::Default(), dir, watershed::Region::kEu);
    Check(opened.ok());
    return opened.value().release();
  }();
  return lake;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 5) {
    case 0: {
      auto m = lake::ParseTableMetadata(input);
      if (!m.ok()) {
        CheckError(m.status());
        break;
      }
      auto again = lake::ParseTableMetadata(lake::TableMetadataToJson(m.value()));
      Check(again.ok() && again.value() == m.value());
      break;
    }
    case 1: {
      auto entries = lake::ReadManifestEntries(input);
      if (!entries.ok()) CheckError(entries.status());
      break;
    }
    case 2: {
      auto list = lake::ReadManifestList(input);
      if (!list.ok()) CheckError(list.status());
      break;
    }
    case 3: {
      // (A state claiming that very offset would be committed: not a parse.)
      if (input.size() >= 25 && watershed::GetFixed64(input.data() + 17) == UINT64_MAX) break;
      lake::PartitionSink sink(Lake(), 0);
      // No state covers a range ending at UINT64_MAX: every input is refused.
      watershed::Status s = sink.Recover(input, UINT64_MAX);
      Check(!s.ok() || input.empty());
      if (!s.ok()) Check(s.code() == StatusCode::kCorruption);
      break;
    }
    case 4: {
      std::string_view in = input;
      lake::CarriedBuffers carried;
      watershed::Status s = lake::DecodeCarried(&in, &carried);
      if (!s.ok()) {
        Check(s.code() == StatusCode::kCorruption);
        break;
      }
      std::string again;
      lake::EncodeCarried(carried, &again);
      Check(again == input.substr(0, input.size() - in.size()));
      break;
    }
  }
  return 0;
}
