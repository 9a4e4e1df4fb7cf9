#include "lake/iceberg_manifest.h"

#include "lake/avro.h"

namespace watershed::lake {
namespace {

using avro::AvroValue;

// Avro schema of a map<int, T> the way Iceberg writes one: an array of
// key/value records (logicalType map) with the key and value field ids.
std::string IntMap(const char* name, int id, int key_id, int value_id, const char* value_type) {
  const std::string rec = "k" + std::to_string(key_id) + "_v" + std::to_string(value_id);
  return std::string("{\"name\":\"") + name + "\",\"type\":[\"null\",{\"type\":\"array\",\"logicalType\":\"map\"," +
         "\"items\":{\"type\":\"record\",\"name\":\"" + rec + "\",\"fields\":[{\"name\":\"key\",\"type\":\"int\"," +
         "\"field-id\":" + std::to_string(key_id) + "},{\"name\":\"value\",\"type\":\"" + value_type +
         "\",\"field-id\":" + std::to_string(value_id) + "}]}}],\"default\":null,\"field-id\":" + std::to_string(id) +
         "}";
}

std::string ManifestEntrySchema(const TableMetadata& table) {
  std::string partition;
  for (size_t i = 0; i < table.partition_spec.size(); ++i) {
    if (i) partition += ',';
    partition += "{\"name\":\"" + table.partition_spec[i].name +
                 "\",\"type\":[\"null\",\"int\"],\"default\":null,\"field-id\":" +
                 std::to_string(table.partition_spec[i].field_id) + "}";
  }
  return std::string("{\"type\":\"record\",\"name\":\"manifest_entry\",\"fields\":[") +
         "{\"name\":\"status\",\"type\":\"int\",\"field-id\":0}," +
         "{\"name\":\"snapshot_id\",\"type\":[\"null\",\"long\"],\"default\":"
         "null,\"field-id\":1}," +
         "{\"name\":\"sequence_number\",\"type\":[\"null\",\"long\"],"
         "\"default\":null,\"field-id\":3}," +
         "{\"name\":\"file_sequence_number\",\"type\":[\"null\",\"long\"],"
         "\"default\":null,\"field-id\":4}," +
         "{\"name\":\"data_file\",\"field-id\":2,\"type\":{\"type\":\"record\","
         "\"name\":\"r2\",\"fields\":[" +
         "{\"name\":\"content\",\"type\":\"int\",\"field-id\":134}," +
         "{\"name\":\"file_path\",\"type\":\"string\",\"field-id\":100}," +
         "{\"name\":\"file_format\",\"type\":\"string\",\"field-id\":101}," +
         "{\"name\":\"partition\",\"field-id\":102,\"type\":{\"type\":"
         "\"record\",\"name\":\"r102\",\"fields\":[" +
         partition + "]}}," + "{\"name\":\"record_count\",\"type\":\"long\",\"field-id\":103}," +
         "{\"name\":\"file_size_in_bytes\",\"type\":\"long\",\"field-id\":104}"
         "," +
         IntMap("column_sizes", 108, 117, 118, "long") + "," + IntMap("value_counts", 109, 119, 120, "long") + "," +
         IntMap("null_value_counts", 110, 121, 122, "long") + "," + IntMap("lower_bounds", 125, 126, 127, "bytes") +
         "," + IntMap("upper_bounds", 128, 129, 130, "bytes") + "," +
         "{\"name\":\"split_offsets\",\"type\":[\"null\",{\"type\":\"array\","
         "\"items\":\"long\",\"element-id\":133}]," +
         "\"default\":null,\"field-id\":132}," +
         "{\"name\":\"sort_order_id\",\"type\":[\"null\",\"int\"],\"default\":"
         "null,\"field-id\":140}]}}]}";
}

constexpr char kManifestListSchema[] =
    R"({"type":"record","name":"manifest_file","fields":[)"
    R"({"name":"manifest_path","type":"string","field-id":500},)"
    R"({"name":"manifest_length","type":"long","field-id":501},)"
    R"({"name":"partition_spec_id","type":"int","field-id":502},)"
    R"({"name":"content","type":"int","field-id":517},)"
    R"({"name":"sequence_number","type":"long","field-id":515},)"
    R"({"name":"min_sequence_number","type":"long","field-id":516},)"
    R"({"name":"added_snapshot_id","type":"long","field-id":503},)"
    R"({"name":"added_files_count","type":"int","field-id":504},)"
    R"({"name":"existing_files_count","type":"int","field-id":505},)"
    R"({"name":"deleted_files_count","type":"int","field-id":506},)"
    R"({"name":"added_rows_count","type":"long","field-id":512},)"
    R"({"name":"existing_rows_count","type":"long","field-id":513},)"
    R"({"name":"deleted_rows_count","type":"long","field-id":514},)"
    R"({"name":"partitions","type":["null",{"type":"array","element-id":508,"items":{"type":"record","name":"r508",)"
    R"("fields":[{"name":"contains_null","type":"boolean","field-id":509},)"
    R"({"name":"contains_nan","type":["null","boolean"],"default":null,"field-id":518},)"
    R"({"name":"lower_bound","type":["null","bytes"],"default":null,"field-id":510},)"
    R"({"name":"upper_bound","type":["null","bytes"],"default":null,"field-id":511}]}}],)"
    R"("default":null,"field-id":507}]})";

AvroValue OptionalLong(std::optional<int64_t> v) {
  return v ? AvroValue::Union(1, AvroValue::Long(*v)) : AvroValue::Union(0, AvroValue::Null());
}
AvroValue OptionalInt(std::optional<int32_t> v) {
  return v ? AvroValue::Union(1, AvroValue::Int(*v)) : AvroValue::Union(0, AvroValue::Null());
}
AvroValue OptionalBytes(const std::optional<std::string>& v) {
  return v ? AvroValue::Union(1, AvroValue::Bytes(*v)) : AvroValue::Union(0, AvroValue::Null());
}
template <typename M, typename F>
AvroValue IntMapValue(const M& map, F&& value) {
  std::vector<AvroValue> items;
  for (const auto& [k, v] : map) items.push_back(AvroValue::Record({AvroValue::Int(k), value(v)}));
  return AvroValue::Union(1, AvroValue::Array(std::move(items)));
}

// Field `name` of record value `v` whose schema node is `node`; nullptr when
// absent.
const AvroValue* Field(const avro::Schema& schema, int node, const AvroValue& v, std::string_view name,
                       int* field_node = nullptr) {
  const auto& n = schema.node(node);
  if (n.type != avro::Type::kRecord || v.type != avro::Type::kRecord) return nullptr;
  for (size_t i = 0; i < n.field_names.size() && i < v.items.size(); ++i)
    if (n.field_names[i] == name) {
      if (field_node) *field_node = n.children[i];
      return &v.items[i];
    }
  return nullptr;
}

// The value inside a union (or the value itself); nullptr for null.
const AvroValue* Unwrap(const AvroValue* v) {
  while (v && v->type == avro::Type::kUnion) v = v->items.empty() ? nullptr : &v->items[0];
  return v && v->type != avro::Type::kNull ? v : nullptr;
}

Status Bad(const std::string& what) { return Status::Corruption("iceberg manifest: " + what); }

Result<int64_t> LongField(const avro::Schema& s, int node, const AvroValue& v, std::string_view name) {
  const AvroValue* f = Unwrap(Field(s, node, v, name));
  if (!f || (f->type != avro::Type::kLong && f->type != avro::Type::kInt)) return Bad("missing " + std::string(name));
  return f->i;
}

// The union branch index inside `node` that is not null (schemas here are
// ["null", X]).
int NonNullBranch(const avro::Schema& s, int node) {
  const auto& n = s.node(node);
  if (n.type != avro::Type::kUnion) return node;
  for (int c : n.children)
    if (s.node(c).type != avro::Type::kNull) return c;
  return node;
}

template <typename F>
Status ForEachMapEntry(const avro::Schema& s, int node, const AvroValue& record, std::string_view name, F&& f) {
  int field_node = -1;
  const AvroValue* v = Unwrap(Field(s, node, record, name, &field_node));
  if (!v) return Status::Ok();
  if (v->type != avro::Type::kArray) return Bad(std::string(name) + " is not an array");
  const int item_node = s.node(NonNullBranch(s, field_node)).children.at(0);
  for (const AvroValue& item : v->items) {
    const AvroValue* k = Field(s, item_node, item, "key");
    const AvroValue* val = Unwrap(Field(s, item_node, item, "value"));
    if (!k || !val) return Bad("bad entry in " + std::string(name));
    f(static_cast<int32_t>(k->i), *val);
  }
  return Status::Ok();
}

}  // namespace

DataFileInfo DescribeParquetFile(std::string path, int64_t file_size, const FileInfo& info,
                                 std::vector<std::optional<int32_t>> partition) {
  DataFileInfo d;
  d.path = std::move(path);
  d.record_count = info.num_rows;
  d.file_size_in_bytes = file_size;
  d.partition = std::move(partition);
  for (const RowGroupInfo& rg : info.row_groups) {
    if (!rg.columns.empty())
      d.split_offsets.push_back(rg.columns[0].dictionary_page_offset.value_or(rg.columns[0].data_page_offset));
    for (size_t c = 0; c < rg.columns.size(); ++c) {
      const ColumnSpec& spec = info.schema[c];
      const ColumnChunkInfo& ch = rg.columns[c];
      d.column_sizes[spec.field_id] += ch.total_compressed_size;
      d.value_counts[spec.field_id] += ch.num_values;
      d.null_value_counts[spec.field_id] += ch.statistics.null_count.value_or(0);
      auto less = [&](const std::string& a, const std::string& b) { return StatisticsLess(spec, a, b); };
      if (!spec.statistics || spec.type == PhysicalType::kDouble) continue;
      if (ch.statistics.min_value) {
        auto [it, fresh] = d.lower_bounds.try_emplace(spec.field_id, *ch.statistics.min_value);
        if (!fresh && less(*ch.statistics.min_value, it->second)) it->second = *ch.statistics.min_value;
      }
      if (ch.statistics.max_value) {
        auto [it, fresh] = d.upper_bounds.try_emplace(spec.field_id, *ch.statistics.max_value);
        if (!fresh && less(it->second, *ch.statistics.max_value)) it->second = *ch.statistics.max_value;
      }
    }
  }
  return d;
}

Result<std::string> WriteManifestEntries(const TableMetadata& table, const std::vector<ManifestEntry>& entries) {
  avro::Metadata header = {{"schema", IcebergSchemaJson(table.schema)},
                           {"schema-id", "0"},
                           {"partition-spec", PartitionFieldsJson(table.partition_spec)},
                           {"partition-spec-id", "0"},
                           {"format-version", "2"},
                           {"content", "data"}};
  ASSIGN_OR_RETURN(auto writer, avro::ContainerWriter::Make(ManifestEntrySchema(table), header));
  for (const ManifestEntry& e : entries) {
    const DataFileInfo& f = e.file;
    if (f.partition.size() != table.partition_spec.size())
      return Status::InvalidArgument("data file " + f.path + " has " + std::to_string(f.partition.size()) +
                                     " partition values for a spec of " + std::to_string(table.partition_spec.size()));
    if (e.status != EntryStatus::kAdded && (!e.snapshot_id || !e.sequence_number || !e.file_sequence_number))
      return Status::InvalidArgument("an EXISTING or DELETED entry of " + f.path +
                                     " needs its snapshot id and sequence numbers (v2 inherits them only "
                                     "for ADDED)");
    std::vector<AvroValue> partition;
    for (const auto& p : f.partition) partition.push_back(OptionalInt(p));
    auto as_long = [](int64_t v) { return AvroValue::Long(v); };
    auto as_bytes = [](const std::string& v) { return AvroValue::Bytes(v); };
    std::vector<AvroValue> offsets;
    for (int64_t o : f.split_offsets) offsets.push_back(AvroValue::Long(o));
    AvroValue data_file = AvroValue::Record({
        AvroValue::Int(0),  // content: data
        AvroValue::String(f.path),
        AvroValue::String("PARQUET"),
        AvroValue::Record(std::move(partition)),
        AvroValue::Long(f.record_count),
        AvroValue::Long(f.file_size_in_bytes),
        IntMapValue(f.column_sizes, as_long),
        IntMapValue(f.value_counts, as_long),
        IntMapValue(f.null_value_counts, as_long),
        IntMapValue(f.lower_bounds, as_bytes),
        IntMapValue(f.upper_bounds, as_bytes),
        AvroValue::Union(1, AvroValue::Array(std::move(offsets))),
        OptionalInt(f.sort_order_id),
    });
    RETURN_IF_ERROR(writer.Append(AvroValue::Record({AvroValue::Int(static_cast<int32_t>(e.status)),
                                                     OptionalLong(e.snapshot_id), OptionalLong(e.sequence_number),
                                                     OptionalLong(e.file_sequence_number), std::move(data_file)})));
  }
  return writer.Finish();
}

Result<std::string> WriteManifest(const TableMetadata& table, int64_t snapshot_id,
                                  const std::vector<DataFileInfo>& files) {
  // ADDED, sequence numbers null: inherited from the manifest list.
  std::vector<ManifestEntry> entries;
  entries.reserve(files.size());
  for (const DataFileInfo& f : files)
    entries.push_back({EntryStatus::kAdded, snapshot_id, std::nullopt, std::nullopt, f});
  return WriteManifestEntries(table, entries);
}

namespace {

// One decoded manifest entry (schema `s`) as a ManifestEntry.
Result<ManifestEntry> EntryOf(const avro::Schema& s, const AvroValue& entry) {
  ManifestEntry e;
  const AvroValue* status = Unwrap(Field(s, s.root(), entry, "status"));
  if (!status || status->type != avro::Type::kInt || status->i < 0 || status->i > 2)
    return Bad("an entry has no valid status");
  e.status = static_cast<EntryStatus>(status->i);
  auto optional_long = [&](std::string_view name) -> std::optional<int64_t> {
    const AvroValue* v = Unwrap(Field(s, s.root(), entry, name));
    if (v && (v->type == avro::Type::kLong || v->type == avro::Type::kInt)) return v->i;
    return std::nullopt;
  };
  e.snapshot_id = optional_long("snapshot_id");
  e.sequence_number = optional_long("sequence_number");
  e.file_sequence_number = optional_long("file_sequence_number");
  int df_node = -1;
  const AvroValue* df = Field(s, s.root(), entry, "data_file", &df_node);
  if (!df) return Bad("an entry has no data_file");
  DataFileInfo& d = e.file;
  const AvroValue* path = Unwrap(Field(s, df_node, *df, "file_path"));
  if (!path || path->type != avro::Type::kString) return Bad("a data file has no file_path");
  d.path = path->s;
  ASSIGN_OR_RETURN(d.record_count, LongField(s, df_node, *df, "record_count"));
  ASSIGN_OR_RETURN(d.file_size_in_bytes, LongField(s, df_node, *df, "file_size_in_bytes"));
  if (const AvroValue* p = Field(s, df_node, *df, "partition"); p && p->type == avro::Type::kRecord)
    for (const AvroValue& v : p->items) {
      const AvroValue* x = Unwrap(&v);
      d.partition.push_back(x ? std::optional<int32_t>(static_cast<int32_t>(x->i)) : std::nullopt);
    }
  auto longs = [](FieldIdMap<int64_t>* m) { return [m](int32_t k, const AvroValue& v) { (*m)[k] = v.i; }; };
  auto bytes_of = [](FieldIdMap<std::string>* m) { return [m](int32_t k, const AvroValue& v) { (*m)[k] = v.s; }; };
  RETURN_IF_ERROR(ForEachMapEntry(s, df_node, *df, "column_sizes", longs(&d.column_sizes)));
  RETURN_IF_ERROR(ForEachMapEntry(s, df_node, *df, "value_counts", longs(&d.value_counts)));
  RETURN_IF_ERROR(ForEachMapEntry(s, df_node, *df, "null_value_counts", longs(&d.null_value_counts)));
  RETURN_IF_ERROR(ForEachMapEntry(s, df_node, *df, "lower_bounds", bytes_of(&d.lower_bounds)));
  RETURN_IF_ERROR(ForEachMapEntry(s, df_node, *df, "upper_bounds", bytes_of(&d.upper_bounds)));
  if (const AvroValue* so = Unwrap(Field(s, df_node, *df, "split_offsets")); so && so->type == avro::Type::kArray)
    for (const AvroValue& o : so->items) d.split_offsets.push_back(o.i);
  if (const AvroValue* id = Unwrap(Field(s, df_node, *df, "sort_order_id")))
    d.sort_order_id = static_cast<int32_t>(id->i);
  // Maintenance holds tens of thousands of these: no spare capacity.
  for (auto* m : {&d.column_sizes, &d.value_counts, &d.null_value_counts}) m->shrink_to_fit();
  for (auto* m : {&d.lower_bounds, &d.upper_bounds}) m->shrink_to_fit();
  d.partition.shrink_to_fit();
  d.split_offsets.shrink_to_fit();
  return e;
}

}  // namespace

Result<std::vector<ManifestEntry>> ReadManifestEntries(std::string_view bytes) {
  // Streamed: one decoded object at a time (a whole manifest's decoded
  // values are ~20x its bytes).
  std::vector<ManifestEntry> out;
  auto read = avro::StreamContainer(bytes, [&out](const avro::Schema& s, AvroValue&& entry) -> Status {
    ASSIGN_OR_RETURN(ManifestEntry e, EntryOf(s, entry));
    out.push_back(std::move(e));
    return Status::Ok();
  });
  if (!read.ok()) return read.status();
  return out;
}

Result<std::vector<DataFileInfo>> ReadManifest(std::string_view bytes) {
  ASSIGN_OR_RETURN(std::vector<ManifestEntry> entries, ReadManifestEntries(bytes));
  std::vector<DataFileInfo> out;
  out.reserve(entries.size());
  for (ManifestEntry& e : entries) out.push_back(std::move(e.file));
  return out;
}

Result<std::vector<ManifestEntry>> ReadManifestEntries(FileSystem* fs, const ManifestFileInfo& manifest) {
  ASSIGN_OR_RETURN(std::string bytes, ReadWholeFile(fs, manifest.path));
  auto entries = ReadManifestEntries(bytes);
  if (!entries.ok()) return Status(entries.status().code(), manifest.path + ": " + entries.status().message());
  for (ManifestEntry& e : *entries) {
    if (e.status == EntryStatus::kAdded) {
      if (!e.snapshot_id) e.snapshot_id = manifest.added_snapshot_id;
      if (!e.sequence_number) e.sequence_number = manifest.sequence_number;
      if (!e.file_sequence_number) e.file_sequence_number = manifest.sequence_number;
    } else if (!e.snapshot_id || !e.sequence_number || !e.file_sequence_number) {
      return Bad(manifest.path + ": an EXISTING or DELETED entry of " + e.file.path + " lacks its sequence numbers");
    }
  }
  return entries;
}

Result<std::string> WriteManifestList(int64_t snapshot_id, std::optional<int64_t> parent_id, int64_t sequence_number,
                                      const std::vector<ManifestFileInfo>& manifests) {
  avro::Metadata header = {{"snapshot-id", std::to_string(snapshot_id)},
                           {"parent-snapshot-id", parent_id ? std::to_string(*parent_id) : "null"},
                           {"sequence-number", std::to_string(sequence_number)},
                           {"format-version", "2"}};
  ASSIGN_OR_RETURN(auto writer, avro::ContainerWriter::Make(kManifestListSchema, header));
  for (const ManifestFileInfo& m : manifests) {
    std::vector<AvroValue> summaries;
    for (const PartitionFieldSummary& p : m.partitions)  // contains_nan: null (partition values are ints)
      summaries.push_back(
          AvroValue::Record({AvroValue::Boolean(p.contains_null), AvroValue::Union(0, AvroValue::Null()),
                             OptionalBytes(p.lower_bound), OptionalBytes(p.upper_bound)}));
    RETURN_IF_ERROR(writer.Append(AvroValue::Record({
        AvroValue::String(m.path),
        AvroValue::Long(m.length),
        AvroValue::Int(m.partition_spec_id),
        AvroValue::Int(m.content),
        AvroValue::Long(m.sequence_number),
        AvroValue::Long(m.min_sequence_number),
        AvroValue::Long(m.added_snapshot_id),
        AvroValue::Int(m.added_files_count),
        AvroValue::Int(m.existing_files_count),
        AvroValue::Int(m.deleted_files_count),
        AvroValue::Long(m.added_rows_count),
        AvroValue::Long(m.existing_rows_count),
        AvroValue::Long(m.deleted_rows_count),
        AvroValue::Union(1, AvroValue::Array(std::move(summaries))),
    })));
  }
  return writer.Finish();
}

Result<std::vector<ManifestFileInfo>> ReadManifestList(std::string_view bytes) {
  ASSIGN_OR_RETURN(avro::ContainerFile file, avro::ReadContainer(bytes));
  const avro::Schema& s = file.schema;
  const int root = s.root();
  std::vector<ManifestFileInfo> out;
  for (const AvroValue& v : file.objects) {
    ManifestFileInfo m;
    const AvroValue* path = Unwrap(Field(s, root, v, "manifest_path"));
    if (!path || path->type != avro::Type::kString) return Bad("an entry has no manifest_path");
    m.path = path->s;
    ASSIGN_OR_RETURN(m.length, LongField(s, root, v, "manifest_length"));
    ASSIGN_OR_RETURN(int64_t spec, LongField(s, root, v, "partition_spec_id"));
    m.partition_spec_id = static_cast<int32_t>(spec);
    ASSIGN_OR_RETURN(int64_t content, LongField(s, root, v, "content"));
    m.content = static_cast<int32_t>(content);
    ASSIGN_OR_RETURN(m.sequence_number, LongField(s, root, v, "sequence_number"));
    ASSIGN_OR_RETURN(m.min_sequence_number, LongField(s, root, v, "min_sequence_number"));
    ASSIGN_OR_RETURN(m.added_snapshot_id, LongField(s, root, v, "added_snapshot_id"));
    ASSIGN_OR_RETURN(int64_t added, LongField(s, root, v, "added_files_count"));
    ASSIGN_OR_RETURN(int64_t existing, LongField(s, root, v, "existing_files_count"));
    ASSIGN_OR_RETURN(int64_t deleted, LongField(s, root, v, "deleted_files_count"));
    m.added_files_count = static_cast<int32_t>(added);
    m.existing_files_count = static_cast<int32_t>(existing);
    m.deleted_files_count = static_cast<int32_t>(deleted);
    ASSIGN_OR_RETURN(m.added_rows_count, LongField(s, root, v, "added_rows_count"));
    ASSIGN_OR_RETURN(m.existing_rows_count, LongField(s, root, v, "existing_rows_count"));
    ASSIGN_OR_RETURN(m.deleted_rows_count, LongField(s, root, v, "deleted_rows_count"));
    int parts_node = -1;
    if (const AvroValue* parts = Unwrap(Field(s, root, v, "partitions", &parts_node));
        parts && parts->type == avro::Type::kArray) {
      const int item = s.node(NonNullBranch(s, parts_node)).children.at(0);
      for (const AvroValue& p : parts->items) {
        PartitionFieldSummary summary;
        const AvroValue* cn = Field(s, item, p, "contains_null");
        summary.contains_null = cn && cn->b;
        if (const AvroValue* lo = Unwrap(Field(s, item, p, "lower_bound"))) summary.lower_bound = lo->s;
        if (const AvroValue* hi = Unwrap(Field(s, item, p, "upper_bound"))) summary.upper_bound = hi->s;
        m.partitions.push_back(std::move(summary));
      }
    }
    out.push_back(std::move(m));
  }
  return out;
}

Result<std::vector<ManifestFileInfo>> CurrentManifests(FileSystem* fs, const TableMetadata& table) {
  if (!table.current_snapshot_id) return std::vector<ManifestFileInfo>{};
  for (const IcebergSnapshot& s : table.snapshots) {
    if (s.snapshot_id != *table.current_snapshot_id) continue;
    ASSIGN_OR_RETURN(std::string bytes, ReadWholeFile(fs, s.manifest_list));
    auto list = ReadManifestList(bytes);
    if (!list.ok()) return Status(list.status().code(), s.manifest_list + ": " + list.status().message());
    return list;
  }
  return Bad("current snapshot not found");
}

}  // namespace watershed::lake
