// Fuzzes the public JSON batch decoder and the binary event codec.
// Properties checked (a violation traps):
//  * no input crashes, leaks or trips a sanitizer;
//  * every rejection index lies inside the batch, and accepted + rejected
//    events add up to the batch;
//  * every accepted event survives binary encode -> decode unchanged, and
//    JSON encode -> decode unchanged with no rejection;
//  * a binary record that decodes re-encodes to the same bytes.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/event_codec.h"

namespace {

using watershed::DecodedBatch;
using watershed::Event;
using watershed::EventValidation;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

EventValidation FixedValidation() {
  EventValidation v;
  v.now_ms = 1'700'000'000'000;  // fixed so runs are reproducible
  return v;
}

void FuzzJson(std::string_view input) {
  const EventValidation v = FixedValidation();
  DecodedBatch batch;
  watershed::Status s = watershed::DecodeEventBatchJson(input, v, &batch);
  if (!s.ok()) return;

  size_t total = batch.events.size() + batch.rejected.size();
  Check(total <= v.max_events);
  for (size_t i = 0; i < batch.rejected.size(); ++i) {
    Check(batch.rejected[i].index < total);
    Check(!batch.rejected[i].code.empty());
    if (i > 0) Check(batch.rejected[i - 1].index < batch.rejected[i].index);
  }

  for (const Event& e : batch.events) {
    std::string bytes;
    watershed::AppendEventBinary(e, &bytes);
    Event back;
    Check(watershed::DecodeEventBinary(bytes, &back).ok());
    Check(back == e);
  }

  std::string json = watershed::EncodeEventBatchJson(batch.events);
  DecodedBatch again;
  Check(watershed::DecodeEventBatchJson(json, v, &again).ok());
  Check(again.rejected.empty());
  Check(again.events == batch.events);
}

void FuzzBinary(std::string_view input) {
  Event e;
  if (!watershed::DecodeEventBinary(input, &e).ok()) return;
  std::string bytes;
  watershed::AppendEventBinary(e, &bytes);
  Check(bytes == input);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  FuzzJson(input);
  FuzzBinary(input);
  return 0;
}
