#pragma once
// What a checkpoint needs to rebuild a lake sink's buffers (lake_sink.h,
// "Buffers across checkpoints"): where each buffered Iceberg partition's rows
// begin in the log, one bit per record for the dedup decision, and the closed
// minute rows themselves.
//
// Encoding (appended to the prepared commit, version 4):
//   [u32 group count] per group: [u8 table][i32 time part][i32 bucket]
//       [u64 first offset][i64 opened ms]
//   [u64 bits from][u64 bits to][u32 run count][u32 run]...: the distinct
//       bits of offsets [from, to) as alternating runs of 0 and 1, starting
//       with 0 (a run may be 0 long; runs sum to to - from)
//   [u32 minute count] per row: [u64 story][u64 author][u8 region]
//       [i64 minute ms][u64 views, unique viewers, watch ms, shares, replies]

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "lake/tables.h"

namespace watershed::lake {

// One bit per log offset from base() on: whether the record was a distinct
// event. Memory: a bit per record of the buffered span.
class DistinctBits {
 public:
  uint64_t base() const { return base_; }
  // One past the highest offset set or covered by runs (≥ base()).
  uint64_t end() const { return end_; }
  void Set(uint64_t offset);
  bool Get(uint64_t offset) const;
  // Forgets offsets below `offset` (they are never asked again); starts at
  // `offset` when it is past everything held.
  void TrimBelow(uint64_t offset);
  void Clear(uint64_t base);
  // Runs over [from, to), alternating 0 and 1, first a run of 0.
  std::vector<uint32_t> Runs(uint64_t from, uint64_t to) const;
  // Rebuilds from Runs' output. kCorruption when the runs do not sum to to - from.
  Status SetRuns(uint64_t from, uint64_t to, const std::vector<uint32_t>& runs);
  size_t MemoryBytes() const { return words_.capacity() * 8; }

 private:
  uint64_t base_ = 0;  // a multiple of 64
  uint64_t end_ = 0;
  std::vector<uint64_t> words_;
};

struct CarriedGroup {
  LakeTableId table = LakeTableId::kRawEvents;
  int32_t time_part = 0, bucket = 0;
  uint64_t from = 0;      // the offset of its first buffered row
  int64_t opened_ms = 0;  // wall clock when that row arrived (lake-file-max-age)
  bool operator==(const CarriedGroup&) const = default;
};

struct CarriedBuffers {
  std::vector<CarriedGroup> groups;
  uint64_t bits_from = 0, bits_to = 0;
  std::vector<uint32_t> runs;
  std::vector<StoryMinuteRow> minutes;
  bool empty() const { return groups.empty() && minutes.empty(); }
  // The least offset the log must still hold to refill them (`none` without groups).
  uint64_t RefillFrom(uint64_t none) const;
};

void EncodeCarried(const CarriedBuffers& c, std::string* out);
// Consumes the encoding from *in. kCorruption on damage.
Status DecodeCarried(std::string_view* in, CarriedBuffers* c);

}  // namespace watershed::lake
