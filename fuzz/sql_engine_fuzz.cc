// Fuzzes the SQL engine (src/query: catalog, planner, pruning, executor) on
// a small real lake written once per process: any analyst's text reaches
// them. Properties checked (a violation traps):
//  * no input crashes, leaks, trips a sanitizer or exhausts memory (queries
//    run under the server's kind of limits);
//  * a query refused as invalid (kInvalidArgument) names its position
//    ("line:column: "), except SUM's overflow, found while executing;
//  * a query that runs returns rows as wide as its columns.

#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/event.h"
#include "core/file_system.h"
#include "lake/iceberg_commit.h"
#include "lake/iceberg_transform.h"
#include "lake/parquet.h"
#include "lake/tables.h"
#include "query/run.h"
#include "sql_fuzz_util.h"

namespace {

using namespace watershed;

using ::watershed::fuzz::Check;
using ::watershed::fuzz::StartsWithPosition;

// eu.events with stories 1..8 over two hours, one file per story and hour,
// small row groups; removed when the process exits.
struct Lake {
  std::string root;
  Lake() {
    char tmpl[] = "/tmp/watershed_sql_engine_fuzz_XXXXXX";
    Check(::mkdtemp(tmpl) != nullptr);
    root = tmpl;
    FileSystem* fs = FileSystem::Default();
    const std::string location = lake::TableLocation(root, Region::kEu, lake::LakeTableId::kEvents);
    auto table = lake::LoadOrCreateLakeTable(fs, location, lake::LakeTableId::kEvents);
    Check(table.ok());
    std::vector<lake::DataFileInfo> files;
    const int64_t base_ms = 20'777LL * 86'400'000;
    for (int64_t hour = 0; hour < 2; ++hour)
      for (uint64_t story = 1; story <= 8; ++story) {
        const std::string path = location + "/data/s" + std::to_string(story) + "h" + std::to_string(hour) + ".parquet";
        Check(fs->CreateDirs(DirName(path)).ok());
        lake::ParquetWriterOptions opt;
        opt.row_group_bytes = 1024;
        auto w = lake::ParquetWriter::Create(fs, path, lake::EventTableSchema(), opt);
        Check(w.ok());
        for (uint64_t k = 0; k < 4; ++k) {
          lake::EventColumns cols;
          for (uint64_t i = 0; i < 5; ++i) {
            const uint64_t n = story * 100 + k * 5 + i;
            cols.Add(EventId::FromHiLo(story, n), i % 3 == 0 ? EventType::kShare : EventType::kView, story, story % 3,
                     n % 7, Region::kEu, base_ms + hour * 3'600'000 + static_cast<int64_t>(n) * 1000,
                     static_cast<uint32_t>(n), base_ms, n);
          }
          Check((*w)->Write(cols.columns(), cols.rows()).ok());
        }
        auto size = (*w)->Finish();
        Check(size.ok());
        const int64_t micros = (base_ms + hour * 3'600'000) * 1000;
        files.push_back(lake::DescribeParquetFile(
            path, static_cast<int64_t>(*size), (*w)->info(),
            {lake::iceberg::HourFromMicros(micros),
             lake::iceberg::Bucket(16, lake::iceberg::HashLong(static_cast<int64_t>(story)))}));
      }
    Check(lake::AppendFiles(fs, &*table, files, "fuzz").ok());
  }
  ~Lake() {
    std::error_code ec;
    std::filesystem::remove_all(root, ec);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Lake lake;
  const std::string_view sql(reinterpret_cast<const char*>(data), size);
  query::Catalog catalog(FileSystem::Default(), lake.root, Region::kEu);
  // Bounded like the server's queries (query-memory, query-timeout): a
  // join of joins must end in a clear error, not an out-of-memory kill.
  query::ExecLimits limits;
  limits.max_memory_bytes = 256LL << 20;
  limits.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  auto out = query::RunSql(sql, catalog, limits);
  if (!out.ok()) {
    const std::string& m = out.status().message();
    if (out.status().code() == StatusCode::kInvalidArgument && m.find("overflows") == std::string::npos)
      Check(StartsWithPosition(m));
    return 0;
  }
  for (const auto& row : out->result.rows) Check(row.size() == out->result.names.size());
  return 0;
}
