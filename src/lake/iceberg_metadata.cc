#include "lake/iceberg_metadata.h"

#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>

#include "core/clock.h"

namespace watershed::lake {
namespace {

void Str(std::string_view s, std::string* out) {
  out->push_back('"');
  for (char c : s) {
    switch (c) {
      case '"': *out += "\\\""; break;
      case '\\': *out += "\\\\"; break;
      case '\n': *out += "\\n"; break;
      case '\r': *out += "\\r"; break;
      case '\t': *out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          *out += buf;
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

// "key": value pieces; `first` tracks the comma.
struct Obj {
  std::string* out;
  bool first = true;
  explicit Obj(std::string* o) : out(o) { out->push_back('{'); }
  std::string* Key(std::string_view k) {
    if (!first) out->push_back(',');
    first = false;
    Str(k, out);
    out->push_back(':');
    return out;
  }
  void Int(std::string_view k, int64_t v) { *Key(k) += std::to_string(v); }
  void String(std::string_view k, std::string_view v) { Str(v, Key(k)); }
  void Bool(std::string_view k, bool v) { *Key(k) += v ? "true" : "false"; }
  void End() { out->push_back('}'); }
};

Status Bad(const std::string& what) { return Status::Corruption("iceberg metadata: " + what); }

// Reads *out from obj[key]; kCorruption naming the key when missing or mistyped.
template <typename T>
Status Get(simdjson::dom::object obj, std::string_view key, T* out) {
  auto v = obj[key];
  if (v.error()) return Bad("missing \"" + std::string(key) + "\"");
  if constexpr (std::is_same_v<T, std::string>) {
    std::string_view s;
    if (v.get(s)) return Bad("\"" + std::string(key) + "\" is not a string");
    out->assign(s);
  } else if constexpr (std::is_same_v<T, bool>) {
    if (v.get(*out)) return Bad("\"" + std::string(key) + "\" is not a boolean");
  } else {
    int64_t n = 0;
    if (v.get(n)) return Bad("\"" + std::string(key) + "\" is not an integer");
    if (n < std::numeric_limits<T>::min() || n > std::numeric_limits<T>::max())
      return Bad("\"" + std::string(key) + "\" is out of range");
    *out = static_cast<T>(n);
  }
  return Status::Ok();
}

Result<simdjson::dom::array> GetArray(simdjson::dom::object obj, std::string_view key) {
  simdjson::dom::array a;
  if (obj[key].get(a)) return Bad("\"" + std::string(key) + "\" is missing or not an array");
  return a;
}

Result<simdjson::dom::object> AsObject(simdjson::dom::element e, std::string_view what) {
  simdjson::dom::object o;
  if (e.get(o)) return Bad(std::string(what) + " is not an object");
  return o;
}

}  // namespace

int32_t TableMetadata::LastColumnId() const {
  int32_t last = 0;
  for (const auto& f : schema) last = std::max(last, f.id);
  return last;
}

int32_t TableMetadata::LastPartitionId() const {
  int32_t last = 999;
  for (const auto& f : partition_spec) last = std::max(last, f.field_id);
  return last;
}

namespace {

// "key": [ {...}, ... ] with write(obj, item) filling each object.
template <typename T, typename F>
void List(Obj& parent, std::string_view key, const std::vector<T>& items, F&& write) {
  std::string* o = parent.Key(key);
  *o += '[';
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) *o += ',';
    Obj e(o);
    write(e, items[i]);
    e.End();
  }
  *o += ']';
}

// "key": [ {id_key: id, "fields": [...]} ]: the one schema, spec or sort order we keep.
template <typename T, typename F>
void Versioned(Obj& parent, std::string_view key, std::string_view id_key, int32_t id, const std::vector<T>& fields,
               F&& write) {
  std::string* o = parent.Key(key);
  *o += '[';
  Obj e(o);
  if (key == "schemas") e.String("type", "struct");
  e.Int(id_key, id);
  List(e, "fields", fields, write);
  e.End();
  *o += ']';
}

void Map(Obj& parent, std::string_view key, const std::map<std::string, std::string>& entries) {
  Obj o(parent.Key(key));
  for (const auto& [k, v] : entries) o.String(k, v);
  o.End();
}

void SchemaField(Obj& f, const IcebergField& field) {
  f.Int("id", field.id);
  f.String("name", field.name);
  f.Bool("required", field.required);
  f.String("type", field.type);
}
void PartitionField(Obj& f, const IcebergPartitionField& p) {
  f.String("name", p.name);
  f.String("transform", p.transform);
  f.Int("source-id", p.source_id);
  f.Int("field-id", p.field_id);
}

}  // namespace

std::string IcebergSchemaJson(const std::vector<IcebergField>& fields) {
  std::string out;
  Obj s(&out);
  s.String("type", "struct");
  s.Int("schema-id", 0);
  List(s, "fields", fields, SchemaField);
  s.End();
  return out;
}

std::string PartitionFieldsJson(const std::vector<IcebergPartitionField>& fields) {
  std::string out;
  Obj holder(&out);  // {"f": [...]}, then the array is cut out
  List(holder, "f", fields, PartitionField);
  holder.End();
  return out.substr(5, out.size() - 6);
}

std::string TableMetadataToJson(const TableMetadata& m) {
  std::string out;
  Obj root(&out);
  root.Int("format-version", 2);
  root.String("table-uuid", m.table_uuid);
  root.String("location", m.location);
  root.Int("last-sequence-number", m.last_sequence_number);
  root.Int("last-updated-ms", m.last_updated_ms);
  root.Int("last-column-id", m.LastColumnId());
  root.Int("current-schema-id", 0);
  Versioned(root, "schemas", "schema-id", 0, m.schema, SchemaField);
  root.Int("default-spec-id", 0);
  Versioned(root, "partition-specs", "spec-id", 0, m.partition_spec, PartitionField);
  root.Int("last-partition-id", m.LastPartitionId());
  const int order_id = m.sort_order.empty() ? 0 : 1;  // 0 is reserved for "unsorted"
  root.Int("default-sort-order-id", order_id);
  Versioned(root, "sort-orders", "order-id", order_id, m.sort_order, [](Obj& f, const IcebergSortField& s) {
    f.String("transform", s.transform);
    f.Int("source-id", s.source_id);
    f.String("direction", s.ascending ? "asc" : "desc");
    f.String("null-order", s.nulls_first ? "nulls-first" : "nulls-last");
  });
  Map(root, "properties", m.properties);
  if (m.current_snapshot_id) root.Int("current-snapshot-id", *m.current_snapshot_id);
  {
    Obj refs(root.Key("refs"));
    if (m.current_snapshot_id) {
      Obj main(refs.Key("main"));
      main.Int("snapshot-id", *m.current_snapshot_id);
      main.String("type", "branch");
      main.End();
    }
    refs.End();
  }
  List(root, "snapshots", m.snapshots, [](Obj& snap, const IcebergSnapshot& s) {
    snap.Int("snapshot-id", s.snapshot_id);
    if (s.parent_snapshot_id) snap.Int("parent-snapshot-id", *s.parent_snapshot_id);
    snap.Int("sequence-number", s.sequence_number);
    snap.Int("timestamp-ms", s.timestamp_ms);
    snap.String("manifest-list", s.manifest_list);
    Map(snap, "summary", s.summary);
    snap.Int("schema-id", s.schema_id);
  });
  List(root, "snapshot-log", m.snapshot_log, [](Obj& e, const std::pair<int64_t, int64_t>& entry) {
    e.Int("timestamp-ms", entry.first);
    e.Int("snapshot-id", entry.second);
  });
  List(root, "metadata-log", m.metadata_log, [](Obj& e, const std::pair<int64_t, std::string>& entry) {
    e.Int("timestamp-ms", entry.first);
    e.String("metadata-file", entry.second);
  });
  root.End();
  return out;
}

Result<TableMetadata> ParseTableMetadata(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(json.data(), json.size()).get(doc)) return Bad("not JSON");
  ASSIGN_OR_RETURN(simdjson::dom::object root, AsObject(doc, "the document"));
  TableMetadata m;
  int32_t format = 0;
  RETURN_IF_ERROR(Get(root, "format-version", &format));
  if (format != 2) return Bad("format-version " + std::to_string(format) + " (only 2 is supported)");
  RETURN_IF_ERROR(Get(root, "table-uuid", &m.table_uuid));
  RETURN_IF_ERROR(Get(root, "location", &m.location));
  RETURN_IF_ERROR(Get(root, "last-sequence-number", &m.last_sequence_number));
  RETURN_IF_ERROR(Get(root, "last-updated-ms", &m.last_updated_ms));
  int32_t current_schema = 0, default_spec = 0, default_order = 0;
  RETURN_IF_ERROR(Get(root, "current-schema-id", &current_schema));
  RETURN_IF_ERROR(Get(root, "default-spec-id", &default_spec));
  RETURN_IF_ERROR(Get(root, "default-sort-order-id", &default_order));

  // The current schema, default spec and default sort order: each the
  // element of its list whose id the root names.
  auto fields_of = [&](std::string_view list, std::string_view id_key, int32_t id,
                       bool required) -> Result<std::optional<simdjson::dom::array>> {
    ASSIGN_OR_RETURN(auto all, GetArray(root, list));
    for (auto e : all) {
      ASSIGN_OR_RETURN(auto o, AsObject(e, list));
      int32_t got = 0;
      RETURN_IF_ERROR(Get(o, id_key, &got));
      if (got != id) continue;
      ASSIGN_OR_RETURN(auto fields, GetArray(o, "fields"));
      return std::optional(fields);
    }
    if (required) return Bad(std::string(list) + " has no entry with " + std::string(id_key) + " " + std::to_string(id));
    return std::optional<simdjson::dom::array>();
  };
  ASSIGN_OR_RETURN(auto schema_fields, fields_of("schemas", "schema-id", current_schema, true));
  for (auto fe : *schema_fields) {
    ASSIGN_OR_RETURN(auto f, AsObject(fe, "a schema field"));
    IcebergField field;
    RETURN_IF_ERROR(Get(f, "id", &field.id));
    RETURN_IF_ERROR(Get(f, "name", &field.name));
    RETURN_IF_ERROR(Get(f, "required", &field.required));
    if (!Get(f, "type", &field.type).ok()) return Bad("field " + field.name + " has a nested type (not supported)");
    m.schema.push_back(std::move(field));
  }
  ASSIGN_OR_RETURN(auto spec_fields, fields_of("partition-specs", "spec-id", default_spec, true));
  for (auto fe : *spec_fields) {
    ASSIGN_OR_RETURN(auto f, AsObject(fe, "a partition field"));
    IcebergPartitionField p;
    RETURN_IF_ERROR(Get(f, "name", &p.name));
    RETURN_IF_ERROR(Get(f, "transform", &p.transform));
    RETURN_IF_ERROR(Get(f, "source-id", &p.source_id));
    RETURN_IF_ERROR(Get(f, "field-id", &p.field_id));
    m.partition_spec.push_back(std::move(p));
  }
  ASSIGN_OR_RETURN(auto sort_fields, fields_of("sort-orders", "order-id", default_order, default_order != 0));
  if (sort_fields) {
    for (auto fe : *sort_fields) {
      ASSIGN_OR_RETURN(auto f, AsObject(fe, "a sort field"));
      IcebergSortField sf;
      std::string direction, null_order;
      RETURN_IF_ERROR(Get(f, "transform", &sf.transform));
      RETURN_IF_ERROR(Get(f, "source-id", &sf.source_id));
      RETURN_IF_ERROR(Get(f, "direction", &direction));
      RETURN_IF_ERROR(Get(f, "null-order", &null_order));
      sf.ascending = direction == "asc";
      sf.nulls_first = null_order == "nulls-first";
      m.sort_order.push_back(std::move(sf));
    }
  }

  simdjson::dom::object props;
  if (!root["properties"].get(props)) {
    for (auto [k, v] : props) {
      std::string_view s;
      if (v.get(s)) return Bad("property " + std::string(k) + " is not a string");
      m.properties[std::string(k)] = std::string(s);
    }
  }
  int64_t current = 0;
  if (!root["current-snapshot-id"].get(current) && current != -1) m.current_snapshot_id = current;
  simdjson::dom::array snaps;
  if (!root["snapshots"].get(snaps)) {
    for (auto e : snaps) {
      ASSIGN_OR_RETURN(auto s, AsObject(e, "a snapshot"));
      IcebergSnapshot snap;
      RETURN_IF_ERROR(Get(s, "snapshot-id", &snap.snapshot_id));
      int64_t parent = 0;
      if (!s["parent-snapshot-id"].get(parent)) snap.parent_snapshot_id = parent;
      RETURN_IF_ERROR(Get(s, "sequence-number", &snap.sequence_number));
      RETURN_IF_ERROR(Get(s, "timestamp-ms", &snap.timestamp_ms));
      RETURN_IF_ERROR(Get(s, "manifest-list", &snap.manifest_list));
      simdjson::dom::object summary;
      if (s["summary"].get(summary)) return Bad("a snapshot has no summary");
      for (auto [k, v] : summary) {
        std::string_view sv;
        if (v.get(sv)) return Bad("snapshot summary " + std::string(k) + " is not a string");
        snap.summary[std::string(k)] = std::string(sv);
      }
      if (!snap.summary.count("operation")) return Bad("a snapshot summary has no operation");
      Get(s, "schema-id", &snap.schema_id).IgnoreError();  // optional in v2
      m.snapshots.push_back(std::move(snap));
    }
  }
  simdjson::dom::array log;
  if (!root["snapshot-log"].get(log)) {
    for (auto e : log) {
      ASSIGN_OR_RETURN(auto o, AsObject(e, "a snapshot-log entry"));
      std::pair<int64_t, int64_t> entry;
      RETURN_IF_ERROR(Get(o, "timestamp-ms", &entry.first));
      RETURN_IF_ERROR(Get(o, "snapshot-id", &entry.second));
      m.snapshot_log.push_back(entry);
    }
  }
  if (!root["metadata-log"].get(log)) {
    for (auto e : log) {
      ASSIGN_OR_RETURN(auto o, AsObject(e, "a metadata-log entry"));
      std::pair<int64_t, std::string> entry;
      RETURN_IF_ERROR(Get(o, "timestamp-ms", &entry.first));
      RETURN_IF_ERROR(Get(o, "metadata-file", &entry.second));
      m.metadata_log.push_back(std::move(entry));
    }
  }
  if (m.current_snapshot_id &&
      std::none_of(m.snapshots.begin(), m.snapshots.end(),
                   [&](const IcebergSnapshot& s) { return s.snapshot_id == *m.current_snapshot_id; }))
    return Bad("current-snapshot-id names no snapshot");
  return m;
}

std::string IcebergTable::MetadataPath(int64_t version) const {
  return JoinPath(JoinPath(location_, "metadata"), "v" + std::to_string(version) + ".metadata.json");
}

void AddCurrentSnapshot(TableMetadata& m, int64_t snapshot_id, int64_t sequence_number, std::string manifest_list,
                        std::map<std::string, std::string> summary) {
  IcebergSnapshot snap;
  snap.snapshot_id = snapshot_id;
  snap.parent_snapshot_id = m.current_snapshot_id;
  snap.sequence_number = sequence_number;
  snap.timestamp_ms = std::max(Clock::Real()->NowMs(), m.last_updated_ms);
  snap.manifest_list = std::move(manifest_list);
  snap.summary = std::move(summary);
  m.snapshot_log.emplace_back(snap.timestamp_ms, snapshot_id);
  m.snapshots.push_back(std::move(snap));
  m.current_snapshot_id = snapshot_id;
  m.last_sequence_number = sequence_number;
}

Result<IcebergTable> IcebergTable::Create(FileSystem* fs, std::string location, TableMetadata initial) {
  IcebergTable t(fs, std::move(location));
  RETURN_IF_ERROR(CreateDirsDurably(fs, JoinPath(t.location_, "metadata")));
  initial.location = t.location_;
  if (initial.last_updated_ms == 0) initial.last_updated_ms = Clock::Real()->NowMs();
  RETURN_IF_ERROR(t.Publish(initial, 1));
  t.metadata_ = std::move(initial);
  t.version_ = 1;
  return t;
}

Result<IcebergTable> IcebergTable::Load(FileSystem* fs, std::string location) {
  IcebergTable t(fs, std::move(location));
  const std::string dir = JoinPath(t.location_, "metadata");
  // The highest published version. version-hint.text may lag behind it (a
  // crash after a publish): probe the versions above the hint. Without a
  // usable hint, list the directory (which grows with every commit's
  // manifests, so it is the slow path).
  int64_t hint = 0;
  if (auto text = ReadWholeFile(fs, JoinPath(dir, "version-hint.text")); text.ok()) {
    auto [p, ec] = std::from_chars(text->data(), text->data() + text->size(), hint);
    if (ec != std::errc() || hint < 1 || !fs->FileExists(t.MetadataPath(hint))) hint = 0;
  }
  if (hint > 0) {
    t.version_ = hint;
    while (fs->FileExists(t.MetadataPath(t.version_ + 1))) ++t.version_;
  } else {
    ASSIGN_OR_RETURN(auto names, fs->ListDir(dir));
    for (const std::string& name : names) {
      if (!name.starts_with("v") || !name.ends_with(".metadata.json")) continue;
      int64_t v = 0;
      const std::string_view digits(name.data() + 1, name.size() - 1 - std::string_view(".metadata.json").size());
      auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
      if (ec == std::errc() && p == digits.data() + digits.size() && v > t.version_) t.version_ = v;
    }
  }
  if (t.version_ == 0) return Status::NotFound("no Iceberg table metadata under " + dir);
  const std::string path = t.MetadataPath(t.version_);
  ASSIGN_OR_RETURN(std::string json, ReadWholeFile(fs, path));
  auto m = ParseTableMetadata(json);
  if (!m.ok()) return Status(m.status().code(), path + ": " + m.status().message());
  t.metadata_ = std::move(m).value();
  return t;
}

Status IcebergTable::Publish(const TableMetadata& m, int64_t version) {
  const std::string path = MetadataPath(version);
  static std::atomic<uint64_t> temp_seq{0};
  const std::string temp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(temp_seq.fetch_add(1));
  RETURN_IF_ERROR(WriteFileAtomically(fs_, temp, TableMetadataToJson(m)));
  Status s = fs_->RenameNoReplace(temp, path);
  if (!s.ok()) {
    fs_->RemoveFile(temp).IgnoreError();
    return s;  // kFailedPrecondition: another committer published this version
  }
  RETURN_IF_ERROR(fs_->SyncDir(DirName(path)));
  // The version is published; the hint is best effort (a reader trusts a
  // higher v<N>.metadata.json over it). Temporaries are unique per call:
  // committers in one process must not share one.
  static std::atomic<uint64_t> hint_seq{0};
  WriteFileAtomically(fs_, JoinPath(JoinPath(location_, "metadata"), "version-hint.text"), std::to_string(version), {},
                      ".tmp." + std::to_string(::getpid()) + "." + std::to_string(hint_seq.fetch_add(1)))
      .IgnoreError();
  return Status::Ok();
}

Status IcebergTable::Commit(const std::function<Status(TableMetadata&)>& change, int max_attempts) {
  for (int attempt = 0; attempt < max_attempts; ++attempt) {
    if (attempt > 0) {
      ASSIGN_OR_RETURN(IcebergTable fresh, Load(fs_, location_));
      metadata_ = std::move(fresh.metadata_);
      version_ = fresh.version_;
    }
    TableMetadata next = metadata_;
    RETURN_IF_ERROR(change(next));
    const int64_t now = Clock::Real()->NowMs();
    next.last_updated_ms = std::max(now, metadata_.last_updated_ms + 1);
    next.metadata_log.emplace_back(metadata_.last_updated_ms, MetadataPath(version_));
    int64_t keep = 100;
    if (auto it = next.properties.find("write.metadata.previous-versions-max"); it != next.properties.end())
      std::from_chars(it->second.data(), it->second.data() + it->second.size(), keep);
    keep = std::max<int64_t>(keep, 1);
    if (static_cast<int64_t>(next.metadata_log.size()) > keep)
      next.metadata_log.erase(next.metadata_log.begin(), next.metadata_log.end() - keep);
    Status s = Publish(next, version_ + 1);
    if (s.code() == StatusCode::kFailedPrecondition) continue;  // lost the race: reload, re-apply
    RETURN_IF_ERROR(s);
    metadata_ = std::move(next);
    ++version_;
    return RemoveOldMetadata();
  }
  return Status::Unavailable("iceberg commit: " + std::to_string(max_attempts) +
                             " concurrent commits won the race; retry later");
}

Status IcebergTable::RemoveOldMetadata() {
  // Files that fell off metadata-log are no longer reachable from the table.
  const int64_t oldest_kept =
      version_ - static_cast<int64_t>(metadata_.metadata_log.size());  // the log holds the versions below version_
  for (int64_t v = oldest_kept - 1; v >= 1; --v) {
    const std::string path = MetadataPath(v);
    if (!fs_->FileExists(path)) break;  // removed by an earlier commit
    RETURN_IF_ERROR(fs_->RemoveFile(path));
  }
  return Status::Ok();
}

}  // namespace watershed::lake
