// Fuzzes every decoder of stored bytes: log record framing and payloads,
// processor state (the checkpoint body), the ground-truth file, and the cold
// store's records (first byte 0xff: framing, then each record's story brought
// back by an event, as the processor reads it), the embedded log's
// LOG_META (first byte 0xfd) and its segment key files (0xfc). Log records
// of kind 2 (sealed) must not open under a key they were not sealed with;
// every decoded event, sealed, opens back to itself. The first input byte picks
// the decoder; none may crash, hang or read out of bounds, and what decodes
// must re-encode consistently.

#include <stdlib.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "log/log_meta.h"
#include "log/record_codec.h"
#include "log/segment_crypto.h"
#include "stream/cold_store.h"
#include "stream/partition_processor.h"
#include "workload/truth.h"

using namespace watershed;

namespace {

// One cold store for the whole run, in a directory of its own; emptied by
// compaction as it grows.
stream::ColdStore& Cold() {
  static std::unique_ptr<stream::ColdStore> cold = [] {
    char dir[] = "/tmp/watershed_cold_fuzz_XXXXXX";
    if (::mkdtemp(dir) == nullptr) __builtin_trap();
    auto s = stream::ColdStore::Open(FileSystem::Default(), dir, 0, 1, "", HashKey{1, 2});
    if (!s.ok()) __builtin_trap();
    return std::move(s.value());
  }();
  return *cold;
}

void FuzzColdRecords(std::string_view input) {
  std::vector<std::pair<uint64_t, std::string>> records;
  Status s = stream::DecodeColdRecords(input, 0, "fuzz", [&](uint64_t id, uint64_t, std::string_view payload) {
    records.emplace_back(id, std::string(payload));
    return Status::Ok();
  });
  if (!s.ok() && s.code() != StatusCode::kCorruption) __builtin_trap();
  stream::ColdStore& cold = Cold();
  stream::ProcessorOptions options;
  options.story_idle_evict_ms = 1000;
  stream::PartitionProcessor p(Region::kUs, 0, options);
  p.SetColdStore(&cold);
  uint64_t offset = 0;
  for (const auto& [id, payload] : records) {
    if (!cold.Put(id, payload).ok()) __builtin_trap();
    Event e;
    e.story_id = StoryId(id);
    e.viewer_id = ViewerId(offset + 1);
    e.event_id = EventId::FromHiLo(1, offset);
    e.event_time = EventTimeMs(1'700'000'000'000);
    p.Process({LogOffset(offset), AppendTimeMs(1'700'000'000'000), e});
    if (!p.status().ok()) break;  // a damaged record: the processor stops, as it must
    ++offset;
    serve::PartitionWrite w;
    p.TakeWrite(&w);
  }
  for (const auto& [id, payload] : records) cold.Forget(id);
  if (cold.file_bytes() > (8u << 20)) {
    if (!cold.Commit().ok()) __builtin_trap();
    cold.Saved();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] == 0xff) {  // (no older seed starts so: their decoders stay theirs)
    FuzzColdRecords(input);
    return 0;
  }
  if (data[0] == 0xfc) {  // a segment key file: what parses re-encodes to the same bytes
    auto key = log::ParseSegmentKey(input);
    if (key.ok() && log::EncodeSegmentKey(*key) != input) __builtin_trap();
    if (!key.ok() && key.status().code() != StatusCode::kCorruption) __builtin_trap();
    return 0;
  }
  if (data[0] == 0xfd) {  // LOG_META: what parses re-encodes to the same meta (v2 to the same bytes)
    auto meta = log::ParseLogMeta(input);
    if (meta.ok()) {
      const std::string again = log::EncodeLogMeta(*meta);
      auto back = log::ParseLogMeta(again);
      if (!back.ok() || !(*back == *meta)) __builtin_trap();
      if (input.starts_with("watershed-log v2") && again != input) __builtin_trap();
    } else if (meta.status().code() != StatusCode::kCorruption) {
      __builtin_trap();
    }
    return 0;
  }
  switch (data[0] % 3) {
    case 0: {  // a log segment: frames until the first bad one, as recovery scans
      std::string_view rest = input;
      uint32_t len = 0;
      static const keys::SecretKey key(std::string(32, 'k'));
      log::RecordCipher cipher(key, "eu", 3);
      uint64_t offset = 0;
      while (log::CheckFrame(rest, &len) == log::Frame::kRecord) {
        log::LogRecord r;
        const std::string_view payload = rest.substr(8, len);
        if (log::SealedPayloadShape(payload)) {
          // Forged: authenticating would need the key.
          Status s = cipher.Open(offset, payload, &r);
          if (s.ok() || s.code() != StatusCode::kCorruption) __builtin_trap();
        } else if (log::DecodePayload(payload, &r).ok()) {
          std::string again;
          log::AppendRecord(r.append_time.value, r.event, &again);
          if (again != rest.substr(0, 8 + len)) __builtin_trap();
          // Sealed and opened at its place: the same record; anywhere else:
          // corruption.
          std::string sealed;
          if (!cipher.Append(offset, r.append_time.value, r.event, &sealed).ok()) __builtin_trap();
          uint32_t sealed_len = 0;
          if (log::CheckFrame(sealed, &sealed_len) != log::Frame::kRecord) __builtin_trap();
          log::LogRecord back;
          if (!cipher.Open(offset, std::string_view(sealed).substr(8, sealed_len), &back).ok()) __builtin_trap();
          if (!(back.event == r.event) || back.append_time.value != r.append_time.value) __builtin_trap();
          if (cipher.Open(offset + 1, std::string_view(sealed).substr(8, sealed_len), &back).ok()) __builtin_trap();
        }
        rest.remove_prefix(8 + len);
        ++offset;
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
