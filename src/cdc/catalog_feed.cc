#include "cdc/catalog_feed.h"

#include <libpq-fe.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <set>

#include "catalog/story_codec.h"
#include "core/civil_date.h"
#include "core/endian.h"
#include "core/json_text.h"
#include "core/random.h"
#include "lake/iceberg_commit.h"
#include "lake/row_set.h"
#include "lake/tables.h"

namespace watershed::cdc {

using catalog::CatalogChange;
using catalog::SourcePosition;
using catalog::StoryRecord;
using lake::ColumnSpec;
using lake::ColumnValues;
using lake::DataFileInfo;
using lake::IcebergTable;

namespace {

constexpr uint32_t kStateMagic = 0x46435357;  // "WSCF"
constexpr uint32_t kStateVersion = 1;
// Phases of the state file: the snapshot of slot-LSN `to` is being
// received; its lake commit is prepared (the files are listed); it is stored.
enum StatePhase : uint8_t { kSnapshotting = 0, kPrepared = 1, kStored = 2 };

ColumnSpec Col(const char* name, int32_t id, lake::LogicalType logical, bool optional = false) {
  ColumnSpec c;
  c.name = name;
  c.field_id = id;
  c.logical = logical;
  c.type = logical == lake::LogicalType::kString ? lake::PhysicalType::kByteArray : lake::PhysicalType::kInt64;
  c.optional = optional;
  return c;
}

std::vector<ColumnSpec> BaseSchema() {
  using L = lake::LogicalType;
  return {Col("op", 1, L::kString),           Col("commit_lsn", 2, L::kInt64),
          Col("change_index", 3, L::kInt64),  Col("commit_time", 4, L::kTimestampMicrosUtc),
          Col("xid", 5, L::kInt64),           Col("relation", 6, L::kString),
          Col("before", 7, L::kString, true), Col("after", 8, L::kString, true)};
}

lake::TableMetadata NewCdcTable(const std::vector<ColumnSpec>& schema) {
  lake::TableMetadata m;
  m.schema = lake::IcebergSchemaOf(schema);
  m.properties = {{"write.format.default", "parquet"},
                  {"write.parquet.compression-codec", "zstd"},
                  {"write.parquet.compression-level", "3"}};
  return m;
}

void AddBytes(ColumnValues& c, std::string_view s) {
  c.bytes += s;
  c.ends.push_back(static_cast<uint32_t>(c.bytes.size()));
}

void AddOptionalBytes(ColumnValues& c, const std::optional<std::string>& s) {
  c.present.push_back(s ? 1 : 0);
  if (s) AddBytes(c, *s);
}

// {"column": "text" | null, ...}; an unchanged TOASTed value (not sent) is
// left out. nullopt for no image.
std::optional<std::string> ImageJson(const std::vector<ColumnValue>& image) {
  if (image.empty()) return std::nullopt;
  std::string out = "{";
  bool first = true;
  for (const ColumnValue& v : image) {
    if (v.kind == DatumKind::kUnchangedToast) continue;
    if (!first) out += ',';
    first = false;
    AppendJsonString(v.name, &out);
    out += ':';
    if (v.kind == DatumKind::kNull) {
      out += "null";
    } else {
      AppendJsonString(v.text, &out);
    }
  }
  out += '}';
  return out;
}

const ColumnValue* FindColumn(const std::vector<ColumnValue>& image, const std::string& name) {
  if (name.empty()) return nullptr;
  for (const ColumnValue& v : image)
    if (v.name == name) return &v;
  return nullptr;
}

std::string Qualified(const std::string& table) {
  return table.find('.') == std::string::npos ? "public." + table : table;
}

bool Digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

int Num(std::string_view s) {  // REQUIRES: Digits(s), at most 9 digits
  int v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

}  // namespace

// ---- text forms ----

Result<int64_t> ParsePgInt64(std::string_view text) {
  std::string_view digits = text.starts_with('-') ? text.substr(1) : text;
  if (!Digits(digits) || digits.size() > 19)
    return Status::InvalidArgument("not a bigint: \"" + std::string(text) + "\"");
  int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size()) {
    return Status::InvalidArgument("not a bigint: \"" + std::string(text) + "\"");
  }
  return v;
}

Result<bool> ParsePgBool(std::string_view text) {
  if (text == "t") return true;
  if (text == "f") return false;
  return Status::InvalidArgument("not a boolean (t or f): \"" + std::string(text.substr(0, 64)) + "\"");
}

Result<int64_t> ParsePgTimestamptz(std::string_view text) {
  auto bad = [&](const char* why) {
    return Status::InvalidArgument(std::string("not a timestamptz (") + why + "): \"" +
                                   std::string(text.substr(0, 64)) + "\"");
  };
  // YYYY-MM-DD HH:MM:SS = 19 characters, then [.ffffff] and the offset.
  if (text.size() < 22) return bad("too short");
  const std::string_view ys = text.substr(0, 4), mos = text.substr(5, 2), ds = text.substr(8, 2),
                         hs = text.substr(11, 2), mis = text.substr(14, 2), ss = text.substr(17, 2);
  if (text[4] != '-' || text[7] != '-' || text[10] != ' ' || text[13] != ':' || text[16] != ':' || !Digits(ys) ||
      !Digits(mos) || !Digits(ds) || !Digits(hs) || !Digits(mis) || !Digits(ss)) {
    return bad("expected YYYY-MM-DD HH:MM:SS");
  }
  const int y = Num(ys), mo = Num(mos), d = Num(ds), h = Num(hs), mi = Num(mis), s = Num(ss);
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > DaysInMonth(y, mo) || h > 23 || mi > 59 || s > 59) {
    return bad("field out of range");
  }
  size_t i = 19;
  int64_t micros = 0;
  if (text[i] == '.') {
    size_t start = ++i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    const size_t n = i - start;
    if (n == 0 || n > 6) return bad("fraction of 1 to 6 digits");
    micros = Num(text.substr(start, n));
    for (size_t k = n; k < 6; ++k) micros *= 10;
  }
  if (i >= text.size() || (text[i] != '+' && text[i] != '-')) return bad("expected an offset");
  const int sign = text[i] == '-' ? -1 : 1;
  std::string_view off = text.substr(i + 1);
  int64_t offset_s = 0;
  // HH, HH:MM or HH:MM:SS
  if (off.size() != 2 && off.size() != 5 && off.size() != 8) return bad("offset must be HH[:MM[:SS]]");
  for (size_t k = 0; k < off.size(); k += 3) {
    std::string_view part = off.substr(k, 2);
    if (!Digits(part) || (k + 2 < off.size() && off[k + 2] != ':')) return bad("offset must be HH[:MM[:SS]]");
    const int v = Num(part);
    if ((k == 0 && v > 15) || (k > 0 && v > 59)) return bad("offset out of range");
    offset_s = offset_s * 60 + v;
  }
  for (size_t k = off.size(); k < 8; k += 3) offset_s *= 60;
  const int64_t seconds = DaysFromCivil(y, mo, d) * 86'400 + h * 3600 + mi * 60 + s - sign * offset_s;
  return seconds * 1'000'000 + micros;
}

Result<std::vector<std::optional<std::string>>> ParsePgTextArray(std::string_view text) {
  auto bad = [&](const char* why) {
    return Status::InvalidArgument(std::string("not a one-dimensional text array (") + why + "): \"" +
                                   std::string(text.substr(0, 64)) + "\"");
  };
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; };
  const size_t n = text.size();
  if (n < 2 || text[0] != '{' || text[n - 1] != '}') return bad("expected {...}");
  std::vector<std::optional<std::string>> out;
  size_t i = 1;
  while (i < n && space(text[i])) ++i;
  if (i == n - 1) return out;  // {}
  for (;;) {
    while (i < n && space(text[i])) ++i;
    if (i >= n) return bad("unterminated");
    std::string value;
    bool quoted = false, escaped_any = false;
    if (text[i] == '{') return bad("nested arrays");
    if (text[i] == '"') {
      quoted = true;
      ++i;
      for (;;) {
        if (i >= n) return bad("unterminated quote");
        char c = text[i++];
        if (c == '"') break;
        if (c == '\\') {
          if (i >= n) return bad("dangling backslash");
          c = text[i++];
        }
        value += c;
      }
      while (i < n && space(text[i])) ++i;
    } else {
      size_t keep = 0;  // length without unescaped trailing white space
      for (;;) {
        if (i >= n) return bad("unterminated");
        char c = text[i];
        if (c == ',' || c == '}') break;
        if (c == '"' || c == '{') return bad("misplaced quote or brace");
        ++i;
        if (c == '\\') {
          if (i >= n) return bad("dangling backslash");
          value += text[i++];
          escaped_any = true;
          keep = value.size();
          continue;
        }
        value += c;
        if (!space(c)) keep = value.size();
      }
      value.resize(keep);
      if (value.empty()) return bad("empty element");
    }
    if (i >= n) return bad("unterminated");
    const bool is_null =
        !quoted && !escaped_any && value.size() == 4 &&
        std::equal(value.begin(), value.end(), "NULL", [](char a, char b) { return (a & ~0x20) == b; });
    if (is_null) {
      out.emplace_back(std::nullopt);
    } else {
      out.emplace_back(std::move(value));
    }
    if (text[i] == '}') {
      if (i != n - 1) return bad("text after the closing brace");
      return out;
    }
    if (text[i] != ',') return bad("expected , or }");
    ++i;
  }
}

Result<CatalogColumnMapping> ParseColumnMapping(std::string_view text) {
  CatalogColumnMapping m;
  std::map<std::string_view, std::string*> fields = {
      {"story_id", &m.story_id}, {"author_id", &m.author_id}, {"created_at", &m.created_at},   {"title", &m.title},
      {"tags", &m.tags},         {"language", &m.language},   {"is_original", &m.is_original}, {"deleted", &m.deleted}};
  while (!text.empty()) {
    const size_t comma = text.find(',');
    std::string_view entry = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    const size_t eq = entry.find('=');
    auto it = eq == std::string_view::npos ? fields.end() : fields.find(entry.substr(0, eq));
    if (it == fields.end()) {
      return Status::InvalidArgument("column mapping: expected field=column with a catalogue field, got \"" +
                                     std::string(entry) + "\"");
    }
    *it->second = std::string(entry.substr(eq + 1));
  }
  if (m.story_id.empty()) return Status::InvalidArgument("column mapping: story_id must be mapped");
  return m;
}

// ---- schemas ----

const std::vector<ColumnSpec>& CdcTableSchema() {
  static const std::vector<ColumnSpec> schema = BaseSchema();
  return schema;
}

const std::vector<ColumnSpec>& CdcDeadLetterSchema() {
  static const std::vector<ColumnSpec> schema = [] {
    std::vector<ColumnSpec> s = BaseSchema();
    s.push_back(Col("reason", 9, lake::LogicalType::kString));
    return s;
  }();
  return schema;
}

std::string CdcTableName(std::string_view table) {
  const size_t dot = table.rfind('.');
  return "cdc_" + std::string(dot == std::string_view::npos ? table : table.substr(dot + 1));
}

// ---- the feed ----

// What one Step (or the whole snapshot) stores.
struct CatalogFeed::Pending {
  std::vector<ColumnValues> rows = std::vector<ColumnValues>(CdcTableSchema().size());
  size_t row_count = 0;
  std::vector<ColumnValues> dead = std::vector<ColumnValues>(CdcDeadLetterSchema().size());
  size_t dead_count = 0;
  std::vector<CatalogChange> changes;
  std::map<uint64_t, StoryRecord> current;  // the catalogue as `changes` leave it

  void ClearFiles() {
    for (ColumnValues& c : rows) c.Clear();
    for (ColumnValues& c : dead) c.Clear();
    row_count = dead_count = 0;
  }
};

namespace {

void AddRow(std::vector<ColumnValues>& cols, const Transaction& t, const Change& c, const std::string* reason) {
  AddBytes(cols[0], ChangeOpName(c.op));
  cols[1].ints.push_back(static_cast<int64_t>(c.position.commit_lsn.value()));
  cols[2].ints.push_back(static_cast<int64_t>(c.position.index));
  cols[3].ints.push_back(t.commit_time_us);
  cols[4].ints.push_back(static_cast<int64_t>(t.xid));
  AddBytes(cols[5], c.relation);
  AddOptionalBytes(cols[6], ImageJson(c.before));
  AddOptionalBytes(cols[7], ImageJson(c.after));
  if (reason) AddBytes(cols[8], *reason);
}

}  // namespace

CatalogFeed::CatalogFeed(CatalogFeedOptions options, catalog::StoryCatalog* catalog, FileSystem* fs,
                         std::string lake_root)
    : options_(std::move(options)), catalog_(catalog), fs_(fs), lake_root_(std::move(lake_root)) {
  options_.table = Qualified(options_.table);
  source_name_ = "pg:" + options_.table;
  table_location_ = JoinPath(lake_root_, CdcTableName(options_.table));
  dead_letter_location_ = table_location_ + "_dead_letter";
  token_ = RandomHex(4);
}

CatalogFeed::~CatalogFeed() = default;

std::string CatalogFeed::StatePath() const { return JoinPath(options_.state_dir, options_.slot + ".state"); }
std::string CatalogFeed::GuardKey() const { return "watershed.cdc." + options_.slot + ".end-lsn"; }

Status CatalogFeed::Hook(std::string_view point) {
  return options_.test_hook ? options_.test_hook(point) : Status::Ok();
}

Status CatalogFeed::Fail(Status s) {
  if (broken_.ok()) broken_ = s;
  return s;
}

Result<std::unique_ptr<CatalogFeed>> CatalogFeed::Start(CatalogFeedOptions options, catalog::StoryCatalog* catalog,
                                                        FileSystem* fs, std::string lake_root) {
  if (catalog == nullptr || fs == nullptr) return Status::InvalidArgument("catalog feed: no catalogue or file system");
  if (options.state_dir.empty()) return Status::InvalidArgument("catalog feed: state_dir is required");
  if (options.columns.story_id.empty()) return Status::InvalidArgument("catalog feed: story_id must be mapped");
  if (options.table.empty() || options.table.find('"') != std::string::npos) {
    return Status::InvalidArgument("catalog feed: bad table \"" + options.table + "\"");
  }
  std::unique_ptr<CatalogFeed> feed(new CatalogFeed(std::move(options), catalog, fs, std::move(lake_root)));
  RETURN_IF_ERROR(feed->Init());
  return feed;
}

Status CatalogFeed::CheckColumns(const Relation& relation) const {
  const CatalogColumnMapping& m = options_.columns;
  for (const std::string* name :
       {&m.story_id, &m.author_id, &m.created_at, &m.title, &m.tags, &m.language, &m.is_original, &m.deleted}) {
    if (name->empty()) continue;
    if (std::none_of(relation.columns.begin(), relation.columns.end(),
                     [&](const RelationColumn& c) { return c.name == *name; })) {
      return Status::FailedPrecondition("catalog feed: " + relation.QualifiedName() + " has no column \"" + *name +
                                        "\" (mapped in the column mapping)");
    }
  }
  return Status::Ok();
}

Status CatalogFeed::Init() {
  ASSIGN_OR_RETURN(IcebergTable rows_table,
                   lake::LoadOrCreateTable(fs_, table_location_, NewCdcTable(CdcTableSchema())));
  ASSIGN_OR_RETURN(IcebergTable dead_table,
                   lake::LoadOrCreateTable(fs_, dead_letter_location_, NewCdcTable(CdcDeadLetterSchema())));
  RETURN_IF_ERROR(CreateDirsDurably(fs_, options_.state_dir));
  RETURN_IF_ERROR(FinishPreparedSnapshot());

  // The table's columns now: a mapped column it lacks is a configuration error.
  {
    std::unique_ptr<PGconn, void (*)(PGconn*)> conn(PQconnectdb(options_.conninfo.c_str()), PQfinish);
    if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
      return Status::Unavailable("catalog feed: connection failed: " +
                                 std::string(conn ? PQerrorMessage(conn.get()) : "out of memory"));
    }
    const char* params[] = {options_.table.c_str()};
    std::unique_ptr<PGresult, void (*)(PGresult*)> res(
        PQexecParams(conn.get(),
                     "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT "
                     "attisdropped",
                     1, nullptr, params, nullptr, nullptr, 0),
        PQclear);
    if (!res || PQresultStatus(res.get()) != PGRES_TUPLES_OK) {
      return Status::FailedPrecondition("catalog feed: reading the columns of " + options_.table + ": " +
                                        std::string(PQerrorMessage(conn.get())));
    }
    Relation relation;
    const size_t dot = options_.table.find('.');
    relation.namespace_name = options_.table.substr(0, dot);
    relation.relation_name = options_.table.substr(dot + 1);
    for (int i = 0; i < PQntuples(res.get()); ++i) relation.columns.push_back({false, PQgetvalue(res.get(), i, 0)});
    RETURN_IF_ERROR(CheckColumns(relation));
  }

  // An existing slot whose snapshot is not stored cannot be resumed: the
  // rows of its snapshot are gone with the connection that exported it.
  Result<std::string> state = ReadWholeFile(fs_, StatePath());
  const bool stored = state.ok() && state->size() > 8 && static_cast<uint8_t>((*state)[8]) == kStored;
  if (!stored) {
    Status dropped = PgLogicalSource::DropSlot(options_.conninfo, options_.slot);
    if (!dropped.ok() && dropped.code() != StatusCode::kNotFound) return dropped;
  }
  PgSourceOptions o;
  o.conninfo = options_.conninfo;
  o.slot_name = options_.slot;
  o.publication_name = options_.publication;
  o.tables = {options_.table};
  o.snapshot_batch_rows = options_.snapshot_batch_rows;
  ASSIGN_OR_RETURN(source_, PgLogicalSource::Start(o));
  if (source_->slot_created()) {
    // From here until the snapshot is stored, a restart must take a new one.
    RETURN_IF_ERROR(WriteState(kSnapshotting, source_->start_lsn().value(), {}, {}));
  }
  counters_.lag_bytes = source_->lag().bytes();
  return Status::Ok();
}

Status CatalogFeed::Step(std::chrono::milliseconds timeout) {
  if (!broken_.ok()) return broken_;
  Result<std::vector<Transaction>> got = source_->Poll(timeout);
  if (!got.ok()) return Fail(got.status());
  Status s;
  if (!got->empty() && got->front().snapshot) {
    for (Transaction& batch : *got) {
      s = HandleSnapshotBatch(std::move(batch));
      if (!s.ok()) break;
    }
  } else if (!got->empty()) {
    s = HandleStream(std::move(got).value());
  }
  counters_.lag_bytes = source_->lag().bytes();
  return s.ok() ? s : Fail(s);
}

Status CatalogFeed::Stop() {
  if (!source_) return Status::Ok();
  return source_->Close();
}

Status CatalogFeed::Map(const Transaction& t, bool rows, bool dead_letters, Pending* p) {
  const SourcePosition applied = catalog_->SourcePositionOf(source_name_);
  const int64_t now_ms = FloorDiv(t.commit_time_us, 1000);
  auto current = [&](uint64_t story) -> std::optional<StoryRecord> {
    if (auto it = p->current.find(story); it != p->current.end()) return it->second;
    return catalog_->Get(StoryId(story));
  };
  for (const Change& c : t.changes) {
    if (c.relation != options_.table) continue;  // another table of the publication
    if (c.schema && c.schema.get() != checked_) {
      RETURN_IF_ERROR(CheckColumns(*c.schema));
      checked_ = c.schema.get();
    }
    if (rows) {
      AddRow(p->rows, t, c, nullptr);
      ++p->row_count;
    }
    const SourcePosition pos{c.position.commit_lsn.value(), c.position.index};
    const bool apply = pos > applied;
    if (!apply && !dead_letters) continue;

    // The new records of the stories this change touches, or why it cannot be applied.
    std::vector<StoryRecord> records;
    auto map = [&]() -> Status {
      const CatalogColumnMapping& m = options_.columns;
      if (c.op == ChangeOp::kTruncate) return Status::InvalidArgument("truncate is not applied to the catalogue");
      const std::vector<ColumnValue>& image = c.op == ChangeOp::kDelete ? c.before : c.after;
      auto story_of = [&](const std::vector<ColumnValue>& img) -> Result<uint64_t> {
        const ColumnValue* v = FindColumn(img, m.story_id);
        if (v == nullptr || v->kind != DatumKind::kText) {
          return Status::InvalidArgument("story_id (" + m.story_id + ") is NULL or missing");
        }
        Result<int64_t> id = ParsePgInt64(v->text);
        if (!id.ok()) return Status::InvalidArgument("story_id (" + m.story_id + "): " + id.status().message());
        if (*id <= 0) return Status::InvalidArgument("story_id (" + m.story_id + ") must be positive");
        return static_cast<uint64_t>(*id);
      };
      ASSIGN_OR_RETURN(const uint64_t story, story_of(image));
      if (c.op == ChangeOp::kDelete) {
        std::optional<StoryRecord> cur = current(story);
        if (!cur) return Status::InvalidArgument("delete of story " + std::to_string(story) + ", unknown");
        cur->deleted = true;
        cur->updated_at_ms = now_ms;
        records.push_back(*cur);
        return Status::Ok();
      }
      catalog::StoryPatch patch;
      patch.story = StoryId(story);
      // A field's column: nullptr when unmapped or not sent (unchanged TOAST: keep the stored value).
      auto value = [&](const std::string& column) -> const ColumnValue* {
        const ColumnValue* v = FindColumn(image, column);
        return v == nullptr || v->kind == DatumKind::kUnchangedToast ? nullptr : v;
      };
      auto field_error = [](const std::string& field, const std::string& column, const Status& s) {
        return Status::InvalidArgument(field + " (" + column + "): " + s.message());
      };
      if (const ColumnValue* v = value(m.author_id); v && v->kind == DatumKind::kText) {
        Result<int64_t> a = ParsePgInt64(v->text);
        if (!a.ok()) return field_error("author_id", m.author_id, a.status());
        if (*a <= 0) return Status::InvalidArgument("author_id (" + m.author_id + ") must be positive");
        patch.author = AuthorId(static_cast<uint64_t>(*a));
      }
      if (const ColumnValue* v = value(m.created_at); v && v->kind == DatumKind::kText) {
        Result<int64_t> us = ParsePgTimestamptz(v->text);
        if (!us.ok()) return field_error("created_at", m.created_at, us.status());
        patch.created_at_ms = FloorDiv(*us, 1000);
      }
      if (const ColumnValue* v = value(m.title)) patch.title = v->kind == DatumKind::kText ? v->text : "";
      if (const ColumnValue* v = value(m.language)) patch.language = v->kind == DatumKind::kText ? v->text : "";
      if (const ColumnValue* v = value(m.tags)) {
        patch.tags.emplace();
        if (v->kind == DatumKind::kText) {
          Result<std::vector<std::optional<std::string>>> tags = ParsePgTextArray(v->text);
          if (!tags.ok()) return field_error("tags", m.tags, tags.status());
          for (auto& tag : *tags) {
            if (!tag) return Status::InvalidArgument("tags (" + m.tags + "): a NULL element");
            patch.tags->push_back(std::move(*tag));
          }
        }
      }
      for (auto [field, column, out] : {std::tuple{"is_original", &m.is_original, &patch.is_original},
                                        std::tuple{"deleted", &m.deleted, &patch.deleted}}) {
        const ColumnValue* v = value(*column);
        if (v == nullptr) continue;
        *out = false;
        if (v->kind != DatumKind::kText) continue;
        Result<bool> b = ParsePgBool(v->text);
        if (!b.ok()) return field_error(field, *column, b.status());
        *out = *b;
      }
      // An update that moved the story to another id: the old id is gone.
      if (c.op == ChangeOp::kUpdate && !c.before.empty() && FindColumn(c.before, m.story_id) != nullptr) {
        ASSIGN_OR_RETURN(const uint64_t old_story, story_of(c.before));
        if (old_story != story) {
          if (std::optional<StoryRecord> old = current(old_story)) {
            old->deleted = true;
            old->updated_at_ms = now_ms;
            records.push_back(*old);
          }
        }
      }
      std::optional<StoryRecord> cur = current(story);
      if (!cur && !patch.author) return Status::InvalidArgument("a new story without author_id");
      StoryRecord r = catalog::ApplyPatch(cur, patch, now_ms);
      RETURN_IF_ERROR(catalog::ValidateStory(r));
      records.push_back(std::move(r));
      return Status::Ok();
    };
    Status mapped = map();
    if (!mapped.ok()) {
      if (dead_letters) {
        AddRow(p->dead, t, c, &mapped.message());
        ++p->dead_count;
      }
      continue;
    }
    if (!apply) continue;
    for (StoryRecord& r : records) {
      p->current[r.story.value] = r;
      p->changes.push_back(CatalogChange{std::move(r), source_name_, pos, std::nullopt});
    }
  }
  return Status::Ok();
}

Result<DataFileInfo> CatalogFeed::WriteFile(bool dead_letter, const std::vector<ColumnValues>& columns, size_t rows,
                                            uint64_t to) {
  // Named by the end LSN they cover (like the sink's offsets) and this feed's
  // token, so a replay never overwrites a file a crashed attempt committed.
  char name[96];
  std::snprintf(name, sizeof name, "%020llu-%s-%06u.parquet", static_cast<unsigned long long>(to), token_.c_str(),
                file_seq_++);
  const std::string path = JoinPath(JoinPath(dead_letter ? dead_letter_location_ : table_location_, "data"), name);
  lake::ParquetWriterOptions options;
  return lake::WriteDataFile(fs_, path, dead_letter ? CdcDeadLetterSchema() : CdcTableSchema(), columns, rows, options,
                             {});
}

Status CatalogFeed::Commit(bool dead_letter, const std::vector<DataFileInfo>& files, uint64_t from, uint64_t to) {
  if (files.empty()) return Status::Ok();
  ASSIGN_OR_RETURN(IcebergTable table, IcebergTable::Load(fs_, dead_letter ? dead_letter_location_ : table_location_));
  const std::string commit_id = "cdc/" + options_.slot + "/" + std::to_string(from) + "-" + std::to_string(to);
  ASSIGN_OR_RETURN(bool applied,
                   lake::AppendFiles(fs_, &table, files, commit_id, lake::RangeGuard{GuardKey(), from, to}));
  if (applied) {
    if (!dead_letter)
      for (const DataFileInfo& f : files) counters_.rows_landed += static_cast<uint64_t>(f.record_count);
  } else if (!lake::HasCommitId(table.metadata(), commit_id)) {
    // Another feed on the same slot committed this range: these files repeat its rows.
    std::vector<std::string> paths;
    for (const DataFileInfo& f : files) paths.push_back(f.path);
    lake::RemoveUnreferencedFiles(fs_, paths);
  }
  return Status::Ok();
}

Status CatalogFeed::HandleStream(std::vector<Transaction> txns) {
  ASSIGN_OR_RETURN(IcebergTable rows_table, IcebergTable::Load(fs_, table_location_));
  ASSIGN_OR_RETURN(IcebergTable dead_table, IcebergTable::Load(fs_, dead_letter_location_));
  ASSIGN_OR_RETURN(const uint64_t rows_end, lake::CommittedRangeEnd(rows_table.metadata(), GuardKey()));
  ASSIGN_OR_RETURN(const uint64_t dead_end, lake::CommittedRangeEnd(dead_table.metadata(), GuardKey()));
  Pending p;
  for (const Transaction& t : txns) {
    const uint64_t end = t.end_lsn.value();
    // Dead letters are committed before the rows: a transaction the rows
    // table covers has its dead letters stored already.
    RETURN_IF_ERROR(Map(t, end > rows_end, end > std::max(rows_end, dead_end), &p));
  }
  const uint64_t to = txns.back().end_lsn.value();
  if (p.dead_count > 0) {
    ASSIGN_OR_RETURN(DataFileInfo f, WriteFile(true, p.dead, p.dead_count, to));
    RETURN_IF_ERROR(Commit(true, {f}, dead_end, to));
    counters_.rows_dead_lettered += p.dead_count;
  }
  RETURN_IF_ERROR(Hook("stream.after_dead_letter_commit"));
  if (p.row_count > 0) {
    ASSIGN_OR_RETURN(DataFileInfo f, WriteFile(false, p.rows, p.row_count, to));
    RETURN_IF_ERROR(Commit(false, {f}, rows_end, to));
  }
  RETURN_IF_ERROR(Hook("stream.after_lake_commit"));
  if (!p.changes.empty()) {
    ASSIGN_OR_RETURN(size_t applied, catalog_->Apply(std::move(p.changes)));
    counters_.rows_applied += applied;
  }
  RETURN_IF_ERROR(Hook("stream.after_catalog_apply"));
  RETURN_IF_ERROR(source_->ConfirmFlushed(txns.back().end_lsn));
  counters_.transactions += txns.size();
  return Status::Ok();
}

Status CatalogFeed::HandleSnapshotBatch(Transaction batch) {
  if (!snapshot_) {
    snapshot_ = std::make_unique<Pending>();
    snapshot_rows_.clear();
    snapshot_dead_.clear();
  }
  Pending& p = *snapshot_;
  RETURN_IF_ERROR(Map(batch, true, true, &p));
  const uint64_t to = batch.end_lsn.value();
  if (p.row_count > 0) {
    ASSIGN_OR_RETURN(DataFileInfo f, WriteFile(false, p.rows, p.row_count, to));
    snapshot_rows_.push_back(std::move(f));
  }
  if (p.dead_count > 0) {
    ASSIGN_OR_RETURN(DataFileInfo f, WriteFile(true, p.dead, p.dead_count, to));
    snapshot_dead_.push_back(std::move(f));
  }
  p.ClearFiles();
  if (!batch.snapshot_last) return Status::Ok();

  // The catalogue first: the state file cannot hold the snapshot's rows, so
  // a restart after the lake commit could not apply them. A crash before the
  // prepared state means a new snapshot, applied again at higher positions.
  if (!p.changes.empty()) {
    ASSIGN_OR_RETURN(size_t applied, catalog_->Apply(std::move(p.changes)));
    counters_.rows_applied += applied;
  }
  RETURN_IF_ERROR(Hook("snapshot.after_catalog_apply"));
  ASSIGN_OR_RETURN(IcebergTable rows_table, IcebergTable::Load(fs_, table_location_));
  ASSIGN_OR_RETURN(IcebergTable dead_table, IcebergTable::Load(fs_, dead_letter_location_));
  ASSIGN_OR_RETURN(const uint64_t rows_end, lake::CommittedRangeEnd(rows_table.metadata(), GuardKey()));
  ASSIGN_OR_RETURN(const uint64_t dead_end, lake::CommittedRangeEnd(dead_table.metadata(), GuardKey()));
  if (rows_end >= to || dead_end >= to) {
    return Status::FailedPrecondition("catalog feed: the lake already holds changes up to " + Lsn(rows_end).ToString() +
                                      ", past the new slot's consistent point " + Lsn(to).ToString());
  }
  RETURN_IF_ERROR(WriteState(kPrepared, to, snapshot_rows_, snapshot_dead_));
  RETURN_IF_ERROR(Hook("snapshot.after_prepare"));
  RETURN_IF_ERROR(FinishPreparedSnapshot());
  snapshot_.reset();
  RETURN_IF_ERROR(source_->ConfirmFlushed(batch.end_lsn));
  counters_.transactions += 1;
  return Status::Ok();
}

// State file: magic u32, version u32, phase u8, the snapshot's end LSN u64,
// then per table (rows, dead letters) u32 length + a manifest of its files
// (empty: none). Little-endian.
Status CatalogFeed::WriteState(int phase, uint64_t to, const std::vector<DataFileInfo>& rows,
                               const std::vector<DataFileInfo>& dead) {
  std::string out(4 + 4 + 1 + 8, '\0');
  char* q = out.data();
  q = PutFixed32(q, kStateMagic);
  q = PutFixed32(q, kStateVersion);
  *q++ = static_cast<char>(phase);
  PutFixed64(q, to);
  for (const auto* files : {&rows, &dead}) {
    std::string manifest;
    if (!files->empty()) {
      ASSIGN_OR_RETURN(
          manifest,
          lake::WriteManifest(NewCdcTable(files == &rows ? CdcTableSchema() : CdcDeadLetterSchema()), 0, *files));
    }
    char len[4];
    PutFixed32(len, static_cast<uint32_t>(manifest.size()));
    out.append(len, 4);
    out += manifest;
  }
  return WriteFileAtomically(fs_, StatePath(), out);
}

Status CatalogFeed::FinishPreparedSnapshot() {
  if (!fs_->FileExists(StatePath())) return Status::Ok();
  ASSIGN_OR_RETURN(std::string state, ReadWholeFile(fs_, StatePath()));
  auto bad = [&](const std::string& why) { return Status::Corruption(StatePath() + ": " + why); };
  std::string_view in = state;
  if (in.size() < 17 || GetFixed32(in.data()) != kStateMagic) return bad("not a catalog feed state file");
  if (GetFixed32(in.data() + 4) != kStateVersion) return bad("unknown version");
  const auto phase = static_cast<uint8_t>(in[8]);
  if (phase > kStored) return bad("unknown phase");
  const uint64_t to = GetFixed64(in.data() + 9);
  if (phase != kPrepared) return Status::Ok();
  in.remove_prefix(17);
  std::vector<DataFileInfo> files[2];
  for (auto& f : files) {
    if (in.size() < 4) return bad("truncated");
    const uint32_t len = GetFixed32(in.data());
    in.remove_prefix(4);
    if (len > in.size()) return bad("truncated");
    if (len > 0) {
      ASSIGN_OR_RETURN(f, lake::ReadManifest(in.substr(0, len)));
    }
    in.remove_prefix(len);
  }
  if (!in.empty()) return bad("trailing bytes");
  // Each table's range starts at what it had committed: read again, unless
  // this very commit landed already (then AppendFiles recognises its id).
  for (bool dead : {true, false}) {
    ASSIGN_OR_RETURN(IcebergTable table, IcebergTable::Load(fs_, dead ? dead_letter_location_ : table_location_));
    ASSIGN_OR_RETURN(const uint64_t end, lake::CommittedRangeEnd(table.metadata(), GuardKey()));
    if (end >= to) continue;
    RETURN_IF_ERROR(Commit(dead, files[dead ? 1 : 0], end, to));
  }
  RETURN_IF_ERROR(Hook("snapshot.after_lake_commit"));
  return WriteState(kStored, to, {}, {});
}

}  // namespace watershed::cdc
