// Writes the demo/benchmark lake of the SQL benchmark (bench/run_sql.sh,
// bench/RESULTS.md "SQL over the lake"): one region's `events` table with
// N events and a `story_minute` table used as the stories dimension (one row
// per story: its author and home region), both through the lake's own
// writer (ParquetWriter) and commit (Iceberg AppendFiles), partitioned like
// the real tables (events: hour(event_time), bucket[16](story_id); one file
// per partition, sorted by story_id then event_time, as compaction leaves
// them).
//
// Shape: `--stories` stories (author = one of stories/5 authors), `--viewers`
// viewers, both skewed (a few stories and viewers are far more active),
// event_time over `--days` days from 2026-11-20 00:00 UTC with a daily
// cycle; 85 % views (watch_ms 0.5..120 s), 10 % shares, 5 % replies; the
// viewer's region (50 % us, 30 % eu, 20 % apac) in `region`. Deterministic
// for a seed. One snapshot per day of events.
//
// usage: sql_bench_lake --root DIR [--events 10000000] [--days 8]
//                       [--stories 100000] [--viewers 1000000] [--region us] [--seed 1]

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/event.h"
#include "core/file_system.h"
#include "lake/iceberg_commit.h"
#include "lake/iceberg_transform.h"
#include "lake/parquet.h"
#include "lake/tables.h"

namespace watershed {
namespace {

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "sql_bench_lake: %s\n", msg.c_str());
  std::exit(2);
}

struct Flags {
  std::string root;
  uint64_t events = 10'000'000, days = 8, stories = 100'000, viewers = 1'000'000, seed = 1;
  Region region = Region::kUs;
};

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) Die("flag " + a + " needs a value");
    const std::string v = argv[++i];
    auto num = [&] {
      char* end = nullptr;
      const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n == 0) Die("flag " + a + ": not a positive number: " + v);
      return static_cast<uint64_t>(n);
    };
    if (a == "--root") {
      f.root = v;
    } else if (a == "--events") {
      f.events = num();
    } else if (a == "--days") {
      f.days = num();
    } else if (a == "--stories") {
      f.stories = num();
    } else if (a == "--viewers") {
      f.viewers = num();
    } else if (a == "--seed") {
      f.seed = num();
    } else if (a == "--region") {
      auto r = ParseRegion(v);
      if (!r) Die("--region: us, eu or apac");
      f.region = *r;
    } else {
      Die("unknown flag " + a);
    }
  }
  if (f.root.empty()) Die("usage: sql_bench_lake --root DIR [--events N] [--days D] [--stories S] [--viewers V]");
  return f;
}

struct Rng {  // splitmix64
  uint64_t s;
  uint64_t Next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double Unit() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  uint64_t Below(uint64_t n) { return Next() % n; }
};

struct Row {
  uint64_t story, viewer;
  int64_t time_ms;
  uint32_t watch_ms;
  EventType type;
  Region region;
};

constexpr int64_t kBaseMs = 20'777LL * 86'400'000;  // 2026-11-20 00:00:00 UTC
uint64_t AuthorOf(uint64_t story, uint64_t stories) {
  return (story * 2'654'435'761ull) % std::max<uint64_t>(stories / 5, 1) + 1;
}
int32_t BucketOf(uint64_t story) {
  return lake::iceberg::Bucket(16, lake::iceberg::HashLong(static_cast<int64_t>(story)));
}

// Writes `columns` as one data file of `table` and describes it.
lake::DataFileInfo WriteFile(FileSystem* fs, const std::string& path, lake::LakeTableId table,
                             std::vector<lake::ColumnValues> columns, size_t rows,
                             std::vector<std::optional<int32_t>> partition) {
  if (!fs->CreateDirs(DirName(path)).ok()) Die("cannot create " + DirName(path));
  lake::ParquetWriterOptions options;
  options.zstd_level = lake::SpecOf(table).zstd_level;
  auto w = lake::ParquetWriter::Create(fs, path, lake::SchemaOf(table), options);
  if (!w.ok()) Die(w.status().ToString());
  if (Status s = (*w)->Write(std::move(columns), rows); !s.ok()) Die(s.ToString());
  auto size = (*w)->Finish();
  if (!size.ok()) Die(size.status().ToString());
  return lake::DescribeParquetFile(path, static_cast<int64_t>(*size), (*w)->info(), std::move(partition));
}

int Main(int argc, char** argv) {
  const Flags f = ParseFlags(argc, argv);
  FileSystem* fs = FileSystem::Default();
  const auto start = std::chrono::steady_clock::now();
  const std::string events_loc = lake::TableLocation(f.root, f.region, lake::LakeTableId::kEvents);
  if (lake::LakeTableExists(fs, events_loc)) Die(events_loc + " exists already: remove it or pick another --root");
  auto events = lake::LoadOrCreateLakeTable(fs, events_loc, lake::LakeTableId::kEvents);
  if (!events.ok()) Die(events.status().ToString());

  Rng rng{f.seed};
  const uint64_t hours = f.days * 24;
  std::vector<double> weight(hours);
  double total = 0;
  for (uint64_t h = 0; h < hours; ++h) total += weight[h] = 1.0 + 0.6 * std::sin(2 * M_PI * (double(h % 24) - 9) / 24);
  uint64_t written = 0, files = 0, offset = 0;
  double carry = 0;
  std::vector<lake::DataFileInfo> day_files;
  for (uint64_t h = 0; h < hours; ++h) {
    carry += static_cast<double>(f.events) * weight[h] / total;
    const uint64_t n = h + 1 == hours ? f.events - written : static_cast<uint64_t>(carry) - written;
    std::vector<std::vector<Row>> buckets(16);
    for (uint64_t i = 0; i < n; ++i) {
      Row r;
      // Skewed popularity: P(story <= k) = (k / stories)^0.4.
      r.story =
          1 + std::min<uint64_t>(f.stories - 1, static_cast<uint64_t>(double(f.stories) * std::pow(rng.Unit(), 2.5)));
      r.viewer =
          1 + std::min<uint64_t>(f.viewers - 1, static_cast<uint64_t>(double(f.viewers) * std::pow(rng.Unit(), 1.5)));
      r.time_ms = kBaseMs + static_cast<int64_t>(h) * 3'600'000 + static_cast<int64_t>(rng.Below(3'600'000));
      const uint64_t t = rng.Below(100);
      r.type = t < 85 ? EventType::kView : t < 95 ? EventType::kShare : EventType::kReply;
      r.watch_ms = r.type == EventType::kView ? static_cast<uint32_t>(500 + std::pow(rng.Unit(), 3) * 119'500) : 0;
      const uint64_t g = r.viewer % 10;
      r.region = g < 5 ? Region::kUs : g < 8 ? Region::kEu : Region::kApac;
      buckets[static_cast<size_t>(BucketOf(r.story))].push_back(r);
    }
    written += n;
    const int64_t hour_micros = (kBaseMs + static_cast<int64_t>(h) * 3'600'000) * 1000;
    for (int32_t b = 0; b < 16; ++b) {
      std::vector<Row>& rows = buckets[static_cast<size_t>(b)];
      if (rows.empty()) continue;
      std::sort(rows.begin(), rows.end(), [](const Row& x, const Row& y) {
        return x.story != y.story ? x.story < y.story : x.time_ms < y.time_ms;
      });
      lake::EventColumns cols;
      cols.Reserve(rows.size());
      for (const Row& r : rows) {
        ++offset;
        cols.Add(EventId::FromHiLo(f.seed, offset), r.type, r.story, AuthorOf(r.story, f.stories), r.viewer, r.region,
                 r.time_ms, r.watch_ms, r.time_ms + 40 + static_cast<int64_t>(offset % 200), offset);
      }
      const size_t nrows = cols.rows();
      char name[64];
      std::snprintf(name, sizeof name, "/data/h%05llu-b%02d.parquet", static_cast<unsigned long long>(h), b);
      day_files.push_back(WriteFile(fs, events_loc + name, lake::LakeTableId::kEvents, cols.Take(), nrows,
                                    {lake::iceberg::HourFromMicros(hour_micros), b}));
      ++files;
    }
    if ((h + 1) % 24 == 0 || h + 1 == hours) {
      auto ok = lake::AppendFiles(fs, &*events, day_files, "sql-bench-day-" + std::to_string(h / 24));
      if (!ok.ok()) Die(ok.status().ToString());
      day_files.clear();
      std::fprintf(stderr, "sql_bench_lake: day %llu: %llu events in %llu files\n",
                   static_cast<unsigned long long>(h / 24), static_cast<unsigned long long>(written),
                   static_cast<unsigned long long>(files));
    }
  }

  // The stories dimension: story_minute, one row per story on the first day.
  const std::string dim_loc = lake::TableLocation(f.root, f.region, lake::LakeTableId::kStoryMinute);
  auto dim = lake::LoadOrCreateLakeTable(fs, dim_loc, lake::LakeTableId::kStoryMinute);
  if (!dim.ok()) Die(dim.status().ToString());
  std::vector<std::vector<lake::StoryMinuteRow>> dim_rows(16);
  for (uint64_t s = 1; s <= f.stories; ++s) {
    lake::StoryMinuteRow r;
    r.story_id = s;
    r.author_id = AuthorOf(s, f.stories);
    r.region = static_cast<Region>(s % RegionCount());
    r.minute_ms = kBaseMs;
    dim_rows[static_cast<size_t>(BucketOf(s))].push_back(r);
  }
  std::vector<lake::DataFileInfo> dim_files;
  for (int32_t b = 0; b < 16; ++b) {
    const auto& rows = dim_rows[static_cast<size_t>(b)];
    if (rows.empty()) continue;
    dim_files.push_back(WriteFile(fs, dim_loc + "/data/stories-b" + std::to_string(b) + ".parquet",
                                  lake::LakeTableId::kStoryMinute, lake::StoryMinuteColumns(rows), rows.size(),
                                  {lake::iceberg::DayFromMicros(kBaseMs * 1000), b}));
  }
  auto ok = lake::AppendFiles(fs, &*dim, dim_files, "sql-bench-stories");
  if (!ok.ok()) Die(ok.status().ToString());
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("events=%llu files=%llu stories=%llu days=%llu seconds=%.1f root=%s\n",
              static_cast<unsigned long long>(written), static_cast<unsigned long long>(files),
              static_cast<unsigned long long>(f.stories), static_cast<unsigned long long>(f.days), secs,
              f.root.c_str());
  return 0;
}

}  // namespace
}  // namespace watershed

int main(int argc, char** argv) { return watershed::Main(argc, argv); }
