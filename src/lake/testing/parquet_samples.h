#pragma once
// Sample columns for the Parquet tests: a schema with every supported kind
// of column (UUID, dictionary-friendly strings, signed integers, a
// timestamp, optional INT32/DOUBLE/STRING with nulls, a personal column
// without statistics) and seeded rows for it.

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "lake/parquet.h"

namespace watershed::lake::testing {

inline std::vector<ColumnSpec> EventSchema() {
  return {
      {"event_id", 1, PhysicalType::kFixedLenByteArray, LogicalType::kUuid, false, 16, true, false},
      {"type", 2, PhysicalType::kByteArray, LogicalType::kString},
      {"story_id", 3, PhysicalType::kInt64, LogicalType::kInt64},
      {"viewer_id", 4, PhysicalType::kInt64, LogicalType::kInt64, false, 0, /*statistics=*/false},
      {"event_time", 5, PhysicalType::kInt64, LogicalType::kTimestampMicrosUtc},
      {"watch_ms", 6, PhysicalType::kInt32, LogicalType::kInt32, /*optional=*/true},
      {"score", 7, PhysicalType::kDouble, LogicalType::kNone, true},
      {"note", 8, PhysicalType::kByteArray, LogicalType::kString, true},
  };
}

// Rows of EventSchema with every kind of value: repeated strings (dictionary),
// unique ids (plain), nulls, bytes >= 0x80 (unsigned order), negatives.
inline std::vector<ColumnValues> MakeRows(size_t rows, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<ColumnValues> c(8);
  const char* types[] = {"view", "share", "reply"};
  for (size_t i = 0; i < rows; ++i) {
    for (int b = 0; b < 16; ++b) c[0].bytes.push_back(static_cast<char>(rng()));
    const std::string t = types[rng() % 3];
    c[1].bytes += t;
    c[1].ends.push_back(static_cast<uint32_t>(c[1].bytes.size()));
    c[2].ints.push_back(static_cast<int64_t>(rng() % 1000) - 500);
    c[3].ints.push_back(static_cast<int64_t>(rng()));
    c[4].ints.push_back(1'795'000'000'000'000 + static_cast<int64_t>(i) * 1000);
    const bool has_watch = rng() % 4 != 0;
    c[5].present.push_back(has_watch);
    if (has_watch) c[5].ints.push_back(static_cast<int32_t>(rng() % 100000) - 10);
    const bool has_score = rng() % 2 == 0;
    c[6].present.push_back(has_score);
    if (has_score) c[6].doubles.push_back(static_cast<double>(rng() % 1000) / 7.0 - 50);
    const bool has_note = rng() % 3 == 0;
    c[7].present.push_back(has_note);
    if (has_note) {
      c[7].bytes += (rng() % 2 ? std::string("\xc3\xa9t\xc3\xa9 ") : std::string("note ")) + std::to_string(rng() % 50);
      c[7].ends.push_back(static_cast<uint32_t>(c[7].bytes.size()));
    }
  }
  return c;
}

// Rows [begin, begin + n) of EventSchema columns (MakeRows' shape).
inline std::vector<ColumnValues> SliceRows(const std::vector<ColumnValues>& all, size_t begin, size_t n) {
  const auto schema = EventSchema();
  std::vector<ColumnValues> out(all.size());
  for (size_t c = 0; c < all.size(); ++c) {
    const ColumnSpec& spec = schema[c];
    const ColumnValues& v = all[c];
    size_t first = begin, count = n;  // value indices: present values only for OPTIONAL columns
    if (spec.optional) {
      out[c].present.assign(v.present.begin() + begin, v.present.begin() + begin + n);
      first = static_cast<size_t>(std::count(v.present.begin(), v.present.begin() + begin, 1));
      count = static_cast<size_t>(std::count(out[c].present.begin(), out[c].present.end(), 1));
    }
    for (size_t i = first; i < first + count; ++i) {
      switch (spec.type) {
        case PhysicalType::kInt32:
        case PhysicalType::kInt64:
          out[c].ints.push_back(v.ints[i]);
          break;
        case PhysicalType::kDouble:
          out[c].doubles.push_back(v.doubles[i]);
          break;
        case PhysicalType::kFixedLenByteArray:
          out[c].bytes += v.ByteValue(spec, i);
          break;
        case PhysicalType::kByteArray:
          out[c].bytes += v.ByteValue(spec, i);
          out[c].ends.push_back(static_cast<uint32_t>(out[c].bytes.size()));
          break;
      }
    }
  }
  return out;
}

}  // namespace watershed::lake::testing
