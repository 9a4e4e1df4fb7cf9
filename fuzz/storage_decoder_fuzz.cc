// Fuzzes every decoder of stored bytes: log record framing and payloads,
// processor state (the checkpoint body), and the ground-truth file. The
// first input byte picks the decoder; none may crash, hang or read out of
// bounds, and what decodes must re-encode consistently.

#include <cstdint>
#include <string>
#include <string_view>

#include "log/record_codec.h"
#include "stream/partition_processor.h"
#include "workload/truth.h"

using namespace watershed;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {  // a log segment: frames until the first bad one, as recovery scans
      std::string_view rest = input;
      uint32_t len = 0;
      while (log::CheckFrame(rest, &len) == log::Frame::kRecord) {
        log::LogRecord r;
        if (log::DecodePayload(rest.substr(8, len), &r).ok()) {
          std::string again;
          log::AppendRecord(r.append_time.value, r.event, &again);
          if (again != rest.substr(0, 8 + len)) __builtin_trap();
        }
        rest.remove_prefix(8 + len);
      }
      break;
    }
    case 1: {  // a checkpoint's state: restore, then it must serialize to the same bytes
      stream::PartitionProcessor p(Region::kUs, 0, stream::ProcessorOptions{});
      if (p.Restore(input).ok()) {
        std::string out;
        p.Serialize(&out);
        stream::PartitionProcessor q(Region::kUs, 0, stream::ProcessorOptions{});
        if (!q.Restore(out).ok()) __builtin_trap();
        std::string again;
        q.Serialize(&again);
        if (again != out) __builtin_trap();
      }
      break;
    }
    case 2: {  // a truth file: parse, and what parses round-trips
      auto truth = workload::ParseTruth(input, "fuzz");
      if (truth.ok()) {
        auto again = workload::ParseTruth(workload::SerializeTruth(*truth), "again");
        if (!again.ok() || !(*again == *truth)) __builtin_trap();
      }
      break;
    }
  }
  return 0;
}
