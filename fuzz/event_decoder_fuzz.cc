// Fuzzes the public batch decoders (JSON and protobuf) and the binary
// event codec. Every input goes through all of them.
// Properties checked (a violation traps):
//  * no input crashes, leaks or trips a sanitizer;
//  * every rejection index lies inside the batch, indexes increase, and
//    accepted + rejected events add up to the batch (at most max_events);
//  * every accepted event survives binary encode -> decode unchanged, and
//    JSON and protobuf encode -> decode unchanged with no rejection, so the
//    two ingest formats agree on what a valid event is;
//  * with a token identity, the batch splits into the same number of events
//    and every accepted event carries the token's viewer and region;
//  * a binary record that decodes re-encodes to the same bytes.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/event_codec.h"
#include "core/event_proto.h"

namespace {

using watershed::DecodedBatch;
using watershed::Event;
using watershed::EventValidation;
using watershed::Status;

using Decoder = Status (*)(std::string_view, const EventValidation&, DecodedBatch*);

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

EventValidation FixedValidation() {
  EventValidation v;
  v.now_ms = 1'700'000'000'000;  // fixed so runs are reproducible
  return v;
}

void CheckShape(const DecodedBatch& batch, const EventValidation& v) {
  size_t total = batch.events.size() + batch.rejected.size();
  Check(total <= v.max_events);
  for (size_t i = 0; i < batch.rejected.size(); ++i) {
    Check(batch.rejected[i].index < total);
    Check(!batch.rejected[i].code.empty());
    Check(!batch.rejected[i].message.empty());
    if (i > 0) Check(batch.rejected[i - 1].index < batch.rejected[i].index);
  }
}

void CheckReencodes(const DecodedBatch& batch, const EventValidation& v) {
  for (const Event& e : batch.events) {
    std::string bytes;
    watershed::AppendEventBinary(e, &bytes);
    Event back;
    Check(watershed::DecodeEventBinary(bytes, &back).ok());
    Check(back == e);
  }

  DecodedBatch again;
  Check(watershed::DecodeEventBatchJson(watershed::EncodeEventBatchJson(batch.events), v, &again).ok());
  Check(again.rejected.empty());
  Check(again.events == batch.events);

  Check(watershed::DecodeEventBatchProto(watershed::EncodeEventBatchProto(batch.events), v, &again).ok());
  Check(again.rejected.empty());
  Check(again.events == batch.events);
}

void FuzzBatch(Decoder decode, std::string_view input) {
  const EventValidation v = FixedValidation();
  DecodedBatch batch;
  if (!decode(input, v, &batch).ok()) return;
  CheckShape(batch, v);
  CheckReencodes(batch, v);

  EventValidation with_identity = v;
  with_identity.identity = EventValidation::Identity{watershed::ViewerId(9), watershed::Region::kUs};
  DecodedBatch as_viewer;
  Check(decode(input, with_identity, &as_viewer).ok());
  CheckShape(as_viewer, with_identity);
  Check(as_viewer.events.size() + as_viewer.rejected.size() == batch.events.size() + batch.rejected.size());
  for (const Event& e : as_viewer.events) {
    Check(e.viewer_id == with_identity.identity->viewer);
    Check(e.region == with_identity.identity->region);
  }
  CheckReencodes(as_viewer, with_identity);
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
  FuzzBatch(watershed::DecodeEventBatchJson, input);
  FuzzBatch(watershed::DecodeEventBatchProto, input);
  FuzzBinary(input);
  return 0;
}
