#include "lake/row_set.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <numeric>

#include "lake/iceberg_transform.h"

namespace watershed::lake {
namespace {

// Rows handed to ParquetWriter::Write at once.
constexpr size_t kWriteChunkRows = 1 << 16;

int64_t ParseInt(const std::map<std::string, std::string>& m, const std::string& key, int64_t fallback) {
  auto it = m.find(key);
  if (it == m.end()) return fallback;
  int64_t v = fallback;
  auto [p, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
  return ec == std::errc() && p == it->second.data() + it->second.size() ? v : fallback;
}

}  // namespace

Status RowSet::AddFile(FileSystem* fs, const std::string& path) {
  ASSIGN_OR_RETURN(auto reader, ParquetReader::Open(fs, path));
  RETURN_IF_ERROR(TakeSchema(*reader));  // a file without row groups sets or checks it too
  for (size_t rg = 0; rg < reader->info().row_groups.size(); ++rg) RETURN_IF_ERROR(AddRowGroup(reader.get(), rg));
  return Status::Ok();
}

Status RowSet::TakeSchema(const ParquetReader& reader) {
  if (schema_.empty()) {
    schema_ = reader.info().schema;
    for (ColumnSpec& c : schema_) c.statistics = true;
  } else if (!SameColumns(schema_, reader.info().schema)) {
    return Status::FailedPrecondition(reader.path() + " has another schema than the files it is merged with");
  }
  return Status::Ok();
}

Status RowSet::AddRowGroup(ParquetReader* reader, size_t rg) {
  RETURN_IF_ERROR(TakeSchema(*reader));
  const FileInfo& info = reader->info();
  // A column without min/max in any input (personal data) gets none in the output either.
  const RowGroupInfo& group = info.row_groups[rg];
  for (size_t c = 0; c < group.columns.size() && c < schema_.size(); ++c) {
    const ChunkStatistics& st = group.columns[c].statistics;
    if (!st.min_value && group.columns[c].num_values > st.null_count.value_or(0)) schema_[c].statistics = false;
  }
  std::vector<int> all(info.schema.size());
  std::iota(all.begin(), all.end(), 0);
  ASSIGN_OR_RETURN(std::vector<ColumnValues> cols, reader->ReadRowGroup(rg, all));
  Source s;
  s.rows = static_cast<size_t>(group.num_rows);
  s.index.resize(cols.size());
  for (size_t c = 0; c < cols.size(); ++c) {
    if (!schema_[c].optional) continue;
    std::vector<int32_t>& idx = s.index[c];
    idx.reserve(s.rows);
    int32_t next = 0;
    for (size_t r = 0; r < s.rows; ++r) idx.push_back(r < cols[c].present.size() && cols[c].present[r] ? next++ : -1);
  }
  s.columns = std::move(cols);
  const auto source = static_cast<uint32_t>(sources_.size());
  for (size_t r = 0; r < s.rows; ++r) refs_.push_back({source, static_cast<uint32_t>(r)});
  sources_.push_back(std::move(s));
  return Status::Ok();
}

int RowSet::ColumnOf(int32_t field_id) const {
  for (size_t c = 0; c < schema_.size(); ++c)
    if (schema_[c].field_id == field_id) return static_cast<int>(c);
  return -1;
}

int64_t RowSet::ValueIndex(size_t r, size_t c) const {
  const Source& s = sources_[refs_[r].source];
  if (!schema_[c].optional) return refs_[r].row;
  return s.index[c][refs_[r].row];
}

int64_t RowSet::Int(size_t r, size_t c) const {
  return sources_[refs_[r].source].columns[c].ints[static_cast<size_t>(ValueIndex(r, c))];
}
double RowSet::Double(size_t r, size_t c) const {
  return sources_[refs_[r].source].columns[c].doubles[static_cast<size_t>(ValueIndex(r, c))];
}
std::string_view RowSet::Bytes(size_t r, size_t c) const {
  return sources_[refs_[r].source].columns[c].ByteValue(schema_[c], static_cast<size_t>(ValueIndex(r, c)));
}

RowOrder::RowOrder(const std::vector<ColumnSpec>& schema, const std::vector<IcebergSortField>& order) {
  for (const IcebergSortField& f : order)
    for (size_t c = 0; c < schema.size(); ++c)
      if (schema[c].field_id == f.source_id) keys_.emplace_back(static_cast<int>(c), f);
}

int RowOrder::Compare(const RowSet& a, size_t ra, const RowSet& b, size_t rb) const {
  for (const auto& [c, f] : keys_) {
    const bool na = a.ValueIndex(ra, c) < 0, nb = b.ValueIndex(rb, c) < 0;
    if (na || nb) {
      if (na == nb) continue;
      return na == f.nulls_first ? -1 : 1;
    }
    int cmp = 0;
    switch (a.schema()[c].type) {
      case PhysicalType::kInt32:
      case PhysicalType::kInt64: {
        const int64_t x = a.Int(ra, c), y = b.Int(rb, c);
        cmp = x < y ? -1 : x > y ? 1 : 0;
        break;
      }
      case PhysicalType::kDouble: {
        const double x = a.Double(ra, c), y = b.Double(rb, c);
        cmp = x < y ? -1 : x > y ? 1 : 0;
        break;
      }
      default:
        cmp = a.Bytes(ra, c).compare(b.Bytes(rb, c));
        cmp = cmp < 0 ? -1 : cmp > 0 ? 1 : 0;
        break;
    }
    if (cmp != 0) return f.ascending ? cmp : -cmp;
  }
  return 0;
}

void RowSet::Sort(const std::vector<IcebergSortField>& order, std::vector<size_t>* rows) const {
  const RowOrder by(schema_, order);
  std::stable_sort(rows->begin(), rows->end(), [&](size_t a, size_t b) { return by.Compare(*this, a, *this, b) < 0; });
}

std::vector<ColumnValues> RowSet::Gather(const std::vector<size_t>& rows, size_t begin, size_t end) const {
  std::vector<ColumnValues> out(schema_.size());
  for (size_t i = begin; i < end; ++i) AppendRow(rows[i], &out);
  return out;
}

void RowSet::AppendRow(size_t r, std::vector<ColumnValues>* out) const {
  for (size_t c = 0; c < schema_.size(); ++c) {
    const ColumnSpec& spec = schema_[c];
    ColumnValues& o = (*out)[c];
    const bool present = ValueIndex(r, c) >= 0;
    if (spec.optional) o.present.push_back(present ? 1 : 0);
    if (!present) continue;
    switch (spec.type) {
      case PhysicalType::kInt32:
      case PhysicalType::kInt64:
        o.ints.push_back(Int(r, c));
        break;
      case PhysicalType::kDouble:
        o.doubles.push_back(Double(r, c));
        break;
      case PhysicalType::kByteArray:
        o.bytes += Bytes(r, c);
        o.ends.push_back(static_cast<uint32_t>(o.bytes.size()));
        break;
      case PhysicalType::kFixedLenByteArray:
        o.bytes += Bytes(r, c);
        break;
    }
  }
}

bool SameColumns(const std::vector<ColumnSpec>& a, const std::vector<ColumnSpec>& b) {
  if (a.size() != b.size()) return false;
  for (size_t c = 0; c < a.size(); ++c)
    if (a[c].name != b[c].name || a[c].field_id != b[c].field_id || a[c].type != b[c].type ||
        a[c].optional != b[c].optional || a[c].type_length != b[c].type_length)
      return false;
  return true;
}

Result<std::optional<int32_t>> PartitionValue(const RowSet& set, size_t row, const IcebergPartitionField& f) {
  const int c = set.ColumnOf(f.source_id);
  if (c < 0)
    return Status::InvalidArgument("partition source field " + std::to_string(f.source_id) + " not in the data");
  if (set.ValueIndex(row, c) < 0) return std::optional<int32_t>();
  const ColumnSpec& spec = set.schema()[c];
  const bool integer = spec.type == PhysicalType::kInt32 || spec.type == PhysicalType::kInt64;
  if (f.transform == "identity" && integer) return std::optional<int32_t>(static_cast<int32_t>(set.Int(row, c)));
  if (f.transform == "hour" && integer) return std::optional<int32_t>(iceberg::HourFromMicros(set.Int(row, c)));
  if (f.transform == "day" && integer) return std::optional<int32_t>(iceberg::DayFromMicros(set.Int(row, c)));
  if (f.transform.starts_with("bucket[") && f.transform.ends_with("]")) {
    int32_t n = 0;
    const std::string_view digits(f.transform.data() + 7, f.transform.size() - 8);
    std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (n > 0) {
      int32_t hash = 0;
      if (integer) {
        hash = iceberg::HashLong(set.Int(row, c));
      } else if (spec.logical == LogicalType::kString) {
        hash = iceberg::HashString(set.Bytes(row, c));
      } else {
        hash = iceberg::HashBytes(set.Bytes(row, c));
      }
      return std::optional<int32_t>(iceberg::Bucket(n, hash));
    }
  }
  return Status::InvalidArgument("partition transform " + f.transform + " of " + spec.name + " is not supported");
}

int64_t TargetFileSize(const TableMetadata& metadata) {
  const int64_t v = ParseInt(metadata.properties, "write.target-file-size-bytes", kDefaultTargetFileSize);
  return v > 0 ? v : kDefaultTargetFileSize;
}

Result<DataFileInfo> WriteDataFile(FileSystem* fs, const std::string& path, const std::vector<ColumnSpec>& schema,
                                   const std::vector<ColumnValues>& columns, size_t rows,
                                   const ParquetWriterOptions& options, std::vector<std::optional<int32_t>> partition) {
  RETURN_IF_ERROR(CreateDirsDurably(fs, DirName(path)));
  ASSIGN_OR_RETURN(auto writer, ParquetWriter::Create(fs, path, schema, options));
  RETURN_IF_ERROR(writer->Write(columns, rows));
  ASSIGN_OR_RETURN(uint64_t size, writer->Finish());
  return DescribeParquetFile(path, static_cast<int64_t>(size), writer->info(), std::move(partition));
}

ParquetWriterOptions RewriteOptions(const TableMetadata& table) {
  ParquetWriterOptions options;
  options.codec = Codec::kZstd;
  options.zstd_level = static_cast<int>(ParseInt(table.properties, "write.parquet.compression-level", 3));
  options.row_group_bytes = kRewrittenRowGroupBytes;
  return options;
}

Result<DataFileInfo> WriteRows(FileSystem* fs, const RowSet& set, const std::vector<size_t>& rows,
                               const TableMetadata& table, const std::string& path,
                               std::vector<std::optional<int32_t>> partition) {
  RETURN_IF_ERROR(CreateDirsDurably(fs, DirName(path)));
  ASSIGN_OR_RETURN(auto writer, ParquetWriter::Create(fs, path, set.schema(), RewriteOptions(table)));
  for (size_t begin = 0; begin < rows.size(); begin += kWriteChunkRows) {
    const size_t end = std::min(rows.size(), begin + kWriteChunkRows);
    RETURN_IF_ERROR(writer->Write(set.Gather(rows, begin, end), end - begin));
  }
  ASSIGN_OR_RETURN(uint64_t size, writer->Finish());
  DataFileInfo d = DescribeParquetFile(path, static_cast<int64_t>(size), writer->info(), std::move(partition));
  if (!table.sort_order.empty()) d.sort_order_id = 1;
  return d;
}

}  // namespace watershed::lake
