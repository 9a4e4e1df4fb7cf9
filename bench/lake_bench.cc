// Parquet write and read throughput of our own writer and reader
// (issue #5's benchmark). DuckDB's side of the comparison runs
// in bench/lake_duckdb_bench.mjs on the same rows; bench/run_lake.sh runs both.
//
// Rows: N events of the standard workload (seeded generator), sorted by
// story_id then event_time (the lake's sort order), as the events table's
// columns (lake::EventTableSchema). Generating, sorting and building the
// columns is outside every timing.
//
//   write  ParquetWriter (codec, zstd level 3, default page size, row groups
//          cut at --row-group-bytes) fed batches of --batch-rows rows, then
//          Finish() (footer, fsync, rename, directory fsync). Reported:
//          rows/s, input MB/s, file size, CPU seconds (getrusage user+sys),
//          rows and MB per CPU-second (the per-core figure), and the time
//          spent in fsync (file + directory) so it can be taken out.
//          Input bytes = the PLAIN encoding of the values, which is also what
//          the writer counts against row_group_bytes: 16 per UUID, 4 + length
//          per string, 8 per INT64/TIMESTAMP, 4 per INT32 (all columns
//          REQUIRED, so no levels).
//   full   open the file, read the story_id column of every row group, sum
//          it: rows/s.
//   filter count and sum the rows with lo <= story_id <= hi, reading only the
//          row groups whose story_id statistics (min/max, INT64 little-endian)
//          overlap [lo, hi]: time and row groups read / total.
//
// Output: one line per phase, `key=value` separated by spaces, first word
// the phase (parseable with awk/sed). The file stays at --out/ours.parquet
// for the DuckDB script unless --keep=0.
//
// usage: lake_bench [--events N (10000000)] [--out DIR (/tmp)] [--row-group-bytes B (64 MiB)]
//                   [--codec zstd|snappy|none] [--batch-rows R (16384)] [--lo L (100)] [--hi H (119)]
//                   [--seed S (1)] [--keep 0|1 (1)]

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/file_system.h"
#include "lake/parquet.h"
#include "lake/tables.h"
#include "workload/generator.h"

namespace watershed {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double PeakRssMiB() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "lake_bench: %s\n", what.c_str());
  std::exit(1);
}

void Check(const Status& s, const char* what) {
  if (!s.ok()) Die(std::string(what) + ": " + s.ToString());
}

// Times fdatasync of files and directories, so the write figure can be given
// with and without the disk's flush.
double g_sync_seconds = 0;

class TimedFile : public WritableFile {
 public:
  explicit TimedFile(std::unique_ptr<WritableFile> base) : base_(std::move(base)) {}
  Status Append(std::string_view data) override { return base_->Append(data); }
  Status Sync() override {
    const auto t0 = Clock::now();
    Status s = base_->Sync();
    g_sync_seconds += Seconds(t0, Clock::now());
    return s;
  }
  Status Close() override { return base_->Close(); }
  uint64_t Size() const override { return base_->Size(); }

 private:
  std::unique_ptr<WritableFile> base_;
};

class TimedFileSystem : public ForwardingFileSystem {
 public:
  using ForwardingFileSystem::ForwardingFileSystem;
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    auto f = base()->NewWritableFile(path);
    if (!f.ok()) return f.status();
    return std::unique_ptr<WritableFile>(new TimedFile(std::move(f.value())));
  }
  Status SyncDir(const std::string& dir) override {
    const auto t0 = Clock::now();
    Status s = base()->SyncDir(dir);
    g_sync_seconds += Seconds(t0, Clock::now());
    return s;
  }
};

struct Flags {
  uint64_t events = 10'000'000;
  std::string out = "/tmp";
  uint64_t row_group_bytes = lake::ParquetWriterOptions{}.row_group_bytes;
  std::string codec = "zstd";
  size_t batch_rows = 16'384;
  int64_t lo = 100, hi = 119;
  uint64_t seed = 1;
  bool keep = true;
};

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i], v;
    const size_t eq = a.find('=');
    if (eq != std::string::npos) {
      v = a.substr(eq + 1);
      a = a.substr(0, eq);
    } else if (i + 1 < argc) {
      v = argv[++i];
    } else {
      Die("flag " + a + " needs a value");
    }
    auto num = [&] {
      char* end = nullptr;
      const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0') Die("flag " + a + ": not a number: " + v);
      return static_cast<uint64_t>(n);
    };
    if (a == "--events")
      f.events = num();
    else if (a == "--out")
      f.out = v;
    else if (a == "--row-group-bytes")
      f.row_group_bytes = num();
    else if (a == "--codec")
      f.codec = v;
    else if (a == "--batch-rows")
      f.batch_rows = num();
    else if (a == "--lo")
      f.lo = static_cast<int64_t>(num());
    else if (a == "--hi")
      f.hi = static_cast<int64_t>(num());
    else if (a == "--seed")
      f.seed = num();
    else if (a == "--keep")
      f.keep = num() != 0;
    else
      Die("unknown flag " + a);
  }
  if (f.codec != "zstd" && f.codec != "snappy" && f.codec != "none") Die("--codec: zstd, snappy or none");
  if (f.events == 0 || f.batch_rows == 0) Die("--events and --batch-rows must be positive");
  return f;
}

// The events, sorted by (story_id, event_time), in batches of batch_rows rows.
// append_time = the nominal event time (the log's clock), log_offset = the
// event's number in generation order.
std::vector<lake::EventColumns> MakeBatches(const Flags& flags) {
  workload::WorkloadOptions w;
  w.seed = flags.seed;
  w.base_time_ms = 1'700'000'000'000;
  w.event_time_rate = 20'000;
  workload::Generator gen(w);
  struct Row {
    Event e;
    uint64_t offset;
  };
  std::vector<Row> rows;
  rows.reserve(flags.events);
  for (uint64_t i = 0; i < flags.events; ++i) rows.push_back(Row{gen.Next(), i});
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    if (a.e.story_id != b.e.story_id) return a.e.story_id < b.e.story_id;
    if (a.e.event_time != b.e.event_time) return a.e.event_time < b.e.event_time;
    return a.offset < b.offset;
  });
  std::vector<lake::EventColumns> batches((rows.size() + flags.batch_rows - 1) / flags.batch_rows);
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    const int64_t append_ms = w.base_time_ms + static_cast<int64_t>(r.offset * 1000 / 20'000);
    batches[i / flags.batch_rows].Add(r.e, AppendTimeMs(append_ms), LogOffset(r.offset));
  }
  return batches;
}

// Bytes of the PLAIN encoding of the values (see the header comment).
uint64_t PlainBytes(const std::vector<lake::EventColumns>& batches) {
  const auto& schema = lake::EventTableSchema();
  uint64_t total = 0;
  for (const auto& b : batches)
    for (size_t c = 0; c < schema.size(); ++c) {
      const lake::ColumnValues& v = b.columns()[c];
      switch (schema[c].type) {
        case lake::PhysicalType::kInt32:
          total += v.ints.size() * 4;
          break;
        case lake::PhysicalType::kInt64:
        case lake::PhysicalType::kDouble:
          total += (v.ints.size() + v.doubles.size()) * 8;
          break;
        case lake::PhysicalType::kByteArray:
          total += v.bytes.size() + v.ends.size() * 4;
          break;
        case lake::PhysicalType::kFixedLenByteArray:
          total += v.bytes.size();
          break;
      }
    }
  return total;
}

int64_t LeInt64(const std::string& s) {
  int64_t v = 0;
  if (s.size() != 8) Die("story_id statistic is not 8 bytes");
  std::memcpy(&v, s.data(), 8);  // little-endian host (x86-64)
  return v;
}

int Main(int argc, char** argv) {
  const Flags flags = ParseFlags(argc, argv);
  const std::string path = flags.out + "/ours.parquet";
  TimedFileSystem fs(FileSystem::Default());

  auto g0 = Clock::now();
  std::vector<lake::EventColumns> batches = MakeBatches(flags);
  const uint64_t input_bytes = PlainBytes(batches);
  std::printf("gen events=%" PRIu64 " batches=%zu batch_rows=%zu input_bytes=%" PRIu64 " seconds=%.2f lo=%" PRId64
              " hi=%" PRId64 "\n",
              flags.events, batches.size(), flags.batch_rows, input_bytes, Seconds(g0, Clock::now()), flags.lo,
              flags.hi);
  std::fflush(stdout);

  // write
  lake::ParquetWriterOptions options;
  options.codec = flags.codec == "zstd"     ? lake::Codec::kZstd
                  : flags.codec == "snappy" ? lake::Codec::kSnappy
                                            : lake::Codec::kUncompressed;
  options.zstd_level = 3;
  options.row_group_bytes = flags.row_group_bytes;
  g_sync_seconds = 0;
  const double c0 = CpuSeconds();
  const auto t0 = Clock::now();
  auto writer = lake::ParquetWriter::Create(&fs, path, lake::EventTableSchema(), options);
  if (!writer.ok()) Die("create: " + writer.status().ToString());
  for (const auto& b : batches) Check((*writer)->Write(b.columns(), b.rows()), "write");
  auto size = (*writer)->Finish();
  if (!size.ok()) Die("finish: " + size.status().ToString());
  const double wall = Seconds(t0, Clock::now());
  const double cpu = CpuSeconds() - c0;
  writer->reset();
  const double rows = static_cast<double>(flags.events);
  const double mb = static_cast<double>(input_bytes) / 1e6;
  const double nosync = wall - g_sync_seconds;
  std::printf("write codec=%s rows=%" PRIu64
              " seconds=%.3f sync_seconds=%.3f rows_per_s=%.0f mb_per_s=%.1f "
              "rows_per_s_nosync=%.0f mb_per_s_nosync=%.1f file_bytes=%" PRIu64
              " cpu_s=%.3f rows_per_cpu_s=%.0f "
              "mb_per_cpu_s=%.1f cpu_per_m_rows=%.3f compression=%.2f\n",
              flags.codec.c_str(), flags.events, wall, g_sync_seconds, rows / wall, mb / wall, rows / nosync,
              mb / nosync, *size, cpu, rows / cpu, mb / cpu, cpu / rows * 1e6,
              static_cast<double>(input_bytes) / static_cast<double>(*size));
  std::fflush(stdout);
  batches.clear();
  batches.shrink_to_fit();

  // full scan of story_id
  {
    const double rc0 = CpuSeconds();
    const auto r0 = Clock::now();
    auto reader = lake::ParquetReader::Open(&fs, path);
    if (!reader.ok()) Die("open: " + reader.status().ToString());
    const int col = (*reader)->ColumnIndex("story_id");
    if (col < 0) Die("no story_id column");
    const size_t groups = (*reader)->info().row_groups.size();
    int64_t sum = 0;
    uint64_t n = 0;
    for (size_t g = 0; g < groups; ++g) {
      auto cols = (*reader)->ReadRowGroup(g, {col});
      if (!cols.ok()) Die("read: " + cols.status().ToString());
      for (int64_t v : (*cols)[0].ints) sum += v;
      n += (*cols)[0].ints.size();
    }
    const double s = Seconds(r0, Clock::now());
    const double rcpu = CpuSeconds() - rc0;
    std::printf("full rows=%" PRIu64 " sum=%" PRId64 " seconds=%.4f rows_per_s=%.0f cpu_s=%.3f row_groups=%zu\n", n,
                sum, s, static_cast<double>(n) / s, rcpu, groups);
  }

  // filtered scan of story_id in [lo, hi], pruned by statistics
  {
    const auto r0 = Clock::now();
    auto reader = lake::ParquetReader::Open(&fs, path);
    if (!reader.ok()) Die("open: " + reader.status().ToString());
    const int col = (*reader)->ColumnIndex("story_id");
    const auto& groups = (*reader)->info().row_groups;
    size_t read = 0, must = 0;
    int64_t sum = 0;
    uint64_t count = 0;
    for (size_t g = 0; g < groups.size(); ++g) {
      const lake::ChunkStatistics& st = groups[g].columns[static_cast<size_t>(col)].statistics;
      if (st.min_value && st.max_value && (LeInt64(*st.max_value) < flags.lo || LeInt64(*st.min_value) > flags.hi))
        continue;
      ++read;
      auto cols = (*reader)->ReadRowGroup(g, {col});
      if (!cols.ok()) Die("read: " + cols.status().ToString());
      bool hit = false;
      for (int64_t v : (*cols)[0].ints)
        if (v >= flags.lo && v <= flags.hi) {
          sum += v;
          ++count;
          hit = true;
        }
      must += hit;
    }
    const double s = Seconds(r0, Clock::now());
    std::printf("filter lo=%" PRId64 " hi=%" PRId64 " count=%" PRIu64 " sum=%" PRId64
                " seconds=%.4f row_groups_read=%zu row_groups_with_matches=%zu row_groups_total=%zu\n",
                flags.lo, flags.hi, count, sum, s, read, must, groups.size());
  }
  std::printf("rss peak_rss_mib=%.0f\n", PeakRssMiB());
  if (!flags.keep) Check(fs.RemoveFile(path), "remove");
  return 0;
}

}  // namespace
}  // namespace watershed

int main(int argc, char** argv) { return watershed::Main(argc, argv); }
